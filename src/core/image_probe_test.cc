#include "core/image_probe.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

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

// An AVIF or HEIC cut inside its first box (ftyp) is a truncated image by
// the brands it still holds, not "not an image".
TEST(ImageProbeTest, BmffCutInItsFirstBoxIsTruncated) {
  for (const char* file : {"small.avif", "small.heic"}) {
    const std::string bytes = testing::TestData(file);
    for (size_t cut : {16, 24, 28}) {
      auto info = ProbeImage(bytes.substr(0, cut), 100'000'000);
      ASSERT_FALSE(info.has_value()) << file << " cut at " << cut;
      EXPECT_EQ(info.error().code, ErrorCode::kUndecodable)
          << file << " cut at " << cut << ": " << info.error().message;
    }
  }
}

TEST(ImageProbeTest, DamagedPngChunkRefused) {
  std::string bytes = testing::TestData("small.png");
  const size_t idat = bytes.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes[idat + 10] = char(bytes[idat + 10] ^ 0x40);  // its CRC no longer fits
  auto info = ProbeImage(bytes, 100'000'000);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kUndecodable);
}

// A PNG of `width` x `height` RGB pixels whose IDAT holds `rows` rows of
// zeros, deflated as hard as zlib can, every chunk's CRC right.
std::string UniformPng(uint32_t width, uint32_t height, uint32_t rows) {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string typed = type + data;
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(typed.data()),
                            uInt(typed.size()));
    return be32(uint32_t(data.size())) + typed + be32(uint32_t(crc));
  };
  const std::string ihdr =
      be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string raw(size_t(rows) * (1 + size_t(width) * 3), '\0');
  uLongf n = compressBound(uLong(raw.size()));
  std::string z(n, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &n,
                      reinterpret_cast<const Bytef*>(raw.data()),
                      uLong(raw.size()), 9),
            Z_OK);
  z.resize(n);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) +
         chunk("IDAT", z) + chunk("IEND", "");
}

// Every chunk whole and checked, but pixel data for one row of 2000: no
// decoder could fill the image from it (deflate packs 1032:1 at most).
TEST(ImageProbeTest, PngWithTooLittlePixelDataRefused) {
  auto whole = ProbeImage(UniformPng(2000, 2000, 2000), 100'000'000);
  ASSERT_TRUE(whole.has_value()) << whole.error().message;
  EXPECT_EQ(whole->width, 2000);
  auto short_data = ProbeImage(UniformPng(2000, 2000, 1), 100'000'000);
  ASSERT_FALSE(short_data.has_value());
  EXPECT_EQ(short_data.error().code, ErrorCode::kUndecodable);
}

// A PNG of no width says so, not how its decoder stumbled on it.
TEST(ImageProbeTest, PngWithoutPixelsSaysSo) {
  for (auto [width, height] : {std::pair{0u, 48u}, std::pair{64u, 0u}}) {
    auto info = ProbeImage(UniformPng(width, height, height), 100'000'000);
    ASSERT_FALSE(info.has_value());
    EXPECT_EQ(info.error().code, ErrorCode::kUndecodable);
    EXPECT_EQ(info.error().message,
              fmt::format("image is {}x{}: it has no pixels", width, height));
  }
}

// A GIF of one 1x1 frame on a logical screen of `width` x `height`.
std::string OnePixelGif(uint16_t width, uint16_t height) {
  std::string gif = "GIF89a";
  for (uint16_t v : {width, height}) {
    gif += char(v & 0xff);
    gif += char(v >> 8);
  }
  gif += std::string("\x80\x00\x00", 3);  // a 2-colour table
  gif += std::string("\x00\x00\x00\xff\xff\xff", 6);
  gif += std::string("\x2c\0\0\0\0\x01\0\x01\0\0", 10);  // 1x1 at 0,0
  gif += std::string("\x02\x02\x44\x01\x00\x3b", 6);     // LZW data, end
  return gif;
}

TEST(ImageProbeTest, GifIsSizedByItsScreen) {
  // Browsers lay a GIF out, and decoders allocate it, by its screen.
  auto small = ProbeImage(OnePixelGif(100, 80), 100'000'000);
  ASSERT_TRUE(small.has_value()) << small.error().message;
  EXPECT_EQ(small->width, 100);
  EXPECT_EQ(small->height, 80);
  auto bomb = ProbeImage(OnePixelGif(60000, 60000), 100'000'000);
  ASSERT_FALSE(bomb.has_value());
  EXPECT_EQ(bomb.error().code, ErrorCode::kUndecodable);
}

TEST(ImageProbeTest, ExifRotationGivesTheSizeAsShown) {
  // 320x200 pixels with EXIF orientation 6: shown (and laid out) 200x320.
  auto info = ProbeImage(testing::TestData("rotated.jpg"), 100'000'000);
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->width, 200);
  EXPECT_EQ(info->height, 320);
}

// Whole in structure, but its frame header says what no decoder reads: the
// header read (libjpeg's) refuses it, and says why.
TEST(ImageProbeTest, JpegHeaderThatDoesNotDecodeRefused) {
  std::string bytes = testing::TestData("small.jpg");
  size_t frame = bytes.find("\xff\xc0");
  if (frame == std::string::npos) frame = bytes.find("\xff\xc2");
  ASSERT_NE(frame, std::string::npos);
  bytes[frame + 4] = 3;  // sample precision: 3 bits
  auto info = ProbeImage(bytes, 100'000'000);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kUndecodable);
  EXPECT_NE(info.error().message.find("does not decode"), std::string::npos)
      << info.error().message;
  EXPECT_NE(info.error().message.find("precision"), std::string::npos)
      << info.error().message;
}

// A bomb cut short (a header declaring 30000x30000 and little after it)
// is refused as a bomb, the clearer reason.
TEST(ImageProbeTest, TruncatedBombIsCalledABomb) {
  std::string png = testing::TestData("small.png").substr(0, 33);
  png.replace(16, 8, std::string("\x00\x00\x75\x30\x00\x00\x75\x30", 8));
  auto probed = ProbeImage(png, 100'000'000);
  ASSERT_FALSE(probed.has_value());
  EXPECT_EQ(probed.error().code, ErrorCode::kUndecodable);
  EXPECT_NE(probed.error().message.find("30000x30000, over the limit"),
            std::string::npos)
      << probed.error().message;
  std::string gif = testing::TestData("small.gif").substr(0, 13);
  gif.replace(6, 4, std::string("\xff\xff\xff\xff", 4));
  auto screen = ProbeImage(gif, 100'000'000);
  ASSERT_FALSE(screen.has_value());
  EXPECT_NE(screen.error().message.find("over the limit"), std::string::npos)
      << screen.error().message;
}

TEST(ImageProbeTest, PixelLimitIsConfigurable) {
  EXPECT_FALSE(
      ProbeImage(testing::TestData("small.jpg"), 64 * 48 - 1).has_value());
  EXPECT_TRUE(ProbeImage(testing::TestData("small.jpg"), 64 * 48).has_value());
}

}  // namespace
}  // namespace imgstore
