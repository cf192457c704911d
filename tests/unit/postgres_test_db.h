#pragma once

#include <string>

// A fresh database on the server named by REWIND_TEST_DATABASE_URL (a role that may
// CREATE DATABASE), dropped when this object goes. Tests skip when the variable is unset.
namespace rwd::testing {

class PostgresTestDb {
 public:
  // The server's URL, or "" when REWIND_TEST_DATABASE_URL is unset.
  static std::string server_url();
  PostgresTestDb();  // creates rewind_u_<pid>_<n>; url() is "" on failure (see error())
  ~PostgresTestDb();
  PostgresTestDb(const PostgresTestDb&) = delete;
  PostgresTestDb& operator=(const PostgresTestDb&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }
  // Runs SQL on the server's maintenance database; "" on success, else the error.
  static std::string admin(const std::string& sql);

 private:
  std::string name_, url_, error_;
};

// The URL with its database replaced by `db`.
std::string with_database(const std::string& url, const std::string& db);

}  // namespace rwd::testing
