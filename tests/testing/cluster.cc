#include "testing/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "core/signing.h"
#include "http/signed.h"

namespace imgstore::testing {

Cluster::Cluster(Options options) : options_(std::move(options)) {
  tracker_port_ = FreePort();
  tracker_url_ = "http://127.0.0.1:" + std::to_string(tracker_port_);
  StartTracker();
  for (int i = 0; i < options_.nodes; ++i) StartNode(size_t(i));
  if (!WaitUsable(size_t(options_.nodes)))
    ADD_FAILURE() << "cluster did not start\n" << Logs();
}

Cluster::~Cluster() {
  for (auto& n : nodes_) n.process.reset();
  tracker_.reset();
}

void Cluster::StartTracker() {
  std::vector<std::string> argv = {
      IMGSTORE_BINARY, "tracker", "--listen",
      "127.0.0.1:" + std::to_string(tracker_port_), "--db",
      options_.db.empty() ? "sqlite:" + dir_.str() + "/tracker.db"
                          : options_.db,
      "--secret", kSecret, "--admin-token", kAdminToken, "--heartbeat-timeout",
      "3",
      // One copy, the founding design's
      // behaviour; suites about copies ask
      // for more (the last flag wins).
      "--replicas", "1"};
  argv.insert(argv.end(), options_.tracker_args.begin(),
              options_.tracker_args.end());
  tracker_ = std::make_unique<ChildProcess>(argv, dir_.str() + "/tracker.log");
  if (!WaitForStatus(tracker_url_ + "/healthz", 200)) {
    ADD_FAILURE() << "tracker did not start\n" << Logs();
  }
}

void Cluster::StopTracker(int signal) {
  if (tracker_) tracker_->Signal(signal);
  tracker_.reset();
}

size_t Cluster::StartNode(size_t index, std::vector<std::string> extra) {
  if (index >= nodes_.size()) {
    nodes_.resize(index + 1);
    nodes_[index].port = FreePort();
    nodes_[index].extra = std::move(extra);
  }
  NodeProc& n = nodes_[index];
  std::vector<std::string> argv = {
      IMGSTORE_BINARY, "node",
      "--listen",      "127.0.0.1:" + std::to_string(n.port),
      "--root",        NodeRoot(index),
      "--tracker",     tracker_url_,
      "--secret",      kSecret,
      "--name",        "n" + std::to_string(index),
      "--heartbeat",   "1"};
  argv.insert(argv.end(), n.extra.begin(), n.extra.end());
  n.process = std::make_unique<ChildProcess>(
      argv, dir_.str() + "/node" + std::to_string(index) + ".log");
  if (!WaitForStatus(NodeUrl(index) + "/status", 200)) {
    ADD_FAILURE() << "node " << index << " did not start\n" << Logs();
  }
  return index;
}

void Cluster::StopNode(size_t index, int signal) {
  if (nodes_[index].process) nodes_[index].process->Signal(signal);
  nodes_[index].process.reset();
}

std::string Cluster::NodeUrl(size_t index) const {
  return "http://127.0.0.1:" + std::to_string(nodes_[index].port);
}

std::string Cluster::NodeRoot(size_t index) const {
  return dir_.str() + "/root" + std::to_string(index);
}

std::vector<std::pair<std::string, std::string>> Cluster::AdminHeaders() const {
  return {{"Authorization", std::string("Bearer ") + kAdminToken}};
}

nlohmann::json Cluster::Servers() {
  auto r = Get(tracker_url_ + "/v1/servers", AdminHeaders());
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

bool Cluster::WaitUsable(size_t count, std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        auto s = Servers();
        if (!s.contains("totals")) return false;
        return s["totals"]["usable"].get<size_t>() == count;
      },
      timeout);
}

http::ClientResponse Cluster::Upload(const std::string& bytes,
                                     const std::string& content_type) {
  return Send("POST", tracker_url_ + "/v1/images", bytes,
              {{"Content-Type", content_type}});
}

std::string Cluster::Logs() const {
  std::string out = "--- tracker.log\n" + ReadFile(dir_.path() / "tracker.log");
  for (size_t i = 0; i < nodes_.size(); ++i) {
    out += "--- node" + std::to_string(i) + ".log\n" +
           ReadFile(dir_.path() / ("node" + std::to_string(i) + ".log"));
  }
  return out;
}

http::ClientResponse SignedSend(const std::string& method,
                                const std::string& base_url,
                                const std::string& path,
                                const std::string& body,
                                const std::string& secret) {
  http::ClientRequest request{
      .method = method, .url = base_url + path, .body = body};
  if (auto ok = http::SignRequest(request, secret, SystemClock::Get()); !ok)
    return {.status = 0, .body = ok.error().message};
  return Send(method, request.url, body, request.headers);
}

}  // namespace imgstore::testing
