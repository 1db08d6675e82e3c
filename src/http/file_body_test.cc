#include "http/file_body.h"

#include <gtest/gtest.h>

namespace imgstore::http {
namespace {

TEST(RangeTest, Table) {
  struct Case {
    const char* header;
    RangeKind kind;
    uint64_t first, length;
  } cases[] = {
      {"bytes=0-9", RangeKind::kPartial, 0, 10},
      {"bytes=10-", RangeKind::kPartial, 10, 90},
      {"bytes=-10", RangeKind::kPartial, 90, 10},
      {"bytes=-1000", RangeKind::kPartial, 0, 100},
      {"bytes=50-1000", RangeKind::kPartial, 50, 50},
      {"bytes=99-99", RangeKind::kPartial, 99, 1},
      {"bytes=100-", RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=200-300", RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=-0", RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=9-5", RangeKind::kWhole, 0, 0},
      {"bytes=0-1,5-6", RangeKind::kWhole, 0, 0},
      {"items=0-1", RangeKind::kWhole, 0, 0},
      {"bytes=a-b", RangeKind::kWhole, 0, 0},
      {"bytes=-", RangeKind::kWhole, 0, 0},
      {"bytes=99999999999999999999-", RangeKind::kWhole, 0, 0},
  };
  for (const Case& c : cases) {
    RangeRequest r = ParseRange(c.header, 100);
    EXPECT_EQ(r.kind, c.kind) << c.header;
    if (c.kind == RangeKind::kPartial) {
      EXPECT_EQ(r.range.first, c.first) << c.header;
      EXPECT_EQ(r.range.length, c.length) << c.header;
    }
  }
}

TEST(HttpDateTest, RoundTrip) {
  EXPECT_EQ(HttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
}

}  // namespace
}  // namespace imgstore::http
