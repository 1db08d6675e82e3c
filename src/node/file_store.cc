#include "node/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "core/hex.h"

namespace imgstore {

namespace {

constexpr std::string_view kTempPrefix = ".tmp.";

// errno -> Error, once, with what we were doing.
Error PosixError(const std::string& context, int err) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOENT) code = ErrorCode::kNotFound;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::kInsufficientStorage;
  return Error{code, fmt::format("{}: {}", context, std::strerror(err))};
}

// Opening an image to read it. O_NONBLOCK: a FIFO put where an image
// belongs would otherwise block the opening thread until a writer comes,
// and with it every connection that thread serves; on a regular file the
// flag changes nothing.
constexpr int kReadFlags = O_RDONLY | O_NONBLOCK;

// True for a regular file (what every image is); fills `st` when given.
bool IsRegularFile(int fd, struct stat* st = nullptr) {
  struct stat local;
  if (st == nullptr) st = &local;
  return ::fstat(fd, st) == 0 && S_ISREG(st->st_mode);
}

// openat2 beneath `dir`, refusing symlinks and escapes, whatever the path.
int OpenBeneath(int dir, const char* path, uint64_t flags, uint64_t mode = 0) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = int(::syscall(SYS_openat2, dir, path, &how, sizeof how));
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string FileName(const ImagePath& path) {
  return path.relative.substr(6);  // after "aa/bb/"
}

Result<void> WriteAll(int fd, std::string_view bytes,
                      const std::string& context) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(PosixError(context, errno));
    }
    bytes.remove_prefix(size_t(n));
  }
  return {};
}

Result<std::string> ReadAll(int fd, const std::string& context) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(PosixError(context, errno));
    }
    if (n == 0) return out;
    out.append(buf, size_t(n));
  }
}

// The entry names of the open directory `dir_fd` ("." and ".." left out),
// in no particular order.
Result<std::vector<std::string>> ReadDirNames(int dir_fd,
                                              const std::string& context) {
  // A description of its own: fdopendir takes the descriptor over, and the
  // readdir position must not be shared with anyone else using dir_fd.
  int fd = OpenBeneath(dir_fd, ".", O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Fail(PosixError(context, errno));
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return Fail(PosixError(context, err));
  }
  std::vector<std::string> names;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      err = errno;
      break;
    }
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  if (err != 0) return Fail(PosixError(context, err));
  return names;
}

// The shard directory names ("00".."ff") among `names`, sorted.
std::vector<std::string> ShardNames(std::vector<std::string> names) {
  std::erase_if(names, [](const std::string& n) { return !IsLowerHex(n, 2); });
  std::sort(names.begin(), names.end());
  return names;
}

// True when every string beginning with `prefix` sorts before `after`, so a
// directory whose paths all begin with it can be skipped unread.
bool AllBefore(std::string_view prefix, std::string_view after) {
  return prefix.compare(after.substr(0, prefix.size())) < 0;
}

// Opens the shard directory `name` beneath `parent`; -1 when it is gone or
// is not a directory (a symlink is refused, never followed).
int OpenShard(int parent, const std::string& name) {
  return OpenBeneath(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

bool Vanished(int err) {
  return err == ENOENT || err == ENOTDIR || err == ELOOP || err == EXDEV;
}

}  // namespace

Result<std::unique_ptr<FileStore>> FileStore::Open(const std::string& root,
                                                   int64_t max_pics,
                                                   int64_t disk_reserve_bytes) {
  if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail(PosixError("create root " + root, errno));
  }
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(PosixError("open root " + root, errno));
  // One node per root: two would each count, scrub and report the same
  // files as their own, and a tracker would take them for two servers.
  // Held while the descriptor is open, released by the kernel at exit.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Fail(ErrorCode::kConflict,
                  "root " + root +
                      " is in use by another node: stop it, or give this "
                      "one a --root of its own");
    }
    return Fail(PosixError("lock root " + root, err));
  }
  std::unique_ptr<FileStore> store(
      new FileStore(root, fd, max_pics, disk_reserve_bytes));
  if (auto scanned = store->Scan(); !scanned) return Fail(scanned.error());
  return store;
}

bool FileStore::CheckNotEmptied() {
  if (images_.load() == 0) return true;
  // Any shard directory left is enough: only a root emptied behind the
  // node's back (rm -rf, another disk mounted over it) has none.
  int fd = OpenBeneath(root_fd_, ".", O_RDONLY | O_DIRECTORY);
  if (fd < 0) return true;  // unreadable: the writes and reads say so
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return true;
  }
  bool shard = false;
  while (struct dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name.size() == 2 &&
        std::isxdigit(static_cast<unsigned char>(name[0])) &&
        std::isxdigit(static_cast<unsigned char>(name[1]))) {
      shard = true;
      break;
    }
  }
  ::closedir(dir);
  if (shard) return true;
  images_ = 0;
  bytes_used_ = 0;
  return false;
}

Result<void> FileStore::CheckWritable() const {
  // A file with no name, gone at close: it needs what a new image needs
  // first (an inode, a writable file system), and leaves nothing behind.
  int fd = ::openat(root_fd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    Error failed = PosixError("create a file in " + root_, error);
    if (error == EMFILE || error == ENFILE) {
      // Not the disk's fault: say where to look.
      failed.message +=
          ": the node is out of file descriptors, not of disk (raise its "
          "limit: LimitNOFILE=, ulimit -n)";
    }
    return Fail(std::move(failed));
  }
  ::close(fd);
  return {};
}

std::string FileStore::SavedName() const {
  std::ifstream in(root_ + "/" + std::string(kNameFile));
  std::string name;
  std::getline(in, name);
  return name;
}

Result<void> FileStore::SaveName(const std::string& name) {
  if (SavedName() == name) return {};
  const std::string path = root_ + "/" + std::string(kNameFile);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << name << "\n";
    if (!out.flush()) return Fail(PosixError("write " + tmp, errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(PosixError("rename " + tmp, errno));
  return {};
}

FileStore::FileStore(std::string root, int root_fd, int64_t max_pics,
                     int64_t disk_reserve_bytes)
    : root_(std::move(root)),
      root_fd_(root_fd),
      max_pics_(max_pics),
      disk_reserve_bytes_(disk_reserve_bytes) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    cache_capacity_ =
        std::clamp<size_t>(size_t(limit.rlim_cur / 4), 16, kOpenFileCacheSize);
  }
}

FileStore::~FileStore() {
  // The group's last runs still sync through root_fd_.
  sync_.WaitIdle();
  ::close(root_fd_);
}

Result<void> FileStore::Scan() {
  // Walks only the aa/bb directories the layout makes; anything else in
  // the root is not ours and is left alone.
  int64_t images = 0, bytes = 0;
  for (int a = 0; a < 256; ++a) {
    std::string aa = fmt::format("{:02x}", a);
    int afd = OpenBeneath(root_fd_, aa.c_str(), O_RDONLY | O_DIRECTORY);
    if (afd < 0) continue;
    Fd adir(afd);
    for (int b = 0; b < 256; ++b) {
      std::string bb = fmt::format("{:02x}", b);
      int bfd = OpenBeneath(adir.get(), bb.c_str(), O_RDONLY | O_DIRECTORY);
      if (bfd < 0) continue;
      DIR* dir = ::fdopendir(bfd);
      if (dir == nullptr) {
        ::close(bfd);
        continue;
      }
      while (struct dirent* e = ::readdir(dir)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        if (name.substr(0, kTempPrefix.size()) == kTempPrefix) {
          // A write a crash interrupted: never acknowledged, safe to drop.
          ::unlinkat(::dirfd(dir), e->d_name, 0);
          continue;
        }
        struct stat st;
        if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode)) {
          ++images;
          bytes += st.st_size;
        }
      }
      ::closedir(dir);
    }
  }
  images_ = images;
  bytes_used_ = bytes;
  return {};
}

Result<void> FileStore::SyncFilesystem() {
  // syncfs writes every dirty file, inode and directory block of the
  // filesystem and waits for them, so one call makes all writes of the
  // uploads in flight durable. Two steps, for filesystems without a
  // journal (ext4 -O ^has_journal): there syncfs can flush the disk cache
  // before the directory blocks it started writing have completed, so a
  // final flush is needed, which fdatasync of any descriptor on the
  // filesystem issues. With a journal (ext4, XFS) syncfs commits it and
  // the extra flush costs little.
  if (::syncfs(root_fd_) != 0)
    return Fail(PosixError("syncfs " + root_, errno));
  if (::fdatasync(root_fd_) != 0)
    return Fail(PosixError("fdatasync " + root_, errno));
  return {};
}

int64_t FileStore::DiskFreeBytes() const {
  struct statvfs vfs;
  if (::fstatvfs(root_fd_, &vfs) != 0) return 0;
  return int64_t(vfs.f_bavail) * int64_t(vfs.f_frsize);
}

Result<int> FileStore::OpenShardDir(const ImagePath& path, bool create) {
  const std::string aa = path.relative.substr(0, 2);
  const std::string aabb = path.relative.substr(0, 5);
  int fd = OpenBeneath(root_fd_, aabb.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0 || !create || errno != ENOENT) {
    if (fd < 0) return Fail(PosixError("open " + aabb, errno));
    return fd;
  }
  // Create each missing level. No fsync of the parents here: the only
  // caller, Put, runs a group sync after its rename, and that makes the new
  // directories durable along with the file, so the directory entry of an
  // acknowledged file cannot vanish with its directory.
  if (::mkdirat(root_fd_, aa.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail(PosixError("mkdir " + aa, errno));
  }
  int afd = OpenBeneath(root_fd_, aa.c_str(), O_RDONLY | O_DIRECTORY);
  if (afd < 0) return Fail(PosixError("open " + aa, errno));
  Fd adir(afd);
  const std::string bb = path.relative.substr(3, 2);
  if (::mkdirat(adir.get(), bb.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail(PosixError("mkdir " + aabb, errno));
  }
  fd = OpenBeneath(adir.get(), bb.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Fail(PosixError("open " + aabb, errno));
  return fd;
}

Result<FileStore::PutOutcome> FileStore::Put(const ImagePath& path,
                                             std::string_view bytes) {
  auto placed = Place(path, bytes);
  if (!placed) return placed;
  if (auto synced = sync_.Sync(); !synced) return Fail(synced.error());
  return placed;
}

Result<FileStore::PutOutcome> FileStore::Place(const ImagePath& path,
                                               std::string_view bytes) {
  const std::string& rel = path.relative;
  std::string full;
  if (images_.load() >= max_pics_) {
    full = fmt::format("store {}: node holds {} images, its maximum", rel,
                       max_pics_);
  } else if (DiskFreeBytes() < int64_t(bytes.size()) + disk_reserve_bytes_) {
    full = fmt::format("store {}: disk free is below the reserve", rel);
  }
  if (!full.empty()) {
    // A full node still answers a retried store of what it holds as such
    // (200, or 409 for other bytes): only a new image is refused.
    auto shard = OpenShardDir(path, /*create=*/false);
    if (shard) {
      Fd dir(*shard);
      auto stored = CompareStored(dir.get(), path, bytes);
      if (stored || stored.error().code != ErrorCode::kNotFound) return stored;
    }
    return Fail(ErrorCode::kInsufficientStorage, full);
  }
  auto dir_fd = OpenShardDir(path, /*create=*/true);
  if (!dir_fd) return Fail(dir_fd.error());
  Fd dir(*dir_fd);

  // 1. A temporary name in the target directory: the rename below is then
  //    within one directory, hence atomic, and a crash of the process
  //    before it leaves only a ".tmp." file, which Scan() removes and GET
  //    never serves (a power cut: see step 4).
  const std::string name = FileName(path);
  // Seeded once per thread: seeding from random_device showed in profiles.
  thread_local std::mt19937_64 rng(std::random_device{}());
  const std::string temp =
      fmt::format("{}{}.{:016x}", kTempPrefix, name, rng());
  int fd =
      OpenBeneath(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return Fail(PosixError("create temporary for " + rel, errno));
  auto discard = [&](Error e) {
    ::unlinkat(dir.get(), temp.c_str(), 0);
    return Fail(std::move(e));
  };
  {
    Fd file(fd);
    // 2. Write.
    if (auto w = WriteAll(file.get(), bytes, "write " + rel); !w)
      return discard(w.error());
  }
  // 3. Rename without replacing: of concurrent PUTs of one id exactly one
  //    wins; the others compare bytes (idempotent PUT, or 409).
  if (::renameat2(dir.get(), temp.c_str(), dir.get(), name.c_str(),
                  RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err != EEXIST) return discard(PosixError("rename " + rel, err));
    ::unlinkat(dir.get(), temp.c_str(), 0);
    // The winner's sync may not have finished yet: the caller's sync, too,
    // makes our acknowledgement as durable as theirs.
    return CompareStored(dir.get(), path, bytes);
  }
  // 4. The file is in place, counted (a restart's Scan would count it too)
  //    and not yet durable: the caller's group sync makes the bytes and the
  //    new name durable together, shared with the uploads in flight (see
  //    GroupSync and SyncFilesystem). Nothing is acknowledged before it, so
  //    the only file a power cut can leave torn under its final name is one
  //    no tracker has recorded (an orphan for fsck).
  images_.fetch_add(1);
  bytes_used_.fetch_add(int64_t(bytes.size()));
  return PutOutcome::kCreated;
}

Result<FileStore::PutOutcome> FileStore::CompareStored(int dir,
                                                       const ImagePath& path,
                                                       std::string_view bytes) {
  const std::string& rel = path.relative;
  int existing = OpenBeneath(dir, FileName(path).c_str(), kReadFlags);
  if (existing < 0) {
    if (errno == ENOENT)
      return Fail(ErrorCode::kNotFound, rel + ": not stored");
    return Fail(PosixError("open existing " + rel, errno));
  }
  Fd ex(existing);
  if (!IsRegularFile(ex.get()))
    return Fail(ErrorCode::kConflict, rel + ": taken by something not a file");
  auto current = ReadAll(ex.get(), "read existing " + rel);
  if (!current) return Fail(current.error());
  if (*current != bytes) {
    return Fail(ErrorCode::kConflict,
                rel + ": already stored with different bytes");
  }
  return PutOutcome::kAlreadyPresent;
}

Result<void> FileStore::Delete(const ImagePath& path) {
  auto dir_fd = OpenShardDir(path, /*create=*/false);
  if (!dir_fd) return Fail(dir_fd.error());
  Fd dir(*dir_fd);
  const std::string name = FileName(path);
  struct stat st;
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Fail(PosixError("delete " + path.relative, errno));
  }
  if (::unlinkat(dir.get(), name.c_str(), 0) != 0) {
    return Fail(PosixError("delete " + path.relative, errno));
  }
  Evict(path.relative);
  if (auto synced = sync_.Sync(); !synced) return Fail(synced.error());
  images_.fetch_sub(1);
  bytes_used_.fetch_sub(st.st_size);
  return {};
}

void FileStore::Evict(const std::string& relative) {
  std::lock_guard lock(mutex_);
  cache_.erase(relative);
}

Result<std::shared_ptr<const http::OpenFile>> FileStore::OpenForRead(
    const ImagePath& path) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(path.relative);
    if (it != cache_.end()) {
      if (now - it->second.opened < kOpenFileMaxAge) return it->second.file;
      cache_.erase(it);
    }
  }
  int fd = OpenBeneath(root_fd_, path.relative.c_str(), kReadFlags);
  if (fd < 0) {
    // A symlink (ELOOP) or an escape (EXDEV) is not an image of ours.
    if (errno == ELOOP || errno == EXDEV) {
      return Fail(ErrorCode::kNotFound,
                  "open " + path.relative + ": not a file in the root");
    }
    return Fail(PosixError("open " + path.relative, errno));
  }
  struct stat st;
  if (!IsRegularFile(fd, &st)) {
    ::close(fd);
    return Fail(ErrorCode::kNotFound,
                "open " + path.relative + ": not a regular file");
  }
  auto file = std::make_shared<const http::OpenFile>(
      fd, uint64_t(st.st_size),
      int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
      FormatContentType(path.format),
      // An id's bytes never change, so the id is a strong validator, and
      // the same on every copy: a browser sent to another copy after a
      // failure still gets its 304.
      fmt::format("\"{}\"", path.id.str()));
  std::lock_guard lock(mutex_);
  if (cache_.size() >= cache_capacity_) {
    // Drop an arbitrary entry: cheap, and a hot file comes straight back.
    cache_.erase(cache_.begin());
  }
  cache_[path.relative] = Cached{file, now};
  return file;
}

Result<std::vector<FileStore::FileEntry>> FileStore::List(
    std::string_view after, size_t limit) {
  // Why readdir at each level instead of probing all 65,536 names: a root
  // with few images has few shard directories, and a page that starts deep
  // in the listing skips the directories before `after` unread.
  std::vector<FileEntry> out;
  if (limit == 0) return out;
  auto top = ReadDirNames(root_fd_, "list root " + root_);
  if (!top) return Fail(top.error());
  for (const std::string& aa : ShardNames(std::move(*top))) {
    const std::string aa_prefix = aa + "/";
    if (AllBefore(aa_prefix, after)) continue;
    Fd adir(OpenShard(root_fd_, aa));
    if (adir.get() < 0) {
      if (Vanished(errno)) continue;
      return Fail(PosixError("list " + aa, errno));
    }
    auto second = ReadDirNames(adir.get(), "list " + aa);
    if (!second) return Fail(second.error());
    for (const std::string& bb : ShardNames(std::move(*second))) {
      const std::string prefix = aa_prefix + bb + "/";
      if (AllBefore(prefix, after)) continue;
      Fd bdir(OpenShard(adir.get(), bb));
      if (bdir.get() < 0) {
        if (Vanished(errno)) continue;
        return Fail(PosixError("list " + prefix, errno));
      }
      auto names = ReadDirNames(bdir.get(), "list " + prefix);
      if (!names) return Fail(names.error());
      std::vector<std::string> paths;
      for (const std::string& name : *names) {
        if (name.starts_with(kTempPrefix)) continue;
        std::string rel = prefix + name;
        if (rel <= after) continue;
        if (!ParseImagePath("/" + rel)) continue;  // not a name we make
        paths.push_back(std::move(rel));
      }
      std::sort(paths.begin(), paths.end());
      for (std::string& rel : paths) {
        struct stat st;
        const char* name = rel.c_str() + prefix.size();
        if (::fstatat(bdir.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode)) {
          continue;  // gone meanwhile, a symlink or a directory
        }
        out.push_back(
            FileEntry{std::move(rel), int64_t(st.st_size), st.st_mtim.tv_sec});
        if (out.size() == limit) return out;
      }
    }
  }
  return out;
}

Result<std::string> FileStore::Read(const ImagePath& path) {
  int fd = OpenBeneath(root_fd_, path.relative.c_str(), kReadFlags);
  if (fd < 0) return Fail(PosixError("open " + path.relative, errno));
  Fd file(fd);
  if (!IsRegularFile(file.get()))
    return Fail(ErrorCode::kNotFound, path.relative + ": not a regular file");
  return ReadAll(file.get(), "read " + path.relative);
}

}  // namespace imgstore
