#pragma once

#include "config/config.h"

namespace rwd::app {

// `rewind-server backup --to FILE`: copies the SQLite store under --data-dir to FILE while a
// server may be running on it, and prints what it did. Returns the process exit code. On
// PostgreSQL (--database-url) it refuses and points to pg_dump: the database server has its
// own consistent dump.
int run_backup(const Config& config);

}  // namespace rwd::app
