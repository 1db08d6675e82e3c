#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace imgstore {

// At most one "yes" per `period`: for a log line that a failing peer or
// resource would otherwise repeat on every request. Thread-safe.
class LogEvery {
 public:
  explicit LogEvery(std::chrono::seconds period) : period_(period) {}

  // True when the last true was `period` ago or more (or never).
  bool Due() {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    const int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
    int64_t last = last_ns_.load(std::memory_order_relaxed);
    const int64_t period_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(period_).count();
    if (last != kNever && now_ns - last < period_ns) return false;
    return last_ns_.compare_exchange_strong(last, now_ns);
  }

 private:
  static constexpr int64_t kNever = INT64_MIN;
  const std::chrono::seconds period_;
  std::atomic<int64_t> last_ns_{kNever};
};

}  // namespace imgstore
