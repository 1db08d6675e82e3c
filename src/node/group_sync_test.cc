#include "node/group_sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace imgstore {
namespace {

using std::chrono::milliseconds;

TEST(GroupSyncTest, OneCallerRunsTheSyncItself) {
  int runs = 0;
  GroupSync group([&]() -> Result<void> {
    ++runs;
    return {};
  });
  ASSERT_TRUE(group.Sync());
  ASSERT_TRUE(group.Sync());
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(group.runs(), 2u);
}

// Every caller must see a run that began after its call: a run already in
// progress may have started before its write and does not count.
TEST(GroupSyncTest, EachCallerWaitsForARunStartedAfterItsCall) {
  std::atomic<uint64_t> started{0}, finished{0};
  GroupSync group([&]() -> Result<void> {
    started.fetch_add(1);
    std::this_thread::sleep_for(milliseconds(2));
    finished.fetch_add(1);
    return {};
  });
  constexpr int kThreads = 16, kCalls = 20;
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        // Runs are serial, so run number started+1 is the first that can
        // begin after this point; it must have finished on return.
        const uint64_t before = started.load();
        if (!group.Sync()) violations.fetch_add(1);
        if (finished.load() < before + 1) violations.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
  // Callers shared runs: far fewer runs than calls.
  EXPECT_LT(group.runs(), uint64_t(kThreads * kCalls) / 2);
  EXPECT_EQ(group.runs(), finished.load());
}

TEST(GroupSyncTest, AFailedRunFailsExactlyTheCallersItServed) {
  std::atomic<int> run{0};
  std::atomic<bool> first_running{false};
  GroupSync group([&]() -> Result<void> {
    const int n = run.fetch_add(1);
    if (n == 0) {
      // Hold the first run until the others have queued behind it.
      first_running = true;
      std::this_thread::sleep_for(milliseconds(50));
      return {};
    }
    return Fail(ErrorCode::kIo, "syncfs: Input/output error");
  });
  Result<void> first;
  std::thread leader([&] { first = group.Sync(); });
  while (!first_running) std::this_thread::yield();
  // These join the batch of the second run, which fails.
  std::vector<Result<void>> results(4);
  std::vector<std::thread> followers;
  for (auto& r : results)
    followers.emplace_back([&r, &group] { r = group.Sync(); });
  leader.join();
  for (auto& t : followers) t.join();
  EXPECT_TRUE(first);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
  }
  // Two runs, or three if a follower came late and led a batch of its own.
  EXPECT_GE(group.runs(), 2u);
}

}  // namespace
}  // namespace imgstore
