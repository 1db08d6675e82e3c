#include "tracker/server_registry.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/placement.h"

namespace imgstore {

ServerRegistry::ServerRegistry(MetadataStore& store, const Clock& clock,
                               std::chrono::seconds heartbeat_timeout)
    : store_(store),
      clock_(clock),
      timeout_(heartbeat_timeout),
      believed_since_(clock.NowSeconds()) {}

bool ServerRegistry::Alive(const ServerRow& row) const {
  if (row.last_heartbeat_at <= 0 || lost_files_.count(row.server_id) != 0)
    return false;
  const int64_t now = clock_.NowSeconds();
  int64_t since = row.last_heartbeat_at;
  // While the store cannot be read no tracker can record a beat, nor while
  // this tracker was not running (it may be the only one), so a server
  // usable before is not called lost for that silence: not during it, nor
  // until a timeout after it.
  if (row.flg_usable)
    since = std::max(since, InDoubtLocked(now) ? now : believed_since_);
  return now - since < int64_t(timeout_.count());
}

bool ServerRegistry::InDoubtLocked(int64_t now) const {
  return refresh_error_.has_value() ||
         (!pending_.empty() && now - pending_.begin()->second >= kDoubtAfter);
}

int64_t ServerRegistry::HeartbeatAgeSeconds(const ServerRow& row) const {
  return row.last_heartbeat_at > 0 ? clock_.NowSeconds() - row.last_heartbeat_at
                                   : -1;
}

namespace {
// What the node itself will refuse: at its --max-pics, or its disk at its
// own --disk-reserve (which may be above the tracker's).
bool NodeFull(const NodeStatus& s) {
  return !s.write_error.empty() || (s.max_pics > 0 && s.images >= s.max_pics) ||
         (s.disk_reserve_bytes > 0 &&
          s.disk_free_bytes <= s.disk_reserve_bytes);
}
}  // namespace

Result<void> ServerRegistry::Refresh() {
  const uint64_t started = refreshes_started_.fetch_add(1) + 1;
  const int64_t began = clock_.NowSeconds();
  {
    std::lock_guard lock(mutex_);
    pending_.emplace(started, began);
  }
  auto rows = store_.ListServers();
  {
    std::lock_guard lock(mutex_);
    pending_.erase(started);
    const bool doubted = clock_.NowSeconds() - began >= kDoubtAfter;
    // A read older than a success already applied is stale (one that
    // waited out a hung database, ending after one begun later): neither
    // its failure nor its rows are the table now.
    if (started < last_good_refresh_) {
      if (!rows) return Fail(rows.error());
      return {};
    }
    if (rows) last_good_refresh_ = started;
    if (!rows && !refresh_error_) {
      spdlog::warn(
          "tracker: cannot read the server table, health is unknown until "
          "it can: {}",
          rows.error().message);
    } else if (rows && doubted && !refresh_error_) {
      // Slow but answered: beats that waited on the store meanwhile may
      // not be recorded yet, so silence counts from now, as after a failure.
      believed_since_ = clock_.NowSeconds();
    } else if (rows && refresh_error_) {
      believed_since_ = clock_.NowSeconds();
      spdlog::info(
          "tracker: the server table can be read again; heartbeats count "
          "from now, no server is called lost for its silence before");
    }
    refresh_error_ =
        rows ? std::nullopt
             : std::optional(Error{ErrorCode::kUnavailable,
                                   "the metadata store cannot be read: " +
                                       rows.error().message});
  }
  if (!rows) return Fail(rows.error());
  Apply(std::move(*rows));
  return {};
}

int64_t ServerRegistry::HealthKnownSince() const {
  std::lock_guard lock(mutex_);
  return believed_since_;
}

std::optional<Error> ServerRegistry::RefreshError() const {
  std::lock_guard lock(mutex_);
  return refresh_error_;
}

bool ServerRegistry::TakesUploads(const ServerRow& row,
                                  int64_t disk_reserve_bytes) const {
  return !RefreshError() && !Candidates({row}, disk_reserve_bytes).empty();
}

void ServerRegistry::Apply(std::vector<ServerRow> rows) {
  std::vector<std::pair<int64_t, bool>> changed;
  {
    std::lock_guard lock(mutex_);
    std::unordered_map<int64_t, ServerRow> next;
    for (ServerRow& row : rows) {
      const bool stored_usable = row.flg_usable;
      auto old = servers_.find(row.server_id);
      if (old != servers_.end()) {
        // What only this registry saw: a beat the store could not record,
        // the node's own fullness, its health as judged here.
        row.last_heartbeat_at =
            std::max(row.last_heartbeat_at, old->second.last_heartbeat_at);
        row.node_full = old->second.node_full;
        row.write_error = old->second.write_error;
        row.max_upload_bytes = old->second.max_upload_bytes;
        row.store_failed_at = old->second.store_failed_at;
        row.flg_usable = old->second.flg_usable;
      }
      const bool was = row.flg_usable;
      const bool alive = Alive(row);
      if (alive != was) {
        if (alive) {
          spdlog::info("server {} ({}): usable again", row.server_id,
                       row.server_name);
        } else if (lost_files_.count(row.server_id) != 0) {
          spdlog::warn("server {} ({}): unusable, its heartbeats are refused",
                       row.server_id, row.server_name);
        } else {
          spdlog::warn("server {} ({}): unusable, no heartbeat for {} s",
                       row.server_id, row.server_name,
                       HeartbeatAgeSeconds(row));
        }
      }
      if (alive != stored_usable) changed.emplace_back(row.server_id, alive);
      row.flg_usable = alive;
      next.emplace(row.server_id, std::move(row));
    }
    servers_ = std::move(next);
  }
  // Persist the derived flag (outside the lock: the store blocks). Several
  // trackers may write the same value; that is harmless.
  for (auto [id, usable] : changed) {
    if (auto r = store_.SetUsable(id, usable); !r) {
      spdlog::warn("server {}: could not record usability: {}", id,
                   r.error().message);
    }
  }
}

void ServerRegistry::KeepAliveUnrecorded(const NodeStatus& s,
                                         const Error& why) {
  std::lock_guard lock(mutex_);
  if (!beats_unrecorded_) {
    spdlog::error(
        "heartbeats cannot be recorded ({}); servers that beat stay usable "
        "on this tracker",
        why.message);
    beats_unrecorded_ = true;
  }
  bool by_name = false;
  ServerRow* known = FindSenderLocked(s, by_name);
  if (known == nullptr) return;  // joins once the store takes it
  ServerRow& row = *known;
  if (!row.flg_usable) {
    spdlog::info("server {} ({}): usable again", row.server_id,
                 row.server_name);
  }
  row.last_heartbeat_at = clock_.NowSeconds();
  row.flg_usable = true;
  row.disk_free_bytes = s.disk_free_bytes;
  row.bytes_used = s.bytes_used;
  row.node_full = NodeFull(s);
  row.write_error = s.write_error;
  row.max_upload_bytes = s.max_upload_bytes;
}

ServerRow* ServerRegistry::FindSenderLocked(const NodeStatus& s,
                                            bool& by_name) {
  // As the store finds it: by URL, else by name; an empty name matches
  // nothing.
  auto find = [&](auto match) -> ServerRow* {
    auto it = std::find_if(servers_.begin(), servers_.end(),
                           [&](const auto& e) { return match(e.second); });
    return it == servers_.end() ? nullptr : &it->second;
  };
  by_name = false;
  if (ServerRow* row =
          find([&](const ServerRow& r) { return r.server_url == s.url; }))
    return row;
  if (s.name.empty()) return nullptr;
  by_name = true;
  return find([&](const ServerRow& r) {
    return r.server_name == s.name && r.state != ServerState::kRemoved;
  });
}

Result<void> ServerRegistry::Admit(const NodeStatus& s) {
  std::lock_guard lock(mutex_);
  bool by_name = false;
  const ServerRow* row = FindSenderLocked(s, by_name);
  // A row found by name takes the new URL: a node that moved. While the
  // row's own node still beats, this is another node with its name.
  if (row && by_name && Alive(*row)) {
    return Fail(
        ErrorCode::kConflict,
        fmt::format("server name {} is in use by server {} at {} "
                    "(heartbeat {} s ago): if the node at {} is that "
                    "node moved, it is taken there once the old URL "
                    "has been silent for {} s; else give it a "
                    "--name of its own",
                    s.name, row->server_id, row->server_url,
                    HeartbeatAgeSeconds(*row), s.url, timeout_.count()));
  }
  // A node holding far fewer images than the copies recorded on it has
  // lost its files, most often to a disk not mounted under --root. Taken
  // in, it would be handed out for images it cannot serve; refused, it
  // turns unusable and its copies are served and repaired from others.
  // Small counts drift (uploads recorded while the beat was on its way),
  // so only a large shortfall is judged on the same root; a node back on
  // another --root with fewer files than its copies is judged at any count
  // (no upload can have been in flight to a root that just changed).
  const bool lost =
      row && s.images < row->cur_pic_amount &&
      ((!row->pic_root_path.empty() && s.root != row->pic_root_path) ||
       (row->cur_pic_amount >= kLostFilesMinimum &&
        s.images * 2 < row->cur_pic_amount));
  if (lost) {
    // Its own node says the files are not there: unusable from now on, not
    // a heartbeat timeout later (uploads would be acknowledged onto a disk
    // about to be swapped back, resolves hand out URLs that answer 404).
    lost_files_.insert(row->server_id);
    return Fail(ErrorCode::kConflict,
                fmt::format("server {} ({}) reports {} images at {}, but {} "
                            "copies are recorded on it: is its --root the "
                            "right disk, mounted? Its heartbeats are refused "
                            "until it is",
                            row->server_id, row->server_name, s.images, s.root,
                            row->cur_pic_amount));
  }
  return {};
}

Result<ServerRow> ServerRegistry::Heartbeat(const NodeStatus& s) {
  if (auto admitted = Admit(s); !admitted) {
    std::lock_guard lock(mutex_);
    if (refused_.insert(s.url).second)
      spdlog::error("heartbeat refused: {}", admitted.error().message);
    return Fail(admitted.error());
  }
  {
    // Heard now, whatever the store makes of it: a store slow to answer (a
    // database that hangs, until its call times out) must not let a live
    // server's beats go stale here and call it down. Only a server usable
    // already: one coming back is said so once the store takes its beat.
    std::lock_guard lock(mutex_);
    bool by_name = false;
    ServerRow* known = FindSenderLocked(s, by_name);
    if (known != nullptr && !by_name && known->flg_usable)
      known->last_heartbeat_at = clock_.NowSeconds();
  }
  auto row = store_.RecordHeartbeat(s.name, s.url, s.root, s.max_pics,
                                    s.disk_free_bytes, s.bytes_used,
                                    clock_.NowSeconds());
  if (!row) {
    const ErrorCode code = row.error().code;
    if (code == ErrorCode::kForbidden || code == ErrorCode::kInvalidArgument ||
        code == ErrorCode::kConflict) {
      // Refused by the store, not failed in it: a removed server whose node
      // still runs, or a status it will not take. Said once, not every
      // beat, and the beat changes nothing.
      std::lock_guard lock(mutex_);
      if (refused_.insert(s.url).second)
        spdlog::warn("heartbeat refused: {}", row.error().message);
    } else {
      KeepAliveUnrecorded(s, row.error());
    }
    return Fail(row.error());
  }
  if (row->internal_url != s.internal_url) {
    if (auto set = store_.SetInternalUrl(row->server_id, s.internal_url); !set)
      return Fail(set.error());
    row->internal_url = s.internal_url;
  }
  std::lock_guard lock(mutex_);
  refused_.erase(s.url);
  if (beats_unrecorded_) {
    spdlog::info("heartbeats are recorded again");
    beats_unrecorded_ = false;
  }
  auto it = servers_.find(row->server_id);
  if (it == servers_.end()) {
    spdlog::info("server {} ({}): joined at {}", row->server_id,
                 row->server_name, row->server_url);
    if (row->cur_pic_amount == 0 && s.images > 0) {
      // A node full of files this database has never heard of: most likely
      // the tracker was started on another (or a fresh) database.
      spdlog::warn(
          "server {} ({}): holds {} images, none of them recorded here: is "
          "--db the database this cluster used? (imgstore fsck lists files "
          "no database records)",
          row->server_id, row->server_name, s.images);
    }
  } else {
    const ServerRow& was = it->second;
    if (was.server_name != row->server_name) {
      spdlog::info("server {}: renamed {} -> {}", row->server_id,
                   was.server_name, row->server_name);
    }
    if (was.server_url != row->server_url) {
      spdlog::info("server {} ({}): now at {} (was {})", row->server_id,
                   row->server_name, row->server_url, was.server_url);
    }
    if (!was.flg_usable) {
      // A server added by an operator beats for the first time.
      if (was.last_heartbeat_at == 0) {
        spdlog::info("server {} ({}): first heartbeat, usable", row->server_id,
                     row->server_name);
      } else {
        spdlog::info("server {} ({}): usable again", row->server_id,
                     row->server_name);
      }
    }
    if (was.max_pic_amount != row->max_pic_amount) {
      // A node started with a new --max-pics replaces the capacity an
      // operator set (PATCH): said, as it undoes the operator's change.
      spdlog::info(
          "server {} ({}): room for {} images, its node's new "
          "--max-pics (was {})",
          row->server_id, row->server_name, row->max_pic_amount,
          was.max_pic_amount);
    }
  }
  const std::string was_error =
      it == servers_.end() ? std::string() : it->second.write_error;
  if (was_error != s.write_error) {
    if (s.write_error.empty()) {
      spdlog::info("server {} ({}): its root takes new files again",
                   row->server_id, row->server_name);
    } else {
      spdlog::warn("server {} ({}): no uploads, its root takes no new file: {}",
                   row->server_id, row->server_name, s.write_error);
    }
  }
  // Fewer than two beats per timeout: one late beat and the server turns
  // unusable, the next usable again.
  if (s.heartbeat_s > 0 && 2 * std::chrono::seconds(s.heartbeat_s) > timeout_ &&
      slow_beats_said_.insert(row->server_id).second) {
    spdlog::warn(
        "server {} ({}): beats every {} s, and a server is unusable after "
        "{} s without one: it will flap; give the node --heartbeat {} or "
        "less, or the tracker a longer --heartbeat-timeout",
        row->server_id, row->server_name, s.heartbeat_s, timeout_.count(),
        std::max<int64_t>(1, timeout_.count() / 2));
  }
  row->flg_usable = true;
  row->node_full = NodeFull(s);
  row->write_error = s.write_error;
  row->max_upload_bytes = s.max_upload_bytes;
  if (it != servers_.end()) row->store_failed_at = it->second.store_failed_at;
  lost_files_.erase(row->server_id);
  servers_[row->server_id] = *row;
  return *row;
}

void ServerRegistry::StoreFailed(int64_t server_id, const Error& why) {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server_id);
  if (it == servers_.end()) return;
  const bool said = StoreFailedSinceBeat(it->second);
  it->second.store_failed_at = clock_.NowSeconds();
  if (said) return;
  spdlog::warn("server {} ({}): no uploads until its next heartbeat: {}",
               server_id, it->second.server_name, why.message);
}

ServerView ServerRegistry::Snapshot() const {
  ServerView out;
  {
    std::lock_guard lock(mutex_);
    out.reserve(servers_.size());
    for (const auto& [id, row] : servers_) {
      out.push_back(row);
      out.back().flg_usable = row.flg_usable && Alive(row);
    }
  }
  std::sort(out.begin(), out.end(), [](const ServerRow& a, const ServerRow& b) {
    return a.server_id < b.server_id;
  });
  return out;
}

std::optional<ServerRow> ServerRegistry::Find(int64_t server_id) const {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server_id);
  if (it == servers_.end()) return std::nullopt;
  ServerRow row = it->second;
  row.flg_usable = row.flg_usable && Alive(row);
  return row;
}

void ServerRegistry::AdjustCount(int64_t server_id, int64_t delta) {
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server_id);
  if (it != servers_.end()) it->second.cur_pic_amount += delta;
}

}  // namespace imgstore
