#include "store/sqlite/paced_writeback_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "metrics/counters.h"
#include "store/sqlite/connection.h"

namespace rwd::store {
namespace {

// The database file as this VFS opens it: SQLite's own file object follows this header in
// the same allocation (szOsFile covers both).
struct PacedFile {
  sqlite3_file base;      // first: SQLite sees a PacedFile as a sqlite3_file
  int fd;                 // the same file opened again, for sync_file_range: SQLite's is private
  std::size_t unwritten;  // bytes written since the last write-back
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

PacedFile* paced(sqlite3_file* f) { return reinterpret_cast<PacedFile*>(f); }

// A descriptor of the database file for sync_file_range, one per path for the life of the
// process, never closed: closing any descriptor of a file drops every POSIX lock the process
// holds on it, SQLite's included (its own VFS keeps unused descriptors open for that reason),
// and other connections may hold locks whenever the checkpoint connection closes. -1 when the
// file cannot be opened (no write-back then; the checkpoint's sync does it all).
int write_back_fd(const char* path) {
  static std::mutex mu;
  static std::map<std::string, int> fds;
  std::lock_guard lock(mu);
  auto [it, added] = fds.try_emplace(path, -1);
  struct stat now {
  }, kept{};
  // A file made anew at the path (a test's store, a restore) gets a descriptor of its own;
  // the old one stays open, for the same reason.
  if (it->second < 0 || ::stat(path, &now) != 0 || ::fstat(it->second, &kept) != 0 ||
      now.st_ino != kept.st_ino || now.st_dev != kept.st_dev)
    it->second = ::open(path, O_RDONLY | O_CLOEXEC);
  return it->second;
}
sqlite3_vfs* real_vfs() { return static_cast<sqlite3_vfs*>(sqlite3_vfs_find(nullptr)); }

int paced_close(sqlite3_file* f) {
  // p->fd stays open (write_back_fd): closing it would drop this process's POSIX locks on
  // the file, which other connections to it still hold.
  return paced(f)->real()->pMethods->xClose(paced(f)->real());
}

int paced_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return paced(f)->real()->pMethods->xRead(paced(f)->real(), buf, amount, offset);
}

int paced_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  PacedFile* p = paced(f);
  int rc = p->real()->pMethods->xWrite(p->real(), buf, amount, offset);
  if (rc != SQLITE_OK || p->fd < 0) return rc;
  p->unwritten += static_cast<std::size_t>(amount);
  if (p->unwritten >= kPacedWritebackChunkBytes) {
    p->unwritten = 0;
    // Starts writing back every dirty page of the file and waits until they are on the disk
    // (not a durability point: that stays the checkpoint's sync). A failure here only means
    // the final sync has more to do.
    if (::sync_file_range(
            p->fd, 0, 0,
            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
      metrics::add(metrics::counters().wal_checkpoint_writebacks);
  }
  return rc;
}

int paced_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return paced(f)->real()->pMethods->xTruncate(paced(f)->real(), size);
}
int paced_sync(sqlite3_file* f, int flags) {
  paced(f)->unwritten = 0;
  return paced(f)->real()->pMethods->xSync(paced(f)->real(), flags);
}
int paced_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return paced(f)->real()->pMethods->xFileSize(paced(f)->real(), size);
}
int paced_lock(sqlite3_file* f, int level) {
  return paced(f)->real()->pMethods->xLock(paced(f)->real(), level);
}
int paced_unlock(sqlite3_file* f, int level) {
  return paced(f)->real()->pMethods->xUnlock(paced(f)->real(), level);
}
int paced_check_reserved_lock(sqlite3_file* f, int* out) {
  return paced(f)->real()->pMethods->xCheckReservedLock(paced(f)->real(), out);
}
int paced_file_control(sqlite3_file* f, int op, void* arg) {
  return paced(f)->real()->pMethods->xFileControl(paced(f)->real(), op, arg);
}
int paced_sector_size(sqlite3_file* f) {
  return paced(f)->real()->pMethods->xSectorSize(paced(f)->real());
}
int paced_device_characteristics(sqlite3_file* f) {
  return paced(f)->real()->pMethods->xDeviceCharacteristics(paced(f)->real());
}
int paced_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return paced(f)->real()->pMethods->xShmMap(paced(f)->real(), region, size, extend, out);
}
int paced_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return paced(f)->real()->pMethods->xShmLock(paced(f)->real(), offset, n, flags);
}
void paced_shm_barrier(sqlite3_file* f) {
  paced(f)->real()->pMethods->xShmBarrier(paced(f)->real());
}
int paced_shm_unmap(sqlite3_file* f, int delete_flag) {
  return paced(f)->real()->pMethods->xShmUnmap(paced(f)->real(), delete_flag);
}
int paced_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return paced(f)->real()->pMethods->xFetch(paced(f)->real(), offset, amount, out);
}
int paced_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return paced(f)->real()->pMethods->xUnfetch(paced(f)->real(), offset, page);
}

// Version 3, as the unix VFS's files are: WAL needs the shared-memory methods.
const sqlite3_io_methods kPacedMethods = {
    3,
    paced_close,
    paced_read,
    paced_write,
    paced_truncate,
    paced_sync,
    paced_file_size,
    paced_lock,
    paced_unlock,
    paced_check_reserved_lock,
    paced_file_control,
    paced_sector_size,
    paced_device_characteristics,
    paced_shm_map,
    paced_shm_lock,
    paced_shm_barrier,
    paced_shm_unmap,
    paced_fetch,
    paced_unfetch,
};

int paced_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  // The WAL, its index and journals are SQLite's own files as usual: only the database file's
  // writes are paced. Such a file lives in the front of the larger allocation.
  if (!(flags & SQLITE_OPEN_MAIN_DB)) return real->xOpen(real, name, file, flags, out_flags);
  PacedFile* p = paced(file);
  std::memset(p, 0, sizeof(PacedFile));
  p->fd = -1;
  int rc = real->xOpen(real, name, p->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite calls xClose only when pMethods is set; leave it null after a failed open.
    if (p->real()->pMethods) p->real()->pMethods->xClose(p->real());
    p->base.pMethods = nullptr;
    return rc;
  }
  if (p->real()->pMethods->iVersion < 3) {
    // Not a file this shim can forward (no shared-memory methods): the file as SQLite's own.
    p->real()->pMethods->xClose(p->real());
    return real->xOpen(real, name, file, flags, out_flags);
  }
  if (name) p->fd = write_back_fd(name);
  p->base.pMethods = &kPacedMethods;
  return rc;
}

// Everything but xOpen is the real VFS's, called with the real VFS.
int paced_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xDelete(real, name, sync_dir);
}
int paced_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xAccess(real, name, flags, out);
}
int paced_full_pathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xFullPathname(real, name, n, out);
}
void* paced_dl_open(sqlite3_vfs* vfs, const char* name) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xDlOpen(real, name);
}
void paced_dl_error(sqlite3_vfs* vfs, int n, char* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  real->xDlError(real, n, out);
}
void (*paced_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xDlSym(real, handle, symbol);
}
void paced_dl_close(sqlite3_vfs* vfs, void* handle) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  real->xDlClose(real, handle);
}
int paced_randomness(sqlite3_vfs* vfs, int n, char* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xRandomness(real, n, out);
}
int paced_sleep(sqlite3_vfs* vfs, int us) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xSleep(real, us);
}
int paced_current_time(sqlite3_vfs* vfs, double* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xCurrentTime(real, out);
}
int paced_get_last_error(sqlite3_vfs* vfs, int n, char* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xGetLastError ? real->xGetLastError(real, n, out) : 0;
}
int paced_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  return real->xCurrentTimeInt64(real, out);
}

const char* register_paced_vfs() {
  apply_sqlite_process_settings();  // finding the default VFS initializes SQLite
  sqlite3_vfs* real = real_vfs();
  if (!real || real->iVersion < 2) return nullptr;
  static sqlite3_vfs vfs{};
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(PacedFile)) + real->szOsFile;
  vfs.mxPathname = real->mxPathname;
  vfs.zName = "rewind-paced-writeback";
  vfs.pAppData = real;
  vfs.xOpen = paced_open;
  vfs.xDelete = paced_delete;
  vfs.xAccess = paced_access;
  vfs.xFullPathname = paced_full_pathname;
  vfs.xDlOpen = paced_dl_open;
  vfs.xDlError = paced_dl_error;
  vfs.xDlSym = paced_dl_sym;
  vfs.xDlClose = paced_dl_close;
  vfs.xRandomness = paced_randomness;
  vfs.xSleep = paced_sleep;
  vfs.xCurrentTime = paced_current_time;
  vfs.xGetLastError = paced_get_last_error;
  vfs.xCurrentTimeInt64 = paced_current_time_int64;
  if (sqlite3_vfs_register(&vfs, /*makeDflt=*/0) != SQLITE_OK) return nullptr;
  return vfs.zName;
}

}  // namespace

const char* paced_writeback_vfs_name() {
  static const char* const name = register_paced_vfs();
  return name;
}

}  // namespace rwd::store
