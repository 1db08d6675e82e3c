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
      {"bytes=0-1,1-6", RangeKind::kWhole, 0, 0},        // overlapping
      {"bytes=0-1,200-300", RangeKind::kPartial, 0, 2},  // one satisfiable
      {"bytes=200-300,300-", RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=,0-4", RangeKind::kPartial, 0, 5},
      {"bytes=0-4, ,", RangeKind::kPartial, 0, 5},
      {"bytes=,", RangeKind::kWhole, 0, 0},
      {"items=0-1", RangeKind::kWhole, 0, 0},
      {"bytes=a-b", RangeKind::kWhole, 0, 0},
      {"bytes=-", RangeKind::kWhole, 0, 0},
      // Positions past 64 bits are past any file, not malformed.
      {"bytes=99999999999999999999-", RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=0-99999999999999999999", RangeKind::kPartial, 0, 100},
      {"bytes=-99999999999999999999", RangeKind::kPartial, 0, 100},
      {"bytes=+1-2", RangeKind::kWhole, 0, 0},
      // The unit is case-insensitive.
      {"BYTES=0-1", RangeKind::kPartial, 0, 2},
      {"Bytes=-10", RangeKind::kPartial, 90, 10},
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

TEST(RangeTest, SeveralRangesInTheOrderAsked) {
  RangeRequest r = ParseRange("bytes=50-59, 0-1,-5,200-", 100);
  ASSERT_EQ(r.kind, RangeKind::kMultiple);
  ASSERT_EQ(r.multiple.size(), 3u) << "200- is past the end: dropped";
  EXPECT_EQ(r.multiple[0].first, 50u);
  EXPECT_EQ(r.multiple[0].length, 10u);
  EXPECT_EQ(r.multiple[1].first, 0u);
  EXPECT_EQ(r.multiple[1].length, 2u);
  EXPECT_EQ(r.multiple[2].first, 95u);
  EXPECT_EQ(r.multiple[2].length, 5u);
  // Adjacent is not overlapping; more than kMaxRanges is ignored.
  EXPECT_EQ(ParseRange("bytes=0-1,2-3", 100).kind, RangeKind::kMultiple);
  std::string many = "bytes=0-0";
  for (size_t i = 1; i <= kMaxRanges; ++i)
    many += "," + std::to_string(i * 2) + "-" + std::to_string(i * 2);
  EXPECT_EQ(ParseRange(many, 100).kind, RangeKind::kWhole);
}

TEST(HttpDateTest, RoundTrip) {
  EXPECT_EQ(HttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37").has_value());
  EXPECT_FALSE(ParseHttpDate("Sun Nov  6 08:49:37 1994 x").has_value());
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
}

}  // namespace
}  // namespace imgstore::http
