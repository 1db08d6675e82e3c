#include "http/client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace imgstore::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

Result<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: only http:// is supported", url));
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  Url out;
  out.path =
      slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = authority;
    out.port = "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: no host", url));
  }
  return out;
}

Result<ClientResponse> Fetch(const ClientRequest& request) {
  auto url = ParseUrl(request.url);
  if (!url) return Fail(url.error());
  auto fail = [&](const boost::system::error_code& ec) {
    return Fail(
        ErrorCode::kUnavailable,
        fmt::format("{} {}: {}", request.method, request.url, ec.message()));
  };

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(url->path);
  req.version(11);
  req.set(bhttp::field::host, url->host + ":" + url->port);
  req.set(bhttp::field::user_agent, "imgstore/" IMGSTORE_VERSION);
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" ||
      request.method == "PUT" || request.method == "PATCH") {
    req.prepare_payload();
  }
  req.keep_alive(false);

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1ull << 30);
  parser.header_limit(64 * 1024);
  // A response to HEAD announces a length but carries no body.
  parser.skip(request.method == "HEAD");
  beast::flat_buffer buffer;
  boost::system::error_code result;
  asio::ip::tcp::resolver resolver(ioc);

  stream.expires_after(request.timeout);
  resolver.async_resolve(url->host, url->port, [&](auto ec, auto endpoints) {
    if (ec) {
      result = ec;
      return;
    }
    stream.async_connect(endpoints, [&](auto ec2, auto) {
      if (ec2) {
        result = ec2;
        return;
      }
      bhttp::async_write(stream, req, [&](auto ec3, size_t) {
        if (ec3) {
          result = ec3;
          return;
        }
        bhttp::async_read(stream, buffer, parser,
                          [&](auto ec4, size_t) { result = ec4; });
      });
    });
  });
  ioc.run();
  if (result) return fail(result);

  ClientResponse out;
  auto& res = parser.get();
  out.status = res.result_int();
  out.body = std::move(res.body());
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()),
                             std::string(field.value()));
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace imgstore::http
