#include "core/signing.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "core/hex.h"

namespace imgstore {

namespace {

// HMAC-SHA256(secret, text) into `out` (32 bytes). OpenSSL's one-shot
// HMAC() looks up the algorithms and keys a context on every call, which
// showed in profiles of the upload path (three MACs per signed request on
// either side); each thread keys a context once per secret and copies it.
void HmacSha256(std::string_view secret, std::string_view text,
                unsigned char (&out)[32]) {
  struct Keyed {
    std::string secret;
    EVP_MAC_CTX* ctx = nullptr;
    ~Keyed() { EVP_MAC_CTX_free(ctx); }
  };
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local Keyed keyed;
  if (keyed.ctx == nullptr || keyed.secret != secret) {
    EVP_MAC_CTX_free(keyed.ctx);
    keyed.ctx = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
    keyed.secret = secret;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (keyed.ctx == nullptr ||
        EVP_MAC_init(keyed.ctx,
                     reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), params) != 1) {
      std::abort();  // as BodyTag: a daemon that cannot sign is no use
    }
  }
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed.ctx);
  size_t len = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size()) == 1 &&
      EVP_MAC_final(ctx, out, &len, sizeof out) == 1 && len == sizeof out;
  EVP_MAC_CTX_free(ctx);
  if (!ok) std::abort();
}

std::string HmacHex(std::string_view secret, std::string_view text) {
  unsigned char out[32];
  HmacSha256(secret, text, out);
  return HexEncode(std::span<const unsigned char>(out, sizeof out));
}

// METHOD \n TARGET \n PATH \n TIME \n NONCE: what both the body key and
// the signature cover.
std::string RequestLine(std::string_view method, std::string_view target,
                        std::string_view path, std::string_view time,
                        std::string_view nonce) {
  std::string line;
  line.reserve(method.size() + target.size() + path.size() + time.size() +
               nonce.size() + 120);
  line.append(method).append("\n").append(target).append("\n");
  line.append(path).append("\n").append(time).append("\n").append(nonce);
  return line;
}

// hex(Poly1305 tag of `body`) under HMAC-SHA256(secret, "imgstore-body" \n
// request line).
std::string BodyTag(std::string_view secret, std::string_view request_line,
                    std::string_view body) {
  static EVP_MAC* const poly1305 = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  std::string keyed = "imgstore-body\n";
  keyed.append(request_line);
  unsigned char key[32];
  HmacSha256(secret, keyed, key);
  unsigned char tag[16];
  size_t tag_len = 0;
  EVP_MAC_CTX* ctx = poly1305 ? EVP_MAC_CTX_new(poly1305) : nullptr;
  const bool ok =
      ctx != nullptr && EVP_MAC_init(ctx, key, sizeof key, nullptr) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()),
                     body.size()) == 1 &&
      EVP_MAC_final(ctx, tag, &tag_len, sizeof tag) == 1;
  EVP_MAC_CTX_free(ctx);
  OPENSSL_cleanse(key, sizeof key);
  // OpenSSL without Poly1305, or out of memory: nothing can be signed or
  // checked, and a daemon that cannot is no use running.
  if (!ok || tag_len != sizeof tag) std::abort();
  return HexEncode(std::span<const unsigned char>(tag, tag_len));
}

std::string Mac(std::string_view secret, std::string_view method,
                std::string_view target, std::string_view path,
                std::string_view time, std::string_view nonce,
                std::string_view body) {
  std::string canonical = RequestLine(method, target, path, time, nonce);
  const std::string tag = BodyTag(secret, canonical, body);
  canonical.append("\n").append(tag);
  return HmacHex(secret, canonical);
}

// HMAC-SHA256(secret, "imgstore-head" \n REQUEST \n LENGTH).
std::string HeadMac(std::string_view secret, std::string_view method,
                    std::string_view target, std::string_view path,
                    std::string_view time, std::string_view nonce,
                    uint64_t length) {
  std::string text = "imgstore-head\n";
  text.append(RequestLine(method, target, path, time, nonce));
  text.append("\n").append(std::to_string(length));
  return HmacHex(secret, text);
}

// The sender's words echoed into a log line and a reply only when short
// and plain.
std::string_view Echo(std::string_view theirs, size_t max) {
  const bool plain = theirs.size() <= max &&
                     std::all_of(theirs.begin(), theirs.end(), [](char c) {
                       return (c >= '0' && c <= '9') ||
                              (c >= 'a' && c <= 'z') || c == '.' || c == ':' ||
                              c == '-' || c == '[' || c == ']';
                     });
  return plain ? theirs : "(unreadable)";
}

}  // namespace

std::string SecretWeakness(std::string_view secret) {
  constexpr size_t kShortest = 16;
  if (secret.size() < kShortest) {
    return fmt::format(
        "the cluster secret is {} bytes: anyone who guesses it can store and "
        "delete images; use {} or more (openssl rand -hex 32)",
        secret.size(), kShortest);
  }
  if (secret.find_first_of(" \t#") != std::string_view::npos) {
    return "the cluster secret holds a space, tab or '#': if it comes from "
           "a file, a comment after the value may have become part of it";
  }
  return "";
}

Signature Sign(std::string_view secret, std::string_view method,
               std::string_view target, std::string_view path,
               std::string_view body, const Clock& clock) {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) std::abort();
  Signature s;
  s.target = target;
  s.time = std::to_string(clock.NowSeconds());
  s.nonce = HexEncode(std::span<const unsigned char>(nonce, sizeof nonce));
  s.mac = Mac(secret, method, target, path, s.time, s.nonce, body);
  s.head = HeadMac(secret, method, target, path, s.time, s.nonce, body.size());
  s.protocol = std::string(kProtocolVersion);
  return s;
}

Result<int64_t> SignatureVerifier::CheckTime(const Signature& signature) const {
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
  if (t < started_) {
    return Fail(ErrorCode::kUnauthenticated,
                "signature: made before this server started (its nonces "
                "are not remembered across a restart); send it again");
  }
  return now;
}

Result<void> SignatureVerifier::CheckTarget(const Signature& signature) const {
  if (!targets_.empty() && std::find(targets_.begin(), targets_.end(),
                                     signature.target) == targets_.end()) {
    return Fail(
        ErrorCode::kUnauthenticated,
        fmt::format("signature: made for {}, not for this server ({})",
                    Echo(signature.target, 300), fmt::join(targets_, ", ")));
  }
  return {};
}

Result<void> SignatureVerifier::Match(std::string_view expected,
                                      std::string_view mac,
                                      const Signature& signature) {
  if (mac.size() == expected.size() &&
      CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) == 0) {
    return {};
  }
  if (signature.protocol != kProtocolVersion) {
    return Fail(
        ErrorCode::kUnauthenticated,
        fmt::format("signature: does not match: the sender signs with "
                    "protocol {}, this imgstore with {}; upgrade trackers "
                    "and nodes together (docs/DEPLOYMENT.md)",
                    signature.protocol.empty() ? "1 (it sent no version)"
                                               : Echo(signature.protocol, 8),
                    kProtocolVersion));
  }
  return Fail(ErrorCode::kUnauthenticated,
              "signature: does not match (is the cluster secret the same "
              "on both sides?)");
}

Result<void> SignatureVerifier::CheckHead(std::string_view method,
                                          std::string_view path,
                                          uint64_t length,
                                          const Signature& signature) const {
  if (auto t = CheckTime(signature); !t) return Fail(t.error());
  if (auto ok = Match(HeadMac(secret_, method, signature.target, path,
                              signature.time, signature.nonce, length),
                      signature.head, signature);
      !ok) {
    return ok;
  }
  if (auto ok = CheckTarget(signature); !ok) return ok;
  // A nonce already taken is a replay: not worth reading a body for.
  std::lock_guard lock(mutex_);
  if (seen_.count(signature.nonce) != 0)
    return Fail(ErrorCode::kUnauthenticated, "signature: replayed");
  return {};
}

Result<void> SignatureVerifier::Verify(std::string_view method,
                                       std::string_view path,
                                       std::string_view body,
                                       const Signature& signature) {
  auto now = CheckTime(signature);
  if (!now) return Fail(now.error());
  if (auto ok = Match(Mac(secret_, method, signature.target, path,
                          signature.time, signature.nonce, body),
                      signature.mac, signature);
      !ok) {
    return ok;
  }
  if (auto ok = CheckTarget(signature); !ok) return ok;
  std::lock_guard lock(mutex_);
  while (!seen_order_.empty() &&
         seen_order_.front().first < *now - 2 * kWindowSeconds) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  if (!seen_.insert(signature.nonce).second) {
    return Fail(ErrorCode::kUnauthenticated, "signature: replayed");
  }
  seen_order_.emplace_back(*now, signature.nonce);
  return {};
}

}  // namespace imgstore
