#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rwd {

// Every expected failure in REWIND has one code here. The protocol layer maps each code
// to an HTTP status, a machine code string, a gateway error code and a human message
// (src/protocol/error_table.cc); docs/PROTOCOL.md lists them all and a test checks that.
enum class Errc {
  // HTTP / accounts
  kBadRequest,          // body could not be decoded
  kInvalidName,         // name fails validation
  kInvalidEmail,        // email fails validation
  kInvalidPassword,     // password fails validation
  kNameTaken,           // another account (or the verification race) owns the name
  kInvalidCredentials,  // login: wrong email or password (one message for both)
  kEmailNotVerified,    // login: password matches a pending registration
  kAccountDisabled,     // login: right password, but an operator disabled the account
  kLinkInvalid,         // verification key unknown, used or expired
  kRateLimited,         // too many requests from this address / connection / user
  kPayloadTooLarge,     // body over the limit
  kHeadersTooLarge,     // header block over the limit
  kRouteNotFound,       // no such path
  kMethodNotAllowed,    // path exists, method does not
  kForbiddenOrigin,     // WebSocket handshake from an Origin not allowed
  kUnauthorized,        // missing or bad bearer token on HTTP
  kSessionNotFound,     // admin: no live session of that user has that id
  // Gateway
  kInvalidToken,          // gateway code "4000": the token is not valid (the app logs out)
  kMalformedFrame,        // not JSON, or not a {"type","payload"} object
  kUnknownType,           // frame type the server does not know
  kInvalidPayload,        // payload fields missing or of the wrong type
  kBinaryFrame,           // binary frames are not part of the protocol
  kPendingQueueFull,      // too many requests sent before auth
  kAlreadyAuthenticated,  // auth with a token of another user on the same connection
  kUserNotFound,          // no user of that name
  kSelfTarget,            // a friend operation aimed at oneself
  kAlreadyFriends,
  kAlreadyRequested,
  kNotRequested,  // response/remove with no pending request: reason text is fixed by the app
  kNotFriends,
  kUserBlocked,      // a friend request to a user I blocked: unblock them first
  kChatNotFound,     // chat id unknown or the user is not a member
  kMessageNotFound,  // message id unknown in that chat, or not the sender's own
  kContentTooLong,
  kInvalidContent,  // content is not valid UTF-8 or has forbidden characters
  kInvalidCursor,   // load datetime cursor could not be decoded
  // Guilds
  kGuildNotFound,     // no such guild, or not a member: one code so outsiders learn nothing
  kNotGuildOwner,     // only the owner may do that
  kGuildFull,         // the guild has --max-guild-members members
  kAlreadyMember,     // the user is already a member of the guild
  kInvalidGuildName,  // guild name fails validation
  // Both
  kStorageUnavailable,  // the disk is full or failing, or the database is locked: try again
  kOverloaded,          // a bounded queue (hashing, storage) is full: try again
  kInternal,            // a bug or an unexpected environment failure
};

struct Error {
  Error(Errc c, std::string d = {}, int64_t retry_ms = 0)  // NOLINT: implicit from Errc
      : code(c), detail(std::move(d)), retry_after_ms(retry_ms) {}
  Errc code;
  std::string detail;          // extra human detail for logs or messages; may be empty
  int64_t retry_after_ms = 0;  // with kRateLimited: when to try again
};

// Result<T> holds a T or an Error. Result<void> is spelled Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  Result(Errc code) : v_(Error{code, {}}) {}     // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  Result(Errc code) : error_{code, {}}, ok_(false) {}            // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::kInternal, {}};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

}  // namespace rwd
