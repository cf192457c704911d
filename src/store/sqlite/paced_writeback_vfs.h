#pragma once

#include <cstddef>

namespace rwd::store {

// A SQLite VFS for the checkpoint thread's connection: SQLite's default one, except that the
// database file's writes are written back to the disk as they go, a chunk at a time, waiting
// for each chunk, instead of all at once by the checkpoint's final sync.
//
// Why: a checkpoint copies megabytes of pages into the database file and then syncs it. That
// sync hands the disk all of them at once, and the writer's WAL syncs, which every
// acknowledged message waits for, queue behind them: at 5,000 messages/s about half of p99 was
// this (BENCHMARKS.md). Written back in chunks, a WAL sync waits behind one chunk at most.
// The final sync stays, so what a checkpoint makes durable, and when, is unchanged.
//
// Registers the VFS (not as the default) on first use and returns its name for
// sqlite3_open_v2; null if SQLite could not register it (then the default VFS serves).
const char* paced_writeback_vfs_name();

// Bytes written to the database file between two write-backs.
inline constexpr std::size_t kPacedWritebackChunkBytes = std::size_t{256} << 10;

}  // namespace rwd::store
