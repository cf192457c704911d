// rewind-microbench: the server's own building blocks timed alone (Google Benchmark), to set
// beside what rewind-bench measures through the protocol. A login's server CPU is compared
// with the password check alone here.
#include <benchmark/benchmark.h>

#include <string>

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

}  // namespace

BENCHMARK_MAIN();
