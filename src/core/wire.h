#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace imgstore {

// JSON bodies that cross a process boundary and are read on both sides, so
// sender and receiver cannot drift. Bodies only one side builds (tracker
// replies) are built in tracker/ and read by client/ through these helpers.

// A node's status: GET /status on the node, and the body of its heartbeat
// (POST /v1/heartbeat on the tracker, signed).
struct NodeStatus {
  std::string name;
  std::string url;  // public root URL, no trailing slash
  // Where trackers store and delete, when not at `url` (empty: at `url`).
  // Sent only when set, so /status keeps its fields otherwise.
  std::string internal_url;
  std::string root;  // PicRootPath
  int64_t images = 0;
  int64_t bytes_used = 0;
  int64_t disk_free_bytes = 0;
  int64_t max_pics = 0;
  int64_t uptime_s = 0;
  std::string version;
};

nlohmann::json ToJson(const NodeStatus& status);
Result<NodeStatus> ParseNodeStatus(std::string_view body);

// Parses a JSON body without exceptions; kInvalidArgument when malformed or
// not an object.
Result<nlohmann::json> ParseJsonObject(std::string_view body);

// The error body every endpoint returns: {"error":{"code","message"}}.
std::string ErrorBody(const Error& error);
// Reads an error body back into an Error; nullopt-like kInternal when the
// body is not one.
Error ParseErrorBody(std::string_view body, ErrorCode fallback);

}  // namespace imgstore
