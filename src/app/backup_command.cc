#include "app/backup_command.h"

#include <iostream>

#include "app/open_store.h"
#include "store/sqlite/backup.h"

namespace rwd::app {

int run_backup(const Config& config) {
  if (!config.database_url.empty()) {
    std::cerr << "rewind-server backup: the store is PostgreSQL (--database-url); back it up with "
                 "pg_dump (docs/DEPLOYMENT.md)\n";
    return 2;
  }
  // No directory lock: the copy is made beside a running server, which is the point.
  std::string db = sqlite_path(config);
  auto copied = store::backup_sqlite(db, config.backup_to);
  if (!copied.ok()) {
    std::cerr << "rewind-server " << copied.error().detail << "\n";
    return 1;
  }
  std::cout << "backed up " << db << " to " << config.backup_to << " (" << copied.value()
            << " pages)\n";
  return 0;
}

}  // namespace rwd::app
