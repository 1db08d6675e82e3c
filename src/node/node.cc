#include "node/node.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/server.h"
#include "core/signing.h"
#include "http/client.h"
#include "http/signed.h"

namespace imgstore {

Result<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  if (options.root.empty())
    return Fail(ErrorCode::kInvalidArgument, "--root is required");
  if (options.secret.empty())
    return Fail(ErrorCode::kInvalidArgument, "--secret is required");
  if (const std::string weak = SecretWeakness(options.secret); !weak.empty())
    spdlog::warn("node: {}", weak);
  std::unique_ptr<Node> node(new Node(options));
  // Absolute, as it is reported to trackers and shown on the dashboard: a
  // relative root means nothing away from where the node was started.
  std::error_code ec;
  const std::filesystem::path root =
      std::filesystem::absolute(options.root, ec).lexically_normal();
  if (ec) return Fail(ErrorCode::kInvalidArgument, "--root: " + ec.message());
  node->options_.root = root.string();
  while (node->options_.root.size() > 1 && node->options_.root.back() == '/')
    node->options_.root.pop_back();
  std::error_code missing;
  const bool existed = std::filesystem::exists(node->options_.root, missing);
  auto store = FileStore::Open(node->options_.root, options.max_pics,
                               options.disk_reserve_bytes);
  if (!store) return Fail(store.error());
  if (!existed) {
    // Said loudly: a mistyped --root would otherwise join the cluster as
    // a new, empty server on whatever disk holds that path.
    spdlog::warn(
        "root {} did not exist: created it, empty (if this node should "
        "already hold images, stop it and fix --root)",
        node->options_.root);
  }
  node->store_ = std::move(*store);
  node->router_ = std::make_unique<http::Router>(node->MakeRouter());

  http::ServerOptions server;
  server.host = options.host;
  server.port = options.port;
  server.io_threads = options.io_threads;
  server.worker_threads = options.worker_threads;
  server.max_body_bytes = options.max_body_bytes;
  server.any_origin = true;
  auto listening = http::Server::Listen(server, *node->router_, node->metrics_);
  if (!listening) return Fail(listening.error());
  node->server_ = std::move(*listening);

  auto& o = node->options_;
  // Without --name, the name this root had: a node moved to another port
  // stays the same server (the tracker follows it to its new URL).
  if (o.name.empty()) {
    o.name = node->store_->SavedName();
    if (!CheckServerName(o.name))
      o.name = "node-" + std::to_string(node->server_->port());
  }
  if (auto saved = node->store_->SaveName(o.name); !saved) {
    spdlog::warn("node {}: cannot keep its name in the root: {}", o.name,
                 saved.error().message);
  }
  if (o.public_url.empty()) {
    o.public_url = http::ListenUrl(o.host, node->server_->port());
    if (http::IsAnyAddress(o.host)) {
      spdlog::warn(
          "node {}: listening on every address without --public-url: "
          "browsers get image URLs at {}, which work only on this machine; "
          "give --public-url http://HOST:PORT",
          o.name, o.public_url);
    }
  }
  while (!o.public_url.empty() && o.public_url.back() == '/')
    o.public_url.pop_back();
  while (!o.internal_url.empty() && o.internal_url.back() == '/')
    o.internal_url.pop_back();
  if (o.internal_url.empty() && o.public_url.rfind("https://", 0) == 0) {
    // Trackers speak plain HTTP: browsers get the https URL (a proxy in
    // front), trackers the node itself.
    if (http::IsAnyAddress(o.host)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--public-url is https://: give --internal-url "
                  "http://HOST:PORT, where trackers reach this node");
    }
    o.internal_url = http::ListenUrl(o.host, node->server_->port());
  }
  if (o.internal_url.empty()) {
    // This node serves at its root: a public URL with a path works only
    // behind a proxy that maps that path to it, for writes too.
    auto url = http::ParseUrl(o.public_url);
    if (url && url->path != "/" && !url->path.empty()) {
      spdlog::warn(
          "node {}: --public-url has a path ({}) and there is no "
          "--internal-url: trackers will store at {}/aa/bb/..., which works "
          "only if a proxy maps that path to this node; else give "
          "--internal-url http://HOST:PORT",
          o.name, url->path, o.public_url);
    }
  }

  // Signed requests must name one of this node's own URLs: one meant for
  // another node is refused here (core/signing.h).
  std::vector<std::string> targets;
  for (const std::string& own : {o.public_url, o.internal_url}) {
    auto url = http::ParseUrl(own);
    if (url) targets.push_back(http::SignatureTarget(*url));
  }
  node->verifier_ = std::make_unique<SignatureVerifier>(o.secret, node->clock_,
                                                        std::move(targets));
  node->server_->VerifyWith(*node->verifier_);

  ScrubberOptions scrub;
  scrub.tracker_urls = o.tracker_urls;
  scrub.secret = o.secret;
  scrub.name = o.name;
  scrub.public_url = o.public_url;
  scrub.rate_bytes_per_s = o.scrub_rate_bytes_per_s;
  scrub.interval = o.scrub_interval;
  node->scrubber_ = std::make_unique<Scrubber>(std::move(scrub), *node->store_,
                                               node->metrics_, node->clock_);

  auto* raw = node.get();
  node->metrics_.AddGauge("images", "Images stored.",
                          [raw] { return double(raw->store_->images()); });
  node->metrics_.AddGauge("bytes_used", "Bytes of stored images.",
                          [raw] { return double(raw->store_->bytes_used()); });
  node->metrics_.AddGauge(
      "disk_free_bytes", "Free bytes on the root's file system.",
      [raw] { return double(raw->store_->DiskFreeBytes()); });
  // Writes made durable per sync = PUTs and DELETEs over this.
  node->metrics_.AddCounter(
      "group_syncs_total",
      "Group syncs run so far (each served one or more writes).",
      [raw] { return double(raw->store_->sync_runs()); });
  return node;
}

Node::Node(const NodeOptions& options) : options_(options) {}

Node::~Node() {
  Stop();
  // A sync still running posts its answers to the server's I/O context:
  // let it finish before the server, declared after the store, goes.
  if (store_) store_->syncs().WaitIdle();
}

NodeStatus Node::Status() const {
  NodeStatus s;
  s.name = options_.name;
  s.url = options_.public_url;
  s.internal_url = options_.internal_url;
  s.root = store_->root();
  s.images = store_->images();
  s.bytes_used = store_->bytes_used();
  s.disk_free_bytes = store_->DiskFreeBytes();
  s.disk_reserve_bytes = options_.disk_reserve_bytes;
  s.max_upload_bytes = int64_t(options_.max_body_bytes);
  s.max_pics = store_->max_pics();
  {
    std::lock_guard lock(mutex_);
    s.write_error = write_error_;
  }
  s.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now() - started_)
                   .count();
  s.version = IMGSTORE_VERSION;
  s.heartbeat_s = std::max<int64_t>(1, options_.heartbeat_interval.count());
  return s;
}

void Node::Run() {
  spdlog::info("node {}: serving {} on {}:{} as {} ({} images)", options_.name,
               store_->root(), options_.host, server_->port(),
               options_.public_url, store_->images());
  if (!options_.tracker_urls.empty())
    heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  scrubber_->Start();
  server_->Run();
  Stop();
  spdlog::info("node {}: stopped", options_.name);
}

void Node::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (server_) server_->Stop();
  if (scrubber_) scrubber_->Stop();
  if (heartbeat_.joinable() &&
      heartbeat_.get_id() != std::this_thread::get_id())
    heartbeat_.join();
}

}  // namespace imgstore
