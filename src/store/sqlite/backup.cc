#include "store/sqlite/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "store/sqlite/connection.h"

namespace rwd::store {

namespace {

struct Db {
  sqlite3* db = nullptr;
  ~Db() { close(); }
  void close() {
    sqlite3_close_v2(db);
    db = nullptr;
  }
  std::string error() const { return db ? sqlite3_errmsg(db) : "out of memory"; }
};

Error fail(const std::string& what) { return Error{Errc::kInternal, "backup: " + what}; }

// fsync of a file or directory by path; rename is durable only once the directory is synced.
bool sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Runs a statement that returns one text value (a PRAGMA).
std::string pragma_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text) out = reinterpret_cast<const char*>(text);
  } else {
    out = sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  return out;
}

}  // namespace

Result<int> backup_sqlite(const std::string& db_path, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return fail("no database at '" + db_path + "'");
  if (fs::exists(to, ec)) return fail("'" + to + "' exists; choose a new file");
  fs::path target = fs::absolute(to, ec);
  fs::path dir = target.parent_path();
  if (!fs::is_directory(dir, ec)) return fail("no directory '" + dir.string() + "'");
  // A name of this run's own: two backups to one target never touch each other's copy.
  const std::string temp = target.string() + ".partial-" + std::to_string(::getpid());
  fs::remove(temp, ec);  // left by an interrupted run of a process with this pid

  apply_sqlite_process_settings();
  Db src;
  // Read-only: the backup never writes to the live database. A server writing meanwhile
  // holds its WAL; the read transaction sees one commit.
  if (sqlite3_open_v2(db_path.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return fail("cannot open '" + db_path + "': " + src.error());
  sqlite3_busy_timeout(src.db, 5000);
  if (pragma_text(src.db, "SELECT count(*) FROM sqlite_master WHERE name = 'messages'") != "1")
    return fail("'" + db_path + "' is not a REWIND database");

  int pages = 0;
  {
    Db dst;
    if (sqlite3_open_v2(temp.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK)
      return fail("cannot create '" + temp + "': " + dst.error());
    sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src.db, "main");
    if (!b) {
      std::string why = dst.error();
      fs::remove(temp, ec);
      return fail(why);
    }
    // All pages in one step: one read transaction, so the copy is one instant of the database
    // (stepping in pieces would restart whenever the server commits). Busy only while another
    // connection holds an exclusive lock, which WAL mode does not take for writes: retry then.
    int rc;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
      std::string why = sqlite3_errstr(rc);
      dst.close();
      fs::remove(temp, ec);
      return fail("copying: " + why);
    }
    // The copy is one self-contained file: a rollback journal, not a WAL beside it. The server
    // switches it back to WAL when it opens it.
    std::string mode = pragma_text(dst.db, "PRAGMA journal_mode=DELETE");
    std::string check = pragma_text(dst.db, "PRAGMA quick_check");
    if (mode != "delete" || check != "ok") {
      dst.close();
      fs::remove(temp, ec);
      return fail("the copy failed its check: " + (check != "ok" ? check : "journal " + mode));
    }
  }
  if (!sync_path(temp, false)) {
    fs::remove(temp, ec);
    return fail("cannot sync '" + temp + "'");
  }
  // link() never replaces: a file that appeared at `to` meanwhile is kept, and this copy
  // refused, as the check at the start promises.
  if (::link(temp.c_str(), target.c_str()) != 0) {
    int err = errno;
    fs::remove(temp, ec);
    if (err == EEXIST) return fail("'" + to + "' exists; choose a new file");
    return fail("cannot create '" + target.string() + "': " + std::strerror(err));
  }
  fs::remove(temp, ec);
  if (!sync_path(dir.string(), true)) return fail("cannot sync '" + dir.string() + "'");
  return pages;
}

}  // namespace rwd::store
