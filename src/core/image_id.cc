#include "core/image_id.h"

#include <openssl/rand.h>

#include <cstdlib>

namespace imgstore {

namespace {
constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool InAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}
}  // namespace

ImageId ImageId::New() {
  unsigned char bytes[16];
  // RAND_bytes only fails when the OS has no entropy source: nothing sane
  // can be done then, and a guessable id would be a security bug.
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
  std::string out;
  out.reserve(22);
  unsigned bits = 0;
  int nbits = 0;
  for (unsigned char b : bytes) {
    bits = (bits << 8) | b;
    nbits += 8;
    while (nbits >= 6) {
      out.push_back(kAlphabet[(bits >> (nbits - 6)) & 63]);
      nbits -= 6;
    }
  }
  if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 63]);
  return ImageId(std::move(out));
}

Result<ImageId> ImageId::Parse(std::string_view text) {
  if (text.size() < kMinLength || text.size() > kMaxLength) {
    return Fail(ErrorCode::kInvalidArgument, "image id: wrong length");
  }
  for (char c : text) {
    if (!InAlphabet(c)) {
      return Fail(ErrorCode::kInvalidArgument, "image id: invalid character");
    }
  }
  return ImageId(std::string(text));
}

}  // namespace imgstore
