// Hot functions on the request paths, with Google Benchmark:
//   imgstore_micro_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>

#include "core/hex.h"
#include "core/image_id.h"
#include "core/layout.h"
#include "core/placement.h"
#include "core/signing.h"
#include "http/file_body.h"

namespace imgstore {
namespace {

void BM_ParseImagePath(benchmark::State& state) {
  const std::string path =
      "/" + MakeImagePath(ImageId::New(), ImageFormat::kJpeg).relative;
  for (auto _ : state) benchmark::DoNotOptimize(ParseImagePath(path));
}
BENCHMARK(BM_ParseImagePath);

void BM_NewImageId(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ImageId::New());
}
BENCHMARK(BM_NewImageId);

void BM_Sha256(benchmark::State& state) {
  const std::string body(size_t(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(Sha256Hex(body));
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64 << 10)->Arg(1 << 20);

void BM_VerifySignature(benchmark::State& state) {
  const std::string body(64 << 10, 'x');
  SystemClock clock;
  for (auto _ : state) {
    state.PauseTiming();
    SignatureVerifier verifier("secret", clock);
    Signature s = Sign("secret", "PUT", "/ab/cd/x.jpg", body, clock);
    state.ResumeTiming();
    benchmark::DoNotOptimize(verifier.Verify("PUT", "/ab/cd/x.jpg", body, s));
  }
}
BENCHMARK(BM_VerifySignature);

void BM_PickWeighted(benchmark::State& state) {
  ServerView servers;
  for (int i = 0; i < state.range(0); ++i) {
    ServerRow s;
    s.server_id = i + 1;
    s.max_pic_amount = 10'000'000;
    s.cur_pic_amount = i * 1000;
    s.flg_usable = true;
    s.disk_free_bytes = int64_t(1) << 40;
    servers.push_back(s);
  }
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(PickServers(Candidates(servers, 0),
                                         PlacementPolicy::kWeighted, 2, rng));
  }
}
BENCHMARK(BM_PickWeighted)->Arg(3)->Arg(30);

void BM_HttpDate(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(http::HttpDate(1'700'000'000));
}
BENCHMARK(BM_HttpDate);

}  // namespace
}  // namespace imgstore

BENCHMARK_MAIN();
