#include "client/tracker_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <thread>

#include "core/wire.h"
#include "http/client.h"

namespace imgstore {

using nlohmann::json;

namespace {

// An upload's whole exchange: a minute (the tracker may try a node that
// hangs before another), plus the body at 64 KiB/s, so a tracker that
// never answers holds a small file for a minute, not five.
std::chrono::milliseconds UploadTimeout(size_t bytes) {
  return std::chrono::milliseconds(60'000 + bytes / 64);
}
// A download of up to --max-upload-bytes (32 MiB by default) from a node.
constexpr std::chrono::seconds kTransferTimeout{120};
constexpr std::chrono::seconds kCallTimeout{30};

// Typed field readers: false when the field is absent or of another type, so
// a reply from a tracker of another version fails clearly, not with a throw.
bool GetString(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool GetInt(const json& j, const char* key, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

bool GetBool(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return false;
  out = it->get<bool>();
  return true;
}

tl::unexpected<Error> BadReply(std::string_view what) {
  return Fail(ErrorCode::kInternal,
              fmt::format("unexpected reply from the tracker: {}", what));
}

Result<json> ParseReply(std::string_view body) {
  auto j = ParseJsonObject(body);
  if (!j) return BadReply("not a JSON object");
  return j;
}

}  // namespace

ErrorCode CodeForStatus(unsigned status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 413:
      return ErrorCode::kTooLarge;
    case 415:
      return ErrorCode::kUnsupportedMedia;
    case 422:
      return ErrorCode::kUndecodable;
    case 503:
      return ErrorCode::kUnavailable;
    case 507:
      return ErrorCode::kInsufficientStorage;
    default:
      return ErrorCode::kInternal;
  }
}

Result<ImageMeta> ParseImageMeta(std::string_view body) {
  auto j = ParseReply(body);
  if (!j) return Fail(j.error());
  ImageMeta m;
  if (!GetString(*j, "id", m.id) || !GetString(*j, "url", m.url) ||
      !GetString(*j, "sha256", m.sha256) || !GetInt(*j, "bytes", m.bytes)) {
    return BadReply("image without id, url, sha256 or bytes");
  }
  // The upload reply may omit `available`: a fresh upload is on a usable
  // server by construction.
  m.available = true;
  GetBool(*j, "available", m.available);
  GetString(*j, "content_type", m.content_type);
  GetInt(*j, "width", m.width);
  GetInt(*j, "height", m.height);
  GetInt(*j, "created_at", m.created_at);
  if (auto it = j->find("replicas"); it != j->end() && it->is_array()) {
    for (const json& r : *it) {
      if (!r.is_object()) return BadReply("replica is not an object");
      ImageReplica replica;
      if (!GetInt(r, "server_id", replica.server_id) ||
          !GetString(r, "url", replica.url)) {
        return BadReply("replica without server_id or url");
      }
      // Without `usable` (the upload reply), a copy just written is usable.
      replica.usable = true;
      GetBool(r, "usable", replica.usable);
      m.replicas.push_back(std::move(replica));
    }
  }
  m.raw = std::move(*j);
  return m;
}

Result<ServerEntry> ParseServerEntry(const json& j) {
  if (!j.is_object()) return BadReply("server is not an object");
  ServerEntry e;
  ServerRow& r = e.row;
  std::string state;
  if (!GetInt(j, "server_id", r.server_id) ||
      !GetString(j, "server_name", r.server_name) ||
      !GetString(j, "server_url", r.server_url) ||
      !GetInt(j, "max_pic_amount", r.max_pic_amount) ||
      !GetInt(j, "cur_pic_amount", r.cur_pic_amount) ||
      !GetBool(j, "flg_usable", r.flg_usable) ||
      !GetString(j, "state", state)) {
    return BadReply("server row with a missing or mistyped field");
  }
  auto parsed = ParseServerState(state);
  if (!parsed) return BadReply(fmt::format("server state \"{}\"", state));
  r.state = *parsed;
  GetString(j, "pic_root_path", r.pic_root_path);
  GetInt(j, "last_heartbeat_at", r.last_heartbeat_at);
  GetInt(j, "disk_free_bytes", r.disk_free_bytes);
  GetInt(j, "bytes_used", r.bytes_used);
  GetInt(j, "heartbeat_age_s", e.heartbeat_age_s);
  GetBool(j, "takes_uploads", e.takes_uploads);
  return e;
}

Result<ServerList> ParseServerList(std::string_view body) {
  auto j = ParseReply(body);
  if (!j) return Fail(j.error());
  auto servers = j->find("servers");
  if (servers == j->end() || !servers->is_array()) {
    return BadReply("no \"servers\" array");
  }
  ServerList out;
  for (const json& s : *servers) {
    auto entry = ParseServerEntry(s);
    if (!entry) return Fail(entry.error());
    out.servers.push_back(std::move(*entry));
  }
  if (auto t = j->find("totals"); t != j->end() && t->is_object()) {
    GetInt(*t, "servers", out.totals.servers);
    GetInt(*t, "usable", out.totals.usable);
    GetInt(*t, "images", out.totals.images);
    GetInt(*t, "bytes", out.totals.bytes);
    GetInt(*t, "copies", out.totals.copies);
    GetInt(*t, "capacity", out.totals.capacity);
    GetInt(*t, "bytes_used", out.totals.bytes_used);
    GetInt(*t, "replicas", out.totals.replicas);
    GetInt(*t, "repair_backlog", out.totals.repair_backlog);
    GetInt(*t, "repair_waiting", out.totals.repair_waiting);
    GetInt(*t, "repair_unreadable", out.totals.repair_unreadable);
  } else {
    // An older tracker: add the rows up ourselves (copies only: the rows
    // cannot tell how many images those are).
    for (const ServerEntry& e : out.servers) {
      out.totals.servers += 1;
      out.totals.usable += e.row.flg_usable;
      out.totals.copies += e.row.cur_pic_amount;
      out.totals.capacity += e.row.max_pic_amount;
      out.totals.bytes_used += e.row.bytes_used;
    }
  }
  return out;
}

namespace {

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// An exchange's answer, `expected` or an Error carrying the tracker's
// message.
Result<http::ClientResponse> Check(const http::ClientRequest& request,
                                   Result<http::ClientResponse> res,
                                   unsigned expected) {
  if (!res) {
    // Nothing listens there, or no such host: most often a tracker not
    // started, or a URL (or the default one) that names another place.
    const std::string& why = res.error().message;
    if (why.ends_with("Connection refused") ||
        why.find("Host not found") != std::string::npos) {
      return Fail(res.error().code,
                  why +
                      ": is a tracker running there? (--tracker or "
                      "IMGSTORE_TRACKER names it)");
    }
    return Fail(res.error());
  }
  if (res->status != expected) {
    const ErrorCode code = CodeForStatus(res->status);
    auto message = ErrorBodyMessage(res->body);
    // Every path this client asks for is a tracker's: a server without it
    // is something else (a node, say), or the URL has a path too many. A
    // reply without an imgstore error body (a web page, a proxy's) is
    // from something else too, and its page is no one-line message.
    if (!message || (res->status == 404 && *message == "no such path")) {
      return Fail(code, fmt::format("{} {}: HTTP {}{}: is the --tracker URL an "
                                    "imgstore tracker?",
                                    request.method, request.url, res->status,
                                    message ? " no such path" : ""));
    }
    return Fail(code, std::move(*message));
  }
  return res;
}

// One exchange with the tracker (see Check).
Result<http::ClientResponse> Call(http::ClientRequest request,
                                  unsigned expected) {
  return Check(request, http::Fetch(request), expected);
}

// Seconds to wait before asking again when the tracker turned the request
// away for a moment (a 503 with Retry-After: it holds as many uploads as
// it may); nullopt for any other answer.
std::optional<int> RetryAfter(const Result<http::ClientResponse>& res) {
  if (!res || res->status != 503) return std::nullopt;
  const std::string after = res->Header("Retry-After");
  int seconds = 0;
  auto [end, ec] =
      std::from_chars(after.data(), after.data() + after.size(), seconds);
  if (ec != std::errc() || end != after.data() + after.size()) {
    return std::nullopt;
  }
  return std::clamp(seconds, 1, 10);
}

}  // namespace

TrackerClient::TrackerClient(std::string base_url, std::string admin_token)
    : base_url_(TrimSlash(std::move(base_url))),
      admin_token_(std::move(admin_token)) {}

Result<ImageMeta> TrackerClient::Upload(std::string bytes,
                                        std::string_view content_type,
                                        bool if_new) const {
  http::ClientRequest req;
  req.method = "POST";
  req.url = base_url_ + (if_new ? "/v1/images?if_new=1" : "/v1/images");
  req.headers.emplace_back("Content-Type", std::string(content_type));
  req.timeout = UploadTimeout(bytes.size());
  req.body = std::move(bytes);
  // A tracker busy receiving other uploads, or whose database is away for
  // a moment (a failover, a restart), says when to come back: a few times,
  // rather than failing a file an import would have to run again for. (A
  // refused upload changed nothing.) Not for "no server can take it",
  // which waiting seconds rarely mends.
  constexpr int kBusyTries = 8;
  auto passing = [](std::string_view why) {
    return why.starts_with("busy") ||
           why.starts_with("the metadata store cannot be read");
  };
  Result<http::ClientResponse> res = http::Fetch(req);
  for (int tries = 1; tries < kBusyTries; ++tries) {
    auto wait = RetryAfter(res);
    if (!wait || !passing(ErrorBodyMessage(res->body).value_or(""))) break;
    std::this_thread::sleep_for(std::chrono::seconds(*wait));
    res = http::Fetch(req);
  }
  const bool found = if_new && res && res->status == 200;
  auto checked = Check(req, std::move(res), found ? 200 : 201);
  if (!checked) return Fail(checked.error());
  auto meta = ParseImageMeta(checked->body);
  if (meta) meta->created = !found;
  return meta;
}

Result<ImageMeta> TrackerClient::GetImage(const ImageId& id) const {
  http::ClientRequest req;
  req.url = base_url_ + "/v1/images/" + id.str();
  req.timeout = kCallTimeout;
  auto res = Call(std::move(req), 200);
  if (!res) return Fail(res.error());
  return ParseImageMeta(res->body);
}

Result<std::vector<std::string>> TrackerClient::FindBySha256(
    std::string_view hex) const {
  http::ClientRequest req;
  req.url = fmt::format("{}/v1/images?sha256={}", base_url_, hex);
  req.timeout = kCallTimeout;
  auto res = Call(std::move(req), 200);
  if (!res) return Fail(res.error());
  auto j = ParseReply(res->body);
  if (!j) return Fail(j.error());
  auto ids = j->find("ids");
  if (ids == j->end() || !ids->is_array()) return BadReply("no \"ids\" array");
  std::vector<std::string> out;
  for (const json& id : *ids) {
    if (!id.is_string()) return BadReply("an id that is not a string");
    out.push_back(id.get<std::string>());
  }
  return out;
}

Result<void> TrackerClient::Delete(const ImageId& id) const {
  http::ClientRequest req;
  req.method = "DELETE";
  req.url = base_url_ + "/v1/images/" + id.str();
  if (!admin_token_.empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + admin_token_);
  }
  req.timeout = kCallTimeout;
  auto res = Call(std::move(req), 204);
  if (!res) return Fail(res.error());
  return {};
}

Result<ResolveReply> TrackerClient::Resolve(
    const std::vector<std::string>& ids) const {
  http::ClientRequest req;
  req.method = "POST";
  req.url = base_url_ + "/v1/resolve";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = json{{"ids", ids}}.dump();
  req.timeout = kCallTimeout;
  auto res = Call(std::move(req), 200);
  if (!res) return Fail(res.error());
  auto j = ParseReply(res->body);
  if (!j) return Fail(j.error());
  ResolveReply out;
  auto images = j->find("images");
  if (images == j->end() || !images->is_object()) {
    return BadReply("no \"images\" object");
  }
  for (const auto& [id, v] : images->items()) {
    ResolvedImage r;
    if (!v.is_object() || !GetString(v, "url", r.url) ||
        !GetBool(v, "available", r.available)) {
      return BadReply("resolved image without url or available");
    }
    out.images.emplace(id, std::move(r));
  }
  if (auto m = j->find("missing"); m != j->end() && m->is_array()) {
    for (const json& id : *m) {
      if (id.is_string()) out.missing.push_back(id.get<std::string>());
    }
  }
  return out;
}

namespace {

http::ClientRequest AdminRequest(std::string method, std::string url,
                                 const std::string& token) {
  http::ClientRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  if (!token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + token);
  req.timeout = kCallTimeout;
  return req;
}

}  // namespace

Result<ServerList> TrackerClient::ListServers() const {
  auto res =
      Call(AdminRequest("GET", base_url_ + "/v1/servers", admin_token_), 200);
  if (!res) return Fail(res.error());
  return ParseServerList(res->body);
}

Result<ClusterTotals> TrackerClient::Stats() const {
  auto list = ListServers();
  if (!list) return Fail(list.error());
  return list->totals;
}

Result<ServerEntry> TrackerClient::AddServer(std::string_view url) const {
  auto req = AdminRequest("POST", base_url_ + "/v1/servers", admin_token_);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = json{{"url", url}}.dump();
  auto res = Call(std::move(req), 201);
  if (!res) return Fail(res.error());
  auto j = ParseReply(res->body);
  if (!j) return Fail(j.error());
  return ParseServerEntry(*j);
}

Result<ServerEntry> TrackerClient::PatchServer(int64_t id,
                                               const ServerPatch& patch) const {
  json body = json::object();
  if (patch.state) body["state"] = ServerStateName(*patch.state);
  if (patch.max_pic_amount) body["max_pic_amount"] = *patch.max_pic_amount;
  auto req = AdminRequest(
      "PATCH", fmt::format("{}/v1/servers/{}", base_url_, id), admin_token_);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body.dump();
  auto res = Call(std::move(req), 200);
  if (!res) return Fail(res.error());
  auto j = ParseReply(res->body);
  if (!j) return Fail(j.error());
  return ParseServerEntry(*j);
}

Result<void> TrackerClient::RemoveServer(int64_t id) const {
  auto res = Call(
      AdminRequest("DELETE", fmt::format("{}/v1/servers/{}", base_url_, id),
                   admin_token_),
      204);
  if (!res) return Fail(res.error());
  return {};
}

Result<json> TrackerClient::AdminJson(const std::string& method,
                                      const std::string& path, const json& body,
                                      unsigned expected,
                                      std::chrono::milliseconds timeout) const {
  auto req = AdminRequest(method, base_url_ + path, admin_token_);
  req.timeout = timeout;
  if (!body.is_null()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body.dump();
  }
  auto res = Call(std::move(req), expected);
  if (!res) return Fail(res.error());
  if (res->body.empty()) return json();
  return ParseReply(res->body);
}

Result<void> TrackerClient::Healthz() const {
  http::ClientRequest req;
  req.url = base_url_ + "/healthz";
  req.timeout = std::chrono::seconds(5);
  auto res = Call(std::move(req), 200);
  if (!res) return Fail(res.error());
  return {};
}

Result<std::string> TrackerClient::Download(const std::string& url) {
  http::ClientRequest req;
  req.url = url;
  req.timeout = kTransferTimeout;
  auto res = http::Fetch(req);
  if (!res) return Fail(res.error());
  if (res->status != 200) {
    return Fail(CodeForStatus(res->status),
                fmt::format("GET {}: HTTP {}", url, res->status));
  }
  return std::move(res->body);
}

}  // namespace imgstore
