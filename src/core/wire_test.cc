#include "core/wire.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(FieldTest, ReadsByTypeAndRefusesOthers) {
  const auto body = nlohmann::json::parse(
      R"({"s": "x", "i": 5, "d": 0.5, "b": true, "n": null})");
  EXPECT_EQ(Field<std::string>(body, "s", "").value(), "x");
  EXPECT_EQ(Field<int64_t>(body, "i", 0).value(), 5);
  EXPECT_EQ(Field<double>(body, "d", 0).value(), 0.5);
  EXPECT_EQ(Field<double>(body, "i", 0).value(), 5.0);
  EXPECT_TRUE(Field<bool>(body, "b", false).value());
  EXPECT_EQ(Field<std::string>(body, "absent", "fallback").value(), "fallback");
  EXPECT_EQ(Field<int64_t>(body, "n", 7).value(), 7) << "null reads as absent";
  auto refused = [](auto r) {
    return !r && r.error().code == ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused(Field<std::string>(body, "i", "")));
  EXPECT_TRUE(refused(Field<int64_t>(body, "s", 0)));
  EXPECT_TRUE(refused(Field<int64_t>(body, "d", 0)));
  EXPECT_TRUE(refused(Field<bool>(body, "i", false)));
  EXPECT_EQ(Field<std::string>(body, "i", "").error().message,
            "i must be a string");
}

// A heartbeat with a negative count or size is refused as it is read, so
// nothing is made of it (a server marked usable, a capacity taken).
TEST(WireTest, ANodeStatusWithANegativeCountIsRefused) {
  NodeStatus s;
  s.name = "n1";
  s.url = "http://a:1";
  s.root = "/srv/images";
  s.max_pics = 10;
  s.version = "1";
  ASSERT_TRUE(ParseNodeStatus(ToJson(s).dump()).has_value());
  for (const char* key :
       {"images", "bytes_used", "disk_free_bytes", "disk_reserve_bytes",
        "max_pics", "uptime_s", "heartbeat_s", "max_upload_bytes"}) {
    nlohmann::json bad = ToJson(s);
    bad[key] = -5;
    auto parsed = ParseNodeStatus(bad.dump());
    ASSERT_FALSE(parsed.has_value()) << bad.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message, std::string("node status: ") + key +
                                          " must not be negative (got -5)");
  }
}

TEST(WireTest, ErrorBodiesAreToldApartFromOtherReplies) {
  const std::string ours = ErrorBody({ErrorCode::kNotFound, "no image abc"});
  EXPECT_EQ(ErrorBodyMessage(ours), "no image abc");
  EXPECT_EQ(ParseErrorBody(ours, ErrorCode::kNotFound).message, "no image abc");
  // A web server's page or a proxy's is not an imgstore error.
  EXPECT_EQ(ErrorBodyMessage("<!DOCTYPE HTML><html>Not Found</html>"),
            std::nullopt);
  EXPECT_EQ(ErrorBodyMessage(R"({"error":"plain string"})"), std::nullopt);
  EXPECT_EQ(ErrorBodyMessage(""), std::nullopt);
  EXPECT_EQ(ParseErrorBody("", ErrorCode::kUnavailable).message,
            ErrorCodeName(ErrorCode::kUnavailable));
}

}  // namespace
}  // namespace imgstore
