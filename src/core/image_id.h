#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace imgstore {

// An image's identity: an opaque, unguessable, URL-safe string
// ([A-Za-z0-9_-], 16..32 characters). New() makes 22 characters of 128
// bits: the time in milliseconds modulo 2^32, then 96 random bits from the
// operating system's CSPRNG. The first six characters (the time and 4
// random bits) use kOrderedAlphabet, the rest base64url's order, so new ids
// sort in the order they were made (within 49.7 days).
// An ImageId can only hold a valid id: Parse() refuses everything else.
class ImageId {
 public:
  static constexpr size_t kMinLength = 16;  // 96 bits in base64url
  static constexpr size_t kMaxLength = 32;
  // The 64 id characters in base64url's order, the same in ASCII order, and
  // how many of a new id's leading characters are written in the latter.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static constexpr char kOrderedAlphabet[] =
      "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  static constexpr size_t kOrderedChars = 6;

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
