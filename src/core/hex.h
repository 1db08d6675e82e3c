#pragma once

#include <span>
#include <string>
#include <string_view>

namespace imgstore {

// Lower-case hexadecimal of bytes, appended to `out` (no string of its own)
// or as a new string.
void AppendHex(std::string& out, std::span<const unsigned char> bytes);
std::string HexEncode(std::span<const unsigned char> bytes);
inline std::string HexEncode(std::string_view bytes) {
  return HexEncode(std::span<const unsigned char>(
      reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
}

// SHA-256 of bytes, as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view bytes);

// True when s is exactly n lower-case hex digits.
bool IsLowerHex(std::string_view s, size_t n);

}  // namespace imgstore
