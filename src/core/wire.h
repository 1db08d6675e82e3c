#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

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
  // The node's --disk-reserve: below it, it refuses new images whatever a
  // tracker's own reserve says. Optional when read (0: not said).
  int64_t disk_reserve_bytes = 0;
  int64_t max_pics = 0;
  int64_t uptime_s = 0;
  std::string version;
  // Why the node's root takes no new file (read-only, out of inodes);
  // empty when it does. Optional when read.
  std::string write_error;
  // Seconds between its heartbeats (its --heartbeat); 0: not said.
  int64_t heartbeat_s = 0;
  // The largest file it takes (its --max-upload-bytes); 0: not said.
  int64_t max_upload_bytes = 0;
};

nlohmann::json ToJson(const NodeStatus& status);
Result<NodeStatus> ParseNodeStatus(std::string_view body);

// Parses a JSON body without exceptions; kInvalidArgument when malformed or
// not an object.
Result<nlohmann::json> ParseJsonObject(std::string_view body);

// kInvalidArgument naming the first field of `body` not among `known`: an
// operator's misspelt field is said, not silently ignored.
Result<void> OnlyFields(const nlohmann::json& body,
                        std::initializer_list<std::string_view> known);

// `body[key]` read as T (std::string, int64_t, double or bool): `fallback`
// when absent, kInvalidArgument when of another JSON type. nlohmann's own
// value() throws for that, and a request must not be able to throw.
template <typename T>
Result<T> Field(const nlohmann::json& body, const std::string& key,
                T fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    if (it->is_string()) return it->template get<std::string>();
    return Fail(ErrorCode::kInvalidArgument, key + " must be a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (it->is_boolean()) return it->template get<bool>();
    return Fail(ErrorCode::kInvalidArgument, key + " must be true or false");
  } else if constexpr (std::is_integral_v<T>) {
    if (it->is_number_integer()) return it->template get<T>();
    return Fail(ErrorCode::kInvalidArgument, key + " must be an integer");
  } else {
    if (it->is_number()) return it->template get<T>();
    return Fail(ErrorCode::kInvalidArgument, key + " must be a number");
  }
}

// The error body every endpoint returns: {"error":{"code","message"}}.
std::string ErrorBody(const Error& error);
// The message of an error body; nullopt when the body is not one.
std::optional<std::string> ErrorBodyMessage(std::string_view body);
// Reads an error body back into an Error with code `fallback`; a body that
// is not one becomes the message as it is (its first 200 bytes).
Error ParseErrorBody(std::string_view body, ErrorCode fallback);

}  // namespace imgstore
