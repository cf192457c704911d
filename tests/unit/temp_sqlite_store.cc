#include "temp_sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace rwd::testing {

namespace fs = std::filesystem;

Status TempSqliteStore::open(const std::string& prefix) {
  reset();
  dir_ =
      fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  store::SqliteOptions options;
  options.prune_interval_us = 0;
  auto opened = store::SqliteStore::open((dir_ / "rewind.db").string(), options);
  if (!opened.ok()) return opened.error();
  store_ = std::move(opened.value());
  return {};
}

void TempSqliteStore::reset() {
  store_.reset();
  if (!dir_.empty()) fs::remove_all(dir_);
  dir_.clear();
}

}  // namespace rwd::testing
