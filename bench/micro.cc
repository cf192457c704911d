// rewind-microbench: the server's own building blocks timed alone (Google Benchmark), to set
// beside what rewind-bench measures through the protocol. A login's server CPU is compared
// with the password check alone here.
#include <benchmark/benchmark.h>

#include <string>

#include "base/crypto.h"

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

}  // namespace

BENCHMARK_MAIN();
