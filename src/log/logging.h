#pragma once

#include <string>

namespace rwd::log {

enum class LogFormat {
  kText,  // "2026-01-02 03:04:05.123 info [thread] message", local time
  kJson,  // one JSON object per line (json_formatter.h)
};

// "text" or "json" (--log-format); false for anything else.
bool parse_log_format(const std::string& name, LogFormat& format);

struct LogSettings {
  LogFormat format = LogFormat::kText;
  std::string level = "info";  // spdlog's names, checked by the config
  bool access_log = true;      // one line per HTTP request and per closed WebSocket
};

// Sets up the program's logs, all on standard error: the default logger (spdlog::info and the
// rest) and the access log (access_log.h). Both are asynchronous: a network thread only puts
// the record on a queue, and a logging thread formats and writes it, so a slow disk or
// a stalled journald never blocks I/O. The default logger waits for room when that queue is
// full (no warning is lost); the access log drops its oldest lines instead (a flood of
// requests never slows the server); each has a queue and a thread of its own, so the access
// log never drops one of the server's lines. Call once, before any other thread logs.
void start_logging(const LogSettings& settings);

// Writes what is queued and stops the logging thread; after it, logging is synchronous again
// through a plain logger. Call at exit, when the network threads have stopped.
void stop_logging();

// Calls stop_logging() when it goes out of scope: main() holds one so that every exit,
// including a start-up error, writes the queued records.
class LoggingScope {
 public:
  explicit LoggingScope(const LogSettings& settings) { start_logging(settings); }
  ~LoggingScope() { stop_logging(); }
  LoggingScope(const LoggingScope&) = delete;
  LoggingScope& operator=(const LoggingScope&) = delete;
};

}  // namespace rwd::log
