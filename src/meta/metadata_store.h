#pragma once

#include <fmt/format.h>

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/image_record.h"
#include "core/server.h"

namespace imgstore {

// A file a server still holds for a copy that is forgotten.
struct FileDelete {
  int64_t server_id = 0;
  std::string relative_path;
};

// What a heartbeat or an operator tells the store about a server.
struct ServerUpdate {
  std::optional<ServerState> state;
  std::optional<int64_t> max_pic_amount;
};

// One copy as a server's listing names it.
struct ServerCopy {
  ImageId id;
  std::string relative_path;
};

// Where an image's copies are, as resolve needs them: the servers holding
// one, ascending (never empty: every image has a copy), and the format, so
// each copy's relative path is MakeImagePath(id, format).relative.
// The ids inline, with no allocation of their own for up to four copies: a
// resolve reads a hundred locations a call.
using ServerIds = boost::container::small_vector<int64_t, 4>;

struct ImageLocation {
  ImageId id;
  ImageFormat format = ImageFormat::kJpeg;
  ServerIds server_ids;
};

// Totals for `imgstore stats` and /metrics.
struct StoreStats {
  int64_t images = 0;
  int64_t placements = 0;
  int64_t bytes = 0;  // sum of image sizes (one copy each)
};

// The tracker's metadata: the server table, the image table and its
// placements, in domain words. Callers never see SQL. Implementations
// (SQLite, PostgreSQL) are thread-safe, block on I/O (call them from worker
// threads, never I/O threads), and on any error leave the store unchanged.
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // ---- servers ----

  // Every server that is not `removed`, ordered by server_id.
  virtual Result<std::vector<ServerRow>> ListServers() = 0;

  // Adds a server by URL (operator, ahead of its first heartbeat). New rows
  // start active, not usable, with max_pic_amount as given. A removed
  // server with that URL is let back in: active again, its row otherwise
  // unchanged. kConflict when a server that is not removed has the URL.
  virtual Result<ServerRow> AddServer(const std::string& name,
                                      const std::string& url,
                                      int64_t max_pic_amount) = 0;

  // Records a heartbeat: finds the server by URL, else by name among those
  // not removed, else creates it (a node joins by its first valid
  // heartbeat). Updates name, url, root, disk_free_bytes, bytes_used,
  // last_heartbeat_at = now, flg_usable = true, and max_pic_amount from the
  // node's --max-pics when that differs from what the node reported before
  // (so an operator's UpdateServer holds until the node is restarted with a
  // new --max-pics). Returns the row after the update. kForbidden, changing
  // nothing, when the URL's server was removed: an operator's removal
  // stands until AddServer lets it back in.
  virtual Result<ServerRow> RecordHeartbeat(
      const std::string& name, const std::string& url, const std::string& root,
      int64_t max_pic_amount, int64_t disk_free_bytes, int64_t bytes_used,
      int64_t now) = 0;

  // Sets the URL trackers store at (empty: server_url), as the node's
  // heartbeat reports it. kNotFound for an unknown id.
  virtual Result<void> SetInternalUrl(int64_t server_id,
                                      const std::string& url) = 0;

  // Sets flg_usable (heartbeat timeout noticed or cleared).
  virtual Result<void> SetUsable(int64_t server_id, bool usable) = 0;

  // Operator change of state or capacity. kNotFound for an unknown id,
  // kConflict for a removed one (AddServer lets it back in). A conflict
  // for max_pic_amount below cur_pic_amount is NOT raised: the
  // server simply takes no more until it falls below.
  virtual Result<ServerRow> UpdateServer(int64_t server_id,
                                         const ServerUpdate& update) = 0;

  // Marks a server removed. kNotFound for unknown; kConflict while any
  // placement still names it.
  virtual Result<void> RemoveServer(int64_t server_id) = 0;

  // ---- images ----

  // Records an image and its placements in one transaction, bumping
  // cur_pic_amount of every placement's server by one — but only while it
  // is below max_pic_amount: when any server is full, nothing is written and
  // the error is kInsufficientStorage naming that server (so the caller can
  // delete its copy and try another). kConflict if the id exists.
  virtual Result<void> AddImage(const ImageRecord& image) = 0;

  // AddImage, unless an image with the same sha256 is recorded: then
  // nothing is written and the id of such an image is returned (nullopt:
  // this one was added). Of concurrent calls for the same bytes, through
  // any number of trackers, exactly one adds.
  virtual Result<std::optional<ImageId>> AddImageIfNew(
      const ImageRecord& image) = 0;

  // The image with its placements; kNotFound when unknown.
  virtual Result<ImageRecord> GetImage(const ImageId& id) = 0;

  // The known images among `ids`, with placements, in one query; unknown
  // ids are simply absent. Order unspecified.
  virtual Result<std::vector<ImageRecord>> GetImages(
      const std::vector<ImageId>& ids) = 0;

  // Resolve's query: the locations of the known images among `ids`, each
  // once, in id order; unknown ids are simply absent. Reads only the
  // placements (one lookup per id), not the image rows.
  virtual Result<std::vector<ImageLocation>> Locate(
      const std::vector<ImageId>& ids) = 0;

  // Ids of images whose bytes have this sha256 (lower-case hex).
  virtual Result<std::vector<ImageId>> FindBySha256(
      const std::string& sha256) = 0;

  // Deletes the image and its placements, decrementing each server's
  // cur_pic_amount, in one transaction; returns what was deleted so the
  // caller can delete the files. kNotFound when unknown.
  virtual Result<ImageRecord> DeleteImage(const ImageId& id) = 0;

  // Newest first, skipping `offset`, up to `limit` images with their
  // placements; for the gallery and its pages.
  virtual Result<std::vector<ImageRecord>> RecentImages(int64_t limit,
                                                        int64_t offset) = 0;

  virtual Result<StoreStats> Stats() = 0;

  // ---- copies: repair, drain, rebalance, fsck ----

  // Records one more copy of an existing image, bumping the server's
  // cur_pic_amount only while it is below max_pic_amount (else
  // kInsufficientStorage and nothing written). kNotFound when the image is
  // gone (deleted meanwhile); kConflict when that server already holds it.
  virtual Result<void> AddPlacement(const ImageId& id,
                                    const Placement& placement) = 0;

  // Forgets one copy, decrementing the server's count. kNotFound when that
  // server holds no copy of the image; kConflict when it is the image's last
  // copy: the store never forgets where the only copy of an image is.
  virtual Result<void> RemovePlacement(const ImageId& id,
                                       int64_t server_id) = 0;

  // The copies one server holds, in byte order of relative path, after
  // `after_path` (empty: from the first), at most `limit`.
  virtual Result<std::vector<ServerCopy>> CopiesOnServer(
      int64_t server_id, const std::string& after_path, int64_t limit) = 0;

  // Images in id order after `after_id` (empty: from the first), at most
  // `limit`, with their placements: the repairer's slow sweep.
  virtual Result<std::vector<ImageRecord>> ImagesAfter(
      const std::string& after_id, int64_t limit) = 0;

  // The locations of the images in id order after `after_id` (empty: from
  // the first), at most `limit`, each with all its copies: loads the
  // resolve index (IndexedStore).
  virtual Result<std::vector<ImageLocation>> LocationsAfter(
      const std::string& after_id, int64_t limit) = 0;

  // The repair queue: images known to have fewer copies than wanted (an
  // upload that found too few servers, a copy found corrupt or missing).
  // Queueing a queued image is a no-op.
  virtual Result<void> QueueRepair(const ImageId& id, int64_t now) = 0;
  // Queues every image with fewer than `copies` copies recorded (after a
  // raised --replicas); returns how many were not queued before.
  virtual Result<int64_t> QueueImagesShortOf(int64_t copies, int64_t now) = 0;
  // Queued ids in id order after `after_id`, at most `limit`.
  virtual Result<std::vector<ImageId>> RepairQueue(const std::string& after_id,
                                                   int64_t limit) = 0;
  virtual Result<void> DequeueRepair(const ImageId& id) = 0;
  virtual Result<int64_t> RepairQueueLength() = 0;

  // Files to delete from servers that were down when their copy was
  // forgotten: queued once per (server, path), listed per server in path
  // order, so a server that stays down holds up no other. RemoveServer
  // drops a server's.
  virtual Result<void> QueueFileDelete(const FileDelete& file, int64_t now) = 0;
  virtual Result<std::vector<FileDelete>> FileDeletes(int64_t server_id,
                                                      int64_t limit) = 0;
  virtual Result<void> DequeueFileDelete(const FileDelete& file) = 0;

  // Takes or renews the lease `name` for `holder` until now + ttl; true when
  // `holder` holds it afterwards. Another holder's lease is taken only once
  // it has expired, so of several trackers one at a time runs repair. A
  // holder gives its lease up with a negative ttl: expired for all at once.
  virtual Result<bool> AcquireLease(const std::string& name,
                                    const std::string& holder, int64_t now,
                                    int64_t ttl_seconds) = 0;

  // Cluster-wide run-time settings (the rebalance target); an empty value
  // reads back as absent.
  virtual Result<void> SetSetting(const std::string& name,
                                  const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetSetting(
      const std::string& name) = 0;
};

// How OpenMetadataStore sets a store up.
struct MetadataStoreOptions {
  // SQLite only: keep every image's location in memory (IndexedStore), so
  // that resolve never reads the file. Right because one tracker is the
  // only writer of its SQLite file; PostgreSQL, shared by several
  // trackers, never gets it. Costs ~65 bytes of memory per image and a
  // scan of the placements at open (2 s per million images).
  bool resolve_index = true;
};

// The refusals both stores give in the same words.
inline Error RemovedServer(const ServerRow& row,
                           ErrorCode code = ErrorCode::kForbidden) {
  return Error{code,
               fmt::format("server {} ({}) was removed by an operator; "
                           "`imgstore servers add {}` lets it back in",
                           row.server_id, row.server_url, row.server_url)};
}
inline Error UrlTaken(const ServerRow& row) {
  return Error{ErrorCode::kConflict,
               fmt::format("server {} ({}) already has url {}", row.server_id,
                           row.server_name, row.server_url)};
}

// Opens "sqlite:PATH" (creating the file and applying migrations) or
// "postgresql://..." (when built in). kInvalidArgument for other URLs.
Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& url, const MetadataStoreOptions& options = {});

// A store URL fit for messages and logs: a PostgreSQL URL without its
// password and query ("postgresql://user:secret@host/db?x=y" →
// "postgresql://user@host/db"); "sqlite:PATH" as it is.
std::string RedactStoreUrl(const std::string& url);

}  // namespace imgstore
