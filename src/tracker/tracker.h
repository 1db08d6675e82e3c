#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/placement.h"
#include "core/signing.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "meta/metadata_store.h"

namespace imgstore {

// Everything `imgstore tracker` is configured by (app/config.cc fills it).
struct TrackerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string db_url = "sqlite:imgstore.db";
  // SQLite only: serve resolve from an in-memory index of every image's
  // copies (MetadataStoreOptions::resolve_index).
  bool resolve_index = true;
  std::string secret;      // cluster secret, required
  std::string public_url;  // default "http://<host>:<port>"
  PlacementPolicy placement = PlacementPolicy::kWeighted;
  // Copies of each image; with fewer usable servers an upload stores what
  // it can and the repairer adds the rest later.
  int replicas = 2;
  std::chrono::seconds repair_grace{600};
  int repair_concurrency = 4;
  int64_t repair_bytes_per_second = 64 * 1024 * 1024;
  std::string default_image_path;  // empty: the built-in one
  std::string admin_token;         // empty: admin endpoints open
  std::chrono::seconds heartbeat_timeout{6};
  uint64_t max_upload_bytes = 32 * 1024 * 1024;
  // Upload bodies held at once (received, being stored); past it an upload
  // gets 503 and Retry-After before its body is read. 0: 16 times
  // max_upload_bytes.
  uint64_t upload_memory = 0;
  int64_t max_pixels = 100'000'000;
  // A server with less free disk than this takes no new uploads.
  int64_t disk_reserve_bytes = 64 * 1024 * 1024;
  int io_threads = 1;
  // Uploads block on a node's sync and the database, so there are more
  // threads than cores; but every runnable one takes its share of the
  // cores, and with many a large upload's turn stretches with their number:
  // on 2 cores, 64 threads made real images' p99 at 64 connections 4 to 5
  // times what 16 do, at a lower rate. (Uploads of 64 KB at 64 connections
  // go faster with 64, their node syncing larger groups: a trade, see
  // docs/BENCHMARKS.md.)
  int worker_threads = DefaultWorkerThreads();

  static int DefaultWorkerThreads() {
    return std::max(16, 8 * int(std::thread::hardware_concurrency()));
  }
};

class NodeClient;
class ServerRegistry;
class Uploader;
class Resolver;
class Repairer;

// The tracker: owns the metadata store, the server registry (live health),
// the uploader and resolver, and the HTTP server. Start() opens the store
// and binds; Run() serves until SIGINT/SIGTERM or Stop().
class Tracker {
 public:
  static Result<std::unique_ptr<Tracker>> Start(const TrackerOptions& options);
  ~Tracker();

  void Run();
  void Stop();
  uint16_t port() const { return server_->port(); }

 private:
  explicit Tracker(const TrackerOptions& options);
  http::Router MakeRouter();
  // Refreshes server health from the store every second until Stop().
  void WatchLoop();
  // Runs repair rounds until Stop(): back to back while there is work,
  // once a second when idle.
  void RepairLoop();
  // Sleeps up to `d`; false once stopping.
  bool Wait(std::chrono::milliseconds d);

  TrackerOptions options_;
  const Clock& clock_ = SystemClock::Get();
  // An SQLite file's lock (flock), held while this tracker runs: one
  // tracker per file (docs/OPERATIONS.md). -1 on PostgreSQL.
  int db_lock_fd_ = -1;
  std::unique_ptr<MetadataStore> store_;
  // The store answers Locate from memory (IndexedStore): resolve and
  // redirect then run on the I/O thread, sparing two thread switches each.
  bool locate_in_memory_ = false;
  std::unique_ptr<ServerRegistry> registry_;
  std::unique_ptr<NodeClient> node_client_;
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<Repairer> repairer_;
  std::string default_image_;  // bytes
  SignatureVerifier verifier_;
  http::Metrics metrics_{"imgstore_tracker"};
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::Server> server_;

  std::mutex mutex_;  // guards stopping_ for the watch and repair threads
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread watcher_;
  std::thread repair_;
};

}  // namespace imgstore
