#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace rwd::testing {

// The command line `rewind-server args...` through parse_config, as main() hands it over.
ConfigOutcome parse_args(std::vector<std::string> args);

}  // namespace rwd::testing
