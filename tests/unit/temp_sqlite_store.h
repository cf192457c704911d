#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "base/error.h"
#include "store/sqlite/sqlite_store.h"

namespace rwd::testing {

// A real SQLite store in a directory of its own under the system's temporary directory, named
// after the process and the running test so that tests run in parallel never share one. Used
// as the store pointer it holds (->, *); reset() closes the store and removes the directory,
// as the destructor does.
class TempSqliteStore {
 public:
  TempSqliteStore() = default;
  ~TempSqliteStore() { reset(); }
  TempSqliteStore(const TempSqliteStore&) = delete;
  TempSqliteStore& operator=(const TempSqliteStore&) = delete;

  // Opens a fresh store (no prune timer) in <tmp>/<prefix>-<pid>-<test name>.
  Status open(const std::string& prefix);
  void reset();

  store::SqliteStore* operator->() const { return store_.get(); }
  store::SqliteStore& operator*() const { return *store_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
};

}  // namespace rwd::testing
