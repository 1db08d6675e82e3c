#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/image_id.h"
#include "core/server.h"

namespace imgstore {

// One copy of an image as the tracker reports it.
struct ImageReplica {
  int64_t server_id = 0;
  std::string url;
  bool usable = false;
};

// The tracker's description of one image: the reply to an upload (201) and
// to GET /v1/images/{id} (SPEC §4).
struct ImageMeta {
  std::string id;
  std::string url;         // the URL to use now
  bool available = false;  // false: `url` is the default image
  std::string content_type;
  int64_t bytes = 0;
  int64_t width = 0;
  int64_t height = 0;
  std::string sha256;
  int64_t created_at = 0;
  std::vector<ImageReplica> replicas;
  // False when an upload with if_new found the bytes stored already.
  bool created = true;
  nlohmann::json raw;  // the reply as received, for `--json`
};

struct ResolvedImage {
  std::string url;
  bool available = false;
};

// POST /v1/resolve's reply.
struct ResolveReply {
  std::map<std::string, ResolvedImage> images;
  std::vector<std::string> missing;
};

// One row of GET /v1/servers: the server table plus live health.
struct ServerEntry {
  ServerRow row;
  int64_t heartbeat_age_s = -1;  // -1: never heard from
  // Gets new images now (up, active, with room, its last store fine).
  bool takes_uploads = false;
};

struct ClusterTotals {
  int64_t servers = 0;
  int64_t usable = 0;
  int64_t images = 0;          // each image once, however many copies
  int64_t bytes = 0;           // their sizes, each image once
  int64_t copies = 0;          // sum of cur_pic_amount
  int64_t capacity = 0;        // sum of max_pic_amount (copies)
  int64_t bytes_used = 0;      // sum of bytes_used (every copy on disk)
  int64_t replicas = 0;        // copies wanted of each image (0: not reported)
  int64_t repair_backlog = 0;  // copies missing or still to move away
  // images whose repair waits for a server able to take a copy
  int64_t repair_waiting = 0;
  int64_t repair_unreadable = 0;
};

struct ServerList {
  std::vector<ServerEntry> servers;
  ClusterTotals totals;
};

// What PATCH /v1/servers/{id} changes; at least one field set.
struct ServerPatch {
  std::optional<ServerState> state;  // active, draining or disabled
  std::optional<int64_t> max_pic_amount;
};

// A typed client of one tracker's HTTP API (SPEC §4). Each call is one
// blocking HTTP exchange. Failures come back as an Error whose code follows
// the HTTP status (404 → kNotFound, 409 → kConflict, ...) and whose message
// is the tracker's own (from its {"error":{...}} body); a tracker that cannot
// be reached is kUnavailable "METHOD URL: why". Admin calls send the token as
// `Authorization: Bearer`, when one is given.
//
// Holds no mutable state: thread-safe, one instance may serve many threads.
class TrackerClient {
 public:
  // base_url: "http://host:port" (a trailing '/' is ignored).
  TrackerClient(std::string base_url, std::string admin_token);

  const std::string& base_url() const { return base_url_; }

  // POST /v1/images with the raw bytes. With `if_new` (?if_new=1), bytes
  // stored already are not stored again: the reply is the image that has
  // them, `created` false.
  Result<ImageMeta> Upload(std::string bytes, std::string_view content_type,
                           bool if_new = false) const;
  // GET /v1/images/{id}.
  Result<ImageMeta> GetImage(const ImageId& id) const;
  // GET /v1/images?sha256=HEX: the ids of the images with these bytes.
  Result<std::vector<std::string>> FindBySha256(std::string_view hex) const;
  // DELETE /v1/images/{id}.
  Result<void> Delete(const ImageId& id) const;
  // POST /v1/resolve.
  Result<ResolveReply> Resolve(const std::vector<std::string>& ids) const;

  // GET /v1/servers (admin).
  Result<ServerList> ListServers() const;
  // Cluster totals; from GET /v1/servers (admin).
  Result<ClusterTotals> Stats() const;
  // POST /v1/servers {"url"} (admin).
  Result<ServerEntry> AddServer(std::string_view url) const;
  // PATCH /v1/servers/{id} (admin).
  Result<ServerEntry> PatchServer(int64_t id, const ServerPatch& patch) const;
  // DELETE /v1/servers/{id} (admin); kConflict while it holds images.
  Result<void> RemoveServer(int64_t id) const;

  // An admin call whose reply is JSON: rebalance, fsck. `body` is sent as
  // JSON unless null; any status but `expected` is an Error.
  Result<nlohmann::json> AdminJson(
      const std::string& method, const std::string& path,
      const nlohmann::json& body, unsigned expected,
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // GET /healthz: success when the tracker answers 200.
  Result<void> Healthz() const;

  // GET of an absolute URL (an image on a node): its body on 200, else an
  // Error naming the URL and status.
  static Result<std::string> Download(const std::string& url);

 private:
  const std::string base_url_;
  const std::string admin_token_;
};

// The ErrorCode an HTTP status stands for (the inverse of http/respond.cc's
// table); kInternal for statuses outside it.
ErrorCode CodeForStatus(unsigned status);

// Parsers of the tracker's reply bodies; kInternal when a field is missing
// or mistyped. Exposed for tests.
Result<ImageMeta> ParseImageMeta(std::string_view body);
Result<ServerEntry> ParseServerEntry(const nlohmann::json& j);
Result<ServerList> ParseServerList(std::string_view body);

}  // namespace imgstore
