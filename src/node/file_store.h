#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/layout.h"
#include "http/file_body.h"
#include "node/group_sync.h"

namespace imgstore {

// The only code that opens, writes, renames, deletes or fsyncs under a
// node's root (PicRootPath). Every path comes from an ImagePath (already
// validated by core/layout) and is resolved beneath the root with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a symlink planted in the
// root cannot lead outside it. errno becomes Error here and nowhere else.
//
// Thread-safe: counters are atomics; mutex_ guards the open-file cache.
// Put and Delete block on the group sync: call them from worker threads;
// Place does not (the node's PUT runs it on the I/O thread).
class FileStore {
 public:
  // Opens (creating if needed) the root, locks it (kConflict while another
  // node has it), counts the images in it and removes temporary files a
  // crash left behind. kIo when the root is unusable.
  static Result<std::unique_ptr<FileStore>> Open(const std::string& root,
                                                 int64_t max_pics,
                                                 int64_t disk_reserve_bytes);
  ~FileStore();

  enum class PutOutcome { kCreated, kAlreadyPresent };

  // Durable, atomic write of an image (see docs/STORAGE.md): temporary
  // file beside the target, write, rename without replacing, group sync.
  // Identical bytes already present: kAlreadyPresent. Errors: kConflict
  // (different bytes under that name), kInsufficientStorage (max_pics reached,
  // disk below the reserve, ENOSPC), kIo. On error nothing is left under the
  // root, save after a failed final sync: the file then stays under its
  // name, unacknowledged (an identical PUT may have been answered meanwhile,
  // so it is not removed); fsck finds it if no tracker records it.
  Result<PutOutcome> Put(const ImagePath& path, std::string_view bytes);

  // Put without its final group sync, for callers that wait for it
  // without blocking (GroupSync::AsyncSync on syncs()): acknowledge the
  // outcome only once a sync that started after this returned has
  // succeeded. Never blocks on a sync.
  Result<PutOutcome> Place(const ImagePath& path, std::string_view bytes);

  // The group sync that makes Place's writes durable.
  GroupSync& syncs() { return sync_; }

  // Removes an image durably (unlink, then a group sync). kNotFound when
  // absent.
  Result<void> Delete(const ImagePath& path);

  // An open descriptor for serving, from a bounded cache of open files
  // (images never change, so a cached descriptor stays right until Delete
  // evicts it). kNotFound when absent.
  Result<std::shared_ptr<const http::OpenFile>> OpenForRead(
      const ImagePath& path);

  // Whole bytes of a stored image (for tests, repair reads and the
  // scrubber). Read only, and past the open-file cache.
  Result<std::string> Read(const ImagePath& path);

  // One image file as List sees it.
  struct FileEntry {
    std::string path;   // "aa/bb/<id>.<ext>", as ImagePath::relative
    int64_t bytes = 0;  // size on disk
    int64_t mtime = 0;  // Unix seconds
  };

  // Up to `limit` image files in ascending byte order of their relative
  // path, each strictly greater than `after` (empty: from the start); fewer
  // than `limit` means the listing reached the end. Only regular files at
  // paths ParseImagePath accepts are listed: temporary files, symlinks and
  // whatever else lies in the root are skipped. Reads directories only
  // (never opens a file); a directory that vanishes meanwhile is skipped.
  // kIo when the root itself cannot be read.
  Result<std::vector<FileEntry>> List(std::string_view after, size_t limit);

  // False (and the counts set to none) when the root, holding images by
  // the counts, has no shard directory left: emptied behind the node's
  // back. Trackers then hear that the images are gone.
  bool CheckNotEmptied();

  // Whether a new file can be made in the root now (a read-only mount and
  // a file system out of inodes cannot): a probe, leaving nothing behind.
  Result<void> CheckWritable() const;

  // The node's name as kept in the root (empty: none yet), so a node
  // started again without --name, on another port, is the same server.
  static constexpr std::string_view kNameFile = ".imgstore-name";
  std::string SavedName() const;
  Result<void> SaveName(const std::string& name);

  const std::string& root() const { return root_; }
  int64_t images() const { return images_.load(); }
  int64_t bytes_used() const { return bytes_used_.load(); }
  int64_t max_pics() const { return max_pics_; }
  int64_t DiskFreeBytes() const;
  // Runs of the group sync so far (each made one or more writes durable).
  uint64_t sync_runs() const { return sync_.runs(); }

 private:
  FileStore(std::string root, int root_fd, int64_t max_pics,
            int64_t disk_reserve_bytes);
  Result<void> Scan();
  // Makes everything written under the root so far durable: syncfs, then
  // an fdatasync of the root for a final disk-cache flush. The group
  // sync's one function.
  Result<void> SyncFilesystem();
  // Opens (creating when `create`) the directory "aa/bb" of `path`. New
  // directories are not synced here: the caller's group sync does it.
  Result<int> OpenShardDir(const ImagePath& path, bool create);
  // The file stored at `path` in its directory `dir`, against `bytes`:
  // kAlreadyPresent when equal, kConflict when not, kNotFound when absent.
  Result<PutOutcome> CompareStored(int dir, const ImagePath& path,
                                   std::string_view bytes);
  void Evict(const std::string& relative);

  const std::string root_;
  const int root_fd_;
  const int64_t max_pics_;
  const int64_t disk_reserve_bytes_;
  std::atomic<int64_t> images_{0};
  std::atomic<int64_t> bytes_used_{0};
  GroupSync sync_{[this] { return SyncFilesystem(); }};

  // Why a cap: each entry holds a descriptor; at most this many, and no
  // more than a quarter of the process's descriptor limit (cache_capacity_),
  // so connections and new opens always find one. Why an age: a file
  // removed behind our back (by an operator) stops being served within a
  // minute.
  static constexpr size_t kOpenFileCacheSize = 10'000;
  static constexpr std::chrono::seconds kOpenFileMaxAge{60};
  struct Cached {
    std::shared_ptr<const http::OpenFile> file;
    std::chrono::steady_clock::time_point opened;
  };
  std::mutex mutex_;  // guards cache_
  std::unordered_map<std::string, Cached> cache_;
  size_t cache_capacity_ = kOpenFileCacheSize;
};

}  // namespace imgstore
