#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace imgstore {

// Group commit for a node's durable writes: many threads ask "make what I
// have written so far durable", one of them runs a single sync for all who
// asked while the previous sync was running. An upload then shares its
// disk flushes with the uploads beside it instead of paying two fsyncs of
// its own (docs/STORAGE.md, "Group sync").
//
// Thread-safe. Sync() blocks until the work is done: call it from worker
// threads, never from an I/O thread.
class GroupSync {
 public:
  // `sync` makes everything written before it started durable; it runs on
  // one caller's thread at a time, never concurrently with itself.
  explicit GroupSync(std::function<Result<void>()> sync)
      : sync_(std::move(sync)) {}

  // Returns once a run of `sync` that started after this call has finished,
  // with that run's result: an error means writes made before the call may
  // not be durable.
  Result<void> Sync();

  // How many runs of `sync` there were (each served one or more callers).
  uint64_t runs() const;

 private:
  // The callers served by one run of sync_: those who joined while it had
  // not yet started. Each batch has its own condition variable, so the end
  // of a run wakes its own callers and one leader for the next batch, not
  // every thread waiting.
  struct Batch {
    std::condition_variable changed;
    bool done = false;
    Result<void> result;
  };

  const std::function<Result<void>()> sync_;
  mutable std::mutex mutex_;  // guards everything below
  std::shared_ptr<Batch> next_ = std::make_shared<Batch>();
  bool running_ = false;
  uint64_t runs_ = 0;
};

}  // namespace imgstore
