#include "tracker/node_client.h"

#include <fmt/format.h>

#include "core/signing.h"
#include "core/wire.h"
#include "http/client.h"
#include "http/signed.h"

namespace imgstore {

namespace {

constexpr std::string_view kListPath = "/v1/files";
// Reads and listings are small and answered from the node's disk.
constexpr std::chrono::milliseconds kReadTimeout{10'000};

// A store's whole exchange: 10 s, the heartbeat timeout's order, plus the
// body at 4 MiB/s. A node that stopped answering (hung, paused) holds an
// upload that long before it is retried on another server: it was 30 s
// for every body, where a 64 KB image needs milliseconds.
std::chrono::milliseconds StoreTimeout(size_t body_bytes) {
  return std::chrono::milliseconds(10'000 + body_bytes / (4 * 1024));
}

// The reply of a node that did not succeed, as an Error of `code` with the
// node's own message.
Error StatusError(std::string_view method, const ServerRow& server,
                  const http::ClientResponse& response, ErrorCode code) {
  Error e = ParseErrorBody(response.body, code);
  e.message = fmt::format("{} on server {}: {} ({})", method, server.server_id,
                          e.message, response.status);
  return e;
}

// Escapes a query value; paths keep their slashes, which a query allows.
std::string QueryEscape(std::string_view value) {
  std::string out;
  for (char c : value) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                       c == '.' || c == '~' || c == '/';
    if (plain) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

}  // namespace

Result<void> HttpNodeClient::Put(const ServerRow& server, const ImagePath& path,
                                 std::string_view bytes) {
  return Call("PUT", server, path, bytes);
}

Result<void> HttpNodeClient::Delete(const ServerRow& server,
                                    const ImagePath& path) {
  auto r = Call("DELETE", server, path, "");
  if (!r && r.error().code == ErrorCode::kNotFound) return {};
  return r;
}

Result<std::string> HttpNodeClient::Read(const ServerRow& server,
                                         const std::string& relative_path) {
  http::ClientRequest request;
  request.method = "GET";
  request.url = StoreUrl(server) + "/" + relative_path;
  request.timeout = kReadTimeout;
  auto response = http::Fetch(request);
  if (!response) return Fail(response.error());
  if (response->status == 200) return std::move(response->body);
  return Fail(StatusError("GET " + relative_path, server, *response,
                          response->status == 404 ? ErrorCode::kNotFound
                                                  : ErrorCode::kUnavailable));
}

Result<std::vector<NodeFile>> HttpNodeClient::List(const ServerRow& server,
                                                   const std::string& after,
                                                   int limit) {
  if (limit <= 0)
    return Fail(ErrorCode::kInvalidArgument, "list: limit must be positive");
  // Signed like Put: the path as the node sees it (with the server URL's
  // prefix, if any), without the query.
  http::ClientRequest request;
  request.method = "GET";
  request.url = StoreUrl(server) + std::string(kListPath) +
                "?limit=" + std::to_string(limit);
  if (!after.empty()) request.url += "&after=" + QueryEscape(after);
  request.timeout = kReadTimeout;
  if (auto ok = http::SignRequest(request, secret_, clock_); !ok)
    return Fail(ok.error());
  auto response = http::Fetch(request);
  if (!response) return Fail(response.error());
  const unsigned status = response->status;
  if (status != 200) {
    ErrorCode code = ErrorCode::kUnavailable;
    if (status == 400) code = ErrorCode::kInvalidArgument;
    if (status == 401 || status == 403) code = ErrorCode::kUnauthenticated;
    return Fail(StatusError("list", server, *response, code));
  }
  auto malformed = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("list on server {}: malformed reply: {}",
                            server.server_id, why));
  };
  auto body = ParseJsonObject(response->body);
  if (!body) return malformed(body.error().message);
  auto files = body->find("files");
  if (files == body->end() || !files->is_array())
    return malformed("no \"files\" array");
  std::vector<NodeFile> out;
  out.reserve(files->size());
  for (const auto& f : *files) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() ||
        !f.contains("bytes") || !f["bytes"].is_number_integer() ||
        !f.contains("mtime") || !f["mtime"].is_number_integer()) {
      return malformed("a file without path, bytes and mtime");
    }
    out.push_back(NodeFile{f["path"].get<std::string>(),
                           f["bytes"].get<int64_t>(),
                           f["mtime"].get<int64_t>()});
  }
  return out;
}

Result<void> HttpNodeClient::Call(const std::string& method,
                                  const ServerRow& server,
                                  const ImagePath& path,
                                  std::string_view bytes) {
  http::ClientRequest request;
  request.method = method;
  request.url = StoreUrl(server) + "/" + path.relative;
  request.borrowed_body = bytes;
  request.timeout = StoreTimeout(bytes.size());
  if (auto ok = http::SignRequest(request, secret_, clock_); !ok)
    return Fail(ok.error());
  if (method == "PUT") {
    request.headers.emplace_back("Content-Type",
                                 std::string(FormatContentType(path.format)));
  }
  auto response = http::Fetch(request);
  if (!response) return Fail(response.error());
  const unsigned status = response->status;
  if (status >= 200 && status < 300) return {};
  ErrorCode code = ErrorCode::kUnavailable;
  if (status == 404) code = ErrorCode::kNotFound;
  if (status == 409) code = ErrorCode::kConflict;
  if (status == 507) code = ErrorCode::kInsufficientStorage;
  return Fail(StatusError(method, server, *response, code));
}

}  // namespace imgstore
