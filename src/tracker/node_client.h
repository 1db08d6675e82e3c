#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/layout.h"
#include "core/server.h"

namespace imgstore {

// One image file on a node, as GET /v1/files lists it.
struct NodeFile {
  std::string path;  // "aa/bb/<id>.<ext>"
  int64_t bytes = 0;
  int64_t mtime = 0;  // Unix seconds
};

// The tracker's side of the signed node protocol (core/signing.h): store,
// delete, read and list files on image servers. The real one speaks HTTP; unit
// tests use a fake to make nodes fail, fill up or vanish. Thread-safe; blocks.
class NodeClient {
 public:
  virtual ~NodeClient() = default;
  // Durable once Ok. kInsufficientStorage when the node is full,
  // kUnavailable when unreachable, kConflict for different bytes.
  virtual Result<void> Put(const ServerRow& server, const ImagePath& path,
                           std::string_view bytes) = 0;
  // Ok also when the file was already gone.
  virtual Result<void> Delete(const ServerRow& server,
                              const ImagePath& path) = 0;
  // The bytes of `relative_path` ("aa/bb/<id>.<ext>"), by a plain GET as a
  // browser would. kNotFound on 404, kUnavailable when unreachable or on
  // any other status.
  virtual Result<std::string> Read(const ServerRow& server,
                                   const std::string& relative_path) = 0;
  // One page of the node's files (signed GET /v1/files): up to `limit` in
  // ascending order of path, each after `after` ("" from the start). Fewer
  // than `limit` means the end; otherwise call again with the last path.
  // kUnavailable when unreachable, kUnauthenticated when the node refuses
  // the signature, kInvalidArgument for a malformed reply.
  virtual Result<std::vector<NodeFile>> List(const ServerRow& server,
                                             const std::string& after,
                                             int limit) = 0;
};

class HttpNodeClient final : public NodeClient {
 public:
  HttpNodeClient(std::string secret, const Clock& clock)
      : secret_(std::move(secret)), clock_(clock) {}
  Result<void> Put(const ServerRow& server, const ImagePath& path,
                   std::string_view bytes) override;
  Result<void> Delete(const ServerRow& server, const ImagePath& path) override;
  Result<std::string> Read(const ServerRow& server,
                           const std::string& relative_path) override;
  Result<std::vector<NodeFile>> List(const ServerRow& server,
                                     const std::string& after,
                                     int limit) override;

 private:
  Result<void> Call(const std::string& method, const ServerRow& server,
                    const ImagePath& path, std::string_view bytes);
  const std::string secret_;
  const Clock& clock_;
};

}  // namespace imgstore
