// The integrity scrub: List, Read, hash, report; paced by the rate cap.
// The tracker decides what a wrong hash means; the node only reports.
#include "node/scrubber.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/hex.h"
#include "core/layout.h"
#include "core/signing.h"
#include "http/client.h"

namespace imgstore {

namespace {

constexpr std::string_view kScrubPath = "/v1/scrub";
// Files per FileStore::List call: a page is held in memory meanwhile.
constexpr size_t kPageSize = 1000;
// Retries of a refused batch back off up to this; the first is after 1 s.
constexpr std::chrono::seconds kFirstRetry{1};
constexpr std::chrono::seconds kMaxRetry{60};
// Short, so that Stop() is not held up long by a tracker that hangs.
constexpr std::chrono::milliseconds kPostTimeout{5000};

using Steady = std::chrono::steady_clock;

}  // namespace

Scrubber::Scrubber(ScrubberOptions options, FileStore& store,
                   http::Metrics& metrics, const Clock& clock)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      files_(
          metrics.Counter("scrub_files_total", "Files the scrub has checked.")),
      bytes_(metrics.Counter("scrub_bytes_total", "Bytes the scrub has read.")),
      passes_(metrics.Counter("scrub_passes_total",
                              "Scrub passes over every file completed.")) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Start() {
  if (options_.rate_bytes_per_s == 0 || options_.tracker_urls.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Scrubber::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

bool Scrubber::WaitUntil(Steady::time_point deadline) {
  std::unique_lock lock(mutex_);
  return wake_.wait_until(lock, deadline, [this] { return stopping_; });
}

void Scrubber::Loop() {
  spdlog::info("node {}: scrubbing at most {} bytes/s, a pass every {} s",
               options_.name, options_.rate_bytes_per_s,
               options_.interval.count());
  next_read_ = Steady::now();
  if (WaitUntil(Steady::now() + options_.first_delay)) return;
  for (;;) {
    if (!Pass()) return;
    if (WaitUntil(Steady::now() + options_.interval)) return;
  }
}

bool Scrubber::Pass() {
  const auto started = Steady::now();
  uint64_t files = 0, bytes = 0;
  std::vector<Checked> batch;
  Steady::time_point batch_due;
  std::string after;
  for (;;) {
    auto page = store_.List(after, kPageSize);
    if (!page) {
      // The next pass starts from the beginning again.
      spdlog::warn("node {}: scrub pass ended early: {}", options_.name,
                   page.error().message);
      return Send(batch);
    }
    for (const FileStore::FileEntry& entry : *page) {
      // The rate cap: wait for the bytes read so far to fit in it, and send
      // a batch whose time comes up meanwhile.
      if (!batch.empty() && batch_due <= next_read_) {
        if (WaitUntil(batch_due) || !Send(batch)) return false;
      }
      if (WaitUntil(next_read_)) return false;
      auto path = ParseImagePath("/" + entry.path);
      if (!path) continue;  // List returns only paths it accepts
      auto content = store_.Read(*path);
      if (!content) {
        // Deleted since it was listed: nothing left to check.
        if (content.error().code != ErrorCode::kNotFound) {
          spdlog::warn("node {}: scrub could not read {}: {}", options_.name,
                       entry.path, content.error().message);
        }
        continue;
      }
      const auto now = Steady::now();
      next_read_ =
          std::max(next_read_, now) +
          std::chrono::duration_cast<Steady::duration>(
              std::chrono::duration<double>(double(content->size()) /
                                            double(options_.rate_bytes_per_s)));
      if (batch.empty()) batch_due = now + kBatchAge;
      batch.push_back(
          Checked{entry.path, Sha256Hex(*content), int64_t(content->size())});
      ++files;
      bytes += content->size();
      files_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(content->size(), std::memory_order_relaxed);
      if (batch.size() >= kBatchFiles || now >= batch_due) {
        if (!Send(batch)) return false;
      }
    }
    if (page->size() < kPageSize) break;
    after = page->back().path;
  }
  if (!Send(batch)) return false;
  passes_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info(
      "node {}: scrub pass done: {} files, {} bytes in {} s", options_.name,
      files, bytes,
      std::chrono::duration_cast<std::chrono::seconds>(Steady::now() - started)
          .count());
  return true;
}

bool Scrubber::Send(std::vector<Checked>& batch) {
  if (batch.empty()) return true;
  nlohmann::json files = nlohmann::json::array();
  for (const Checked& c : batch) {
    files.push_back(
        {{"path", c.path}, {"sha256", c.sha256}, {"bytes", c.bytes}});
  }
  const std::string body = nlohmann::json{
      {"url", options_.public_url},
      {"name", options_.name},
      {"files",
       std::move(files)}}.dump();
  std::chrono::seconds backoff = kFirstRetry;
  while (!Post(body)) {
    if (WaitUntil(Steady::now() + backoff)) return false;
    backoff = std::min(backoff * 2, kMaxRetry);
  }
  batch.clear();
  return true;
}

bool Scrubber::Post(const std::string& body) {
  std::string why, target;
  const Link now =
      trackers_.Post(kScrubPath, body, options_.secret, options_.name, clock_,
                     kPostTimeout, why, target);
  if (now != link_ || target != link_url_) {
    switch (now) {
      case Link::kUp:
        spdlog::info("node {}: tracker {} accepting scrub reports",
                     options_.name, target);
        break;
      case Link::kDown:
        spdlog::warn(
            "node {}: tracker {} not taking scrub reports ({}); retrying",
            options_.name, target, why);
        break;
      case Link::kRefused:
        spdlog::error(
            "node {}: tracker {} refused the scrub report's "
            "signature ({})",
            options_.name, target, why);
        break;
      case Link::kUnknown:
        break;
    }
    link_ = now;
    link_url_ = target;
  }
  return now == Link::kUp;
}

}  // namespace imgstore
