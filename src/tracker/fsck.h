#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "meta/metadata_store.h"
#include "tracker/node_client.h"
#include "tracker/server_registry.h"

namespace imgstore {

struct FsckOptions {
  bool fix = false;
  // Files younger than this are never called orphans: an upload or a
  // repair stores the file first and records it a moment later.
  std::chrono::seconds min_age{3600};
  // Paths listed per server in the report (all are counted).
  size_t max_listed = 100;
};

// What fsck found on one server.
struct FsckServer {
  int64_t server_id = 0;
  std::string server_name;
  std::string error;    // non-empty: not checked (unreachable, listing refused)
  int64_t files = 0;    // files the node holds
  int64_t copies = 0;   // copies the store says it holds
  int64_t orphans = 0;  // files with no record
  int64_t missing = 0;  // records with no file
  int64_t fixed = 0;    // orphans deleted plus missing copies forgotten
  // Files not recorded here whose image is recorded at that path on a
  // server that may hold this very file (the same root, or down), or on
  // one that lacks it: never deleted.
  int64_t kept = 0;
  std::vector<std::string> orphan_paths;
  std::vector<std::string> missing_paths;
  std::vector<std::string> kept_paths;  // "PATH (why)"
};

// Compares every usable server's files (its signed listing) with the copies
// the store records for it, both walked in path order side by side, so a
// server of any size costs two sequential scans. A file not recorded on
// its server is an orphan, unless its image is recorded at that path on a
// server that may hold this very file or lacks it (reported as kept, never
// deleted). With `fix`: orphans old enough are deleted from the node; a missing
// copy (confirmed by a second look) is forgotten and its image queued for
// repair, unless it was the image's last copy, which the store keeps (and fsck
// reports). Blocks.
Result<std::vector<FsckServer>> RunFsck(MetadataStore& store,
                                        ServerRegistry& registry,
                                        NodeClient& nodes, const Clock& clock,
                                        const FsckOptions& options);

}  // namespace imgstore
