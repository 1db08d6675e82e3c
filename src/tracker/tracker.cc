#include "tracker/tracker.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/image_probe.h"
#include "core/signing.h"
#include "http/client.h"
#include "meta/indexed_store.h"
#include "tracker/node_client.h"
#include "tracker/pages.h"
#include "tracker/repairer.h"
#include "tracker/resolver.h"
#include "tracker/server_registry.h"
#include "tracker/uploader.h"

namespace imgstore {

namespace {

// The address the tracker listens on is reachable from this host only.
bool IsLoopback(const std::string& host) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  return ec ? host == "localhost" : address.is_loopback();
}

}  // namespace

Result<std::unique_ptr<Tracker>> Tracker::Start(const TrackerOptions& options) {
  if (options.secret.empty())
    return Fail(ErrorCode::kInvalidArgument, "--secret is required");
  if (const std::string weak = SecretWeakness(options.secret); !weak.empty())
    spdlog::warn("tracker: {}", weak);
  std::unique_ptr<Tracker> t(new Tracker(options));
  auto& o = t->options_;

  if (o.default_image_path.empty()) {
    t->default_image_ = std::string(pages::BuiltinDefaultImage());
  } else {
    std::ifstream in(o.default_image_path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    t->default_image_ = bytes.str();
    if (!in || !SniffFormat(t->default_image_)) {
      return Fail(
          ErrorCode::kInvalidArgument,
          "--default-image " + o.default_image_path + ": not a readable image");
    }
  }

  // A second tracker on one SQLite file would keep its own resolve index
  // and health: images uploaded through one go missing on the other.
  constexpr std::string_view kSqlite = "sqlite:";
  if (std::string_view(o.db_url).starts_with(kSqlite)) {
    const std::string path = o.db_url.substr(kSqlite.size());
    t->db_lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t->db_lock_fd_ < 0) {
      return Fail(ErrorCode::kIo, fmt::format("open database {}: {}", path,
                                              std::strerror(errno)));
    }
    if (::flock(t->db_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return Fail(ErrorCode::kConflict,
                  fmt::format("database {} is in use by another tracker: one "
                              "tracker per SQLite file (several trackers "
                              "share a PostgreSQL database)",
                              path));
    }
  }

  const auto opening = std::chrono::steady_clock::now();
  auto store = OpenMetadataStore(
      o.db_url, MetadataStoreOptions{.resolve_index = o.resolve_index});
  if (!store) return Fail(store.error());
  t->store_ = std::move(*store);
  if (auto* index = dynamic_cast<IndexedStore*>(t->store_.get())) {
    t->locate_in_memory_ = true;
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - opening;
    spdlog::info("tracker: resolve index of {} images ({:.1f} MB) in {:.1f} s",
                 index->size(), double(index->memory_bytes()) / 1e6,
                 took.count());
  }
  t->registry_ = std::make_unique<ServerRegistry>(*t->store_, t->clock_,
                                                  o.heartbeat_timeout);
  if (auto r = t->registry_->Refresh(); !r) return Fail(r.error());
  t->node_client_ = std::make_unique<HttpNodeClient>(o.secret, t->clock_);

  http::ServerOptions server;
  server.host = o.host;
  server.port = o.port;
  server.io_threads = o.io_threads;
  server.worker_threads = o.worker_threads;
  server.max_body_bytes = o.max_upload_bytes;
  server.body_memory =
      o.upload_memory != 0 ? o.upload_memory : 16 * o.max_upload_bytes;
  t->router_ = std::make_unique<http::Router>(std::vector<http::Route>{});
  auto listening = http::Server::Listen(server, *t->router_, t->metrics_);
  if (!listening) return Fail(listening.error());
  t->server_ = std::move(*listening);
  t->server_->VerifyWith(t->verifier_);
  if (o.public_url.empty()) {
    o.public_url = http::ListenUrl(o.host, t->server_->port());
    if (http::IsAnyAddress(o.host)) {
      spdlog::warn(
          "tracker: listening on every address without --public-url: "
          "browsers get the default image at {}/default-image, which works "
          "only on this machine; give --public-url http://HOST:PORT",
          o.public_url);
    }
  }
  while (!o.public_url.empty() && o.public_url.back() == '/')
    o.public_url.pop_back();

  UploaderOptions uploads;
  uploads.placement = o.placement;
  uploads.replicas = o.replicas;
  uploads.max_pixels = o.max_pixels;
  uploads.disk_reserve_bytes = o.disk_reserve_bytes;
  t->uploader_ = std::make_unique<Uploader>(
      *t->store_, *t->registry_, *t->node_client_, t->clock_, uploads);
  RepairOptions repair;
  repair.replicas = o.replicas;
  repair.grace = o.repair_grace;
  repair.placement = o.placement;
  repair.disk_reserve_bytes = o.disk_reserve_bytes;
  repair.concurrency = o.repair_concurrency;
  repair.bytes_per_second = o.repair_bytes_per_second;
  // Unique per process: a restarted tracker is a new holder, and waits out
  // its predecessor's lease like anyone else.
  repair.holder = o.public_url + "#" + ImageId::New().str();
  t->repairer_ = std::make_unique<Repairer>(
      *t->store_, *t->registry_, *t->node_client_, t->clock_, repair);
  if (auto r = t->repairer_->AdoptReplicas(); !r) return Fail(r.error());
  t->resolver_ = std::make_unique<Resolver>(*t->store_, *t->registry_,
                                            o.public_url + "/default-image");
  // The routes need the public URL, known only once bound (port 0); the
  // server reads its router only once Run() starts.
  *t->router_ = t->MakeRouter();

  auto* raw = t.get();
  t->metrics_.AddCounter("upload_retries_total",
                         "Stores retried on another server.",
                         [raw] { return double(raw->uploader_->retries()); });
  std::vector<http::Metrics::Series> stages;
  for (size_t i = 0; i < Uploader::kStageNames.size(); ++i) {
    stages.push_back(
        {fmt::format("stage=\"{}\"", Uploader::kStageNames[i]), [raw, i] {
           return raw->uploader_->StageSeconds(Uploader::Stage(i));
         }});
  }
  t->metrics_.AddCounter(
      "upload_stage_seconds_total",
      "Time uploads spent checking, hashing, storing and recording images.",
      std::move(stages));
  t->metrics_.AddGauge(
      "store_up",
      "1 while the metadata store answers (the server table can be read).",
      [raw] { return raw->registry_->RefreshError() ? 0.0 : 1.0; });
  t->metrics_.AddGauge("servers_usable", "Servers whose heartbeat is current.",
                       [raw] {
                         double n = 0;
                         for (const ServerRow& s : raw->registry_->Snapshot())
                           n += s.flg_usable;
                         return n;
                       });
  // Each server's health, labelled by id and name (names are plain:
  // CheckServerName).
  struct ServerGauge {
    const char* name;
    const char* help;
    double (*read)(const ServerRow&, const Tracker&);
  };
  for (const ServerGauge& g : {
           ServerGauge{"server_usable",
                       "1 while the server's heartbeat is "
                       "current.",
                       [](const ServerRow&s, const Tracker&) {
                         return double(s.flg_usable);
                       }},
           ServerGauge{"server_takes_uploads",
                       "1 while the server gets new images.",
                       [](const ServerRow&s, const Tracker&tr) {
                         return double(tr.registry_->TakesUploads(
                             s, tr.options_.disk_reserve_bytes));
                       }},
           ServerGauge{"server_images", "Copies recorded on the server.",
                       [](const ServerRow&s, const Tracker&) {
                         return double(s.cur_pic_amount);
                       }},
           ServerGauge{"server_capacity", "The server's max_pic_amount.",
                       [](const ServerRow&s, const Tracker&) {
                         return double(s.max_pic_amount);
                       }},
           ServerGauge{"server_disk_free_bytes",
                       "Free bytes on the server's disk, as last reported.",
                       [](const ServerRow&s, const Tracker&) {
                         return double(s.disk_free_bytes);
                       }},
           ServerGauge{"server_heartbeat_age_seconds",
                       "Seconds since the server's last heartbeat (-1: none).",
                       [](const ServerRow&s, const Tracker&tr) {
                         return double(tr.registry_->HeartbeatAgeSeconds(s));
                       }},
       }) {
    t->metrics_.AddGauges(g.name, g.help, [raw, read = g.read] {
      std::vector<http::Metrics::Sample> out;
      for (const ServerRow& s : raw->registry_->Snapshot()) {
        if (s.state == ServerState::kRemoved) continue;
        out.push_back({fmt::format("server_id=\"{}\",server_name=\"{}\"",
                                   s.server_id, s.server_name),
                       read(s, *raw)});
      }
      return out;
    });
  }
  t->metrics_.AddGauge(
      "repair_backlog", "Copies known to be missing or to move away.",
      [raw] { return double(raw->repairer_->Status().backlog); });
  t->metrics_.AddGauge(
      "repair_waiting_images",
      "Images whose repair waits for a server able to take a copy.",
      [raw] { return double(raw->repairer_->Status().waiting); });
  t->metrics_.AddGauge(
      "repair_unreadable_images",
      "Images short of copies with no copy that reads back good.",
      [raw] { return double(raw->repairer_->Status().unreadable); });
  struct RepairCounter {
    const char* name;
    const char* help;
    int64_t RepairStatus::*field;
  };
  for (const RepairCounter& c : {
           RepairCounter{"repair_copies_made_total", "Copies added by repair.",
                         &RepairStatus::copies_made},
           RepairCounter{"repair_copies_retired_total",
                         "Copies retired (drained, lost, corrupt, extra).",
                         &RepairStatus::copies_dropped},
           RepairCounter{"repair_corrupt_total",
                         "Copies found not to match sha256, or missing.",
                         &RepairStatus::corrupt},
           RepairCounter{"repair_failures_total", "Copy attempts that failed.",
                         &RepairStatus::failures},
           RepairCounter{"rebalance_moves_total", "Copies moved by rebalance.",
                         &RepairStatus::moved},
       }) {
    t->metrics_.AddCounter(c.name, c.help, [raw, field = c.field] {
      return double(raw->repairer_->Status().*field);
    });
  }
  t->metrics_.AddGauge(
      "repair_leader", "1 while this tracker holds the repair lease.",
      [raw] { return double(raw->repairer_->Status().leader); });
  return t;
}

Tracker::Tracker(const TrackerOptions& options)
    : options_(options), verifier_(options.secret, SystemClock::Get()) {}

Tracker::~Tracker() {
  Stop();
  if (db_lock_fd_ >= 0) ::close(db_lock_fd_);
}

void Tracker::WatchLoop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, std::chrono::seconds(1),
                         [this] { return stopping_; }))
        return;
    }
    // Once the server drains it takes no heartbeats: silence then says
    // nothing of the nodes, so nobody is called lost for it.
    if (server_->Stopping()) continue;
    // Logs a failure, and the recovery, once.
    if (registry_->Refresh()) uploader_->SettleUnrecorded();
  }
}

bool Tracker::Wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

void Tracker::RepairLoop() {
  bool failing = false;
  // Copies made and retired are logged as totals, every 10 s while they
  // change (each copy is a debug line).
  constexpr auto kReportEvery = std::chrono::seconds(10);
  RepairStatus reported = repairer_->Status();
  auto reported_at = std::chrono::steady_clock::now();
  for (auto pause = std::chrono::milliseconds(1000); Wait(pause);) {
    auto changed = repairer_->RunOnce();
    if (!changed && !failing) {
      spdlog::warn("repair: round failed: {}", changed.error().message);
    } else if (changed && failing) {
      spdlog::info("repair: rounds run again");
    }
    failing = !changed;
    pause = std::chrono::milliseconds(changed && *changed > 0 ? 0 : 1000);
    const auto now = std::chrono::steady_clock::now();
    if (now - reported_at < kReportEvery) continue;
    const RepairStatus status = repairer_->Status();
    const int64_t made = status.copies_made - reported.copies_made;
    const int64_t dropped = status.copies_dropped - reported.copies_dropped;
    if (made > 0 || dropped > 0) {
      spdlog::info(
          "repair: {} copies made, {} retired in the last {} s; {} to go", made,
          dropped,
          std::chrono::duration_cast<std::chrono::seconds>(now - reported_at)
              .count(),
          status.backlog);
    }
    reported = status;
    reported_at = now;
  }
}

void Tracker::Run() {
  spdlog::info(
      "tracker: listening on {}:{} as {}, with {} ({} placement, {} {} of "
      "each image)",
      options_.host, server_->port(), options_.public_url,
      RedactStoreUrl(options_.db_url),
      options_.placement == PlacementPolicy::kRandom ? "random" : "weighted",
      options_.replicas, options_.replicas == 1 ? "copy" : "copies");
  if (options_.admin_token.empty() && !IsLoopback(options_.host)) {
    spdlog::warn(
        "tracker: no --admin-token: anyone who reaches {}:{} may delete "
        "images and add, drain or remove servers",
        options_.host, server_->port());
  }
  watcher_ = std::thread([this] { WatchLoop(); });
  repair_ = std::thread([this] { RepairLoop(); });
  server_->Run();
  Stop();
  spdlog::info("tracker: stopped");
}

void Tracker::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (server_) server_->Stop();
  for (std::thread* t : {&watcher_, &repair_}) {
    if (t->joinable() && t->get_id() != std::this_thread::get_id()) t->join();
  }
  if (repairer_ && !repair_.joinable()) repairer_->ReleaseLease();
}

}  // namespace imgstore
