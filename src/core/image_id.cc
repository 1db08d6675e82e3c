#include "core/image_id.h"

#include <openssl/rand.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>

namespace imgstore {

namespace {
// The character for 6 bits at `position` of a new id: the first
// kOrderedChars in the same characters sorted as in ASCII, so that ids sort
// by their time (within its cycle) and the store's indexes on the id take
// new rows at one edge instead of on a random page each.
char SextetChar(size_t position, unsigned sextet) {
  return position < ImageId::kOrderedChars ? ImageId::kOrderedAlphabet[sextet]
                                           : ImageId::kAlphabet[sextet];
}

bool InAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}
}  // namespace

ImageId ImageId::New() {
  // 128 bits: the time in milliseconds (its low 32 bits, a cycle of 49.7
  // days), then 96 random bits, which make the id unguessable.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  unsigned char bytes[16];
  for (int i = 0; i < 4; ++i) bytes[i] = uint8_t(uint64_t(ms) >> (24 - 8 * i));
  // RAND_bytes only fails when the OS has no entropy source: nothing sane
  // can be done then, and a guessable id would be a security bug.
  if (RAND_bytes(bytes + 4, sizeof bytes - 4) != 1) std::abort();
  std::string out;
  out.reserve(22);
  unsigned bits = 0;
  int nbits = 0;
  for (unsigned char b : bytes) {
    bits = (bits << 8) | b;
    nbits += 8;
    while (nbits >= 6) {
      out.push_back(SextetChar(out.size(), (bits >> (nbits - 6)) & 63));
      nbits -= 6;
    }
  }
  if (nbits > 0) {
    out.push_back(SextetChar(out.size(), (bits << (6 - nbits)) & 63));
  }
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
