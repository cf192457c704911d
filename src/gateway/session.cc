#include "gateway/session.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "base/crypto.h"
#include "metrics/counters.h"
#include "protocol/request_types.h"

namespace rwd::gateway {

using protocol::CloseCode;

namespace {
std::atomic<uint64_t> next_connection_id{1};
}  // namespace

Session::Session(Services& services, std::weak_ptr<Transport> transport, protocol::Version version)
    : services_(services),
      transport_(std::move(transport)),
      version_(version),
      connection_id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      opened_us_(services.monotonic.now_us()),
      last_heartbeat_us_(opened_us_) {}

Session::~Session() = default;

template <typename Fn>
auto Session::on_strand(Fn fn) {
  return [weak = weak_from_this(), fn = std::move(fn)](auto result) mutable {
    auto self = weak.lock();
    if (!self) return;
    auto transport = self->transport_.lock();
    if (!transport) return;
    transport->post([self, fn = std::move(fn), result = std::move(result)]() mutable {
      if (!self->closing_) fn(*self, std::move(result));
    });
  };
}

void Session::send(std::string text) {
  if (auto t = transport_.lock()) t->send(std::make_shared<const std::string>(std::move(text)));
}

void Session::answer(std::string text, std::string_view request_id) {
  send(protocol::with_request_id(std::move(text), request_id));
}

void Session::deliver(const Frame& frame, int64_t wire_chat_id, int64_t seq) {
  if (!answered_.load(std::memory_order_acquire)) {
    bool overflowed = false;
    {
      std::lock_guard lock(early_mu_);
      if (!answered_.load(std::memory_order_relaxed)) {
        if (early_overflowed_) return;
        early_bytes_ += frame->size();
        if (early_bytes_ <= services_.settings.early_bytes_limit)
          return early_frames_.push_back({frame, wire_chat_id, seq});
        // As a send queue past its cap: the client reloads after reconnecting.
        early_overflowed_ = true;
        early_frames_.clear();
        early_bytes_ = 0;
        overflowed = true;
      }
    }
    // Closed after the lock's release: on the connection's own thread the close leaves the
    // hub at once (on_closed), which tells friends, whose sessions take their own lock.
    if (overflowed) {
      if (auto t = transport_.lock()) t->close(CloseCode::kSlowConsumer);
      return;
    }
  }
  if (auto t = transport_.lock()) t->send(frame);
}

void Session::on_token_revoked(const std::string& token_hash, domain::RevokeReason reason) {
  auto t = transport_.lock();
  if (!t) return;
  t->post([self = shared_from_this(), token_hash, reason] {
    if (reason == domain::RevokeReason::kAccountDisabled)
      return self->close(CloseCode::kAccountDisabled);
    if (reason == domain::RevokeReason::kAccountDeleted)
      return self->close(CloseCode::kAccountDeleted);
    if (crypto::to_hex(self->token_digest_) == token_hash) self->close(CloseCode::kTokenRevoked);
  });
}

void Session::send_error(const Error& e, std::string_view request_id) {
  metrics::count_error(e.code);
  // kNotRequested's text is matched by the app: never replace it with detail.
  std::string_view reason =
      e.code == Errc::kNotRequested ? std::string_view{} : protocol::public_reason(e);
  if (protocol::withholds_detail(e))
    spdlog::error("internal error answered on the gateway: {}", e.detail);
  answer(protocol::encode_error(e.code, reason, e.retry_after_ms), request_id);
}

void Session::close(CloseCode code) {
  if (closing_) return;
  closing_ = true;
  pending_.clear();
  if (auto t = transport_.lock()) t->close(code);
}

int64_t Session::deadline_us() const {
  int64_t d = last_heartbeat_us_ + services_.settings.heartbeat_timeout_us;
  if (!user_) d = std::min(d, opened_us_ + services_.settings.auth_timeout_us);
  return d;
}

void Session::on_deadline() {
  if (closing_) return;
  int64_t now = services_.monotonic.now_us();
  if (now >= last_heartbeat_us_ + services_.settings.heartbeat_timeout_us)
    return close(CloseCode::kHeartbeatTimeout);
  if (!user_ && now >= opened_us_ + services_.settings.auth_timeout_us)
    return close(CloseCode::kAuthTimeout);
}

void Session::on_closed() {
  closing_ = true;
  pending_.clear();
  // The first answer's frames are being queued under early_mu_ and one passed the send
  // queue's cap: the hub is left once that lock is released (leaving tells friends, and their
  // sessions take their own early_mu_; two sessions doing so at once would wait for each
  // other).
  if (flushing_early_) return;
  if (in_hub_ && user_) services_.hub.remove(user_->id, this);
  if (in_hub_) metrics::add(metrics::counters().sessions_authenticated, -1);
  in_hub_ = false;
}

bool Session::count_invalid_frame(int64_t now_us) {
  return invalid_frames_.acquire({services_.settings.invalid_frame_burst, 60'000'000}, now_us) > 0;
}

void Session::on_binary() {
  if (closing_) return;
  send_error(Errc::kBinaryFrame);
  if (count_invalid_frame(services_.monotonic.now_us())) close(CloseCode::kTooManyInvalidFrames);
}

void Session::on_text(std::string_view frame) {
  if (closing_) return;
  int64_t now = services_.monotonic.now_us();
  // A type the version does not accept (request_types.h) decodes to an error.
  auto decoded = protocol::decode_frame(frame, version_);
  const std::string& request_id = decoded.request_id;
  if (!decoded.request.ok()) {
    send_error(decoded.request.error(), request_id);
    if (count_invalid_frame(now)) close(CloseCode::kTooManyInvalidFrames);
    return;
  }
  protocol::Request& req = decoded.request.value();
  metrics::add(metrics::counters().requests[metrics::bounded(
      protocol::request_type(req).alternative, metrics::kRequestTypeSlots)]);
  if (auto* hb = std::get_if<protocol::HeartbeatRequest>(&req)) {
    // Heartbeats are never rate limited: they are what keeps a quiet client connected.
    heartbeat_seen_ = true;
    last_heartbeat_us_ = now;
    answer(protocol::encode_heartbeat(hb->payload_json), request_id);
    return;
  }
  const SessionSettings& settings = services_.settings;
  if (int64_t wait = rate_.acquire({settings.rate_count, settings.rate_window_us}, now); wait > 0) {
    metrics::count_rate_limited(metrics::RateScope::kGateway);
    if (rate_violations_.acquire({settings.rate_violation_burst, settings.rate_window_us}, now) > 0)
      return close(CloseCode::kRateLimited);
    Error e{Errc::kRateLimited, "too many requests on this connection."};
    e.retry_after_ms = wait / 1000 + 1;
    return send_error(e, request_id);
  }
  bool is_auth = std::holds_alternative<protocol::AuthRequest>(req);
  if (is_auth && !heartbeat_seen_) return close(CloseCode::kAuthBeforeHeartbeat);
  if (auth_in_flight_ || (!user_ && protocol::request_type(req).needs_auth)) {
    // The app's start-up race: requests may come before auth. Hold them.
    if (pending_.size() >= services_.settings.pending_limit)
      return send_error(Errc::kPendingQueueFull, request_id);
    pending_.push_back(Held{std::move(req), std::move(decoded.request_id)});
    return;
  }
  handle(Held{std::move(req), std::move(decoded.request_id)});
}

void Session::handle(Held held) {
  const std::string& request_id = held.request_id;
  std::visit(
      [this, &request_id](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, protocol::ChatRequest>) {
          handle_chat(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadChatRequest>) {
          handle_load_chat(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadFriendsRequest>) {
          answer(protocol::encode_friend_list(services_.directory.friends(user_->id)), request_id);
        } else if constexpr (std::is_same_v<T, protocol::FriendRequest>) {
          handle_friend(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::GuildRequest>) {
          handle_guild(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadGuildsRequest>) {
          if (version_ == protocol::Version::kV1)
            send(protocol::encode_guild_list(services_.directory.guilds_of(user_->id)));
          else
            answer(
                protocol::encode_guild_summaries(services_.directory.guild_summaries_of(user_->id)),
                request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadGuildMembersRequest>) {
          auto guild = services_.directory.guild_view_for_member(r.guild_id, user_->id);
          if (!guild) return send_error(Errc::kGuildNotFound, request_id);
          answer(protocol::encode_guild_members(*guild), request_id);
        } else if constexpr (std::is_same_v<T, protocol::BlockRequest>) {
          handle_block(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadBlockedRequest>) {
          handle_load_blocked(request_id);
        } else if constexpr (std::is_same_v<T, protocol::TypingRequest>) {
          // Answered only when refused: a client repeats it every few seconds while typing.
          if (Status s = services_.chats.typing(*user_, r.chat_id); !s.ok())
            send_error(s.error(), request_id);
        } else if constexpr (std::is_same_v<T, protocol::PresenceRequest>) {
          services_.social.set_presence_visible(*user_, r.visible,
                                                on_strand([request_id](Session& s, Status st) {
                                                  if (!st.ok())
                                                    return s.send_error(st.error(), request_id);
                                                  s.answer(protocol::encode_ok(), request_id);
                                                }));
        } else if constexpr (std::is_same_v<T, protocol::ReadRequest>) {
          handle_read(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::LoadChatsRequest>) {
          services_.chats.summaries(
              *user_,
              on_strand([request_id](Session& s, Result<std::vector<domain::ChatSummary>> r) {
                if (!r.ok()) return s.send_error(r.error(), request_id);
                s.answer(
                    protocol::encode_chat_summaries(r.value(), s.services_.settings.utc_offset_s),
                    request_id);
              }));
        } else if constexpr (std::is_same_v<T, protocol::SearchRequest>) {
          services_.chats.search(
              *user_, std::move(r.query), r.chat_id, r.offset,
              on_strand([request_id, offset = r.offset](Session& s, Result<domain::SearchPage> p) {
                if (!p.ok()) return s.send_error(p.error(), request_id);
                s.answer(protocol::encode_search_results(p.value(), offset,
                                                         s.services_.settings.utc_offset_s),
                         request_id);
              }));
        } else if constexpr (std::is_same_v<T, protocol::AuthRequest>) {
          handle_auth(r, request_id);
        } else if constexpr (std::is_same_v<T, protocol::HeartbeatRequest>) {
          answer(protocol::encode_heartbeat(r.payload_json), request_id);
        }
      },
      held.request);
}

void Session::handle_auth(const protocol::AuthRequest& req, const std::string& request_id) {
  // Only the first answer is followed by a catch-up: later ones (a refresh) come while the
  // connection's events flow already.
  if (!answered_.load(std::memory_order_relaxed))
    since_ = req.since ? std::make_unique<std::vector<domain::ChatPosition>>(*req.since) : nullptr;
  if (auto user = services_.accounts.authenticate(req.token))
    return finish_auth(std::move(*user), req.token, request_id);
  // Not in this node's cache: with several nodes, another one may have issued the token moments
  // ago, and the store answers. Requests that come meanwhile (another auth included) are held
  // and run in order after it.
  auth_in_flight_ = true;
  services_.accounts.authenticate_async(
      req.token, on_strand([token = req.token, request_id](Session& s, Result<domain::UserView> r) {
        s.auth_in_flight_ = false;
        // Read from the store, then put in the cache: a revocation applied since has taken it
        // out again, and wins.
        if (r.ok() && !s.services_.accounts.authenticate(token)) r = Error{Errc::kInvalidToken, {}};
        if (r.ok()) return s.finish_auth(std::move(r.value()), token, request_id);
        // A refused first auth drops what was held for it; a session that was authenticated
        // keeps its user, and what it sent meanwhile runs.
        if (r.error().code == Errc::kInvalidToken && !s.user_) s.pending_.clear();
        s.send_error(r.error(), request_id);
        s.run_held();  // after a failure that was not a refusal, the held requests still wait
      }));
}

void Session::finish_auth(domain::UserView user, const std::string& token,
                          const std::string& request_id) {
  if (user_ && user_->id != user.id) {
    send_error(Errc::kAlreadyAuthenticated, request_id);
    return run_held();
  }
  crypto::Sha256 digest = crypto::sha256(token);  // a refresh may use a newer token
  // The token's last use, as its owner's list of sessions shows it: once per token a
  // connection authenticates with, not on the app's repeated auth (a refresh) with the same.
  if (digest != token_digest_) services_.accounts.session_used(crypto::to_hex(digest));
  token_digest_ = digest;
  if (!user_) {
    user_ = std::move(user);
    if (!services_.hub.add(user_->id, shared_from_this()))
      return close(CloseCode::kTooManySessions);
    in_hub_ = true;
    metrics::add(metrics::counters().sessions_authenticated, 1);
    // With several nodes, the answer waits until the user's events reach this node (the
    // broker confirmed its new channels; bounded). Requests meanwhile are held.
    auto ready = [weak = weak_from_this(), token, request_id] {
      auto self = weak.lock();
      if (!self) return;
      auto transport = self->transport_.lock();
      if (!transport) return;
      transport->post([self, token, request_id] {
        self->auth_in_flight_ = false;
        if (self->closing_) return;
        // A logout published before the channels were confirmed did not reach this session,
        // but its TokenRemoved (rw:dir, published first) was applied before the confirmation
        // arrived: the cache answers for it.
        if (!self->services_.accounts.authenticate(token)) return self->close_as_revoked();
        self->answer_auth(request_id);
      });
    };
    if (!services_.hub.when_receiving(user_->id, std::move(ready))) {
      auth_in_flight_ = true;
      return;
    }
  }
  answer_auth(request_id);
}

void Session::answer_auth(const std::string& request_id) {
  if (version_ == protocol::Version::kV1) return send_auth(request_id, nullptr);
  // v2 lists my chats with their unread counts, read from the store first; requests wait
  // meanwhile, and so do events (until the first answer). A chat whose message is committed
  // before the read is counted in it, and its event may still follow the answer: clients
  // count live messages only past each chat's last_message (docs/PROTOCOL.md).
  //
  // A first answer whose auth gave `since` then replays what each of those chats missed,
  // read after this session joined the hub: a change committed before is in the replay or
  // among the events kept meanwhile (those the replay holds are dropped), one committed
  // after is an event.
  auth_in_flight_ = true;
  services_.chats.summaries(
      *user_, on_strand([request_id](Session& s, Result<std::vector<domain::ChatSummary>> r) {
        if (!r.ok())  // the answer still goes: `chats` is null, and `load chats` may ask again
          spdlog::warn("auth: chat summaries not read: {}", r.error().detail);
        if (!s.since_ || s.answered_.load(std::memory_order_relaxed)) {
          s.auth_in_flight_ = false;
          return s.send_auth(request_id, r.ok() ? &r.value() : nullptr);
        }
        auto since = std::move(*s.since_);
        s.since_.reset();
        s.services_.chats.catch_up(
            *s.user_, since, s.services_.settings.catch_up_bytes_limit,
            s.on_strand([request_id, summaries = std::move(r)](
                            Session& s, Result<std::vector<domain::ChatCatchUp>> caught) mutable {
              s.auth_in_flight_ = false;
              if (!caught.ok())  // every chat asked is to be reloaded: `chats` is null
                spdlog::warn("auth: catch-up not read: {}", caught.error().detail);
              CatchUp catch_up{std::move(caught)};
              s.send_auth(request_id, summaries.ok() ? &summaries.value() : nullptr, &catch_up);
            }));
      }));
}

std::vector<std::string> Session::catch_up_frames(CatchUp& catch_up, const std::string& request_id,
                                                  std::unordered_map<int64_t, int64_t>& replayed) {
  std::vector<std::string> frames;
  if (!catch_up.chats.ok()) {
    frames.push_back(protocol::with_request_id(protocol::encode_catch_up(nullptr), request_id));
    return frames;
  }
  // The replay shares the send queue with the frames kept meanwhile (their cap is the whole
  // queue's): it takes at most what they left of it, and never more than its own share.
  size_t budget = services_.settings.catch_up_bytes_limit;
  {
    std::lock_guard lock(early_mu_);
    size_t left = services_.settings.early_bytes_limit > early_bytes_
                      ? services_.settings.early_bytes_limit - early_bytes_
                      : 0;
    budget = std::min(budget, left / 2);
  }
  for (domain::ChatCatchUp& chat : catch_up.chats.value()) {
    replayed[chat.wire_chat_id] = chat.seq;
    if (chat.reload) continue;
    size_t first = frames.size(), bytes = 0;
    for (const domain::ChatChange& c : chat.changes) {
      frames.push_back(protocol::with_request_id(
          protocol::encode_chat_change(c.action, c.message, services_.settings.utc_offset_s),
          request_id));
      bytes += frames.back().size();
    }
    if (bytes > budget) {  // the rest of the chats may still fit
      frames.resize(first);
      chat.reload = true;
    } else {
      budget -= bytes;
    }
    chat.changes.clear();
  }
  frames.push_back(
      protocol::with_request_id(protocol::encode_catch_up(&catch_up.chats.value()), request_id));
  return frames;
}

void Session::send_auth(const std::string& request_id,
                        const std::vector<domain::ChatSummary>* chats, CatchUp* catch_up) {
  // Read now, after the wait: every change another node published before this node's
  // subscriptions were confirmed is in the Directory already. Its rw:dir change was published
  // before the event (one publisher, one order), and rw:dir is always subscribed: Redis sent
  // it on the subscribe link ahead of the confirmation, and the broker's thread applied it
  // before it handled the confirmation that ended the wait. So a friend request or answer,
  // a guild joined, a logout (TokenRemoved) missed live is in this snapshot; what the client
  // loads after the answer (history, friends, members) is read later still. Chats' changes
  // are the sequencer's: it filled from each followed chat's position read at watch_user.
  protocol::AuthExtras extras;
  if (version_ == protocol::Version::kV2) {
    extras.guilds = services_.directory.guild_summaries_of(user_->id);
    extras.chats = chats;
    extras.online = services_.hub.online_friends(user_->id);
    extras.show_presence = !services_.directory.presence_hidden(user_->id);
    extras.utc_offset_s = services_.settings.utc_offset_s;
  }
  std::string text = protocol::with_request_id(
      protocol::encode_auth(version_, *user_, services_.directory.friend_state(user_->id), extras),
      request_id);
  if (answered_.load(std::memory_order_relaxed)) {
    send(std::move(text));
  } else {
    // The answer first, then the catch-up, then what the hub delivered meanwhile, in its order
    // and without the changes the catch-up replayed; deliver() waits on the lock, so no frame
    // passes the ones kept.
    std::unordered_map<int64_t, int64_t> replayed;  // wire chat id -> position replayed to
    std::vector<std::string> caught_up;
    if (catch_up) caught_up = catch_up_frames(*catch_up, request_id, replayed);
    {
      std::lock_guard lock(early_mu_);
      flushing_early_ = true;
      // Cleared however the block ends (a throw is caught by the read loop, which closes the
      // connection: on_closed must then leave the hub).
      struct ClearFlag {
        bool& flag;
        ~ClearFlag() { flag = false; }
      } clear_flag{flushing_early_};
      send(std::move(text));
      for (auto& frame : caught_up) send(std::move(frame));
      if (auto t = transport_.lock())
        for (auto& early : early_frames_) {
          if (early.seq != 0) {
            auto it = replayed.find(early.wire_chat_id);
            if (it != replayed.end() && early.seq <= it->second) continue;
          }
          t->send(std::move(early.frame));
        }
      early_frames_.clear();
      early_bytes_ = 0;
      answered_.store(true, std::memory_order_release);
    }
    if (closing_) on_closed();  // the send queue overflowed above: leave the hub now
  }
  run_held();
}

void Session::close_as_revoked() {
  // The revocation's event was missed, so its reason is asked of the store: a disabled or
  // deleted account closes with its own code, as a live revocation would have. Nothing else
  // runs meanwhile (auth_in_flight_ holds every request).
  auth_in_flight_ = true;
  services_.accounts.find_account_by_id(
      user_->id, on_strand([](Session& s, Result<domain::AccountInfo> account) {
        CloseCode code = CloseCode::kTokenRevoked;
        if (account.ok() && account->deleted)
          code = CloseCode::kAccountDeleted;
        else if (account.ok() && account->disabled)
          code = CloseCode::kAccountDisabled;
        s.close(code);
      }));
}

void Session::run_held() {
  // Held until an auth: run them only once a user is known (a failed auth that was not a
  // refusal leaves them for the next one). One of them may be an auth that must wait again.
  if (!user_) return;
  std::vector<Held> held = std::move(pending_);
  pending_.clear();
  for (size_t i = 0; i < held.size(); ++i) {
    if (closing_) return;
    if (auth_in_flight_) {  // an auth among them went to the store: the rest wait for it
      pending_.insert(pending_.begin(), std::make_move_iterator(held.begin() + i),
                      std::make_move_iterator(held.end()));
      return;
    }
    handle(std::move(held[i]));
  }
}

void Session::handle_chat(const protocol::ChatRequest& req, const std::string& request_id) {
  // Success is answered by the chat event itself, which the hub delivers to this
  // connection too (with the request id and the send's nonce: the origin names this
  // connection); only failures need an answer here, and a retry of a send whose nonce stored
  // a message already, which is answered with that message as it is now (a deleted one as
  // its deletion's edit event).
  domain::RequestOrigin origin{connection_id_, request_id, req.nonce};
  if (req.action == domain::ChatAction::kSend) {
    auto sent = on_strand(
        [request_id, nonce = req.nonce](Session& s, Result<std::optional<domain::ChatMessage>> r) {
          if (!r.ok()) return s.send_error(r.error(), request_id);
          if (!*r) return;
          const domain::ChatMessage& m = **r;
          auto action = m.content.empty() ? domain::ChatAction::kEdit : domain::ChatAction::kSend;
          s.answer(protocol::with_nonce(protocol::encode_chat(protocol::Version::kV2, action, m,
                                                              s.services_.settings.utc_offset_s),
                                        nonce),
                   request_id);
        });
    services_.chats.send(*user_, req.chat_id, req.content, std::move(origin), std::move(sent));
    return;
  }
  auto done = on_strand([request_id](Session& s, Status st) {
    if (!st.ok()) s.send_error(st.error(), request_id);
  });
  services_.chats.edit(*user_, req.chat_id, req.message_id, req.content, std::move(origin),
                       std::move(done));
}

void Session::handle_load_chat(const protocol::LoadChatRequest& req,
                               const std::string& request_id) {
  auto before = protocol::decode_cursor(req.datetime_b64, services_.settings.utc_offset_s);
  if (!before.ok()) return send_error(before.error(), request_id);
  int64_t chat_id = req.chat_id;
  int count = std::min(req.count, services_.chats.history_limit());
  auto answer_page = [chat_id, count, request_id](Session& s,
                                                  Result<std::vector<domain::ChatMessage>> r) {
    if (!r.ok()) return s.send_error(r.error(), request_id);
    for (const auto& m : r.value())
      s.answer(protocol::encode_chat(s.version_, domain::ChatAction::kSend, m,
                                     s.services_.settings.utc_offset_s),
               request_id);
    if (s.version_ == protocol::Version::kV2)
      s.answer(
          protocol::encode_load_complete(chat_id, r->size(), static_cast<int>(r->size()) >= count),
          request_id);
  };
  services_.chats.load(*user_, chat_id, before.value(), count, on_strand(std::move(answer_page)));
}

void Session::handle_friend(const protocol::FriendRequest& req, const std::string& request_id) {
  auto done = on_strand([request_id](Session& s, Status st) {
    if (!st.ok()) return s.send_error(st.error(), request_id);
    s.answer(protocol::encode_ok(), request_id);
  });
  switch (req.action) {
    case domain::FriendAction::kRequest:
      return services_.social.request(*user_, connection_id_, req.name, std::move(done));
    case domain::FriendAction::kResponse:
      return services_.social.respond(*user_, connection_id_, req.name, std::move(done));
    case domain::FriendAction::kRemove:
      return services_.social.remove(*user_, connection_id_, req.name, std::move(done));
    case domain::FriendAction::kDelete:
      return services_.social.unfriend(*user_, connection_id_, req.name, std::move(done));
  }
}

void Session::handle_block(const protocol::BlockRequest& req, const std::string& request_id) {
  auto done = on_strand([request_id](Session& s, Status st) {
    if (!st.ok()) return s.send_error(st.error(), request_id);
    s.answer(protocol::encode_ok(), request_id);
  });
  if (req.block) return services_.blocks.block(*user_, connection_id_, req.name, std::move(done));
  services_.blocks.unblock(*user_, req.name, std::move(done));
}

void Session::handle_load_blocked(const std::string& request_id) {
  services_.blocks.list(
      *user_, on_strand([request_id](Session& s, Result<std::vector<domain::UserView>> users) {
        if (users.ok()) return s.answer(protocol::encode_blocked_users(users.value()), request_id);
        s.send_error(users.error(), request_id);
      }));
}

void Session::handle_read(const protocol::ReadRequest& req, const std::string& request_id) {
  // Answered with the mark as it is now (perhaps past the message asked: another device read
  // further); my other connections learn of a move from its event.
  services_.chats.mark_read(
      *user_, connection_id_, req.chat_id, req.message_id,
      on_strand([request_id, chat_id = req.chat_id](Session& s, Result<int64_t> mark) {
        if (!mark.ok()) return s.send_error(mark.error(), request_id);
        s.answer(protocol::encode_read(chat_id, mark.value()), request_id);
      }));
}

void Session::handle_guild(const protocol::GuildRequest& req, const std::string& request_id) {
  // Success is answered by the guild event, which every member's v2 connections receive,
  // this one included (with the request id: the origin names this connection); only
  // failures need an answer here.
  auto done = on_strand([request_id](Session& s, Status st) {
    if (!st.ok()) s.send_error(st.error(), request_id);
  });
  auto& guilds = services_.guilds;
  domain::RequestOrigin origin{connection_id_, request_id, {}};
  switch (req.op) {
    case protocol::GuildOp::kCreate:
      return guilds.create(*user_, req.name, std::move(origin), std::move(done));
    case protocol::GuildOp::kRename:
      return guilds.rename(*user_, req.guild_id, req.name, std::move(origin), std::move(done));
    case protocol::GuildOp::kAdd:
      return guilds.add(*user_, req.guild_id, req.name, std::move(origin), std::move(done));
    case protocol::GuildOp::kRemove:
      return guilds.remove(*user_, req.guild_id, req.name, std::move(origin), std::move(done));
    case protocol::GuildOp::kLeave:
      return guilds.leave(*user_, req.guild_id, std::move(origin), std::move(done));
    case protocol::GuildOp::kDelete:
      return guilds.destroy(*user_, req.guild_id, std::move(origin), std::move(done));
  }
}

}  // namespace rwd::gateway
