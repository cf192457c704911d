#include "log/access_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "log/access_log_sink.h"
#include "log/json_formatter.h"

namespace rwd::log {

namespace {

// Owned here; read by network threads through the atomic pointer, which install_access_logger
// changes only while none runs.
std::shared_ptr<spdlog::logger> g_access_logger;
std::atomic<spdlog::logger*> g_access{nullptr};
LogFormat g_format = LogFormat::kText;

// Builds a record's payload in one format: `"name":value` members for JSON, `name=value` pairs
// for text. Strings are JSON-escaped (and quoted) in both, so user input never breaks a line.
class Fields {
 public:
  Fields(LogFormat format, std::string_view kind) : json_(format == LogFormat::kJson) {
    if (json_) {
      out_ += "\"msg\":\"";
      out_.append(kind);
      out_ += '"';
    } else {
      out_ += "access ";
      out_.append(kind);
    }
  }

  Fields& str(std::string_view name, std::string_view value) {
    key(name);
    out_ += '"';
    append_json_string(out_, value);
    out_ += '"';
    return *this;
  }
  Fields& num(std::string_view name, uint64_t value) {
    key(name);
    fmt::format_to(std::back_inserter(out_), "{}", value);
    return *this;
  }
  Fields& flag(std::string_view name, bool value) {
    key(name);
    out_ += value ? "true" : "false";
    return *this;
  }
  Fields& millis(std::string_view name, int64_t us) {
    key(name);
    fmt::format_to(std::back_inserter(out_), "{:.3f}", static_cast<double>(us) / 1000.0);
    return *this;
  }

  std::string take() { return std::move(out_); }

 private:
  void key(std::string_view name) {
    if (json_) {
      out_ += ",\"";
      out_.append(name);
      out_ += "\":";
    } else {
      out_ += ' ';
      out_.append(name);
      out_ += '=';
    }
  }

  bool json_;
  std::string out_;
};

}  // namespace

void install_access_logger(std::shared_ptr<spdlog::logger> logger, LogFormat format) {
  g_access.store(logger.get());
  g_access_logger = std::move(logger);
  g_format = format;
}

bool access_log_enabled() {
  spdlog::logger* logger = g_access.load(std::memory_order_relaxed);
  return logger && logger->should_log(spdlog::level::info);
}

std::string format_http_access(const HttpAccess& a, LogFormat format) {
  return Fields(format, "http")
      .str("method", a.method)
      .str("path", a.target)
      .num("status", static_cast<uint64_t>(a.status))
      .str("client", a.client)
      .millis("duration_ms", a.duration_us)
      .num("request_bytes", a.request_bytes)
      .num("response_bytes", a.response_bytes)
      .take();
}

std::string format_ws_access(const WsAccess& a, LogFormat format) {
  return Fields(format, "ws")
      .str("path", "/ws")
      .num("version", static_cast<uint64_t>(a.protocol_version))
      .num("close_code", static_cast<uint64_t>(a.close_code))
      .str("close_by", a.close_by)
      .flag("cut", a.cut)
      .str("client", a.client)
      .millis("duration_ms", a.duration_us)
      .num("bytes_in", a.bytes_in)
      .num("bytes_out", a.bytes_out)
      .num("frames_in", a.frames_in)
      .num("frames_out", a.frames_out)
      .take();
}

void log_http_access(const HttpAccess& access) {
  spdlog::logger* logger = g_access.load(std::memory_order_acquire);
  if (!logger) return;
  logger->info(format_http_access(access, g_format));
}

void log_ws_access(const WsAccess& access) {
  spdlog::logger* logger = g_access.load(std::memory_order_acquire);
  if (!logger) return;
  logger->info(format_ws_access(access, g_format));
}

}  // namespace rwd::log
