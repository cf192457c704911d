// The store contract (store_contract_test.cc), run against the SQLite store.
#include "store/sqlite/sqlite_store.h"
#include "store_contract.h"

namespace rwd::store {
namespace {

StoreFactory sqlite_factory() {
  return {"Sqlite", [](const std::string& scratch_dir) -> std::unique_ptr<Store> {
            SqliteOptions options;
            options.prune_interval_us = 0;  // nothing but the test's own writes
            auto opened = SqliteStore::open(scratch_dir + "/rewind.db", options);
            if (!opened.ok()) return nullptr;
            return std::move(opened.value());
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(sqlite_factory()),
                         StoreFactoryName());

}  // namespace
}  // namespace rwd::store
