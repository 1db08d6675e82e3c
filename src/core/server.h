#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace imgstore {

// Operator-set state of a server. Only `active` servers take new uploads;
// `draining` ones keep serving while their images are moved away; `disabled`
// ones take nothing; `removed` rows are kept for history.
enum class ServerState { kActive, kDraining, kDisabled, kRemoved };

std::string_view ServerStateName(ServerState state);
std::optional<ServerState> ParseServerState(std::string_view name);

// A server's name (a node's --name) goes into logs, pages and the
// dashboard: 1 to 64 letters, digits and - _ . : @, so it can neither
// break a log line nor pass for markup. Else kInvalidArgument, saying so.
inline constexpr size_t kMaxServerNameLength = 64;
Result<void> CheckServerName(std::string_view name);

// One row of the server table (the founding design's columns, kept by name,
// plus what operations need).
// The most images one server may be given (max_pic_amount, --max-pics):
// far beyond any disk, and a million servers' sum still fits an int64.
inline constexpr int64_t kMaxPicAmount = 1'000'000'000'000;

struct ServerRow {
  int64_t server_id = 0;
  std::string server_name;
  std::string server_url;  // root URL browsers use, no trailing slash
  // The URL trackers store and delete at, when browsers use another (an
  // HTTPS proxy in front of the node); empty: server_url serves both.
  std::string internal_url;
  std::string pic_root_path;
  int64_t max_pic_amount = 0;
  int64_t cur_pic_amount = 0;
  bool flg_usable = false;  // heartbeat says it is alive and accepting
  ServerState state = ServerState::kActive;
  int64_t last_heartbeat_at = 0;  // Unix seconds; 0 = never
  int64_t disk_free_bytes = 0;
  int64_t bytes_used = 0;
  // In memory only, from the node's heartbeat: it holds its own --max-pics
  // (an operator may have set max_pic_amount above it) or its disk is at
  // its own --disk-reserve, so it refuses new images whatever the counts
  // here say.
  bool node_full = false;
  // In memory only, from the node's heartbeat: why its root takes no new
  // file (read-only, out of inodes); empty when it does. Counts as full.
  std::string write_error;
  // In memory only: when (Unix seconds) a store on it last failed for want
  // of the server (unreachable, timed out, a 5xx); 0 = never.
  int64_t store_failed_at = 0;
  // In memory only, from the node's heartbeat: the largest file it takes
  // (its --max-upload-bytes); 0 = not said.
  int64_t max_upload_bytes = 0;
};

// Whether the server takes a file of `bytes`: a larger one it would refuse
// by the head of the PUT, closing the connection while the body is sent,
// which looks like a server gone.
inline bool TakesFile(const ServerRow& row, size_t bytes) {
  return row.max_upload_bytes <= 0 || int64_t(bytes) <= row.max_upload_bytes;
}

// A store failed since the server's last heartbeat: it gets no uploads
// until a heartbeat after the failure (one in the same second may have
// been sent before it).
inline bool StoreFailedSinceBeat(const ServerRow& row) {
  return row.store_failed_at > 0 &&
         row.store_failed_at >= row.last_heartbeat_at;
}

// Where trackers reach a server: its internal URL, else its public one.
inline const std::string& StoreUrl(const ServerRow& row) {
  return row.internal_url.empty() ? row.server_url : row.internal_url;
}

using ServerView = std::vector<ServerRow>;

}  // namespace imgstore
