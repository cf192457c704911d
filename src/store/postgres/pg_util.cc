#include "store/postgres/pg_util.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

namespace rwd::store::postgres {

void ConnDeleter::operator()(PGconn* c) const { PQfinish(c); }
void ResultDeleter::operator()(PGresult* r) const { PQclear(r); }

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// SQLSTATE classes and codes the environment causes; retrying later can succeed.
bool environmental(std::string_view state) {
  if (state.size() != 5) return false;
  std::string_view cls = state.substr(0, 2);
  return cls == "08"           // connection exception
         || cls == "40"        // serialization failure, deadlock
         || cls == "53"        // disk full, out of memory, too many connections
         || cls == "57"        // shutting down, starting up, cancelled
         || cls == "58"        // I/O error
         || state == "55P03"   // lock not available (lock_timeout)
         || state == "25006";  // read-only transaction (a standby)
}

// The server's notices (such as "relation ... already exists, skipping" from the migrations)
// go to the debug log rather than to stderr, which is the operator's.
void log_notice(void*, const char* message) { spdlog::debug("PostgreSQL: {}", trimmed(message)); }

}  // namespace

Result<ConnPtr> connect(const std::string& url, std::string_view application_name) {
  // The URL comes first and is expanded; the keywords after it override what it says.
  std::string app(application_name);
  const char* keys[] = {"dbname",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "application_name",
                        "client_encoding",
                        nullptr};
  const char* values[] = {url.c_str(), "5",     "1",         "10",   "5",
                          "3",         "20000", app.c_str(), "UTF8", nullptr};
  ConnPtr conn(PQconnectdbParams(keys, values, 1));
  if (!conn) return Error{Errc::kStorageUnavailable, "connecting: out of memory"};
  PQsetNoticeProcessor(conn.get(), &log_notice, nullptr);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return Error{Errc::kStorageUnavailable,
                 "connecting to " + redact_url(url) + ": " + trimmed(PQerrorMessage(conn.get()))};
  return conn;
}

std::string redact_url(std::string_view url) {
  // postgresql://user:password@host/db -> postgresql://user:***@host/db
  size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) {
    size_t start = scheme + 3;
    size_t at = url.find('@', start);
    size_t slash = url.find('/', start);
    if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash)) {
      size_t colon = url.find(':', start);
      if (colon != std::string_view::npos && colon < at)
        return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
    }
  }
  // key=value form, or a password given as a parameter of the URI.
  std::string out(url);
  for (size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 12)) {
    size_t end = out.find_first_of(" &", p);
    out.replace(p + 9, (end == std::string::npos ? out.size() : end) - (p + 9), "***");
  }
  return out;
}

Error pg_error(PGconn* conn, const PGresult* result, std::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result ? trimmed(PQresultErrorMessage(result)) : "";
  if (message.empty() && conn) message = trimmed(PQerrorMessage(conn));
  bool lost = conn && PQstatus(conn) != CONNECTION_OK;
  bool env = lost || !state || environmental(state);
  std::string detail(what);
  detail += ": ";
  detail += message.empty() ? "no answer from the server" : message;
  if (state) {
    detail += " (SQLSTATE ";
    detail += state;
    detail += ")";
  } else if (lost) {
    detail += " (connection lost)";
  }
  return Error{env ? Errc::kStorageUnavailable : Errc::kInternal, std::move(detail)};
}

bool retry_at_once(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state && (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0);
}

Status exec_command(PGconn* conn, const std::string& sql) {
  ResultPtr r(PQexec(conn, sql.c_str()));
  ExecStatusType s = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return {};
  return pg_error(conn, r.get(), sql.size() > 60 ? sql.substr(0, 60) + "..." : sql);
}

Result<int64_t> query_int(PGconn* conn, const std::string& sql) {
  ResultPtr r(PQexec(conn, sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return pg_error(conn, r.get(), sql);
  if (PQntuples(r.get()) != 1 || PQgetisnull(r.get(), 0, 0))
    return Error{Errc::kInternal, sql + ": expected one value"};
  return parse_int64(PQgetvalue(r.get(), 0, 0));
}

int64_t parse_int64(const char* text) { return std::strtoll(text, nullptr, 10); }

Row::Row(const PGresult* r, int row) {
  int n = PQnfields(r);
  cols_.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (PQgetisnull(r, row, i)) {
      cols_.emplace_back();
    } else {
      cols_.emplace_back(std::string(PQgetvalue(r, row, i), PQgetlength(r, row, i)));
    }
  }
}

Result<Row> Row::from_record_text(std::string_view text) {
  // record_out's format: "(" fields separated by "," ")". An empty field is NULL; a field is
  // double-quoted when it needs to be, and inside quotes a quote or a backslash comes doubled
  // (record_in also takes a backslash before any character).
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    return Error{Errc::kInternal, "not a record: '" + std::string(text) + "'"};
  Row row;
  size_t i = 1;
  const size_t end = text.size() - 1;
  for (;;) {
    if (i == end || text[i] == ',') {
      row.cols_.emplace_back();  // NULL
    } else {
      std::string value;
      bool quoted = false;
      while (i < end && (quoted || text[i] != ',')) {
        char ch = text[i];
        if (ch == '\\' && i + 1 < end) {
          value += text[i + 1];
          i += 2;
        } else if (ch == '"' && quoted && i + 1 < end && text[i + 1] == '"') {
          value += '"';
          i += 2;
        } else if (ch == '"') {
          quoted = !quoted;
          ++i;
        } else {
          value += ch;
          ++i;
        }
      }
      if (quoted) return Error{Errc::kInternal, "unterminated quote in a record"};
      row.cols_.emplace_back(std::move(value));
    }
    if (i == end) break;
    ++i;  // the comma
  }
  return row;
}

const std::string& Row::text(int col) const {
  static const std::string kEmpty;
  return is_null(col) ? kEmpty : *cols_[col];
}

int64_t Row::int64(int col) const { return is_null(col) ? 0 : parse_int64(cols_[col]->c_str()); }

std::vector<int64_t> Row::int64_array(int col) const {
  std::vector<int64_t> out;
  if (is_null(col)) return out;
  const std::string& s = *cols_[col];
  const char* p = s.c_str();
  while (*p) {
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      char* end = nullptr;
      out.push_back(std::strtoll(p, &end, 10));
      p = end;
    } else {
      ++p;
    }
  }
  return out;
}

}  // namespace rwd::store::postgres
