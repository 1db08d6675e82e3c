#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "meta/metadata_store.h"

namespace imgstore {

// A MetadataStore that keeps every image's location (its format and the
// servers holding a copy) in memory, so that Locate — the query behind
// POST /v1/resolve and GET /i/{id} — never touches the database. Every
// call is forwarded to the wrapped store, which holds the data; the index
// follows the writes that succeed through this object (AddImage,
// DeleteImage, AddPlacement, RemovePlacement).
//
// Exact only while this object is the only writer of the images and their
// placements: the index is loaded once, at Open, and never re-read. So it
// fronts a SQLite file served by one tracker, never a PostgreSQL database
// that several trackers write (open_store.cc decides). A write made behind
// its back (another process, a manual edit) stays invisible to resolve
// until the tracker restarts.
//
// Owns the wrapped store. Thread-safe: Locate takes a shared lock for the
// whole batch, so a batch sees each image either before or after a
// concurrent write; writes to one image are applied to the index in the
// order the store committed them (a lock per image, by hash, is held
// across the store call and the index update), while writes to different
// images still run concurrently (and share the store's group commit).
//
// Memory: a 32-byte slot per image in an open-addressing table (the id
// packed into 16 bytes, up to three server ids inline) that is kept 3/8
// to 3/4 full, so 43-85 bytes per image (65 at 1 M); ids that do not pack
// (not 22 characters of 128 bits, as ImageId::New makes) and images with
// more copies take a general map at ~150 bytes each.
class IndexedStore final : public MetadataStore {
 public:
  // Images read per query while loading: large enough that the query
  // overhead vanishes, small enough that a page's vector stays small.
  static constexpr int64_t kLoadPage = 10'000;

  // Loads the location of every image of `inner` (LocationsAfter, `page`
  // images a query) and takes ownership of it. Fails with `inner`'s error
  // if a page cannot be read (the store is then destroyed).
  static Result<std::unique_ptr<IndexedStore>> Open(
      std::unique_ptr<MetadataStore> inner, int64_t page = kLoadPage);

  ~IndexedStore() override;
  IndexedStore(const IndexedStore&) = delete;
  IndexedStore& operator=(const IndexedStore&) = delete;

  // Images in the index, and the bytes its tables take (an estimate from
  // their capacities, not counting the allocator's own overhead).
  size_t size() const;
  size_t memory_bytes() const;

  // From memory; never fails and never waits on I/O (only, briefly, on a
  // write updating the index), so it may run on an I/O thread. Each known
  // image once, in id order.
  Result<std::vector<ImageLocation>> Locate(
      const std::vector<ImageId>& ids) override;

  // Write paths that keep the index exact.
  Result<void> AddImage(const ImageRecord& image) override;
  Result<std::optional<ImageId>> AddImageIfNew(
      const ImageRecord& image) override;
  Result<ImageRecord> DeleteImage(const ImageId& id) override;
  Result<void> AddPlacement(const ImageId& id,
                            const Placement& placement) override;
  Result<void> RemovePlacement(const ImageId& id, int64_t server_id) override;

  // Forwarded as they are.
  Result<std::vector<ServerRow>> ListServers() override;
  Result<ServerRow> AddServer(const std::string& name, const std::string& url,
                              int64_t max_pic_amount) override;
  Result<ServerRow> RecordHeartbeat(const std::string& name,
                                    const std::string& url,
                                    const std::string& root,
                                    int64_t max_pic_amount,
                                    int64_t disk_free_bytes, int64_t bytes_used,
                                    int64_t now) override;
  Result<void> SetInternalUrl(int64_t server_id,
                              const std::string& url) override;
  Result<void> SetUsable(int64_t server_id, bool usable) override;
  Result<ServerRow> UpdateServer(int64_t server_id,
                                 const ServerUpdate& update) override;
  Result<void> RemoveServer(int64_t server_id) override;
  Result<ImageRecord> GetImage(const ImageId& id) override;
  Result<std::vector<ImageRecord>> GetImages(
      const std::vector<ImageId>& ids) override;
  Result<std::vector<ImageId>> FindBySha256(const std::string& sha256) override;
  Result<std::vector<ImageRecord>> RecentImages(int64_t limit,
                                                int64_t offset) override;
  Result<StoreStats> Stats() override;
  Result<std::vector<ServerCopy>> CopiesOnServer(int64_t server_id,
                                                 const std::string& after_path,
                                                 int64_t limit) override;
  Result<std::vector<ImageRecord>> ImagesAfter(const std::string& after_id,
                                               int64_t limit) override;
  Result<std::vector<ImageLocation>> LocationsAfter(const std::string& after_id,
                                                    int64_t limit) override;
  Result<void> QueueRepair(const ImageId& id, int64_t now) override;
  Result<int64_t> QueueImagesShortOf(int64_t copies, int64_t now) override;
  Result<std::vector<ImageId>> RepairQueue(const std::string& after_id,
                                           int64_t limit) override;
  Result<void> DequeueRepair(const ImageId& id) override;
  Result<int64_t> RepairQueueLength() override;
  Result<void> QueueFileDelete(const FileDelete& file, int64_t now) override;
  Result<std::vector<FileDelete>> FileDeletes(int64_t server_id,
                                              int64_t limit) override;
  Result<void> DequeueFileDelete(const FileDelete& file) override;
  Result<bool> AcquireLease(const std::string& name, const std::string& holder,
                            int64_t now, int64_t ttl_seconds) override;
  Result<void> SetSetting(const std::string& name,
                          const std::string& value) override;
  Result<std::optional<std::string>> GetSetting(
      const std::string& name) override;

 private:
  class Index;  // indexed_store.cc: the tables

  IndexedStore(std::unique_ptr<MetadataStore> inner,
               std::unique_ptr<Index> index);

  // The lock that orders the writes to `id` (one of kWriteLocks, by hash).
  std::mutex& WriteLock(const ImageId& id);

  // Enough that concurrent uploads (up to --workers) rarely share one.
  static constexpr size_t kWriteLocks = 256;

  const std::unique_ptr<MetadataStore> inner_;
  mutable std::shared_mutex mu_;  // guards *index_
  const std::unique_ptr<Index> index_;
  std::array<std::mutex, kWriteLocks> write_locks_;
};

}  // namespace imgstore
