// --admin-token-file / REWIND_ADMIN_TOKEN_FILE: unset by default (no account administration);
// the secret is the file's content trimmed; an unreadable or short file, or the option without
// an admin listener, stops start-up with a line that names the flag and never the secret.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace rwd {
namespace {

ConfigOutcome parse(std::vector<std::string> args) {
  args.insert(args.begin(), "rewind-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_config(static_cast<int>(argv.size()), argv.data());
}

class ConfigAdminTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rewind-admin-token-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file_with(const std::string& content, const std::string& name = "token") {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << content;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigAdminTokenTest, UnsetByDefault) {
  ConfigOutcome out = parse({});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->admin_token, "");
}

TEST_F(ConfigAdminTokenTest, TheSecretIsTheFileTrimmedFromFlagOrEnvironment) {
  std::string path = file_with("  0123456789abcdef-secret \n");
  ConfigOutcome from_flag = parse({"--admin-port", "9190", "--admin-token-file", path});
  ASSERT_TRUE(from_flag.config);
  EXPECT_EQ(from_flag.config->admin_token, "0123456789abcdef-secret");
  ::setenv("REWIND_ADMIN_TOKEN_FILE", path.c_str(), 1);
  ConfigOutcome from_env = parse({"--admin-port", "9190"});
  ::unsetenv("REWIND_ADMIN_TOKEN_FILE");
  ASSERT_TRUE(from_env.config);
  EXPECT_EQ(from_env.config->admin_token, "0123456789abcdef-secret");
}

TEST_F(ConfigAdminTokenTest, AShortUnreadableOrListenerlessTokenFileStopsStartUp) {
  std::string shorter = file_with(" fifteen-chars-x \n", "short");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--admin-port", "9190", "--admin-token-file", shorter},
        std::vector<std::string>{"--admin-port", "9190", "--admin-token-file",
                                 (dir_ / "missing").string()},
        std::vector<std::string>{"--admin-token-file", file_with("0123456789abcdef", "long")}}) {
    testing::internal::CaptureStderr();
    ConfigOutcome out = parse(args);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_FALSE(out.config);
    EXPECT_EQ(out.exit_code, 2);
    EXPECT_NE(err.find("--admin-token-file / REWIND_ADMIN_TOKEN_FILE"), std::string::npos) << err;
    EXPECT_EQ(err.find("fifteen-chars-x"), std::string::npos) << err;
    EXPECT_EQ(err.find("0123456789abcdef"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace rwd
