#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace imgstore::http {

using Handler = std::function<Response(const Request&)>;
// A coroutine on the connection's I/O thread that waits without holding a
// thread (for another thread's work posted back, never for a blocking call).
using AsyncHandler =
    std::function<boost::asio::awaitable<Response>(const Request&)>;

// Where a handler runs. kInline: on the I/O thread, for handlers that never
// block (a cached file open, a memory lookup). kBlocking: on the worker
// pool, for anything touching a disk write, a database, libvips or another
// server. kAsync: `async_handler` on the I/O thread (the node's PUT: write
// the file, then co_await the group sync). kControl: blocking, on a small
// pool of its own, for short calls that must not queue behind a burst of
// large uploads (heartbeats: a server unheard for seconds is called down).
enum class Dispatch { kInline, kBlocking, kAsync, kControl };

// Who may call a route. kSigned: only requests signed with the cluster
// secret (core/signing.h), checked by the server (ServerOptions::verifier),
// not by the handler: the head before the body is read, the whole request
// before the handler runs.
enum class Access { kAnyone, kSigned };

// The largest body a route reads unless it takes large ones: JSON requests
// are small, and each connection could otherwise hold the server's upload
// limit in memory for a request that needs a few kilobytes.
inline constexpr uint64_t kSmallBodyBytes = 1 << 20;

// One row of a daemon's route table. Pattern segments are literals or "{}",
// which matches one non-empty segment and is passed in Request::params.
struct Route {
  beast_http::verb method;
  std::string pattern;
  Dispatch dispatch;
  Handler handler;               // kInline, kBlocking
  AsyncHandler async_handler{};  // kAsync
  Access access = Access::kAnyone;
  uint64_t max_body_bytes = kSmallBodyBytes;  // within the server's limit
  // Refuses a request with a body by its head alone (the answer), before
  // the body is read or a 100 Continue asks for it; nullopt: read on. Runs
  // on the I/O thread: it must not block.
  std::function<std::optional<Response>(const beast_http::fields& head)>
      head_check{};
};

// What a multipart/form-data body to such a route may hold beyond the
// server's limit: its boundaries and part headers, so a form's file may be
// as large as a raw body (the handler checks the file's own size).
inline constexpr uint64_t kFormOverhead = 64 * 1024;

// `route`, reading bodies up to the server's limit (uploads, stores).
inline Route LargeBody(Route route) {
  route.max_body_bytes = UINT64_MAX;
  return route;
}

// `route`, open to signed requests only.
inline Route Signed(Route route) {
  route.access = Access::kSigned;
  return route;
}

// {method, path pattern} -> route. 404 and 405 are decided here and nowhere
// else. Immutable after construction, so safe to share between threads.
class Router {
 public:
  explicit Router(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;                        // null: see status
    beast_http::status status = beast_http::status::ok;  // 404 or 405 on miss
    std::string allow;                                   // for 405
    boost::container::small_vector<std::string_view, 4> params;
  };

  // HEAD matches GET routes (the server drops the body).
  Match Find(beast_http::verb method, std::string_view path) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;
  };
  std::vector<Compiled> routes_;
};

}  // namespace imgstore::http
