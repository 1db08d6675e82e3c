#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"
#include "core/image_record.h"
#include "core/log_every.h"
#include "core/placement.h"
#include "meta/metadata_store.h"
#include "tracker/node_client.h"
#include "tracker/server_registry.h"

namespace imgstore {

struct UploaderOptions {
  PlacementPolicy placement = PlacementPolicy::kWeighted;
  int replicas = 1;
  int64_t max_pixels = 100'000'000;
  int64_t disk_reserve_bytes = 64 * 1024 * 1024;
};

// One upload, start to finish: probe -> place -> signed PUT (retrying on
// other servers) -> record image, placements and cur_pic_amount in one
// transaction. A failed upload leaves no row and no file: copies already
// stored are deleted again. Thread-safe (mutex_ guards rng_); blocks: runs
// on the tracker's worker threads.
class Uploader {
 public:
  Uploader(MetadataStore& store, ServerRegistry& registry, NodeClient& nodes,
           const Clock& clock, const UploaderOptions& options)
      : store_(store),
        registry_(registry),
        nodes_(nodes),
        clock_(clock),
        options_(options) {}

  // Errors: kUnsupportedMedia, kUndecodable (from the probe); kUnavailable
  // when no server can take it (503); kInternal/kIo from the store.
  Result<ImageRecord> Upload(std::string_view bytes);

  // Upload, unless an image with these bytes (by sha256) is stored already:
  // then that image's record, `created` false, and nothing is kept. Of
  // concurrent ones for the same bytes, through any trackers, exactly one
  // stores them (`imgstore import` run twice at once): the record is made
  // only if the bytes are not recorded (MetadataStore::AddImageIfNew), and
  // the copies of one that lost are deleted again. Bytes recorded already
  // are found before any copy is made.
  struct Outcome {
    ImageRecord record;
    bool created = true;
  };
  Result<Outcome> UploadIfNew(std::string_view bytes);

  uint64_t retries() const { return retries_.load(); }

  // Uploads whose record failed in a way that cannot tell whether it was
  // written (the database went away mid-commit) keep their copies until
  // the database answers: then the copies are queued as file deletions,
  // which the repairer carries out unless the image is recorded there
  // (the same check as for any queued file). Call when the store answers
  // again (the tracker does after each good refresh); a no-op when none
  // wait. Returns how many copies were queued.
  size_t SettleUnrecorded();

  // Where uploads spend their time, summed over every upload since start
  // (for /metrics): checking the image, hashing it, storing it on nodes
  // (retries included), and recording it in the database.
  enum class Stage { kProbe, kHash, kStore, kRecord };
  static constexpr std::array<std::string_view, 4> kStageNames = {
      "probe", "hash", "store", "record"};
  double StageSeconds(Stage stage) const {
    return double(stage_us_[size_t(stage)].load(std::memory_order_relaxed)) /
           1e6;
  }

 private:
  // Upload's work, with the body's sha256 when the caller has it already;
  // `if_new`: recorded unless the bytes are (UploadIfNew).
  Result<Outcome> Store(std::string_view bytes, std::string sha256,
                        bool if_new);
  std::vector<const ServerRow*> Order(const ServerView& servers);
  void Discard(const ImagePath& path, const std::vector<ServerRow>& holders);
  // Adds the time since `since` to `stage` and returns now.
  std::chrono::steady_clock::time_point Lap(
      Stage stage, std::chrono::steady_clock::time_point since);

  MetadataStore& store_;
  ServerRegistry& registry_;
  NodeClient& nodes_;
  const Clock& clock_;
  const UploaderOptions options_;
  std::atomic<uint64_t> retries_{0};
  LogEvery short_logged_{std::chrono::seconds(60)};  // fewer copies than wanted
  std::array<std::atomic<uint64_t>, kStageNames.size()> stage_us_{};

  std::mutex mutex_;  // guards rng_ and unrecorded_
  std::mt19937_64 rng_{std::random_device{}()};
  std::vector<FileDelete> unrecorded_;  // copies waiting for the database
};

}  // namespace imgstore
