#include "http/server.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/range/iterator_range.hpp>
#include <csignal>
#include <optional>

#include "core/wire.h"
#include "http/multipart.h"
#include "http/respond.h"
#include "http/signed.h"

namespace imgstore::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// The most a request body is read by per call, and the most an idle
// connection's read buffer keeps.
constexpr uint64_t kBodyChunk = 256 * 1024;
// A request body slower than this on average, once kBodyGrace has passed,
// is cut (see the body's read in Session).
constexpr double kMinBodyRate = 1024;  // bytes per second
constexpr std::chrono::seconds kBodyGrace{120};
constexpr size_t kIdleBuffer = 16 * 1024;

namespace {

// Runs f() on `pool` and resumes the calling coroutine on its own executor
// with the result. Kept out of co_await expressions (see STYLE: GCC 12).
template <typename F>
asio::awaitable<std::invoke_result_t<F>> Offload(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  auto initiate = [&pool, f = std::move(f)](auto handler) mutable {
    auto ex = asio::get_associated_executor(handler);
    asio::post(pool,
               [f = std::move(f), handler = std::move(handler), ex]() mutable {
                 R result = f();
                 asio::post(ex, [handler = std::move(handler),
                                 result = std::move(result)]() mutable {
                   std::move(handler)(std::move(result));
                 });
               });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(R)>(std::move(initiate),
                                                   asio::use_awaitable);
}

// The Date header, formatted once a second per thread.
const std::string& CachedDate() {
  thread_local int64_t second = -1;
  thread_local std::string text;
  int64_t now = ::time(nullptr);
  if (now != second) {
    second = now;
    text = HttpDate(now);
  }
  return text;
}

// "Server: ...\r\nDate: ...\r\n", formatted once a second per thread.
const std::string& ServerAndDateLines(const std::string& server) {
  thread_local int64_t second = -1;
  thread_local std::string text;
  int64_t now = ::time(nullptr);
  if (now != second) {
    second = now;
    text = "Server: " + server + "\r\nDate: " + HttpDate(now) + "\r\n";
  }
  return text;
}

// A request target's path and query (after '?'). The absolute form
// ("http://host/path"), which proxies send and servers must accept (RFC
// 9112 §3.2.2), is routed by its path.
std::pair<std::string_view, std::string_view> SplitTarget(
    std::string_view target) {
  // The absolute form ("GET http://host/path"), which a server must take
  // (RFC 9112 §3.2.2); the scheme is case-insensitive.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (beast::iequals(target.substr(0, scheme.size()), scheme)) {
      const size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/")
                                               : target.substr(slash);
      break;
    }
  }
  const size_t q = target.find('?');
  return {target.substr(0, q), q == std::string_view::npos
                                   ? std::string_view()
                                   : target.substr(q + 1)};
}

bool IsParseError(const error_code& ec) {
  return ec.category() ==
             beast_http::make_error_code(beast_http::error::bad_target)
                 .category() &&
         ec != beast_http::error::end_of_stream &&
         ec != beast_http::error::partial_message;
}

// `limit` and a form's own parts on top (kFormOverhead), without overflow.
uint64_t WithFormOverhead(uint64_t limit) {
  return std::min(limit, UINT64_MAX - kFormOverhead) + kFormOverhead;
}

Response PlainError(ErrorCode code, std::string message) {
  Response r = ErrorResponse(code, std::move(message));
  r.message.keep_alive(false);
  return r;
}

// A signed route's refusal: its challenge names the cluster's signature
// (core/signing.h), not the bearer token of the tracker's admin calls.
Response SignatureRefusal(const Error& error) {
  Response r = ErrorResponse(error);
  if (error.code == ErrorCode::kUnauthenticated)
    r.message.set(beast_http::field::www_authenticate, "Imgstore-Signature");
  return r;
}

// TCP_CORK set for the lifetime of the object when `on`.
class Cork {
 public:
  Cork(int fd, bool on) : fd_(on ? fd : -1) { Set(1); }
  ~Cork() { Set(0); }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;

 private:
  void Set(int value) {
    if (fd_ >= 0)
      ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  }
  int fd_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Listen(const ServerOptions& options,
                                               const Router& router,
                                               Metrics& metrics) {
  // sendfile(2) has no MSG_NOSIGNAL: a client closing mid-body would kill
  // the process. A closed peer is an ordinary error here (EPIPE).
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<Server> server(new Server(options, router, metrics));
  error_code ec;
  tcp::endpoint endpoint;
  if (auto address = asio::ip::make_address(options.host, ec); !ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    // A name ("localhost"): its first IPv4 address, else its first.
    tcp::resolver resolver(server->ioc_);
    auto found = resolver.resolve(options.host, std::to_string(options.port),
                                  tcp::resolver::numeric_service, ec);
    if (ec || found.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "listen address " + options.host + ": " +
                      (ec ? ec.message() : "no address"));
    }
    endpoint = found.begin()->endpoint();
    for (const auto& entry : found) {
      if (entry.endpoint().address().is_v4()) {
        endpoint = entry.endpoint();
        break;
      }
    }
  }
  auto& a = server->acceptor_;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("listen on {}:{}: {}", options.host, options.port,
                            ec.message()));
  }
  server->port_ = a.local_endpoint().port();
  return server;
}

Server::Server(const ServerOptions& options, const Router& router,
               Metrics& metrics)
    : options_(options),
      router_(router),
      metrics_(metrics),
      ioc_(options.io_threads),
      acceptor_(ioc_),
      workers_(size_t(std::max(1, options.worker_threads))) {}

Server::~Server() {
  workers_.join();
  control_.join();
}

void Server::Run() {
  asio::co_spawn(ioc_, Accept(), asio::detached);
  // SIGTERM and Ctrl-C drain instead of dropping requests in flight.
  asio::signal_set signals(ioc_, SIGINT, SIGTERM);
  signals.async_wait([this](const error_code& ec, int) {
    if (!ec) Stop();
  });
  // SIGHUP asks a daemon to reload: flags and --config are read at start
  // and the log is stderr, so there is nothing to reload or reopen. Said,
  // not obeyed by dying.
  asio::signal_set hangups(ioc_, SIGHUP);
  std::function<void(const error_code&, int)> on_hangup =
      [&](const error_code& ec, int) {
        if (ec) return;
        spdlog::info(
            "SIGHUP: nothing to reload (flags and --config are read at "
            "start: restart to change them); still running");
        hangups.async_wait(on_hangup);
      };
  hangups.async_wait(on_hangup);
  std::vector<std::thread> extra;
  for (int i = 1; i < options_.io_threads; ++i)
    extra.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : extra) t.join();
}

void Server::Stop() {
  asio::post(ioc_, [this] {
    if (stopping_.exchange(true)) return;
    spdlog::info(
        "stopping: no new connections on port {}; {} requests in flight get "
        "up to {} s",
        port(), in_flight_.load(), options_.drain_timeout.count());
    error_code ignored;
    acceptor_.close(ignored);
    asio::co_spawn(ioc_, Drain(), asio::detached);
  });
}

asio::awaitable<void> Server::Drain() {
  asio::steady_timer timer(ioc_);
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kUseTuple);
  }
  if (const int64_t left = in_flight_.load(); left > 0) {
    spdlog::warn("stopping: {} requests still in flight after {} s are cut",
                 left, options_.drain_timeout.count());
  }
  ioc_.stop();
}

asio::awaitable<void> Server::Accept() {
  asio::steady_timer backoff(ioc_);
  while (!stopping_) {
    // One I/O thread needs no strand; several need one per connection so a
    // session and its watchdog never run at once.
    auto executor = options_.io_threads > 1
                        ? asio::any_io_executor(asio::make_strand(ioc_))
                        : asio::any_io_executor(ioc_.get_executor());
    auto [ec, socket] = co_await acceptor_.async_accept(executor, kUseTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // Out of descriptors and the like: wait a little instead of spinning,
      // and say so, as new clients (heartbeats too) wait meanwhile.
      if (accept_failures_logged_.Due()) {
        spdlog::error(
            "cannot accept connections on port {}: {} ({} in "
            "flight); retrying",
            port(), ec.message(), in_flight_.load());
      }
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    socket.native_non_blocking(true, ignored);
    auto connection = std::make_shared<Connection>(std::move(socket));
    asio::co_spawn(executor, Watchdog(connection), asio::detached);
    asio::co_spawn(executor, Session(connection), asio::detached);
  }
}

// Why a watchdog instead of beast::tcp_stream's timeouts: tcp_stream arms
// and cancels a timer around every read and write, which showed up as a
// large share of a small GET's cost. Here each phase only stores a
// deadline; one timer per connection wakes when the deadline may have
// passed and closes the socket if it has.
asio::awaitable<void> Server::Watchdog(std::shared_ptr<Connection> c) {
  // Checked once a second: timeouts are whole seconds, and a deadline that
  // moves (every request) then never needs the timer re-armed.
  while (!c->closed) {
    c->timer.expires_after(std::chrono::seconds(1));
    co_await c->timer.async_wait(kUseTuple);
    if (c->closed) break;
    if (std::chrono::steady_clock::now() >= c->deadline) {
      error_code ignored;
      c->socket.shutdown(tcp::socket::shutdown_both, ignored);
      c->socket.cancel(ignored);
      c->deadline = std::chrono::steady_clock::time_point::max();
    }
  }
}

asio::awaitable<void> Server::Session(std::shared_ptr<Connection> connection) {
  Connection& c = *connection;
  auto& socket = c.socket;
  beast::flat_buffer buffer;
  bool linger = false;  // a refusal was sent while the client may still send
  error_code ec;
  auto peer = socket.remote_endpoint(ec);
  const std::string remote = ec ? std::string("?") : peer.address().to_string();
  for (;;) {
    RequestParser parser;
    parser.header_limit(uint32_t(options_.max_header_bytes));
    // The largest any request may declare; RefuseHead applies its route's.
    parser.body_limit(WithFormOverhead(options_.max_body_bytes));
    c.ExpireAfter(options_.header_timeout);
    auto [read_ec, read_n] = co_await beast_http::async_read_header(
        socket, buffer, parser, kUseTuple);
    if (read_ec) {
      Response refusal;
      if (read_ec == beast_http::error::body_limit) {
        // Beast checks Content-Length against the limit with the head.
        refusal =
            PlainError(ErrorCode::kTooLarge,
                       "body is over the limit of " +
                           std::to_string(options_.max_body_bytes) + " bytes");
      } else if (read_ec == beast_http::error::header_limit) {
        // No target parsed: the request line alone was too long (414, as
        // nginx answers a long URI); else its fields were (431).
        const bool line = parser.get().target().empty();
        refusal = PlainError(
            ErrorCode::kInvalidArgument,
            line ? "request line too long" : "request header fields too large");
        refusal.message.result(
            line ? beast_http::status::uri_too_long
                 : beast_http::status::request_header_fields_too_large);
      } else if (IsParseError(read_ec)) {
        refusal = PlainError(ErrorCode::kInvalidArgument,
                             "malformed request: " + read_ec.message());
      } else {
        break;  // closed, timed out or reset: nothing to answer
      }
      RequestMessage none;
      co_await Write(c, none, refusal, false);
      metrics_.RecordRequest(refusal.message.result_int(), 0, 0);
      linger = true;
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    in_flight_.fetch_add(1);
    struct Done {
      std::atomic<int>& n;
      ~Done() { n.fetch_sub(1); }
    } done{in_flight_};

    // The parser keeps the message: `match` borrows its target.
    RequestMessage& message = parser.get();
    Router::Match match =
        router_.Find(message.method(), SplitTarget(message.target()).first);
    std::optional<Response> head_refusal = RefuseHead(parser, match, remote);
    if (head_refusal) {
      co_await Write(c, message, *head_refusal, false);
      metrics_.RecordRequest(head_refusal->message.result_int(), 0, 0);
      linger = true;
      break;
    }
    // The body's memory, held until the answer is written.
    struct Held {
      std::atomic<uint64_t>& total;
      uint64_t bytes = 0;
      ~Held() { total.fetch_sub(bytes); }
    } held{body_bytes_};
    if (!parser.is_done()) {
      // Only routes that take large bodies (uploads) count: a resolve or
      // a heartbeat is never refused for an upload burst.
      const uint64_t limit = BodyLimit(match, message);
      const uint64_t need = parser.content_length_remaining().value_or(limit);
      if (limit > kSmallBodyBytes && !Admit(need, held.bytes)) {
        Response busy = PlainError(
            ErrorCode::kUnavailable,
            fmt::format("busy: {} MiB of request bodies are held already; "
                        "try again in a moment",
                        body_bytes_.load() >> 20));
        busy.message.set(beast_http::field::retry_after, "2");
        co_await Write(c, message, busy, false);
        metrics_.RecordRequest(busy.message.result_int(), 0, 0);
        linger = true;
        break;
      }
      // The route's own limit, for a chunked body (a declared length was
      // checked with the head).
      parser.body_limit(limit);
      if (beast::iequals(message[beast_http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue =
            "HTTP/1.1 100 Continue\r\n\r\n";
        c.ExpireAfter(options_.write_timeout);
        auto [cont_ec, cont_n] = co_await asio::async_write(
            socket, asio::buffer(kContinue.data(), kContinue.size()),
            kUseTuple);
        if (cont_ec) break;
      }
      // A body may take as long as it keeps coming: each read gets
      // body_timeout, and past kBodyGrace the body must average
      // kMinBodyRate, so a slow uploader on a poor line gets through and a
      // client trickling bytes to hold the connection does not.
      const auto body_started = std::chrono::steady_clock::now();
      uint64_t body_read = 0;
      error_code body_ec;
      while (!parser.is_done()) {
        c.ExpireAfter(options_.body_timeout);
        // Beast reads no more than the buffer's spare room (512 bytes at
        // least) per call: left as the head made it, a 64 KB body took some
        // 130 recv calls. Room for the body, up to kBodyChunk, makes it a
        // few.
        const uint64_t body_left =
            parser.content_length_remaining().value_or(kBodyChunk);
        buffer.reserve(buffer.size() + size_t(std::min(body_left, kBodyChunk)));
        auto [some_ec, n] = co_await beast_http::async_read_some(
            socket, buffer, parser, kUseTuple);
        body_ec = some_ec;
        if (body_ec) break;
        body_read += n;
        const auto spent = std::chrono::steady_clock::now() - body_started;
        const double seconds = std::chrono::duration<double>(spent).count();
        if (spent > kBodyGrace && double(body_read) < kMinBodyRate * seconds) {
          body_ec = asio::error::timed_out;
          break;
        }
        // While others are turned away for memory, a slow body gives its
        // share up.
        if (held.bytes != 0 && spent > options_.pressure_grace &&
            double(body_read) < options_.pressure_min_rate * seconds &&
            UnderPressure()) {
          body_ec = asio::error::timed_out;
          break;
        }
      }
      if (body_ec) {
        std::optional<Response> refusal;
        if (body_ec == beast_http::error::body_limit) {
          refusal = PlainError(ErrorCode::kTooLarge, "body is over the limit");
        } else if (IsParseError(body_ec)) {  // a bad chunk, say
          refusal = PlainError(ErrorCode::kInvalidArgument,
                               "malformed request body: " + body_ec.message());
        }
        if (refusal) {
          co_await Write(c, message, *refusal, false);
          metrics_.RecordRequest(refusal->message.result_int(), 0, 0);
          linger = true;
        }
        break;
      }
    }
    // An idle keep-alive connection holds no more than a head's worth.
    if (buffer.capacity() > kIdleBuffer) buffer.shrink_to_fit();
    // A handler may take long (a database, another server): the watchdog
    // times out the client, not our own work.
    c.deadline = std::chrono::steady_clock::time_point::max();
    Response response = co_await Dispatch(message, match, remote);
    const bool keep_alive =
        message.keep_alive() && !stopping_ && response.message.keep_alive();
    error_code write_ec = co_await Write(c, message, response, keep_alive);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    const bool head_only = message.method() == beast_http::verb::head;
    metrics_.RecordRequest(
        response.message.result_int(),
        head_only ? 0
                  : (response.file ? response.file_length
                                   : response.message.body().size()),
        seconds);
    if (write_ec || !keep_alive) break;
  }
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  if (linger) {
    // A client still sending a refused body would get a reset, and lose
    // our answer, if we closed with its bytes unread (nginx's lingering
    // close): read and drop what it sends, for a bounded time and amount.
    constexpr uint64_t kLingerBytes = 64 * 1024 * 1024;
    c.ExpireAfter(std::chrono::seconds(2));
    std::array<char, 16 * 1024> sink;
    for (uint64_t drained = 0; drained < kLingerBytes;) {
      auto [drain_ec, n] =
          co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
      if (drain_ec) break;
      drained += n;
    }
  }
  c.closed = true;
  c.timer.cancel();
}

Response Server::NoRoute(const Router::Match& match) {
  const bool path_known =
      match.status == beast_http::status::method_not_allowed;
  Response r = path_known ? ErrorResponse(ErrorCode::kMethodNotAllowed,
                                          "method not allowed")
                          : ErrorResponse(ErrorCode::kNotFound, "no such path");
  if (!match.allow.empty())
    r.message.set(beast_http::field::allow, match.allow);
  return r;
}

uint64_t Server::BodyLimit(const Router::Match& match,
                           const RequestMessage& head) const {
  if (!match.route) return options_.max_body_bytes;
  if (match.route->max_body_bytes == UINT64_MAX &&
      TypeIs(head[beast_http::field::content_type], "multipart/form-data")) {
    return WithFormOverhead(options_.max_body_bytes);
  }
  return std::min(options_.max_body_bytes, match.route->max_body_bytes);
}

std::optional<Response> Server::RefuseHead(const RequestParser& parser,
                                           const Router::Match& match,
                                           std::string_view remote) const {
  const RequestMessage& head = parser.get();
  if (head.version() >= 11 &&
      head.find(beast_http::field::host) == head.end()) {
    return PlainError(ErrorCode::kInvalidArgument,
                      "an HTTP/1.1 request must name its Host (RFC 9112 §3.2)");
  }
  if (head.count(beast_http::field::host) > 1) {
    return PlainError(ErrorCode::kInvalidArgument,
                      "a request names one Host (RFC 9112 §3.2)");
  }
  // A body framed by anything but chunked cannot be delimited: Beast would
  // read none and take the body for the next request (RFC 9112 §6.3).
  // Nor by codings before chunked ("gzip, chunked"): the body would be
  // taken as it came, still coded.
  bool other_coding = false;
  for (const auto& te : boost::make_iterator_range(
           head.equal_range(beast_http::field::transfer_encoding))) {
    const beast_http::opt_token_list codings{te.value()};
    if (!beast_http::validate_list(codings)) other_coding = true;
    for (const auto coding : codings) {
      if (!beast::iequals(coding, "chunked")) other_coding = true;
    }
  }
  if (other_coding ||
      (head.find(beast_http::field::transfer_encoding) != head.end() &&
       !parser.chunked())) {
    return PlainError(ErrorCode::kInvalidArgument,
                      "Transfer-Encoding other than chunked is not supported");
  }
  // A coded body (Content-Encoding: gzip) would be stored still coded.
  if (auto ce = head.find(beast_http::field::content_encoding);
      ce != head.end() && !beast::iequals(ce->value(), "identity")) {
    return PlainError(ErrorCode::kUnsupportedMedia,
                      "Content-Encoding is not supported: send the bytes as "
                      "they are");
  }
  const auto declared = parser.content_length();
  // A body no route would read is not read either: it could hold a
  // connection's worth of memory for nothing (up to the limit, each).
  const bool has_body = (declared && *declared > 0) || parser.chunked();
  if (has_body && !match.route) return NoRoute(match);
  if (has_body && (head.method() == beast_http::verb::get ||
                   head.method() == beast_http::verb::head)) {
    return PlainError(ErrorCode::kInvalidArgument,
                      "a GET or HEAD request carries no body");
  }
  const uint64_t limit = BodyLimit(match, head);
  if (declared && *declared > limit) {
    return PlainError(ErrorCode::kTooLarge,
                      fmt::format("body of {} bytes is over the limit of {}",
                                  *declared, limit));
  }

  // An unsigned or forged request is not worth reading a body for.
  if (match.route && match.route->access == Access::kSigned) {
    auto ok =
        CheckSignature(head, SplitTarget(head.target()).first, remote, &parser);
    if (!ok) {
      Response refused = SignatureRefusal(ok.error());
      refused.message.keep_alive(false);
      return refused;
    }
  }
  // The route's own reasons to refuse by the head (a type it never takes):
  // said before a large body is sent, or a 100 Continue invites it.
  if (match.route && match.route->head_check && has_body) {
    if (auto refusal = match.route->head_check(head)) return refusal;
  }
  return std::nullopt;
}

Result<void> Server::CheckSignature(const RequestMessage& message,
                                    std::string_view path,
                                    std::string_view remote,
                                    const RequestParser* head) const {
  const Signature signature = SignatureOf(message);
  const std::string_view method = message.method_string();
  Result<void> ok;
  if (verifier_ == nullptr) {
    ok = Fail(ErrorCode::kUnauthenticated,
              "this server takes no signed requests");
  } else if (signature.mac.empty()) {
    ok = Fail(ErrorCode::kUnauthenticated, "request is not signed");
  } else if (head != nullptr) {
    // No Content-Length and not chunked: no body (RFC 9112 §6.3). A chunked
    // body's length is unknown until it is read, and the head signature
    // binds the length: a signed request must state it.
    std::optional<uint64_t> length;
    if (auto declared = head->content_length()) {
      length = *declared;
    } else if (!head->chunked()) {
      length = 0;
    }
    ok = length ? verifier_->CheckHead(method, path, *length, signature)
                : Fail(ErrorCode::kUnauthenticated,
                       "a signed request states its Content-Length");
  } else {
    ok = verifier_->Verify(method, path, message.body(), signature);
  }
  if (!ok) {
    // A misconfigured peer retries every few seconds: one line per 10 s.
    // Unsigned requests (anyone can send them) have a slot of their own,
    // so they cannot hide a bad signature: a wrong secret is always said.
    LogEvery& logged =
        signature.mac.empty() ? unsigned_logged_ : refusals_logged_;
    if (logged.Due()) {
      // Who it says it is (a node names itself in its User-Agent), in
      // printable characters only: the sender chose them.
      std::string agent(message[beast_http::field::user_agent].substr(0, 100));
      for (char& ch : agent) {
        if (ch < ' ' || ch > '~') ch = '?';
      }
      spdlog::warn("{} {} from {} ({}) refused: {}", method, path, remote,
                   agent.empty() ? "no User-Agent" : agent, ok.error().message);
    }
  }
  return ok;
}

asio::awaitable<Response> Server::Dispatch(RequestMessage& message,
                                           Router::Match& match,
                                           std::string_view remote) {
  if (!match.route) co_return NoRoute(match);
  auto [path, query] = SplitTarget(message.target());
  const Route& route = *match.route;
  if (route.access == Access::kSigned) {
    if (auto ok = CheckSignature(message, path, remote, nullptr); !ok)
      co_return SignatureRefusal(ok.error());
  }
  Request request{message, path, query, std::move(match.params), remote};
  // Handlers return their errors; one that throws anyway is a bug, which
  // costs its request a 500 and a log line, not the daemon its life.
  auto failed = [&request](const char* what) {
    spdlog::error("{} {}: handler failed: {}",
                  std::string_view(request.message.method_string()),
                  request.path, what);
    return ErrorResponse(ErrorCode::kInternal, "internal error");
  };
  auto run = [&route, &request, &failed]() -> Response {
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      return failed(e.what());
    }
  };
  if (route.dispatch == Dispatch::kInline) co_return run();
  if (route.dispatch == Dispatch::kAsync) {
    std::optional<Response> response;
    try {
      response = co_await route.async_handler(request);
    } catch (const std::exception& e) {
      response = failed(e.what());
    }
    co_return std::move(*response);
  }
  asio::thread_pool& pool =
      route.dispatch == Dispatch::kControl ? control_ : workers_;
  Response response = co_await Offload(pool, std::move(run));
  co_return response;
}

namespace {
int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool Server::Admit(uint64_t need, uint64_t& held) {
  uint64_t now = body_bytes_.load();
  do {
    // The first body always goes: a limit under one body must not refuse
    // every upload.
    if (options_.body_memory != 0 && now != 0 &&
        now + need > options_.body_memory) {
      refused_at_.store(SteadyNowNs());
      return false;
    }
  } while (!body_bytes_.compare_exchange_weak(now, now + need));
  held = need;
  return true;
}

bool Server::UnderPressure() const {
  constexpr int64_t kPressureNs = 10'000'000'000;  // 10 s
  return SteadyNowNs() - refused_at_.load() < kPressureNs;
}

asio::awaitable<error_code> Server::Write(Connection& c,
                                          const RequestMessage& request,
                                          Response& response, bool keep_alive) {
  auto& socket = c.socket;
  c.ExpireAfter(options_.write_timeout);
  const bool head_only = request.method() == beast_http::verb::head;
  const bool has_body = response.file && !head_only && response.file_length > 0;
  // A body larger than one sendfile chunk (a pipe's 64 KiB) leaves corked,
  // in full segments instead of a short one per chunk: a fifth fewer
  // segments, and ACKs, for the client per response. Uncorked at the end,
  // so the last partial segment leaves at once. Smaller bodies leave in one
  // go already and would only pay the two setsockopt calls.
  constexpr uint64_t kCorkAbove = 64 * 1024;
  Cork cork(socket.native_handle(),
            has_body && response.file_length > kCorkAbove);
  if (!response.raw_head[0].empty()) {
    // The hot path: one buffer, one send(MSG_MORE) so the head and the
    // first body bytes leave in one segment, then sendfile.
    std::string& h = c.head;
    h.clear();
    const unsigned version = request.version() ? request.version() : 11;
    h += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    h += std::to_string(response.message.result_int());
    h += ' ';
    h += std::string_view(
        beast_http::obsolete_reason(response.message.result()));
    h += "\r\n";
    h += ServerAndDateLines(options_.server_header);
    h += response.raw_head[0];
    h += response.raw_head[1];
    if (!keep_alive && version == 11) h += "Connection: close\r\n";
    if (keep_alive && version == 10) h += "Connection: keep-alive\r\n";
    h += "\r\n";
    ssize_t sent = ::send(socket.native_handle(), h.data(), h.size(),
                          MSG_NOSIGNAL | (has_body ? MSG_MORE : 0));
    if (sent < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        co_return error_code(errno, boost::system::system_category());
      }
      sent = 0;
    }
    if (size_t(sent) < h.size()) {
      auto [ec, n] = co_await asio::async_write(
          socket, asio::buffer(h.data() + sent, h.size() - size_t(sent)),
          kUseTuple);
      if (ec) co_return ec;
    }
  } else {
    auto& m = response.message;
    m.version(request.version() ? request.version() : 11);
    m.set(beast_http::field::server, options_.server_header);
    m.set(beast_http::field::date, CachedDate());
    if (options_.any_origin)
      m.set(beast_http::field::access_control_allow_origin, "*");
    m.keep_alive(keep_alive);
    if (!response.file && !head_only) {
      auto [ec, n] = co_await beast_http::async_write(socket, m, kUseTuple);
      co_return ec;
    }
    beast_http::response_serializer<beast_http::string_body> serializer(m);
    auto [ec, n] =
        co_await beast_http::async_write_header(socket, serializer, kUseTuple);
    if (ec) co_return ec;
  }
  if (!has_body) co_return error_code();

  // The body: sendfile from the open file straight to the socket, no copy
  // through user space (Beast's file_body reads into a buffer, issue #1094).
  off_t offset = off_t(response.file_offset);
  uint64_t left = response.file_length;
  while (left > 0) {
    ssize_t sent = ::sendfile(socket.native_handle(), response.file->fd,
                              &offset, std::min<uint64_t>(left, 1 << 30));
    if (sent > 0) {
      left -= uint64_t(sent);
      continue;
    }
    if (sent == 0) co_return make_error_code(asio::error::eof);  // file shrank
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      co_return error_code(errno, boost::system::system_category());
    }
    // A slow reader: wait for room; the watchdog bounds the wait.
    c.ExpireAfter(options_.write_timeout);
    auto [wait_ec] =
        co_await socket.async_wait(tcp::socket::wait_write, kUseTuple);
    if (wait_ec) co_return wait_ec;
  }
  co_return error_code();
}

}  // namespace imgstore::http
