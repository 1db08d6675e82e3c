#include "tracker/uploader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>

#include "core/hex.h"
#include "core/image_probe.h"

namespace imgstore {

namespace {
// Placement attempts when the database finds a chosen server full after
// its copy was stored (concurrent uploads through several trackers).
constexpr int kPlacementAttempts = 4;
// Why no server is a candidate, as an operator would look for it.
std::string NoCandidateReason(const ServerView& servers) {
  if (servers.empty()) {
    return "no image server has joined: start a node with --tracker naming "
           "this tracker";
  }
  const auto usable =
      std::count_if(servers.begin(), servers.end(),
                    [](const ServerRow& s) { return s.flg_usable; });
  const auto active =
      std::count_if(servers.begin(), servers.end(), [](const ServerRow& s) {
        return s.flg_usable && s.state == ServerState::kActive;
      });
  if (usable == 0) return "no image server is up (no recent heartbeat)";
  if (active == 0)
    return "no server that is up is active (draining or "
           "disabled)";
  return "no active server has room (full, below the disk reserve, its root "
         "taking no file, or its last store failed)";
}

}  // namespace

std::vector<const ServerRow*> Uploader::Order(const ServerView& servers) {
  // The whole candidate list in pick order: the first `replicas` are the
  // choice, the rest the fallbacks when a store fails.
  std::vector<const ServerRow*> candidates =
      Candidates(servers, options_.disk_reserve_bytes);
  const size_t n = candidates.size();
  std::lock_guard lock(mutex_);
  return PickServers(std::move(candidates), options_.placement, n, rng_);
}

void Uploader::Discard(const ImagePath& path,
                       const std::vector<ServerRow>& holders) {
  for (const ServerRow& s : holders) {
    auto r = nodes_.Delete(s, path);
    if (r || r.error().code == ErrorCode::kNotFound) continue;
    // Queued, as for a store that failed: the repairer deletes it once the
    // server answers, as no copy of its image is recorded there. Should
    // even that fail, fsck finds it: a file with no record is harmless, a
    // record with no file would not be.
    const bool queued =
        store_
            .QueueFileDelete({s.server_id, path.relative}, clock_.NowSeconds())
            .has_value();
    spdlog::warn("upload {}: could not remove copy on server {} ({}); {}",
                 path.id.str(), s.server_id, r.error().message,
                 queued ? "queued for deletion" : "left for fsck");
  }
}

std::chrono::steady_clock::time_point Uploader::Lap(
    Stage stage, std::chrono::steady_clock::time_point since) {
  const auto now = std::chrono::steady_clock::now();
  stage_us_[size_t(stage)].fetch_add(
      uint64_t(
          std::chrono::duration_cast<std::chrono::microseconds>(now - since)
              .count()),
      std::memory_order_relaxed);
  return now;
}

Result<ImageRecord> Uploader::Upload(std::string_view bytes) {
  auto stored = Store(bytes, {}, /*if_new=*/false);
  if (!stored) return Fail(stored.error());
  return std::move(stored->record);
}

Result<Uploader::Outcome> Uploader::UploadIfNew(std::string_view bytes) {
  const auto start = std::chrono::steady_clock::now();
  std::string sha256 = Sha256Hex(bytes);
  Lap(Stage::kHash, start);
  auto ids = store_.FindBySha256(sha256);
  if (!ids) return Fail(ids.error());
  for (const ImageId& id : *ids) {
    auto found = store_.GetImage(id);
    if (found) return Outcome{*std::move(found), false};
    // Deleted since it was found: the next, or a new upload.
    if (found.error().code != ErrorCode::kNotFound) return Fail(found.error());
  }
  return Store(bytes, std::move(sha256), /*if_new=*/true);
}

Result<Uploader::Outcome> Uploader::Store(std::string_view bytes,
                                          std::string sha256, bool if_new) {
  auto lap = std::chrono::steady_clock::now();
  auto info = ProbeImage(bytes, options_.max_pixels);
  lap = Lap(Stage::kProbe, lap);
  if (!info) return Fail(info.error());
  // A store that cannot be read will not take the record either: refused
  // before any copy is made, so the outage leaves no file behind.
  if (auto down = registry_.RefreshError()) return Fail(*down);

  ImageRecord record{ImageId::New()};
  record.format = info->format;
  record.bytes = int64_t(bytes.size());
  record.width = info->width;
  record.height = info->height;
  record.sha256 = sha256.empty() ? Sha256Hex(bytes) : std::move(sha256);
  lap = Lap(Stage::kHash, lap);
  const ImagePath path = MakeImagePath(record.id, record.format);
  const size_t wanted = size_t(std::max(1, options_.replicas));

  std::string last_error;
  for (int attempt = 0; attempt < kPlacementAttempts; ++attempt) {
    const ServerView servers = registry_.Snapshot();
    if (last_error.empty()) last_error = NoCandidateReason(servers);
    std::vector<ServerRow> holders;
    // Servers whose nodes take no file this large are passed over; when
    // that is all of them, the image is too large for this cluster.
    std::vector<const ServerRow*> order = Order(servers);
    const size_t choices = order.size();
    std::erase_if(order, [&](const ServerRow* s) {
      return !TakesFile(*s, bytes.size());
    });
    if (choices > 0 && order.empty()) {
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("image of {} bytes is over the limit of every "
                              "server that could take it (their nodes' "
                              "--max-upload-bytes)",
                              bytes.size()));
    }
    for (const ServerRow* s : order) {
      if (holders.size() == wanted) break;
      auto put = nodes_.Put(*s, path, bytes);
      if (put) {
        holders.push_back(*s);
        continue;
      }
      // Retry on the next server. One that could not be reached gets no
      // more uploads until it beats again (logged there, once); other
      // refusals are worth a line each.
      retries_.fetch_add(1);
      last_error = put.error().message;
      if (put.error().code == ErrorCode::kInsufficientStorage) {
        // Full by a measure its heartbeat did not show (inodes, say): no
        // more uploads until it beats again.
        registry_.StoreFailed(s->server_id, put.error());
      } else if (put.error().code == ErrorCode::kUnavailable) {
        registry_.StoreFailed(s->server_id, put.error());
        // The node may have written the file before it failed to answer
        // (killed, hung): deleted once it is back, unless recorded there.
        (void)store_.QueueFileDelete({s->server_id, path.relative},
                                     clock_.NowSeconds());
      } else {
        spdlog::warn("upload {}: store on server {} failed, trying another: {}",
                     record.id.str(), s->server_id, put.error().message);
      }
    }
    lap = Lap(Stage::kStore, lap);
    if (holders.empty()) break;

    record.created_at = clock_.NowSeconds();
    record.placements.clear();
    for (const ServerRow& s : holders)
      record.placements.push_back({s.server_id, path.relative});
    // In the order the store gives them back: the copy the resolver picks
    // depends on it, and the 201's URL must be the one pages get later.
    std::sort(record.placements.begin(), record.placements.end(),
              [](const Placement& a, const Placement& b) {
                return a.server_id < b.server_id;
              });
    // if_new: the record is made unless the bytes were recorded meanwhile
    // (by a concurrent upload of them, through any tracker).
    std::optional<ImageId> stored_as;
    Result<void> added = [&]() -> Result<void> {
      if (!if_new) return store_.AddImage(record);
      auto r = store_.AddImageIfNew(record);
      if (!r) return Fail(r.error());
      stored_as = *r;
      return {};
    }();
    lap = Lap(Stage::kRecord, lap);
    if (stored_as) {
      Discard(path, holders);
      auto found = store_.GetImage(*stored_as);
      if (!found) return Fail(found.error());
      return Outcome{*std::move(found), false};
    }
    bool recorded = added.has_value();
    if (!recorded && (added.error().code == ErrorCode::kUnavailable ||
                      added.error().code == ErrorCode::kIo)) {
      // The connection may have died after the commit was sent, with the
      // record in place: ask. Files of an image that is recorded stay; so
      // do those of one nobody can tell about (fsck finds them orphans).
      auto found = store_.GetImage(record.id);
      recorded = found.has_value();
      if (!found && found.error().code != ErrorCode::kNotFound) {
        spdlog::warn(
            "upload {}: not known to be recorded ({}); its copies wait for "
            "the database to say",
            record.id.str(), added.error().message);
        std::lock_guard lock(mutex_);
        for (const ServerRow& s : holders)
          unrecorded_.push_back({s.server_id, path.relative});
        return Fail(added.error());
      }
    }
    if (recorded) {
      for (const ServerRow& s : holders) registry_.AdjustCount(s.server_id, 1);
      if (holders.size() < wanted) {
        // Acknowledged with what exists; the repairer adds the rest. Should
        // this fail, its sweep finds the image anyway.
        if (auto q = store_.QueueRepair(record.id, record.created_at); !q) {
          spdlog::warn("upload {}: {}", record.id.str(), q.error().message);
        }
        if (short_logged_.Due()) {
          spdlog::warn(
              "upload {}: stored with {} of {} copies, no other server could "
              "take one; repair adds the rest when one can (said once per "
              "minute)",
              record.id.str(), holders.size(), wanted);
        }
      }
      return Outcome{std::move(record), true};
    }
    Discard(path, holders);
    if (added.error().code != ErrorCode::kInsufficientStorage)
      return Fail(added.error());
    // Another tracker filled a server first: see the real counts, retry.
    // Unless none is full: then the disk that is full is the database's.
    if (auto r = registry_.Refresh(); !r) return Fail(r.error());
    const bool server_full =
        std::any_of(holders.begin(), holders.end(), [&](const ServerRow& s) {
          auto now = registry_.Find(s.server_id);
          return !now || now->cur_pic_amount >= now->max_pic_amount;
        });
    if (!server_full) return Fail(added.error());
    last_error = added.error().message;
    retries_.fetch_add(1);
  }
  return Fail(ErrorCode::kUnavailable,
              "no server can take the image: " + last_error);
}

size_t Uploader::SettleUnrecorded() {
  std::vector<FileDelete> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(unrecorded_);
  }
  if (waiting.empty()) return 0;
  // The repairer's file deletions judge them: a file is deleted unless a
  // copy of its image is recorded on that server (DeleteForgottenFiles).
  std::vector<FileDelete> still;
  for (FileDelete& f : waiting) {
    if (!store_.QueueFileDelete(f, clock_.NowSeconds())) still.push_back(f);
  }
  const size_t queued = waiting.size() - still.size();
  if (queued > 0) {
    spdlog::info(
        "upload: {} copies of uploads not known to be recorded are queued "
        "for deletion, done unless their image is recorded",
        queued);
  }
  std::lock_guard lock(mutex_);
  for (FileDelete& f : still) unrecorded_.push_back(std::move(f));
  return queued;
}

}  // namespace imgstore
