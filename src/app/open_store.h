#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/dir_lock.h"
#include "base/error.h"
#include "config/config.h"
#include "store/store.h"

namespace rwd::store {
class WorkerIdLease;
}

namespace rwd::app {

// The store the configuration selects, with what keeps its processes apart. Destroy it after
// the store is closed (the lease outlives the last id the process makes).
struct OpenedStore {
  OpenedStore();
  OpenedStore(OpenedStore&&) noexcept;
  ~OpenedStore();

  std::unique_ptr<store::Store> store;
  int worker_id = 0;
  std::string where;  // for the log: the SQLite file, or the URL without its password
  // SQLite: one process per data directory (two would each keep their own memory over one
  // file, with one worker id).
  std::optional<DirectoryLock> dir_lock;
  // PostgreSQL: processes share the database, so the data directory is neither created nor
  // locked; each holds a lease on its worker id instead (the given one, or a free one).
  std::unique_ptr<store::WorkerIdLease> worker_lease;
};

// The SQLite database file under config.data_dir.
std::string sqlite_path(const Config& config);

// SQLite under config.data_dir, or PostgreSQL at config.database_url. Fails with one line
// (never holding the database password) when the store cannot be opened.
Result<OpenedStore> open_store(const Config& config, const Clock& clock);

}  // namespace rwd::app
