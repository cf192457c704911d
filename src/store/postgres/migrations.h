#pragma once

#include "base/error.h"

typedef struct pg_conn PGconn;

namespace rwd::store::postgres {

// The schema version this build writes (the number of migrations).
int latest_schema_version();

// Brings the database up to latest_schema_version() in one transaction, under a transaction
// advisory lock, so that processes starting at once apply each migration once: the second
// waits for the first and then finds nothing to do. `conn` is an idle blocking connection.
// A database newer than this build is refused (kInternal), as is any failure of a migration
// (nothing of it stays); a connection the server refused or lost is kStorageUnavailable.
// `up_to` stops at an older version (tests build an older schema with it).
Status migrate(PGconn* conn, int up_to = latest_schema_version());

}  // namespace rwd::store::postgres
