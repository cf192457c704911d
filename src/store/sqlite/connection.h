#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rwd::store {

// SQLite's process-wide settings, applied once before its first use (every opening of a
// database calls this): no memory statistics, which REWIND never reads and which put every
// allocation SQLite makes behind one process-wide mutex (the closed-loop DM run spent 5 % less
// server CPU per message without them; BENCHMARKS.md). Returns whether they are in force: not
// when something else used SQLite in this process first.
bool apply_sqlite_process_settings();

// One SQLite connection with a cache of prepared statements. Not thread-safe: owned by
// one thread at a time (the writer, or a reader borrowed from the pool).
class Connection {
 public:
  // A prepared statement, reset and cleared when the Query goes out of scope.
  class Query {
   public:
    Query(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
    ~Query();
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    Query& bind(int index, int64_t value);
    Query& bind(int index, std::string_view value);
    Query& bind_null(int index);
    // Steps once: true when a row is available, false when done. Errors set error().
    bool step();
    // Steps to completion; false on error.
    bool run();
    int64_t int64(int col) const;
    std::string text(int col) const;
    bool is_null(int col) const;
    bool failed() const { return failed_; }
    int error_code() const { return error_code_; }

   private:
    sqlite3_stmt* stmt_;
    sqlite3* db_;
    bool failed_ = false;
    int error_code_ = 0;
  };

  // vfs: the name of a registered SQLite VFS; null for the default.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, bool read_only,
                                                  const char* vfs = nullptr);
  ~Connection();

  // Runs SQL text with no results (may contain several statements).
  Status exec(std::string_view sql);
  // A cached prepared statement for `sql` (must outlive the connection: string literals).
  Query query(const char* sql);
  int64_t changes() const;
  // False once SQLite rolled the transaction back by itself (disk full, I/O error, no memory).
  bool in_transaction() const;
  int64_t last_insert_rowid() const;
  // Adds a deterministic SQL function of one text argument, name(text) -> text, so that
  // migrations can compute in SQL what the code computes (a name's key or skeleton).
  Status add_text_function(const char* name, std::string (*fn)(std::string_view));
  std::string last_error() const;
  // SQLite's extended result code of the last failed call on this connection (read it right
  // after the failure: later calls replace it).
  int last_error_code() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace rwd::store
