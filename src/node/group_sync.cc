#include "node/group_sync.h"

#include <optional>
#include <utility>

namespace imgstore {

GroupSync::GroupSync(std::function<Result<void>()> sync)
    : sync_(std::move(sync)), thread_([this] { Loop(); }) {}

GroupSync::~GroupSync() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void GroupSync::SyncThen(Done done) {
  {
    std::lock_guard lock(mutex_);
    // Joining `waiting_` means: the run that takes this caller starts after
    // now, so it covers everything the caller wrote before calling.
    waiting_.push_back(std::move(done));
  }
  wake_.notify_one();
}

Result<void> GroupSync::Sync() {
  struct Answer {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<Result<void>> result;
  };
  // Shared with the group's thread, which may still be notifying when this
  // caller has its answer and returns.
  auto answer = std::make_shared<Answer>();
  SyncThen([answer](const Result<void>& result) {
    std::lock_guard lock(answer->mutex);
    answer->result = result;
    answer->ready.notify_one();
  });
  std::unique_lock lock(answer->mutex);
  answer->ready.wait(lock, [&] { return answer->result.has_value(); });
  return *answer->result;
}

void GroupSync::WaitIdle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return waiting_.empty() && !running_; });
}

uint64_t GroupSync::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

void GroupSync::Loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping, and nobody left to serve
    // This run serves everyone waiting now; whoever asks meanwhile waits
    // for the next.
    std::vector<Done> batch;
    batch.swap(waiting_);
    running_ = true;
    lock.unlock();
    const Result<void> result = sync_();
    lock.lock();
    ++runs_;  // counted before anyone served can look
    lock.unlock();
    for (Done& done : batch) done(result);
    lock.lock();
    running_ = false;
    changed_.notify_all();
  }
}

}  // namespace imgstore
