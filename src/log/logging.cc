#include "log/logging.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "log/access_log_sink.h"
#include "log/json_formatter.h"

namespace rwd::log {

namespace {

constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v";
// Records waiting for the logging thread. Each slot holds a record of any size (spdlog copies
// the text), so this bounds the count, not the bytes.
constexpr size_t kQueueRecords = 8192;

// The loggers' queues and threads, ours to stop (an async logger holds only a weak reference
// to its pool): stop_logging joins them before it lets the loggers go, so that whatever a
// logging thread last read is done with before the logger is destroyed.
std::shared_ptr<spdlog::details::thread_pool> main_pool;
std::shared_ptr<spdlog::details::thread_pool> access_pool;

}  // namespace

bool parse_log_format(const std::string& name, LogFormat& format) {
  if (name == "text") {
    format = LogFormat::kText;
    return true;
  }
  if (name == "json") {
    format = LogFormat::kJson;
    return true;
  }
  return false;
}

void start_logging(const LogSettings& settings) {
  main_pool = std::make_shared<spdlog::details::thread_pool>(kQueueRecords, 1);
  bool json = settings.format == LogFormat::kJson;
  // A sink each: a logger's formatter is its sinks'. Both write standard error under spdlog's
  // one console mutex, so lines never interleave. Colours only in text, and only when standard
  // error is a terminal (the colour sink checks).
  auto make_sink = [json]() -> spdlog::sink_ptr {
    if (json) return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    return std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  };

  auto main_logger = std::make_shared<spdlog::async_logger>("rewind", make_sink(), main_pool,
                                                            spdlog::async_overflow_policy::block);
  if (json)
    main_logger->set_formatter(std::make_unique<JsonFormatter>(JsonPayload::kMessage));
  else
    main_logger->set_pattern(kTextPattern);
  spdlog::set_default_logger(main_logger);
  spdlog::set_level(spdlog::level::from_str(settings.level));

  if (!settings.access_log) return;
  // A queue and thread of its own: dropping its oldest records under a flood must never drop
  // one of the server's own lines, as in a shared queue it would.
  access_pool = std::make_shared<spdlog::details::thread_pool>(kQueueRecords, 1);
  auto access = std::make_shared<spdlog::async_logger>(
      "access", make_sink(), access_pool, spdlog::async_overflow_policy::overrun_oldest);
  if (json)
    access->set_formatter(std::make_unique<JsonFormatter>(JsonPayload::kFields));
  else
    access->set_pattern(kTextPattern);
  // Access records are written at info: --log-level warn (or above) turns them off too.
  access->set_level(spdlog::level::from_str(settings.level));
  install_access_logger(std::move(access), settings.format);
}

void stop_logging() {
  // Each pool writes out what is queued, then joins its thread; only then go the loggers.
  access_pool.reset();
  main_pool.reset();
  install_access_logger(nullptr, LogFormat::kText);
  spdlog::shutdown();
  auto plain = spdlog::stderr_color_mt("rewind");
  spdlog::set_default_logger(plain);
}

}  // namespace rwd::log
