// Hot functions on the request paths, with Google Benchmark:
//   imgstore_micro_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "core/hex.h"
#include "core/image_id.h"
#include "core/image_probe.h"
#include "core/layout.h"
#include "core/placement.h"
#include "core/signing.h"
#include "http/file_body.h"
#include "meta/sqlite_store.h"

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

// The 64 KB JPEGs of the bench corpus (bench/corpus/build), when built.
std::vector<std::string> CorpusJpegs() {
  const std::string dir = IMGSTORE_SOURCE_DIR "/bench/corpus/out/";
  std::ifstream list(dir + "upload64k.txt");
  std::vector<std::string> out;
  for (std::string name; std::getline(list, name);) {
    std::ifstream in(dir + name, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    out.push_back(bytes.str());
  }
  return out;
}

void BM_ProbeJpeg(benchmark::State& state) {
  const std::vector<std::string> jpegs = CorpusJpegs();
  if (jpegs.empty()) {
    state.SkipWithError("no corpus: run bench/corpus/build");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ProbeImage(jpegs[i], 1 << 28));
    i = (i + 1) % jpegs.size();
  }
}
BENCHMARK(BM_ProbeJpeg);

// One image record per iteration, each its own transaction on a real file
// (synchronous=FULL): the tracker's cost per upload without group commit.
void BM_AddImage(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("imgstore-micro-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    auto store = SqliteStore::Open((dir / "t.db").string());
    if (!store) {
      state.SkipWithError(store.error().message.c_str());
      return;
    }
    auto server = (*store)->AddServer("n", "http://127.0.0.1:1", 1 << 30);
    ImageRecord r{ImageId::New()};
    r.bytes = 65536;
    r.width = r.height = 100;
    for (auto _ : state) {
      r.id = ImageId::New();
      r.sha256 = Sha256Hex(r.id.str());
      r.placements = {{server->server_id,
                       MakeImagePath(r.id, ImageFormat::kJpeg).relative}};
      benchmark::DoNotOptimize((*store)->AddImage(r));
    }
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AddImage)->UseRealTime();

void BM_VerifySignature(benchmark::State& state) {
  const std::string body(64 << 10, 'x');
  SystemClock clock;
  for (auto _ : state) {
    state.PauseTiming();
    SignatureVerifier verifier("secret", clock);
    Signature s = Sign("secret", "PUT", "n1:9001", "/ab/cd/x.jpg", body, clock);
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
