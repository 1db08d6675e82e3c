#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"

namespace imgstore {

// Group commit for a node's durable writes: many requests ask "make what I
// have written so far durable", and one run of the sync serves all who
// asked while the previous run was going. An upload then shares its disk
// flushes with the uploads beside it instead of paying for its own
// (docs/STORAGE.md, "Group sync").
//
// The runs happen on the group's own thread, one at a time, so a caller
// need not hold a thread while it waits: the I/O thread asks with
// AsyncSync and serves other connections until the answer is posted back.
// Thread-safe.
class GroupSync {
 public:
  using Done = std::function<void(const Result<void>&)>;

  // `sync` makes everything written before it started durable; it runs on
  // the group's thread, never concurrently with itself.
  explicit GroupSync(std::function<Result<void>()> sync);
  // Serves whoever is still waiting, then stops the thread.
  ~GroupSync();
  GroupSync(const GroupSync&) = delete;
  GroupSync& operator=(const GroupSync&) = delete;

  // Calls `done` on the group's thread once a run of `sync` that started
  // after this call has finished, with that run's result: an error means
  // writes made before the call may not be durable.
  void SyncThen(Done done);

  // The same for Asio: completes with Result<void> on the completion
  // handler's executor, e.g. co_await AsyncSync(asio::use_awaitable).
  template <typename CompletionToken>
  auto AsyncSync(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(Result<void>)>(
        [this](auto handler) {
          using Handler = decltype(handler);
          // Done is copyable, the handler is not: it travels in a shared_ptr.
          auto shared = std::make_shared<Handler>(std::move(handler));
          SyncThen([shared](const Result<void>& result) {
            auto executor = boost::asio::get_associated_executor(*shared);
            boost::asio::post(executor, [shared, result]() mutable {
              std::move (*shared)(std::move(result));
            });
          });
        },
        token);
  }

  // Blocks until a run that started after this call has finished; its result.
  Result<void> Sync();

  // Blocks until nobody waits and no run is going.
  void WaitIdle();

  // How many runs of `sync` there were (each served one or more callers).
  uint64_t runs() const;

 private:
  void Loop();

  const std::function<Result<void>()> sync_;
  mutable std::mutex mutex_;         // guards everything below
  std::condition_variable wake_;     // the thread: someone waits, or stop
  std::condition_variable changed_;  // WaitIdle: a run ended
  std::vector<Done> waiting_;        // callers of the next run
  bool running_ = false;
  bool stop_ = false;
  uint64_t runs_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace imgstore
