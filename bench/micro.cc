// rewind-microbench: the server's own building blocks timed alone (Google Benchmark), to set
// beside what rewind-bench measures through the protocol. A login's server CPU is compared
// with the password check alone here.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

// One chat frame to each of a guild's members, as the network loops write it: a send on each
// member's TCP socket (loopback, TCP_NODELAY, non-blocking, as the server's), against the same
// sends submitted to the kernel together through io_uring (one system call for all of them).
// Whether fewer system calls would make a fan-out copy cheaper, or the kernel's TCP work per
// copy is the cost either way. Process CPU time per fan-out of state.range(0) copies; the
// receivers are drained between fan-outs, outside the timing.
class LoopbackPeers {
 public:
  explicit LoopbackPeers(int count) {
    // Two descriptors per member: past the usual soft limit of 1,024.
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
      lim.rlim_cur = lim.rlim_max;
      (void)::setrlimit(RLIMIT_NOFILE, &lim);
    }
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, count) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (listener >= 0) ::close(listener);
      return;
    }
    const int one = 1;
    for (int i = 0; i < count; ++i) {
      int receiver = ::socket(AF_INET, SOCK_STREAM, 0);
      if (receiver < 0) break;
      receivers_.push_back(receiver);
      if (::connect(receiver, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) break;
      int sender = ::accept(listener, nullptr, nullptr);
      if (sender < 0) break;
      senders_.push_back(sender);
      ::setsockopt(sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(sender, F_SETFL, O_NONBLOCK);
      ::fcntl(receiver, F_SETFL, O_NONBLOCK);
    }
    ::close(listener);
  }
  ~LoopbackPeers() {
    for (int fd : senders_) ::close(fd);
    for (int fd : receivers_) ::close(fd);
  }
  bool ok(int count) const {
    return static_cast<int>(senders_.size()) == count &&
           static_cast<int>(receivers_.size()) == count;
  }
  const std::vector<int>& senders() const { return senders_; }
  void drain() {
    for (int fd : receivers_)
      while (::recv(fd, sink_.data(), sink_.size(), 0) > 0) {
      }
  }
  // About a v2 chat event's size.
  const std::string frame = std::string(180, 'x');

 private:
  std::vector<int> senders_, receivers_;
  std::vector<char> sink_ = std::vector<char>(1 << 16);
};

void BM_FanoutSendEach(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  LoopbackPeers peers(count);
  if (!peers.ok(count)) return state.SkipWithError("cannot open the loopback connections");
  for (auto _ : state) {
    for (int fd : peers.senders())
      if (::send(fd, peers.frame.data(), peers.frame.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(peers.frame.size()))
        return state.SkipWithError("send failed");
    state.PauseTiming();
    peers.drain();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_FanoutSendEach)->Arg(1000)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

void BM_FanoutSendUring(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  LoopbackPeers peers(count);
  if (!peers.ok(count)) return state.SkipWithError("cannot open the loopback connections");
  io_uring ring;
  if (io_uring_queue_init(static_cast<unsigned>(count), &ring, 0) != 0)
    return state.SkipWithError("io_uring is not available here");
  const int frame_size = static_cast<int>(peers.frame.size());
  for (auto _ : state) {
    for (int fd : peers.senders())
      io_uring_prep_send(io_uring_get_sqe(&ring), fd, peers.frame.data(), peers.frame.size(),
                         MSG_NOSIGNAL);
    if (io_uring_submit_and_wait(&ring, static_cast<unsigned>(count)) != count) {
      state.SkipWithError("io_uring_submit failed");
      break;
    }
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    bool all_sent = true;
    io_uring_for_each_cqe(&ring, head, cqe) {
      all_sent = all_sent && cqe->res == frame_size;
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
    if (!all_sent || seen != static_cast<unsigned>(count)) {
      state.SkipWithError("a send through io_uring failed");
      break;
    }
    state.PauseTiming();
    peers.drain();
    state.ResumeTiming();
  }
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_FanoutSendUring)->Arg(1000)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
