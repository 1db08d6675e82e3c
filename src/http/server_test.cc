#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "http/client.h"
#include "http/metrics.h"
#include "http/respond.h"
#include "http/router.h"

namespace imgstore::http {
namespace {

using std::chrono::milliseconds;
namespace bhttp = boost::beast::http;

// A server whose one route answers with the size of the body it read.
class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions o) {
    o.port = 0;
    o.worker_threads = 1;
    o.drain_timeout = std::chrono::seconds(1);
    auto server = Server::Listen(o, router_, metrics_);
    ASSERT_TRUE(server.has_value()) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  // A connected socket, with a receive timeout so no test waits forever.
  int Connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
              0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static void Send(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              ssize_t(bytes.size()));
  }
  // Everything until the server closes (or 10 s pass).
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
      out.append(buf, size_t(n));
    return out;
  }  // `request` on a connection of its own, and everything answered on it.
  std::string Exchange(const std::string& request) {
    const int fd = Connect();
    Send(fd, request);
    std::string answer = ReadAll(fd);
    ::close(fd);
    return answer;
  }
  // The server's root URL, for requests through the client library.
  std::string Base() const {
    return "http://127.0.0.1:" + std::to_string(server_->port());
  }

  Metrics metrics_{"test"};
  static Response Echo(const Request& r) {
    return Text(bhttp::status::ok, std::to_string(r.body().size()),
                "text/plain");
  }
  // /picky takes only bodies said to be text/plain, and says so by the head.
  static Route Picky() {
    Route route{bhttp::verb::post, "/picky", Dispatch::kInline, Echo};
    route.head_check =
        [](const bhttp::fields& head) -> std::optional<Response> {
      if (head[bhttp::field::content_type] == "text/plain") return std::nullopt;
      return ErrorResponse(ErrorCode::kUnsupportedMedia, "text/plain only");
    };
    return route;
  }
  // /slow answers after 400 ms, counting the requests it took.
  static inline std::atomic<int> slow_calls{0};
  static inline std::atomic<int> slow_done{0};
  static Response Slow(const Request& r) {
    ++slow_calls;
    std::this_thread::sleep_for(milliseconds(400));
    ++slow_done;
    return Echo(r);
  }
  Router router_{
      {{bhttp::verb::post, "/echo", Dispatch::kInline, Echo},
       Picky(),
       LargeBody({bhttp::verb::post, "/slow", Dispatch::kBlocking, Slow}),
       LargeBody({bhttp::verb::post, "/big", Dispatch::kInline, Echo}),
       {bhttp::verb::post, "/control", Dispatch::kControl, Echo}}};
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// A control call (a heartbeat) is answered while every worker is busy
// with slow requests (uploads): it has threads of its own.
TEST_F(ServerTest, ControlCallsDoNotQueueBehindWorkers) {
  Start(ServerOptions{});  // one worker
  const std::string base = Base();
  slow_done = 0;
  std::thread busy([&] {
    (void)Fetch({.method = "POST", .url = base + "/slow", .body = "x"});
  });
  std::thread queued([&] {
    (void)Fetch({.method = "POST", .url = base + "/slow", .body = "x"});
  });
  std::this_thread::sleep_for(milliseconds(100));
  auto control = Fetch({.method = "POST", .url = base + "/control"});
  EXPECT_EQ(slow_done.load(), 0);  // answered before the first slow one
  busy.join();
  queued.join();
  ASSERT_TRUE(control.has_value()) << control.error().message;
  EXPECT_EQ(control->status, 200u);
}

// Bodies held at once are bounded: one that would pass the budget while
// another is held gets 503 with Retry-After before it is read; the first
// one always goes, and the budget is free again once the answer is out.
TEST_F(ServerTest, BodyMemoryIsBounded) {
  ServerOptions o;
  o.body_memory = 1000;
  Start(o);
  const std::string base = Base();
  const std::string body(800, 'x');
  slow_done = 0;
  std::thread holder([&] {
    auto held = Fetch({.method = "POST", .url = base + "/slow", .body = body});
    EXPECT_TRUE(held.has_value() && held->status == 200u);
  });
  std::this_thread::sleep_for(milliseconds(100));
  auto busy = Fetch({.method = "POST", .url = base + "/big", .body = body});
  ASSERT_TRUE(busy.has_value()) << busy.error().message;
  EXPECT_EQ(busy->status, 503u) << busy->body;
  EXPECT_EQ(busy->Header("Retry-After"), "2");
  EXPECT_EQ(slow_done.load(), 0);
  auto small = Fetch({.method = "POST", .url = base + "/echo", .body = body});
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->status, 200u) << "a route of small bodies never waits";
  holder.join();
  auto after = Fetch({.method = "POST", .url = base + "/big", .body = body});
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, 200u);
  EXPECT_EQ(after->body, "800");
}

// While bodies are turned away for memory, a body trickling in gives its
// share up once its grace is over; then the others get in.
TEST_F(ServerTest, UnderMemoryPressureASlowBodyIsCut) {
  ServerOptions o;
  o.body_memory = 1000;
  o.pressure_grace = milliseconds(300);
  o.pressure_min_rate = 1000;  // bytes per second; the trickle sends 20
  Start(o);
  const std::string base = Base();
  const int fd = Connect();
  Send(fd, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 800\r\n\r\n");
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int i = 0; i < 100 && !stop; ++i) {
      (void)::send(fd, "x", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  std::this_thread::sleep_for(milliseconds(100));
  const std::string body(800, 'x');
  auto busy = Fetch({.method = "POST", .url = base + "/big", .body = body});
  ASSERT_TRUE(busy.has_value()) << busy.error().message;
  EXPECT_EQ(busy->status, 503u) << busy->body;
  const auto waited = std::chrono::steady_clock::now();
  ReadAll(fd);  // until the server closes it
  EXPECT_LT(std::chrono::steady_clock::now() - waited, std::chrono::seconds(3));
  stop = true;
  trickle.join();
  ::close(fd);
  auto after = Fetch({.method = "POST", .url = base + "/big", .body = body});
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(after->status, 200u) << after->body;
}

// A request that times out on a kept connection is not sent again: the
// server may be processing it still, and an upload would be stored twice.
// (A kept connection the server had closed is retried: see the client.)
TEST_F(ServerTest, ATimedOutRequestIsNotSentTwice) {
  Start(ServerOptions{});
  const std::string base = Base();
  auto first = Fetch({.method = "POST", .url = base + "/echo", .body = "x"});
  ASSERT_TRUE(first.has_value()) << first.error().message;
  slow_calls = 0;
  auto slow = Fetch({.method = "POST",
                     .url = base + "/slow",
                     .body = "x",
                     .timeout = milliseconds(100)});
  EXPECT_FALSE(slow.has_value());
  std::this_thread::sleep_for(milliseconds(900));
  EXPECT_EQ(slow_calls.load(), 1);
}

// A body that keeps coming is read to its end however long it takes, each
// pause shorter than body_timeout; a body that stops is cut.
TEST_F(ServerTest, ABodyMayTakeLongWhileItKeepsComing) {
  ServerOptions o;
  o.body_timeout = std::chrono::seconds(1);
  Start(o);
  int slow = Connect();
  Send(slow,
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
       "Connection: close\r\n\r\n");
  for (int i = 0; i < 8; ++i) {  // 8 bytes over some 3.2 s
    std::this_thread::sleep_for(milliseconds(400));
    Send(slow, "x");
  }
  const std::string answer = ReadAll(slow);
  ::close(slow);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n8")) << answer;

  int stalled = Connect();
  Send(stalled,
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nxx");
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(stalled), "") << "closed without an answer";
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  ::close(stalled);
}

// With any_origin, every answer says any origin may read it: a refusal
// the server makes itself (no route) as well as a handler's answer.
TEST_F(ServerTest, AnyOriginOnEveryAnswer) {
  ServerOptions o;
  o.any_origin = true;
  Start(o);
  for (const std::string request :
       {"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Connection: close\r\n\r\nx"}) {
    const std::string answer = Exchange(request);
    EXPECT_NE(answer.find("Access-Control-Allow-Origin: *\r\n"),
              std::string::npos)
        << answer;
  }
}

// A route that refuses by the head does so before the body is sent: no
// 100 Continue invites a body it would not take.
TEST_F(ServerTest, HeadCheckAnswersBeforeContinue) {
  Start(ServerOptions{});
  const std::string answer = Exchange(
      "POST /picky HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 415") << answer;
  EXPECT_EQ(answer.find("100 Continue"), std::string::npos) << answer;

  const std::string taken = Exchange(
      "POST /picky HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
      "Content-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_EQ(taken.substr(0, 12), "HTTP/1.1 200") << taken;
}

// A body coded in a way the server does not undo is refused, not taken
// still coded: codings before chunked, and any Content-Encoding.
TEST_F(ServerTest, CodedBodiesAreRefused) {
  Start(ServerOptions{});
  struct Case {
    std::string headers;
    std::string status;
  } cases[] = {
      {"Transfer-Encoding: gzip, chunked\r\n", "400"},
      {"Transfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n", "400"},
      {"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n", "415"},
      {"Transfer-Encoding: Chunked\r\n", "200"},
  };
  for (const Case& c : cases) {
    const std::string answer =
        Exchange("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                 c.headers + "\r\n3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 " + c.status) << c.headers;
  }
}

}  // namespace
}  // namespace imgstore::http
