// The tracker's route table (SPEC §4) and its handlers: parse and check at
// the edge, then call the uploader, resolver, registry or store. Every
// handler that touches the database or a node runs on the worker pool.
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <charconv>

#include "core/hex.h"
#include "core/image_probe.h"
#include "core/wire.h"
#include "http/client.h"
#include "http/multipart.h"
#include "http/query.h"
#include "http/respond.h"
#include "http/signed.h"
#include "tracker/fsck.h"
#include "tracker/pages.h"
#include "tracker/repairer.h"
#include "tracker/resolver.h"
#include "tracker/server_registry.h"
#include "tracker/tracker.h"
#include "tracker/uploader.h"

namespace imgstore {

namespace bhttp = boost::beast::http;
using http::Dispatch;
using http::Request;
using http::Response;
using nlohmann::json;

namespace {

constexpr int64_t kGalleryPageSize = 24;
// The gallery is public: how deep it pages (an OFFSET scan grows with the
// page) and how often its total is counted (a scan of the image table) are
// bounded, whatever a visitor asks.
constexpr int64_t kGalleryMaxPages = 400;
constexpr auto kGalleryCountEvery = std::chrono::seconds(5);
// /i/{id} redirects may be cached briefly: long enough to absorb a page's
// repeated loads, short enough that a dead server's images switch soon.
constexpr int kRedirectMaxAge = 10;

int64_t QueryInt(std::string_view query, std::string_view key,
                 int64_t fallback) {
  std::string_view v = http::QueryValue(query, key).value_or("");
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size())
    return fallback;
  return out;
}

// An API's query number: `fallback` when absent, else a whole number from
// `min` to `max`, or a 400 that says so (the pages clamp instead).
Result<int64_t> QueryNumber(std::string_view query, std::string_view key,
                            int64_t fallback, int64_t min, int64_t max) {
  if (!http::QueryValue(query, key)) return fallback;
  constexpr int64_t kBad = INT64_MIN;
  const int64_t v = QueryInt(query, key, kBad);
  if (v == kBad || v < min || v > max) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("{} must be a whole number from {} to {}", key, min, max));
  }
  return v;
}

// An API's query flag: false when absent; "1" or "true", "0" or "false",
// or a 400 that says so.
Result<bool> BoolQuery(std::string_view query, std::string_view key) {
  const auto v = http::QueryValue(query, key);
  if (!v || *v == "0" || *v == "false") return false;
  if (*v == "1" || *v == "true") return true;
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("{} must be 1 or 0 (true or false)", key));
}

// A server's capacity as an operator gives it (POST or PATCH).
Result<int64_t> CheckCapacity(int64_t max_pic_amount) {
  if (max_pic_amount <= 0 || max_pic_amount > kMaxPicAmount) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("max_pic_amount must be a whole number from 1 to {}",
                    kMaxPicAmount));
  }
  return max_pic_amount;
}

json ServerJson(const ServerRow& s, const ServerRegistry& registry,
                int64_t disk_reserve_bytes) {
  const bool takes_uploads = registry.TakesUploads(s, disk_reserve_bytes);
  return json{{"server_id", s.server_id},
              {"server_name", s.server_name},
              {"server_url", s.server_url},
              {"internal_url", s.internal_url},
              {"pic_root_path", s.pic_root_path},
              {"max_pic_amount", s.max_pic_amount},
              {"cur_pic_amount", s.cur_pic_amount},
              {"flg_usable", s.flg_usable},
              {"takes_uploads", takes_uploads},
              {"state", ServerStateName(s.state)},
              {"last_heartbeat_at", s.last_heartbeat_at},
              {"heartbeat_age_s", registry.HeartbeatAgeSeconds(s)},
              {"disk_free_bytes", s.disk_free_bytes},
              {"bytes_used", s.bytes_used}};
}

json ImageJson(const ImageRecord& image, const Resolver& resolver,
               const ServerView& servers) {
  Resolved now = resolver.Choose(image, servers);
  json replicas = json::array();
  for (const Placement& p : image.placements) {
    for (const ServerRow& s : servers) {
      if (s.server_id != p.server_id) continue;
      replicas.push_back({{"server_id", s.server_id},
                          {"url", Resolver::CopyUrl(s, p)},
                          {"usable", s.flg_usable}});
    }
  }
  return json{{"id", image.id.str()},
              {"url", now.url},
              {"available", now.available},
              {"content_type", FormatContentType(image.format)},
              {"bytes", image.bytes},
              {"width", image.width},
              {"height", image.height},
              {"sha256", image.sha256},
              {"created_at", image.created_at},
              {"replicas", replicas}};
}

pages::GalleryImage GalleryItem(const ImageRecord& image,
                                const Resolver& resolver,
                                const ServerView& servers) {
  Resolved now = resolver.Choose(image, servers);
  return pages::GalleryImage{
      image.id.str(), now.url,
      now.available,  std::string(FormatContentType(image.format)),
      image.width,    image.height,
      image.bytes,    image.created_at};
}

// The pages run only their own scripts and styles, talk only to this
// tracker, and show images from any node (and previews of files being
// uploaded); nobody may frame them (the dashboard's buttons).
void Secure(Response& res) {
  res.message.set("Content-Security-Policy",
                  "default-src 'self'; img-src * data: blob:; "
                  "object-src 'none'; base-uri 'none'; "
                  "form-action 'self'; frame-ancestors 'none'");
  res.message.set(bhttp::field::x_frame_options, "DENY");
  res.message.set("X-Content-Type-Options", "nosniff");
  res.message.set("Referrer-Policy", "same-origin");
}

Response Html(std::string body) {
  Response res = http::Text(bhttp::status::ok, std::move(body),
                            "text/html; charset=utf-8");
  Secure(res);
  return res;
}

// A page that fails is a page too: the API's answer (status, Retry-After)
// with an HTML body.
Response HtmlError(const Error& error, std::string page) {
  Response res = http::ErrorResponse(error);
  res.message.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.message.body() = std::move(page);
  res.message.prepare_payload();
  Secure(res);
  return res;
}

// A browser's own navigation (a form posted without the page's script)
// asks for HTML first; scripts and clients ask for JSON or anything.
bool WantsPage(std::string_view accept) {
  constexpr std::string_view kHtml = "text/html";
  return boost::beast::iequals(accept.substr(0, kHtml.size()), kHtml);
}

// Whether an upload's Content-Type is one it may have.
Result<void> CheckUploadType(std::string_view type) {
  // No type at all is what a browser's fetch() sends for a file whose type
  // it does not know (HEIC, say): the bytes decide, as they do for every
  // raw upload.
  if (type.empty() || http::TypeIs(type, "multipart/form-data") ||
      http::TypeIs(type, "image/") ||
      http::TypeIs(type, "application/octet-stream")) {
    return {};
  }
  return Fail(ErrorCode::kUnsupportedMedia,
              "send an image Content-Type or multipart/form-data with field "
              "\"file\"");
}

// The image of an upload: the raw body, or a multipart body's field "file"
// (a form may be larger than `max_bytes` by its own parts; its file not).
Result<std::string_view> UploadedBytes(const Request& r, uint64_t max_bytes) {
  std::string_view type = r.Header("Content-Type");
  if (auto ok = CheckUploadType(type); !ok) return Fail(ok.error());
  std::string_view bytes = r.body();
  if (http::TypeIs(type, "multipart/form-data")) {
    auto part = http::FindFormField(type, r.body(), "file");
    if (!part) return Fail(part.error());
    bytes = part->body;
    if (bytes.size() > max_bytes) {
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("file of {} bytes is over the limit of {}",
                              bytes.size(), max_bytes));
    }
  }
  if (bytes.empty()) return Fail(ErrorCode::kInvalidArgument, "empty body");
  return bytes;
}

}  // namespace

http::Router Tracker::MakeRouter() {
  using bhttp::verb;

  // Admin endpoints need `Authorization: Bearer <token>` when a token is set.
  auto admin = [this](http::Handler handler) -> http::Handler {
    return [this, handler = std::move(handler)](const Request& r) -> Response {
      if (!options_.admin_token.empty()) {
        std::string_view auth = r.Header("Authorization");
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        constexpr std::string_view kBearer = "Bearer ";
        if (!boost::beast::iequals(auth.substr(0, kBearer.size()), kBearer)) {
          return http::ErrorResponse(ErrorCode::kUnauthenticated,
                                     "admin token required");
        }
        std::string_view token = auth.substr(kBearer.size());
        if (token.size() != options_.admin_token.size() ||
            CRYPTO_memcmp(token.data(), options_.admin_token.data(),
                          token.size()) != 0) {
          return http::ErrorResponse(ErrorCode::kForbidden,
                                     "wrong admin token");
        }
      }
      return handler(r);
    };
  };

  auto upload = [this](const Request& r) -> Response {
    // ?if_new=1: bytes stored already are not stored again; the answer is
    // then 200 with the image that has them (imgstore import sends it).
    bool created = true;
    auto record = [&]() -> Result<ImageRecord> {
      auto if_new = BoolQuery(r.query, "if_new");
      if (!if_new) return Fail(if_new.error());
      auto bytes = UploadedBytes(r, options_.max_upload_bytes);
      if (!bytes) return Fail(bytes.error());
      if (!*if_new) return uploader_->Upload(*bytes);
      auto outcome = uploader_->UploadIfNew(*bytes);
      if (!outcome) return Fail(outcome.error());
      created = outcome->created;
      return std::move(outcome->record);
    }();
    if (WantsPage(r.Header("Accept"))) {
      // The gallery's form, posted without its script: the new image's
      // page, or a page that says why not.
      if (!record)
        return HtmlError(record.error(),
                         pages::UploadRefused(record.error().message));
      Response see = Html("");
      see.message.result(bhttp::status::see_other);
      see.message.set(bhttp::field::location, "/images/" + record->id.str());
      return see;
    }
    if (!record) return http::ErrorResponse(record.error());
    Response answer =
        http::Json(created ? bhttp::status::created : bhttp::status::ok,
                   ImageJson(*record, *resolver_, registry_->Snapshot()));
    answer.message.set(bhttp::field::location,
                       "/v1/images/" + record->id.str());
    return answer;
  };

  // Refused by its head, before a large body is sent: a type no upload has,
  // or a database that cannot take the record.
  http::Route upload_route =
      http::LargeBody({verb::post, "/v1/images", Dispatch::kBlocking, upload});
  upload_route.head_check =
      [this](const bhttp::fields& head) -> std::optional<Response> {
    Result<void> ok = CheckUploadType(head[bhttp::field::content_type]);
    if (auto down = registry_->RefreshError(); ok && down) ok = Fail(*down);
    if (ok) return std::nullopt;
    if (WantsPage(head[bhttp::field::accept]))
      return HtmlError(ok.error(), pages::UploadRefused(ok.error().message));
    return http::ErrorResponse(ok.error());
  };

  auto get_image = [this](const Request& r) -> Response {
    auto id = ImageId::Parse(r.params[0]);
    if (!id) return http::ErrorResponse(ErrorCode::kNotFound, "no such image");
    auto image = store_->GetImage(*id);
    if (!image && image.error().code == ErrorCode::kNotFound)
      return http::ErrorResponse(ErrorCode::kNotFound, "no such image");
    if (!image) return http::ErrorResponse(image.error());
    return http::Json(bhttp::status::ok,
                      ImageJson(*image, *resolver_, registry_->Snapshot()));
  };

  // Recent images, newest first: every id in the store, so behind the
  // admin token when one is set (ids are meant to be unguessable).
  auto recent_images = admin([this](const Request& r) -> Response {
    // A larger page is capped, not refused (as the node's listing).
    auto limit = QueryNumber(r.query, "limit", 50, 1, 1'000'000'000);
    if (!limit) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "limit must be a whole number from 1 (a page "
                                 "holds at most 500)");
    }
    const int64_t page = std::min<int64_t>(*limit, 500);
    // Every image, page by page in id order: ?after= the last id of the
    // page before (empty: from the first), each page naming the next.
    const auto after = http::QueryValue(r.query, "after");
    if (after && http::QueryValue(r.query, "offset")) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "give after or offset, not both");
    }
    if (after && !after->empty() && !ImageId::Parse(*after)) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "after must be an image id");
    }
    auto offset = QueryNumber(r.query, "offset", 0, 0, 1'000'000'000);
    if (!offset) return http::ErrorResponse(offset.error());
    auto images = after ? store_->ImagesAfter(std::string(*after), page)
                        : store_->RecentImages(page, *offset);
    if (!images) return http::ErrorResponse(images.error());
    const ServerView servers = registry_->Snapshot();
    json out = json::array();
    for (const ImageRecord& image : *images)
      out.push_back(ImageJson(image, *resolver_, servers));
    json body = {{"images", out}};
    if (after) {
      body["next"] = int64_t(images->size()) == page
                         ? json(images->back().id.str())
                         : json(nullptr);
    }
    return http::Json(bhttp::status::ok, body);
  });

  auto list_images = [this, recent_images](const Request& r) -> Response {
    if (auto given = http::QueryValue(r.query, "sha256")) {
      // Stored in lower case; either case is the same digest.
      std::string sha(*given);
      std::transform(sha.begin(), sha.end(), sha.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      if (!IsLowerHex(sha, 64)) {
        return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                   "sha256 must be 64 hex digits");
      }
      auto ids = store_->FindBySha256(sha);
      if (!ids) return http::ErrorResponse(ids.error());
      json out = json::array();
      for (const ImageId& id : *ids) out.push_back(id.str());
      return http::Json(bhttp::status::ok, {{"ids", out}});
    }
    return recent_images(r);
  };

  auto delete_image = [this](const Request& r) -> Response {
    auto id = ImageId::Parse(r.params[0]);
    if (!id) return http::ErrorResponse(ErrorCode::kNotFound, "no such image");
    auto deleted = store_->DeleteImage(*id);
    if (!deleted) return http::ErrorResponse(deleted.error());
    const ImagePath path = MakeImagePath(deleted->id, deleted->format);
    for (const Placement& p : deleted->placements) {
      registry_->AdjustCount(p.server_id, -1);
      // The record is gone, so no page hands out the image; a file its
      // server cannot delete now goes in a later repair round.
      auto server = registry_->Find(p.server_id);
      repairer_->DeleteFile(server ? &*server : nullptr, path);
    }
    return http::Empty(bhttp::status::no_content);
  };

  auto resolve = [this](const Request& r) -> Response {
    auto request = ParseResolveRequest(r.body());
    if (!request) return http::ErrorResponse(request.error());
    auto batch = resolver_->ResolveMany(request->ids());
    if (!batch) return http::ErrorResponse(batch.error());
    return http::Text(bhttp::status::ok, FormatResolveReply(*batch),
                      "application/json");
  };

  auto redirect = [this](const Request& r) -> Response {
    auto now = resolver_->ResolveOne(r.params[0]);
    // A browser shows a picture, not a broken image, while the database
    // cannot be asked (as for an image whose servers are all down).
    const bool store_down =
        !now && (now.error().code == ErrorCode::kUnavailable ||
                 now.error().code == ErrorCode::kIo);
    if (!now && !store_down) {
      Response none = http::ErrorResponse(now.error());
      none.message.set(bhttp::field::access_control_allow_origin, "*");
      return none;
    }
    Response to =
        http::Redirect(store_down ? resolver_->default_image_url() : now->url,
                       kRedirectMaxAge);
    // A cross-origin <img> or fetch() follows it only if it, too, allows it.
    to.message.set(bhttp::field::access_control_allow_origin, "*");
    return to;
  };

  auto list_servers = [this](const Request&) -> Response {
    auto refreshed = registry_->Refresh();
    if (!refreshed) return http::ErrorResponse(refreshed.error());
    // Images and their bytes count each image once; copies, capacity and
    // bytes_used count what the servers hold, every copy.
    auto stored = store_->Stats();
    if (!stored) return http::ErrorResponse(stored.error());
    json servers = json::array();
    int64_t usable = 0, copies = 0, capacity = 0, bytes_used = 0;
    for (const ServerRow& s : registry_->Snapshot()) {
      servers.push_back(ServerJson(s, *registry_, options_.disk_reserve_bytes));
      usable += s.flg_usable;
      copies += s.cur_pic_amount;
      capacity += s.max_pic_amount;
      bytes_used += s.bytes_used;
    }
    const RepairStatus repair = repairer_->Status();
    json totals = {{"servers", servers.size()},
                   {"usable", usable},
                   {"images", stored->images},
                   {"bytes", stored->bytes},
                   {"copies", copies},
                   {"capacity", capacity},
                   {"bytes_used", bytes_used},
                   {"replicas", options_.replicas},
                   {"repair_backlog", repair.backlog},
                   {"repair_waiting", repair.waiting},
                   {"repair_unreadable", repair.unreadable}};
    json repair_json = {{"leader", repair.leader},
                        {"backlog", repair.backlog},
                        {"copies_made", repair.copies_made},
                        {"copies_retired", repair.copies_dropped},
                        {"corrupt", repair.corrupt},
                        {"failures", repair.failures},
                        {"rebalance_moves", repair.moved},
                        {"waiting", repair.waiting},
                        {"unreadable", repair.unreadable}};
    return http::Json(
        bhttp::status::ok,
        {{"servers", servers}, {"totals", totals}, {"repair", repair_json}});
  };

  auto add_server = [this](const Request& r) -> Response {
    auto body = ParseJsonObject(r.body());
    if (!body) return http::ErrorResponse(body.error());
    if (auto known = OnlyFields(*body, {"url", "name", "max_pic_amount"});
        !known)
      return http::ErrorResponse(known.error());
    auto given_url = Field<std::string>(*body, "url", "");
    auto given_name = Field<std::string>(*body, "name", "");
    auto given_max =
        Field<int64_t>(*body, "max_pic_amount", int64_t(10'000'000));
    if (!given_url) return http::ErrorResponse(given_url.error());
    if (!given_name) return http::ErrorResponse(given_name.error());
    if (!given_max) return http::ErrorResponse(given_max.error());
    if (!given_name->empty()) {
      if (auto checked = CheckServerName(*given_name); !checked)
        return http::ErrorResponse(checked.error());
    }
    std::string url = *given_url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (auto checked = http::CheckRootUrl(url); !checked)
      return http::ErrorResponse(checked.error());
    for (const ServerRow& s : registry_->Snapshot()) {
      if (s.internal_url == url) {
        return http::ErrorResponse(
            ErrorCode::kConflict,
            fmt::format("server {} ({}) has {} as its internal url",
                        s.server_id, s.server_url, url));
      }
    }
    // A node that answers already must be added by the URL it reports:
    // its heartbeats name that one, and a row by another spelling
    // ("localhost" for "127.0.0.1") would never turn usable.
    auto answer = http::Fetch(
        {.url = url + "/status", .timeout = std::chrono::seconds(2)});
    if (answer && answer->status == 200) {
      auto node = ParseNodeStatus(answer->body);
      if (node && node->url != url) {
        return http::ErrorResponse(
            ErrorCode::kConflict,
            fmt::format("the node at {} calls itself {}: add that URL, or "
                        "start the node with --public-url {}",
                        url, node->url, url));
      }
    }
    std::string name = *given_name;
    if (name.empty()) {
      name = url.substr(url.find("://") + 3);
      if (!CheckServerName(name)) {
        return http::ErrorResponse(
            ErrorCode::kInvalidArgument,
            "no name given, and the url makes none (1 to 64 letters, digits "
            "and - _ . : @): give a \"name\"");
      }
    }
    // A node beating under a name takes the row of that name: a second
    // row with a name in use would let one node's beats move the other's.
    for (const ServerRow& s : registry_->Snapshot()) {
      if (s.state == ServerState::kRemoved) continue;
      // The default name is the URL's host and port: a taken URL is the
      // conflict to name, not the name made from it.
      if (s.server_url == url) return http::ErrorResponse(UrlTaken(s));
      if (s.server_name == name) {
        return http::ErrorResponse(
            ErrorCode::kConflict,
            fmt::format("server {} ({}) has the name {}: give another",
                        s.server_id, s.server_url, name));
      }
    }
    auto max = CheckCapacity(*given_max);
    if (!max) return http::ErrorResponse(max.error());
    auto row = store_->AddServer(name, url, *max);
    if (!row) return http::ErrorResponse(row.error());
    spdlog::info("server {} ({}): added by operator at {}, room for {}",
                 row->server_id, row->server_name, row->server_url,
                 row->max_pic_amount);
    (void)registry_->Refresh();
    Response created =
        http::Json(bhttp::status::created,
                   ServerJson(*row, *registry_, options_.disk_reserve_bytes));
    created.message.set(bhttp::field::location,
                        fmt::format("/v1/servers/{}", row->server_id));
    return created;
  };

  auto server_id = [](const Request& r) -> std::optional<int64_t> {
    int64_t id = 0;
    std::string_view s = r.params[0];
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return id;
  };

  // One server's row, as the list has it (removed ones too, so marked).
  auto get_server = [this, server_id](const Request& r) -> Response {
    auto refreshed = registry_->Refresh();
    if (!refreshed) return http::ErrorResponse(refreshed.error());
    auto id = server_id(r);
    auto row = id ? registry_->Find(*id) : std::nullopt;
    if (!row)
      return http::ErrorResponse(ErrorCode::kNotFound, "no such server");
    return http::Json(
        bhttp::status::ok,
        ServerJson(*row, *registry_, options_.disk_reserve_bytes));
  };

  auto patch_server = [this, server_id](const Request& r) -> Response {
    auto id = server_id(r);
    if (!id) return http::ErrorResponse(ErrorCode::kNotFound, "no such server");
    auto body = ParseJsonObject(r.body());
    if (!body) return http::ErrorResponse(body.error());
    if (auto known = OnlyFields(*body, {"state", "max_pic_amount"}); !known)
      return http::ErrorResponse(known.error());
    ServerUpdate update;
    if (auto it = body->find("state"); it != body->end()) {
      auto state = it->is_string() ? ParseServerState(it->get<std::string>())
                                   : std::nullopt;
      if (!state || *state == ServerState::kRemoved) {
        return http::ErrorResponse(
            ErrorCode::kInvalidArgument,
            "state must be active, draining or disabled");
      }
      update.state = state;
    }
    if (auto it = body->find("max_pic_amount"); it != body->end()) {
      auto max = it->is_number_integer() ? CheckCapacity(it->get<int64_t>())
                                         : CheckCapacity(0);
      if (!max) return http::ErrorResponse(max.error());
      update.max_pic_amount = *max;
    }
    if (!update.state && !update.max_pic_amount) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "expected state and/or max_pic_amount");
    }
    auto row = store_->UpdateServer(*id, update);
    if (!row) return http::ErrorResponse(row.error());
    // What the operator asked for, in words: "now draining", "room for N".
    std::string what;
    if (update.state) what = fmt::format("now {}", ServerStateName(row->state));
    if (update.max_pic_amount) {
      if (!what.empty()) what += ", ";
      what += fmt::format("room for {}", row->max_pic_amount);
      if (row->cur_pic_amount > row->max_pic_amount) {
        what += fmt::format(
            " (it holds {}: no new images go there; drain it to move some)",
            row->cur_pic_amount);
      }
    }
    spdlog::info("server {} ({}): {}, set by operator", row->server_id,
                 row->server_name, what);
    (void)registry_->Refresh();
    auto live = registry_->Find(*id);
    return http::Json(bhttp::status::ok,
                      ServerJson(live ? *live : *row, *registry_,
                                 options_.disk_reserve_bytes));
  };

  auto remove_server = [this, server_id](const Request& r) -> Response {
    auto id = server_id(r);
    if (!id) return http::ErrorResponse(ErrorCode::kNotFound, "no such server");
    // Removing twice is one removal: the same answer, one log line. The
    // registry lists no removed server, so one it knows is not removed yet.
    auto known = registry_->Find(*id);
    auto removed = store_->RemoveServer(*id);
    if (!removed) return http::ErrorResponse(removed.error());
    if (known && known->state != ServerState::kRemoved) {
      spdlog::info("server {} ({}): removed by operator", *id,
                   known->server_name);
    }
    (void)registry_->Refresh();
    return http::Empty(bhttp::status::no_content);
  };

  auto heartbeat = [this](const Request& r) -> Response {
    auto status = ParseNodeStatus(r.body());
    if (!status) return http::ErrorResponse(status.error());
    // Browsers use url; trackers store at internal_url when there is one
    // (a TLS proxy in front of the node, plain HTTP behind it).
    if (auto checked = http::CheckRootUrl(status->url); !checked)
      return http::ErrorResponse(checked.error());
    if (!status->name.empty()) {
      if (auto checked = CheckServerName(status->name); !checked)
        return http::ErrorResponse(checked.error());
    }
    if (!status->internal_url.empty()) {
      if (auto checked = http::CheckRootUrl(status->internal_url); !checked)
        return http::ErrorResponse(checked.error());
    }
    auto row = registry_->Heartbeat(*status);
    if (!row) return http::ErrorResponse(row.error());
    return http::Json(bhttp::status::ok, {{"server_id", row->server_id}});
  };

  auto scrub = [this](const Request& r) -> Response {
    auto body = ParseJsonObject(r.body());
    if (!body) return http::ErrorResponse(body.error());
    auto given_url = Field<std::string>(*body, "url", "");
    if (!given_url) return http::ErrorResponse(given_url.error());
    std::string url = *given_url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    std::optional<ServerRow> server;
    for (const ServerRow& s : registry_->Snapshot()) {
      if (s.server_url == url) server = s;
    }
    if (!server) {
      return http::ErrorResponse(ErrorCode::kNotFound,
                                 "no server with url " + url);
    }
    std::vector<ScrubbedFile> files;
    auto list = body->find("files");
    if (list == body->end() || !list->is_array()) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "expected \"files\": [...]");
    }
    for (const json& f : *list) {
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string() ||
          !f.contains("sha256") || !f["sha256"].is_string()) {
        return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                   "each file needs path and sha256");
      }
      auto bytes = Field<int64_t>(f, "bytes", 0);
      if (!bytes) return http::ErrorResponse(bytes.error());
      files.push_back(ScrubbedFile{f["path"].get<std::string>(),
                                   f["sha256"].get<std::string>(), *bytes});
    }
    auto bad = repairer_->CheckScrub(*server, files);
    if (!bad) return http::ErrorResponse(bad.error());
    return http::Json(bhttp::status::ok, {{"corrupt", *bad}});
  };

  auto rebalance_status = [this](const Request&) -> Response {
    auto target = store_->GetSetting(std::string(Repairer::kRebalanceSetting));
    if (!target) return http::ErrorResponse(target.error());
    json out = {{"running", target->has_value()},
                {"target_spread", nullptr},
                {"spread", FillSpread(registry_->Snapshot())},
                {"moved", repairer_->Status().moved}};
    if (*target)
      out["target_spread"] = std::strtod((*target)->c_str(), nullptr);
    return http::Json(bhttp::status::ok, out);
  };

  auto start_rebalance = [this,
                          rebalance_status](const Request& r) -> Response {
    double spread = 0.05;
    if (!r.body().empty()) {
      auto body = ParseJsonObject(r.body());
      if (!body) return http::ErrorResponse(body.error());
      if (auto known = OnlyFields(*body, {"spread"}); !known)
        return http::ErrorResponse(known.error());
      if (auto it = body->find("spread"); it != body->end()) {
        if (!it->is_number() || it->get<double>() < 0 ||
            it->get<double>() >= 1) {
          return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                     "spread must be a number in [0, 1)");
        }
        spread = it->get<double>();
      }
    }
    // The lease holder (maybe another tracker) picks it up on its next round.
    auto set = store_->SetSetting(std::string(Repairer::kRebalanceSetting),
                                  fmt::format("{}", spread));
    if (!set) return http::ErrorResponse(set.error());
    spdlog::info("rebalance: requested, spread {:.3f}", spread);
    Response res = rebalance_status(r);
    res.message.result(bhttp::status::accepted);
    return res;
  };

  auto stop_rebalance = [this](const Request&) -> Response {
    auto set = store_->SetSetting(std::string(Repairer::kRebalanceSetting), "");
    if (!set) return http::ErrorResponse(set.error());
    spdlog::info("rebalance: stopped by operator");
    return http::Empty(bhttp::status::no_content);
  };

  auto fsck = [this](const Request& r) -> Response {
    FsckOptions o;
    if (!r.body().empty()) {
      auto body = ParseJsonObject(r.body());
      if (!body) return http::ErrorResponse(body.error());
      auto fix = Field<bool>(*body, "fix", false);
      auto given_age =
          Field<int64_t>(*body, "min_age_s", int64_t(o.min_age.count()));
      if (!fix) return http::ErrorResponse(fix.error());
      if (!given_age) return http::ErrorResponse(given_age.error());
      o.fix = *fix;
      const int64_t age = *given_age;
      if (age < 0)
        return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                   "min_age_s must not be negative");
      o.min_age = std::chrono::seconds(age);
    }
    auto report = RunFsck(*store_, *registry_, *node_client_, clock_, o);
    if (!report) return http::ErrorResponse(report.error());
    json servers = json::array();
    int64_t orphans = 0, missing = 0, fixed = 0, unchecked = 0, kept = 0;
    for (const FsckServer& s : *report) {
      servers.push_back({{"server_id", s.server_id},
                         {"server_name", s.server_name},
                         {"error", s.error},
                         {"files", s.files},
                         {"copies", s.copies},
                         {"orphans", s.orphans},
                         {"missing", s.missing},
                         {"fixed", s.fixed},
                         {"kept", s.kept},
                         {"orphan_paths", s.orphan_paths},
                         {"missing_paths", s.missing_paths},
                         {"kept_paths", s.kept_paths}});
      orphans += s.orphans;
      kept += s.kept;
      missing += s.missing;
      fixed += s.fixed;
      unchecked += !s.error.empty();
    }
    return http::Json(bhttp::status::ok, {{"servers", servers},
                                          {"orphans", orphans},
                                          {"missing", missing},
                                          {"kept", kept},
                                          {"fixed", fixed},
                                          {"unchecked", unchecked},
                                          {"fix", o.fix}});
  };

  // Out of a balancer's rotation while the database cannot be read: every
  // upload and most resolves would fail here.
  auto healthz = [this](const Request&) {
    if (auto down = registry_->RefreshError()) {
      return http::Json(bhttp::status::service_unavailable,
                        {{"status", "unavailable"}, {"error", down->message}});
    }
    return http::Json(bhttp::status::ok, {{"status", "ok"}});
  };
  auto metrics = [this](const Request&) {
    return http::Text(bhttp::status::ok, metrics_.Render(),
                      "text/plain; version=0.0.4");
  };

  struct CountedImages {
    std::mutex mutex;
    std::chrono::steady_clock::time_point at{};
    int64_t images = 0;
  };
  auto counted = std::make_shared<CountedImages>();
  auto html_error = [](const Error& error) {
    return HtmlError(error, pages::Unavailable(error.message));
  };
  auto gallery = [this, html_error, counted](const Request& r) -> Response {
    const int64_t page =
        std::clamp<int64_t>(QueryInt(r.query, "page", 1), 1, kGalleryMaxPages);
    auto images = store_->RecentImages(kGalleryPageSize + 1,
                                       (page - 1) * kGalleryPageSize);
    if (!images) return html_error(images.error());
    int64_t total = 0;
    {
      std::lock_guard lock(counted->mutex);
      const auto now = std::chrono::steady_clock::now();
      if (now - counted->at >= kGalleryCountEvery) {
        if (auto stats = store_->Stats()) counted->images = stats->images;
        counted->at = now;
      }
      total = counted->images;
    }
    const bool has_next =
        int64_t(images->size()) > kGalleryPageSize && page < kGalleryMaxPages;
    if (int64_t(images->size()) > kGalleryPageSize) images->pop_back();
    // A count up to 5 s old is never below what this page shows (a page
    // past the end shows nothing, and says how many there are).
    if (!images->empty()) {
      total = std::max(total,
                       (page - 1) * kGalleryPageSize + int64_t(images->size()));
    }
    const ServerView servers = registry_->Snapshot();
    std::vector<pages::GalleryImage> items;
    for (const ImageRecord& image : *images)
      items.push_back(GalleryItem(image, *resolver_, servers));
    return Html(pages::Gallery(items, page, has_next, total));
  };

  auto image_page = [this, html_error](const Request& r) -> Response {
    auto no_such_image = [&] {
      Response res = Html(pages::NoSuchImage());
      res.message.result(bhttp::status::not_found);
      return res;
    };
    auto id = ImageId::Parse(r.params[0]);
    if (!id) return no_such_image();
    auto image = store_->GetImage(*id);
    if (!image && image.error().code == ErrorCode::kNotFound)
      return no_such_image();
    if (!image) return html_error(image.error());
    const ServerView servers = registry_->Snapshot();
    pages::ImageDetail detail{
        GalleryItem(*image, *resolver_, servers), image->sha256, {}};
    for (const Placement& p : image->placements) {
      for (const ServerRow& s : servers) {
        if (s.server_id == p.server_id) {
          detail.replicas.push_back({s.server_id, s.server_name,
                                     Resolver::CopyUrl(s, p), s.flg_usable});
        }
      }
    }
    return Html(pages::ImagePage(detail));
  };

  auto static_asset = [](const Request& r) -> Response {
    auto asset = pages::Static(r.params[0]);
    if (!asset)
      return http::ErrorResponse(ErrorCode::kNotFound, "no such asset");
    Response res = http::Text(bhttp::status::ok, std::string(asset->bytes),
                              asset->content_type);
    // The pages name each asset with its version: that URL's bytes never
    // change. Any other (no version, an older page's) is checked again soon.
    const bool versioned = http::QueryValue(r.query, "v") == asset->version;
    res.message.set(bhttp::field::cache_control,
                    versioned ? "public, max-age=31536000, immutable"
                              : "public, max-age=300");
    res.message.set("X-Content-Type-Options", "nosniff");
    return res;
  };

  // A validator for caches: the image's hash, fixed for the process.
  const std::string default_etag =
      "\"" + Sha256Hex(default_image_).substr(0, 32) + "\"";
  auto default_image = [this, default_etag](const Request& r) -> Response {
    if (r.Header("If-None-Match") == default_etag) {
      Response res = http::Empty(bhttp::status::not_modified);
      res.message.set(bhttp::field::etag, default_etag);
      res.message.set(bhttp::field::cache_control, "public, max-age=3600");
      return res;
    }
    auto format = SniffFormat(default_image_);
    Response res =
        http::Text(bhttp::status::ok, default_image_,
                   format ? FormatContentType(*format) : "image/png");
    res.message.set(bhttp::field::etag, default_etag);
    res.message.set(bhttp::field::cache_control, "public, max-age=3600");
    res.message.set("X-Content-Type-Options", "nosniff");
    // It stands in for node images, which any origin may read (node routes).
    res.message.set(bhttp::field::access_control_allow_origin, "*");
    return res;
  };

  // Resolve and redirect block only when Locate reads a database; from
  // the in-memory index (a shared lock, no I/O) they run inline, like the
  // node's GET: the hop to a worker and back cost more than the resolve.
  const Dispatch locate =
      locate_in_memory_ ? Dispatch::kInline : Dispatch::kBlocking;
  std::vector<http::Route> routes = {
      upload_route,
      {verb::get, "/v1/images", Dispatch::kBlocking, list_images},
      {verb::get, "/v1/images/{}", Dispatch::kBlocking, get_image},
      {verb::delete_, "/v1/images/{}", Dispatch::kBlocking,
       admin(delete_image)},
      {verb::post, "/v1/resolve", locate, resolve},
      {verb::get, "/i/{}", locate, redirect},
      {verb::get, "/v1/servers", Dispatch::kBlocking, admin(list_servers)},
      {verb::post, "/v1/servers", Dispatch::kBlocking, admin(add_server)},
      {verb::get, "/v1/servers/{}", Dispatch::kBlocking, admin(get_server)},
      {verb::patch, "/v1/servers/{}", Dispatch::kBlocking, admin(patch_server)},
      {verb::delete_, "/v1/servers/{}", Dispatch::kBlocking,
       admin(remove_server)},
      // From nodes: heartbeats and scrub reports.
      http::Signed(
          {verb::post, "/v1/heartbeat", Dispatch::kControl, heartbeat}),
      http::Signed({verb::post, "/v1/scrub", Dispatch::kBlocking, scrub}),
      {verb::get, "/v1/rebalance", Dispatch::kBlocking,
       admin(rebalance_status)},
      {verb::post, "/v1/rebalance", Dispatch::kBlocking,
       admin(start_rebalance)},
      {verb::delete_, "/v1/rebalance", Dispatch::kBlocking,
       admin(stop_rebalance)},
      {verb::post, "/v1/fsck", Dispatch::kBlocking, admin(fsck)},
      {verb::get, "/healthz", Dispatch::kInline, healthz},
      {verb::get, "/metrics", Dispatch::kInline, metrics},
      {verb::get, "/", Dispatch::kBlocking, gallery},
      {verb::get, "/images/{}", Dispatch::kBlocking, image_page},
      {verb::get, "/admin", Dispatch::kInline,
       [](const Request&) { return Html(pages::Admin()); }},
      {verb::get, "/static/{}", Dispatch::kInline, static_asset},
      {verb::get, "/default-image", Dispatch::kInline, default_image},
  };
  return http::Router(std::move(routes));
}

}  // namespace imgstore
