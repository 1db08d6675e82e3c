#include "http/metrics.h"

#include <fmt/format.h>

namespace imgstore::http {

void Metrics::RecordRequest(unsigned status, uint64_t bytes_sent,
                            double seconds) {
  by_status_[status < kMaxStatus ? status : 0].fetch_add(
      1, std::memory_order_relaxed);
  bytes_sent_.fetch_add(bytes_sent, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  latency_[b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(uint64_t(seconds * 1e6), std::memory_order_relaxed);
}

void Metrics::AddGauge(std::string name, std::string help,
                       std::function<double()> read) {
  std::lock_guard lock(mutex_);
  gauges_.push_back(Gauge{std::move(name), std::move(help), std::move(read)});
}

void Metrics::AddCounter(std::string name, std::string help,
                         std::vector<Series> series) {
  std::lock_guard lock(mutex_);
  read_counters_.push_back(
      ReadCounter{std::move(name), std::move(help), std::move(series)});
}

void Metrics::AddCounter(std::string name, std::string help,
                         std::function<double()> read) {
  AddCounter(std::move(name), std::move(help), {Series{"", std::move(read)}});
}

std::atomic<uint64_t>& Metrics::Counter(const std::string& name,
                                        const std::string& help) {
  std::lock_guard lock(mutex_);
  for (auto& c : counters_) {
    if (c->name == name) return c->value;
  }
  counters_.push_back(std::make_unique<NamedCounter>());
  counters_.back()->name = name;
  counters_.back()->help = help;
  return counters_.back()->value;
}

std::string Metrics::Render() const {
  std::string out;
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> f,
                                       Args&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
  };
  line(
      "# HELP {0}_http_requests_total HTTP requests by status code.\n"
      "# TYPE {0}_http_requests_total counter\n",
      prefix_);
  for (unsigned s = 100; s < kMaxStatus; ++s) {
    uint64_t v = by_status_[s].load(std::memory_order_relaxed);
    if (v) line("{}_http_requests_total{{code=\"{}\"}} {}\n", prefix_, s, v);
  }
  line(
      "# HELP {0}_http_response_bytes_total Response body bytes sent.\n"
      "# TYPE {0}_http_response_bytes_total "
      "counter\n{0}_http_response_bytes_total {1}\n",
      prefix_, bytes_sent_.load(std::memory_order_relaxed));
  line(
      "# HELP {0}_http_request_duration_seconds Time from request read to "
      "response written.\n"
      "# TYPE {0}_http_request_duration_seconds histogram\n",
      prefix_);
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kBuckets.size(); ++b) {
    cumulative += latency_[b].load(std::memory_order_relaxed);
    line("{}_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", prefix_,
         kBuckets[b], cumulative);
  }
  cumulative += latency_[kBuckets.size()].load(std::memory_order_relaxed);
  line("{}_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", prefix_,
       cumulative);
  line("{}_http_request_duration_seconds_sum {}\n", prefix_,
       double(latency_sum_us_.load(std::memory_order_relaxed)) / 1e6);
  line("{}_http_request_duration_seconds_count {}\n", prefix_, cumulative);
  std::lock_guard lock(mutex_);
  for (const auto& c : counters_) {
    line("# HELP {0}_{1} {2}\n# TYPE {0}_{1} counter\n{0}_{1} {3}\n", prefix_,
         c->name, c->help, c->value.load(std::memory_order_relaxed));
  }
  for (const auto& c : read_counters_) {
    line("# HELP {0}_{1} {2}\n# TYPE {0}_{1} counter\n", prefix_, c.name,
         c.help);
    for (const Series& s : c.series) {
      if (s.labels.empty()) {
        line("{}_{} {}\n", prefix_, c.name, s.read());
      } else {
        line("{}_{}{{{}}} {}\n", prefix_, c.name, s.labels, s.read());
      }
    }
  }
  for (const auto& g : gauges_) {
    line("# HELP {0}_{1} {2}\n# TYPE {0}_{1} gauge\n{0}_{1} {3}\n", prefix_,
         g.name, g.help, g.read());
  }
  for (const auto& g : gauge_families_) {
    line("# HELP {0}_{1} {2}\n# TYPE {0}_{1} gauge\n", prefix_, g.name, g.help);
    for (const Sample& s : g.read())
      line("{}_{}{{{}}} {}\n", prefix_, g.name, s.labels, s.value);
  }
  return out;
}

void Metrics::AddGauges(std::string name, std::string help,
                        std::function<std::vector<Sample>()> read) {
  std::lock_guard lock(mutex_);
  gauge_families_.push_back(
      GaugeFamily{std::move(name), std::move(help), std::move(read)});
}

}  // namespace imgstore::http
