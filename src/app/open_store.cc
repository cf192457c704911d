#include "app/open_store.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "app/wiring.h"
#include "store/postgres/pg_util.h"
#include "store/postgres/postgres_store.h"
#include "store/postgres/worker_lease.h"
#include "store/sqlite/sqlite_store.h"

namespace rwd::app {

OpenedStore::OpenedStore() = default;
OpenedStore::OpenedStore(OpenedStore&&) noexcept = default;
OpenedStore::~OpenedStore() = default;

namespace {

Result<OpenedStore> open_sqlite(const Config& config, const Clock& clock) {
  OpenedStore out;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return Error{Errc::kInternal,
                 "--data-dir: cannot create '" + config.data_dir + "': " + ec.message()};
  auto lock = DirectoryLock::acquire(config.data_dir);
  if (!lock.ok()) return lock.error();
  out.dir_lock.emplace(std::move(lock.value()));
  out.where = sqlite_path(config);
  auto opened = store::SqliteStore::open(out.where, sqlite_options(config, clock));
  if (!opened.ok()) return Error{Errc::kInternal, "database: " + opened.error().detail};
  out.store = std::move(opened.value());
  out.worker_id = config.worker_id;
  return out;
}

Result<OpenedStore> open_postgres(const Config& config, const Clock& clock) {
  OpenedStore out;
  out.where = store::postgres::redact_url(config.database_url);
  // Migrations first: the lease table is one of them.
  auto opened = store::PostgresStore::open(config.database_url, postgres_options(config, clock));
  if (!opened.ok()) return Error{Errc::kInternal, "database: " + opened.error().detail};
  out.store = std::move(opened.value());
  // A lease lost while running means another process may be making ids with ours: stop
  // rather than risk duplicate ids.
  // The logger is asynchronous: its queue (the line saying why) is written out first.
  auto on_lost = [] {
    spdlog::shutdown();
    std::_Exit(3);
  };
  constexpr int64_t kLeaseUs = micros_from_seconds(60);
  auto lease =
      config.worker_id_given
          ? store::WorkerIdLease::claim(config.database_url, config.worker_id, kLeaseUs, on_lost)
          : store::WorkerIdLease::acquire(config.database_url, kLeaseUs, on_lost);
  if (!lease.ok()) return Error{Errc::kInternal, "worker id: " + lease.error().detail};
  out.worker_lease = std::move(lease.value());
  out.worker_id = out.worker_lease->worker_id();
  return out;
}

}  // namespace

std::string sqlite_path(const Config& config) {
  return (std::filesystem::path(config.data_dir) / "rewind.db").string();
}

Result<OpenedStore> open_store(const Config& config, const Clock& clock) {
  if (config.database_url.empty()) return open_sqlite(config, clock);
  auto out = open_postgres(config, clock);
  if (out.ok())
    spdlog::info("database: PostgreSQL at {}, worker id {}{}", out.value().where,
                 out.value().worker_id, config.worker_id_given ? "" : " (leased)");
  return out;
}

}  // namespace rwd::app
