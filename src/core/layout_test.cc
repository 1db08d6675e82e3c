#include "core/layout.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

namespace imgstore {
namespace {

TEST(ImageIdTest, NewIsUrlSafeAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    ImageId id = ImageId::New();
    EXPECT_EQ(id.str().size(), 22u);
    EXPECT_TRUE(ImageId::Parse(id.str()).has_value()) << id.str();
    EXPECT_TRUE(seen.insert(id.str()).second);
  }
}

// The store's indexes rely on it: new rows at one edge, not a random page.
TEST(ImageIdTest, NewSortsInTheOrderMade) {
  std::string previous = ImageId::New().str();
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::string next = ImageId::New().str();
    EXPECT_LT(previous, next);
    previous = next;
  }
}

TEST(ImageIdTest, ParseRefusesBadIds) {
  const char* bad[] = {"",
                       "short",
                       "abc/def/ghijklmnopq",
                       "../../../../etc/passwd",
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 33 */,
                       "aaaaaaaaaaaaaaaa.jpg",
                       "aaaaaaaaaaaaaaa%2e",
                       "aaaaaaaaaaaaaaa\n",
                       "aaaaaaaaaaaaaaa=="};
  for (const char* s : bad) EXPECT_FALSE(ImageId::Parse(s).has_value()) << s;
  EXPECT_FALSE(
      ImageId::Parse(std::string("aaaaaaaaaaaaaaaa\0b", 18)).has_value());
  EXPECT_TRUE(ImageId::Parse("abcdefghijklmnop").has_value());
  EXPECT_TRUE(ImageId::Parse("ABC-_0123456789abcdefghijklmnopq").has_value());
}

TEST(LayoutTest, PathRoundTrips) {
  for (int i = 0; i < 200; ++i) {
    ImageId id = ImageId::New();
    for (auto format :
         {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kGif,
          ImageFormat::kWebp, ImageFormat::kAvif, ImageFormat::kHeic}) {
      ImagePath p = MakeImagePath(id, format);
      ASSERT_EQ(p.relative.size(),
                6 + id.str().size() + 1 + FormatExtension(format).size());
      auto parsed = ParseImagePath("/" + p.relative);
      ASSERT_TRUE(parsed.has_value()) << p.relative;
      EXPECT_EQ(parsed->id, id);
      EXPECT_EQ(parsed->format, format);
      EXPECT_EQ(parsed->relative, p.relative);
    }
  }
}

// The layout is an on-disk format: these paths must never change, or nodes
// would no longer find the files they hold. (The directories are the first
// two bytes of the id's XXH3-64 hash, little end first, in hex.)
TEST(LayoutTest, PathsAreStableAcrossVersions) {
  const std::pair<const char*, const char*> known[] = {
      {"AAAAAAAAAAAAAAAAAAAAAA", "66/a6/AAAAAAAAAAAAAAAAAAAAAA.jpg"},
      {"Zx9-abc_defGHIJKLmnopq", "a0/f1/Zx9-abc_defGHIJKLmnopq.jpg"},
      {"0123456789abcdefABCDEFGHIJ-_xyzw",
       "30/7c/0123456789abcdefABCDEFGHIJ-_xyzw.jpg"},
  };
  for (const auto& [text, relative] : known) {
    auto id = ImageId::Parse(text);
    ASSERT_TRUE(id.has_value()) << text;
    EXPECT_EQ(MakeImagePath(*id, ImageFormat::kJpeg).relative, relative);
    std::string appended = "http://n/";
    AppendRelativePath(appended, *id, ImageFormat::kJpeg);
    EXPECT_EQ(appended, std::string("http://n/") + relative);
  }
}

TEST(LayoutTest, ShardsSpreadOverDirectories) {
  std::set<std::string> dirs;
  for (int i = 0; i < 20000; ++i) {
    dirs.insert(MakeImagePath(ImageId::New(), ImageFormat::kJpeg)
                    .relative.substr(0, 5));
  }
  // 20,000 ids over 65,536 directories: expect ~17,000 distinct.
  EXPECT_GT(dirs.size(), 15000u);
}

TEST(LayoutTest, ParseRefusesHostilePaths) {
  ImagePath good = MakeImagePath(
      ImageId::Parse("abcdefghijklmnopqrstuv").value(), ImageFormat::kJpeg);
  const std::string ok = "/" + good.relative;
  ASSERT_TRUE(ParseImagePath(ok).has_value());
  std::string wrong_shard = ok;
  wrong_shard[1] = wrong_shard[1] == '0' ? '1' : '0';
  const std::string bad[] = {
      "",
      "/",
      ok.substr(1),               // relative
      "/" + ok,                   // doubled slash
      ok + "/",                   // trailing slash
      "/../" + ok.substr(4),      // dot-dot
      "/%2e%2e/" + ok.substr(4),  // percent-encoded dots
      ok.substr(0, 7) + "..%2f..%2fetc%2fpasswd",
      ok + std::string("\0", 1),  // NUL
      std::string("/ab/cd/\0", 8) + good.relative.substr(6),
      wrong_shard,                           // shard not the id's hash
      ok.substr(0, ok.size() - 3) + "svg",   // unsupported extension
      ok.substr(0, ok.size() - 3) + "JPG",   // case matters
      ok.substr(0, ok.size() - 3) + "jpeg",  // one spelling only
      ok + ".jpg",                           // double extension
      "/etc/passwd",
      "/AB/CD/" + good.relative.substr(6),  // upper-case hex
  };
  for (const auto& p : bad) EXPECT_FALSE(ParseImagePath(p).has_value()) << p;
}

TEST(LayoutTest, FormatsFromContentType) {
  EXPECT_EQ(FormatFromContentType("image/jpeg"), ImageFormat::kJpeg);
  EXPECT_EQ(FormatFromContentType("image/png; charset=binary"),
            ImageFormat::kPng);
  EXPECT_EQ(FormatFromContentType("image/heif"), ImageFormat::kHeic);
  EXPECT_FALSE(FormatFromContentType("image/svg+xml").has_value());
  EXPECT_FALSE(FormatFromContentType("text/plain").has_value());
}

}  // namespace
}  // namespace imgstore
