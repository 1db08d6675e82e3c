#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/layout.h"
#include "core/server.h"

namespace imgstore {

// The tracker's side of the signed node protocol (core/signing.h): store
// and delete files on image servers. The real one speaks HTTP; unit tests
// use a fake to make nodes fail, fill up or vanish. Thread-safe; blocks.
// One file as a node's listing names it.
struct NodeFile {
  std::string path;  // "aa/bb/<id>.<ext>"
  int64_t bytes = 0;
  int64_t mtime = 0;  // Unix seconds
};

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
  // The stored bytes (a plain GET, as a browser's). kNotFound when absent,
  // kUnavailable when unreachable.
  virtual Result<std::string> Read(const ServerRow& server,
                                   const std::string& relative_path) = 0;
  // Up to `limit` files in byte order of path after `after` (signed GET
  // /v1/files); fewer than `limit` means the listing reached the end.
  virtual Result<std::vector<NodeFile>> List(const ServerRow& server,
                                             const std::string& after,
                                             int limit) = 0;
};

class HttpNodeClient final : public NodeClient {
 public:
  HttpNodeClient(std::string secret, const Clock& clock)
      : secret_(std::move(secret)), clock_(clock) {}
  Result<void> Put(const ServerRow& server, const ImagePath& path,
                   std::string_view bytes, std::string_view sha256) override;
  Result<void> Delete(const ServerRow& server, const ImagePath& path) override;
  Result<std::string> Read(const ServerRow& server,
                           const std::string& relative_path) override;
  Result<std::vector<NodeFile>> List(const ServerRow& server,
                                     const std::string& after,
                                     int limit) override;

 private:
  Result<void> Call(const std::string& method, const ServerRow& server,
                    const ImagePath& path, std::string_view bytes,
                    std::string_view sha256);
  const std::string secret_;
  const Clock& clock_;
};

}  // namespace imgstore
