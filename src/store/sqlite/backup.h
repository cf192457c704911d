#pragma once

#include <string>

#include "base/error.h"

namespace rwd::store {

// Copies the SQLite database at db_path to a new file `to`, consistently, while a server may be
// writing to it: SQLite's online backup API copies every page under one read transaction, so
// the copy is the database as of one commit (in WAL mode the writer is never blocked). The copy
// is written beside `to` under a temporary name, checked (PRAGMA quick_check), switched to a
// self-contained rollback journal, synced and then linked to `to` (never replacing a file),
// so `to` is either absent or a whole, valid database. Fails (writing nothing) when `to` exists or
// db_path is not a REWIND database. Returns the number of database pages copied.
Result<int> backup_sqlite(const std::string& db_path, const std::string& to);

}  // namespace rwd::store
