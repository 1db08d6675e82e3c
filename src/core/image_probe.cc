#include "core/image_probe.h"

// clang-format off
#include <cstdio>  // jpeglib.h uses FILE and size_t without including them
#include <jpeglib.h>
// clang-format on
#include <fmt/format.h>
#include <libexif/exif-data.h>
#include <spdlog/spdlog.h>
#include <vips/vips.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstring>
#include <mutex>

namespace imgstore {

namespace {

bool StartsWith(std::string_view bytes, std::string_view prefix) {
  return bytes.substr(0, prefix.size()) == prefix;
}

uint32_t Be32(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) |
         (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

uint32_t Le16(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at + 1])) << 8) | uint32_t(uint8_t(b[at]));
}

uint32_t Le32(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at + 3])) << 24) |
         (uint32_t(uint8_t(b[at + 2])) << 16) |
         (uint32_t(uint8_t(b[at + 1])) << 8) | uint32_t(uint8_t(b[at]));
}

bool LooksLikeSvg(std::string_view bytes) {
  std::string head(bytes.substr(0, 1024));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return head.find("<svg") != std::string::npos ||
         (head.find("<?xml") != std::string::npos &&
          head.find("svg") != std::string::npos);
}

// ISO base media (AVIF, HEIC): "ftyp" box first; the major and compatible
// brands say which. A box cut short still names the brands it holds (the
// file is then called truncated, not something else).
std::optional<ImageFormat> SniffBmff(std::string_view bytes) {
  if (bytes.size() < 16 || bytes.substr(4, 4) != "ftyp") return std::nullopt;
  const uint32_t box = Be32(bytes, 0);
  if (box < 16) return std::nullopt;
  const size_t end = std::min<size_t>(box, bytes.size());
  bool avif = false, heic = false;
  for (size_t at = 8; at + 4 <= end; at += 4) {
    if (at == 12) continue;  // minor version
    std::string_view brand = bytes.substr(at, 4);
    if (brand == "avif" || brand == "avis") avif = true;
    if (brand == "heic" || brand == "heix" || brand == "hevc" ||
        brand == "hevx" || brand == "heim" || brand == "heis") {
      heic = true;
    }
  }
  if (avif) return ImageFormat::kAvif;
  if (heic) return ImageFormat::kHeic;
  return std::nullopt;
}

// True when every top-level box fits exactly in the bytes.
bool BmffComplete(std::string_view bytes) {
  size_t at = 0;
  while (at + 8 <= bytes.size()) {
    uint64_t size = Be32(bytes, at);
    if (size == 1) {
      if (at + 16 > bytes.size()) return false;
      size = (uint64_t(Be32(bytes, at + 8)) << 32) | Be32(bytes, at + 12);
    } else if (size == 0) {
      return true;  // extends to the end of the file
    }
    if (size < 8 || at + size > bytes.size()) return false;
    at += size;
  }
  return at == bytes.size();
}

// Each walk follows the format's own structure to its end marker, so a
// stream cut short is refused (422) while bytes after the end, which
// cameras and tools append (a motion photo's video after a JPEG), are not.

// Segments by their lengths, entropy-coded data up to the next marker, to
// EOI.
bool JpegComplete(std::string_view b) {
  size_t at = 2;  // after SOI
  while (at + 1 < b.size()) {
    if (uint8_t(b[at]) != 0xFF) {
      const void* ff = std::memchr(b.data() + at, 0xFF, b.size() - at);
      if (ff == nullptr) return false;
      at = size_t(static_cast<const char*>(ff) - b.data());
      continue;
    }
    const uint8_t marker = uint8_t(b[at + 1]);
    if (marker == 0xD9) return true;  // EOI
    if (marker == 0xFF) {             // fill byte
      ++at;
      continue;
    }
    // A stuffed FF 00 in entropy-coded data, RSTn, TEM, SOI: no length.
    if (marker == 0x00 || marker == 0x01 ||
        (marker >= 0xD0 && marker <= 0xD8)) {
      at += 2;
      continue;
    }
    if (at + 4 > b.size()) return false;
    const size_t length = size_t(uint8_t(b[at + 2])) << 8 | uint8_t(b[at + 3]);
    if (length < 2) return false;
    at += 2 + length;
  }
  return false;
}

// The most deflate compresses: a run of one byte, 258 bytes a match, each
// match at least two bits (RFC 1951; zlib's own figure is 1032:1).
constexpr double kDeflateMaxRatio = 1032;

// Chunks (length, type, data, CRC) to IEND.
// Every chunk to IEND, each with its CRC: PNG carries a checksum of every
// chunk, so bytes damaged on their way are caught without decoding them.
// And enough compressed pixel data (IDAT) for the image IHDR declares:
// deflate shrinks data 1032 times at most, so fewer bytes than the pixels'
// over 1032 cannot hold them, however the chunks check out (a 10000x10000
// image with one row's data, say) — caught without inflating anything.
bool PngComplete(std::string_view b) {
  size_t at = 8;  // after the signature
  double pixel_bytes = 0;
  double idat_bytes = 0;
  while (at + 12 <= b.size()) {
    const size_t length = Be32(b, at);
    if (length > b.size() - at - 12) return false;
    const auto* typed = reinterpret_cast<const Bytef*>(b.data() + at + 4);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), typed, uInt(length + 4));
    if (crc != Be32(b, at + 8 + length)) return false;
    const std::string_view type = b.substr(at + 4, 4);
    if (type == "IHDR" && length >= 13) {
      static constexpr int kSamples[] = {1, 0, 3, 1, 2, 0, 4};  // by colour
      const uint8_t depth = uint8_t(b[at + 16]), colour = uint8_t(b[at + 17]);
      const int samples = colour < 7 ? kSamples[colour] : 0;
      const double row_bits = double(Be32(b, at + 8)) * samples * depth;
      pixel_bytes = double(Be32(b, at + 12)) * std::ceil(row_bits / 8);
    } else if (type == "IDAT") {
      idat_bytes += double(length);
    } else if (type == "IEND") {
      return idat_bytes * kDeflateMaxRatio >= pixel_bytes;
    }
    at += 12 + length;
  }
  return false;
}

// Extension and image blocks to the trailer (0x3B).
bool GifComplete(std::string_view b) {
  if (b.size() < 13) return false;
  auto colour_table = [](uint8_t flags) -> size_t {
    return (flags & 0x80) ? size_t(3) << ((flags & 7) + 1) : 0;
  };
  size_t at = 13 + colour_table(uint8_t(b[10]));
  auto sub_blocks = [&] {  // to the empty block that ends them
    while (at < b.size()) {
      const uint8_t n = uint8_t(b[at++]);
      if (n == 0) return true;
      at += n;
    }
    return false;
  };
  bool image = false;
  while (at < b.size()) {
    const uint8_t kind = uint8_t(b[at++]);
    if (kind == 0x3B) return true;
    if (kind == 0x21) {  // extension: label, sub-blocks
      ++at;
      if (!sub_blocks()) return false;
    } else if (kind == 0x2C) {  // descriptor, colour table, LZW data
      if (at + 9 > b.size()) return false;
      at += 9 + colour_table(uint8_t(b[at + 8])) + 1;
      if (!sub_blocks()) return false;
      image = true;
    } else {
      return image;  // decoders stop at what is not a block
    }
  }
  return false;
}

bool Complete(ImageFormat format, std::string_view bytes) {
  switch (format) {
    case ImageFormat::kJpeg:
      return JpegComplete(bytes);
    case ImageFormat::kPng:
      return PngComplete(bytes);
    case ImageFormat::kGif:
      return GifComplete(bytes);
    case ImageFormat::kWebp:
      return bytes.size() >= 12 && uint64_t(Le32(bytes, 4)) + 8 <= bytes.size();
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      return BmffComplete(bytes);
  }
  return false;
}

void InitVips() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (VIPS_INIT("imgstore") != 0) vips_error_clear();
    // libvips warns about every odd upload on stderr; into our log, where
    // a refusal's reason already is, at debug level.
    g_log_set_handler(
        "VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE),
        [](const gchar*, GLogLevelFlags, const gchar* message, gpointer) {
          spdlog::debug("libvips: {}", message);
        },
        nullptr);
    // Header probes are one-shot; caching their operations only holds memory.
    vips_cache_set_max(0);
    vips_concurrency_set(1);
  });
}

// The format's own loader, so libvips does not ask every loader it has
// whether it knows the bytes (a search that cost as much as the header
// read). Reads the header only; pixels stay undecoded. Null on failure,
// with the reason in vips_error_buffer(). JPEG does not come here: see
// ReadJpegHeader.
VipsImage* LoadHeader(ImageFormat format, std::string_view bytes) {
  void* data = const_cast<char*>(bytes.data());
  const size_t size = bytes.size();
  VipsImage* image = nullptr;
  int failed = -1;
  switch (format) {
    case ImageFormat::kPng:
      failed = vips_pngload_buffer(data, size, &image, nullptr);
      break;
    case ImageFormat::kGif:
      failed = vips_gifload_buffer(data, size, &image, nullptr);
      break;
    case ImageFormat::kWebp:
      failed = vips_webpload_buffer(data, size, &image, nullptr);
      break;
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      failed = vips_heifload_buffer(data, size, &image, nullptr);
      break;
    case ImageFormat::kJpeg:
      break;
  }
  return failed == 0 ? image : nullptr;
}

Result<ImageInfo> HeaderDoesNotDecode(std::string why) {
  if (why.empty()) why = "no reason given";
  return Fail(ErrorCode::kUndecodable, "image header does not decode: " + why);
}

// Width and height as libvips reads them, turned a quarter when the EXIF
// orientation (5 to 8) says so: browsers show it, and lay it out, the other
// way round.
Result<ImageInfo> ReadVipsHeader(ImageFormat format, std::string_view bytes) {
  InitVips();
  VipsImage* image = LoadHeader(format, bytes);
  if (image == nullptr) {
    // libvips' log may hold the same line many times: the first says it.
    std::string why = vips_error_buffer();
    vips_error_clear();
    return HeaderDoesNotDecode(why.substr(0, why.find('\n')));
  }
  ImageInfo info{format, vips_image_get_width(image),
                 vips_image_get_height(image)};
  if (vips_image_get_orientation_swap(image)) {
    std::swap(info.width, info.height);
  }
  g_object_unref(image);
  return info;
}

// True when an APP1 segment is EXIF whose orientation (5 to 8) turns the
// image a quarter.
bool ExifTurnsAQuarter(const JOCTET* data, unsigned size) {
  if (size < 6 || std::memcmp(data, "Exif\0\0", 6) != 0) return false;
  ExifData* exif = exif_data_new();
  if (exif == nullptr) return false;
  // Read what is there; no repairs to the tags, which cost time to no use.
  exif_data_unset_option(exif, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_set_option(exif, EXIF_DATA_OPTION_DONT_CHANGE_MAKER_NOTE);
  exif_data_load_data(exif, data, size);
  ExifEntry* entry =
      exif_content_get_entry(exif->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  int orientation = 1;
  if (entry != nullptr && entry->format == EXIF_FORMAT_SHORT &&
      entry->size >= 2) {
    orientation = exif_get_short(entry->data, exif_data_get_byte_order(exif));
  }
  exif_data_unref(exif);
  return orientation >= 5 && orientation <= 8;
}

// libjpeg ends a fatal error in error_exit, which must not return: it
// keeps the message and jumps back into ReadJpegHeader.
struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// A JPEG's header read by libjpeg itself: its frame, tables and markers up
// to the first scan, what libvips' JPEG loader reads too, without the
// objects and metadata fields libvips builds around it (which cost more
// than ten times the read: most of an upload's check, measured in
// docs/BENCHMARKS.md). Pixels stay undecoded.
Result<ImageInfo> ReadJpegHeader(std::string_view bytes) {
  jpeg_decompress_struct jpeg{};
  JpegErrors errors{};
  jpeg.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = [](j_common_ptr common) {
    auto* self = reinterpret_cast<JpegErrors*>(common->err);
    (*common->err->format_message)(common, self->message);
    std::longjmp(self->jump, 1);
  };
  errors.manager.output_message = [](j_common_ptr common) {
    char message[JMSG_LENGTH_MAX];
    (*common->err->format_message)(common, message);
    spdlog::debug("libjpeg: {}", message);
  };
  // Nothing with a destructor lives between here and the jump.
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&jpeg);
    return HeaderDoesNotDecode(errors.message);
  }
  jpeg_create_decompress(&jpeg);
  jpeg_mem_src(&jpeg, reinterpret_cast<const unsigned char*>(bytes.data()),
               bytes.size());
  jpeg_save_markers(&jpeg, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&jpeg, TRUE);
  ImageInfo info{ImageFormat::kJpeg, jpeg.image_width, jpeg.image_height};
  for (jpeg_saved_marker_ptr m = jpeg.marker_list; m != nullptr; m = m->next) {
    if (ExifTurnsAQuarter(m->data, m->data_length)) {
      std::swap(info.width, info.height);
      break;
    }
  }
  jpeg_destroy_decompress(&jpeg);
  return info;
}

}  // namespace

std::optional<ImageFormat> SniffFormat(std::string_view bytes) {
  if (StartsWith(bytes, "\xff\xd8\xff")) return ImageFormat::kJpeg;
  if (StartsWith(bytes, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (StartsWith(bytes, "GIF87a") || StartsWith(bytes, "GIF89a")) {
    return ImageFormat::kGif;
  }
  if (bytes.size() >= 12 && StartsWith(bytes, "RIFF") &&
      bytes.substr(8, 4) == "WEBP") {
    return ImageFormat::kWebp;
  }
  return SniffBmff(bytes);
}

Result<ImageFormat> SniffImage(std::string_view bytes) {
  if (auto format = SniffFormat(bytes)) return *format;
  if (LooksLikeSvg(bytes)) {
    return Fail(ErrorCode::kUnsupportedMedia,
                "SVG is not accepted: it can carry scripts");
  }
  return Fail(ErrorCode::kUnsupportedMedia,
              "not an image: expected JPEG, PNG, GIF, WebP, AVIF or HEIC");
}

Result<ImageInfo> ProbeImage(std::string_view bytes, int64_t max_pixels) {
  auto format = SniffImage(bytes);
  if (!format) return Fail(format.error());
  auto too_large = [&](int64_t width, int64_t height) {
    return Fail(ErrorCode::kUndecodable,
                fmt::format("image is {}x{}, over the limit of {} pixels",
                            width, height, max_pixels));
  };
  // Sizes at fixed places of the header, checked before the whole file
  // is: a bomb is called one even when it is cut short too.
  auto no_pixels = [](int64_t width, int64_t height) {
    return Fail(ErrorCode::kUndecodable,
                fmt::format("image is {}x{}: it has no pixels", width, height));
  };
  if (*format == ImageFormat::kPng && bytes.size() >= 24 &&
      bytes.substr(12, 4) == "IHDR") {
    const int64_t width = Be32(bytes, 16), height = Be32(bytes, 20);
    if (width * height > max_pixels) return too_large(width, height);
    // libvips' own words for it name a seek, not the cause.
    if (width == 0 || height == 0) return no_pixels(width, height);
  }
  if (*format == ImageFormat::kGif && bytes.size() >= 10 &&
      int64_t(Le16(bytes, 6)) * int64_t(Le16(bytes, 8)) > max_pixels) {
    return too_large(Le16(bytes, 6), Le16(bytes, 8));
  }
  if (!Complete(*format, bytes)) {
    return Fail(ErrorCode::kUndecodable, "image is truncated or corrupt");
  }
  auto read = *format == ImageFormat::kJpeg ? ReadJpegHeader(bytes)
                                            : ReadVipsHeader(*format, bytes);
  if (!read) return read;
  ImageInfo info = *read;
  if (*format == ImageFormat::kGif) {
    // Browsers size a GIF by its logical screen, whatever its frames.
    info.width = std::max<int64_t>(info.width, Le16(bytes, 6));
    info.height = std::max<int64_t>(info.height, Le16(bytes, 8));
  }
  if (info.width <= 0 || info.height <= 0)
    return no_pixels(info.width, info.height);
  if (info.width * info.height > max_pixels)
    return too_large(info.width, info.height);
  return info;
}

}  // namespace imgstore
