#include "core/wire.h"

#include <fmt/format.h>

#include <algorithm>

namespace imgstore {

using nlohmann::json;

json ToJson(const NodeStatus& s) {
  json j{{"name", s.name},
         {"url", s.url},
         {"root", s.root},
         {"images", s.images},
         {"bytes_used", s.bytes_used},
         {"disk_free_bytes", s.disk_free_bytes},
         {"disk_reserve_bytes", s.disk_reserve_bytes},
         {"max_pics", s.max_pics},
         {"uptime_s", s.uptime_s},
         {"version", s.version}};
  if (!s.internal_url.empty()) j["internal_url"] = s.internal_url;
  if (!s.write_error.empty()) j["write_error"] = s.write_error;
  if (s.heartbeat_s > 0) j["heartbeat_s"] = s.heartbeat_s;
  if (s.max_upload_bytes > 0) j["max_upload_bytes"] = s.max_upload_bytes;
  return j;
}

Result<json> ParseJsonObject(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "body is not a JSON object");
  }
  return j;
}

Result<void> OnlyFields(const json& body,
                        std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string names;
    for (std::string_view k : known)
      names += fmt::format("{}{}", names.empty() ? "" : ", ", k);
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("unknown field {} (expected {})", key, names));
  }
  return {};
}

Result<NodeStatus> ParseNodeStatus(std::string_view body) {
  auto j = ParseJsonObject(body);
  if (!j) return Fail(j.error());
  NodeStatus s;
  auto str = [&](const char* key, std::string& out) {
    auto it = j->find(key);
    if (it == j->end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  auto num = [&](const char* key, int64_t& out) {
    auto it = j->find(key);
    if (it == j->end() || !it->is_number_integer()) return false;
    out = it->get<int64_t>();
    return true;
  };
  if (!str("name", s.name) || !str("url", s.url) || !str("root", s.root) ||
      !num("images", s.images) || !num("bytes_used", s.bytes_used) ||
      !num("disk_free_bytes", s.disk_free_bytes) ||
      !num("max_pics", s.max_pics) || !num("uptime_s", s.uptime_s) ||
      !str("version", s.version)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: missing or mistyped field");
  }
  if (s.name.empty() || s.url.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "node status: empty name or url");
  }
  if (j->contains("heartbeat_s") && !num("heartbeat_s", s.heartbeat_s)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: heartbeat_s is not a whole number");
  }
  if (j->contains("write_error") && !str("write_error", s.write_error)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: write_error is not a string");
  }
  if (j->contains("internal_url") && !str("internal_url", s.internal_url)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: internal_url must be a string");
  }
  if (j->contains("disk_reserve_bytes") &&
      !num("disk_reserve_bytes", s.disk_reserve_bytes)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: disk_reserve_bytes must be an integer");
  }
  if (j->contains("max_upload_bytes") &&
      !num("max_upload_bytes", s.max_upload_bytes)) {
    return Fail(ErrorCode::kInvalidArgument,
                "node status: max_upload_bytes must be an integer");
  }
  // Counts and sizes: a negative one is a broken or forged status, refused
  // before anything is made of it.
  for (auto [key, value] : {std::pair{"images", s.images},
                            {"bytes_used", s.bytes_used},
                            {"disk_free_bytes", s.disk_free_bytes},
                            {"max_pics", s.max_pics},
                            {"uptime_s", s.uptime_s},
                            {"heartbeat_s", s.heartbeat_s},
                            {"disk_reserve_bytes", s.disk_reserve_bytes},
                            {"max_upload_bytes", s.max_upload_bytes}}) {
    if (value < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("node status: {} must not be negative (got {})",
                              key, value));
    }
  }
  return s;
}

std::string ErrorBody(const Error& error) {
  return json{
      {"error",
       {{"code", ErrorCodeName(error.code)}, {"message", error.message}}}}
      .dump();
}

std::optional<std::string> ErrorBodyMessage(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    return j["error"]["message"].get<std::string>();
  }
  return std::nullopt;
}

Error ParseErrorBody(std::string_view body, ErrorCode fallback) {
  if (auto message = ErrorBodyMessage(body))
    return Error{fallback, std::move(*message)};
  std::string text(body.substr(0, 200));
  return Error{fallback,
               text.empty() ? std::string(ErrorCodeName(fallback)) : text};
}

}  // namespace imgstore
