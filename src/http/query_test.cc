#include "http/query.h"

#include <gtest/gtest.h>

namespace imgstore::http {
namespace {

TEST(QueryTest, FindsValuesByKey) {
  EXPECT_EQ(QueryValue("a=1&b=2", "b"), "2");
  EXPECT_EQ(QueryValue("a=1&b=2", "a"), "1");
  EXPECT_EQ(QueryValue("a=1&a=2", "a"), "1");  // the first
  EXPECT_EQ(QueryValue("flag&b=2", "flag"), "");
  EXPECT_EQ(QueryValue("a=&b=2", "a"), "");
  EXPECT_EQ(QueryValue("ab=1", "a"), std::nullopt);
  EXPECT_EQ(QueryValue("a=1", "b"), std::nullopt);
  EXPECT_EQ(QueryValue("", "a"), std::nullopt);
  EXPECT_EQ(QueryValue("a=x%26y", "a"), "x%26y");  // raw, not decoded
}

TEST(QueryTest, PercentDecodes) {
  EXPECT_EQ(PercentDecode("ab%2Fcd%2f").value(), "ab/cd/");
  EXPECT_EQ(PercentDecode("plain").value(), "plain");
  for (std::string_view bad : {"%", "%2", "%zz", "a%00b", "%+1"}) {
    auto decoded = PercentDecode(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace imgstore::http
