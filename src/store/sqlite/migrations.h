#pragma once

#include "base/error.h"

namespace rwd::store {

class Connection;

// Number of migrations this build knows; PRAGMA user_version equals it after migrate().
int latest_schema_version();

// Applies, each in its own transaction, every migration above the file's user_version, up to
// `up_to` (tests build an older schema with it). A file newer than this build is refused
// rather than touched.
Status migrate(Connection& conn, int up_to = latest_schema_version());

}  // namespace rwd::store
