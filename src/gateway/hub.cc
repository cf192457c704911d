#include "gateway/hub.h"

#include <algorithm>
#include <charconv>

#include "domain/chats.h"
#include "gateway/session.h"
#include "metrics/counters.h"
#include "protocol/gateway_codec.h"

namespace rwd::gateway {

Hub::Hub(domain::EventBus& bus, int max_sessions_per_user, int utc_offset_s)
    : bus_(bus), max_sessions_per_user_(max_sessions_per_user), utc_offset_s_(utc_offset_s) {
  bus.subscribe([this](const domain::Event& e) { on_event(e); });
}

bool Hub::add(int64_t user_id, const std::shared_ptr<Session>& session) {
  std::unique_lock lock(mu_);
  auto& list = sessions_[user_id];
  int elsewhere = shared_sessions_ ? shared_sessions_->others(std::to_string(user_id)) : 0;
  if (static_cast<int>(list.size()) + elsewhere >= max_sessions_per_user_) {
    if (list.empty()) sessions_.erase(user_id);
    return false;
  }
  list.push_back(session);
  ++session_count_;
  if (shared_sessions_) shared_sessions_->add(std::to_string(user_id));
  const bool first_anywhere = list.size() == 1 && elsewhere == 0;
  if (list.size() == 1) bus_.watch_user(user_id);
  lock.unlock();
  if (first_anywhere) tell_friends(user_id);  // outside the lock: it delivers
  return true;
}

void Hub::remove(int64_t user_id, const Session* session) {
  std::unique_lock lock(mu_);
  auto it = sessions_.find(user_id);
  if (it == sessions_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [session](const std::weak_ptr<Session>& w) {
    auto s = w.lock();
    return !s || s.get() == session;
  });
  if (pos != list.end()) {
    list.erase(pos);
    --session_count_;
    if (shared_sessions_) shared_sessions_->remove(std::to_string(user_id));
  }
  if (list.empty()) {
    sessions_.erase(it);
    bus_.unwatch_user(user_id);
    const bool gone = !shared_sessions_ || shared_sessions_->others(std::to_string(user_id)) == 0;
    lock.unlock();
    if (gone) tell_friends(user_id);
  }
}

void Hub::show_presence(const domain::Directory& directory) {
  presence_ = &directory;
  // Someone came or went on another node: the counts say so within a report.
  if (shared_sessions_)
    shared_sessions_->on_crossed_zero([this](const std::string& key, bool) {
      int64_t user = 0;
      auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), user);
      if (ec == std::errc() && p == key.data() + key.size()) tell_friends(user);
    });
}

bool Hub::shown_online(int64_t user_id) const {
  if (!presence_ || presence_->presence_hidden(user_id)) return false;
  {
    std::lock_guard lock(mu_);
    if (sessions_.contains(user_id)) return true;
  }
  return shared_sessions_ && shared_sessions_->others(std::to_string(user_id)) > 0;
}

std::vector<int64_t> Hub::online_friends(int64_t user_id) const {
  std::vector<int64_t> out;
  if (!presence_) return out;
  for (const domain::UserView& f : presence_->friends(user_id))
    if (shown_online(f.id)) out.push_back(f.id);
  return out;
}

Frame Hub::presence_frame(int64_t user_id) const {
  // The state as it is when told, not the change that caused it: two changes told out of
  // order still leave every friend with the last state.
  return std::make_shared<const std::string>(
      protocol::encode_presence(user_id, shown_online(user_id)));
}

void Hub::tell_presence(int64_t to_user, int64_t of_user) {
  // v2 only: the app would hand an unknown frame type to its error handler.
  deliver(to_user, nullptr, presence_frame(of_user));
}

void Hub::tell_friends(int64_t user_id) {
  // Hidden: friends see offline already, and must not learn when connections come and go.
  if (!presence_ || presence_->presence_hidden(user_id)) return;
  Frame frame = presence_frame(user_id);
  for (const domain::UserView& f : presence_->friends(user_id)) deliver(f.id, nullptr, frame);
}

size_t Hub::session_count() const {
  std::lock_guard lock(mu_);
  return session_count_;
}

size_t Hub::user_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::vector<std::shared_ptr<Session>> Hub::sessions_of(int64_t user_id) {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(user_id);
  if (it == sessions_.end()) return out;
  for (const auto& w : it->second)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

void Hub::deliver(int64_t user_id, const Frame& v1, const Frame& v2, uint64_t except,
                  int64_t wire_chat_id, int64_t seq) {
  std::shared_ptr<Session> targets[16];
  std::vector<std::shared_ptr<Session>> more;
  size_t n = 0;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(user_id);
    if (it == sessions_.end()) return;
    for (const auto& w : it->second) {
      auto s = w.lock();
      if (!s || !(s->version() == protocol::Version::kV2 ? v2 : v1)) continue;
      if (except != 0 && s->connection_id() == except) continue;
      if (n < std::size(targets))
        targets[n++] = std::move(s);
      else
        more.push_back(std::move(s));
    }
  }
  auto frame_for = [&](const Session& s) -> const Frame& {
    return s.version() == protocol::Version::kV2 ? v2 : v1;
  };
  metrics::add(metrics::counters().events_delivered, n + more.size());
  for (size_t i = 0; i < n; ++i) targets[i]->deliver(frame_for(*targets[i]), wire_chat_id, seq);
  for (auto& s : more) s->deliver(frame_for(*s), wire_chat_id, seq);
}

void Hub::deliver_to_connection(int64_t user_id, uint64_t connection, const Frame& frame,
                                int64_t wire_chat_id, int64_t seq) {
  for (auto& s : sessions_of(user_id))
    if (s->connection_id() == connection) {
      metrics::add(metrics::counters().events_delivered);
      return s->deliver(frame, wire_chat_id, seq);
    }
}

void Hub::on_event(const domain::Event& event) {
  if (const auto* chat = std::get_if<domain::ChatEvent>(&event)) {
    // A guild chat's events are v2 only; a direct message goes to both versions, v1's frame
    // without v2's additions.
    Frame v1 = chat->guild
                   ? nullptr
                   : std::make_shared<const std::string>(protocol::encode_chat(
                         protocol::Version::kV1, chat->action, chat->message, utc_offset_s_));
    auto v2 = std::make_shared<const std::string>(
        protocol::encode_chat_change(chat->action, chat->message, utc_offset_s_));
    // The connection that asked, when it gave the request an id or the send a nonce (v2
    // only), gets its own copy with them: the answer to its request.
    const domain::RequestOrigin& origin = chat->origin;
    bool echo = origin.connection != 0 && (!origin.request_id.empty() || !origin.nonce.empty());
    const int64_t wire = chat->message.wire_chat_id, seq = chat->message.seq;
    for (int64_t user : chat->recipients) {
      if (echo && user == chat->message.author_id) {
        deliver(user, v1, v2, origin.connection, wire, seq);
        deliver_to_connection(user, origin.connection,
                              std::make_shared<const std::string>(protocol::with_request_id(
                                  protocol::with_nonce(*v2, origin.nonce), origin.request_id)),
                              wire, seq);
      } else {
        deliver(user, v1, v2, 0, wire, seq);
      }
    }
  } else if (const auto* f = std::get_if<domain::FriendEvent>(&event)) {
    auto told =
        std::make_shared<const std::string>(protocol::encode_friend_event(f->action, f->actor));
    if (f->tell_target) deliver(f->target.id, told, told);
    // The actor's other devices: v2 only, because the app reads every mutual_users event as
    // another user's action. The connection that asked has its `ok`.
    if (f->tell_actor) {
      auto mine = std::make_shared<const std::string>(
          protocol::encode_friend_event(f->action, f->target, /*self=*/true));
      deliver(f->actor.id, nullptr, mine, f->origin);
    }
    // New friends see each other's presence at once (when there is one to see).
    if (f->action == domain::FriendAction::kResponse) {
      if (f->tell_target && shown_online(f->actor.id)) tell_presence(f->target.id, f->actor.id);
      if (f->tell_actor && shown_online(f->target.id)) tell_presence(f->actor.id, f->target.id);
    }
  } else if (const auto* g = std::get_if<domain::GuildEvent>(&event)) {
    auto frame = std::make_shared<const std::string>(
        protocol::encode_guild_event(g->action, g->guild, g->user, g->actor, g->new_owner));
    // As for chat events: the connection that asked gets its copy with the request's id.
    const domain::RequestOrigin& origin = g->origin;
    bool echo = origin.connection != 0 && !origin.request_id.empty();
    for (int64_t user : g->recipients) {
      if (echo && user == g->actor.id) {
        deliver(user, nullptr, frame, origin.connection);
        deliver_to_connection(user, origin.connection,
                              std::make_shared<const std::string>(
                                  protocol::with_request_id(*frame, origin.request_id)));
      } else {
        deliver(user, nullptr, frame);
      }
    }
  } else if (const auto* r = std::get_if<domain::TokenRevokedEvent>(&event)) {
    for (auto& s : sessions_of(r->user_id)) s->on_token_revoked(r->token_hash, r->reason);
  } else if (const auto* t = std::get_if<domain::TypingEvent>(&event)) {
    // v2 only: the app would hand an unknown frame type to its error handler.
    auto frame = std::make_shared<const std::string>(
        protocol::encode_typing(t->wire_chat_id, t->user_id, domain::kTypingShownS));
    for (int64_t user : t->recipients) deliver(user, nullptr, frame);
  } else if (const auto* p = std::get_if<domain::PresenceEvent>(&event)) {
    if (!presence_) return;
    Frame frame = presence_frame(p->user_id);
    for (int64_t user : p->recipients) deliver(user, nullptr, frame);
  } else if (const auto* r = std::get_if<domain::ReadEvent>(&event)) {
    // My other v2 connections; the one that asked has its answer.
    deliver(
        r->user_id, nullptr,
        std::make_shared<const std::string>(protocol::encode_read(r->wire_chat_id, r->message_id)),
        r->origin);
  }
}

}  // namespace rwd::gateway
