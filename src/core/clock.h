#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace imgstore {

// Wall-clock time as whole seconds since the Unix epoch, behind an interface
// so heartbeat timeouts and signature freshness can be tested with a fake.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowSeconds() const = 0;
  virtual int64_t NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowSeconds() const override { return NowMillis() / 1000; }
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static const SystemClock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t seconds = 1'700'000'000)
      : millis_(seconds * 1000) {}
  int64_t NowSeconds() const override { return millis_.load() / 1000; }
  int64_t NowMillis() const override { return millis_.load(); }
  void Advance(std::chrono::milliseconds by) { millis_ += by.count(); }

 private:
  std::atomic<int64_t> millis_;
};

}  // namespace imgstore
