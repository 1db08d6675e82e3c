#include "node/group_sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>
#include <vector>

namespace imgstore {
namespace {

using std::chrono::milliseconds;

// A sync of 2 ms that counts the runs begun and ended.
std::function<Result<void>()> CountedSync(std::atomic<uint64_t>& started,
                                          std::atomic<uint64_t>& finished) {
  return [&started, &finished]() -> Result<void> {
    started.fetch_add(1);
    std::this_thread::sleep_for(milliseconds(2));
    finished.fetch_add(1);
    return {};
  };
}

TEST(GroupSyncTest, ALoneCallerGetsARunOfItsOwn) {
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
  GroupSync group(CountedSync(started, finished));
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

// The node's PUT path: coroutines on one I/O thread wait for their runs
// without blocking it, and each resumes on that thread.
TEST(GroupSyncTest, AsyncCallersResumeOnTheirOwnExecutor) {
  std::atomic<uint64_t> started{0}, finished{0};
  GroupSync group(CountedSync(started, finished));
  boost::asio::io_context io;
  constexpr int kCallers = 32, kCalls = 5;
  int completed = 0, violations = 0;
  std::thread::id io_thread;
  auto caller = [&]() -> boost::asio::awaitable<void> {
    for (int i = 0; i < kCalls; ++i) {
      const uint64_t before = started.load();
      Result<void> synced =
          co_await group.AsyncSync(boost::asio::use_awaitable);
      if (!synced || finished.load() < before + 1) ++violations;
      if (std::this_thread::get_id() != io_thread) ++violations;
      ++completed;
    }
  };
  for (int c = 0; c < kCallers; ++c)
    boost::asio::co_spawn(io, caller(), boost::asio::detached);
  io_thread = std::this_thread::get_id();
  io.run();
  EXPECT_EQ(completed, kCallers * kCalls);
  EXPECT_EQ(violations, 0);
  EXPECT_LT(group.runs(), uint64_t(kCallers * kCalls) / 2);
}

TEST(GroupSyncTest, DestructionServesWhoeverStillWaits) {
  std::atomic<int> served{0};
  {
    GroupSync group([]() -> Result<void> {
      std::this_thread::sleep_for(milliseconds(5));
      return {};
    });
    for (int i = 0; i < 8; ++i)
      group.SyncThen([&](const Result<void>& r) {
        if (r) served.fetch_add(1);
      });
  }
  EXPECT_EQ(served.load(), 8);
}

}  // namespace
}  // namespace imgstore
