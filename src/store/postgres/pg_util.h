#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

// Small libpq helpers shared by the PostgreSQL store's writer, readers and migrations.
namespace rwd::store::postgres {

struct ConnDeleter {
  void operator()(PGconn* c) const;
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;

struct ResultDeleter {
  void operator()(PGresult* r) const;
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Opens a blocking connection to `url` (a libpq URI or key=value string), with a connect
// timeout and TCP keepalives so that a server that vanished is noticed. kStorageUnavailable
// when the server cannot be reached or refuses; the detail never holds the password.
Result<ConnPtr> connect(const std::string& url, std::string_view application_name);

// The URL without its password, for messages and logs.
std::string redact_url(std::string_view url);

// The error for a failed result (or a connection that failed before one was produced):
// kStorageUnavailable when the environment refused (the connection is gone, the server is
// shutting down or starting, a serialization failure or deadlock, resources such as disk
// exhausted), kInternal otherwise. The detail holds `what`, the server's message and SQLSTATE.
Error pg_error(PGconn* conn, const PGresult* result, std::string_view what);

// True for SQLSTATEs after which the same transaction sent again can succeed at once: a
// serialization failure or a deadlock (the transaction was rolled back, nothing is broken).
bool retry_at_once(const PGresult* result);

// Runs `sql` (no parameters; may hold several statements) on an idle blocking connection.
Status exec_command(PGconn* conn, const std::string& sql);
// Runs a query whose answer is one integer.
Result<int64_t> query_int(PGconn* conn, const std::string& sql);

// One row of a result, copied out of libpq so it can outlive the PGresult.
class Row {
 public:
  Row() = default;
  Row(const PGresult* r, int row);
  // A row from its record's text form (the output of `row::text`: "(1,,\"a b\")"), whose
  // fields are each column's text as the row itself would have given it.
  static Result<Row> from_record_text(std::string_view text);
  bool is_null(int col) const { return col >= static_cast<int>(cols_.size()) || !cols_[col]; }
  const std::string& text(int col) const;
  int64_t int64(int col) const;
  bool boolean(int col) const { return text(col) == "t"; }
  // A bigint[] column ("{1,2,3}"); empty for NULL.
  std::vector<int64_t> int64_array(int col) const;
  size_t size() const { return cols_.size(); }

 private:
  std::vector<std::optional<std::string>> cols_;
};

int64_t parse_int64(const char* text);

}  // namespace rwd::store::postgres
