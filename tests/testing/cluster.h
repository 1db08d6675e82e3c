#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace imgstore::testing {

inline constexpr const char* kSecret = "test-cluster-secret";
inline constexpr const char* kAdminToken = "test-admin-token";

// A tracker and image servers as real processes of the imgstore binary on
// 127.0.0.1, each in its own directory under one TempDir, with logs kept
// there. Everything started is stopped by pid in the destructor.
class Cluster {
 public:
  struct Options {
    int nodes = 3;
    std::vector<std::string> tracker_args;  // extra flags
    std::string db;                         // default sqlite under the temp dir
  };
  explicit Cluster(Options options);
  ~Cluster();

  const std::string& tracker_url() const { return tracker_url_; }
  std::string dir() const { return dir_.str(); }

  void StartTracker();
  // Stops the tracker with `signal` (SIGKILL for a crash).
  void StopTracker(int signal);

  // Starts node `index` (a new one when index == nodes()), with extra flags.
  size_t StartNode(size_t index, std::vector<std::string> extra = {});
  void StopNode(size_t index, int signal);
  size_t nodes() const { return nodes_.size(); }
  std::string NodeUrl(size_t index) const;
  std::string NodeRoot(size_t index) const;

  // Waits until `count` servers are usable per GET /v1/servers.
  bool WaitUsable(size_t count,
                  std::chrono::milliseconds timeout = std::chrono::seconds(15));
  nlohmann::json Servers();

  // POST /v1/images with a raw body.
  http::ClientResponse Upload(const std::string& bytes,
                              const std::string& content_type);
  std::vector<std::pair<std::string, std::string>> AdminHeaders() const;

  std::string Logs() const;

 private:
  struct NodeProc {
    uint16_t port = 0;
    std::vector<std::string> extra;
    std::unique_ptr<ChildProcess> process;
  };
  Options options_;
  TempDir dir_;
  uint16_t tracker_port_ = 0;
  std::string tracker_url_;
  std::unique_ptr<ChildProcess> tracker_;
  std::vector<NodeProc> nodes_;
};

// Sends a request signed with `secret` (core/signing.h), as a tracker would.
http::ClientResponse SignedSend(const std::string& method,
                                const std::string& base_url,
                                const std::string& path,
                                const std::string& body,
                                const std::string& secret = kSecret);

}  // namespace imgstore::testing
