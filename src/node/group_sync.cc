#include "node/group_sync.h"

namespace imgstore {

Result<void> GroupSync::Sync() {
  std::unique_lock lock(mutex_);
  // Joining `next_` means: the run that takes this batch starts after now,
  // so it covers everything this caller wrote before calling.
  const std::shared_ptr<Batch> batch = next_;
  for (;;) {
    if (batch->done) return batch->result;
    if (!running_) break;
    batch->changed.wait(lock);
  }
  // Nobody is syncing: this caller runs the sync for its whole batch, and
  // whoever arrives meanwhile waits for the next run.
  running_ = true;
  next_ = std::make_shared<Batch>();
  lock.unlock();
  Result<void> result = sync_();
  lock.lock();
  batch->result = result;
  batch->done = true;
  running_ = false;
  ++runs_;
  // This batch's callers have their answer; one caller of the next batch,
  // if any joined, may now lead it.
  batch->changed.notify_all();
  next_->changed.notify_one();
  return result;
}

uint64_t GroupSync::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

}  // namespace imgstore
