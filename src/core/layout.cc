#include "core/layout.h"

#include <xxhash.h>

#include <array>

#include "core/hex.h"

namespace imgstore {

namespace {

struct FormatRow {
  ImageFormat format;
  std::string_view extension;
  std::string_view content_type;
};

constexpr std::array<FormatRow, 6> kFormats = {{
    {ImageFormat::kJpeg, "jpg", "image/jpeg"},
    {ImageFormat::kPng, "png", "image/png"},
    {ImageFormat::kGif, "gif", "image/gif"},
    {ImageFormat::kWebp, "webp", "image/webp"},
    {ImageFormat::kAvif, "avif", "image/avif"},
    {ImageFormat::kHeic, "heic", "image/heic"},
}};

const FormatRow& Row(ImageFormat format) {
  return kFormats[static_cast<size_t>(format)];
}

// Appends "aa/bb": two bytes of the id's hash in lower-case hex.
void AppendShardDirs(std::string& out, const ImageId& id) {
  // A fixed seed keeps paths identical across versions and machines: the
  // layout is an on-disk format (docs/STORAGE.md).
  const uint64_t h = XXH3_64bits(id.str().data(), id.str().size());
  const unsigned char aa[1] = {static_cast<unsigned char>(h & 0xff)};
  const unsigned char bb[1] = {static_cast<unsigned char>((h >> 8) & 0xff)};
  AppendHex(out, aa);
  out += '/';
  AppendHex(out, bb);
}

}  // namespace

std::string_view FormatExtension(ImageFormat format) {
  return Row(format).extension;
}
std::string_view FormatContentType(ImageFormat format) {
  return Row(format).content_type;
}

std::optional<ImageFormat> FormatFromExtension(std::string_view ext) {
  for (const auto& row : kFormats) {
    if (row.extension == ext) return row.format;
  }
  if (ext == "jpeg") return ImageFormat::kJpeg;
  return std::nullopt;
}

std::optional<ImageFormat> FormatFromContentType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  for (const auto& row : kFormats) {
    if (row.content_type == type) return row.format;
  }
  if (type == "image/jpg" || type == "image/pjpeg") return ImageFormat::kJpeg;
  if (type == "image/heif") return ImageFormat::kHeic;
  return std::nullopt;
}

void AppendRelativePath(std::string& out, const ImageId& id,
                        ImageFormat format) {
  out.reserve(out.size() + kMaxRelativePath);
  AppendShardDirs(out, id);
  out += '/';
  out += id.str();
  out += '.';
  out += FormatExtension(format);
}

ImagePath MakeImagePath(const ImageId& id, ImageFormat format) {
  std::string relative;
  AppendRelativePath(relative, id, format);
  return ImagePath{id, format, std::move(relative)};
}

Result<ImagePath> ParseImagePath(std::string_view url_path) {
  auto refuse = [] {
    return Fail(ErrorCode::kNotFound, "path is not an image path");
  };
  // "/aa/bb/" is 7 characters, then "<id>.<ext>".
  if (url_path.size() < 7 + ImageId::kMinLength + 4) return refuse();
  if (url_path[0] != '/' || url_path[3] != '/' || url_path[6] != '/') {
    return refuse();
  }
  if (!IsLowerHex(url_path.substr(1, 2), 2) ||
      !IsLowerHex(url_path.substr(4, 2), 2)) {
    return refuse();
  }
  std::string_view name = url_path.substr(7);
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return refuse();
  auto id = ImageId::Parse(name.substr(0, dot));
  if (!id) return refuse();
  auto format = FormatFromExtension(name.substr(dot + 1));
  if (!format || name.substr(dot + 1) == "jpeg") return refuse();
  ImagePath path = MakeImagePath(*id, *format);
  if (path.relative != url_path.substr(1)) return refuse();
  return path;
}

}  // namespace imgstore
