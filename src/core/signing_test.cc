#include "core/signing.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(SigningTest, SignedRequestVerifiesOnce) {
  FakeClock clock;
  SignatureVerifier verifier("secret", clock);
  Signature s = Sign("secret", "PUT", "n1:9001", "/ab/cd/x.jpg", "body", clock);
  EXPECT_TRUE(verifier.Verify("PUT", "/ab/cd/x.jpg", "body", s).has_value());
  auto replay = verifier.Verify("PUT", "/ab/cd/x.jpg", "body", s);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(replay.error().message.find("replayed"), std::string::npos);
  // A replay is refused on its head already, before its body is read.
  auto head = verifier.CheckHead("PUT", "/ab/cd/x.jpg", 4, s);
  ASSERT_FALSE(head.has_value());
  EXPECT_NE(head.error().message.find("replayed"), std::string::npos);
}

// The wire format as signing.h documents it, computed independently with
// the openssl command line (HMAC, then POLY1305 under the derived key, then
// HMAC over the request line and the tag): a node and a tracker agree only
// if both follow it to the byte. No version is given: the MAC alone decides.
TEST(SigningTest, KnownAnswer) {
  FakeClock clock(1'700'000'000);
  const Signature s{"127.0.0.1:9001", "1700000000",
                    "00112233445566778899aabbccddeeff",
                    "69e013565e80bc234c613a2f73b26123"
                    "fe2d5346db83786c03a89c2c65e65922",
                    ""};
  SignatureVerifier other_body("cluster-secret", clock);
  EXPECT_FALSE(
      other_body.Verify("PUT", "/ab/cd/x.jpg", "hello imagf", s).has_value());
  SignatureVerifier verifier("cluster-secret", clock);
  EXPECT_TRUE(
      verifier.Verify("PUT", "/ab/cd/x.jpg", "hello image", s).has_value());
  // The head signature: HMAC over "imgstore-head", the request line and
  // the body's length (11).
  Signature head = s;
  head.head =
      "7d49311bb634f5fef3acbec0b94bd13a21c6280633e7d1dd3370a901e445fdde";
  // (On a verifier that has not taken the nonce: `verifier` would call the
  // head a replay of the request it verified.)
  EXPECT_TRUE(
      other_body.CheckHead("PUT", "/ab/cd/x.jpg", 11, head).has_value());
  EXPECT_FALSE(
      other_body.CheckHead("PUT", "/ab/cd/x.jpg", 12, head).has_value());
  EXPECT_EQ(Sign("cluster-secret", "PUT", "127.0.0.1:9001", "/ab/cd/x.jpg",
                 "hello image", clock)
                .head.size(),
            64u);
}

// A node checks the head before it reads a body: nobody without the secret
// has it read megabytes, and CheckHead alone never admits a replay.
TEST(SigningTest, HeadIsCheckedBeforeTheBody) {
  FakeClock clock;
  SignatureVerifier node("s", clock, {"n1:9001"});
  const std::string body(1000, 'x');
  Signature s = Sign("s", "PUT", "n1:9001", "/p", body, clock);
  EXPECT_TRUE(node.CheckHead("PUT", "/p", body.size(), s).has_value());
  EXPECT_FALSE(node.CheckHead("PUT", "/p", 10, s).has_value()) << "length";
  EXPECT_FALSE(node.CheckHead("DELETE", "/p", 0, s).has_value()) << "method";
  EXPECT_FALSE(node.CheckHead("PUT", "/q", body.size(), s)) << "path";
  Signature forged = s;
  forged.head = std::string(64, 'a');
  EXPECT_FALSE(node.CheckHead("PUT", "/p", body.size(), forged).has_value());
  Signature elsewhere = Sign("s", "PUT", "n2:9001", "/p", body, clock);
  EXPECT_FALSE(node.CheckHead("PUT", "/p", body.size(), elsewhere));
  // The head leaves no trace: the full check still takes the request once.
  EXPECT_TRUE(node.CheckHead("PUT", "/p", body.size(), s).has_value());
  EXPECT_TRUE(node.Verify("PUT", "/p", body, s).has_value());
  EXPECT_FALSE(node.Verify("PUT", "/p", body, s).has_value()) << "replay";
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
    Signature sig = Sign(c.secret, c.method, "n1:9001", c.path, c.body, clock);
    EXPECT_FALSE(verifier.Verify("PUT", "/p", "b", sig).has_value()) << c.name;
  }
  // The target, sent in the clear, is signed too: rewriting it breaks the
  // signature even where any target would be accepted.
  SignatureVerifier any_target("s", clock);
  Signature moved = Sign("s", "PUT", "n1:9001", "/p", "b", clock);
  moved.target = "n2:9001";
  EXPECT_FALSE(any_target.Verify("PUT", "/p", "b", moved).has_value());
}

TEST(SigningTest, StaleAndFutureRefused) {
  FakeClock clock;
  SignatureVerifier verifier("s", clock);
  Signature old = Sign("s", "PUT", "n1:9001", "/p", "", clock);
  clock.Advance(std::chrono::seconds(SignatureVerifier::kWindowSeconds + 1));
  auto r = verifier.Verify("PUT", "/p", "", old);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("stale"), std::string::npos);

  FakeClock ahead(clock.NowSeconds() + SignatureVerifier::kWindowSeconds + 5);
  Signature future = Sign("s", "PUT", "n1:9001", "/p", "", ahead);
  EXPECT_FALSE(verifier.Verify("PUT", "/p", "", future).has_value());
}

TEST(SigningTest, MalformedHeadersRefused) {
  FakeClock clock;
  SignatureVerifier verifier("s", clock);
  Signature good = Sign("s", "PUT", "n1:9001", "/p", "", clock);
  const std::string& v = good.protocol;
  const std::string& to = good.target;
  Signature bad[] = {
      {to, "", good.nonce, good.mac, v},
      {to, "12x", good.nonce, good.mac, v},
      {to, good.time, "", good.mac, v},
      {to, good.time, good.nonce, "", v},
      {to, good.time, good.nonce, good.mac.substr(1), v},
      {to, good.time, good.nonce, std::string(64, 'Z'), v},
      {"", good.time, good.nonce, good.mac, v},
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
  Signature s = Sign("other", "PUT", "n1:9001", "/p", "b", clock);
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
  s.protocol = "4";
  auto newer = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(newer.has_value());
  EXPECT_NE(newer.error().message.find("protocol 4"), std::string::npos);
  s.protocol = std::string(200, 'x');  // not repeated to the log
  auto garbled = verifier.Verify("PUT", "/p", "b", s);
  ASSERT_FALSE(garbled.has_value());
  EXPECT_EQ(garbled.error().message.find("xxx"), std::string::npos);
  EXPECT_NE(garbled.error().message.find("unreadable"), std::string::npos);

  // The version is a hint, not part of what is signed: a valid signature
  // passes whatever it says.
  Signature good = Sign("s", "PUT", "n1:9001", "/p", "b", clock);
  good.protocol = "";
  EXPECT_TRUE(verifier.Verify("PUT", "/p", "b", good).has_value());
}

// Every node shares the secret: a request one node took must not be good
// on another (a captured DELETE replayed to the other copies).
TEST(SigningTest, ANodeRefusesRequestsSignedForAnother) {
  FakeClock clock;
  SignatureVerifier n1("s", clock, {"n1:9001", "10.0.0.1:9001"});
  SignatureVerifier n2("s", clock, {"n2:9001"});
  Signature s = Sign("s", "DELETE", "n1:9001", "/p", "", clock);
  auto elsewhere = n2.Verify("DELETE", "/p", "", s);
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(elsewhere.error().message.find("made for n1:9001"),
            std::string::npos)
      << elsewhere.error().message;
  EXPECT_TRUE(n1.Verify("DELETE", "/p", "", s).has_value());
  Signature internal = Sign("s", "DELETE", "10.0.0.1:9001", "/p", "", clock);
  EXPECT_TRUE(n1.Verify("DELETE", "/p", "", internal).has_value())
      << "any of the node's own names";
}

// Nonces are remembered in memory only: what was signed before a verifier
// started could have been taken by its previous run, so it is refused.
TEST(SigningTest, SignedBeforeStartRefused) {
  FakeClock clock(1'700'000'000);
  Signature before = Sign("s", "PUT", "n1:9001", "/p", "b", clock);
  clock.Advance(std::chrono::seconds(5));
  SignatureVerifier restarted("s", clock);
  auto r = restarted.Verify("PUT", "/p", "b", before);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("before this server started"),
            std::string::npos)
      << r.error().message;
  Signature after = Sign("s", "PUT", "n1:9001", "/p", "b", clock);
  EXPECT_TRUE(restarted.Verify("PUT", "/p", "b", after).has_value());
}

TEST(SigningTest, WeakSecretsAreNamed) {
  EXPECT_EQ(SecretWeakness(std::string(32, 'a')), "");
  EXPECT_NE(SecretWeakness("s3cr3t").find("6 bytes"), std::string::npos);
  // An EnvironmentFile keeps a comment after the value as part of it.
  EXPECT_NE(SecretWeakness(std::string(32, 'a') + "   # shared").find("'#'"),
            std::string::npos);
  EXPECT_NE(SecretWeakness(std::string(20, 'a') + "\t").find("tab"),
            std::string::npos);
}

}  // namespace

}  // namespace imgstore
