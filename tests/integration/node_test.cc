// `imgstore node` as a real process on 127.0.0.1, with no tracker running
// (it must keep serving): every endpoint of SPEC §5 and hostile input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/hex.h"
#include "core/image_id.h"
#include "core/layout.h"
#include "core/signing.h"
#include "http/metrics.h"
#include "http/respond.h"
#include "http/router.h"
#include "http/server.h"
#include "http/signed.h"
#include "testing/cluster.h"
#include "tracker/node_client.h"

namespace imgstore::testing {
namespace {

namespace fs = std::filesystem;

// A raw exchange on a socket, for requests the client library will not
// send (path-as-is, malformed, slow).
std::string RawExchange(
    uint16_t port, const std::string& bytes,
    std::chrono::milliseconds wait = std::chrono::milliseconds(2000)) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{long(wait.count() / 1000), long((wait.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
  ::close(fd);
  return out;
}

class NodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    port_ = FreePort();
    node_ = new ChildProcess(
        {IMGSTORE_BINARY, "node", "--listen",
         "127.0.0.1:" + std::to_string(port_), "--root", root(), "--tracker",
         "http://127.0.0.1:1", "--secret", kSecret, "--heartbeat", "1"},
        dir_->str() + "/node.log");
    ASSERT_TRUE(WaitForStatus(url() + "/status", 200)) << node_->Log();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static std::string root() { return dir_->str() + "/root"; }
  static std::string url() {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  static std::string target() { return "127.0.0.1:" + std::to_string(port_); }

  static std::string NewPath(ImageFormat format) {
    return "/" + MakeImagePath(ImageId::New(), format).relative;
  }

  // GET /v1/files?QUERY, signed as a tracker signs it (path without query).
  static http::ClientResponse ListFiles(const std::string& query,
                                        const std::string& secret = kSecret) {
    Signature s =
        Sign(secret, "GET", target(), "/v1/files", "", SystemClock::Get());
    return Get(url() + "/v1/files" + (query.empty() ? "" : "?" + query),
               http::SignatureHeaders(s));
  }

  static TempDir* dir_;
  static uint16_t port_;
  static ChildProcess* node_;
};
TempDir* NodeTest::dir_ = nullptr;
uint16_t NodeTest::port_ = 0;
ChildProcess* NodeTest::node_ = nullptr;

TEST_F(NodeTest, StoresAndServesEveryFormat) {
  struct Case {
    const char* file;
    ImageFormat format;
    const char* type;
  } cases[] = {{"small.jpg", ImageFormat::kJpeg, "image/jpeg"},
               {"small.png", ImageFormat::kPng, "image/png"},
               {"small.gif", ImageFormat::kGif, "image/gif"},
               {"small.webp", ImageFormat::kWebp, "image/webp"},
               {"small.avif", ImageFormat::kAvif, "image/avif"},
               {"small.heic", ImageFormat::kHeic, "image/heic"}};
  for (const Case& c : cases) {
    const std::string bytes = TestData(c.file);
    const std::string path = NewPath(c.format);
    auto put = SignedSend("PUT", url(), path, bytes);
    ASSERT_EQ(put.status, 201u) << c.file << put.body;
    EXPECT_EQ(ReadFile(root() + path), bytes)
        << "file on disk at its layout path";

    auto get = Get(url() + path);
    ASSERT_EQ(get.status, 200u) << c.file;
    EXPECT_EQ(get.body, bytes);
    EXPECT_EQ(get.Header("Content-Type"), c.type);
    EXPECT_EQ(get.Header("Cache-Control"),
              "public, max-age=31536000, immutable");
    EXPECT_EQ(get.Header("Accept-Ranges"), "bytes");
    EXPECT_EQ(get.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(get.Header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(get.Header("Access-Control-Expose-Headers"),
              "Content-Range, ETag, Accept-Ranges");
    EXPECT_FALSE(get.Header("Last-Modified").empty());
    const std::string etag = get.Header("ETag");
    ASSERT_GE(etag.size(), 3u);
    EXPECT_EQ(etag.front(), '"') << "strong ETag";

    auto head = Send("HEAD", url() + path, "");
    EXPECT_EQ(head.status, 200u);
    EXPECT_EQ(head.Header("Content-Length"), std::to_string(bytes.size()));
    EXPECT_TRUE(head.body.empty());

    EXPECT_EQ(Get(url() + path, {{"If-None-Match", etag}}).status, 304u);
    auto conditional = Get(url() + path, {{"If-None-Match", "\"other\""}});
    EXPECT_EQ(conditional.status, 200u);
    EXPECT_EQ(conditional.Header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(
        Get(url() + path, {{"If-Modified-Since", get.Header("Last-Modified")}})
            .status,
        304u);
    EXPECT_EQ(Get(url() + path,
                  {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}})
                  .status,
              200u);
    // If-Match and If-Unmodified-Since: the image as the client knew it,
    // else 412 (RFC 9110 §13.1.1, §13.1.4); a weak tag never matches.
    EXPECT_EQ(Get(url() + path, {{"If-Match", etag}}).status, 200u);
    EXPECT_EQ(Get(url() + path, {{"If-Match", "*"}}).status, 200u);
    auto stale = Get(url() + path, {{"If-Match", "\"other\""}});
    EXPECT_EQ(stale.status, 412u);
    EXPECT_EQ(stale.Header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(Get(url() + path, {{"If-Match", "W/" + etag}}).status, 412u);
    EXPECT_EQ(
        Get(url() + path, {{"If-Match", "\"other\""}, {"Range", "bytes=0-1"}})
            .status,
        412u);
    EXPECT_EQ(Get(url() + path,
                  {{"If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}})
                  .status,
              412u);
    EXPECT_EQ(Get(url() + path,
                  {{"If-Unmodified-Since", get.Header("Last-Modified")}})
                  .status,
              200u);
    // Another copy of the image, a newer file (as a repair writes), has the
    // same ETag: a browser sent to it after a failure gets its 304.
    ASSERT_EQ(SignedSend("DELETE", url(), path, "").status, 204u);
    ASSERT_EQ(SignedSend("PUT", url(), path, bytes).status, 201u);
    EXPECT_EQ(Get(url() + path).Header("ETag"), etag) << c.file;
    EXPECT_EQ(Get(url() + path, {{"If-None-Match", etag}}).status, 304u);
  }
}

// Clients reach a server by address or by name: an address connects
// directly, a name goes through the resolver first.
TEST_F(NodeTest, ReachableByAddressAndByName) {
  EXPECT_EQ(Get(url() + "/status").status, 200u);
  // Any origin may read every answer, refusals too.
  auto none = Get(url() + "/nope");
  EXPECT_EQ(none.status, 404u);
  EXPECT_EQ(none.Header("Access-Control-Allow-Origin"), "*");
  auto unsigned_put = Send("PUT", url() + NewPath(ImageFormat::kPng), "x");
  EXPECT_EQ(unsigned_put.status, 401u);
  EXPECT_EQ(unsigned_put.Header("Access-Control-Allow-Origin"), "*");
  // The challenge names what is missing: the cluster's signature.
  EXPECT_EQ(unsigned_put.Header("WWW-Authenticate"), "Imgstore-Signature");
  EXPECT_EQ(Get("http://localhost:" + std::to_string(port_) + "/status").status,
            200u);
}

// --listen takes a name, an IPv6 address in brackets, or every address;
// the URL the node gives itself is one a browser can use, and listening on
// every address without --public-url is warned about.
TEST(NodeListenTest, NamesIpv6AndEveryAddress) {
  TempDir dir;
  struct Case {
    std::string host;      // as in --listen
    std::string reach;     // a URL host that reaches it
    std::string url_host;  // in the node's own URL
    bool warns;
  };
  std::vector<Case> cases = {{"localhost", "127.0.0.1", "localhost", false},
                             {"LOCALHOST", "127.0.0.1", "localhost", false},
                             {"0.0.0.0", "127.0.0.1", "0.0.0.0", true}};
  // Only where this machine has IPv6 loopback.
  const int v6 = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 any6{};
  any6.sin6_family = AF_INET6;
  any6.sin6_addr = in6addr_loopback;
  if (v6 >= 0 &&
      ::bind(v6, reinterpret_cast<sockaddr*>(&any6), sizeof any6) == 0) {
    cases.push_back({"[::1]", "[::1]", "[::1]", false});
  }
  if (v6 >= 0) ::close(v6);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.host);
    const std::string port = std::to_string(FreePort());
    ChildProcess node({IMGSTORE_BINARY, "node", "--listen", c.host + ":" + port,
                       "--root", dir.str() + "/root-" + port, "--tracker",
                       "http://127.0.0.1:1", "--secret", kSecret},
                      dir.str() + "/node-" + port + ".log");
    const std::string reach = "http://" + c.reach + ":" + port;
    ASSERT_TRUE(WaitForStatus(reach + "/status", 200)) << node.Log();
    auto status = nlohmann::json::parse(Get(reach + "/status").body);
    EXPECT_EQ(status["url"], "http://" + c.url_host + ":" + port);
    EXPECT_EQ(
        node.Log().find("--public-url http://HOST:PORT") != std::string::npos,
        c.warns)
        << node.Log();
  }
}

TEST_F(NodeTest, Ranges) {
  const std::string bytes = TestData("small.png");
  const std::string path = NewPath(ImageFormat::kPng);
  ASSERT_EQ(SignedSend("PUT", url(), path, bytes).status, 201u);
  auto part = Get(url() + path, {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206u);
  EXPECT_EQ(part.body, bytes.substr(10, 10));
  EXPECT_EQ(part.Header("Content-Range"),
            "bytes 10-19/" + std::to_string(bytes.size()));
  auto suffix = Get(url() + path, {{"Range", "bytes=-5"}});
  EXPECT_EQ(suffix.status, 206u);
  EXPECT_EQ(suffix.body, bytes.substr(bytes.size() - 5));
  auto beyond = Get(url() + path, {{"Range", "bytes=999999-"}});
  EXPECT_EQ(beyond.status, 416u);
  EXPECT_EQ(beyond.Header("Content-Range"),
            "bytes */" + std::to_string(bytes.size()));
  // If-Range with another validator: the whole file.
  auto stale =
      Get(url() + path, {{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}});
  EXPECT_EQ(stale.status, 200u);
  EXPECT_EQ(stale.body, bytes);

  // Several ranges: one multipart/byteranges answer, each part framed with
  // its own Content-Range, in the order asked.
  auto several = Get(url() + path, {{"Range", "bytes=20-29,0-3"}});
  ASSERT_EQ(several.status, 206u) << several.body;
  const std::string type = several.Header("Content-Type");
  const std::string marker = "boundary=";
  ASSERT_EQ(type.rfind("multipart/byteranges; ", 0), 0u) << type;
  const std::string boundary = type.substr(type.find(marker) + marker.size());
  const std::string size = std::to_string(bytes.size());
  const std::string expected =
      "--" + boundary +
      "\r\nContent-Type: image/png\r\nContent-Range: bytes 20-29/" + size +
      "\r\n\r\n" + bytes.substr(20, 10) + "\r\n--" + boundary +
      "\r\nContent-Type: image/png\r\nContent-Range: bytes 0-3/" + size +
      "\r\n\r\n" + bytes.substr(0, 4) + "\r\n--" + boundary + "--\r\n";
  EXPECT_EQ(several.body, expected);
  const std::string again =
      Get(url() + path, {{"Range", "bytes=20-29,0-3"}}).Header("Content-Type");
  EXPECT_NE(again, type) << "a boundary of its own for each answer";
  // Parts adding up to more than 64 KiB would be held in memory: the whole
  // file instead (sendfile).
  const std::string large_path = NewPath(ImageFormat::kJpeg);
  std::string large = TestData("small.jpg");
  large.insert(large.size() - 2, std::string(200 * 1024, '\0'));
  ASSERT_EQ(SignedSend("PUT", url(), large_path, large).status, 201u);
  auto wide = Get(url() + large_path, {{"Range", "bytes=0-0,2-"}});
  EXPECT_EQ(wide.status, 200u);
  EXPECT_EQ(wide.body, large);
  // The unit is case-insensitive; a last position past 64 bits is the end.
  EXPECT_EQ(Get(url() + path, {{"Range", "BYTES=0-1"}}).status, 206u);
  auto clamped = Get(url() + path, {{"Range", "bytes=1-99999999999999999999"}});
  EXPECT_EQ(clamped.status, 206u);
  EXPECT_EQ(clamped.body, bytes.substr(1));
  // A browser's preflight for a Range it does not send alone: reads are
  // open to any origin, writes are not offered.
  auto preflight = Send("OPTIONS", url() + path, "",
                        {{"Origin", "https://site.example"},
                         {"Access-Control-Request-Method", "GET"},
                         {"Access-Control-Request-Headers", "range"}});
  EXPECT_EQ(preflight.status, 204u);
  EXPECT_EQ(preflight.Header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(preflight.Header("Access-Control-Allow-Methods"), "GET, HEAD");
  EXPECT_NE(preflight.Header("Access-Control-Allow-Headers").find("Range"),
            std::string::npos);
  EXPECT_EQ(Get(url() + NewPath(ImageFormat::kPng))
                .Header("Access-Control-Allow-Origin"),
            "*")
      << "a 404 a page's fetch() can read";
  // Overlapping ranges are not worth the work: the whole file.
  auto overlapping = Get(url() + path, {{"Range", "bytes=0-9,5-15"}});
  EXPECT_EQ(overlapping.status, 200u);
  EXPECT_EQ(overlapping.body, bytes);
}

TEST_F(NodeTest, PutIsIdempotentAndRefusesDifferentBytes) {
  const std::string path = NewPath(ImageFormat::kJpeg);
  const std::string bytes = TestData("small.jpg");
  EXPECT_EQ(SignedSend("PUT", url(), path, bytes).status, 201u);
  EXPECT_EQ(SignedSend("PUT", url(), path, bytes).status, 200u);
  std::string other = bytes;
  other.insert(other.size() - 2, "x");
  EXPECT_EQ(SignedSend("PUT", url(), path, other).status, 409u);
  EXPECT_EQ(Get(url() + path).body, bytes);
}

TEST_F(NodeTest, RefusesBadSignatures) {
  const std::string path = NewPath(ImageFormat::kJpeg);
  const std::string bytes = TestData("small.jpg");
  EXPECT_EQ(Send("PUT", url() + path, bytes).status, 401u) << "unsigned";
  auto wrong = SignedSend("PUT", url(), path, bytes, "wrong-secret");
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_NE(wrong.body.find("cluster secret"), std::string::npos) << wrong.body;
  // As from a tracker of a release that signed otherwise and sent no
  // protocol version: the refusal says so instead of blaming the secret.
  Signature foreign =
      Sign("wrong-secret", "PUT", target(), path, bytes, SystemClock::Get());
  foreign.protocol.clear();
  auto older =
      Send("PUT", url() + path, bytes, http::SignatureHeaders(foreign));
  EXPECT_EQ(older.status, 401u);
  EXPECT_NE(older.body.find("protocol 1"), std::string::npos) << older.body;
  // Stale: signed two minutes ago.
  FakeClock past(SystemClock::Get().NowSeconds() - 120);
  Signature old = Sign(kSecret, "PUT", target(), path, bytes, past);
  auto stale = Send("PUT", url() + path, bytes, http::SignatureHeaders(old));
  EXPECT_EQ(stale.status, 401u);
  // Replayed: the same signed request twice.
  // For another node (every node shares the secret): refused.
  Signature elsewhere =
      Sign(kSecret, "PUT", "127.0.0.1:1", path, bytes, SystemClock::Get());
  auto misdirected =
      Send("PUT", url() + path, bytes, http::SignatureHeaders(elsewhere));
  EXPECT_EQ(misdirected.status, 401u);
  EXPECT_NE(misdirected.body.find("made for 127.0.0.1:1"), std::string::npos)
      << misdirected.body;
  Signature once =
      Sign(kSecret, "PUT", target(), path, bytes, SystemClock::Get());
  const auto h = http::SignatureHeaders(once);
  EXPECT_EQ(Send("PUT", url() + path, bytes, h).status, 201u);
  EXPECT_EQ(Send("DELETE", url() + path, "", h).status, 401u)
      << "signature bound to method";
  EXPECT_EQ(Send("PUT", url() + path, bytes, h).status, 401u) << "replay";
  EXPECT_EQ(Get(url() + path).status, 200u);
  EXPECT_EQ(Send("DELETE", url() + path, "").status, 401u);
}

TEST_F(NodeTest, RefusesNonImagesAndMismatchedTypes) {
  EXPECT_EQ(SignedSend("PUT", url(), NewPath(ImageFormat::kJpeg),
                       TestData("text.txt"))
                .status,
            415u);
  EXPECT_EQ(SignedSend("PUT", url(), NewPath(ImageFormat::kJpeg),
                       TestData("evil.svg"))
                .status,
            415u);
  EXPECT_EQ(SignedSend("PUT", url(), NewPath(ImageFormat::kJpeg),
                       TestData("small.png"))
                .status,
            415u);
  EXPECT_EQ(
      SignedSend("PUT", url(), "/00/00/notanid.jpg", TestData("small.jpg"))
          .status,
      400u);
}

TEST_F(NodeTest, DeleteRemovesTheFile) {
  const std::string path = NewPath(ImageFormat::kGif);
  ASSERT_EQ(SignedSend("PUT", url(), path, TestData("small.gif")).status, 201u);
  ASSERT_EQ(Get(url() + path).status, 200u);  // now in the open-file cache
  EXPECT_EQ(SignedSend("DELETE", url(), path, "").status, 204u);
  EXPECT_EQ(Get(url() + path).status, 404u);
  EXPECT_FALSE(fs::exists(root() + path));
  EXPECT_EQ(SignedSend("DELETE", url(), path, "").status, 404u);
}

TEST_F(NodeTest, HostilePathsTouchNothingOutsideTheRoot) {
  // A secret outside the root, and a symlink to it planted inside.
  const std::string secret_file = dir_->str() + "/secret.jpg";
  std::string secret = TestData("small.jpg");
  { std::ofstream(secret_file, std::ios::binary) << secret; }
  ImagePath planted = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  fs::create_directories(fs::path(root()) / planted.relative.substr(0, 5));
  fs::create_symlink(secret_file, fs::path(root()) / planted.relative);
  EXPECT_EQ(Get(url() + "/" + planted.relative).status, 404u)
      << "symlink not followed";
  ImagePath linked_dir = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  fs::create_directories(fs::path(root()) / linked_dir.relative.substr(0, 2));
  fs::create_directory_symlink(
      dir_->path(), fs::path(root()) / linked_dir.relative.substr(0, 5));
  EXPECT_EQ(
      SignedSend("PUT", url(), "/" + linked_dir.relative, secret).status / 100,
      5u)
      << "no write through a symlinked directory";

  const char* targets[] = {"/../secret.jpg",   "/%2e%2e/secret.jpg",
                           "/..%2fsecret.jpg", "//etc/passwd",
                           "/etc/passwd",      "/ab/cd/../../../secret.jpg",
                           "/ab/cd/%00.jpg",   "/status/../../secret.jpg"};
  for (const char* t : targets) {
    std::string reply = RawExchange(
        port_, std::string("GET ") + t +
                   " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 404") << t << "\n"
                                                   << reply.substr(0, 100);
  }
  std::string nul = RawExchange(
      port_,
      std::string("GET /ab/cd/x\0y.jpg HTTP/1.1\r\nHost: x\r\n\r\n", 40));
  EXPECT_EQ(nul.substr(0, 12), "HTTP/1.1 400") << nul.substr(0, 100);
  EXPECT_EQ(ReadFile(secret_file), secret);
}

TEST_F(NodeTest, MalformedAndOversizedRequests) {
  EXPECT_EQ(RawExchange(port_, "BLAH\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(RawExchange(port_, "GET /status HTTP/1.1\r\n\r\n").substr(0, 12),
            "HTTP/1.1 400")
      << "HTTP/1.1 without Host";
  EXPECT_EQ(RawExchange(port_, "GET /status HTTP/1.0\r\n\r\n").substr(0, 12),
            "HTTP/1.0 200")
      << "HTTP/1.0 needs none";
  EXPECT_EQ(
      RawExchange(port_, "GET /status HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
          .substr(0, 12),
      "HTTP/1.1 400")
      << "two Hosts";
  // The absolute form, whatever the scheme's case (RFC 9112 §3.2.2).
  EXPECT_EQ(RawExchange(port_,
                        "GET HTTPS://img.example/status HTTP/1.1\r\n"
                        "Host: img.example\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 200");
  // A body nothing would read is refused on the head, not read (the body
  // itself is never sent here: an answer means it was not waited for).
  EXPECT_EQ(RawExchange(port_,
                        "GET /status HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 60000000\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 400");
  EXPECT_EQ(RawExchange(port_,
                        "POST /nowhere HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 60000000\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 404");
  std::string line =
      "GET /" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(RawExchange(port_, line).substr(0, 12), "HTTP/1.1 414")
      << "the request line is what is too long";
  std::string fields = "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       std::string(64 * 1024, 'b') + "\r\n\r\n";
  EXPECT_EQ(RawExchange(port_, fields).substr(0, 12), "HTTP/1.1 431");
  std::string huge =
      "PUT " + NewPath(ImageFormat::kJpeg) +
      " HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n";
  EXPECT_EQ(RawExchange(port_, huge).substr(0, 12), "HTTP/1.1 413");
  // A body framed otherwise than chunked cannot be delimited: refused and
  // the connection closed, so the body is not served as a second request
  // (one answer only, no /status).
  std::string smuggled = RawExchange(
      port_,
      "POST /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
      "GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(smuggled.substr(0, 12), "HTTP/1.1 400") << smuggled;
  EXPECT_EQ(smuggled.find("HTTP/1.1", 12), std::string::npos) << smuggled;
  // An unsigned PUT is refused on its head, before its body: nobody without
  // the secret has the node read megabytes (the body is never sent here).
  std::string unsigned_put = RawExchange(
      port_, "PUT " + NewPath(ImageFormat::kJpeg) +
                 " HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(unsigned_put.substr(0, 12), "HTTP/1.1 401") << unsigned_put;
  EXPECT_NE(unsigned_put.find("WWW-Authenticate: Imgstore-Signature"),
            std::string::npos)
      << unsigned_put;
  // A body for a path that takes none: refused on the head (the tracker's
  // test sends a bad chunk where a body is read).
  std::string bad_chunk =
      RawExchange(port_,
                  "POST /status"
                  " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "\r\nzz\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(bad_chunk.substr(0, 12), "HTTP/1.1 405") << bad_chunk;
  EXPECT_EQ(Get(url() + "/status").status, 200u) << "still healthy";
}

TEST_F(NodeTest, SlowClientHoldsOnlyItsConnection) {
  // One client trickles its request a byte at a time; others are served.
  std::thread slow([] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    const std::string req = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < 6 && i < req.size(); ++i) {
      ::send(fd, req.data() + i, 1, MSG_NOSIGNAL);
      ::usleep(500'000);
    }
    ::close(fd);
  });
  for (int i = 0; i < 20; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Get(url() + "/status").status, 200u);
    EXPECT_LT(std::chrono::steady_clock::now() - start,
              std::chrono::seconds(1));
    ::usleep(100'000);
  }
  slow.join();
}

TEST_F(NodeTest, ConcurrentPutsOfOneIdStoreOneFile) {
  const std::string path = NewPath(ImageFormat::kWebp);
  const std::string bytes = TestData("small.webp");
  std::vector<std::thread> threads;
  std::atomic<int> created{0}, same{0}, other{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto r = SignedSend("PUT", url(), path, bytes);
      (r.status == 201 ? created : r.status == 200 ? same : other)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(same.load(), 15);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Get(url() + path).body, bytes);
  size_t entries = 0;
  for (auto& e :
       fs::directory_iterator(fs::path(root() + path).parent_path())) {
    (void)e;
    ++entries;
  }
  EXPECT_GE(entries, 1u);
  for (auto& e :
       fs::directory_iterator(fs::path(root() + path).parent_path())) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp.", 0), std::string::npos)
        << "no temporary left: " << e.path();
  }
}

TEST_F(NodeTest, StatusAndMetrics) {
  // One image of its own, so this holds when it runs alone too.
  ASSERT_EQ(SignedSend("PUT", url(), NewPath(ImageFormat::kPng),
                       TestData("small.png"))
                .status,
            201u);
  auto status = nlohmann::json::parse(Get(url() + "/status").body);
  for (const char* key :
       {"name", "url", "root", "images", "bytes_used", "disk_free_bytes",
        "max_pics", "uptime_s", "version"}) {
    EXPECT_TRUE(status.contains(key)) << key;
  }
  EXPECT_EQ(status["url"], url());
  EXPECT_GT(status["images"].get<int>(), 0);
  std::string metrics = Get(url() + "/metrics").body;
  EXPECT_NE(metrics.find("imgstore_node_http_requests_total{code=\"200\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("imgstore_node_http_request_duration_seconds_bucket"),
            std::string::npos);
  EXPECT_NE(metrics.find("imgstore_node_http_response_bytes_total"),
            std::string::npos);
  // Images were stored, so their writes went through at least one sync.
  const std::string syncs = "\nimgstore_node_group_syncs_total ";
  const size_t at = metrics.find(syncs);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GT(std::stod(metrics.substr(at + syncs.size())), 0);
  EXPECT_NE(node_->Log().find("unreachable"), std::string::npos)
      << "logged once, kept serving";
}

TEST_F(NodeTest, ListFilesIsSignedOrderedAndPaged) {
  std::map<std::string, std::string> mine;  // relative path -> bytes
  for (const char* file : {"small.jpg", "small.png", "small.gif", "small.webp",
                           "small.jpg", "small.png", "small.gif"}) {
    std::string name = file;
    const std::string ext = name.substr(name.find('.') + 1);
    const std::string path = NewPath(*FormatFromExtension(ext));
    ASSERT_EQ(SignedSend("PUT", url(), path, TestData(file)).status, 201u);
    mine[path.substr(1)] = TestData(file);
  }
  EXPECT_EQ(Get(url() + "/v1/files").status, 401u) << "unsigned";
  EXPECT_EQ(ListFiles("", "wrong-secret").status, 401u);
  EXPECT_EQ(ListFiles("limit=0").status, 400u);
  EXPECT_EQ(ListFiles("limit=abc").status, 400u);
  EXPECT_EQ(ListFiles("limit=-1").status, 400u);
  EXPECT_EQ(ListFiles("limit=99999999").status, 200u) << "capped, not refused";
  EXPECT_EQ(ListFiles("after=%zz").status, 400u);

  // Walk the listing two at a time.
  std::vector<std::string> walked;
  std::string after;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = ListFiles("limit=2&after=" + after);
    ASSERT_EQ(page.status, 200u) << page.body;
    auto body = nlohmann::json::parse(page.body);
    ASSERT_TRUE(body["files"].is_array());
    ASSERT_LE(body["files"].size(), 2u);
    for (const auto& f : body["files"]) {
      const std::string path = f["path"];
      EXPECT_TRUE(walked.empty() || path > walked.back()) << "ascending";
      walked.push_back(path);
      struct stat st;
      ASSERT_EQ(::lstat((root() + "/" + path).c_str(), &st), 0) << path;
      EXPECT_TRUE(S_ISREG(st.st_mode)) << "only regular files: " << path;
      EXPECT_EQ(f["bytes"].get<int64_t>(), st.st_size) << path;
      EXPECT_EQ(f["mtime"].get<int64_t>(), st.st_mtim.tv_sec) << path;
    }
    if (body["files"].size() < 2) {
      EXPECT_TRUE(!body.contains("next") || body["next"].is_null())
          << "no next at the end";
      break;
    }
    ASSERT_TRUE(body["next"].is_string()) << page.body;
    EXPECT_EQ(body["next"], walked.back());
    after = body["next"];
  }
  for (const auto& [path, bytes] : mine) {
    EXPECT_EQ(std::count(walked.begin(), walked.end(), path), 1) << path;
  }
  auto status = nlohmann::json::parse(Get(url() + "/status").body);
  EXPECT_EQ(int64_t(walked.size()), status["images"].get<int64_t>())
      << "every stored image, nothing else (the root holds planted symlinks)";

  // One page with everything; `after` escaped or not.
  auto all = nlohmann::json::parse(ListFiles("").body);
  EXPECT_EQ(all["files"].size(), walked.size());
  EXPECT_TRUE(!all.contains("next") || all["next"].is_null());
  const std::string& third = walked.at(2);
  std::string escaped = third;
  for (size_t at; (at = escaped.find('/')) != std::string::npos;)
    escaped.replace(at, 1, "%2F");
  auto rest = nlohmann::json::parse(ListFiles("after=" + escaped).body);
  ASSERT_EQ(rest["files"].size(), walked.size() - 3);
  EXPECT_EQ(rest["files"][0]["path"], walked.at(3));

  // The tracker's client of the same protocol.
  HttpNodeClient client(kSecret, SystemClock::Get());
  ServerRow server;
  server.server_id = 7;
  server.server_url = url();
  std::vector<std::string> listed;
  std::string from;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = client.List(server, from, 3);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    for (const auto& f : *page) {
      listed.push_back(f.path);
      if (auto it = mine.find(f.path); it != mine.end()) {
        EXPECT_EQ(f.bytes, int64_t(it->second.size()));
        EXPECT_GT(f.mtime, 0);
      }
    }
    if (page->size() < 3) break;
    from = page->back().path;
  }
  EXPECT_EQ(listed, walked);
  const auto& [some_path, some_bytes] = *mine.begin();
  auto read = client.Read(server, some_path);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(*read, some_bytes);
  auto missing = client.Read(server, NewPath(ImageFormat::kJpeg).substr(1));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  HttpNodeClient stranger("wrong-secret", SystemClock::Get());
  auto refused = stranger.List(server, "", 10);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  ServerRow gone = server;
  gone.server_url = "http://127.0.0.1:1";
  auto down = client.List(gone, "", 10);
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  auto down_read = client.Read(gone, some_path);
  ASSERT_FALSE(down_read.has_value());
  EXPECT_EQ(down_read.error().code, ErrorCode::kUnavailable);
}

// A tracker reduced to POST /v1/scrub, in this process: checks the
// signature, refuses the first report with 503 (the node must retry it) and
// records the bodies it accepted.
class FakeScrubTracker {
 public:
  FakeScrubTracker()
      : router_({{boost::beast::http::verb::post, "/v1/scrub",
                  http::Dispatch::kInline,
                  [this](const http::Request& r) { return Scrub(r); }},
                 {boost::beast::http::verb::post, "/v1/heartbeat",
                  http::Dispatch::kInline, [](const http::Request&) {
                    return http::Json(boost::beast::http::status::ok,
                                      nlohmann::json::object());
                  }}}) {
    http::ServerOptions o;
    o.port = 0;
    o.worker_threads = 1;
    o.drain_timeout = std::chrono::seconds(1);
    auto server = http::Server::Listen(o, router_, metrics_);
    EXPECT_TRUE(server.has_value()) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~FakeScrubTracker() {
    server_->Stop();
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port());
  }
  std::vector<nlohmann::json> Accepted() {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  int refused() {
    std::lock_guard lock(mu_);
    return refused_;
  }

 private:
  http::Response Scrub(const http::Request& r) {
    auto ok = verifier_.Verify("POST", r.path, r.body(), http::SignatureOf(r));
    if (!ok) return http::ErrorResponse(ok.error());
    std::lock_guard lock(mu_);
    if (refused_ == 0) {
      ++refused_;
      return http::ErrorResponse(ErrorCode::kUnavailable, "not yet");
    }
    accepted_.push_back(nlohmann::json::parse(r.body()));
    return http::Json(boost::beast::http::status::ok, nlohmann::json::object());
  }

  SignatureVerifier verifier_{kSecret, SystemClock::Get()};
  http::Metrics metrics_{"fake_tracker"};
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mu_;  // guards the two below
  int refused_ = 0;
  std::vector<nlohmann::json> accepted_;
};

TEST_F(NodeTest, ScrubReportsTheHashOfEachFileToTheTracker) {
  FakeScrubTracker tracker;
  TempDir dir;
  const std::string scrub_root = dir.str() + "/root";
  const uint16_t port = FreePort();
  const std::string node_url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess node(
      {IMGSTORE_BINARY, "node", "--listen", "127.0.0.1:" + std::to_string(port),
       "--root", scrub_root, "--tracker", tracker.url(), "--secret", kSecret,
       "--scrub-rate", "1000000000", "--scrub-interval", "1"},
      dir.str() + "/node.log");
  ASSERT_TRUE(WaitForStatus(node_url + "/status", 200)) << node.Log();

  const std::string jpeg = TestData("small.jpg"), png = TestData("small.png");
  const std::string rotten = NewPath(ImageFormat::kJpeg).substr(1);
  const std::string sound = NewPath(ImageFormat::kPng).substr(1);
  ASSERT_EQ(SignedSend("PUT", node_url, "/" + rotten, jpeg).status, 201u);
  ASSERT_EQ(SignedSend("PUT", node_url, "/" + sound, png).status, 201u);
  // Bit rot: one byte changed in place, behind the node's back.
  std::string flipped = jpeg;
  flipped[flipped.size() / 2] = char(flipped[flipped.size() / 2] ^ 0x5a);
  {
    std::fstream f(scrub_root + "/" + rotten,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(flipped.size() / 2));
    f.put(flipped[flipped.size() / 2]);
  }
  ASSERT_EQ(ReadFile(scrub_root + "/" + rotten), flipped);

  // What the tracker last heard of each path.
  auto latest = [&] {
    std::map<std::string, nlohmann::json> out;
    for (const auto& report : tracker.Accepted()) {
      for (const auto& f : report["files"]) out[f["path"]] = f;
    }
    return out;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = latest();
        return seen.count(rotten) && seen.count(sound) &&
               seen[rotten]["sha256"] == Sha256Hex(flipped);
      },
      std::chrono::seconds(15)))
      << node.Log();
  EXPECT_GE(tracker.refused(), 1);
  EXPECT_NE(node.Log().find("not taking scrub reports"), std::string::npos)
      << node.Log();
  for (const auto& report : tracker.Accepted()) {
    EXPECT_EQ(report["url"], node_url);
    EXPECT_EQ(report["name"], "node-" + std::to_string(port));
    ASSERT_TRUE(report["files"].is_array());
    EXPECT_LE(report["files"].size(), 256u);
    for (const auto& f : report["files"]) {
      if (f["path"] == sound) {
        EXPECT_EQ(f["sha256"], Sha256Hex(png));
        EXPECT_EQ(f["bytes"], png.size());
      } else {
        EXPECT_EQ(f["path"], rotten);
        EXPECT_EQ(f["bytes"], jpeg.size());
      }
    }
  }
  EXPECT_NE(latest()[rotten]["sha256"], Sha256Hex(jpeg));
  EXPECT_EQ(ReadFile(scrub_root + "/" + sound), png) << "read only";

  auto counter = [&](const std::string& name) -> int64_t {
    const std::string metrics = Get(node_url + "/metrics").body;
    const std::string key = "\nimgstore_node_" + name + " ";
    size_t at = metrics.find(key);
    if (at == std::string::npos) return -1;
    return std::stoll(metrics.substr(at + key.size()));
  };
  EXPECT_TRUE(Eventually([&] { return counter("scrub_passes_total") >= 1; },
                         std::chrono::seconds(15)));
  EXPECT_GE(counter("scrub_files_total"), 2);
  EXPECT_GE(counter("scrub_bytes_total"), int64_t(jpeg.size() + png.size()));
}

TEST_F(NodeTest, ScrubRetriesAReportTheTrackerRefused) {
  // One pass only (the next is an hour away), over a file already on disk
  // at start: the tracker hears of it only if the refused batch is resent.
  FakeScrubTracker tracker;
  TempDir dir;
  const std::string scrub_root = dir.str() + "/root";
  const std::string path =
      MakeImagePath(ImageId::New(), ImageFormat::kPng).relative;
  const std::string png = TestData("small.png");
  fs::create_directories(fs::path(scrub_root + "/" + path).parent_path());
  { std::ofstream(scrub_root + "/" + path, std::ios::binary) << png; }
  const uint16_t port = FreePort();
  const std::string node_url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess node(
      {IMGSTORE_BINARY, "node", "--listen", "127.0.0.1:" + std::to_string(port),
       "--root", scrub_root, "--tracker", tracker.url(), "--secret", kSecret,
       "--scrub-interval", "3600"},
      dir.str() + "/node.log");
  ASSERT_TRUE(WaitForStatus(node_url + "/status", 200)) << node.Log();
  ASSERT_TRUE(Eventually([&] { return !tracker.Accepted().empty(); },
                         std::chrono::seconds(15)))
      << node.Log();
  EXPECT_EQ(tracker.refused(), 1);
  auto accepted = tracker.Accepted();
  ASSERT_EQ(accepted.size(), 1u);
  ASSERT_EQ(accepted[0]["files"].size(), 1u);
  EXPECT_EQ(accepted[0]["files"][0]["path"], path);
  EXPECT_EQ(accepted[0]["files"][0]["sha256"], Sha256Hex(png));
  EXPECT_TRUE(Eventually(
      [&] {
        return Get(node_url + "/metrics")
                   .body.find("imgstore_node_scrub_passes_total 1\n") !=
               std::string::npos;
      },
      std::chrono::seconds(5)));
}

TEST_F(NodeTest, ScrubRateZeroScrubsNothing) {
  FakeScrubTracker tracker;
  TempDir dir;
  const uint16_t port = FreePort();
  const std::string node_url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess node(
      {IMGSTORE_BINARY, "node", "--listen", "127.0.0.1:" + std::to_string(port),
       "--root", dir.str() + "/root", "--tracker", tracker.url(), "--secret",
       kSecret, "--scrub-rate", "0", "--scrub-interval", "1"},
      dir.str() + "/node.log");
  ASSERT_TRUE(WaitForStatus(node_url + "/status", 200)) << node.Log();
  ASSERT_EQ(SignedSend("PUT", node_url, NewPath(ImageFormat::kJpeg),
                       TestData("small.jpg"))
                .status,
            201u);
  ::usleep(2'500'000);
  EXPECT_EQ(tracker.refused(), 0) << "no report was even tried";
  EXPECT_TRUE(tracker.Accepted().empty());
  EXPECT_NE(
      Get(node_url + "/metrics").body.find("imgstore_node_scrub_files_total 0"),
      std::string::npos);
}

// A public URL with a path and no internal URL: trackers would store under
// that path, which this node does not serve unless a proxy maps it. Said
// at start.
TEST(NodeFlagsTest, PublicUrlWithAPathAndNoInternalUrlIsWarnedOf) {
  TempDir dir;
  const uint16_t port = FreePort();
  const std::string node_url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess node(
      {IMGSTORE_BINARY, "node", "--listen", "127.0.0.1:" + std::to_string(port),
       "--root", dir.str() + "/root", "--tracker", "http://127.0.0.1:1",
       "--secret", kSecret, "--public-url", node_url + "/img"},
      dir.str() + "/node.log");
  ASSERT_TRUE(WaitForStatus(node_url + "/status", 200)) << node.Log();
  EXPECT_NE(node.Log().find("--public-url has a path (/img)"),
            std::string::npos)
      << node.Log();
}

// What an operator's slips look like in the log: a root that did not
// exist (a mistyped --root would join as a new, empty server), a short
// secret, and trackers that none answer, each named with its reason.
TEST(NodeFlagsTest, AMissingRootAShortSecretAndNoTrackerAreSaid) {
  TempDir dir;
  const uint16_t port = FreePort();
  const std::string node_url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess node(
      {IMGSTORE_BINARY, "node", "--listen", "127.0.0.1:" + std::to_string(port),
       "--root", dir.str() + "/new-root", "--tracker",
       "http://127.0.0.1:1,http://127.0.0.1:2", "--secret", "short"},
      dir.str() + "/node.log");
  ASSERT_TRUE(WaitForStatus(node_url + "/status", 200)) << node.Log();
  ASSERT_TRUE(Eventually(
      [&] { return node.Log().find("no tracker of") != std::string::npos; },
      std::chrono::seconds(10)))
      << node.Log();
  const std::string log = node.Log();
  EXPECT_NE(log.find("root " + dir.str() + "/new-root did not exist"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("the cluster secret is 5 bytes"), std::string::npos)
      << log;
  EXPECT_NE(log.find("http://127.0.0.1:1: POST"), std::string::npos) << log;
  EXPECT_NE(log.find("http://127.0.0.1:2: POST"), std::string::npos) << log;
}

// kill -9 in the middle of a stream of writes, then restart: every
// acknowledged file is whole, no partial file is ever served.
TEST(NodeCrashTest, KillDuringWritesLeavesNoPartialFile) {
  TempDir dir;
  const std::string root = dir.str() + "/root";
  const uint16_t port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> argv = {
      IMGSTORE_BINARY, "node", "--listen",  "127.0.0.1:" + std::to_string(port),
      "--root",        root,   "--tracker", "http://127.0.0.1:1",
      "--secret",      kSecret};
  // A large body makes the write window wide.
  std::string big = TestData("small.jpg");
  big.insert(big.size() - 2, std::string(4 << 20, '\0'));
  std::vector<std::pair<std::string, bool>> sent;  // path, acknowledged
  std::mutex mu;
  {
    ChildProcess node(argv, dir.str() + "/node.log");
    ASSERT_TRUE(WaitForStatus(url + "/status", 200));
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&] {
        for (int i = 0; i < 50 && !stop; ++i) {
          const std::string path =
              "/" + MakeImagePath(ImageId::New(), ImageFormat::kJpeg).relative;
          Signature s =
              Sign(kSecret, "PUT", "127.0.0.1:" + std::to_string(port), path,
                   big, SystemClock::Get());
          http::ClientRequest r{"PUT", url + path, http::SignatureHeaders(s),
                                big};
          auto res = http::Fetch(r);
          std::lock_guard lock(mu);
          sent.emplace_back(path, res && res->status == 201);
        }
      });
    }
    ::usleep(700'000);
    node.Kill9();
    stop = true;
    for (auto& t : writers) t.join();
  }
  ChildProcess node(argv, dir.str() + "/node2.log");
  ASSERT_TRUE(WaitForStatus(url + "/status", 200));
  int acknowledged = 0;
  for (const auto& [path, ok] : sent) {
    auto get = Get(url + path);
    if (ok) {
      ++acknowledged;
      EXPECT_EQ(get.status, 200u) << path;
    }
    if (get.status == 200) {
      EXPECT_EQ(get.body, big) << "partial file served: " << path;
    }
  }
  EXPECT_GT(acknowledged, 0);
  for (auto& e : fs::recursive_directory_iterator(root)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp.", 0), std::string::npos)
        << e.path();
  }
  // SIGHUP (logrotate's habit): said in the log, and the node serves on.
  ASSERT_EQ(::kill(node.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually(
      [&] {
        return ReadFile(dir.str() + "/node2.log").find("SIGHUP") !=
               std::string::npos;
      },
      std::chrono::seconds(5)));
  EXPECT_EQ(Get(url + "/status").status, 200u) << "still running";
  // Graceful stop: SIGTERM exits 0, said in the log.
  int status = node.Signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(ReadFile(dir.str() + "/node2.log").find("stopping: no new"),
            std::string::npos);
}

}  // namespace
}  // namespace imgstore::testing
