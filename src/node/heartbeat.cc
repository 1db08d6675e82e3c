// Signed status beats to the tracker. The node keeps serving whatever the
// tracker does; a change of reachability is logged once, not every beat.
#include <spdlog/spdlog.h>

#include "http/client.h"
#include "node/node.h"

namespace imgstore {

namespace {
constexpr std::string_view kHeartbeatPath = "/v1/heartbeat";
}

void Node::HeartbeatLoop() {
  enum class Link { kUnknown, kUp, kDown, kRefused };
  Link link = Link::kUnknown;
  std::string target = options_.tracker_url;
  while (!target.empty() && target.back() == '/') target.pop_back();
  auto url = http::ParseUrl(target);
  const std::string path =
      (url && url->path != "/" ? url->path : "") + std::string(kHeartbeatPath);
  for (;;) {
    const std::string body = ToJson(Status()).dump();
    Signature s = Sign(options_.secret, "POST", path, body, clock_);
    http::ClientRequest request;
    request.method = "POST";
    request.url = target + std::string(kHeartbeatPath);
    request.body = body;
    request.timeout = std::chrono::milliseconds(2000);
    request.headers = {{"Content-Type", "application/json"},
                       {std::string(kTimeHeader), s.time},
                       {std::string(kNonceHeader), s.nonce},
                       {std::string(kSignatureHeader), s.mac}};
    auto response = http::Fetch(request);
    Link now = Link::kUp;
    std::string why;
    if (!response) {
      now = Link::kDown;
      why = response.error().message;
    } else if (response->status == 401 || response->status == 403) {
      now = Link::kRefused;
    } else if (response->status >= 300) {
      now = Link::kDown;
      why = "status " + std::to_string(response->status);
    }
    if (now != link) {
      switch (now) {
        case Link::kUp:
          spdlog::info("node {}: tracker {} reachable, heartbeats accepted",
                       options_.name, target);
          break;
        case Link::kDown:
          spdlog::warn("node {}: tracker {} unreachable ({}); still serving",
                       options_.name, target, why);
          break;
        case Link::kRefused:
          spdlog::error(
              "node {}: tracker {} refused the heartbeat signature: check "
              "--secret",
              options_.name, target);
          break;
        case Link::kUnknown:
          break;
      }
      link = now;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, options_.heartbeat_interval,
                       [this] { return stopping_; }))
      return;
  }
}

}  // namespace imgstore
