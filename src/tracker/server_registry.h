#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "core/error.h"
#include "core/server.h"
#include "core/wire.h"
#include "meta/metadata_store.h"

namespace imgstore {

// Live health of the server table, held in memory so placement and resolve
// never scan the database. The store stays the authority: Refresh() reloads
// every row (cheap: one row per server), so trackers sharing one PostgreSQL
// see a heartbeat recorded by any of them within a refresh. flg_usable is
// derived from last_heartbeat_at and the timeout, and persisted when it
// changes (logged once per change).
//
// Thread-safe: mutex_ guards servers_. Methods that touch the store block.
class ServerRegistry {
 public:
  ServerRegistry(MetadataStore& store, const Clock& clock,
                 std::chrono::seconds heartbeat_timeout);

  // Reloads rows from the store and re-derives usability. A heartbeat this
  // registry saw but the store could not record (see Heartbeat) outlives
  // the reload. A failure, and the recovery after it, are logged once.
  Result<void> Refresh();

  // Since when the recorded heartbeats can be believed (Unix seconds): the
  // registry's start, or the end of the last time the store could not be
  // read. While it could not, no tracker could record a beat either, so a
  // server silent in the store over that time may have been beating all
  // along: no one may call it lost for that silence.
  int64_t HealthKnownSince() const;
  // While the store cannot be read, what to tell a client (kUnavailable,
  // with the last Refresh's reason).
  std::optional<Error> RefreshError() const;

  // A signed heartbeat's status: recorded in the store, usable at once.
  // Refused (kConflict, logged once per URL) when it would take over the
  // row of another live node with the same name, or when the node reports
  // fewer than half the copies recorded on it (its files are gone: a disk
  // not mounted).
  // When the store cannot take it (its disk full, its server down), a
  // server this registry knows (by URL, else by name) is still alive here:
  // it stays usable, so pages keep their images while the database is
  // mended. The store's error is returned all the same; a server new to
  // the registry must wait for the store.
  Result<ServerRow> Heartbeat(const NodeStatus& status);

  // Every server not removed, with live flg_usable. A copy.
  ServerView Snapshot() const;
  std::optional<ServerRow> Find(int64_t server_id) const;

  // A store on the server failed for want of the server (unreachable,
  // timed out, a 5xx): no uploads go there until its next heartbeat, so a
  // node that stopped costs one failed store, not one per upload until the
  // heartbeat timeout. Reads are left alone. Logged once per heartbeat.
  void StoreFailed(int64_t server_id, const Error& why);

  // After an upload or delete, so placement sees counts before the next
  // Refresh().
  void AdjustCount(int64_t server_id, int64_t delta);

  int64_t HeartbeatAgeSeconds(const ServerRow& row) const;
  // Whether placement would choose `row` now: usable, active, with room by
  // the counts and above the disk reserve, its last store not failed, and
  // the store readable (no upload could be recorded otherwise).
  bool TakesUploads(const ServerRow& row, int64_t disk_reserve_bytes) const;

 private:
  // Copies recorded on a server from which a node reporting fewer than
  // half of them is taken for one that lost its files (below it, only a
  // node back on another root with fewer than its copies is).
  static constexpr int64_t kLostFilesMinimum = 10;

  // Beat within the timeout, a store outage not held against a server
  // usable before it. mutex_ held.
  bool Alive(const ServerRow& row) const;
  // The row a heartbeat's sender has, as the store finds it (by URL, else
  // by name: then `by_name`); nullptr for a new server. mutex_ held.
  ServerRow* FindSenderLocked(const NodeStatus& s, bool& by_name);
  // Heartbeat's checks against the rows in memory.
  Result<void> Admit(const NodeStatus& s);
  void Apply(std::vector<ServerRow> rows);
  // Heartbeat's fallback when the store failed with `why`: the known
  // server that sent `s` is alive in memory.
  void KeepAliveUnrecorded(const NodeStatus& s, const Error& why);

  MetadataStore& store_;
  const Clock& clock_;
  const std::chrono::seconds timeout_;

  mutable std::mutex mutex_;  // guards the members below
  std::unordered_map<int64_t, ServerRow> servers_;
  int64_t believed_since_;  // HealthKnownSince(), Unix seconds
  // Servers whose node reported its files gone (see Admit): unusable until
  // a heartbeat of theirs is taken.
  std::set<int64_t> lost_files_;
  std::optional<Error> refresh_error_;
  // Refresh() calls in start order, and the latest started that succeeded.
  std::atomic<uint64_t> refreshes_started_{0};
  uint64_t last_good_refresh_ = 0;  // guarded by mutex_
  // Refreshes under way: start order -> start time (Unix seconds). One
  // unanswered for kDoubtAfter puts health in doubt, as a failed one does:
  // the store may be hung, and heartbeats waiting on it record nothing.
  std::map<uint64_t, int64_t> pending_;
  static constexpr int64_t kDoubtAfter = 2;
  bool InDoubtLocked(int64_t now) const;
  bool beats_unrecorded_ = false;      // the last heartbeat's record failed
  std::set<std::string> refused_;      // URLs of removed servers still beating
  std::set<int64_t> slow_beats_said_;  // servers told to beat more often
};

}  // namespace imgstore
