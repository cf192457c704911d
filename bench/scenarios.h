#pragma once

#include "bench/common.h"

namespace rwd::bench {

// Runs o.scenario (idle, connect, dm, history, login, fanout) and prints its report. Returns the
// exit status.
int run_scenario(Options& o);

}  // namespace rwd::bench
