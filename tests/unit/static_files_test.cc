#include "http/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace rwd::http {
namespace {

std::string header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(StaticFilesTest, RootIsTheClientsIndexPage) {
  const WebAsset* root = find_web_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root, find_web_asset("/index.html"));
  EXPECT_EQ(content_type_for(root->path), "text/html; charset=utf-8");
}

TEST(StaticFilesTest, UnknownPathsAreNotAssets) {
  EXPECT_EQ(find_web_asset("/nope.js"), nullptr);
  EXPECT_EQ(find_web_asset(""), nullptr);
  EXPECT_EQ(find_web_asset("/../CMakeLists.txt"), nullptr);
  EXPECT_EQ(find_web_asset("index.html"), nullptr);
}

TEST(StaticFilesTest, EmbeddedBytesAreExactlyTheFilesOfWeb) {
  // Every file of web/ is in the table with its exact bytes, and nothing else is.
  std::filesystem::path web = std::filesystem::path(REWIND_SOURCE_DIR) / "web";
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(web)) {
    if (!entry.is_regular_file()) continue;
    std::string rel = entry.path().lexically_relative(web).generic_string();
    if (rel.front() == '.' || rel.find("/.") != std::string::npos) continue;
    on_disk.insert("/" + rel);
    const WebAsset* asset = find_web_asset("/" + rel);
    ASSERT_NE(asset, nullptr) << rel;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(asset->data), asset->size),
              read_file(entry.path()))
        << rel;
  }
  EXPECT_EQ(on_disk.size(), kWebAssetCount);
  std::set<std::string> etags;
  for (size_t i = 0; i < kWebAssetCount; ++i) etags.insert(kWebAssets[i].etag);
  EXPECT_EQ(etags.size(), kWebAssetCount) << "each file's ETag is its content hash";
}

TEST(StaticFilesTest, ContentTypesByExtension) {
  EXPECT_EQ(content_type_for("/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for("/app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("/icon.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("/INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("/data.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/dir.js/file"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/noextension"), "application/octet-stream");
}

TEST(StaticFilesTest, AnAnswerCarriesItsETagCachePolicyAndSecurityHeaders) {
  const WebAsset& index = *find_web_asset("/");
  Response r = web_asset_response(index, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), index.size);
  EXPECT_EQ(header(r, "ETag"), index.etag);
  EXPECT_EQ(header(r, "ETag").front(), '"');
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  std::string csp = header(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos);
}

TEST(StaticFilesTest, AMatchingIfNoneMatchIs304WithoutABody) {
  const WebAsset& index = *find_web_asset("/");
  Response r = web_asset_response(index, index.etag);
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(header(r, "ETag"), index.etag);
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(web_asset_response(index, "\"something-else\"").status, 200);
}

TEST(StaticFilesTest, IfNoneMatchListsWeakTagsAndStar) {
  EXPECT_TRUE(etag_matches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches(" \"x\" ,W/\"abc\" ", "\"abc\""));
  EXPECT_TRUE(etag_matches("*", "\"abc\""));
  EXPECT_FALSE(etag_matches("", "\"abc\""));
  EXPECT_FALSE(etag_matches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(etag_matches("abc", "\"abc\""));
  EXPECT_FALSE(etag_matches(",,", "\"abc\""));
}

}  // namespace
}  // namespace rwd::http
