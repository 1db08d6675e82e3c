#include "http/client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

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
  constexpr std::string_view kPlain = "http://", kTls = "https://";
  Url out;
  std::string_view rest;
  if (url.starts_with(kPlain)) {
    rest = url.substr(kPlain.size());
  } else if (url.starts_with(kTls)) {
    out.tls = true;
    rest = url.substr(kTls.size());
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: expected http:// or https://", url));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.path =
      slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon = authority.rfind(':');
  // "[::1]" has colons but no port.
  if (!authority.empty() && authority.back() == ']')
    colon = std::string_view::npos;
  if (colon == std::string_view::npos) {
    out.host = authority;
    out.port = out.tls ? "443" : "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: no host", url));
  }
  unsigned port = 0;
  const char* port_end = out.port.data() + out.port.size();
  auto [at, ec] = std::from_chars(out.port.data(), port_end, port);
  if (ec != std::errc() || at != port_end || port == 0 || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: the port must be from 1 to 65535", url));
  }
  return out;
}

Result<void> CheckRootUrl(std::string_view url) {
  // A root is a host, a port and perhaps a short path; one far longer is a
  // mistake or an attack on every page and Location header it goes into.
  if (url.size() > kMaxRootUrlLength) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url: {} characters, more than the {} a "
                            "server's URL may have",
                            url.size(), kMaxRootUrlLength));
  }
  // Characters first: ParseUrl's messages quote the URL.
  constexpr std::string_view kAllowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
      "-._~!$&()*+,;=:/%[]";
  for (char c : url) {
    if (kAllowed.find(c) == std::string_view::npos) {
      const bool printable = c > ' ' && c < 0x7f;
      return Fail(ErrorCode::kInvalidArgument,
                  printable ? fmt::format("url: '{}' is not allowed (plain URL "
                                          "characters only: no spaces, quotes "
                                          "or angle brackets, no user info, "
                                          "query or fragment)",
                                          c)
                            : fmt::format("url: a byte 0x{:02x} is not allowed "
                                          "in a server's URL",
                                          static_cast<unsigned char>(c)));
    }
  }
  auto parsed = ParseUrl(url);
  if (!parsed) return Fail(parsed.error());
  // One spelling per server, so a URL names one row: a host in lower case,
  // a port without leading zeros.
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("url {}: {}", url, why));
  };
  if (parsed->port.size() > 1 && parsed->port[0] == '0')
    return bad("write the port without leading zeros");
  const std::string_view host = parsed->host;
  if (host.front() == '[') {
    boost::system::error_code ec;
    if (host.back() != ']' ||
        (asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)),
                                   ec),
         ec)) {
      return bad("not an IPv6 address in brackets");
    }
    return {};
  }
  // A name or an IPv4 address: labels of 1 to 63 letters, digits, '-' or
  // '_' (not first or last), 253 characters at most. A host whose last
  // label is a number is an IPv4 address to a browser (which reads
  // "127.1" as 127.0.0.1): four decimal numbers up to 255 here, written
  // plainly, or it is refused.
  if (host.size() > 253) return bad("the host name is too long");
  const std::string_view last = host.substr(host.rfind('.') + 1);
  const bool numeric =
      !last.empty() &&
      (last.starts_with("0x") || last.starts_with("0X") ||
       last.find_first_not_of("0123456789") == std::string_view::npos);
  if (numeric) {
    boost::system::error_code ec;
    const auto v4 = asio::ip::make_address_v4(std::string(host), ec);
    if (ec || v4.to_string() != host)
      return bad("not an IPv4 address (four numbers from 0 to 255)");
    return {};
  }
  size_t start = 0;
  while (start <= host.size()) {
    const size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' ||
        label.back() == '-') {
      return bad("not a host name");
    }
    for (char c : label) {
      if (c >= 'A' && c <= 'Z') return bad("write the host in lower case");
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok) return bad("not a host name");
    }
    start = dot + 1;
  }
  return {};
}

std::string ListenUrl(std::string_view host, uint16_t port) {
  // Names are case-insensitive; a server's URL is written in lower case
  // (CheckRootUrl).
  std::string lower(host);
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find(':') != std::string::npos)
    return fmt::format("http://[{}]:{}", lower, port);
  return fmt::format("http://{}:{}", lower, port);
}

bool IsAnyAddress(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

namespace {

// The endpoint of a URL whose host is an IP address, as nodes' and
// trackers' URLs often are; nullopt for a name to look up.
std::optional<asio::ip::tcp::endpoint> Literal(const Url& url) {
  std::string_view host = url.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);  // an IPv6 address
  boost::system::error_code ec;
  const asio::ip::address address =
      asio::ip::make_address(std::string(host), ec);
  uint16_t port = 0;
  const char* end = url.port.data() + url.port.size();
  auto [at, parse_ec] = std::from_chars(url.port.data(), end, port);
  if (ec || parse_ec != std::errc() || at != end) return std::nullopt;
  return asio::ip::tcp::endpoint(address, port);
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One kept-alive connection to a server: plain TCP, or TLS over it.
using Connection = std::variant<beast::tcp_stream, TlsStream>;

beast::tcp_stream& Tcp(Connection& c) {
  return std::visit(
      [](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
      c);
}

// Shared by every thread's TLS connections (OpenSSL allows that): the
// system's trusted authorities, and a certificate is required.
asio::ssl::context& TlsContext() {
  static asio::ssl::context* context = [] {
    auto* c = new asio::ssl::context(asio::ssl::context::tls_client);
    c->set_default_verify_paths();
    c->set_verify_mode(asio::ssl::verify_peer);
    return c;
  }();
  return *context;
}

// Connections are kept per thread and per host:port, so a tracker's
// workers reuse their connections to each node instead of a TCP
// handshake per upload.
struct Pool {
  asio::io_context ioc;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>>
      idle;  // by scheme and authority
};

Result<ClientResponse> FetchWith(Pool& pool, const ClientRequest& request) {
  auto url = ParseUrl(request.url);
  if (!url) return Fail(url.error());
  auto fail = [&](const boost::system::error_code& ec) {
    return Fail(
        ErrorCode::kUnavailable,
        fmt::format("{} {}: {}", request.method, request.url, ec.message()));
  };

  bhttp::request<bhttp::span_body<const char>> req;
  req.method_string(request.method);
  req.target(url->path);
  req.version(11);
  const std::string authority = url->host + ":" + url->port;
  req.set(bhttp::field::host, authority);
  req.set(bhttp::field::user_agent, "imgstore/" IMGSTORE_VERSION);
  for (const auto& [k, v] : request.headers) req.set(k, v);
  const std::string_view body = request.borrowed_body.empty()
                                    ? std::string_view(request.body)
                                    : request.borrowed_body;
  req.body() = boost::span<const char>(body.data(), body.size());
  if (!body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    req.prepare_payload();
  }

  constexpr size_t kIdlePerHost = 4;

  for (int attempt = 0;; ++attempt) {
    auto& idle = pool.idle[(url->tls ? "https://" : "http://") + authority];
    std::unique_ptr<Connection> stream;
    const bool reused = !idle.empty();
    if (reused) {
      stream = std::move(idle.back());
      idle.pop_back();
    } else if (url->tls) {
      stream = std::make_unique<Connection>(std::in_place_type<TlsStream>,
                                            pool.ioc, TlsContext());
      TlsStream& tls = std::get<TlsStream>(*stream);
      // The certificate must name the host (or its address); the name
      // also goes out as SNI, which an address may not.
      tls.set_verify_callback(asio::ssl::host_name_verification(url->host));
      if (!Literal(*url))
        SSL_set_tlsext_host_name(tls.native_handle(), url->host.c_str());
    } else {
      stream = std::make_unique<Connection>(
          std::in_place_type<beast::tcp_stream>, pool.ioc);
    }
    beast::tcp_stream& tcp = Tcp(*stream);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1ull << 30);
    parser.header_limit(64 * 1024);
    // A response to HEAD announces a length but carries no body.
    parser.skip(request.method == "HEAD");
    beast::flat_buffer buffer;
    boost::system::error_code result;
    asio::ip::tcp::resolver resolver(pool.ioc);

    auto exchange = [&] {
      std::visit(
          [&](auto& s) {
            bhttp::async_write(s, req, [&](auto ec, size_t) {
              if (ec) {
                result = ec;
                return;
              }
              bhttp::async_read(s, buffer, parser,
                                [&](auto ec2, size_t) { result = ec2; });
            });
          },
          *stream);
    };
    tcp.expires_after(request.timeout);
    auto connected = [&](const boost::system::error_code& ec) {
      if (ec) {
        result = ec;
        return;
      }
      // Requests go out whole: Nagle's wait for an ACK could only delay
      // their last segment (the servers set it too).
      boost::system::error_code ignored;
      tcp.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
      if (auto* tls = std::get_if<TlsStream>(stream.get())) {
        tls->async_handshake(asio::ssl::stream_base::client, [&](auto ec2) {
          if (ec2) {
            result = ec2;
            return;
          }
          exchange();
        });
      } else {
        exchange();
      }
    };
    if (reused) {
      exchange();
    } else if (auto literal = Literal(*url)) {
      // An address needs no lookup, and a lookup would start the
      // resolver's own thread beside every calling thread's io_context.
      tcp.async_connect(*literal, connected);
    } else {
      resolver.async_resolve(
          url->host, url->port, [&](auto ec, auto endpoints) {
            if (ec) {
              result = ec;
              return;
            }
            tcp.async_connect(endpoints,
                              [&](auto ec2, auto) { connected(ec2); });
          });
    }
    pool.ioc.restart();
    pool.ioc.run();
    if (result) {
      // A kept connection the server has since closed fails before any
      // byte of an answer: that request was never processed, so once more
      // on a fresh connection (the others kept for this server are as old:
      // dropped too). Not after a timeout: the server may be processing it
      // still, and a second upload would store it twice.
      if (reused && attempt == 0 && !parser.got_some() &&
          result != beast::error::timeout) {
        idle.clear();
        continue;
      }
      return fail(result);
    }
    ClientResponse out;
    auto& res = parser.get();
    out.status = res.result_int();
    const bool keep = res.keep_alive();
    out.body = std::move(res.body());
    for (const auto& field : res) {
      out.headers.emplace_back(std::string(field.name_string()),
                               std::string(field.value()));
    }
    if (keep && idle.size() < kIdlePerHost) {
      idle.push_back(std::move(stream));
    } else {
      boost::system::error_code ignored;
      tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    }
    return out;
  }
}

}  // namespace

Result<ClientResponse> Fetch(const ClientRequest& request) {
  thread_local std::optional<Pool> pool;
  try {
    if (!pool) pool.emplace();
    return FetchWith(*pool, request);
  } catch (const std::exception& e) {
    // Out of descriptors (an io_context needs an epoll and an eventfd) or
    // of threads: a failed call, not a dead daemon. The pool starts afresh
    // at the next call.
    pool.reset();
    return Fail(
        ErrorCode::kUnavailable,
        fmt::format("{} {}: {}", request.method, request.url, e.what()));
  }
}

}  // namespace imgstore::http
