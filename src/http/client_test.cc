#include "http/client.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <thread>

namespace imgstore::http {
namespace {

TEST(ParseUrlTest, SplitsSchemeHostPortAndPath) {
  auto plain = ParseUrl("http://127.0.0.1:9001");
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "9001");
  EXPECT_EQ(plain->path, "/");
  auto tls = ParseUrl("https://img.example.test/a/b");
  ASSERT_TRUE(tls.has_value()) << tls.error().message;
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, "443");
  EXPECT_EQ(tls->path, "/a/b");
  auto v6 = ParseUrl("http://[::1]");
  ASSERT_TRUE(v6.has_value()) << v6.error().message;
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, "80");
}

TEST(ParseUrlTest, RefusesWhatNoServerCanBe) {
  for (const char* bad : {"ftp://x", "notaurl", "http://", "http://:9001",
                          "http://h:", "http://h:0", "http://h:99999",
                          "http://h:-1", "http://h:80x"}) {
    auto url = ParseUrl(bad);
    EXPECT_FALSE(url.has_value()) << bad;
    if (!url) {
      EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

// A server's URL goes into Location headers, JSON and pages: a CR LF in
// it would add a header of the sender's choosing to every redirect.
TEST(CheckRootUrlTest, RefusesWhatCouldEscapeAHeaderOrAPage) {
  for (const char* good :
       {"http://127.0.0.1:9001", "https://img.example.test/node-1/",
        "http://[::1]:9001", "http://n1.example.test:8080/a%20b",
        "http://image_node_1:9001", "http://localhost:80"}) {
    EXPECT_TRUE(CheckRootUrl(good).has_value()) << good;
  }
  for (const char* bad :
       {"https://x.example/a\r\nSet-Cookie: pwn=1", "http://a b:9001",
        "http://127.0.0.1:9001/\"><b>x", "http://h:9001/<script>",
        "http://user:pw@h:9001", "http://h:9001/?q=1", "http://h:9001/#f",
        "http://h:99999", "http://a b\r\nX: y", "http://h:1/a'b",
        // One spelling per server; hosts that are no host.
        "http://x:01", "http://X:1", "http://[::1:18251", "http://[zz]:1",
        "http://-x-:1", "http://a..b:1", "http://a.:1",
        // Numbers a browser would read another way, or not at all.
        "http://256.1.1.1:1", "http://1.2.3.4.5:1", "http://1.2.3:1",
        "http://0x7f.1:1", "http://127.1:1", "http://127.000.0.1:1"}) {
    auto checked = CheckRootUrl(bad);
    EXPECT_FALSE(checked.has_value()) << bad;
    if (!checked) {
      EXPECT_EQ(checked.error().message.find('\r'), std::string::npos)
          << "the message itself stays one line";
    }
  }
  // Length: up to the limit taken, past it refused with a short message.
  const std::string prefix = "http://h:1/";
  const std::string longest =
      prefix + std::string(kMaxRootUrlLength - prefix.size(), 'a');
  EXPECT_TRUE(CheckRootUrl(longest).has_value());
  auto too_long = CheckRootUrl(longest + "a");
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().message,
            "url: 1025 characters, more than the 1024 a server's URL may "
            "have");
}

// Out of descriptors, a call fails with an error; it does not throw out of
// the calling thread (a background thread's throw ended the tracker). The
// descriptor limit is the process's: the call runs in a thread of its own,
// so its connection pool is made under the low limit.
TEST(FetchTest, OutOfDescriptorsIsAnErrorNotACrash) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' own checks open pipes: with no descriptor left they
  // report every virtual call as a bad object.
  GTEST_SKIP() << "needs descriptors the sanitizers take";
#endif
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit none = saved;
  none.rlim_cur = 3;  // stdin, stdout and stderr: no new descriptor
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
  Result<ClientResponse> got = ClientResponse{};
  std::thread([&] {
    got = Fetch(ClientRequest{.method = "GET", .url = "http://127.0.0.1:1/"});
  }).join();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(got.error().message.find("GET http://127.0.0.1:1/"),
            std::string::npos)
      << got.error().message;
}

}  // namespace
}  // namespace imgstore::http
