#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/log_every.h"
#include "meta/metadata_store.h"

namespace imgstore {

class PgConnection;  // postgres_store.cc: one PGconn + its prepared statements

// The shared metadata store: one PostgreSQL database that several trackers
// use at once (the SQLite store is for a single tracker).
//
// Owned by whoever opened it; destroy it only when no call is in flight.
// Thread safety: every method may be called from any number of threads.
// Each call borrows one connection from a small pool (opened on demand, up
// to kPoolSize; a caller waits while all are busy) and runs either one
// statement (reads: one snapshot) or one READ COMMITTED transaction (writes).
// Concurrency with other trackers comes from PostgreSQL's row locks: the
// capacity check and the increment of cur_pic_amount are one conditional
// UPDATE, so no number of writers pushes a server past max_pic_amount. A
// transaction that fails with a serialization failure or a deadlock is
// retried (kAttempts in all); any other failure is rolled back and leaves
// the database unchanged.
//
// Errors: connection failures (server down, refused, lost mid-call) are
// kUnavailable; a duplicate image id is kConflict; a full disk on the server
// kInsufficientStorage; anything else SQL-side is kInternal.
//
// Durability: a method that returned success has committed, which with
// PostgreSQL's defaults (fsync, synchronous_commit on) means it is in the
// server's WAL on disk.
class PostgresStore final : public MetadataStore {
 public:
  // Connections per store. A tracker has a handful of worker threads; more
  // connections than that only cost server memory (a backend each).
  static constexpr int kPoolSize = 8;
  // Tries of one transaction that meets 40001/40P01 (or a pooled connection
  // found dead before anything was committed).
  static constexpr int kAttempts = 4;
  // How long one call may wait for the database: for a free connection and
  // for every answer. A database that stops answering (hung, frozen, its
  // host cut off while TCP still holds) then turns into kUnavailable, a
  // 503, and /healthz says so, instead of requests that never end. The few
  // calls that scan whole tables (Stats, QueueImagesShortOf) get
  // kSlowCallTimeout; migrations at start, none.
  static constexpr std::chrono::seconds kCallTimeout{10};
  static constexpr std::chrono::seconds kSlowCallTimeout{300};

  // Connects to `url` (a libpq URI, postgresql://USER@HOST:PORT/DB) and
  // applies the pending migrations/postgres/NNN_*.sql, each in its own
  // transaction holding an advisory lock, so trackers starting together
  // apply each exactly once. kUnavailable when the server cannot be
  // reached; kInvalidArgument when the database has a newer schema than
  // this build knows. Messages never contain a password from `url`.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& url);

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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

  Result<void> AddImage(const ImageRecord& image) override;
  Result<std::optional<ImageId>> AddImageIfNew(
      const ImageRecord& image) override;
  Result<ImageRecord> GetImage(const ImageId& id) override;
  Result<std::vector<ImageRecord>> GetImages(
      const std::vector<ImageId>& ids) override;
  Result<std::vector<ImageLocation>> Locate(
      const std::vector<ImageId>& ids) override;
  Result<std::vector<ImageId>> FindBySha256(const std::string& sha256) override;
  Result<ImageRecord> DeleteImage(const ImageId& id) override;
  Result<std::vector<ImageRecord>> RecentImages(int64_t limit,
                                                int64_t offset) override;
  // Counts by scanning the image table; cache it, never call it per request.
  Result<StoreStats> Stats() override;

  Result<void> AddPlacement(const ImageId& id,
                            const Placement& placement) override;
  Result<void> RemovePlacement(const ImageId& id, int64_t server_id) override;
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
  PostgresStore(std::string url, std::unique_ptr<PgConnection> first);

  enum class Kind { kRead, kWrite };
  // Runs `fn(connection)` on a pooled connection: as it is for kRead, inside
  // BEGIN ... COMMIT for kWrite; retries as described above.
  template <typename T, typename Fn>
  Result<T> Run(Kind kind, Fn&& fn,
                std::chrono::steady_clock::duration timeout = kCallTimeout);
  Result<std::unique_ptr<PgConnection>> Acquire(
      std::chrono::steady_clock::time_point deadline);
  void Release(std::unique_ptr<PgConnection> c);

  const std::string url_;

  // Set when a call went unanswered until its deadline (or found no free
  // connection by then), cleared by the next answer. While set, one call at
  // a time (the probe) asks the database and the others fail at once: a
  // hung database must not hold every worker of the tracker for a call
  // timeout each, with requests queueing behind them.
  std::atomic<bool> unanswered_{false};
  std::atomic<bool> probing_{false};

  std::mutex mu_;  // guards free_ and open_
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> free_;
  int open_ = 0;  // connections in free_ plus those lent out
  LogEvery connect_failures_logged_{std::chrono::seconds(10)};
};

// Administration for tests and setup scripts: creates / drops database
// `name` (letters, digits, '_' only) through a connection to
// `maintenance_url`. Dropping a missing database succeeds.
Result<void> CreatePostgresDatabase(const std::string& maintenance_url,
                                    const std::string& name);
Result<void> DropPostgresDatabase(const std::string& maintenance_url,
                                  const std::string& name);

// `url` with its database replaced by `name` (query parameters kept).
std::string PostgresUrlWithDatabase(const std::string& url,
                                    const std::string& name);

}  // namespace imgstore
