#include "protocol/error_table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace rwd::protocol {
namespace {

TEST(ErrorTableTest, EveryCodeIsUniqueAnd4000MeansOnlyAnInvalidToken) {
  std::set<std::string> gateway, http;
  for (const ErrorInfo& e : all_errors()) {
    EXPECT_TRUE(gateway.insert(e.gateway_code).second) << "gateway code reused: " << e.gateway_code;
    EXPECT_TRUE(http.insert(e.http_code).second) << "http code reused: " << e.http_code;
    if (std::string(e.gateway_code) == "4000") {
      EXPECT_EQ(e.code, Errc::kInvalidToken);
    }
  }
}

TEST(ErrorTableTest, EveryErrcHasAnEntry) {
  for (int c = 0; c <= static_cast<int>(Errc::kInternal); ++c) {
    bool found = false;
    for (const ErrorInfo& e : all_errors()) found |= e.code == static_cast<Errc>(c);
    EXPECT_TRUE(found) << "Errc " << c << " is missing from the error table";
  }
}

TEST(ErrorTableTest, TheAppsExactReasonTextIsKept) {
  EXPECT_STREQ(error_info(Errc::kNotRequested).message, "targeted name was not requested.");
}

TEST(ErrorTableTest, ProtocolDocumentListsEveryCode) {
  std::ifstream in(std::string(REWIND_SOURCE_DIR) + "/docs/PROTOCOL.md");
  ASSERT_TRUE(in) << "docs/PROTOCOL.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const ErrorInfo& e : all_errors()) {
    EXPECT_NE(doc.find("`" + std::string(e.gateway_code) + "`"), std::string::npos)
        << "PROTOCOL.md does not list gateway code " << e.gateway_code;
    EXPECT_NE(doc.find("`" + std::string(e.http_code) + "`"), std::string::npos)
        << "PROTOCOL.md does not list HTTP code " << e.http_code;
  }
  for (const CloseInfo& c : all_close_codes())
    EXPECT_NE(doc.find("`" + std::to_string(static_cast<int>(c.code)) + "`"), std::string::npos)
        << "PROTOCOL.md does not list close code " << static_cast<int>(c.code);
}

}  // namespace
}  // namespace rwd::protocol

namespace rwd::protocol {
namespace {

TEST(ErrorTableTest, AnInternalErrorsDetailIsNeverShownToClients) {
  Error internal{Errc::kInternal, "inserting a message: no such table: messages"};
  EXPECT_EQ(public_reason(internal), "internal server error.");
  EXPECT_TRUE(withholds_detail(internal));
  Error taken{Errc::kNameTaken, "this name looks too much like a name already taken."};
  EXPECT_EQ(public_reason(taken), taken.detail);
  EXPECT_FALSE(withholds_detail(taken));
  EXPECT_EQ(public_reason(Error{Errc::kStorageUnavailable}),
            error_info(Errc::kStorageUnavailable).message);
}

}  // namespace
}  // namespace rwd::protocol
