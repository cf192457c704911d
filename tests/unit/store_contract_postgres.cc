// The store contract (store_contract_test.cc), run against the PostgreSQL store: each test on a
// fresh database of the server named by REWIND_TEST_DATABASE_URL. Without it the PostgreSQL
// instantiation is empty and StoreContractOnPostgres says why it skipped.
#include <map>
#include <memory>
#include <mutex>

#include "postgres_test_db.h"
#include "store/postgres/postgres_store.h"
#include "store_contract.h"

namespace rwd::store {
namespace {

using rwd::testing::PostgresTestDb;

// The database of each scratch directory; dropped when the test program exits.
PostgresTestDb& database_for(const std::string& scratch_dir) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<PostgresTestDb>> databases;
  std::lock_guard lock(mu);
  auto& db = databases[scratch_dir];
  if (!db) db = std::make_unique<PostgresTestDb>();
  return *db;
}

std::vector<StoreFactory> postgres_factories() {
  if (PostgresTestDb::server_url().empty()) return {};
  return {{"Postgres", [](const std::string& scratch_dir) -> std::unique_ptr<Store> {
             PostgresTestDb& db = database_for(scratch_dir);
             if (db.url().empty()) {
               ADD_FAILURE() << "creating a database: " << db.error();
               return nullptr;
             }
             PostgresOptions options;
             options.prune_interval_us = 0;  // nothing but the test's own writes
             auto opened = PostgresStore::open(db.url(), options);
             if (!opened.ok()) {
               ADD_FAILURE() << opened.error().detail;
               return nullptr;
             }
             return std::move(opened.value());
           }}};
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContract, ::testing::ValuesIn(postgres_factories()),
                         StoreFactoryName());

TEST(StoreContractOnPostgres, RunsWhenADatabaseServerIsGiven) {
  if (PostgresTestDb::server_url().empty())
    GTEST_SKIP() << "REWIND_TEST_DATABASE_URL is not set (see tests/scripts/postgres-cluster): "
                    "the contract ran on SQLite only";
}

}  // namespace
}  // namespace rwd::store
