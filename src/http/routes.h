#pragma once

#include <string_view>

namespace rwd::http {

// The verification link: kVerifyPrefix followed by the key (a secret: loggable_target.h
// removes it).
constexpr std::string_view kVerifyPrefix = "/api/v1/auth/email_verify/";

// Passwords (password_routes.cc). The reset link itself opens the web client
// (<base>/#reset=<key>), whose page posts the key to kPasswordResetConfirmPath.
constexpr std::string_view kPasswordResetPath = "/api/v1/auth/password_reset";
constexpr std::string_view kPasswordResetConfirmPath = "/api/v1/auth/password_reset/confirm";
constexpr std::string_view kPasswordChangePath = "/api/v1/auth/password_change";
constexpr std::string_view kDeleteAccountPath = "/api/v1/auth/delete_account";

// One's own sessions (session_routes.cc): GET the list; DELETE kSessionsPath/<session id>.
constexpr std::string_view kSessionsPath = "/api/v1/auth/sessions";

}  // namespace rwd::http
