#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace imgstore {

// An image's identity: an opaque, unguessable, URL-safe string
// ([A-Za-z0-9_-], 16..32 characters). New() draws 128 random bits from the
// operating system's CSPRNG and encodes them as 22 base64url characters.
// An ImageId can only hold a valid id: Parse() refuses everything else.
class ImageId {
 public:
  static constexpr size_t kMinLength = 16;  // 96 bits in base64url
  static constexpr size_t kMaxLength = 32;

  static ImageId New();
  static Result<ImageId> Parse(std::string_view text);

  const std::string& str() const { return value_; }
  friend bool operator==(const ImageId&, const ImageId&) = default;
  friend auto operator<=>(const ImageId&, const ImageId&) = default;

 private:
  explicit ImageId(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

}  // namespace imgstore
