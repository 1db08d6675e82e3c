#include "tracker/node_client.h"

#include <fmt/format.h>

#include "core/hex.h"
#include "core/signing.h"
#include "core/wire.h"
#include "http/client.h"

namespace imgstore {

Result<void> HttpNodeClient::Put(const ServerRow& server, const ImagePath& path,
                                 std::string_view bytes,
                                 std::string_view sha256) {
  return Call("PUT", server, path, bytes, sha256);
}

Result<void> HttpNodeClient::Delete(const ServerRow& server,
                                    const ImagePath& path) {
  auto r = Call("DELETE", server, path, "", Sha256Hex(""));
  if (!r && r.error().code == ErrorCode::kNotFound) return {};
  return r;
}

Result<std::string> HttpNodeClient::Read(const ServerRow& server,
                                         const std::string& relative_path) {
  http::ClientRequest request;
  request.url = server.server_url + "/" + relative_path;
  auto response = http::Fetch(request);
  if (!response) return Fail(response.error());
  if (response->status == 200) return std::move(response->body);
  return Fail(
      response->status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
      fmt::format("GET {}: status {}", request.url, response->status));
}

Result<std::vector<NodeFile>> HttpNodeClient::List(const ServerRow&,
                                                   const std::string&, int) {
  return Fail(ErrorCode::kUnavailable, "listing not supported");
}

Result<void> HttpNodeClient::Call(const std::string& method,
                                  const ServerRow& server,
                                  const ImagePath& path, std::string_view bytes,
                                  std::string_view sha256) {
  const std::string url = server.server_url + "/" + path.relative;
  auto parsed = http::ParseUrl(url);
  if (!parsed) return Fail(parsed.error());
  Signature s = SignBodyHash(secret_, method, parsed->path, sha256, clock_);
  http::ClientRequest request;
  request.method = method;
  request.url = url;
  request.borrowed_body = bytes;
  request.timeout = std::chrono::milliseconds(30'000);
  request.headers = {{std::string(kTimeHeader), s.time},
                     {std::string(kNonceHeader), s.nonce},
                     {std::string(kSignatureHeader), s.mac}};
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
  Error e = ParseErrorBody(response->body, code);
  e.message = fmt::format("{} on server {}: {} ({})", method, server.server_id,
                          e.message, status);
  return Fail(std::move(e));
}

}  // namespace imgstore
