#include "tracker/fsck.h"

#include <spdlog/spdlog.h>

#include "core/layout.h"
#include "http/client.h"

namespace imgstore {

namespace {

constexpr int kPage = 1000;

// Pages through a server's files or copies in path order.
template <typename T, typename Load>
class Pager {
 public:
  explicit Pager(Load load) : load_(std::move(load)) {}
  // The current item, loading the next page when needed; nullptr at the end.
  Result<const T*> Peek() {
    if (i_ < page_.size()) return &page_[i_];
    if (done_) return static_cast<const T*>(nullptr);
    auto page = load_(after_);
    if (!page) return Fail(page.error());
    page_ = std::move(*page);
    i_ = 0;
    done_ = page_.size() < size_t(kPage);
    if (page_.empty()) return static_cast<const T*>(nullptr);
    after_ = page_.back().path_key();
    return &page_[0];
  }
  void Next() { ++i_; }

 private:
  Load load_;
  std::vector<T> page_;
  size_t i_ = 0;
  bool done_ = false;
  std::string after_;
};

struct FileItem {
  NodeFile file;
  const std::string& path_key() const { return file.path; }
};
struct CopyItem {
  ServerCopy copy;
  const std::string& path_key() const { return copy.relative_path; }
};

// Whether two servers' roots are one directory: the same path on the same
// host (an operator who started a second node on a root in use).
bool SameRoot(const ServerRow& a, const ServerRow& b) {
  if (a.pic_root_path.empty() || a.pic_root_path != b.pic_root_path)
    return false;
  auto ua = http::ParseUrl(StoreUrl(a)), ub = http::ParseUrl(StoreUrl(b));
  return ua && ub && ua->host == ub->host;
}

// Why a file not recorded on `server` must stay, when its image is
// recorded at that path on another server: that copy could be this very
// file (one root under two servers, which the root's lock allows only
// one at a time, so the other is down or is this node), or the only one.
// Empty: a true leftover (every other copy is on a server that is up and
// serves it), or an image not recorded at all; an orphan either way.
Result<std::string> WhyKept(MetadataStore& store, NodeClient& nodes,
                            const ServerView& servers, const ServerRow& server,
                            const NodeFile& f) {
  auto path = ParseImagePath("/" + f.path);
  if (!path) return std::string();
  auto image = store.GetImage(path->id);
  if (!image && image.error().code == ErrorCode::kNotFound)
    return std::string();
  if (!image) return Fail(image.error());
  for (const Placement& p : image->placements) {
    if (p.server_id == server.server_id || p.relative_path != f.path) continue;
    const ServerRow* other = nullptr;
    for (const ServerRow& s : servers) {
      if (s.server_id == p.server_id) other = &s;
    }
    if (other == nullptr) continue;
    if (SameRoot(*other, server))
      return fmt::format("server {} has the same root", other->server_id);
    if (!other->flg_usable) {
      return fmt::format("server {} is down: maybe the same file",
                         other->server_id);
    }
    auto there = nodes.Read(*other, p.relative_path);
    if (!there && there.error().code == ErrorCode::kNotFound)
      return fmt::format("server {} lacks its copy", other->server_id);
    if (!there) {
      return fmt::format("server {} does not answer: maybe the same file",
                         other->server_id);
    }
  }
  return std::string();
}

Result<void> CheckServer(MetadataStore& store, NodeClient& nodes,
                         const Clock& clock, const FsckOptions& options,
                         const ServerView& servers, const ServerRow& server,
                         FsckServer& report) {
  auto load_files =
      [&](const std::string& after) -> Result<std::vector<FileItem>> {
    auto files = nodes.List(server, after, kPage);
    if (!files) return Fail(files.error());
    std::vector<FileItem> out;
    for (NodeFile& f : *files) out.push_back(FileItem{std::move(f)});
    return out;
  };
  auto load_copies =
      [&](const std::string& after) -> Result<std::vector<CopyItem>> {
    auto copies = store.CopiesOnServer(server.server_id, after, kPage);
    if (!copies) return Fail(copies.error());
    std::vector<CopyItem> out;
    for (ServerCopy& c : *copies) out.push_back(CopyItem{std::move(c)});
    return out;
  };
  Pager<FileItem, decltype(load_files)> files(load_files);
  Pager<CopyItem, decltype(load_copies)> copies(load_copies);
  const int64_t now = clock.NowSeconds();

  auto orphan = [&](const NodeFile& f) -> Result<void> {
    if (now - f.mtime < options.min_age.count()) return {};
    auto kept = WhyKept(store, nodes, servers, server, f);
    if (!kept) return Fail(kept.error());
    if (!kept->empty()) {
      if (report.kept++ == 0) {
        spdlog::warn(
            "fsck: server {} ({}) holds files of images recorded on other "
            "servers that may be these very files ({}): left alone",
            server.server_id, server.server_name, *kept);
      }
      if (report.kept_paths.size() < options.max_listed)
        report.kept_paths.push_back(fmt::format("{} ({})", f.path, *kept));
      return {};
    }
    ++report.orphans;
    if (report.orphan_paths.size() < options.max_listed)
      report.orphan_paths.push_back(f.path);
    if (!options.fix) return {};
    auto path = ParseImagePath("/" + f.path);
    if (path && nodes.Delete(server, *path)) {
      ++report.fixed;
      spdlog::info("fsck: deleted orphan {} on server {}", f.path,
                   server.server_id);
    }
    return {};
  };
  auto missing = [&](const ServerCopy& c) -> Result<void> {
    // A second look: the file may have been stored since the listing.
    auto bytes = nodes.Read(server, c.relative_path);
    if (bytes || bytes.error().code != ErrorCode::kNotFound) return {};
    ++report.missing;
    if (report.missing_paths.size() < options.max_listed)
      report.missing_paths.push_back(c.relative_path);
    if (!options.fix) return {};
    if (auto queued = store.QueueRepair(c.id, now); !queued)
      return Fail(queued.error());
    auto removed = store.RemovePlacement(c.id, server.server_id);
    if (removed) {
      ++report.fixed;
      spdlog::warn(
          "fsck: copy {} on server {} is missing: forgotten, image "
          "queued for repair",
          c.relative_path, server.server_id);
    } else {
      spdlog::error(
          "fsck: copy {} on server {} is missing and cannot be "
          "forgotten: {}",
          c.relative_path, server.server_id, removed.error().message);
    }
    return {};
  };

  for (;;) {
    auto f = files.Peek();
    if (!f) return Fail(f.error());
    auto c = copies.Peek();
    if (!c) return Fail(c.error());
    if (*f == nullptr && *c == nullptr) return {};
    if (*c == nullptr ||
        (*f != nullptr && (*f)->file.path < (*c)->copy.relative_path)) {
      ++report.files;
      if (auto r = orphan((*f)->file); !r) return r;
      files.Next();
    } else if (*f == nullptr || (*c)->copy.relative_path < (*f)->file.path) {
      ++report.copies;
      if (auto r = missing((*c)->copy); !r) return r;
      copies.Next();
    } else {
      ++report.files;
      ++report.copies;
      files.Next();
      copies.Next();
    }
  }
}

}  // namespace

Result<std::vector<FsckServer>> RunFsck(MetadataStore& store,
                                        ServerRegistry& registry,
                                        NodeClient& nodes, const Clock& clock,
                                        const FsckOptions& options) {
  if (auto r = registry.Refresh(); !r) return Fail(r.error());
  std::vector<FsckServer> out;
  const ServerView servers = registry.Snapshot();
  for (const ServerRow& server : servers) {
    FsckServer report;
    report.server_id = server.server_id;
    report.server_name = server.server_name;
    if (!server.flg_usable) {
      report.error = "not usable: skipped";
    } else if (auto r = CheckServer(store, nodes, clock, options, servers,
                                    server, report);
               !r) {
      report.error = r.error().message;
    }
    out.push_back(std::move(report));
  }
  return out;
}

}  // namespace imgstore
