// The client verbs of SPEC §7, one function each, over TrackerClient.
// Results go to stdout, one-line errors to stderr as "imgstore: ...".
#include "client/commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "client/format.h"
#include "client/tracker_client.h"
#include "core/hex.h"
#include "core/image_id.h"
#include "core/image_probe.h"
#include "core/layout.h"

namespace imgstore {

namespace fs = std::filesystem;

namespace {

// Enough of a file to recognise its format (an ISO-BMFF `ftyp` box lists
// its brands within its first bytes), so a tree's videos and archives are
// skipped without being read whole.
constexpr size_t kSniffBytes = 64 * 1024;

void PrintError(const std::string& text) {
  std::fprintf(stderr, "imgstore: %s\n", text.c_str());
}

// One JSON object on a line of its own. A file name that is not UTF-8
// (names are bytes) has its stray bytes shown as U+FFFD: the line is still
// JSON, and the others still come.
void PrintJsonLine(const nlohmann::json& line) {
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

// The error's message, with a hint when the admin token is what is wrong.
std::string Describe(const Error& error) {
  if (error.code == ErrorCode::kUnauthenticated ||
      error.code == ErrorCode::kForbidden) {
    return error.message + " (pass --admin-token or set IMGSTORE_ADMIN_TOKEN)";
  }
  return error.message;
}

// "what: message", unless the message names `what` already (the tracker's
// often do: "get image ID: no such image").
std::string About(const std::string& what, const std::string& message) {
  if (message.find(what) != std::string::npos) return message;
  return what + ": " + message;
}

TrackerClient MakeClient(const ClientOptions& options) {
  return TrackerClient(options.tracker_url, options.admin_token);
}

// Reads up to `limit` bytes of a file (all of it by default). Errors are
// kIo with the reason alone ("No such file or directory"): callers name the
// file.
Result<std::string> ReadFile(const std::string& path, size_t limit = SIZE_MAX) {
  auto fail = [&](int err) { return Fail(ErrorCode::kIo, std::strerror(err)); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail(EISDIR);
  }
  std::string out;
  if (S_ISREG(st.st_mode)) {
    out.reserve(std::min<size_t>(size_t(st.st_size), limit));
  }
  char buf[64 * 1024];
  while (out.size() < limit) {
    const size_t want = std::min(sizeof buf, limit - out.size());
    ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(err);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

// Reads an image file: its bytes and content type from its magic bytes.
// kUnsupportedMedia when the head is no known image (read only that far).
struct ImageFile {
  std::string bytes;
  std::string_view content_type;
};

Result<ImageFile> ReadImageFile(const std::string& path) {
  auto head = ReadFile(path, kSniffBytes);
  if (!head) return Fail(head.error());
  auto format = SniffImage(*head);
  if (!format) return Fail(format.error());
  ImageFile file{std::move(*head), FormatContentType(*format)};
  if (file.bytes.size() == kSniffBytes) {
    auto all = ReadFile(path);
    if (!all) return Fail(all.error());
    file.bytes = std::move(*all);
  }
  return file;
}

// Writes all of `bytes` to `fd`; false with errno set on failure.
bool WriteAll(int fd, std::string_view bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    at += size_t(n);
  }
  return true;
}

Result<void> WriteFailed(const char* what, const std::string& path, int err) {
  return Fail(ErrorCode::kIo,
              fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

// Writes bytes into `path` as a shell's `>` would: a device, a pipe, a file
// in a directory that takes no new file.
Result<void> WriteInPlace(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return WriteFailed("open", path, errno);
  if (!WriteAll(fd, bytes)) {
    int err = errno;
    ::close(fd);
    return WriteFailed("write", path, err);
  }
  if (::close(fd) != 0) return WriteFailed("close", path, errno);
  return {};
}

// Writes bytes to `path` (`get -o`). A regular file, new or not, is written
// through a temporary file in its directory, renamed over it once complete
// and synced: a reader never sees half an image, and a failed download
// leaves an existing file as it was, its mode kept. A link is followed (it
// stays a link); anything else at `path` (a device, a pipe), or a file in a
// directory where no new file may be made, is written in place.
Result<void> WriteOutput(const std::string& path, std::string_view bytes) {
  std::error_code ec;
  fs::path target(path);
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    fs::path resolved = fs::canonical(target, ec);
    if (ec) return WriteInPlace(path, bytes);  // a dangling link: create
    target = resolved;
  }
  struct stat st {};
  const bool exists = ::stat(target.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) return WriteInPlace(path, bytes);
  mode_t mode = st.st_mode & 07777;
  if (!exists) {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }

  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp =
      (dir / ("." + target.filename().string() + ".imgstore-XXXXXX")).string();
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    const int err = errno;
    if (exists && (err == EACCES || err == EPERM))
      return WriteInPlace(path, bytes);
    return WriteFailed("create", path, err);
  }
  auto abandon = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return WriteFailed(what, path, err);
  };
  if (!WriteAll(fd, bytes)) return abandon("write");
  // mkstemp makes the file 0600: give it what a plain create would, or
  // what the file it replaces had.
  if (::fchmod(fd, mode) != 0) return abandon("chmod");
  if (::fsync(fd) != 0) return abandon("sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return WriteFailed("close", path, err);
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return WriteFailed("rename to", path, err);
  }
  return {};
}

Result<void> WriteStdout(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return Fail(ErrorCode::kIo,
                fmt::format("write stdout: {}", std::strerror(errno)));
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- upload

int RunUpload(const ClientOptions& options,
              const std::vector<std::string>& files, bool json) {
  const TrackerClient tracker = MakeClient(options);
  int failed = 0;
  // With --json, one line per file, its name in it, failures included, so
  // a script can tell which file each id or error is for.
  auto fail = [&](const std::string& path, const Error& error) {
    ++failed;
    if (!json) {
      PrintError(fmt::format("{}: {}", path, Describe(error)));
      return;
    }
    const nlohmann::json line = {
        {"file", path},
        {"error",
         {{"code", ErrorCodeName(error.code)}, {"message", Describe(error)}}}};
    PrintJsonLine(line);
  };
  for (const std::string& path : files) {
    auto file = ReadImageFile(path);
    if (!file) {
      fail(path, file.error());
      continue;
    }
    auto meta = tracker.Upload(std::move(file->bytes), file->content_type);
    if (!meta) {
      fail(path, meta.error());
      continue;
    }
    if (json) {
      nlohmann::json line = {{"file", path}};
      line.update(meta->raw);
      PrintJsonLine(line);
    } else {
      std::printf("%s %s\n", meta->id.c_str(), meta->url.c_str());
    }
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- import

namespace {

bool IsHidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace

ImportListing ListImportFiles(const std::string& dir) {
  ImportListing out;
  std::vector<fs::path> pending{fs::path(dir)};
  while (!pending.empty()) {
    fs::path at = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    fs::directory_iterator it(at, ec), end;
    if (ec) {
      out.errors.emplace_back(at.string(), ec.message());
      continue;
    }
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      const fs::directory_entry& entry = *it;
      const std::string path = entry.path().string();
      std::error_code sec;
      const bool link = entry.is_symlink(sec);
      const bool directory = entry.is_directory(sec);
      const bool file = entry.is_regular_file(sec);
      if (IsHidden(entry.path())) {
        out.skipped.emplace_back(
            path, directory ? "hidden directory" : "hidden file");
      } else if (file) {
        out.files.push_back(path);
      } else if (link) {
        out.skipped.emplace_back(path, directory
                                           ? "link to a directory, not followed"
                                           : "broken link");
      } else if (directory) {
        pending.push_back(entry.path());
      } else {
        out.skipped.emplace_back(path, "not a regular file");
      }
    }
    if (ec) out.errors.emplace_back(at.string(), ec.message());
  }
  std::sort(out.files.begin(), out.files.end());
  std::sort(out.skipped.begin(), out.skipped.end());
  return out;
}

namespace {

// The terminal's width in columns, 80 when it cannot be told.
size_t TerminalColumns() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

// Counts and stderr for the workers of one import. Lines and the progress
// bar share stderr, so both are written under `mutex_`: a line first erases
// the bar, then the bar is drawn again below it. With `json`, every file
// also gets a line on stdout: what became of it, and its image id.
class ImportReport {
 public:
  ImportReport(int64_t total, bool bar, bool json) : json_(json), bar_(bar) {
    counts_.total = total;
  }

  void Imported(const std::string& path, int64_t bytes, const ImageMeta& meta) {
    std::lock_guard lock(mutex_);
    ++counts_.imported;
    counts_.bytes += bytes;
    JsonLocked({{"file", path},
                {"status", "imported"},
                {"id", meta.id},
                {"url", meta.url}});
  }
  // `ids`: the images already stored with these bytes.
  void Already(const std::string& path, const std::vector<std::string>& ids) {
    std::lock_guard lock(mutex_);
    ++counts_.already;
    JsonLocked({{"file", path}, {"status", "already"}, {"ids", ids}});
  }
  void Skipped(const std::string& path, const std::string& why) {
    std::lock_guard lock(mutex_);
    ++counts_.skipped;
    LineLocked(fmt::format("skipped {}: {}", path, why));
    JsonLocked({{"file", path}, {"status", "skipped"}, {"reason", why}});
  }
  // `cluster`: the tracker could not take it (unreachable, no server with
  // room); a run of those in a row means the rest would fail too.
  void Failed(const std::string& path, const std::string& why,
              bool cluster = false) {
    std::lock_guard lock(mutex_);
    ++counts_.failed;
    refused_in_a_row_ = cluster ? refused_in_a_row_ + 1 : 0;
    if (cluster) last_refusal_ = why;
    LineLocked(fmt::format("imgstore: {}: {}", path, why));
    JsonLocked({{"file", path}, {"status", "failed"}, {"reason", why}});
  }

  // True once kGiveUpAfter files in a row failed for the cluster's sake:
  // the tracker down, or no server with room. Then the rest is not sent.
  bool GivenUp() {
    std::lock_guard lock(mutex_);
    return refused_in_a_row_ >= kGiveUpAfter;
  }
  // Ends an import that gave up (or was interrupted): says why, counts
  // what was not tried.
  void GiveUp(int64_t not_tried, bool interrupted) {
    std::lock_guard lock(mutex_);
    counts_.not_tried = not_tried;
    if (interrupted) {
      LineLocked(fmt::format(
          "imgstore: interrupted; {} files not tried. Re-run the import to "
          "go on: nothing is uploaded twice",
          not_tried));
      return;
    }
    LineLocked(fmt::format(
        "imgstore: stopping: {} uploads in a row failed ({}); {} files not "
        "tried. Re-run the import once the cluster takes uploads: nothing "
        "is uploaded twice",
        refused_in_a_row_, last_refusal_, not_tried));
  }

  // Redraws the bar (no-op without one).
  void Draw() {
    std::lock_guard lock(mutex_);
    DrawLocked();
  }
  // Draws the bar a last time, complete, ends its line and returns the
  // final counts.
  ImportCounts Finish() {
    std::lock_guard lock(mutex_);
    DrawLocked();
    if (bar_) std::fputs("\n", stderr);
    bar_ = false;
    return counts_;
  }

 private:
  void JsonLocked(const nlohmann::json& line) {
    if (!json_) return;
    // The bar, on the same terminal, would run into the line.
    if (bar_) {
      std::fputs("\r\x1b[K", stderr);
      std::fflush(stderr);
    }
    PrintJsonLine(line);
  }
  void LineLocked(const std::string& text) {
    if (bar_) std::fputs("\r\x1b[K", stderr);
    std::fprintf(stderr, "%s\n", text.c_str());
    DrawLocked();
  }
  void DrawLocked() {
    if (!bar_) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    std::string line = FormatProgress(counts_, elapsed);
    // Longer than the terminal, the line would wrap and \r would redraw
    // only its last part.
    const size_t columns = TerminalColumns();
    if (line.size() >= columns) line.resize(columns - 1);
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
  }

  const std::chrono::steady_clock::time_point start_ =
      std::chrono::steady_clock::now();
  static constexpr int kGiveUpAfter = 10;
  const bool json_;
  std::mutex mutex_;  // guards everything below and writes to the terminal
  bool bar_;
  ImportCounts counts_;
  int refused_in_a_row_ = 0;
  std::string last_refusal_;
};

// What became of the first file with some bytes, for the later files of
// the run with the same bytes ("twins").
struct FirstOutcome {
  enum class Fate { kStored, kSkipped, kFailed };
  std::string path;
  Fate fate = Fate::kStored;
  std::vector<std::string> ids;  // kStored: the images with these bytes
  std::string reason;            // kSkipped, kFailed: why
};

// Bytes seen earlier in this run. The first file with them is sent; a twin
// waits for its outcome instead of racing its upload, and is "already
// stored" only when the first file was.
class SeenDigests {
 public:
  struct Claim {
    std::optional<std::promise<FirstOutcome>> first;  // set: this one sends
    std::shared_future<FirstOutcome> outcome;         // else: wait for this
  };

  Claim Take(const std::string& hex) {
    std::lock_guard lock(mutex_);
    auto found = seen_.find(hex);
    if (found != seen_.end()) return {std::nullopt, found->second};
    Claim claim{std::promise<FirstOutcome>(), {}};
    seen_.emplace(hex, claim.first->get_future().share());
    return claim;
  }

 private:
  std::mutex mutex_;  // guards seen_
  std::map<std::string, std::shared_future<FirstOutcome>> seen_;
};

// Sends a file whose bytes are new to this run, reports it and returns what
// became of it.
FirstOutcome SendFirst(const TrackerClient& tracker, const std::string& path,
                       const std::string& hex, ImageFile file,
                       ImportReport& report) {
  FirstOutcome out{.path = path};
  auto fail = [&](const std::string& why, bool cluster) {
    report.Failed(path, why, cluster);
    out.fate = FirstOutcome::Fate::kFailed;
    out.reason = why;
    return out;
  };
  auto ids = tracker.FindBySha256(hex);
  if (!ids) return fail(Describe(ids.error()), true);
  if (!ids->empty()) {
    report.Already(path, *ids);
    out.ids = *ids;
    return out;
  }
  const int64_t size = int64_t(file.bytes.size());
  // if_new: another import of the same files running at once may have
  // stored these bytes since the look above; then they are not stored twice.
  auto meta = tracker.Upload(std::move(file.bytes), file.content_type,
                             /*if_new=*/true);
  if (!meta) {
    // The tracker's verdict on the file itself (not an image, truncated,
    // a pixel bomb) is a skip with its reason; anything else is a failure.
    const ErrorCode code = meta.error().code;
    if (code == ErrorCode::kUnsupportedMedia ||
        code == ErrorCode::kUndecodable) {
      report.Skipped(path, meta.error().message);
      out.fate = FirstOutcome::Fate::kSkipped;
      out.reason = meta.error().message;
      return out;
    }
    return fail(Describe(meta.error()),
                code == ErrorCode::kUnavailable ||
                    code == ErrorCode::kInsufficientStorage);
  }
  out.ids = {meta->id};
  if (!meta->created) {
    report.Already(path, out.ids);
    return out;
  }
  report.Imported(path, size, *meta);
  return out;
}

void ImportOne(const TrackerClient& tracker, const std::string& path,
               SeenDigests& seen, ImportReport& report) {
  auto file = ReadImageFile(path);
  if (!file) {
    if (file.error().code == ErrorCode::kUnsupportedMedia) {
      report.Skipped(path, file.error().message);
    } else {
      report.Failed(path, file.error().message);
    }
    return;
  }
  const std::string hex = Sha256Hex(file->bytes);
  SeenDigests::Claim claim = seen.Take(hex);
  if (claim.first) {
    claim.first->set_value(
        SendFirst(tracker, path, hex, std::move(*file), report));
    return;
  }
  const FirstOutcome& first = claim.outcome.get();
  switch (first.fate) {
    case FirstOutcome::Fate::kStored:
      report.Already(path, first.ids);
      break;
    case FirstOutcome::Fate::kSkipped:
      report.Skipped(path, fmt::format("the same bytes as {}: {}", first.path,
                                       first.reason));
      break;
    case FirstOutcome::Fate::kFailed:
      report.Failed(path, fmt::format("the same bytes as {}, which failed: {}",
                                      first.path, first.reason));
      break;
  }
}

}  // namespace

namespace {
// Set by the first SIGINT or SIGTERM during an import: uploads in flight
// finish, no new one starts, the summary is printed. A second one ends the
// process at once (the default action, put back by the first).
std::atomic<bool> import_interrupted{false};
extern "C" void OnImportInterrupt(int signal) {
  import_interrupted.store(true);
  std::signal(signal, SIG_DFL);
}
}  // namespace

int RunImport(const ClientOptions& options, const std::string& dir, int jobs,
              bool json) {
  const TrackerClient tracker = MakeClient(options);
  // One clear line rather than one per file when the tracker is not there.
  if (auto up = tracker.Healthz(); !up) {
    PrintError(up.error().message);
    return 1;
  }
  const ImportListing listing = ListImportFiles(dir);
  const std::vector<std::string>& files = listing.files;
  ImportReport report(int64_t(files.size() + listing.skipped.size()),
                      ::isatty(STDERR_FILENO) == 1, json);
  for (const auto& [path, why] : listing.errors) report.Failed(path, why);
  for (const auto& [path, why] : listing.skipped) report.Skipped(path, why);
  report.Draw();

  SeenDigests seen;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> tried{0};
  import_interrupted.store(false);
  std::signal(SIGINT, OnImportInterrupt);
  std::signal(SIGTERM, OnImportInterrupt);
  auto work = [&] {
    for (size_t i = next++;
         i < files.size() && !report.GivenUp() && !import_interrupted.load();
         i = next++) {
      ++tried;
      ImportOne(tracker, files[i], seen, report);
    }
  };
  const size_t workers = std::clamp<size_t>(size_t(std::max(jobs, 1)), 1,
                                            std::max<size_t>(files.size(), 1));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back(work);

  // Redraw the bar a few times a second while the workers run.
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::thread ticker([&] {
    std::unique_lock lock(done_mutex);
    while (!done_cv.wait_for(lock, std::chrono::milliseconds(200),
                             [&] { return done; })) {
      report.Draw();
    }
  });
  for (std::thread& t : threads) t.join();
  {
    std::lock_guard lock(done_mutex);
    done = true;
  }
  done_cv.notify_one();
  ticker.join();

  const bool interrupted = import_interrupted.load();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (tried < int64_t(files.size()))
    report.GiveUp(int64_t(files.size()) - tried, interrupted);
  const ImportCounts counts = report.Finish();
  // With --json, stdout holds only the files' lines.
  std::fprintf(json ? stderr : stdout, "%s\n", FormatSummary(counts).c_str());
  if (interrupted) return 130;  // as a shell reports an interrupted command
  return counts.failed == 0 && counts.not_tried == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- get

int RunGet(const ClientOptions& options, const std::string& id_text,
           const std::string& out) {
  const bool to_stdout = out.empty() || out == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO) == 1) {
    PrintError("refusing to write an image to a terminal: use -o FILE");
    return 1;
  }
  auto id = ImageId::Parse(id_text);
  if (!id) {
    PrintError(fmt::format("{}: no such image (not an image id)", id_text));
    return 1;
  }
  const TrackerClient tracker = MakeClient(options);
  auto meta = tracker.GetImage(*id);
  if (!meta) {
    PrintError(About(id_text, Describe(meta.error())));
    return 1;
  }
  if (!meta->available) {
    PrintError(fmt::format(
        "{}: image unavailable: every server holding it is down", id_text));
    return 1;
  }
  // The URL to use now first, then any other usable copy.
  std::vector<std::string> urls{meta->url};
  for (const ImageReplica& r : meta->replicas) {
    if (r.usable && std::find(urls.begin(), urls.end(), r.url) == urls.end()) {
      urls.push_back(r.url);
    }
  }
  std::optional<std::string> bytes;
  std::string last_error, mismatch;
  for (const std::string& url : urls) {
    auto body = TrackerClient::Download(url);
    if (!body) {
      last_error = body.error().message;
      continue;
    }
    const std::string got = Sha256Hex(*body);
    if (got != meta->sha256) {
      // Loudly: a copy that does not match what was stored is corruption.
      mismatch = fmt::format(
          "{}: copy at {} is corrupt: sha256 {} ({} bytes), expected {} ({} "
          "bytes)",
          id_text, url, got, body->size(), meta->sha256, meta->bytes);
      PrintError(mismatch);
      continue;
    }
    bytes = std::move(*body);
    break;
  }
  if (!bytes) {
    if (mismatch.empty()) {
      PrintError(fmt::format("{}: download failed: {}", id_text, last_error));
    } else {
      PrintError(fmt::format("{}: no copy matches its sha256", id_text));
    }
    return 1;
  }
  auto written = to_stdout ? WriteStdout(*bytes) : WriteOutput(out, *bytes);
  if (!written) {
    PrintError(written.error().message);
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------- rm

int RunRm(const ClientOptions& options, const std::vector<std::string>& ids) {
  const TrackerClient tracker = MakeClient(options);
  int failed = 0;
  for (const std::string& text : ids) {
    auto id = ImageId::Parse(text);
    if (!id) {
      PrintError(fmt::format("{}: no such image (not an image id)", text));
      ++failed;
      continue;
    }
    if (auto deleted = tracker.Delete(*id); !deleted) {
      PrintError(About(text, Describe(deleted.error())));
      ++failed;
      continue;
    }
    std::printf("deleted %s\n", id->str().c_str());
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- stats

int RunStats(const ClientOptions& options) {
  auto totals = MakeClient(options).Stats();
  if (!totals) {
    PrintError(Describe(totals.error()));
    return 1;
  }
  const ClusterTotals& t = *totals;
  std::vector<std::vector<std::string>> rows = {
      {"servers:", std::to_string(t.servers)},
      {"usable:", std::to_string(t.usable)},
      {"images:", std::to_string(t.images)},
      {"bytes:", FormatBytes(t.bytes)},
      {"copies:",
       fmt::format("{} ({} on disk)", t.copies, FormatBytes(t.bytes_used))},
      {"capacity:", std::to_string(t.capacity) + " copies"},
      {"fill:", FormatPercent(t.copies, t.capacity)},
  };
  if (t.replicas > 0) {
    rows.push_back({"replicas:", fmt::format("{} of each image", t.replicas)});
    rows.push_back(
        {"repair backlog:",
         t.repair_backlog == 0
             ? std::string("none")
             : fmt::format("{} {}", t.repair_backlog,
                           t.repair_backlog == 1 ? "copy" : "copies")});
    // A backlog that does not shrink says why, as `drain --wait` does.
    auto why = [&](const char* label, int64_t images, const char* reason) {
      if (images == 0) return;
      rows.push_back(
          {label, fmt::format("{} {} ({})", images,
                              images == 1 ? "image" : "images", reason)});
    };
    why("waiting:", t.repair_waiting,
        "no other server can take a copy: add or enable a server, or lower "
        "--replicas");
    why("unreadable:", t.repair_unreadable,
        "no copy reads back good: see the tracker's log");
  }
  std::fputs(FormatTable(rows, "l").c_str(), stdout);
  return 0;
}

// ---------------------------------------------------------------- servers

Result<ServersAction> ParseServersAction(const std::string& verb,
                                         const std::string& arg) {
  using Kind = ServersAction::Kind;
  ServersAction action;
  auto bad = [&](std::string why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("servers {}: {}", verb, why));
  };
  if (verb == "list") {
    if (!arg.empty()) return bad("unexpected argument " + arg);
    return action;
  }
  if (verb == "add") {
    if (arg.empty()) return bad("missing URL");
    action.kind = Kind::kAdd;
    action.url = arg;
    return action;
  }
  if (verb == "drain") {
    action.kind = Kind::kSetState;
    action.state = ServerState::kDraining;
  } else if (verb == "disable") {
    action.kind = Kind::kSetState;
    action.state = ServerState::kDisabled;
  } else if (verb == "enable") {
    action.kind = Kind::kSetState;
    action.state = ServerState::kActive;
  } else if (verb == "remove") {
    action.kind = Kind::kRemove;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("servers: unknown verb {} (list, add, drain, "
                            "disable, enable, remove)",
                            verb));
  }
  if (arg.empty()) return bad("missing server ID");
  int64_t id = 0;
  auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), id);
  if (ec != std::errc() || end != arg.data() + arg.size() || id <= 0) {
    return bad("not a server id: " + arg);
  }
  action.server_id = id;
  return action;
}

namespace {

std::string ServerName(const ServerRow& row) {
  return fmt::format("server {} ({})", row.server_id, row.server_name);
}

void PrintServerTable(const ServerList& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "URL", "STATE", "USABLE", "UPLOADS", "CUR/MAX", "FILL",
       "DISK FREE", "HEARTBEAT"}};
  for (const ServerEntry& e : list.servers) {
    const ServerRow& r = e.row;
    rows.push_back(
        {std::to_string(r.server_id), r.server_name, r.server_url,
         std::string(ServerStateName(r.state)), r.flg_usable ? "yes" : "no",
         e.takes_uploads ? "yes" : "no",
         fmt::format("{}/{}", r.cur_pic_amount, r.max_pic_amount),
         FormatPercent(r.cur_pic_amount, r.max_pic_amount),
         r.last_heartbeat_at > 0 ? FormatBytes(r.disk_free_bytes) : "-",
         e.heartbeat_age_s < 0 ? "never"
                               : FormatAge(e.heartbeat_age_s) + " ago"});
  }
  std::fputs(FormatTable(rows, "rllllllrrr").c_str(), stdout);
  if (list.servers.empty()) {
    std::printf("no servers yet: start `imgstore node --tracker URL ...`\n");
  }
}

}  // namespace

namespace {

// Polls the server table until server `id` holds no images; prints its
// count as it falls (one line per change, or one updated line on a TTY).
int WaitForDrain(const TrackerClient& tracker, int64_t id) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  int64_t last = -1;
  bool said_waiting = false;
  bool said_unreadable = false;
  for (;;) {
    auto list = tracker.ListServers();
    if (!list) {
      PrintError(Describe(list.error()));
      return 1;
    }
    const ServerEntry* entry = nullptr;
    for (const ServerEntry& e : list->servers) {
      if (e.row.server_id == id) entry = &e;
    }
    if (entry == nullptr) {
      PrintError(fmt::format("server {} is gone", id));
      return 1;
    }
    const int64_t left = entry->row.cur_pic_amount;
    if (left != last) {
      std::printf(tty ? "\r%s: %lld images left   " : "%s: %lld images left\n",
                  ServerName(entry->row).c_str(), static_cast<long long>(left));
      std::fflush(stdout);
      last = left;
    }
    if (left == 0) {
      std::printf(
          "%s%s is drained; `imgstore servers remove %lld` removes "
          "it\n",
          tty ? "\n" : "", ServerName(entry->row).c_str(),
          static_cast<long long>(id));
      return 0;
    }
    // Said once: the drain waits for a server that can take the copies.
    const bool waiting = list->totals.repair_waiting > 0;
    if (waiting && !said_waiting) {
      std::printf(
          "%sthe drain waits: no other server can take a copy (%lld of each "
          "image wanted): add or enable a server, or lower --replicas\n",
          tty ? "\n" : "", static_cast<long long>(list->totals.replicas));
      std::fflush(stdout);
      last = -1;  // the count again, on a line of its own
    }
    said_waiting = waiting;
    // And for a good copy, when every copy of some images is bad.
    const bool unreadable = list->totals.repair_unreadable > 0;
    if (unreadable && !said_unreadable) {
      std::printf(
          "%sthe drain waits: %lld images have no copy that reads back good "
          "(see the tracker's log): put a good file back on its node, or "
          "restore it from a backup\n",
          tty ? "\n" : "",
          static_cast<long long>(list->totals.repair_unreadable));
      std::fflush(stdout);
      last = -1;
    }
    said_unreadable = unreadable;
    if (entry->row.state != ServerState::kDraining) {
      PrintError(fmt::format("{} is {} again: drain stopped",
                             ServerName(entry->row),
                             ServerStateName(entry->row.state)));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int RunServers(const ClientOptions& options, const std::string& verb,
               const std::string& arg, bool wait) {
  using Kind = ServersAction::Kind;
  auto action = ParseServersAction(verb, arg);
  if (!action) {
    PrintError(action.error().message);
    return 2;
  }
  const TrackerClient tracker = MakeClient(options);
  switch (action->kind) {
    case Kind::kList: {
      auto list = tracker.ListServers();
      if (!list) {
        PrintError(Describe(list.error()));
        return 1;
      }
      PrintServerTable(*list);
      return 0;
    }
    case Kind::kAdd: {
      auto added = tracker.AddServer(action->url);
      if (!added) {
        PrintError(About(action->url, Describe(added.error())));
        return 1;
      }
      std::printf("added %s %s\n", ServerName(added->row).c_str(),
                  added->row.server_url.c_str());
      return 0;
    }
    case Kind::kSetState: {
      ServerPatch patch;
      patch.state = action->state;
      auto row = tracker.PatchServer(action->server_id, patch);
      if (!row) {
        PrintError(About(fmt::format("server {}", action->server_id),
                         Describe(row.error())));
        return 1;
      }
      std::printf("%s: %s\n", ServerName(row->row).c_str(),
                  std::string(ServerStateName(row->row.state)).c_str());
      if (wait && action->state == ServerState::kDraining)
        return WaitForDrain(tracker, action->server_id);
      return 0;
    }
    case Kind::kRemove: {
      if (auto removed = tracker.RemoveServer(action->server_id); !removed) {
        // A removal's only conflict is a server that still holds images.
        std::string why = Describe(removed.error());
        if (removed.error().code == ErrorCode::kConflict) {
          why +=
              fmt::format("; drain it first: imgstore servers drain {} --wait",
                          action->server_id);
        }
        PrintError(About(fmt::format("server {}", action->server_id), why));
        return 1;
      }
      std::printf("removed server %lld\n",
                  static_cast<long long>(action->server_id));
      return 0;
    }
  }
  return 1;
}

// ---------------------------------------------------------------- rebalance

int RunRebalance(const ClientOptions& options, double spread, bool wait,
                 bool stop) {
  const TrackerClient tracker = MakeClient(options);
  if (stop) {
    auto stopped = tracker.AdminJson("DELETE", "/v1/rebalance", nullptr, 204);
    if (!stopped) {
      PrintError(Describe(stopped.error()));
      return 1;
    }
    std::printf("rebalance stopped\n");
    return 0;
  }
  auto started = tracker.AdminJson("POST", "/v1/rebalance",
                                   nlohmann::json{{"spread", spread}}, 202);
  if (!started) {
    PrintError(Describe(started.error()));
    return 1;
  }
  std::printf("rebalance until fills are within %.1f%% of even: now %.1f%%\n",
              spread * 100, started->value("spread", 0.0) * 100);
  std::fflush(stdout);
  if (!wait) return 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto now = tracker.AdminJson("GET", "/v1/rebalance", nullptr, 200);
    if (!now) {
      PrintError(Describe(now.error()));
      return 1;
    }
    std::printf("%.1f%% from even, %lld moved\n",
                now->value("spread", 0.0) * 100,
                static_cast<long long>(now->value("moved", int64_t(0))));
    std::fflush(stdout);
    if (!now->value("running", false)) {
      // Short of the spread asked for: with few images no server holds a
      // whole copy over its even share (moving one would overshoot), or
      // someone stopped it; the tracker's answer cannot tell which.
      if (now->value("spread", 0.0) > spread) {
        std::printf(
            "rebalance ended above the %.1f%% asked: no server holds a whole "
            "copy over its even share (nothing worth moving), or it was "
            "stopped (imgstore rebalance --stop)\n",
            spread * 100);
      } else {
        std::printf("rebalance done\n");
      }
      return 0;
    }
  }
}

// ---------------------------------------------------------------- fsck

int RunFsck(const ClientOptions& options, bool fix, int64_t min_age_s) {
  const TrackerClient tracker = MakeClient(options);
  // A walk over every server's files: minutes on big servers.
  auto report =
      tracker.AdminJson("POST", "/v1/fsck",
                        nlohmann::json{{"fix", fix}, {"min_age_s", min_age_s}},
                        200, std::chrono::hours(6));
  if (!report) {
    PrintError(Describe(report.error()));
    return 1;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "FILES", "COPIES", "ORPHANS", "MISSING", "FIXED", ""}};
  for (const nlohmann::json& s : (*report)["servers"]) {
    rows.push_back({std::to_string(s.value("server_id", int64_t(0))),
                    s.value("server_name", ""),
                    std::to_string(s.value("files", int64_t(0))),
                    std::to_string(s.value("copies", int64_t(0))),
                    std::to_string(s.value("orphans", int64_t(0))),
                    std::to_string(s.value("missing", int64_t(0))),
                    std::to_string(s.value("fixed", int64_t(0))),
                    s.value("error", "")});
  }
  std::fputs(FormatTable(rows, "rlrrrrrl").c_str(), stdout);
  for (const nlohmann::json& s : (*report)["servers"]) {
    for (const char* kind : {"orphan_paths", "missing_paths", "kept_paths"}) {
      for (const nlohmann::json& p : s.value(kind, nlohmann::json::array())) {
        std::printf("server %lld: %s %s\n",
                    static_cast<long long>(s.value("server_id", int64_t(0))),
                    kind[0] == 'o'   ? "orphan "
                    : kind[0] == 'm' ? "missing"
                                     : "kept   ",
                    p.get<std::string>().c_str());
      }
    }
  }
  const int64_t kept = report->value("kept", int64_t(0));
  if (kept > 0) {
    std::printf(
        "%lld files are not recorded where they are, but their images are "
        "recorded on servers that may hold these very files (one root under "
        "two servers, or a server that is down) or that lack them: left "
        "alone (listed as kept)\n",
        static_cast<long long>(kept));
  }
  const int64_t found = report->value("orphans", int64_t(0)) +
                        report->value("missing", int64_t(0)) + kept;
  const int64_t fixed = report->value("fixed", int64_t(0));
  const int64_t unchecked = report->value("unchecked", int64_t(0));
  std::printf("%lld problems found, %lld fixed%s\n",
              static_cast<long long>(found), static_cast<long long>(fixed),
              unchecked > 0
                  ? fmt::format(", {} servers not checked", unchecked).c_str()
                  : "");
  return found == (fix ? fixed : 0) && unchecked == 0 ? 0 : 1;
}

}  // namespace imgstore
