// The checkpoint connection's VFS (paced_writeback_vfs.h) against a real database file: a
// checkpoint through it writes the file back in chunks as it copies, and what it copies is
// the same as through SQLite's own VFS. The SQLite store's tests run it under every store
// operation (the store's checkpoint thread uses it).
#include "store/sqlite/paced_writeback_vfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "base/crypto.h"
#include "metrics/counters.h"
#include "store/sqlite/connection.h"

namespace rwd::store {
namespace {

namespace fs = std::filesystem;

class PacedWritebackVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rewind-paced-vfs-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "db.sqlite").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  int64_t single_int(Connection& conn, const char* sql) {
    auto q = conn.query(sql);
    EXPECT_TRUE(q.step()) << sql;
    return q.int64(0);
  }

  // Every row's id and the SHA-256 of its body, in id order.
  std::string digest_of_rows(Connection& conn) {
    std::string out;
    auto q = conn.query("SELECT id, hex(body) FROM t ORDER BY id");
    while (q.step()) out += std::to_string(q.int64(0)) + ":" + crypto::sha256_hex(q.text(1)) + " ";
    EXPECT_FALSE(q.failed());
    return out;
  }

  // Whether this kernel and file system do sync_file_range (without it the VFS writes nothing
  // back, and each checkpoint's sync does it all).
  bool sync_file_range_works() {
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0) return false;
    bool works = ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0;
    ::close(fd);
    return works;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(PacedWritebackVfsTest, IsRegisteredBesideTheDefaultVfs) {
  const char* name = paced_writeback_vfs_name();
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(paced_writeback_vfs_name(), name);  // registered once
  EXPECT_STRNE(name, "unix");
}

TEST_F(PacedWritebackVfsTest, ACheckpointThroughItWritesTheFileBackInChunksAndKeepsEveryRow) {
  constexpr int kRows = 64;
  constexpr int kRowBytes = 64 << 10;  // 4 MiB in all: at least 16 chunks' worth
  const bool can_write_back = sync_file_range_works();
  fs::remove(path_);
  std::string written;
  {
    auto writer = Connection::open(path_, false);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)
                    ->exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                           "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);")
                    .ok());
    ASSERT_TRUE((*writer)->exec("BEGIN").ok());
    for (int i = 0; i < kRows; ++i) {
      // Random bytes: a page copied wrong, or not at all, cannot pass for the right one.
      auto q = (*writer)->query("INSERT INTO t(id, body) VALUES(?, randomblob(?))");
      EXPECT_TRUE(q.bind(1, int64_t{i}).bind(2, int64_t{kRowBytes}).run());
    }
    ASSERT_TRUE((*writer)->exec("COMMIT").ok());
    written = digest_of_rows(**writer);

    auto checkpointer = Connection::open(path_, false, paced_writeback_vfs_name());
    ASSERT_TRUE(checkpointer.ok());
    const auto before = metrics::counters().wal_checkpoint_writebacks.load();
    ASSERT_TRUE(
        (*checkpointer)->exec("PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(TRUNCATE);").ok());
    if (can_write_back) {
      EXPECT_GE(metrics::counters().wal_checkpoint_writebacks.load() - before,
                uint64_t{kRows} * kRowBytes / kPacedWritebackChunkBytes - 1);
    }
    // All of it copied (the WAL truncated), so the rows below are read from the file.
    EXPECT_EQ(fs::file_size(path_ + "-wal"), 0u);
  }
  // Read back through SQLite's own VFS.
  auto reader = Connection::open(path_, true);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(single_int(**reader, "SELECT count(*) FROM t"), kRows);
  EXPECT_EQ(single_int(**reader, "SELECT sum(length(body)) FROM t"), int64_t{kRows} * kRowBytes);
  EXPECT_EQ(digest_of_rows(**reader), written);
  auto check = (*reader)->query("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
  if (!can_write_back) GTEST_SKIP() << "sync_file_range is not supported here: rows checked only";
}

}  // namespace
}  // namespace rwd::store
