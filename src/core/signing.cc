#include "core/signing.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdlib>

#include "core/hex.h"

namespace imgstore {

namespace {

std::string Mac(std::string_view secret, std::string_view method,
                std::string_view path, std::string_view time,
                std::string_view nonce, std::string_view body_sha256) {
  std::string canonical;
  canonical.reserve(method.size() + path.size() + time.size() + nonce.size() +
                    70);
  canonical.append(method).append("\n").append(path).append("\n");
  canonical.append(time).append("\n").append(nonce).append("\n");
  canonical.append(body_sha256);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(canonical.data()),
       canonical.size(), out, &len);
  return HexEncode(std::span<const unsigned char>(out, len));
}

}  // namespace

Signature Sign(std::string_view secret, std::string_view method,
               std::string_view path, std::string_view body,
               const Clock& clock) {
  return SignBodyHash(secret, method, path, Sha256Hex(body), clock);
}

Signature SignBodyHash(std::string_view secret, std::string_view method,
                       std::string_view path, std::string_view body_sha256,
                       const Clock& clock) {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) std::abort();
  Signature s;
  s.time = std::to_string(clock.NowSeconds());
  s.nonce = HexEncode(std::span<const unsigned char>(nonce, sizeof nonce));
  s.mac = Mac(secret, method, path, s.time, s.nonce, body_sha256);
  return s;
}

Result<void> SignatureVerifier::Verify(std::string_view method,
                                       std::string_view path,
                                       std::string_view body,
                                       const Signature& signature) {
  int64_t t = 0;
  auto [end, ec] = std::from_chars(
      signature.time.data(), signature.time.data() + signature.time.size(), t);
  if (ec != std::errc() ||
      end != signature.time.data() + signature.time.size()) {
    return Fail(ErrorCode::kUnauthenticated, "signature: missing or bad time");
  }
  if (!IsLowerHex(signature.nonce, 32) || !IsLowerHex(signature.mac, 64)) {
    return Fail(ErrorCode::kUnauthenticated, "signature: missing or malformed");
  }
  const int64_t now = clock_.NowSeconds();
  if (t < now - kWindowSeconds || t > now + kWindowSeconds) {
    return Fail(ErrorCode::kUnauthenticated, "signature: stale");
  }
  const std::string expected = Mac(secret_, method, path, signature.time,
                                   signature.nonce, Sha256Hex(body));
  if (CRYPTO_memcmp(expected.data(), signature.mac.data(), expected.size()) !=
      0) {
    return Fail(ErrorCode::kUnauthenticated, "signature: does not match");
  }
  std::lock_guard lock(mutex_);
  while (!seen_order_.empty() &&
         seen_order_.front().first < now - 2 * kWindowSeconds) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  if (!seen_.insert(signature.nonce).second) {
    return Fail(ErrorCode::kUnauthenticated, "signature: replayed");
  }
  seen_order_.emplace_back(now, signature.nonce);
  return {};
}

}  // namespace imgstore
