#include "store/sqlite/connection.h"

#include <sqlite3.h>

namespace rwd::store {

Connection::Query::~Query() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Connection::Query& Connection::Query::bind(int index, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Connection::Query& Connection::Query::bind(int index, std::string_view value) {
  if (stmt_)
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Connection::Query& Connection::Query::bind_null(int index) {
  if (stmt_) sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Connection::Query::step() {
  if (!stmt_) {
    failed_ = true;
    return false;
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    failed_ = true;
    error_code_ = rc;
  }
  return false;
}

bool Connection::Query::run() {
  while (step()) {
  }
  return !failed_;
}

int64_t Connection::Query::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Connection::Query::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

bool Connection::Query::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

bool apply_sqlite_process_settings() {
  // sqlite3_config works only before SQLite initializes itself, at its first use.
  static const bool applied = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  return applied;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, bool read_only,
                                                     const char* vfs) {
  apply_sqlite_process_settings();
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, vfs) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error{Errc::kInternal, "cannot open " + path + ": " + msg};
  }
  sqlite3_busy_timeout(db, 5000);
  auto conn = std::unique_ptr<Connection>(new Connection(db));
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Connection::exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error{Errc::kInternal, msg};
  }
  return {};
}

Connection::Query Connection::query(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
      return Query(nullptr, db_);
    it = statements_.emplace(sql, stmt).first;
  }
  return Query(it->second, db_);
}

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

int64_t Connection::changes() const { return sqlite3_changes(db_); }
int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
std::string Connection::last_error() const { return sqlite3_errmsg(db_); }
int Connection::last_error_code() const { return sqlite3_extended_errcode(db_); }

Status Connection::add_text_function(const char* name, std::string (*fn)(std::string_view)) {
  auto call = [](sqlite3_context* ctx, int, sqlite3_value** args) {
    auto f = reinterpret_cast<std::string (*)(std::string_view)>(sqlite3_user_data(ctx));
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(args[0]));
    if (!text) return sqlite3_result_null(ctx);
    // No exception may unwind through SQLite's C frames: it becomes the statement's error.
    try {
      std::string out = f(std::string_view(text, sqlite3_value_bytes(args[0])));
      sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
    } catch (const std::exception& e) {
      sqlite3_result_error(ctx, e.what(), -1);
    }
  };
  int rc = sqlite3_create_function_v2(db_, name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                      reinterpret_cast<void*>(fn), call, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    return Error{Errc::kInternal, std::string("adding ") + name + ": " + last_error()};
  return {};
}

}  // namespace rwd::store
