// Signed status beats to the tracker. The node keeps serving whatever the
// tracker does; a change of reachability is logged once, not every beat.
#include <spdlog/spdlog.h>

#include "node/node.h"
#include "node/tracker_link.h"

namespace imgstore {

namespace {
constexpr std::string_view kHeartbeatPath = "/v1/heartbeat";
}

void Node::CheckRoot() {
  // A root emptied behind the node's back: trackers hear its images are
  // gone, and stop handing out their URLs here.
  if (!store_->CheckNotEmptied()) {
    spdlog::error(
        "node {}: its root {} holds none of its images any more (emptied "
        "behind its back?): reported to the trackers",
        options_.name, store_->root());
  }
  // A root that takes no new file (mounted read-only, out of inodes):
  // trackers send no uploads until it does. Said once each way.
  auto writable = store_->CheckWritable();
  std::lock_guard lock(mutex_);
  const std::string error = writable ? "" : writable.error().message;
  if (error == write_error_) return;
  if (error.empty()) {
    spdlog::info("node {}: the root takes new files again", options_.name);
  } else {
    spdlog::error(
        "node {}: the root takes no new file ({}): no uploads come "
        "until it does",
        options_.name, error);
  }
  write_error_ = error;
}

void Node::HeartbeatLoop() {
  using Link = TrackerLink;
  Link link = Link::kUnknown;
  std::string link_url;  // the tracker of `link`
  Trackers trackers(options_.tracker_urls);
  for (;;) {
    CheckRoot();  // what the heartbeat says of it
    std::string why, target;
    const Link now = trackers.Post(
        kHeartbeatPath, ToJson(Status()).dump(), options_.secret, options_.name,
        clock_, std::chrono::milliseconds(2000), why, target);
    if (now != link || target != link_url) {
      switch (now) {
        case Link::kUp:
          spdlog::info("node {}: tracker {} reachable, heartbeats accepted",
                       options_.name, target);
          break;
        case Link::kDown:
          if (options_.tracker_urls.size() > 1) {
            spdlog::warn(
                "node {}: no tracker of {} reachable or taking heartbeats "
                "({}); still serving",
                options_.name, target, why);
          } else {
            spdlog::warn(
                "node {}: tracker {} unreachable or not taking heartbeats "
                "({}); still serving",
                options_.name, target, why);
          }
          break;
        case Link::kRefused:
          spdlog::error(
              "node {}: tracker {} refused the heartbeat's "
              "signature ({}); still serving",
              options_.name, target, why);
          break;
        case Link::kUnknown:
          break;
      }
      link = now;
      link_url = target;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, options_.heartbeat_interval,
                       [this] { return stopping_; }))
      return;
  }
}

}  // namespace imgstore
