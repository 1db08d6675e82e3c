// The client's https (http::Fetch, which every client command, the
// tracker's node calls and the nodes' heartbeats use): the server's
// certificate must be trusted and must name the URL's host. A real TLS
// server, `openssl s_server`, on 127.0.0.1.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "testing/testing.h"

namespace imgstore::testing {
namespace {

// A self-signed certificate and key, DIR/NAME.pem and DIR/NAME.key,
// for the subjectAltName `san` (e.g. "IP:127.0.0.1").
void MakeCertificate(const TempDir& dir, const std::string& name,
                     const std::string& san) {
  const std::string base = dir.str() + "/" + name;
  ChildProcess openssl(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
       "/CN=imgstore-test-" + name, "-addext", "subjectAltName=" + san,
       "-keyout", base + ".key", "-out", base + ".pem"},
      base + ".log");
  ASSERT_EQ(openssl.Wait(), 0) << openssl.Log();
}

// `openssl s_server -WWW`: serves the files of `dir` over TLS with the
// certificate `name`, until destroyed.
std::unique_ptr<ChildProcess> ServeFiles(const TempDir& dir,
                                         const std::string& name,
                                         uint16_t port) {
  const std::string base = dir.str() + "/" + name;
  auto server = std::make_unique<ChildProcess>(
      std::vector<std::string>{
          "/bin/sh", "-c",
          "cd '" + dir.str() + "' && exec openssl s_server -quiet -WWW " +
              "-accept 127.0.0.1:" + std::to_string(port) + " -cert '" + base +
              ".pem' -key '" + base + ".key'"},
      base + ".server.log");
  return server;
}

Result<http::ClientResponse> GetWhenUp(const std::string& url) {
  Result<http::ClientResponse> r = Fail(ErrorCode::kUnavailable, "not tried");
  Eventually(
      [&] {
        r = http::Fetch({.url = url});
        return r || r.error().message.find("refused") == std::string::npos;
      },
      std::chrono::seconds(10));
  return r;
}

TEST(TlsTest, FetchChecksTheCertificateAndItsName) {
  TempDir dir;
  MakeCertificate(dir, "good", "IP:127.0.0.1");
  MakeCertificate(dir, "other", "DNS:other.invalid");
  std::ofstream(dir.path() / "hello.txt") << "hello over tls";
  // Both certificates are trusted; only one names the address asked for.
  {
    std::ofstream trusted(dir.path() / "trusted.pem");
    trusted << ReadFile(dir.path() / "good.pem")
            << ReadFile(dir.path() / "other.pem");
  }
  ASSERT_EQ(::setenv("SSL_CERT_FILE", (dir.str() + "/trusted.pem").c_str(), 1),
            0);

  const uint16_t good_port = FreePort();
  auto good = ServeFiles(dir, "good", good_port);
  auto ok = GetWhenUp("https://127.0.0.1:" + std::to_string(good_port) +
                      "/hello.txt");
  ASSERT_TRUE(ok) << ok.error().message << good->Log();
  EXPECT_EQ(ok->status, 200u);
  EXPECT_EQ(ok->body, "hello over tls");

  // Trusted, but for another name: refused, and the message says why.
  const uint16_t other_port = FreePort();
  auto other = ServeFiles(dir, "other", other_port);
  auto wrong_name = GetWhenUp(
      "https://127.0.0.1:" + std::to_string(other_port) + "/hello.txt");
  ASSERT_FALSE(wrong_name);
  EXPECT_EQ(wrong_name.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(wrong_name.error().message.find("certificate"), std::string::npos)
      << wrong_name.error().message;

  // Plain http to a TLS port is an error too, not a hang.
  auto plain = http::Fetch(
      {.url = "http://127.0.0.1:" + std::to_string(good_port) + "/hello.txt",
       .timeout = std::chrono::seconds(3)});
  EXPECT_TRUE(!plain || plain->status >= 400);
}

}  // namespace
}  // namespace imgstore::testing
