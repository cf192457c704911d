#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/rate_limiter.h"
#include "domain/accounts.h"
#include "domain/blocks.h"
#include "domain/chats.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "gateway/hub.h"
#include "gateway/transport.h"
#include "protocol/gateway_codec.h"

namespace rwd::gateway {

struct SessionSettings {
  int64_t heartbeat_timeout_us = 45'000'000;
  int64_t auth_timeout_us = 15'000'000;
  size_t pending_limit = 16;  // requests held before auth
  // Bytes of hub frames kept while the first auth answer waits for the broker (as a send
  // queue's cap, --send-queue-bytes): past it the session closes as a slow consumer (4105).
  size_t early_bytes_limit = 2 << 20;
  // Bytes of changes one catch-up replays at most (a quarter of --send-queue-bytes; less when
  // the events kept for the first answer took more than half of the queue: half of what they
  // left): the chats past it are to be reloaded instead, so that the kept events, the answer,
  // the replay and the events that follow fit in the send queue.
  size_t catch_up_bytes_limit = 512 << 10;
  int rate_count = 120;  // requests per connection per window
  int64_t rate_window_us = 60'000'000;
  int invalid_frame_burst = 20;   // invalid frames tolerated per minute
  int rate_violation_burst = 20;  // requests over the rate limit tolerated per window
  int utc_offset_s = 9 * 3600;
};

// What sessions need from the rest of the server. Owned by the application.
struct Services {
  domain::Accounts& accounts;
  domain::Social& social;
  domain::Chats& chats;
  domain::Guilds& guilds;
  domain::Blocks& blocks;
  domain::Directory& directory;
  Hub& hub;
  const Clock& clock;               // wall time (unused by sessions today; domain calls date)
  const MonotonicClock& monotonic;  // heartbeat and auth deadlines, per-connection rate limits
  SessionSettings settings;
};

// The gateway state machine of one WebSocket connection (SPEC §2 "Connection life"):
// heartbeat first; auth; requests sent before auth are held (bounded) and run in order
// once auth succeeds, dropped if it fails; every request is answered exactly once (a chat
// send is answered by its own event; an empty send is ignored).
//
// Threads: every method runs on the connection's strand, i.e. its serial context (the network
// layer runs each connection on one event-loop thread). Results of domain calls come back on
// other threads and are posted to it (Transport::post) before they touch the session.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Services& services, std::weak_ptr<Transport> transport, protocol::Version version);
  ~Session();

  void on_text(std::string_view frame);
  void on_binary();
  // The time at which on_deadline must be called next (heartbeat or auth timeout), on
  // Services::monotonic.
  int64_t deadline_us() const;
  // Closed or closing: no timeout of its own is left to watch.
  bool closing() const { return closing_; }
  // Closes the connection if a timeout passed.
  void on_deadline();
  // The connection is ending (its close handshake began, from either side) or gone: leave the
  // hub, run nothing more. Called again when the connection finishes: does nothing then.
  // It may run while this session holds early_mu_ (the first answer's flush -> a full send
  // queue -> the transport's close -> here): then it only marks the session closed and the
  // flush leaves the hub after the lock's release. It must never take early_mu_ nor call back
  // into this session's delivery.
  void on_closed();

  // Delivery from the hub (any thread). Before the first auth answer went out, frames are
  // kept and follow it.
  // A chat change's frame names its chat (wire id) and seq: one that a catch-up replayed
  // already is not sent again.
  void deliver(const Frame& frame, int64_t wire_chat_id = 0, int64_t seq = 0);
  // A token was revoked (any thread): closes this session (4108) if it was opened with it.
  // reason kAccountDisabled (4110) or kAccountDeleted (4111): the session closes whatever its
  // token.
  void on_token_revoked(const std::string& token_hash,
                        domain::RevokeReason reason = domain::RevokeReason::kToken);
  protocol::Version version() const { return version_; }
  // Unique among this process's sessions, never 0: names the connection a request came
  // from, so that the events of its own actions can skip it.
  uint64_t connection_id() const { return connection_id_; }

 private:
  // A request and the id its client gave it (v2; empty: none), which every frame answering
  // it carries back.
  struct Held {
    protocol::Request request;
    std::string request_id;
  };
  void handle(Held held);
  void handle_auth(const protocol::AuthRequest& req, const std::string& request_id);
  void finish_auth(domain::UserView user, const std::string& token, const std::string& request_id);
  // The auth answer (and then the held requests), once the user's events reach this process.
  void answer_auth(const std::string& request_id);
  // What the first auth answer follows with, when its `since` asked for a catch-up (v2).
  struct CatchUp {
    Result<std::vector<domain::ChatCatchUp>> chats;
  };
  // The auth answer itself; chats: v2's summaries (null: not read, or v1); catch_up: the
  // changes replayed after it (null: none asked, or not the first answer).
  void send_auth(const std::string& request_id, const std::vector<domain::ChatSummary>* chats,
                 CatchUp* catch_up = nullptr);
  // The catch-up's frames, in order: each chat's changes (a chat past catch_up_bytes_limit is
  // turned into a reload), then the `catch_up` frame. Fills `replayed` with each chat's
  // position, which the held events are filtered by.
  std::vector<std::string> catch_up_frames(CatchUp& catch_up, const std::string& request_id,
                                           std::unordered_map<int64_t, int64_t>& replayed);
  // The token was revoked while the auth answer waited: closes with the revocation's code
  // (4108, or 4110 / 4111 for a disabled or deleted account).
  void close_as_revoked();
  // Runs the requests held before auth (or during one that asked the store), in order.
  void run_held();
  void handle_chat(const protocol::ChatRequest& req, const std::string& request_id);
  void handle_load_chat(const protocol::LoadChatRequest& req, const std::string& request_id);
  void handle_friend(const protocol::FriendRequest& req, const std::string& request_id);
  void handle_guild(const protocol::GuildRequest& req, const std::string& request_id);
  void handle_block(const protocol::BlockRequest& req, const std::string& request_id);
  void handle_load_blocked(const std::string& request_id);
  void handle_read(const protocol::ReadRequest& req, const std::string& request_id);
  void send(std::string text);
  // An answer to the request of `request_id`.
  void answer(std::string text, std::string_view request_id);
  void send_error(const Error& error, std::string_view request_id = {});
  void send_error(Errc code, std::string_view request_id = {}) {
    send_error(Error{code, {}}, request_id);
  }
  void close(protocol::CloseCode code);
  // Counts an invalid frame; true when past --invalid-frame-limit a minute (time to close).
  bool count_invalid_frame(int64_t now_us);
  // Wraps a domain callback: runs `fn` on this session's strand if it still exists.
  template <typename Fn>
  auto on_strand(Fn fn);

  Services& services_;
  std::weak_ptr<Transport> transport_;
  const protocol::Version version_;
  const uint64_t connection_id_;
  const int64_t opened_us_;
  int64_t last_heartbeat_us_;
  bool heartbeat_seen_ = false;
  bool closing_ = false;
  std::optional<domain::UserView> user_;
  // SHA-256 of the token this session authenticated with (all zero: none yet); as bytes, not
  // the store's hex form, which would be an allocation on every connection.
  crypto::Sha256 token_digest_{};
  bool in_hub_ = false;
  bool auth_in_flight_ = false;  // an auth waits (store, broker): every request is held
  // Whether the first auth answer went out; until then the hub's frames wait in early_frames_
  // (a session is in the hub before its answer, while the broker confirms its channels).
  std::atomic<bool> answered_{false};
  std::mutex early_mu_;
  // A frame the hub delivered before the first answer, with its chat change's place (0: not
  // a chat change).
  struct EarlyFrame {
    Frame frame;
    int64_t wire_chat_id = 0;
    int64_t seq = 0;
  };
  std::vector<EarlyFrame> early_frames_;  // early_mu_
  bool flushing_early_ = false;           // strand only: the first answer's frames are being queued
  size_t early_bytes_ = 0;                // early_mu_: of early_frames_
  bool early_overflowed_ = false;         // early_mu_: closed for passing early_bytes_limit
  std::vector<Held> pending_;             // a vector: empty costs nothing, unlike a deque
  // The `since` of the auth that is to give the first answer (v2): the catch-up it asks. Null:
  // none asked (a pointer, not an optional: 8 bytes on every connection instead of 32).
  std::unique_ptr<std::vector<domain::ChatPosition>> since_;
  LocalRateLimiter rate_;
  LocalRateLimiter rate_violations_;
  LocalRateLimiter invalid_frames_;
};

}  // namespace rwd::gateway
