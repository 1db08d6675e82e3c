#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/image_id.h"

namespace imgstore {

// The image formats imgstore stores. SVG is deliberately absent: it carries
// scripts, so it is refused at upload.
enum class ImageFormat { kJpeg, kPng, kGif, kWebp, kAvif, kHeic };

std::string_view FormatExtension(ImageFormat format);    // "jpg"
std::string_view FormatContentType(ImageFormat format);  // "image/jpeg"
std::optional<ImageFormat> FormatFromExtension(std::string_view ext);
std::optional<ImageFormat> FormatFromContentType(std::string_view type);

// Where an image lives under a node's root: "<aa>/<bb>/<id>.<ext>", where aa
// and bb are two bytes of a hash of the id in hex (65,536 directories, so no
// directory grows past a few hundred files at 10 M images per server).
struct ImagePath {
  ImageId id;
  ImageFormat format;
  std::string relative;  // "aa/bb/<id>.<ext>", no leading slash
};

ImagePath MakeImagePath(const ImageId& id, ImageFormat format);

// The longest `relative`: "aa/bb/", the longest id, ".webp".
inline constexpr size_t kMaxRelativePath = 6 + ImageId::kMaxLength + 5;

// Appends MakeImagePath's `relative` to `out`, with no string of its own:
// a resolve builds a hundred URLs a call.
void AppendRelativePath(std::string& out, const ImageId& id,
                        ImageFormat format);

// Parses a URL path "/aa/bb/<id>.<ext>" (no query). Strict: the directory
// names must be the id's own hash, the id valid, the extension known; so
// "..", percent-escapes, NUL, doubled slashes and absolute paths are all
// refused here, in one place, before anything touches a disk.
Result<ImagePath> ParseImagePath(std::string_view url_path);

}  // namespace imgstore
