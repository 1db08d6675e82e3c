#include "core/signing.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(SigningTest, SignedRequestVerifiesOnce) {
  FakeClock clock;
  SignatureVerifier verifier("secret", clock);
  Signature s = Sign("secret", "PUT", "/ab/cd/x.jpg", "body", clock);
  EXPECT_TRUE(verifier.Verify("PUT", "/ab/cd/x.jpg", "body", s).has_value());
  auto replay = verifier.Verify("PUT", "/ab/cd/x.jpg", "body", s);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(replay.error().message.find("replayed"), std::string::npos);
}

// The wire format as signing.h documents it, computed independently with
// the openssl command line (HMAC, then POLY1305 under the derived key, then
// HMAC over the request line and the tag): a node and a tracker agree only
// if both follow it to the byte. No version is given: the MAC alone decides.
TEST(SigningTest, KnownAnswer) {
  FakeClock clock(1'700'000'000);
  const Signature s{"1700000000", "00112233445566778899aabbccddeeff",
                    "32a73766ffbb4d0c5c880f31995e14b3"
                    "7161751838462b1680616293f5cfd0f6",
                    ""};
  SignatureVerifier other_body("cluster-secret", clock);
  EXPECT_FALSE(
      other_body.Verify("PUT", "/ab/cd/x.jpg", "hello imagf", s).has_value());
  SignatureVerifier verifier("cluster-secret", clock);
  EXPECT_TRUE(
      verifier.Verify("PUT", "/ab/cd/x.jpg", "hello image", s).has_value());
}

TEST(SigningTest, EveryPartIsBound) {
  FakeClock clock;
  struct Case {
    const char* name;
    std::string secret, method, path, body;
  } cases[] = {
      {"secret", "other", "PUT", "/p", "b"},
      {"method", "s", "DELETE", "/p", "b"},
      {"path", "s", "PUT", "/q", "b"},
      {"body", "s", "PUT", "/p", "c"},
  };
  for (const Case& c : cases) {
    SignatureVerifier verifier("s", clock);
    Signature sig = Sign(c.secret, c.method, c.path, c.body, clock);
    EXPECT_FALSE(verifier.Verify("PUT", "/p", "b", sig).has_value()) << c.name;
  }
}

TEST(SigningTest, StaleAndFutureRefused) {
  FakeClock clock;
  SignatureVerifier verifier("s", clock);
  Signature old = Sign("s", "PUT", "/p", "", clock);
  clock.Advance(std::chrono::seconds(SignatureVerifier::kWindowSeconds + 1));
  auto r = verifier.Verify("PUT", "/p", "", old);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("stale"), std::string::npos);

  FakeClock ahead(clock.NowSeconds() + SignatureVerifier::kWindowSeconds + 5);
  Signature future = Sign("s", "PUT", "/p", "", ahead);
  EXPECT_FALSE(verifier.Verify("PUT", "/p", "", future).has_value());
}

TEST(SigningTest, MalformedHeadersRefused) {
  FakeClock clock;
  SignatureVerifier verifier("s", clock);
  Signature good = Sign("s", "PUT", "/p", "", clock);
  const std::string& v = good.protocol;
  Signature bad[] = {
      {"", good.nonce, good.mac, v},
      {"12x", good.nonce, good.mac, v},
      {good.time, "", good.mac, v},
      {good.time, good.nonce, "", v},
      {good.time, good.nonce, good.mac.substr(1), v},
      {good.time, good.nonce, std::string(64, 'Z'), v},
  };
  for (const Signature& s : bad)
    EXPECT_FALSE(verifier.Verify("PUT", "/p", "", s).has_value());
  EXPECT_TRUE(verifier.Verify("PUT", "/p", "", good).has_value());
}

// A refusal says which side to look at: another version of the scheme
// means releases that differ (an operator upgraded only the trackers or
// only the nodes), the same version means another secret.
TEST(SigningTest, MismatchNamesTheProtocolOrTheSecret) {
  FakeClock clock;
  SignatureVerifier verifier("s", clock);
  Signature s = Sign("other", "PUT", "/p", "b", clock);
  EXPECT_EQ(s.protocol, kProtocolVersion);
  auto wrong_secret = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(wrong_secret.has_value());
  EXPECT_NE(wrong_secret.error().message.find("secret"), std::string::npos);
  EXPECT_EQ(wrong_secret.error().message.find("protocol"), std::string::npos);

  s.protocol = "";  // a release from before the version was sent
  auto unversioned = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(unversioned.has_value());
  EXPECT_NE(unversioned.error().message.find("protocol 1"), std::string::npos)
      << unversioned.error().message;
  EXPECT_NE(unversioned.error().message.find("upgrade trackers and nodes"),
            std::string::npos);
  s.protocol = "3";
  auto newer = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(newer.has_value());
  EXPECT_NE(newer.error().message.find("protocol 3"), std::string::npos);
  s.protocol = std::string(200, 'x');  // not repeated to the log
  auto garbled = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(garbled.has_value());
  EXPECT_EQ(garbled.error().message.find("xxx"), std::string::npos);
  EXPECT_NE(garbled.error().message.find("unreadable"), std::string::npos);

  // The version is a hint, not part of what is signed: a valid signature
  // passes whatever it says.
  Signature good = Sign("s", "PUT", "/p", "b", clock);
  good.protocol = "";
  EXPECT_TRUE(verifier.Verify("PUT", "/p", "b", good).has_value());
}

}  // namespace
}  // namespace imgstore
