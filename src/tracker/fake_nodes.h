#pragma once

// For unit tests only: image servers in memory.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/wire.h"
#include "tracker/node_client.h"

namespace imgstore {

// Stores files in memory; servers listed in `fail` answer with that error.
class FakeNodes final : public NodeClient {
 public:
  Result<void> Put(const ServerRow& server, const ImagePath& path,
                   std::string_view bytes) override {
    if (before_put) before_put();
    std::lock_guard lock(mu);
    puts.push_back(server.server_id);
    if (auto it = fail.find(server.server_id); it != fail.end())
      return Fail(it->second);
    files[{server.server_id, path.relative}] = std::string(bytes);
    return {};
  }
  Result<void> Delete(const ServerRow& server, const ImagePath& path) override {
    std::lock_guard lock(mu);
    if (auto it = fail.find(server.server_id); it != fail.end())
      return Fail(it->second);
    if (auto it = fail_delete.find(server.server_id); it != fail_delete.end())
      return Fail(it->second);
    files.erase({server.server_id, path.relative});
    return {};
  }
  Result<std::string> Read(const ServerRow& server,
                           const std::string& relative_path) override {
    if (before_read) before_read();
    std::lock_guard lock(mu);
    if (auto it = fail.find(server.server_id); it != fail.end())
      return Fail(it->second);
    auto it = files.find({server.server_id, relative_path});
    if (it == files.end()) return Fail(ErrorCode::kNotFound, "no such file");
    return it->second;
  }
  Result<std::vector<NodeFile>> List(const ServerRow& server,
                                     const std::string& after,
                                     int limit) override {
    std::lock_guard lock(mu);
    if (auto it = fail.find(server.server_id); it != fail.end())
      return Fail(it->second);
    std::vector<NodeFile> out;
    for (auto it = files.upper_bound({server.server_id, after});
         it != files.end() && it->first.first == server.server_id &&
         int(out.size()) < limit;
         ++it) {
      out.push_back(NodeFile{it->first.second, int64_t(it->second.size()), 0});
    }
    return out;
  }
  // Files on one server.
  size_t Count(int64_t server_id) {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& [key, bytes] : files) n += key.first == server_id;
    return n;
  }

  std::mutex mu;
  std::map<int64_t, Error> fail;
  std::map<int64_t, Error> fail_delete;  // deletes only
  std::vector<int64_t> puts;
  std::map<std::pair<int64_t, std::string>, std::string> files;
  std::function<void()> before_put;   // runs before each Put, unlocked
  std::function<void()> before_read;  // runs before each Read, unlocked
};

// The heartbeat of fake server `i` as the unit tests name it: "n<i>" at
// http://127.0.0.1:900<i>, room for 1000 images, a terabyte free.
inline NodeStatus FakeBeat(int i) {
  NodeStatus s;
  s.name = "n" + std::to_string(i);
  s.url = "http://127.0.0.1:" + std::to_string(9000 + i);
  s.root = "/r";
  s.disk_free_bytes = int64_t(1) << 40;
  s.max_pics = 1000;
  return s;
}

}  // namespace imgstore
