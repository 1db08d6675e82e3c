// The node's route table and handlers: parse and check at the edge, then
// call FileStore. Image GETs run inline on the I/O thread (a cached open and
// sendfile, as nginx does); so does PUT, which then awaits its group sync
// without holding a thread; DELETE and listings run on workers.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <random>

#include "core/image_probe.h"
#include "core/layout.h"
#include "http/query.h"
#include "http/respond.h"
#include "http/signed.h"
#include "node/node.h"

namespace imgstore {

namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
// The same headers as ready-made lines for the hot path (Response::raw_head).
// Any page may use the pixels (a canvas, fetch()): images are public and
// the site's pages are always another origin than its nodes.
constexpr std::string_view kImmutableLines =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "Accept-Ranges: bytes\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "Access-Control-Expose-Headers: Content-Range, ETag, Accept-Ranges\r\n";

// The most bytes a multipart/byteranges answer carries; see GetImage.
constexpr uint64_t kMaxByteRangesBytes = 64 * 1024;

// Separates the parts of a multipart/byteranges answer: random for each
// answer, so bytes an uploader chose cannot hold it and end a part early
// (RFC 2046 §5.1.1).
std::string NewBoundary() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("imgstore-{:016x}{:016x}", rng(), rng());
}

// The multipart/byteranges body (RFC 9110 §14.6) for several ranges, read
// into memory: ParseRange caps their number and refuses overlaps, so it is
// never larger than the file and a little framing.
Result<std::string> ByteRanges(const http::OpenFile& f,
                               std::string_view content_type,
                               const http::RangeRequest& range,
                               std::string_view boundary) {
  std::string body;
  for (const http::ByteRange& part : range.multiple) {
    body += fmt::format(
        "--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
        boundary, content_type, part.first, part.first + part.length - 1,
        f.size);
    const size_t at = body.size();
    body.resize(at + part.length);
    size_t done = 0;
    while (done < part.length) {
      const ssize_t n = ::pread(f.fd, body.data() + at + done,
                                part.length - done, off_t(part.first + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Fail(ErrorCode::kIo,
                    n < 0 ? fmt::format("read range: {}", std::strerror(errno))
                          : std::string("read range: file shrank"));
      }
      done += size_t(n);
    }
    body += "\r\n";
  }
  body += fmt::format("--{}--\r\n", boundary);
  return body;
}

// If-None-Match or If-Match: "*" or a comma-separated list of tags.
// If-None-Match compares weakly, so W/"x" matches "x"; If-Match strongly,
// so a weak tag never matches (RFC 9110 §8.8.3.2).
enum class Compare { kWeak, kStrong };
bool EtagMatches(std::string_view header, std::string_view etag,
                 Compare compare) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const bool weak = item.substr(0, 2) == "W/";
    if (weak) item.remove_prefix(2);
    if (item == "*" || (item == etag && !(weak && compare == Compare::kStrong)))
      return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// True when a request carries Range or a precondition (If-Range only
// matters with Range): one pass over its few fields, where a lookup of
// each name would be five, on every GET.
bool RangeOrConditional(const http::RequestMessage& message) {
  for (const auto& field : message) {
    switch (field.name()) {
      case bhttp::field::range:
      case bhttp::field::if_match:
      case bhttp::field::if_none_match:
      case bhttp::field::if_modified_since:
      case bhttp::field::if_unmodified_since:
        return true;
      default:
        break;
    }
  }
  return false;
}

// GET /v1/files pages: why a default and a cap, a page is one reply held
// in memory (~100 bytes a file), and a caller walks on with `next`.
constexpr size_t kListDefaultLimit = 1000;
constexpr size_t kListMaxLimit = 10'000;
// Longer than any path the layout makes, with room to spare.
constexpr size_t kListMaxAfter = 256;

Response ListFiles(FileStore& store, const Request& request) {
  std::string after;
  if (auto raw = http::QueryValue(request.query, "after")) {
    auto decoded = http::PercentDecode(*raw);
    if (!decoded) return http::ErrorResponse(decoded.error());
    if (decoded->size() > kListMaxAfter)
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "after: too long");
    after = std::move(*decoded);
  }
  size_t limit = kListDefaultLimit;
  if (auto raw = http::QueryValue(request.query, "limit")) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), n);
    if (raw->empty() || ec != std::errc() || end != raw->data() + raw->size() ||
        n == 0) {
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 "limit: expected a positive integer");
    }
    limit = size_t(std::min<uint64_t>(n, kListMaxLimit));
  }
  auto files = store.List(after, limit);
  if (!files) return http::ErrorResponse(files.error());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : *files) {
    list.push_back({{"path", f.path}, {"bytes", f.bytes}, {"mtime", f.mtime}});
  }
  nlohmann::json body = {{"files", std::move(list)}};
  // A short page is the last one; a full page may be followed by more.
  if (files->size() == limit) body["next"] = files->back().path;
  return http::Json(bhttp::status::ok, body);
}

}  // namespace

namespace node_routes {

Response GetImage(FileStore& store, const Request& request) {
  // Any origin may read images, their refusals included (the server says
  // so on every answer, ServerOptions::any_origin): a page's fetch() then
  // sees the status, not a CORS error.
  auto path = ParseImagePath(request.path);
  if (!path) return http::ErrorResponse(path.error());
  auto file = store.OpenForRead(*path);
  if (!file) {
    return http::ErrorResponse(
        file.error().code == ErrorCode::kNotFound
            ? Error{ErrorCode::kNotFound, "no such image"}
            : file.error());
  }
  const http::OpenFile& f = **file;
  Response r;
  if (!RangeOrConditional(request.message)) {
    // The common case, a plain GET of the whole file: no header fields
    // built at all; the file carries its head (see http::OpenFile::head).
    r.message.result(bhttp::status::ok);
    r.raw_head = {f.head, kImmutableLines};
    r.file_length = f.size;
    r.file = std::move(*file);
    return r;
  }
  auto& m = r.message;
  m.set(bhttp::field::etag, f.etag);
  m.set(bhttp::field::last_modified, f.last_modified);
  m.set(bhttp::field::cache_control, kImmutable);
  m.set(bhttp::field::accept_ranges, "bytes");
  m.set("X-Content-Type-Options", "nosniff");
  m.set(bhttp::field::access_control_expose_headers,
        "Content-Range, ETag, Accept-Ranges");

  // Preconditions in the order of RFC 9110 §13.2.2: If-Match, else
  // If-Unmodified-Since (412 when it fails), then If-None-Match, else
  // If-Modified-Since (304). An image never changes, so a client asking
  // for another version (a stale tag, an earlier date) gets 412.
  bool failed = false;
  if (auto im = request.Header("If-Match"); !im.empty()) {
    failed = !EtagMatches(im, f.etag, Compare::kStrong);
  } else if (auto ius = request.Header("If-Unmodified-Since"); !ius.empty()) {
    auto since = http::ParseHttpDate(ius);
    failed = since && f.mtime_s > *since;
  }
  if (failed) {
    r = http::ErrorResponse(
        ErrorCode::kInvalidArgument,
        "precondition failed (If-Match or If-Unmodified-Since)");
    r.message.result(bhttp::status::precondition_failed);
    r.message.set(bhttp::field::etag, f.etag);
    return r;
  }
  std::string_view inm = request.Header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = EtagMatches(inm, f.etag, Compare::kWeak);
  } else if (auto ims = request.Header("If-Modified-Since"); !ims.empty()) {
    auto since = http::ParseHttpDate(ims);
    not_modified = since && f.mtime_s <= *since;
  }
  if (not_modified) {
    m.result(bhttp::status::not_modified);
    return r;
  }
  m.set(bhttp::field::content_type, FormatContentType(path->format));
  http::RangeRequest range;
  if (auto header = request.Header("Range"); !header.empty()) {
    auto if_range = request.Header("If-Range");
    // If-Range holds the ETag or the Last-Modified date the client has.
    if (if_range.empty() || if_range == f.etag || if_range == f.last_modified)
      range = http::ParseRange(header, f.size);
  }
  if (range.kind == http::RangeKind::kMultiple) {
    // Several ranges are built in memory (ByteRanges) and held until the
    // client reads them: a few parts, as PDF readers ask for, are worth it;
    // more is a way to pin files in a node's memory with small requests,
    // so the whole file goes instead, with sendfile (RFC 9110 §14.2 lets a
    // server ignore Range).
    uint64_t parts = 0;
    for (const http::ByteRange& part : range.multiple) parts += part.length;
    if (parts > kMaxByteRangesBytes) range.kind = http::RangeKind::kWhole;
  }
  switch (range.kind) {
    case http::RangeKind::kUnsatisfiable:
      r = http::ErrorResponse(ErrorCode::kInvalidArgument,
                              "range not satisfiable");
      r.message.result(bhttp::status::range_not_satisfiable);
      r.message.set(bhttp::field::content_range,
                    fmt::format("bytes */{}", f.size));
      return r;
    case http::RangeKind::kPartial:
      m.result(bhttp::status::partial_content);
      m.set(bhttp::field::content_range,
            fmt::format("bytes {}-{}/{}", range.range.first,
                        range.range.first + range.range.length - 1, f.size));
      r.file_offset = range.range.first;
      r.file_length = range.range.length;
      break;
    case http::RangeKind::kMultiple: {
      const std::string boundary = NewBoundary();
      auto body =
          ByteRanges(f, FormatContentType(path->format), range, boundary);
      if (!body) return http::ErrorResponse(body.error());
      m.result(bhttp::status::partial_content);
      m.set(bhttp::field::content_type,
            fmt::format("multipart/byteranges; boundary={}", boundary));
      m.body() = std::move(*body);
      m.prepare_payload();
      return r;
    }
    case http::RangeKind::kWhole:
      m.result(bhttp::status::ok);
      r.file_length = f.size;
      break;
  }
  m.content_length(r.file_length);
  r.file = std::move(*file);
  return r;
}

// PUT of an image, on the I/O thread: check, write and rename the file
// (FileStore::Place), then wait for the group sync without holding a thread
// and only then acknowledge. Writing inline is what nginx does too; the
// wait is the long part, and many uploads share it.
boost::asio::awaitable<Response> PutImage(FileStore& store, const Request& r) {
  std::optional<FileStore::PutOutcome> placed;
  std::string relative;
  // Apart from the coroutine's body: GCC 12 mishandles temporaries in it.
  Response refused = [&]() -> Response {
    auto path = ParseImagePath(r.path);
    if (!path)
      return http::ErrorResponse(ErrorCode::kInvalidArgument,
                                 path.error().message);
    auto sniffed = SniffFormat(r.body());
    if (!sniffed)
      return http::ErrorResponse(ErrorCode::kUnsupportedMedia,
                                 "body is not an image");
    if (*sniffed != path->format) {
      return http::ErrorResponse(
          ErrorCode::kUnsupportedMedia,
          fmt::format("body is {}, path says {}", FormatExtension(*sniffed),
                      FormatExtension(path->format)));
    }
    auto put = store.Place(*path, r.body());
    if (!put) return http::ErrorResponse(put.error());
    placed = *put;
    relative = path->relative;
    return {};
  }();
  if (!placed) co_return refused;
  Result<void> synced =
      co_await store.syncs().AsyncSync(boost::asio::use_awaitable);
  if (!synced) co_return http::ErrorResponse(synced.error());
  co_return http::Json(*placed == FileStore::PutOutcome::kCreated
                           ? bhttp::status::created
                           : bhttp::status::ok,
                       {{"path", relative}, {"bytes", r.body().size()}});
}

}  // namespace node_routes

namespace {

// A browser's CORS preflight, sent before a cross-origin fetch() with a
// Range it does not let through alone (several ranges, a suffix) or a
// conditional header: reads are open to every origin, writes are not.
Response Preflight(const Request&) {
  Response r = http::Empty(bhttp::status::no_content);
  auto& m = r.message;
  m.set(bhttp::field::access_control_allow_origin, "*");
  m.set(bhttp::field::access_control_allow_methods, "GET, HEAD");
  m.set(bhttp::field::access_control_allow_headers,
        "Range, If-Match, If-None-Match, If-Modified-Since, "
        "If-Unmodified-Since, If-Range");
  m.set(bhttp::field::access_control_max_age, "86400");
  return r;
}

}  // namespace

http::Router Node::MakeRouter() {
  using bhttp::verb;
  using http::Dispatch;
  constexpr auto kImage = "/{}/{}/{}";
  std::vector<http::Route> routes = {
      {verb::get, kImage, Dispatch::kInline,
       [this](const Request& r) { return node_routes::GetImage(*store_, r); }},
      {verb::options, kImage, Dispatch::kInline, Preflight},
      // Writes and listings come from trackers only.
      http::LargeBody(
          http::Signed({verb::put, kImage, Dispatch::kAsync, nullptr,
                        [this](const Request& r) {
                          return node_routes::PutImage(*store_, r);
                        }})),
      http::Signed({verb::delete_, kImage, Dispatch::kBlocking,
                    [this](const Request& r) {
                      auto path = ParseImagePath(r.path);
                      if (!path) return http::ErrorResponse(path.error());
                      auto deleted = store_->Delete(*path);
                      if (!deleted) return http::ErrorResponse(deleted.error());
                      return http::Empty(bhttp::status::no_content);
                    }}),
      http::Signed(
          {verb::get, "/v1/files", Dispatch::kBlocking,
           [this](const Request& r) { return ListFiles(*store_, r); }}),
      {verb::get, "/status", Dispatch::kInline,
       [this](const Request&) {
         return http::Json(bhttp::status::ok, ToJson(Status()));
       }},
      {verb::get, "/metrics", Dispatch::kInline,
       [this](const Request&) {
         return http::Text(bhttp::status::ok, metrics_.Render(),
                           "text/plain; version=0.0.4");
       }},
  };
  return http::Router(std::move(routes));
}

}  // namespace imgstore
