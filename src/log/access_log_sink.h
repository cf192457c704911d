#pragma once

#include <memory>

#include "log/logging.h"

namespace spdlog {
class logger;
}

namespace rwd::log {

// Where access_log.cc writes: set by start_logging(), cleared (nullptr) by stop_logging().
// Not thread-safe against logging: call only while no network thread runs.
void install_access_logger(std::shared_ptr<spdlog::logger> logger, LogFormat format);

}  // namespace rwd::log
