#include "cluster/cluster_event_bus.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "base/crypto.h"
#include "cluster/envelope_codec.h"

namespace rwd::cluster {

namespace {

constexpr std::string_view kDirectoryChannel = "rw:dir";
constexpr std::string_view kUserPrefix = "rw:u:";
constexpr std::string_view kGuildPrefix = "rw:g:";
// A decode failure of the bus's own, after the codec's: an event on a channel that cannot
// carry it (or a channel name that names no user or guild).
constexpr int kWrongChannel = kDecodeFailureKinds;
constexpr auto kFailureLogInterval = std::chrono::seconds(60);

std::string user_channel(int64_t user_id) {
  return std::string(kUserPrefix) + std::to_string(user_id);
}
std::string guild_channel(int64_t guild_id) {
  return std::string(kGuildPrefix) + std::to_string(guild_id);
}

// The id after `prefix` in `channel`, when the channel is one of that family.
std::optional<int64_t> channel_id(std::string_view channel, std::string_view prefix) {
  if (channel.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = channel.substr(prefix.size());
  int64_t id = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
    return std::nullopt;
  return id;
}

// The members a GuildEvent reaches through their own rw:u: channel rather than the guild's:
// whoever joined, left or was removed, or created it. Their node may not follow the guild
// yet (it subscribes rw:g: only once it applied the change, which may be after the event was
// published) or any more (the change removed its last local member).
std::vector<int64_t> reached_through_user_channel(const domain::GuildEvent& e) {
  switch (e.action) {
    case domain::GuildAction::kCreated:
      return e.recipients;
    case domain::GuildAction::kJoined:
    case domain::GuildAction::kLeft:
      return {e.user.id};
    case domain::GuildAction::kRenamed:
    case domain::GuildAction::kDeleted:
      return {};
  }
  return {};
}

bool contains(const std::vector<int64_t>& ids, int64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::optional<int64_t> guild_of(const domain::DirectoryChange& change) {
  if (const auto* put = std::get_if<domain::change::GuildPut>(&change)) return put->state.guild.id;
  if (const auto* erased = std::get_if<domain::change::GuildErased>(&change))
    return erased->guild_id;
  return std::nullopt;
}

}  // namespace

std::string make_node_instance(int worker_id) {
  return std::to_string(worker_id) + "-" + crypto::random_token(9);
}

ClusterEventBus::ClusterEventBus(ClusterSettings settings, broker::Broker& broker,
                                 domain::Directory& directory, store::Store& store,
                                 ThreadPool& reload_pool, const rwd::Clock& clock)
    : settings_(std::move(settings)),
      broker_(broker),
      directory_(directory),
      store_(store),
      reload_pool_(reload_pool),
      clock_(clock),
      sequencer_(settings_.sequencer, store, reload_pool,
                 [this](const StreamKey& key, const domain::ChatEvent& event) {
                   deliver_sequenced(key, event);
                 }) {}

ClusterEventBus::~ClusterEventBus() { stop(); }

void ClusterEventBus::subscribe(std::function<void(const domain::Event&)> handler) {
  handlers_.push_back(std::move(handler));
}

void ClusterEventBus::set_resync_hook(std::function<void()> hook) {
  resync_hook_ = std::move(hook);
}

void ClusterEventBus::start() {
  directory_.set_change_listener(
      [this](const domain::DirectoryChange& change) { on_local_change(change); });
  broker_.on_message(
      [this](std::string_view channel, std::string_view payload) { on_message(channel, payload); });
  broker_.on_state([this](bool up) { on_state(up); });
  broker_.on_subscribed([this](std::string_view channel) { on_confirmed(channel); });
  {
    std::lock_guard lock(mu_);
    want_locked(std::string(kDirectoryChannel));
  }
  timer_ = std::thread([this] { timer_loop(); });
  sequencer_.start();
}

void ClusterEventBus::stop() {
  std::vector<std::function<void()>> waiting;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    stopped_ = true;
    // No confirmation is awaited any more: the sessions waiting are answered.
    for (auto& [id, wait] : waits_) waiting.push_back(std::move(wait.ready));
    waits_.clear();
    waits_on_.clear();
    wait_deadlines_.clear();
  }
  for (auto& ready : waiting) ready();
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  sequencer_.stop();
}

ClusterEventBus::Counters ClusterEventBus::counters() const {
  Counters c;
  c.published = published_.load();
  c.received = received_.load();
  c.own_echoes = own_echoes_.load();
  c.unwatched = unwatched_.load();
  c.decode_failures = decode_failures_.load();
  c.delivered = delivered_.load();
  c.remote_changes = remote_changes_.load();
  c.reloads = reloads_.load();
  c.reload_failures = reload_failures_.load();
  c.directory_gaps = directory_gaps_.load();
  c.receive_waits = receive_waits_.load();
  c.receive_wait_timeouts = receive_wait_timeouts_.load();
  c.resyncs_announced = resyncs_announced_.load();
  c.resyncs_received = resyncs_received_.load();
  return c;
}

// ---- publishing ----

void ClusterEventBus::send(std::string channel, const std::string& payload) {
  broker_.publish(std::move(channel), payload);
  ++published_;
  // A publish the broker refused while up (its queue to the server full): said at once.
  if (broker_.counters().dropped != drops_announced_.load(std::memory_order_relaxed) &&
      broker_.up())
    announce_drops();
}

void ClusterEventBus::announce_drops() {
  // The other nodes cannot see what this node failed to publish (a chat's last message, a
  // directory change, a logout): they reload and sweep when told. Announced once per count of
  // drops; a notice that is itself dropped raises the count, so the next chance says it again.
  uint64_t dropped = broker_.counters().dropped;
  uint64_t announced = drops_announced_.load();
  if (dropped == announced || !drops_announced_.compare_exchange_strong(announced, dropped)) return;
  ++resyncs_announced_;
  spdlog::warn("cluster: {} publish(es) never reached the broker; asking the other nodes to reload",
               dropped - announced);
  broker_.publish(std::string(kDirectoryChannel), encode_resync(settings_.node_instance));
  ++published_;
}

void ClusterEventBus::deliver_local(const domain::Event& event) {
  for (const auto& h : handlers_) h(event);
}

void ClusterEventBus::sequence_chat(domain::ChatEvent event) {
  if (event.guild) {
    bool followed;
    {
      std::lock_guard lock(mu_);
      followed = guild_locals_.count(event.message.wire_chat_id) > 0;
    }
    return sequencer_.offer({event.chat_id, 0}, std::move(event), followed);
  }
  std::vector<int64_t> users = std::move(event.recipients);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (int64_t user : users) {
    bool watched;
    {
      std::lock_guard lock(mu_);
      watched = watched_users_.count(user) > 0;
    }
    // A user with no session here has nothing to deliver to.
    if (!watched) continue;
    domain::ChatEvent one = event;
    one.recipients = {user};
    sequencer_.offer({event.chat_id, user}, std::move(one), true);
    unfollow_if_gone({event.chat_id, user});
  }
}

void ClusterEventBus::unfollow_if_gone(const StreamKey& key) {
  // The user's last session here may have left between the check and the offer, which then
  // followed the stream again: nobody would unfollow it.
  std::lock_guard lock(mu_);
  if (!watched_users_.count(key.user_id)) sequencer_.unfollow(key);
}

void ClusterEventBus::deliver_sequenced(const StreamKey& key, const domain::ChatEvent& event) {
  if (key.user_id != 0 || !event.recipients.empty()) return deliver_local(event);
  // Filled from the store for a guild stream: this node's members online now.
  domain::ChatEvent filled = event;
  {
    std::lock_guard lock(mu_);
    auto it = guild_locals_.find(event.message.wire_chat_id);
    if (it == guild_locals_.end()) return;
    filled.recipients.assign(it->second.begin(), it->second.end());
  }
  deliver_local(filled);
}

void ClusterEventBus::publish(const domain::Event& event) {
  if (const auto* chat = std::get_if<domain::ChatEvent>(&event))
    sequence_chat(*chat);
  else
    deliver_local(event);
  if (const auto* chat = std::get_if<domain::ChatEvent>(&event)) {
    if (chat->guild) {
      // Each node delivers to its own online members (its Directory knows them): the
      // recipients stay out of the payload, whose size does not grow with the guild.
      domain::ChatEvent copy = *chat;
      copy.recipients.clear();
      send(guild_channel(chat->message.wire_chat_id),
           encode_envelope(settings_.node_instance, domain::Event{std::move(copy)}));
      return;
    }
    std::string payload = encode_envelope(settings_.node_instance, event);
    std::vector<int64_t> sent;
    for (int64_t user : chat->recipients) {
      if (contains(sent, user)) continue;
      sent.push_back(user);
      send(user_channel(user), payload);
    }
  } else if (const auto* f = std::get_if<domain::FriendEvent>(&event)) {
    std::string payload = encode_envelope(settings_.node_instance, event);
    send(user_channel(f->target.id), payload);
    send(user_channel(f->actor.id), payload);
  } else if (const auto* g = std::get_if<domain::GuildEvent>(&event)) {
    std::string payload = encode_envelope(settings_.node_instance, event);
    for (int64_t user : reached_through_user_channel(*g)) send(user_channel(user), payload);
    // A new guild has no member but its creator, reached above.
    if (g->action != domain::GuildAction::kCreated) send(guild_channel(g->guild.id), payload);
  } else if (const auto* r = std::get_if<domain::TokenRevokedEvent>(&event)) {
    send(user_channel(r->user_id), encode_envelope(settings_.node_instance, event));
  } else if (const auto* t = std::get_if<domain::TypingEvent>(&event)) {
    if (t->guild) {
      // As a guild's chat events: each node tells its own online members.
      domain::TypingEvent copy = *t;
      copy.recipients.clear();
      send(guild_channel(t->wire_chat_id),
           encode_envelope(settings_.node_instance, domain::Event{std::move(copy)}));
      return;
    }
    std::string payload = encode_envelope(settings_.node_instance, event);
    for (int64_t user : t->recipients) send(user_channel(user), payload);
  } else if (const auto* r = std::get_if<domain::ReadEvent>(&event)) {
    send(user_channel(r->user_id), encode_envelope(settings_.node_instance, event));
  } else if (const auto* p = std::get_if<domain::PresenceEvent>(&event)) {
    std::string payload = encode_envelope(settings_.node_instance, event);
    for (int64_t user : p->recipients) send(user_channel(user), payload);
  }
}

void ClusterEventBus::on_local_change(const domain::DirectoryChange& change) {
  // On the store's callback thread, before the service publishes the event that depends on
  // the change: the broker keeps one publisher's order, so other nodes apply it first.
  send(std::string(kDirectoryChannel),
       encode_envelope(settings_.node_instance, change, ++directory_published_));
  if (auto guild = guild_of(change)) {
    std::lock_guard lock(mu_);
    follow_guild_locked(*guild);
  }
}

// ---- receiving (the broker's thread) ----

void ClusterEventBus::on_message(std::string_view channel, std::string_view payload) {
  if (stopped_) return;
  ++received_;
  DecodeResult decoded = decode_envelope(payload);
  if (!decoded.ok) return count_decode_failure(static_cast<int>(decoded.failure), decoded.detail);
  if (decoded.envelope.origin == settings_.node_instance) {
    // Its subscribers had it when it was published.
    ++own_echoes_;
    return;
  }
  if (auto* change = std::get_if<domain::DirectoryChange>(&decoded.envelope.body)) {
    if (channel != kDirectoryChannel)
      return count_decode_failure(kWrongChannel, "a directory change on " + std::string(channel));
    return apply_remote_change(decoded.envelope.origin, decoded.envelope.position, *change);
  }
  if (std::holds_alternative<Resync>(decoded.envelope.body)) {
    if (channel != kDirectoryChannel)
      return count_decode_failure(kWrongChannel, "a resync on " + std::string(channel));
    ++resyncs_received_;
    spdlog::info("cluster: node {} lost some of what it published; reloading",
                 decoded.envelope.origin);
    return request_reload();
  }
  deliver_remote(channel, std::get<domain::Event>(std::move(decoded.envelope.body)));
}

void ClusterEventBus::apply_remote_change(const std::string& origin, uint64_t position,
                                          const domain::DirectoryChange& change) {
  bool gap = false;
  if (position != 0) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = directory_received_.try_emplace(origin, 0);
    // One publisher's order is kept by the broker: a number skipped is a change lost (a
    // subscriber cut off for being slow, with no reconnect noticed in between).
    gap = !fresh && position != it->second + 1;
    it->second = position;
  }
  directory_.apply(change, domain::ChangeSource::kRemote);
  ++remote_changes_;
  // A member added elsewhere may be online here: this node must follow the guild now.
  if (auto guild = guild_of(change)) {
    std::lock_guard lock(mu_);
    follow_guild_locked(*guild);
  }
  if (gap) {
    ++directory_gaps_;
    spdlog::warn("cluster: a directory change of node {} was lost on the way; reloading", origin);
    request_reload();
  }
}

void ClusterEventBus::deliver_remote(std::string_view channel, domain::Event event) {
  auto wrong = [&] { count_decode_failure(kWrongChannel, "an event on " + std::string(channel)); };
  if (auto user = channel_id(channel, kUserPrefix)) {
    // Only the user the channel names: the node may follow the other users of the event
    // through their own channels, where the same event arrives too.
    bool for_user = std::visit(
        [&](auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, domain::ChatEvent> ||
                        std::is_same_v<T, domain::GuildEvent>) {
            if (!contains(e.recipients, *user)) return false;
            e.recipients = {*user};
            e.origin.connection = 0;
            return true;
          } else if constexpr (std::is_same_v<T, domain::TypingEvent> ||
                               std::is_same_v<T, domain::PresenceEvent>) {
            if (!contains(e.recipients, *user)) return false;
            e.recipients = {*user};
            return true;
          } else if constexpr (std::is_same_v<T, domain::ReadEvent>) {
            e.origin = 0;  // another process's connection
            return e.user_id == *user;
          } else if constexpr (std::is_same_v<T, domain::FriendEvent>) {
            e.tell_target = e.target.id == *user;
            e.tell_actor = e.actor.id == *user;
            e.origin = 0;
            return e.tell_target || e.tell_actor;
          } else {
            return e.user_id == *user;
          }
        },
        event);
    if (!for_user) return;
  } else if (auto guild = channel_id(channel, kGuildPrefix)) {
    if (auto* chat = std::get_if<domain::ChatEvent>(&event)) {
      if (!chat->guild || chat->message.wire_chat_id != *guild) return wrong();
      {
        std::lock_guard lock(mu_);
        auto it = guild_locals_.find(*guild);
        if (it == guild_locals_.end()) return;
        chat->recipients.assign(it->second.begin(), it->second.end());
      }
      chat->origin.connection = 0;
      ++delivered_;
      return sequencer_.offer({chat->chat_id, 0}, std::move(*chat), true);
    } else if (auto* g = std::get_if<domain::GuildEvent>(&event)) {
      if (g->guild.id != *guild) return wrong();
      std::vector<int64_t> elsewhere = reached_through_user_channel(*g);
      std::erase_if(g->recipients, [&](int64_t id) { return contains(elsewhere, id); });
      if (g->recipients.empty()) return;
      g->origin.connection = 0;
    } else if (auto* t = std::get_if<domain::TypingEvent>(&event)) {
      if (!t->guild || t->wire_chat_id != *guild) return wrong();
      std::lock_guard lock(mu_);
      auto it = guild_locals_.find(*guild);
      if (it == guild_locals_.end()) return;
      t->recipients.assign(it->second.begin(), it->second.end());
      std::erase(t->recipients, t->user_id);
    } else {
      return wrong();
    }
  } else {
    return wrong();
  }
  if (auto* chat = std::get_if<domain::ChatEvent>(&event); chat && !chat->guild) {
    std::lock_guard lock(mu_);
    // The user's last session here closed and the channel is kept a while (reconnects):
    // nobody here reads the chat. Following it now would make a stream that sees only this
    // channel's side of the chat (the other side's commits are sequenced here only for users
    // watched) and fills the rest from the store for nobody, for as long as the node runs.
    if (!watched_users_.count(chat->recipients.front())) {
      ++unwatched_;
      return;
    }
  }
  ++delivered_;
  if (auto* chat = std::get_if<domain::ChatEvent>(&event)) {
    // From rw:u:<user>: that user's side of a direct-message chat (a guild's ChatEvent comes
    // on rw:g: only).
    int64_t user = chat->recipients.front();
    if (chat->guild) return deliver_local(event);
    StreamKey key{chat->chat_id, user};
    sequencer_.offer(key, std::move(*chat), true);
    return unfollow_if_gone(key);
  }
  deliver_local(event);
}

void ClusterEventBus::count_decode_failure(int failure, const std::string& detail) {
  ++decode_failures_;
  const char* name = failure == kWrongChannel
                         ? "wrong channel"
                         : decode_failure_name(static_cast<DecodeFailure>(failure));
  uint64_t unlogged = 0;
  {
    std::lock_guard lock(mu_);
    auto now = SteadyTime::now();
    auto& at = failure_logged_at_[failure];
    if (at && now - *at < kFailureLogInterval) {
      ++failures_unlogged_[failure];
      return;
    }
    at = now;
    unlogged = std::exchange(failures_unlogged_[failure], 0);
  }
  spdlog::warn(
      "cluster: a message from the broker was refused ({}: {}); {} more of this kind "
      "since the last report",
      name, detail, unlogged);
}

// ---- subscriptions ----

void ClusterEventBus::want_locked(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it != channels_.end()) {
    it->second.reset();  // a pending unsubscribe is cancelled
    return;
  }
  channels_.emplace(channel, std::nullopt);
  broker_.subscribe(channel);
}

void ClusterEventBus::release_locked(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second) return;
  auto deadline = SteadyTime::now() + settings_.unsubscribe_delay;
  it->second = deadline;
  releases_.emplace_back(deadline, channel);
  timer_cv_.notify_one();
}

void ClusterEventBus::watch_user(int64_t user_id) {
  std::lock_guard lock(mu_);
  if (!watched_users_.insert(user_id).second) return;
  want_locked(user_channel(user_id));
  follow_user_chats_locked(user_id);
  for (const auto& g : directory_.guild_summaries_of(user_id)) {
    auto& locals = guild_locals_[g.id];
    if (locals.empty()) {
      want_locked(guild_channel(g.id));
      sequencer_.follow({g.id, 0}, {g.id, true});
    }
    locals.insert(user_id);
  }
}

bool ClusterEventBus::when_receiving(int64_t user_id, std::function<void()> ready) {
  std::lock_guard lock(mu_);
  // Down (or not up yet): nothing can be confirmed before the link returns, and its return
  // reloads and sweeps what was missed; waiting would only delay the answer.
  if (stopping_ || !link_up_) return true;
  std::vector<std::string> unconfirmed;
  auto need = [&](std::string channel) {
    if (channels_.count(channel) && !confirmed_.count(channel))
      unconfirmed.push_back(std::move(channel));
  };
  need(user_channel(user_id));
  for (const auto& g : directory_.guild_summaries_of(user_id)) need(guild_channel(g.id));
  if (unconfirmed.empty()) return true;
  uint64_t id = ++last_wait_id_;
  waits_[id] = ReceiveWait{unconfirmed.size(), std::move(ready)};
  for (const auto& channel : unconfirmed) waits_on_[channel].push_back(id);
  wait_deadlines_.emplace_back(SteadyTime::now() + settings_.receive_wait, id);
  ++receive_waits_;
  timer_cv_.notify_one();
  return false;
}

void ClusterEventBus::on_confirmed(std::string_view channel) {
  std::vector<std::function<void()>> done;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    std::string name(channel);
    // Released and unsubscribed meanwhile: a later SUBSCRIBE will be confirmed on its own.
    if (!channels_.count(name)) return;
    confirmed_.insert(name);
    auto it = waits_on_.find(name);
    if (it == waits_on_.end()) return;
    for (uint64_t id : it->second) {
      auto wait = waits_.find(id);
      if (wait == waits_.end()) continue;  // timed out already
      if (--wait->second.unconfirmed > 0) continue;
      done.push_back(std::move(wait->second.ready));
      waits_.erase(wait);
    }
    waits_on_.erase(it);
  }
  for (auto& ready : done) ready();
}

std::vector<std::function<void()>> ClusterEventBus::expire_waits_locked(
    SteadyTime::time_point now) {
  std::vector<std::function<void()>> expired;
  while (!wait_deadlines_.empty() && wait_deadlines_.front().first <= now) {
    auto wait = waits_.find(wait_deadlines_.front().second);
    wait_deadlines_.pop_front();
    if (wait == waits_.end()) continue;  // confirmed in time
    expired.push_back(std::move(wait->second.ready));
    waits_.erase(wait);
  }
  if (expired.empty()) return expired;
  receive_wait_timeouts_ += expired.size();
  if (wait_timeout_logged_at_ && now - *wait_timeout_logged_at_ < kFailureLogInterval) {
    wait_timeouts_unlogged_ += expired.size();
    return expired;
  }
  wait_timeout_logged_at_ = now;
  spdlog::warn(
      "cluster: {} session(s) answered before the broker confirmed their channels within {} "
      "ms (events of other nodes may be missed until they are); {} more since the last report",
      expired.size(), settings_.receive_wait.count(), std::exchange(wait_timeouts_unlogged_, 0));
  return expired;
}

void ClusterEventBus::follow_user_chats_locked(int64_t user_id) {
  // Each direct-message chat's position is read now, before the broker confirms the new
  // subscription: a change committed from here on is delivered, live or filled. A chat
  // that appears later (a new friend) is followed at its first event.
  for (const auto& f : directory_.friends(user_id))
    if (auto chat = directory_.dm_chat(user_id, f.id))
      sequencer_.follow({*chat, user_id}, {user_id ^ f.id, false});
}

void ClusterEventBus::unwatch_user(int64_t user_id) {
  std::lock_guard lock(mu_);
  if (watched_users_.erase(user_id) == 0) return;
  release_locked(user_channel(user_id));
  sequencer_.unfollow_user(user_id);
  // A guild the user left meanwhile was already followed again (follow_guild_locked) from
  // the change that removed them, which found them no longer watched or no longer a member.
  for (const auto& g : directory_.guild_summaries_of(user_id)) {
    auto it = guild_locals_.find(g.id);
    if (it == guild_locals_.end()) continue;
    it->second.erase(user_id);
    if (!it->second.empty()) continue;
    guild_locals_.erase(it);
    release_locked(guild_channel(g.id));
    sequencer_.unfollow({g.id, 0});
  }
}

void ClusterEventBus::follow_guild_locked(int64_t guild_id) {
  std::unordered_set<int64_t> locals;
  if (auto state = directory_.guild(guild_id))
    for (const auto& m : state->members)
      if (watched_users_.count(m.user_id)) locals.insert(m.user_id);
  auto it = guild_locals_.find(guild_id);
  if (locals.empty()) {
    if (it == guild_locals_.end()) return;
    guild_locals_.erase(it);
    release_locked(guild_channel(guild_id));
    sequencer_.unfollow({guild_id, 0});
    return;
  }
  if (it == guild_locals_.end()) {
    want_locked(guild_channel(guild_id));
    sequencer_.follow({guild_id, 0}, {guild_id, true});
  }
  guild_locals_[guild_id] = std::move(locals);
}

void ClusterEventBus::follow_all_guilds_locked() {
  std::unordered_map<int64_t, std::unordered_set<int64_t>> fresh;
  for (int64_t user : watched_users_)
    for (const auto& g : directory_.guild_summaries_of(user)) fresh[g.id].insert(user);
  for (const auto& [guild, locals] : guild_locals_)
    if (!fresh.count(guild)) {
      release_locked(guild_channel(guild));
      sequencer_.unfollow({guild, 0});
    }
  for (const auto& [guild, locals] : fresh)
    if (!guild_locals_.count(guild)) {
      want_locked(guild_channel(guild));
      sequencer_.follow({guild, 0}, {guild, true});
    }
  guild_locals_ = std::move(fresh);
}

void ClusterEventBus::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = SteadyTime::now();
    while (!releases_.empty() && releases_.front().first <= now) {
      auto [deadline, channel] = std::move(releases_.front());
      releases_.pop_front();
      // Still released, by this release (not wanted again, nor released again later).
      auto it = channels_.find(channel);
      if (it == channels_.end() || it->second != deadline) continue;
      channels_.erase(it);
      confirmed_.erase(channel);
      waits_on_.erase(channel);
      broker_.unsubscribe(channel);
    }
    if (auto expired = expire_waits_locked(now); !expired.empty()) {
      lock.unlock();
      for (auto& ready : expired) ready();
      lock.lock();
      continue;
    }
    if (reload_retry_at_ && *reload_retry_at_ <= now) {
      reload_retry_at_.reset();
      lock.unlock();
      request_reload();
      lock.lock();
      continue;
    }
    std::optional<SteadyTime::time_point> next;
    if (!releases_.empty()) next = releases_.front().first;
    if (reload_retry_at_ && (!next || *reload_retry_at_ < *next)) next = reload_retry_at_;
    if (!wait_deadlines_.empty() && (!next || wait_deadlines_.front().first < *next))
      next = wait_deadlines_.front().first;
    if (next)
      timer_cv_.wait_until(lock, *next);
    else
      timer_cv_.wait(lock);
  }
}

// ---- gaps ----

void ClusterEventBus::on_state(bool up) {
  if (stopped_) return;
  std::vector<std::function<void()>> waiting;
  {
    // Every channel was confirmed (on_confirmed) before the broker reports up; none is live
    // once it is down.
    std::lock_guard lock(mu_);
    link_up_ = up;
    if (!up) {
      confirmed_.clear();
      // Nothing is waited for while the link is down (when_receiving): the sessions waiting
      // now are answered at once rather than at their deadline, and not counted as timeouts.
      for (auto& [id, wait] : waits_) waiting.push_back(std::move(wait.ready));
      waits_.clear();
      waits_on_.clear();
      wait_deadlines_.clear();
    }
  }
  for (auto& ready : waiting) ready();
  if (!up) {
    spdlog::warn(
        "cluster: the broker link is down; other nodes' events are missed until it is "
        "back, then the directory is reloaded");
    return;
  }
  // Every up, the first one included: what other nodes published while this one was not
  // subscribed (before the first up: since the Directory was loaded at start-up) is lost.
  {
    std::lock_guard lock(mu_);
    directory_received_.clear();
  }
  request_reload();
  // What this node published while the link was down was dropped: the others are told.
  announce_drops();
}

void ClusterEventBus::request_reload() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (reload_running_) {
      reload_again_ = true;  // a reload already reading may have read before this gap ended
      return;
    }
    reload_running_ = true;
  }
  if (reload_pool_.try_submit([this] { run_reload(); })) return;
  ++reload_failures_;
  spdlog::error("cluster: the directory reload could not be queued; retrying");
  std::lock_guard lock(mu_);
  reload_running_ = false;
  reload_retry_at_ = SteadyTime::now() + settings_.reload_retry;
  timer_cv_.notify_one();
}

void ClusterEventBus::run_reload() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        reload_running_ = false;
        return;
      }
    }
    // Remaining race (docs/ARCHITECTURE.md, "Several nodes: events and the cache"): the
    // journal of Directory::begin_reload keeps every change applied while the snapshot is
    // read, but a change another node published while the link was down and committed before
    // a change of the same object that arrives later may be applied in the wrong order
    // between two nodes' publishes; changes carry no version yet to tell.
    directory_.begin_reload();
    auto snapshot = store_.load_directory(clock_.now_us());
    if (!snapshot.ok()) {
      directory_.abort_reload();
      ++reload_failures_;
      spdlog::error("cluster: reloading the directory from the store failed ({}); retrying",
                    snapshot.error().detail);
      std::lock_guard lock(mu_);
      reload_running_ = false;
      reload_again_ = false;
      reload_retry_at_ = SteadyTime::now() + settings_.reload_retry;
      timer_cv_.notify_one();
      return;
    }
    directory_.finish_reload(snapshot.value());
    {
      std::lock_guard lock(mu_);
      follow_all_guilds_locked();
      // A friendship made elsewhere while the link was down: its chat is followed now.
      for (int64_t user : watched_users_) follow_user_chats_locked(user);
    }
    ++reloads_;
    spdlog::info("cluster: directory reloaded after the broker link came up ({} users)",
                 directory_.user_count());
    // The chat changes published while the link was down: each followed chat behind the
    // store is filled (a start still pending reads its position afresh anyway).
    sequencer_.sweep_all();
    if (resync_hook_) resync_hook_();
    std::lock_guard lock(mu_);
    if (!reload_again_) {
      reload_running_ = false;
      return;
    }
    reload_again_ = false;
  }
}

}  // namespace rwd::cluster
