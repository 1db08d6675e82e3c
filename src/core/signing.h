#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace imgstore {

// The one tracker <-> node authentication protocol. A signed request carries
//   X-Imgstore-Target:    host:port of the URL it is sent to (host in
//                         lower case, the port always written)
//   X-Imgstore-Time:      Unix seconds when it was signed
//   X-Imgstore-Nonce:     32 random hex digits, unique per request
//   X-Imgstore-Signature: hex HMAC-SHA256(secret, canonical)
//   X-Imgstore-Head:      hex HMAC-SHA256(secret, "imgstore-head" \n REQUEST
//                         \n LENGTH), LENGTH the body's size in decimal
// where canonical = REQUEST \n hex(TAG), REQUEST = METHOD \n TARGET \n PATH
// \n TIME \n NONCE, and TAG is the body's Poly1305 tag under the one-time
// key HMAC-SHA256(secret, "imgstore-body" \n REQUEST).
// Why each part: the method and path stop a signed GET being replayed as a
// DELETE or on another file; the target stops a request one node took being
// replayed to another (every node shares the secret, and each remembers
// only its own nonces: a DELETE captured on its way to one copy could erase
// the others); the tag binds the bytes; time bounds how long a captured
// request stays usable; the nonce, remembered by the verifier for that
// window, refuses a replay inside it, and makes every body key new. Nonces
// live in memory, so a verifier also refuses what was signed before it
// started: a restart does not reopen the window. The head signature lets a
// receiver refuse a request before reading its body (CheckHead): a node
// faces the internet, and a body of tens of megabytes is not read for
// anyone who cannot sign; the signature proper still decides.
// Why a Poly1305 tag and not a SHA-256 of the body: the node checks every
// byte it is sent, and Poly1305 does that about seven times as fast (the
// tracker keeps the image's SHA-256 for its record all the same). Poly1305
// is a one-time authenticator, which is how it is used here: each key
// serves one request, and the tag itself never leaves either side except
// inside the HMAC.
//
// A signed request also names the version of this scheme it was made with,
//   X-Imgstore-Protocol:  kProtocolVersion
// outside the signature: the scheme itself is what the MAC checks. It only
// explains a signature that does not match: a tracker and a node of
// releases that sign differently say so, instead of suggesting a wrong
// secret. Version 1 hashed the body with SHA-256 and sent no version; 2
// signed no target and no head; 3 is the scheme above.
inline constexpr std::string_view kProtocolVersion = "3";
inline constexpr std::string_view kProtocolHeader = "X-Imgstore-Protocol";
inline constexpr std::string_view kTargetHeader = "X-Imgstore-Target";
inline constexpr std::string_view kHeadHeader = "X-Imgstore-Head";
inline constexpr std::string_view kTimeHeader = "X-Imgstore-Time";
inline constexpr std::string_view kNonceHeader = "X-Imgstore-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-Imgstore-Signature";

struct Signature {
  std::string target;
  std::string time;
  std::string nonce;
  std::string mac;
  std::string protocol;  // the sender's kProtocolVersion; empty: none sent
  std::string head;      // the head signature
};

// `target`: the host:port the request goes to (http::SignatureTarget).
// Why `secret` is a poor cluster secret (under 16 bytes, or with spaces,
// tabs or a '#': a comment an EnvironmentFile kept), or "" when it is fine.
// For a warning at start: such a secret still works.
std::string SecretWeakness(std::string_view secret);

Signature Sign(std::string_view secret, std::string_view method,
               std::string_view target, std::string_view path,
               std::string_view body, const Clock& clock);

// Checks signatures and remembers nonces it accepted. Thread-safe (mutex_
// guards the nonce memory).
class SignatureVerifier {
 public:
  // Signatures more than this far from now, either way, are stale. Wide
  // enough for ordinary clock skew between machines.
  static constexpr int64_t kWindowSeconds = 60;

  // `targets`: the host:port names this server is reached by; a request
  // signed for another is refused. Empty: any target (a tracker, which
  // may sit behind any number of names).
  SignatureVerifier(std::string secret, const Clock& clock,
                    std::vector<std::string> targets = {})
      : secret_(std::move(secret)),
        clock_(clock),
        targets_(std::move(targets)),
        started_(clock.NowSeconds()) {}

  // Ok when `signature` is a fresh, unreplayed, valid signature of the
  // request, made for this server and since it started. kUnauthenticated
  // otherwise; the nonce is remembered only when everything else checked
  // out. A signature that does not match says whether the sender signs
  // with another version of the scheme (then the releases differ) or with
  // this one (then the secrets do).
  Result<void> Verify(std::string_view method, std::string_view path,
                      std::string_view body, const Signature& signature);

  // What can be checked before the body is read: fresh, made since this
  // server started, for this server, not replayed, and a head signature
  // that matches a body of `length` bytes. Remembers nothing: Verify, once
  // the body is in, still decides.
  Result<void> CheckHead(std::string_view method, std::string_view path,
                         uint64_t length, const Signature& signature) const;

 private:
  const std::string secret_;
  const Clock& clock_;
  const std::vector<std::string> targets_;
  const int64_t started_;  // Unix seconds

  // The checks CheckHead and Verify share: the time's form and freshness,
  // and the target; the MAC's comparison and refusal message.
  Result<int64_t> CheckTime(const Signature& signature) const;
  Result<void> CheckTarget(const Signature& signature) const;
  static Result<void> Match(std::string_view expected, std::string_view mac,
                            const Signature& signature);

  mutable std::mutex mutex_;  // guards the two below
  std::unordered_set<std::string> seen_;
  std::deque<std::pair<int64_t, std::string>> seen_order_;  // (time, nonce)
};

}  // namespace imgstore
