#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"
#include "core/image_record.h"
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

  uint64_t retries() const { return retries_.load(); }

 private:
  std::vector<const ServerRow*> Order(const ServerView& servers);
  void Discard(const ImagePath& path, const std::vector<ServerRow>& holders);

  MetadataStore& store_;
  ServerRegistry& registry_;
  NodeClient& nodes_;
  const Clock& clock_;
  const UploaderOptions options_;
  std::atomic<uint64_t> retries_{0};

  std::mutex mutex_;  // guards rng_
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace imgstore
