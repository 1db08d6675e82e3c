#include "core/image_probe.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace imgstore {
namespace {

TEST(ImageProbeTest, AcceptsEveryFormat) {
  struct Case {
    const char* file;
    ImageFormat format;
  } cases[] = {
      {"small.jpg", ImageFormat::kJpeg},  {"small.png", ImageFormat::kPng},
      {"small.gif", ImageFormat::kGif},   {"small.webp", ImageFormat::kWebp},
      {"small.avif", ImageFormat::kAvif}, {"small.heic", ImageFormat::kHeic}};
  for (const Case& c : cases) {
    auto info = ProbeImage(testing::TestData(c.file), 100'000'000);
    ASSERT_TRUE(info.has_value()) << c.file << ": " << info.error().message;
    EXPECT_EQ(info->format, c.format) << c.file;
    EXPECT_EQ(info->width, 64) << c.file;
    EXPECT_EQ(info->height, 48) << c.file;
  }
}

TEST(ImageProbeTest, RefusesWhatIsNotAnImage) {
  struct Case {
    std::string bytes;
    ErrorCode code;
  } cases[] = {
      {testing::TestData("text.txt"), ErrorCode::kUnsupportedMedia},
      {testing::TestData("evil.svg"), ErrorCode::kUnsupportedMedia},
      {"", ErrorCode::kUnsupportedMedia},
      {"\xff\xd8", ErrorCode::kUnsupportedMedia},
      {testing::TestData("truncated.jpg"), ErrorCode::kUndecodable},
      {testing::TestData("bomb.png"), ErrorCode::kUndecodable},
      {testing::TestData("small.png").substr(0, 100), ErrorCode::kUndecodable},
      {testing::TestData("small.webp").substr(0, 200), ErrorCode::kUndecodable},
      {testing::TestData("small.avif").substr(0, 600), ErrorCode::kUndecodable},
      // Magic bytes, then garbage: the header does not decode.
      {std::string("\x89PNG\r\n\x1a\n") + std::string(100, 'x') + "IEND",
       ErrorCode::kUndecodable},
  };
  for (const Case& c : cases) {
    auto info = ProbeImage(c.bytes, 100'000'000);
    ASSERT_FALSE(info.has_value()) << c.bytes.substr(0, 16);
    EXPECT_EQ(info.error().code, c.code) << info.error().message;
  }
}

// Bytes after the end marker are accepted (cameras append trailers, motion
// photos a whole video); a stream cut anywhere before it is refused.
TEST(ImageProbeTest, TrailersAcceptedTruncationRefused) {
  for (const char* file : {"small.jpg", "small.png", "small.gif"}) {
    const std::string bytes = testing::TestData(file);
    for (const std::string& trailer :
         {std::string(100, '\0'), std::string(8192, 'v'), std::string("x")}) {
      auto info = ProbeImage(bytes + trailer, 100'000'000);
      EXPECT_TRUE(info.has_value()) << file << " + " << trailer.size()
                                    << " bytes: " << info.error().message;
    }
    for (size_t cut : {bytes.size() / 2, bytes.size() - 1}) {
      auto info = ProbeImage(bytes.substr(0, cut), 100'000'000);
      ASSERT_FALSE(info.has_value()) << file << " cut at " << cut;
      EXPECT_EQ(info.error().code, ErrorCode::kUndecodable) << file;
    }
  }
}

TEST(ImageProbeTest, PixelLimitIsConfigurable) {
  EXPECT_FALSE(
      ProbeImage(testing::TestData("small.jpg"), 64 * 48 - 1).has_value());
  EXPECT_TRUE(ProbeImage(testing::TestData("small.jpg"), 64 * 48).has_value());
}

}  // namespace
}  // namespace imgstore
