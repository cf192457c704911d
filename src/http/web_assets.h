#pragma once

#include <cstddef>

// The web client's files (web/), embedded in the binary at build time by
// src/http/embed_web.cmake. Plain data: no includes beyond <cstddef>, so the generated
// file compiles fast and anything may read the table from any thread.
namespace rwd::http {

struct WebAsset {
  const char* path;           // URL path: "/" + the file's path under web/, e.g. "/app.js"
  const char* etag;           // strong ETag, quotes included: the start of the SHA-256
  const unsigned char* data;  // the file's bytes
  size_t size;
};

extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

}  // namespace rwd::http
