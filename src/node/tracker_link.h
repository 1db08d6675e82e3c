#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace imgstore {

// How the tracker answered a node's signed POST (a heartbeat, a scrub
// report): accepted it, refused its signature (most often a wrong
// --secret), or could not be reached or did not take it. Callers log a
// change of it once.
enum class TrackerLink { kUnknown, kUp, kDown, kRefused };

// Signs `body` with the cluster secret and POSTs it as JSON to
// `tracker_url` + `path` (a trailing '/' of the URL ignored), naming the
// node `name` in its User-Agent (so a tracker refusing it can say which).
// `why` says what went wrong when the answer is kDown or kRefused, in the
// tracker's words when it answered.
TrackerLink PostToTracker(std::string_view tracker_url, std::string_view path,
                          std::string body, std::string_view secret,
                          std::string_view name, const Clock& clock,
                          std::chrono::milliseconds timeout, std::string& why);

// The trackers a node reports to (--tracker: one, most often a load
// balancer's URL, or several). Each POST goes to the one that took the
// last; when it cannot be reached (kDown), to each other in turn, so a node
// without a balancer keeps beating through any tracker that runs.
// Thread-safe.
class Trackers {
 public:
  explicit Trackers(std::vector<std::string> urls) : urls_(std::move(urls)) {}
  bool empty() const { return urls_.empty(); }

  // As PostToTracker; `url` says which tracker answered (or, when none
  // did, the last one tried).
  TrackerLink Post(std::string_view path, const std::string& body,
                   std::string_view secret, std::string_view name,
                   const Clock& clock, std::chrono::milliseconds timeout,
                   std::string& why, std::string& url);

 private:
  const std::vector<std::string> urls_;
  std::atomic<size_t> current_{0};
};

}  // namespace imgstore
