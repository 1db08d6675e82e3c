#include "client/format.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(FormatBytesTest, BinaryUnitsWithOneDecimal) {
  const std::pair<int64_t, const char*> cases[] = {
      {0, "0 B"},
      {1, "1 B"},
      {1023, "1023 B"},
      {1024, "1.0 KiB"},
      {1536, "1.5 KiB"},
      {1024 * 1024 - 1, "1.0 MiB"},  // would read "1024.0 KiB"
      {12'900'000, "12.3 MiB"},
      {int64_t(3) << 30, "3.0 GiB"},
      {int64_t(5) << 40, "5.0 TiB"},
      {-5, "0 B"},
  };
  for (const auto& [bytes, text] : cases) {
    EXPECT_EQ(FormatBytes(bytes), text) << bytes;
  }
}

TEST(FormatBytesTest, Rate) {
  EXPECT_EQ(FormatRate(0), "0 B/s");
  EXPECT_EQ(FormatRate(1.5 * 1024 * 1024), "1.5 MiB/s");
  EXPECT_EQ(FormatRate(-1), "0 B/s");
}

TEST(FormatAgeTest, OneShortUnit) {
  EXPECT_EQ(FormatAge(-1), "never");
  EXPECT_EQ(FormatAge(0), "0s");
  EXPECT_EQ(FormatAge(59), "59s");
  EXPECT_EQ(FormatAge(60), "1m");
  EXPECT_EQ(FormatAge(3599), "59m");
  EXPECT_EQ(FormatAge(7200), "2h");
  EXPECT_EQ(FormatAge(86400 * 3 + 5), "3d");
}

TEST(FormatPercentTest, OneDecimalAndEdges) {
  EXPECT_EQ(FormatPercent(1, 8), "12.5%");
  EXPECT_EQ(FormatPercent(0, 100), "0.0%");
  EXPECT_EQ(FormatPercent(1, 10'000'000), "<0.1%");
  EXPECT_EQ(FormatPercent(100, 100), "100.0%");
  EXPECT_EQ(FormatPercent(5, 0), "-");
}

TEST(FormatTableTest, PadsColumnsAndTrimsTrailingSpace) {
  std::string t = FormatTable(
      {{"ID", "NAME", "FILL"}, {"1", "node-1", "0.5%"}, {"12", "n", "100.0%"}},
      "rlr");
  EXPECT_EQ(t,
            "ID  NAME      FILL\n"
            " 1  node-1    0.5%\n"
            "12  n       100.0%\n");
}

TEST(FormatTableTest, LastLeftColumnHasNoTrailingSpace) {
  EXPECT_EQ(FormatTable({{"a", "long"}, {"bb", "x"}}, ""),
            "a   long\n"
            "bb  x\n");
  EXPECT_EQ(FormatTable({}, "l"), "");
}

TEST(ImportFormatTest, ProgressLine) {
  ImportCounts c;
  c.total = 200;
  c.imported = 40;
  c.already = 10;
  c.skipped = 3;
  c.failed = 1;
  c.bytes = 10 * 1024 * 1024;
  EXPECT_EQ(c.done(), 54);
  EXPECT_EQ(FormatProgress(c, 2.0),
            "[#####...............]  54/200  10.0 MiB  5.0 MiB/s"
            "  skipped 3  failed 1");
  // No rate before there is time to measure one.
  EXPECT_EQ(FormatProgress(c, 0.0),
            "[#####...............]  54/200  10.0 MiB  skipped 3  failed 1");
}

TEST(ImportFormatTest, ProgressEdges) {
  ImportCounts empty;
  EXPECT_EQ(FormatProgress(empty, 1.0),
            "[####################] 0/0  0 B  0 B/s  skipped 0  failed 0");
  ImportCounts full;
  full.total = 7;
  full.imported = 7;
  EXPECT_EQ(FormatProgress(full, 0),
            "[####################] 7/7  0 B  skipped 0  failed 0");
}

TEST(ImportFormatTest, Summary) {
  ImportCounts c;
  c.imported = 5;
  c.already = 2;
  c.skipped = 1;
  EXPECT_EQ(FormatSummary(c),
            "imported 5, already stored 2, skipped 1 (see above), failed 0");
  c.skipped = 0;
  c.failed = 10;
  c.not_tried = 90;
  EXPECT_EQ(FormatSummary(c),
            "imported 5, already stored 2, skipped 0, failed 10, not tried 90");
}

}  // namespace
}  // namespace imgstore
