// rewind-microbench: the server's own building blocks timed alone (Google Benchmark), to set
// beside what rewind-bench measures through the protocol. A login's server CPU is compared
// with the password check alone here.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "protocol/gateway_codec.h"

namespace {

// The login's password check at the server's default cost (argon2id t=2, m=19 MiB).
void BM_VerifyPasswordDefaultCost(benchmark::State& state) {
  auto stored = rwd::crypto::hash_password("correct horse battery", rwd::crypto::PasswordCost{});
  if (!stored) {
    state.SkipWithError("hash_password ran out of memory");
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(rwd::crypto::verify_password("correct horse battery", *stored));
}
BENCHMARK(BM_VerifyPasswordDefaultCost)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// A registration's hash at the default cost (a fresh salt each time).
void BM_HashPasswordDefaultCost(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(rwd::crypto::hash_password("correct horse battery", {}));
}
BENCHMARK(BM_HashPasswordDefaultCost)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// What a login adds to the check: a fresh token and the hash it is stored under.
void BM_IssueToken(benchmark::State& state) {
  for (auto _ : state) {
    std::string token = rwd::crypto::random_token(32);
    benchmark::DoNotOptimize(rwd::crypto::sha256_hex(token));
  }
}
BENCHMARK(BM_IssueToken);

// What the gateway does first with every frame a client sends: parse and decode it (here a v2
// chat send with a nonce, as the web client sends them).
void BM_DecodeChatSendFrame(benchmark::State& state) {
  const std::string frame =
      R"({"type":"chat","request_id":"r-1041","payload":{"type":"send","chat_id":"1830411",)"
      R"("content":"see you at the station at seven, the north exit","nonce":"n-5b8c1f"}})";
  for (auto _ : state) {
    auto decoded = rwd::protocol::decode_frame(frame, rwd::protocol::Version::kV2);
    if (!decoded.request.ok()) {
      state.SkipWithError("the frame did not decode");
      return;
    }
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(BM_DecodeChatSendFrame);

// What a SQLite commit of eight WAL frames (a 24-byte header and a 4 KiB page each; three
// chat messages at 2,000/s) costs in system calls alone, in a file of the working directory:
// SQLite's way (a pwrite per header and per page), the same bytes as one pwrite, and one
// pwrite with the fdatasync a commit adds. Process CPU time; the sync's wait shows in the
// real time Google Benchmark reports beside it.
class WalFile {
 public:
  static constexpr size_t kFrame = 24 + 4096, kFrames = 8, kSpan = 4000 * kFrame;
  // Written through once and synced, as a WAL that has started over is: its blocks exist, so
  // a commit's sync writes no allocation of its own.
  WalFile() : fd_(::open("rewind-microbench.wal", O_RDWR | O_CREAT | O_TRUNC, 0600)) {
    if (fd_ < 0) return;
    std::vector<char> zeros(kFrames * kFrame);
    for (off_t at = 0; at <= static_cast<off_t>(kSpan); at += zeros.size())
      if (::pwrite(fd_, zeros.data(), zeros.size(), at) != static_cast<ssize_t>(zeros.size())) {
        ::close(fd_);
        fd_ = -1;
        return;
      }
    ::fsync(fd_);
  }
  ~WalFile() {
    if (fd_ >= 0) ::close(fd_);
    std::remove("rewind-microbench.wal");
  }
  bool ok() const { return fd_ >= 0; }
  // The next commit's offset: the WAL starts over at its checkpoint threshold.
  off_t next() {
    off_t at = offset_;
    offset_ = offset_ + kFrames * kFrame > kSpan ? 0 : offset_ + kFrames * kFrame;
    return at;
  }
  int fd() const { return fd_; }
  // A commit's frames, headers and pages one after the other.
  const char* frame(size_t f) const { return frames_.data() + f * kFrame; }
  // The next commit's frames in one pwrite.
  bool write_commit() {
    return ::pwrite(fd_, frames_.data(), frames_.size(), next()) ==
           static_cast<ssize_t>(frames_.size());
  }

 private:
  int fd_;
  off_t offset_ = 0;
  std::vector<char> frames_ = std::vector<char>(kFrames * kFrame, 7);
};

void BM_WalCommitFramesOneWriteEach(benchmark::State& state) {
  WalFile wal;
  if (!wal.ok()) return state.SkipWithError("cannot write rewind-microbench.wal here");
  for (auto _ : state) {
    off_t at = wal.next();
    for (size_t f = 0; f < WalFile::kFrames; ++f, at += WalFile::kFrame) {
      const char* frame = wal.frame(f);
      if (::pwrite(wal.fd(), frame, 24, at) != 24 ||
          ::pwrite(wal.fd(), frame + 24, 4096, at + 24) != 4096)
        return state.SkipWithError("pwrite failed");
    }
  }
}
BENCHMARK(BM_WalCommitFramesOneWriteEach)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

void BM_WalCommitFramesOneWrite(benchmark::State& state) {
  WalFile wal;
  if (!wal.ok()) return state.SkipWithError("cannot write rewind-microbench.wal here");
  for (auto _ : state)
    if (!wal.write_commit()) return state.SkipWithError("pwrite failed");
}
BENCHMARK(BM_WalCommitFramesOneWrite)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

void BM_WalCommitFramesAndSync(benchmark::State& state) {
  WalFile wal;
  if (!wal.ok()) return state.SkipWithError("cannot write rewind-microbench.wal here");
  for (auto _ : state)
    if (!wal.write_commit() || ::fdatasync(wal.fd()) != 0)
      return state.SkipWithError("pwrite or fdatasync failed");
}
BENCHMARK(BM_WalCommitFramesAndSync)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
