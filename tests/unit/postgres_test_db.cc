#include "postgres_test_db.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace rwd::testing {

std::string PostgresTestDb::server_url() {
  const char* url = std::getenv("REWIND_TEST_DATABASE_URL");
  return url ? url : "";
}

std::string with_database(const std::string& url, const std::string& db) {
  // postgresql://user:pw@host:port/dbname?params
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t query = url.find('?');
  std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  std::string tail = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + tail;
}

std::string PostgresTestDb::admin(const std::string& sql) {
  PGconn* c = PQconnectdb(server_url().c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

PostgresTestDb::PostgresTestDb() {
  static std::atomic<int> counter{0};
  if (server_url().empty()) {
    error_ = "REWIND_TEST_DATABASE_URL is not set";
    return;
  }
  name_ = "rewind_u_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  (void)admin("DROP DATABASE IF EXISTS " + name_);
  error_ = admin("CREATE DATABASE " + name_);
  if (error_.empty()) url_ = with_database(server_url(), name_);
}

PostgresTestDb::~PostgresTestDb() {
  if (url_.empty()) return;
  // FORCE ends the sessions left on it, but is refused when one is an autovacuum worker (not
  // ours to signal); a plain DROP then stops that worker itself.
  if (admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").empty()) return;
  for (int i = 0; i < 5; ++i) {
    if (admin("DROP DATABASE IF EXISTS " + name_).empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace rwd::testing
