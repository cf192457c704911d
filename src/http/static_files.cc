#include "http/static_files.h"

#include "base/text.h"

namespace rwd::http {

const WebAsset* find_web_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (size_t i = 0; i < kWebAssetCount; ++i)
    if (path == kWebAssets[i].path) return &kWebAssets[i];
  return nullptr;
}

std::string_view content_type_for(std::string_view path) {
  struct Type {
    std::string_view extension, content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
  };
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    std::string ext = ascii_lower(path.substr(dot));
    for (const auto& t : kTypes)
      if (ext == t.extension) return t.content_type;
  }
  return "application/octet-stream";
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  // RFC 9110 §13.1.2: If-None-Match compares weakly, so W/"x" matches "x".
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t comma = if_none_match.find(',', pos);
    std::string_view tag = trim(if_none_match.substr(
        pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && tag == etag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

Response web_asset_response(const WebAsset& asset, std::string_view if_none_match) {
  Response r;
  r.content_type = std::string(content_type_for(asset.path));
  r.headers = {
      {"ETag", asset.etag},
      // Revalidate on every use: a reload after an upgrade never mixes old and new files,
      // and an unchanged file costs one 304.
      {"Cache-Control", "no-cache"},
      {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
  if (!if_none_match.empty() && etag_matches(if_none_match, asset.etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.body.assign(reinterpret_cast<const char*>(asset.data), asset.size);
  return r;
}

}  // namespace rwd::http
