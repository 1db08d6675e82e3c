#pragma once

#include <chrono>
#include <string>
#include <string_view>

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

}  // namespace imgstore
