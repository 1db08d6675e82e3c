#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace imgstore::http {

// Request counters and a latency histogram for one daemon, in Prometheus
// text format. Recording is lock-free (relaxed atomics: counters need no
// ordering); AddGauge registrations are guarded by mutex_.
class Metrics {
 public:
  explicit Metrics(std::string prefix) : prefix_(std::move(prefix)) {}

  void RecordRequest(unsigned status, uint64_t bytes_sent, double seconds);

  // A gauge computed at scrape time: `read` returns its value. Thread-safe.
  void AddGauge(std::string name, std::string help,
                std::function<double()> read);

  // Counters a component increments itself (e.g. files scrubbed). Names of
  // counters end in _total, as Prometheus expects.
  std::atomic<uint64_t>& Counter(const std::string& name,
                                 const std::string& help);

  // A counter kept by a component and read at scrape time, one series per
  // label set: {prefix}_{name}{<labels>} for each (labels, read) pair, e.g.
  // ("stage=\"probe\"", ...). Thread-safe.
  struct Series {
    std::string labels;
    std::function<double()> read;
  };
  void AddCounter(std::string name, std::string help,
                  std::vector<Series> series);
  // The same with one series and no labels.
  void AddCounter(std::string name, std::string help,
                  std::function<double()> read);

  // A gauge whose series are known only at scrape time (one per server):
  // `read` returns each series' labels and value. Thread-safe.
  struct Sample {
    std::string labels;  // name="value",...
    double value = 0;
  };
  void AddGauges(std::string name, std::string help,
                 std::function<std::vector<Sample>()> read);

  std::string Render() const;

 private:
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  static constexpr unsigned kMaxStatus = 600;

  const std::string prefix_;
  std::array<std::atomic<uint64_t>, kMaxStatus> by_status_{};
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> latency_{};
  std::atomic<uint64_t> latency_sum_us_{0};
  std::atomic<uint64_t> bytes_sent_{0};

  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };
  struct ReadCounter {
    std::string name, help;
    std::vector<Series> series;
  };
  struct GaugeFamily {
    std::string name, help;
    std::function<std::vector<Sample>()> read;
  };
  struct NamedCounter {
    std::string name, help;
    std::atomic<uint64_t> value{0};
  };
  mutable std::mutex mutex_;  // guards the four lists below
  std::vector<Gauge> gauges_;
  std::vector<GaugeFamily> gauge_families_;
  std::vector<ReadCounter> read_counters_;
  std::vector<std::unique_ptr<NamedCounter>> counters_;
};

}  // namespace imgstore::http
