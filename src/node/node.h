#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/signing.h"
#include "core/wire.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "node/file_store.h"
#include "node/scrubber.h"

namespace imgstore {

// Everything `imgstore node` is configured by (app/config.cc fills it).
struct NodeOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9001;
  std::string root;  // PicRootPath, required
  // Where heartbeats and scrub reports go, required: one URL (a balancer's)
  // or several, tried in turn (node/tracker_link.h).
  std::vector<std::string> tracker_urls;
  std::string secret;      // cluster secret, required
  std::string name;        // default "node-<port>"
  std::string public_url;  // default "http://<host>:<port>"
  // Where trackers store and delete when browsers use an https public_url
  // (default, then: "http://<host>:<port>"); empty: public_url.
  std::string internal_url;
  int64_t max_pics = 10'000'000;
  std::chrono::seconds heartbeat_interval{2};
  int io_threads = 1;
  // For DELETE and file listings, which block on the disk; PUT waits for
  // its group sync on the I/O thread without holding a worker.
  int worker_threads = 32;
  uint64_t max_body_bytes = 64 * 1024 * 1024;
  // Writes stop while less than this is free, so the disk never fills.
  int64_t disk_reserve_bytes = 64 * 1024 * 1024;
  // The integrity scrub (node/scrubber.h) reads at most this; 0 turns it
  // off. 8 MiB/s leaves a disk's bandwidth to the browsers it serves.
  uint64_t scrub_rate_bytes_per_s = 8 * 1024 * 1024;
  // Pause after a full scrub pass before the next.
  std::chrono::seconds scrub_interval{86'400};
};

// An image server: owns its FileStore, HTTP server, heartbeat thread and
// Scrubber.
// Start() binds and opens the root; Run() serves until SIGINT/SIGTERM or
// Stop(), finishing requests in flight.
class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(const NodeOptions& options);
  ~Node();

  void Run();
  void Stop();
  uint16_t port() const { return server_->port(); }
  NodeStatus Status() const;

 private:
  explicit Node(const NodeOptions& options);
  http::Router MakeRouter();
  void HeartbeatLoop();
  // Before each heartbeat: whether the root still holds its images and
  // takes new files (write_error_).
  void CheckRoot();

  NodeOptions options_;
  const Clock& clock_ = SystemClock::Get();
  const std::chrono::steady_clock::time_point started_ =
      std::chrono::steady_clock::now();
  std::unique_ptr<FileStore> store_;
  std::unique_ptr<SignatureVerifier> verifier_;  // set once the URLs are
  http::Metrics metrics_{"imgstore_node"};
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<Scrubber> scrubber_;

  // guards stopping_ for the heartbeat thread, and write_error_
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  // Why the root takes no new file, as last probed (empty: it does).
  std::string write_error_;
  std::thread heartbeat_;
};

// Route handlers, exposed for unit tests (node/routes.cc).
namespace node_routes {
http::Response GetImage(FileStore& store, const http::Request& request);
}

}  // namespace imgstore
