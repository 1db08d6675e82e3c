#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"
#include "core/layout.h"
#include "core/server.h"

namespace imgstore {

// The tracker's side of the signed node protocol (core/signing.h): store
// and delete files on image servers. The real one speaks HTTP; unit tests
// use a fake to make nodes fail, fill up or vanish. Thread-safe; blocks.
class NodeClient {
 public:
  virtual ~NodeClient() = default;
  // Durable once Ok. kInsufficientStorage when the node is full,
  // kUnavailable when unreachable, kConflict for different bytes.
  // `sha256` is hex(SHA-256(bytes)), already known to the uploader: the
  // signature covers it without hashing the bytes again.
  virtual Result<void> Put(const ServerRow& server, const ImagePath& path,
                           std::string_view bytes, std::string_view sha256) = 0;
  // Ok also when the file was already gone.
  virtual Result<void> Delete(const ServerRow& server,
                              const ImagePath& path) = 0;
};

class HttpNodeClient final : public NodeClient {
 public:
  HttpNodeClient(std::string secret, const Clock& clock)
      : secret_(std::move(secret)), clock_(clock) {}
  Result<void> Put(const ServerRow& server, const ImagePath& path,
                   std::string_view bytes, std::string_view sha256) override;
  Result<void> Delete(const ServerRow& server, const ImagePath& path) override;

 private:
  Result<void> Call(const std::string& method, const ServerRow& server,
                    const ImagePath& path, std::string_view bytes,
                    std::string_view sha256);
  const std::string secret_;
  const Clock& clock_;
};

}  // namespace imgstore
