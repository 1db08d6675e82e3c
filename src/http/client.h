#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace imgstore::http {

// "http://host:port/base" or "https://..." split into parts.
struct Url {
  bool tls = false;  // https://
  std::string host;
  std::string port;  // "80" (or "443" for https) when absent
  std::string path;  // starts with '/', may be "/"
};
Result<Url> ParseUrl(std::string_view url);
// A server's root URL, to which paths are appended and which goes into
// Location headers, JSON and pages: ParseUrl's checks, and only the
// characters of a plain URL (no spaces or control characters, no quotes
// or angle brackets), without user info, query or fragment, and at most
// kMaxRootUrlLength characters.
constexpr size_t kMaxRootUrlLength = 1024;
Result<void> CheckRootUrl(std::string_view url);
// The URL of a server listening on host:port, "http://[::1]:8080" for an
// IPv6 address. A wildcard host (0.0.0.0, ::) names no machine: such a URL
// works only on this one, and IsAnyAddress says so.
std::string ListenUrl(std::string_view host, uint16_t port);
bool IsAnyAddress(std::string_view host);

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute http:// or https:// URL
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, sent instead of `body` without a copy; must outlive the call.
  std::string_view borrowed_body;
  std::chrono::milliseconds timeout{10'000};  // whole exchange
};

struct ClientResponse {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(std::string_view name) const;
};

// One blocking HTTP/1.1 exchange on the calling thread; connections are kept
// alive and reused per thread and host, so any thread may call it. An
// https:// URL is spoken over TLS, the server's certificate checked against
// the system's trusted authorities (OpenSSL's defaults: SSL_CERT_FILE and
// SSL_CERT_DIR name others) and its name. Network failures (refused, reset,
// timeout, a certificate refused) are kUnavailable "METHOD URL: why"; any
// HTTP status is a success here, for the caller to judge. Thread-safe.
Result<ClientResponse> Fetch(const ClientRequest& request);

}  // namespace imgstore::http
