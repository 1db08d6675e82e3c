#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/layout.h"

namespace imgstore {

struct ImageInfo {
  ImageFormat format;
  int64_t width = 0;
  int64_t height = 0;
};

// Which image format the bytes are, from their magic bytes alone; nullopt for
// anything else (text, SVG, truncated headers). Cheap: used by nodes on PUT.
std::optional<ImageFormat> SniffFormat(std::string_view bytes);

// SniffFormat, or the kUnsupportedMedia that says why not (SVG named as
// such): the reason an upload and the client's check of a file both give.
Result<ImageFormat> SniffImage(std::string_view bytes);

// Full check of an upload: magic bytes, structural completeness (a JPEG ends
// with its EOI marker, a PNG with IEND, a GIF with its trailer, a WebP or
// ISO-BMFF file holds every byte its headers announce), then the header
// decoded for width and height (libjpeg for JPEG, libvips for the others),
// turned by the EXIF orientation. Errors:
//   kUnsupportedMedia  not an image, or SVG (it carries scripts)
//   kUndecodable       truncated or corrupt, or width*height > max_pixels
// Thread-safe; runs image libraries, so call it off I/O threads.
Result<ImageInfo> ProbeImage(std::string_view bytes, int64_t max_pixels);

}  // namespace imgstore
