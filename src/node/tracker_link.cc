#include "node/tracker_link.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/wire.h"
#include "http/signed.h"

namespace imgstore {

TrackerLink PostToTracker(std::string_view tracker_url, std::string_view path,
                          std::string body, std::string_view secret,
                          std::string_view name, const Clock& clock,
                          std::chrono::milliseconds timeout, std::string& why) {
  while (!tracker_url.empty() && tracker_url.back() == '/')
    tracker_url.remove_suffix(1);
  http::ClientRequest request;
  request.method = "POST";
  request.url = std::string(tracker_url) + std::string(path);
  request.body = std::move(body);
  request.timeout = timeout;
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", "imgstore/" IMGSTORE_VERSION " node " +
                                        std::string(name)}};
  if (auto signed_ok = http::SignRequest(request, secret, clock); !signed_ok) {
    why = signed_ok.error().message;
    return TrackerLink::kDown;
  }
  auto response = http::Fetch(request);
  if (!response) {
    why = response.error().message;
    return TrackerLink::kDown;
  }
  if (response->status < 200 || response->status >= 300) {
    // The tracker's own words: "status 507: ... disk is full" says more
    // than the number, and a 401 says which part of the signature failed.
    const auto message = ErrorBodyMessage(response->body);
    why = "status " + std::to_string(response->status);
    if (message) why += ": " + *message;
    // No heartbeat path there, or an answer in no imgstore's words: a
    // node, a web server, or a URL with a path too many, not a tracker.
    if (!message || (response->status == 404 && *message == "no such path"))
      why += " (is --tracker a tracker's URL?)";
    // 401: the signature. Any other refusal, such as the 403 for a removed
    // server, leaves the node as good as cut off from this tracker.
    return response->status == 401 ? TrackerLink::kRefused : TrackerLink::kDown;
  }
  return TrackerLink::kUp;
}

TrackerLink Trackers::Post(std::string_view path, const std::string& body,
                           std::string_view secret, std::string_view name,
                           const Clock& clock,
                           std::chrono::milliseconds timeout, std::string& why,
                           std::string& url) {
  TrackerLink link = TrackerLink::kDown;
  const size_t first = current_.load();
  std::vector<std::string> whys;  // each tracker's, when all are down
  for (size_t i = 0; i < urls_.size(); ++i) {
    const size_t at = (first + i) % urls_.size();
    url = urls_[at];
    link = PostToTracker(url, path, body, secret, name, clock, timeout, why);
    if (link != TrackerLink::kDown) {
      current_ = at;
      return link;
    }
    whys.push_back(url + ": " + why);
  }
  if (urls_.size() > 1) {
    url = fmt::format("{}", fmt::join(urls_, ", "));
    why = fmt::format("{}", fmt::join(whys, "; "));
  }
  return link;
}

}  // namespace imgstore
