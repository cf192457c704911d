#pragma once

#include <optional>
#include <string_view>

#include "http/router.h"
#include "http/web_assets.h"

// Serves the embedded web client: "/" is web/index.html, every other file of web/ is at
// its own path. Answers carry an ETag with Cache-Control: no-cache, so a browser asks
// again each time and gets 304 (no body) while the binary's copy is unchanged; a new build
// changes the ETag. The Content-Security-Policy allows only the server's own scripts,
// styles, images and connections (its WebSocket gateway included).
namespace rwd::http {

// The asset for a URL path, or nullptr.
const WebAsset* find_web_asset(std::string_view path);

// The Content-Type of a file by its extension; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view path);

// True when an If-None-Match header value names `etag` (a list, weak tags or "*").
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// The 200 (or 304) answer for a GET or HEAD of `asset`.
Response web_asset_response(const WebAsset& asset, std::string_view if_none_match);

// The headers every answer of the web client carries.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

}  // namespace rwd::http
