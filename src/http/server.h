#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/log_every.h"
#include "core/signing.h"
#include "http/metrics.h"
#include "http/router.h"

namespace imgstore::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see Server::port())
  int io_threads = 1;
  int worker_threads = 8;  // for Dispatch::kBlocking handlers
  // Whole request head, request line included: an over-long line gets 431.
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 32 * 1024 * 1024;  // larger bodies get 413
  // Large request bodies (of routes over kSmallBodyBytes) held at once,
  // from the head to the answer written (a chunked body counts as its
  // route's limit); a body that would pass it gets 503 with Retry-After
  // before it is read, unless it would be the only one. 0: no limit.
  uint64_t body_memory = 0;
  // While body_memory turns bodies away (and for 10 s after), a large body
  // older than this that has averaged under pressure_min_rate is cut, so
  // that clients trickling bytes cannot hold the memory from the others.
  std::chrono::milliseconds pressure_grace{2'000};
  double pressure_min_rate = 64 * 1024;  // bytes per second
  // A connection idle or sending its head slower than this is closed, so a
  // client trickling a byte a second holds one connection, briefly.
  std::chrono::seconds header_timeout{15};
  // A request body that sends nothing for this long is cut; one that keeps
  // coming may take longer (at 1 KiB/s on average at the least).
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds write_timeout{60};
  // On Stop(), requests in flight get this long to finish.
  std::chrono::seconds drain_timeout{10};
  std::string server_header = "imgstore";
  // Every answer says any origin may read it (Access-Control-Allow-Origin:
  // *), errors included: a node's images are public.
  bool any_origin = false;
};

// The HTTP/1.1 server: the only code that reads or writes sockets. Owns an
// acceptor, one io_context run on io_threads threads and a worker pool for
// blocking handlers. Each connection is one coroutine on its own strand:
// read head (limits, timeouts, 100-continue), read body, route, run the
// handler, write (file bodies with sendfile), repeat while keep-alive.
// Created by Listen(); Run() serves until Stop(). Thread-safe: Stop().
class Server {
 public:
  static Result<std::unique_ptr<Server>> Listen(const ServerOptions& options,
                                                const Router& router,
                                                Metrics& metrics);
  ~Server();

  uint16_t port() const { return port_; }

  // Checks the requests to Access::kSigned routes: the head before the body
  // is read, the whole request before its handler runs. Until set, such
  // requests are refused. Call before Run(); `verifier` outlives the server.
  void VerifyWith(SignatureVerifier& verifier) { verifier_ = &verifier; }
  boost::asio::io_context& io_context() { return ioc_; }

  // Serves until Stop() (or SIGINT/SIGTERM) has drained; the calling
  // thread is one of the I/O threads.
  void Run();
  // Stops accepting; lets requests in flight finish (up to drain_timeout),
  // then ends Run(). Idle keep-alive connections are closed. Logged, as
  // is a drain cut short.
  void Stop();
  // From Stop() on: no new connection is taken.
  bool Stopping() const { return stopping_; }

 private:
  Server(const ServerOptions& options, const Router& router, Metrics& metrics);

  // One connection's state, shared by its session and its watchdog (both
  // run on the connection's executor, never at once).
  struct Connection {
    explicit Connection(boost::asio::ip::tcp::socket s)
        : socket(std::move(s)), timer(socket.get_executor()) {}
    void ExpireAfter(std::chrono::steady_clock::duration d) {
      deadline = std::chrono::steady_clock::now() + d;
    }
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    std::chrono::steady_clock::time_point deadline =
        std::chrono::steady_clock::time_point::max();
    bool closed = false;
    std::string head;  // reused buffer for hot-path response heads
  };

  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Session(std::shared_ptr<Connection> connection);
  boost::asio::awaitable<void> Watchdog(std::shared_ptr<Connection> connection);
  using RequestParser =
      boost::beast::http::request_parser<boost::beast::http::string_body>;
  // The 404 or 405 (with Allow) for a request no route takes.
  static Response NoRoute(const Router::Match& match);
  // The largest body `match`'s route reads, for a request with `head` (a
  // form to a large-body route: kFormOverhead more).
  uint64_t BodyLimit(const Router::Match& match,
                     const RequestMessage& head) const;
  // The answer to give, without reading the body, to a request whose head
  // decides it: a body that cannot be framed, is over the limit, or that
  // nothing would read (no route, a GET), or a signed route's request whose
  // head does not check out. nullopt: read the body, dispatch.
  std::optional<Response> RefuseHead(const RequestParser& parser,
                                     const Router::Match& match,
                                     std::string_view remote) const;
  // Ok when `message` carries a valid signature: with `head` (its parser,
  // before the body is read) what the head proves, else the whole request.
  // kUnauthenticated otherwise, logged at most once per 10 s.
  Result<void> CheckSignature(const RequestMessage& message,
                              std::string_view path, std::string_view remote,
                              const RequestParser* head) const;
  boost::asio::awaitable<Response> Dispatch(RequestMessage& message,
                                            Router::Match& match,
                                            std::string_view remote);
  boost::asio::awaitable<boost::system::error_code> Write(
      Connection& connection, const RequestMessage& request, Response& response,
      bool keep_alive);
  boost::asio::awaitable<void> Drain();
  // Takes `need` bytes of body_memory for a body about to be read, into
  // `held`; false when they would pass it.
  bool Admit(uint64_t need, uint64_t& held);
  // Whether body_memory turned a body away within the last 10 s.
  bool UnderPressure() const;

  const ServerOptions options_;
  const Router& router_;
  Metrics& metrics_;

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::thread_pool workers_;
  boost::asio::thread_pool control_{2};  // Dispatch::kControl
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};        // requests read and not yet answered
  std::atomic<uint64_t> body_bytes_{0};  // held against body_memory
  // When body_memory last turned a body away (steady clock, ns).
  std::atomic<int64_t> refused_at_{INT64_MIN / 2};
  SignatureVerifier* verifier_ = nullptr;
  mutable LogEvery refusals_logged_{std::chrono::seconds(10)};
  mutable LogEvery unsigned_logged_{std::chrono::seconds(10)};
  LogEvery accept_failures_logged_{std::chrono::seconds(10)};
};

}  // namespace imgstore::http
