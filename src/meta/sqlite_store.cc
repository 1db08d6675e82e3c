#include "meta/sqlite_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/layout.h"
#include "meta/migrations.h"

namespace imgstore {

namespace {

// The one place sqlite3 result codes become Errors (STYLE §4). `why` is
// SQLite's own text; callers prefix what they were doing.
Error SqliteError(int rc, std::string_view why) {
  ErrorCode code = ErrorCode::kInternal;
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_CONSTRAINT:
      // A duplicate key is a caller's conflict; any other constraint
      // (CHECK, NOT NULL, FOREIGN KEY) means we let bad data through: a bug.
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
          rc == SQLITE_CONSTRAINT_UNIQUE) {
        code = ErrorCode::kConflict;
      }
      break;
    case SQLITE_FULL:
      code = ErrorCode::kInsufficientStorage;
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      // Another process held the lock past the busy timeout: temporary,
      // so 503 and "try again" rather than a 500.
      code = ErrorCode::kUnavailable;
      break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
      code = ErrorCode::kIo;
      break;
    default:  // SQL errors, misuse, NOMEM, ...: ours to fix
      break;
  }
  return Error{code, std::string(why)};
}

// Prefixes a failure with what we were doing: "add image X: disk is full".
template <typename T, typename... Args>
Result<T> Context(Result<T> result, fmt::format_string<Args...> what,
                  Args&&... args) {
  if (!result) {
    result.error().message = fmt::format(what, std::forward<Args>(args)...) +
                             ": " + result.error().message;
  }
  return result;
}

// A cached prepared statement, borrowed from its connection until this is
// destroyed, which resets it: a statement left stepping would pin a read
// snapshot and stall WAL checkpoints. Parameters bind in order (?1, ?2, ...).
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Statement(Statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)),
        next_param_(other.next_param_),
        bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;

  // Text is copied (SQLITE_TRANSIENT), so temporaries are safe to bind.
  Statement& Bind(int64_t value) {
    Check(sqlite3_bind_int64(stmt_, next_param_++, value));
    return *this;
  }
  Statement& Bind(std::string_view value) {
    Check(sqlite3_bind_text(stmt_, next_param_++, value.data(),
                            static_cast<int>(value.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindNull() {
    Check(sqlite3_bind_null(stmt_, next_param_++));
    return *this;
  }

  // True with a row to read, false when done.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) {
      return Fail(SqliteError(bind_rc_, sqlite3_errstr(bind_rc_)));
    }
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Fail(SqliteError(rc, sqlite3_errmsg(sqlite3_db_handle(stmt_))));
  }
  // Steps a statement that returns no rows (or whose rows do not matter).
  Result<void> Run() {
    for (;;) {
      auto row = Step();
      if (!row) return Fail(row.error());
      if (!*row) return {};
    }
  }

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool IsNull(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  std::string_view Text(int column) const {
    const auto* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
  }

 private:
  void Check(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3_stmt* stmt_;
  int next_param_ = 1;
  int bind_rc_ = SQLITE_OK;  // the first bind failure, reported by Step()
};

}  // namespace

// One sqlite3 handle and its prepared statements. Opened in multi-thread
// mode (SQLITE_OPEN_NOMUTEX): SQLite takes no lock of its own, because the
// store hands each connection to one thread at a time.
class SqliteConnection {
 public:
  enum class Role { kWriter, kReader };

  static Result<std::unique_ptr<SqliteConnection>> Open(
      const std::string& path, Role role,
      std::chrono::milliseconds busy_timeout) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (role == Role::kWriter) flags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    // sqlite3_open_v2 returns a handle even on failure (for the message);
    // owning it at once closes it on every path.
    std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db));
    if (rc != SQLITE_OK) {
      return Fail(SqliteError(
          rc, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
    auto set_up =
        role == Role::kWriter ? conn->SetUpWriter() : conn->SetUpReader();
    if (!set_up) return Fail(set_up.error());
    return conn;
  }

  ~SqliteConnection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // The statement for `sql`, prepared on first use and kept for the life of
  // the connection. One Statement per SQL text at a time: kInternal if the
  // same text is still borrowed.
  Result<Statement> Prepare(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return Fail(SqliteError(rc, sqlite3_errmsg(db_)));
      it = cache_.emplace(std::string(sql), stmt).first;
    } else if (sqlite3_stmt_busy(it->second)) {
      return Fail(ErrorCode::kInternal, "statement already in use");
    }
    return Statement(it->second);
  }

  // Runs one statement to completion.
  Result<void> Run(std::string_view sql) {
    auto stmt = Prepare(sql);
    if (!stmt) return Fail(stmt.error());
    return stmt->Run();
  }

  // Runs a script of several statements (a migration); not cached.
  Result<void> Script(std::string_view sql) {
    std::string text(sql);  // sqlite3_exec wants a terminating NUL
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Fail(SqliteError(rc, sqlite3_errmsg(db_)));
    return {};
  }

  // Undoes an open transaction, if any. A failed rollback leaves nothing to
  // do: SQLite then has rolled back itself or the connection is unusable
  // and the next statement reports why.
  void Rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  int64_t Changes() const { return sqlite3_changes64(db_); }
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}

  Result<void> SetUpWriter() {
    // WAL: readers see the last commit while the writer writes, so resolve
    // never waits for an upload; and a commit appends to one file instead
    // of journaling whole pages.
    auto mode = Prepare("PRAGMA journal_mode=WAL");
    if (!mode) return Fail(mode.error());
    auto row = mode->Step();
    if (!row) return Fail(row.error());
    if (!*row || mode->Text(0) != "wal") {
      return Fail(ErrorCode::kIo,
                  "cannot use write-ahead logging (journal_mode is " +
                      std::string(*row ? mode->Text(0) : "unknown") + ")");
    }
    // FULL, not the NORMAL that WAL usually pairs with: NORMAL survives
    // kill -9 (the WAL is in the OS cache) but a power cut can lose the last
    // commits, and an upload acknowledged with 201 must survive both. FULL
    // fsyncs the WAL on every commit.
    auto sync = Run("PRAGMA synchronous=FULL");
    if (!sync) return sync;
    return Run("PRAGMA foreign_keys=ON");
  }

  Result<void> SetUpReader() {
    // Readers must never write, even by a bug: query_only makes SQLite
    // refuse. (SQLITE_OPEN_READONLY would fail to attach to the WAL index
    // unless its -shm file already exists with write permission.)
    return Run("PRAGMA query_only=ON");
  }

  // Lookups by string_view without building a std::string per query.
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>{}(s);
    }
  };

  sqlite3* const db_;
  std::unordered_map<std::string, sqlite3_stmt*, TextHash, std::equal_to<>>
      cache_;
};

namespace {

// ---- rows ----

// Reads a row selected as `SELECT server_id, server_name, server_url,
// pic_root_path, max_pic_amount, cur_pic_amount, flg_usable, state,
// last_heartbeat_at, disk_free_bytes, bytes_used, internal_url`.
Result<ServerRow> ReadServer(const Statement& s) {
  ServerRow row;
  row.server_id = s.Int(0);
  row.server_name = s.Text(1);
  row.server_url = s.Text(2);
  row.pic_root_path = s.Text(3);
  row.max_pic_amount = s.Int(4);
  row.cur_pic_amount = s.Int(5);
  row.flg_usable = s.Int(6) != 0;
  auto state = ParseServerState(s.Text(7));
  if (!state) {
    return Fail(ErrorCode::kInternal,
                fmt::format("server {}: unknown state '{}' in the database",
                            row.server_id, s.Text(7)));
  }
  row.state = *state;
  row.last_heartbeat_at = s.Int(8);
  row.disk_free_bytes = s.Int(9);
  row.bytes_used = s.Int(10);
  row.internal_url = s.Text(11);
  return row;
}

Result<ServerRow> ServerById(SqliteConnection& c, int64_t server_id) {
  auto s = c.Prepare(
      "SELECT server_id, server_name, server_url, pic_root_path, "
      "max_pic_amount, cur_pic_amount, flg_usable, state, last_heartbeat_at, "
      "disk_free_bytes, bytes_used, internal_url FROM servers "
      "WHERE server_id = ?1");
  if (!s) return Fail(s.error());
  s->Bind(server_id);
  auto row = s->Step();
  if (!row) return Fail(row.error());
  if (!*row) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("server {} does not exist", server_id));
  }
  return ReadServer(*s);
}

// The first column of the first row of `sql` with `key` bound to ?1, or
// nullopt when it selects nothing.
Result<std::optional<int64_t>> SelectId(SqliteConnection& c,
                                        std::string_view sql,
                                        std::string_view key) {
  auto s = c.Prepare(sql);
  if (!s) return Fail(s.error());
  s->Bind(key);
  auto row = s->Step();
  if (!row) return Fail(row.error());
  if (!*row) return std::nullopt;
  return s->Int(0);
}

// Reads the rows of `SELECT i.image_id, i.content_type, i.bytes, i.width,
// i.height, i.sha256, i.created_at, p.server_id, p.relative_path FROM images
// i LEFT JOIN placements p`: one row per copy, an image's rows adjacent.
Result<std::vector<ImageRecord>> ReadImages(Statement& s) {
  std::vector<ImageRecord> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error());
    if (!*row) return out;
    std::string_view id = s.Text(0);
    if (out.empty() || out.back().id.str() != id) {
      auto parsed = ImageId::Parse(id);
      if (!parsed) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("invalid image id '{}' in the database", id));
      }
      auto format = FormatFromContentType(s.Text(1));
      if (!format) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("image {}: unknown content type '{}' in the "
                                "database",
                                id, s.Text(1)));
      }
      out.push_back(ImageRecord{.id = *std::move(parsed),
                                .format = *format,
                                .bytes = s.Int(2),
                                .width = s.Int(3),
                                .height = s.Int(4),
                                .sha256 = std::string(s.Text(5)),
                                .created_at = s.Int(6)});
    }
    if (!s.IsNull(7)) {
      out.back().placements.push_back(
          Placement{s.Int(7), std::string(s.Text(8))});
    }
  }
}

// `ids` sorted, each once, as a JSON array of strings: a batch of any
// size then travels as one parameter of one cached statement (one query,
// one snapshot, no SQL built per call), and a repeated id cannot return
// its rows twice. An ImageId is [A-Za-z0-9_-] only: no escapes needed.
std::string IdArray(const std::vector<ImageId>& ids) {
  std::vector<const std::string*> unique;
  unique.reserve(ids.size());
  for (const ImageId& id : ids) unique.push_back(&id.str());
  auto less = [](const std::string* a, const std::string* b) {
    return *a < *b;
  };
  auto equal = [](const std::string* a, const std::string* b) {
    return *a == *b;
  };
  std::sort(unique.begin(), unique.end(), less);
  unique.erase(std::unique(unique.begin(), unique.end(), equal), unique.end());
  std::string array;
  array.reserve(2 + unique.size() * (ImageId::kMaxLength + 3));
  array += '[';
  for (const std::string* id : unique) {
    if (array.size() > 1) array += ',';
    array += '"';
    array += *id;
    array += '"';
  }
  array += ']';
  return array;
}

// Reads the rows of `SELECT image_id, server_id, relative_path FROM
// placements`, an image's rows adjacent, into at most `limit` locations
// (stepping no further: the statement stops there). The format is the
// relative path's extension: placements hold MakeImagePath's paths.
Result<std::vector<ImageLocation>> ReadLocations(Statement& s, int64_t limit) {
  std::vector<ImageLocation> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error());
    if (!*row) return out;
    std::string_view id = s.Text(0);
    if (out.empty() || out.back().id.str() != id) {
      if (static_cast<int64_t>(out.size()) == limit) return out;
      auto parsed = ImageId::Parse(id);
      std::string_view path = s.Text(2);
      const size_t dot = path.rfind('.');
      auto format = dot == std::string_view::npos
                        ? std::nullopt
                        : FormatFromExtension(path.substr(dot + 1));
      if (!parsed || !format) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("invalid placement '{}' of image '{}' in the "
                                "database",
                                path, id));
      }
      out.push_back(ImageLocation{*std::move(parsed), *format, {}});
    }
    out.back().server_ids.push_back(s.Int(1));
  }
}

// Reads `SELECT image_id` rows into ids.
Result<std::vector<ImageId>> ReadIds(Statement& s) {
  std::vector<ImageId> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error());
    if (!*row) return out;
    auto id = ImageId::Parse(s.Text(0));
    if (!id) {
      return Fail(
          ErrorCode::kInternal,
          fmt::format("invalid image id '{}' in the database", s.Text(0)));
    }
    out.push_back(*std::move(id));
  }
}

Result<ImageRecord> ImageById(SqliteConnection& c, const ImageId& id) {
  auto s = c.Prepare(
      "SELECT i.image_id, i.content_type, i.bytes, i.width, i.height, "
      "i.sha256, i.created_at, p.server_id, p.relative_path "
      "FROM images i LEFT JOIN placements p USING (image_id) "
      "WHERE i.image_id = ?1 ORDER BY p.server_id");
  if (!s) return Fail(s.error());
  s->Bind(id.str());
  auto images = ReadImages(*s);
  if (!images) return Fail(images.error());
  if (images->empty()) return Fail(ErrorCode::kNotFound, "no such image");
  return std::move(images->front());
}

Result<void> CheckCount(int64_t value, std::string_view what) {
  if (value < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{} must not be negative (got {})", what, value));
  }
  return {};
}

constexpr std::string_view kServerByUrl =
    "SELECT server_id FROM servers WHERE server_url = ?1";

// ---- migrations ----

// Applies every migration above the recorded version, each in its own
// transaction that first re-reads the version: two processes opening a new
// file at once then apply each migration exactly once between them.
Result<void> Migrate(SqliteConnection& c) {
  auto migrations = DialectMigrations(kMigrations, "sqlite");
  if (!migrations) return Fail(migrations.error());
  auto created = c.Run(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  if (!created) return created;
  const int latest = migrations->empty() ? 0 : migrations->back().version;

  auto applied_version = [&c]() -> Result<int64_t> {
    auto s =
        c.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!s) return Fail(s.error());
    auto row = s->Step();
    if (!row) return Fail(row.error());
    return s->Int(0);
  };
  auto current = applied_version();
  if (!current) return Fail(current.error());
  if (*current > latest) {
    // An older binary must not write a schema it does not know.
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the database has schema version {}, newer than "
                            "this build's {}",
                            *current, latest));
  }
  for (const Migration& m : *migrations) {
    if (m.version <= *current) continue;
    auto begun = c.Run("BEGIN IMMEDIATE");
    if (!begun) return begun;
    auto applied = [&]() -> Result<void> {
      auto now = applied_version();
      if (!now) return Fail(now.error());
      if (*now >= m.version) return c.Run("ROLLBACK");  // another was first
      auto script = c.Script(m.sql);
      if (!script) return script;
      auto s = c.Prepare(
          "INSERT INTO schema_migrations (version, applied_at) "
          "VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))");
      if (!s) return Fail(s.error());
      s->Bind(m.version);
      auto recorded = s->Run();
      if (!recorded) return recorded;
      return c.Run("COMMIT");
    }();
    if (!applied) {
      c.Rollback();
      return Context(std::move(applied), "apply {}", m.path);
    }
  }
  return {};
}

}  // namespace

// ---- the store ----

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const std::string& path, std::chrono::milliseconds busy_timeout) {
  auto open = [&]() -> Result<std::unique_ptr<SqliteStore>> {
    auto writer = SqliteConnection::Open(path, SqliteConnection::Role::kWriter,
                                         busy_timeout);
    if (!writer) return Fail(writer.error());
    auto migrated = Migrate(**writer);
    if (!migrated) return Fail(migrated.error());
    std::vector<std::unique_ptr<SqliteConnection>> readers;
    for (int i = 0; i < kReaders; ++i) {
      auto reader = SqliteConnection::Open(
          path, SqliteConnection::Role::kReader, busy_timeout);
      if (!reader) return Fail(reader.error());
      readers.push_back(*std::move(reader));
    }
    return std::unique_ptr<SqliteStore>(
        new SqliteStore(path, *std::move(writer), std::move(readers)));
  };
  // Opening can meet an SQLITE_BUSY that SQLite returns at once, without
  // calling the busy handler: switching a new file to WAL takes an
  // exclusive lock, and a connection that finds the WAL index being built
  // by another is refused. Several processes opening one new file together
  // then fail for a moment; open again, for as long as the busy timeout
  // would have waited. Safe to repeat: each migration re-reads the version
  // inside its own transaction.
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    auto store = open();
    if (store || store.error().code != ErrorCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return Context(std::move(store), "open sqlite database {}", path);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

SqliteStore::SqliteStore(std::string path,
                         std::unique_ptr<SqliteConnection> writer,
                         std::vector<std::unique_ptr<SqliteConnection>> readers)
    : path_(std::move(path)),
      writer_(std::move(writer)),
      free_readers_(std::move(readers)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    device_ = uint64_t(st.st_dev);
    inode_ = uint64_t(st.st_ino);
  }
}

Result<void> SqliteStore::CheckFile() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && uint64_t(st.st_dev) == device_ &&
      uint64_t(st.st_ino) == inode_) {
    return {};
  }
  const std::string why = fmt::format(
      "the database file {} was deleted or replaced while in use: nothing "
      "more is recorded; put the file back (or restore a backup) and "
      "restart the tracker",
      path_);
  if (!file_gone_logged_.exchange(true)) spdlog::error("{}", why);
  return Fail(ErrorCode::kUnavailable, why);
}

SqliteStore::~SqliteStore() = default;

template <typename T, typename Fn>
Result<T> SqliteStore::Write(Fn&& fn) {
  std::optional<Result<T>> result;
  PendingWrite write;
  write.run = [&](SqliteConnection& c) -> Result<void> {
    result.emplace(fn(c));
    if (*result) return {};
    return Fail(result->error());
  };
  std::unique_lock lock(write_mu_);
  queue_.push_back(&write);
  while (!write.done) {
    if (leader_active_) {
      write.wake.wait(lock);
      continue;
    }
    // Lead: take everything queued (our own write included) as one batch.
    leader_active_ = true;
    std::vector<PendingWrite*> batch;
    batch.swap(queue_);
    lock.unlock();
    RunBatch(batch);
    lock.lock();
    // Notified under the lock: a writer cannot see `done`, return and
    // destroy its PendingWrite before the notification is made.
    for (PendingWrite* w : batch) {
      w->done = true;
      w->wake.notify_one();
    }
    leader_active_ = false;
    // Whoever queued meanwhile: the first of them leads the next batch.
    if (!queue_.empty()) queue_.front()->wake.notify_one();
  }
  if (!write.outcome) return Fail(write.outcome.error());
  return std::move(*result);
}

void SqliteStore::RunBatch(const std::vector<PendingWrite*>& batch) {
  SqliteConnection& c = *writer_;
  // IMMEDIATE takes the write lock now, not at the first write: a deferred
  // transaction that read first could not upgrade if another process wrote
  // meanwhile, and would fail with SQLITE_BUSY at once, busy timeout or not.
  auto begun = c.Run("BEGIN IMMEDIATE");
  if (!begun) {
    for (PendingWrite* w : batch) w->outcome = Fail(begun.error());
    return;
  }
  for (PendingWrite* w : batch) {
    // A savepoint per write: one that fails is undone alone, the batch
    // goes on.
    auto saved = c.Run("SAVEPOINT one_write");
    if (!saved) {
      w->outcome = Fail(saved.error());
      continue;
    }
    w->outcome = w->run(c);
    if (!w->outcome) (void)c.Run("ROLLBACK TO one_write");
    (void)c.Run("RELEASE one_write");
  }
  auto committed = c.Run("COMMIT");
  if (!committed) {
    c.Rollback();
    for (PendingWrite* w : batch) {
      if (w->outcome) w->outcome = Fail(committed.error());
    }
    return;
  }
  // Committed to the file we hold open; if that is no longer the file at
  // its path, no restart would find the commit: not a success.
  if (auto file = CheckFile(); !file) {
    for (PendingWrite* w : batch) {
      if (w->outcome) w->outcome = Fail(file.error());
    }
  }
}

template <typename T, typename Fn>
Result<T> SqliteStore::Read(Fn&& fn) {
  std::unique_ptr<SqliteConnection> c;
  {
    std::unique_lock lock(read_mu_);
    reader_freed_.wait(lock, [this] { return !free_readers_.empty(); });
    c = std::move(free_readers_.back());
    free_readers_.pop_back();
  }
  Result<T> result = fn(*c);
  {
    std::lock_guard lock(read_mu_);
    free_readers_.push_back(std::move(c));
  }
  reader_freed_.notify_one();
  return result;
}

// ---- servers ----

Result<std::vector<ServerRow>> SqliteStore::ListServers() {
  // Read every second by each tracker's registry: where a file deleted
  // under a running tracker shows (in /healthz too) before any write.
  if (auto file = CheckFile(); !file) return Fail(file.error());
  auto list = [](SqliteConnection& c) -> Result<std::vector<ServerRow>> {
    auto s = c.Prepare(
        "SELECT server_id, server_name, server_url, pic_root_path, "
        "max_pic_amount, cur_pic_amount, flg_usable, state, "
        "last_heartbeat_at, disk_free_bytes, bytes_used, internal_url "
        "FROM servers WHERE state <> 'removed' ORDER BY server_id");
    if (!s) return Fail(s.error());
    std::vector<ServerRow> out;
    for (;;) {
      auto row = s->Step();
      if (!row) return Fail(row.error());
      if (!*row) return out;
      auto server = ReadServer(*s);
      if (!server) return Fail(server.error());
      out.push_back(*std::move(server));
    }
  };
  return Context(Read<std::vector<ServerRow>>(list), "list servers");
}

Result<ServerRow> SqliteStore::AddServer(const std::string& name,
                                         const std::string& url,
                                         int64_t max_pic_amount) {
  auto add = [&](SqliteConnection& c) -> Result<ServerRow> {
    if (url.empty()) return Fail(ErrorCode::kInvalidArgument, "empty url");
    if (auto ok = CheckCount(max_pic_amount, "max_pic_amount"); !ok) {
      return Fail(ok.error());
    }
    auto s = c.Prepare(
        "INSERT INTO servers (server_name, server_url, max_pic_amount) "
        "VALUES (?1, ?2, ?3) ON CONFLICT (server_url) DO NOTHING");
    if (!s) return Fail(s.error());
    s->Bind(name).Bind(url).Bind(max_pic_amount);
    if (auto ok = s->Run(); !ok) return Fail(ok.error());
    if (c.Changes() == 1) return ServerById(c, c.LastInsertRowid());
    auto existing = SelectId(c, kServerByUrl, url);
    if (!existing) return Fail(existing.error());
    if (!*existing) return Fail(ErrorCode::kInternal, "url conflict, no row");
    auto row = ServerById(c, **existing);
    if (!row) return Fail(row.error());
    if (row->state != ServerState::kRemoved) return Fail(UrlTaken(*row));
    auto revive =
        c.Prepare("UPDATE servers SET state = 'active' WHERE server_id = ?1");
    if (!revive) return Fail(revive.error());
    revive->Bind(row->server_id);
    if (auto ok = revive->Run(); !ok) return Fail(ok.error());
    return ServerById(c, row->server_id);
  };
  return Context(Write<ServerRow>(add), "add server {}", url);
}

Result<ServerRow> SqliteStore::RecordHeartbeat(
    const std::string& name, const std::string& url, const std::string& root,
    int64_t max_pic_amount, int64_t disk_free_bytes, int64_t bytes_used,
    int64_t now) {
  auto beat = [&](SqliteConnection& c) -> Result<ServerRow> {
    if (url.empty()) return Fail(ErrorCode::kInvalidArgument, "empty url");
    if (auto ok = CheckCount(max_pic_amount, "max_pic_amount"); !ok) {
      return Fail(ok.error());
    }
    // The node's row: by URL; else by name (the node moved to a new URL);
    // an empty name matches nothing. Among equal names the live, oldest row.
    auto found = SelectId(c, kServerByUrl, url);
    if (!found) return Fail(found.error());
    std::optional<int64_t> id = *found;
    if (id) {
      auto row = ServerById(c, *id);
      if (!row) return Fail(row.error());
      if (row->state == ServerState::kRemoved) return Fail(RemovedServer(*row));
    } else if (!name.empty()) {
      found = SelectId(c,
                       "SELECT server_id FROM servers WHERE server_name = ?1 "
                       "AND state <> 'removed' ORDER BY server_id LIMIT 1",
                       name);
      if (!found) return Fail(found.error());
      id = *found;
    }
    if (!id) {
      auto insert = c.Prepare(
          "INSERT INTO servers (server_name, server_url, pic_root_path, "
          "max_pic_amount, reported_max_pics, flg_usable, state, "
          "last_heartbeat_at, disk_free_bytes, bytes_used) "
          "VALUES (?1, ?2, ?3, ?4, ?4, 1, 'active', ?5, ?6, ?7)");
      if (!insert) return Fail(insert.error());
      insert->Bind(name).Bind(url).Bind(root).Bind(max_pic_amount);
      insert->Bind(now).Bind(disk_free_bytes).Bind(bytes_used);
      if (auto ok = insert->Run(); !ok) return Fail(ok.error());
      return ServerById(c, c.LastInsertRowid());
    }
    // The node's --max-pics replaces the capacity only when the node reports
    // a new one; otherwise an operator's change stands.
    auto update = c.Prepare(
        "UPDATE servers SET server_name = ?1, server_url = ?2, "
        "pic_root_path = ?3, max_pic_amount = CASE reported_max_pics "
        "WHEN ?4 THEN max_pic_amount ELSE ?4 END, reported_max_pics = ?4, "
        "last_heartbeat_at = ?5, "
        "disk_free_bytes = ?6, bytes_used = ?7, flg_usable = 1 "
        "WHERE server_id = ?8");
    if (!update) return Fail(update.error());
    update->Bind(name).Bind(url).Bind(root).Bind(max_pic_amount);
    update->Bind(now).Bind(disk_free_bytes).Bind(bytes_used).Bind(*id);
    if (auto ok = update->Run(); !ok) return Fail(ok.error());
    return ServerById(c, *id);
  };
  return Context(Write<ServerRow>(beat), "record heartbeat of {}", url);
}

Result<void> SqliteStore::SetInternalUrl(int64_t server_id,
                                         const std::string& url) {
  auto set = [&](SqliteConnection& c) -> Result<void> {
    auto s =
        c.Prepare("UPDATE servers SET internal_url = ?1 WHERE server_id = ?2");
    if (!s) return Fail(s.error());
    s->Bind(url).Bind(server_id);
    if (auto ok = s->Run(); !ok) return ok;
    if (c.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such server");
    return {};
  };
  return Context(Write<void>(set), "set internal url of server {}", server_id);
}

Result<void> SqliteStore::SetUsable(int64_t server_id, bool usable) {
  auto set = [&](SqliteConnection& c) -> Result<void> {
    auto s =
        c.Prepare("UPDATE servers SET flg_usable = ?1 WHERE server_id = ?2");
    if (!s) return Fail(s.error());
    s->Bind(usable ? 1 : 0).Bind(server_id);
    if (auto ok = s->Run(); !ok) return ok;
    if (c.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such server");
    return {};
  };
  return Context(Write<void>(set), "set server {} usable={}", server_id,
                 usable);
}

Result<ServerRow> SqliteStore::UpdateServer(int64_t server_id,
                                            const ServerUpdate& update) {
  auto change = [&](SqliteConnection& c) -> Result<ServerRow> {
    // Removal has its own check (RemoveServer): no state change skips it.
    if (update.state == ServerState::kRemoved) {
      return Fail(ErrorCode::kInvalidArgument,
                  "state 'removed' is set by removing the server");
    }
    // Nor does a state change undo a removal: only AddServer does.
    auto current = ServerById(c, server_id);
    if (!current) return Fail(current.error());
    if (current->state == ServerState::kRemoved)
      return Fail(RemovedServer(*current, ErrorCode::kConflict));
    if (update.max_pic_amount) {
      if (auto ok = CheckCount(*update.max_pic_amount, "max_pic_amount"); !ok) {
        return Fail(ok.error());
      }
    }
    auto s = c.Prepare(
        "UPDATE servers SET state = coalesce(?1, state), "
        "max_pic_amount = coalesce(?2, max_pic_amount) WHERE server_id = ?3");
    if (!s) return Fail(s.error());
    if (update.state) {
      s->Bind(ServerStateName(*update.state));
    } else {
      s->BindNull();
    }
    if (update.max_pic_amount) {
      s->Bind(*update.max_pic_amount);
    } else {
      s->BindNull();
    }
    s->Bind(server_id);
    if (auto ok = s->Run(); !ok) return Fail(ok.error());
    if (c.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such server");
    return ServerById(c, server_id);
  };
  return Context(Write<ServerRow>(change), "update server {}", server_id);
}

Result<void> SqliteStore::RemoveServer(int64_t server_id) {
  auto remove = [&](SqliteConnection& c) -> Result<void> {
    auto server = ServerById(c, server_id);
    if (!server) return Fail(server.error());
    auto holds = c.Prepare(
        "SELECT EXISTS (SELECT 1 FROM placements WHERE server_id = ?1)");
    if (!holds) return Fail(holds.error());
    holds->Bind(server_id);
    auto row = holds->Step();
    if (!row) return Fail(row.error());
    if (holds->Int(0) != 0) {
      return Fail(
          ErrorCode::kConflict,
          fmt::format("it still holds images ({})", server->cur_pic_amount));
    }
    auto s = c.Prepare(
        "UPDATE servers SET state = 'removed', flg_usable = 0 "
        "WHERE server_id = ?1");
    if (!s) return Fail(s.error());
    s->Bind(server_id);
    if (auto ok = s->Run(); !ok) return ok;
    // Files queued for deletion there go with it: nothing of it is kept.
    auto queued = c.Prepare("DELETE FROM file_deletes WHERE server_id = ?1");
    if (!queued) return Fail(queued.error());
    queued->Bind(server_id);
    return queued->Run();
  };
  return Context(Write<void>(remove), "remove server {}", server_id);
}

// ---- images ----

namespace {

// AddImage's rows, inside the caller's write.
Result<void> InsertImage(SqliteConnection& c, const ImageRecord& image) {
  if (image.placements.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no placements");
  }
  for (size_t i = 0; i < image.placements.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (image.placements[i].server_id == image.placements[j].server_id) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("server {} named twice",
                                image.placements[i].server_id));
      }
    }
  }
  // DO NOTHING and a look at the change count, rather than parsing
  // SQLite's constraint message to tell this conflict from others.
  auto insert = c.Prepare(
      "INSERT INTO images (image_id, content_type, bytes, width, height, "
      "sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (image_id) DO NOTHING");
  if (!insert) return Fail(insert.error());
  insert->Bind(image.id.str()).Bind(FormatContentType(image.format));
  insert->Bind(image.bytes).Bind(image.width).Bind(image.height);
  insert->Bind(image.sha256).Bind(image.created_at);
  if (auto ok = insert->Run(); !ok) return ok;
  if (c.Changes() == 0) {
    return Fail(ErrorCode::kConflict, "the id already exists");
  }
  for (const Placement& p : image.placements) {
    // The capacity check and the increment are one statement inside the
    // write lock, so concurrent uploads (even from other processes) can
    // never push cur_pic_amount past max_pic_amount. A removed server
    // takes nothing: RemoveServer may have run since placement chose it.
    auto bump = c.Prepare(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount + 1 "
        "WHERE server_id = ?1 AND cur_pic_amount < max_pic_amount "
        "AND state <> 'removed'");
    if (!bump) return Fail(bump.error());
    bump->Bind(p.server_id);
    if (auto ok = bump->Run(); !ok) return ok;
    if (c.Changes() == 0) {
      auto server = ServerById(c, p.server_id);
      if (!server) return Fail(server.error());
      if (server->state == ServerState::kRemoved) {
        return Fail(ErrorCode::kInsufficientStorage,
                    fmt::format("server {} is removed", p.server_id));
      }
      return Fail(
          ErrorCode::kInsufficientStorage,
          fmt::format("server {} is full ({} of {} images)", p.server_id,
                      server->cur_pic_amount, server->max_pic_amount));
    }
    auto place = c.Prepare(
        "INSERT INTO placements (image_id, server_id, relative_path) "
        "VALUES (?1, ?2, ?3)");
    if (!place) return Fail(place.error());
    place->Bind(image.id.str()).Bind(p.server_id).Bind(p.relative_path);
    if (auto ok = place->Run(); !ok) return ok;
  }
  return {};
}

}  // namespace

Result<void> SqliteStore::AddImage(const ImageRecord& image) {
  auto add = [&](SqliteConnection& c) { return InsertImage(c, image); };
  return Context(Write<void>(add), "add image {}", image.id.str());
}

Result<std::optional<ImageId>> SqliteStore::AddImageIfNew(
    const ImageRecord& image) {
  // In the write transaction, which one writer holds at a time (in this
  // process and any other): the look and the insert cannot be split.
  auto add = [&](SqliteConnection& c) -> Result<std::optional<ImageId>> {
    auto s = c.Prepare("SELECT image_id FROM images WHERE sha256 = ?1 LIMIT 1");
    if (!s) return Fail(s.error());
    s->Bind(image.sha256);
    auto ids = ReadIds(*s);
    if (!ids) return Fail(ids.error());
    if (!ids->empty()) return ids->front();
    if (auto ok = InsertImage(c, image); !ok) return Fail(ok.error());
    return std::nullopt;
  };
  return Context(Write<std::optional<ImageId>>(add), "add image {}",
                 image.id.str());
}

Result<ImageRecord> SqliteStore::GetImage(const ImageId& id) {
  // Read after a failed write to learn whether it landed: a file that is no
  // longer the one at its path answers nothing true.
  if (auto file = CheckFile(); !file) return Fail(file.error());
  auto get = [&](SqliteConnection& c) { return ImageById(c, id); };
  return Context(Read<ImageRecord>(get), "get image {}", id.str());
}

Result<std::vector<ImageRecord>> SqliteStore::GetImages(
    const std::vector<ImageId>& ids) {
  if (ids.empty()) return std::vector<ImageRecord>{};
  const std::string array = IdArray(ids);
  auto get = [&](SqliteConnection& c) -> Result<std::vector<ImageRecord>> {
    // json_each drives the loop and each id is a primary-key descent into
    // images and placements. CROSS JOIN pins that order (SQLite never
    // reorders around it); `IN (SELECT value FROM json_each(?1))` instead
    // built and searched an ephemeral index of the ids on every call. No
    // ORDER BY, so no sorter: an image's rows come out adjacent (the
    // placements loop is innermost) and its copies in primary-key order,
    // by server_id, which is all ReadImages needs.
    auto s = c.Prepare(
        "SELECT i.image_id, i.content_type, i.bytes, i.width, i.height, "
        "i.sha256, i.created_at, p.server_id, p.relative_path "
        "FROM json_each(?1) AS j CROSS JOIN images AS i "
        "ON i.image_id = j.value "
        "LEFT JOIN placements AS p ON p.image_id = i.image_id");
    if (!s) return Fail(s.error());
    s->Bind(array);
    auto images = ReadImages(*s);
    if (!images) return images;
    // The order of copies is part of the record (Resolver::Choose picks by
    // position): make it certain rather than a property of the plan.
    auto by_server = [](const Placement& a, const Placement& b) {
      return a.server_id < b.server_id;
    };
    for (ImageRecord& image : *images) {
      if (!std::is_sorted(image.placements.begin(), image.placements.end(),
                          by_server)) {
        std::sort(image.placements.begin(), image.placements.end(), by_server);
      }
    }
    return images;
  };
  return Context(Read<std::vector<ImageRecord>>(get), "get {} images",
                 ids.size());
}

Result<std::vector<ImageLocation>> SqliteStore::Locate(
    const std::vector<ImageId>& ids) {
  if (ids.empty()) return std::vector<ImageLocation>{};
  const std::string array = IdArray(ids);
  auto locate = [&](SqliteConnection& c) -> Result<std::vector<ImageLocation>> {
    // GetImages' plan without the images table: one primary-key descent
    // per id into placements, whose rows carry all resolve needs (every
    // image has a copy: AddImage wants one, RemovePlacement keeps the
    // last). The rows of an id come out adjacent, by server_id.
    auto s = c.Prepare(
        "SELECT p.image_id, p.server_id, p.relative_path "
        "FROM json_each(?1) AS j CROSS JOIN placements AS p "
        "ON p.image_id = j.value");
    if (!s) return Fail(s.error());
    s->Bind(array);
    auto locations = ReadLocations(*s, std::numeric_limits<int64_t>::max());
    if (!locations) return locations;
    // Ascending server ids are part of the contract (Resolver::Choose
    // picks by position): certain, not a property of the plan.
    for (ImageLocation& l : *locations) {
      if (!std::is_sorted(l.server_ids.begin(), l.server_ids.end())) {
        std::sort(l.server_ids.begin(), l.server_ids.end());
      }
    }
    return locations;
  };
  return Context(Read<std::vector<ImageLocation>>(locate), "locate {} images",
                 ids.size());
}

Result<std::vector<ImageId>> SqliteStore::FindBySha256(
    const std::string& sha256) {
  auto find = [&](SqliteConnection& c) -> Result<std::vector<ImageId>> {
    auto s = c.Prepare(
        "SELECT image_id FROM images WHERE sha256 = ?1 "
        "ORDER BY created_at, image_id");
    if (!s) return Fail(s.error());
    s->Bind(sha256);
    return ReadIds(*s);
  };
  return Context(Read<std::vector<ImageId>>(find), "find sha256 {}", sha256);
}

Result<ImageRecord> SqliteStore::DeleteImage(const ImageId& id) {
  auto remove = [&](SqliteConnection& c) -> Result<ImageRecord> {
    auto image = ImageById(c, id);
    if (!image) return image;
    for (const Placement& p : image->placements) {
      // "> 0" keeps a count that drifted (a manual edit) from breaking the
      // CHECK and with it every delete on that server.
      auto drop = c.Prepare(
          "UPDATE servers SET cur_pic_amount = cur_pic_amount - 1 "
          "WHERE server_id = ?1 AND cur_pic_amount > 0");
      if (!drop) return Fail(drop.error());
      drop->Bind(p.server_id);
      if (auto ok = drop->Run(); !ok) return Fail(ok.error());
    }
    for (std::string_view sql : {"DELETE FROM placements WHERE image_id = ?1",
                                 "DELETE FROM images WHERE image_id = ?1"}) {
      auto s = c.Prepare(sql);
      if (!s) return Fail(s.error());
      s->Bind(id.str());
      if (auto ok = s->Run(); !ok) return Fail(ok.error());
    }
    return image;
  };
  return Context(Write<ImageRecord>(remove), "delete image {}", id.str());
}

Result<std::vector<ImageRecord>> SqliteStore::RecentImages(int64_t limit,
                                                           int64_t offset) {
  auto recent = [&](SqliteConnection& c) -> Result<std::vector<ImageRecord>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    if (auto ok = CheckCount(offset, "offset"); !ok) return Fail(ok.error());
    // image_id breaks ties between images of the same second, so pages
    // neither repeat nor skip one.
    auto s = c.Prepare(
        "SELECT i.image_id, i.content_type, i.bytes, i.width, i.height, "
        "i.sha256, i.created_at, p.server_id, p.relative_path "
        "FROM (SELECT * FROM images ORDER BY created_at DESC, image_id DESC "
        "LIMIT ?1 OFFSET ?2) i LEFT JOIN placements p USING (image_id) "
        "ORDER BY i.created_at DESC, i.image_id DESC, p.server_id");
    if (!s) return Fail(s.error());
    s->Bind(limit).Bind(offset);
    return ReadImages(*s);
  };
  return Context(Read<std::vector<ImageRecord>>(recent), "list recent images");
}

Result<StoreStats> SqliteStore::Stats() {
  auto stats = [](SqliteConnection& c) -> Result<StoreStats> {
    // Kept by triggers (migrations/sqlite/005_totals.sql): one row, not
    // a count of every image.
    auto s = c.Prepare("SELECT images, placements, bytes FROM totals");
    if (!s) return Fail(s.error());
    auto row = s->Step();
    if (!row) return Fail(row.error());
    return StoreStats{s->Int(0), s->Int(1), s->Int(2)};
  };
  return Context(Read<StoreStats>(stats), "read store stats");
}

// ---- copies ----

Result<void> SqliteStore::AddPlacement(const ImageId& id,
                                       const Placement& placement) {
  auto add = [&](SqliteConnection& c) -> Result<void> {
    auto exists =
        SelectId(c, "SELECT 1 FROM images WHERE image_id = ?1", id.str());
    if (!exists) return Fail(exists.error());
    if (!*exists) return Fail(ErrorCode::kNotFound, "no such image");
    auto held = c.Prepare(
        "SELECT 1 FROM placements WHERE image_id = ?1 AND server_id = ?2");
    if (!held) return Fail(held.error());
    held->Bind(id.str()).Bind(placement.server_id);
    auto row = held->Step();
    if (!row) return Fail(row.error());
    if (*row) {
      return Fail(
          ErrorCode::kConflict,
          fmt::format("server {} already holds it", placement.server_id));
    }
    auto bump = c.Prepare(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount + 1 "
        "WHERE server_id = ?1 AND cur_pic_amount < max_pic_amount "
        "AND state <> 'removed'");
    if (!bump) return Fail(bump.error());
    bump->Bind(placement.server_id);
    if (auto ok = bump->Run(); !ok) return ok;
    if (c.Changes() == 0) {
      return Fail(
          ErrorCode::kInsufficientStorage,
          fmt::format("server {} is full or removed", placement.server_id));
    }
    auto place = c.Prepare(
        "INSERT INTO placements (image_id, server_id, relative_path) "
        "VALUES (?1, ?2, ?3)");
    if (!place) return Fail(place.error());
    place->Bind(id.str())
        .Bind(placement.server_id)
        .Bind(placement.relative_path);
    return place->Run();
  };
  return Context(Write<void>(add), "add a copy of {} on server {}", id.str(),
                 placement.server_id);
}

Result<void> SqliteStore::RemovePlacement(const ImageId& id,
                                          int64_t server_id) {
  auto remove = [&](SqliteConnection& c) -> Result<void> {
    auto count = SelectId(
        c, "SELECT count(*) FROM placements WHERE image_id = ?1", id.str());
    if (!count) return Fail(count.error());
    auto drop = c.Prepare(
        "DELETE FROM placements WHERE image_id = ?1 AND server_id = ?2");
    if (!drop) return Fail(drop.error());
    drop->Bind(id.str()).Bind(server_id);
    if (auto ok = drop->Run(); !ok) return ok;
    if (c.Changes() == 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("server {} holds no copy", server_id));
    }
    if (count->value_or(0) <= 1) {
      return Fail(ErrorCode::kConflict, "it is the image's last copy");
    }
    auto s = c.Prepare(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount - 1 "
        "WHERE server_id = ?1 AND cur_pic_amount > 0");
    if (!s) return Fail(s.error());
    s->Bind(server_id);
    return s->Run();
  };
  return Context(Write<void>(remove), "remove the copy of {} on server {}",
                 id.str(), server_id);
}

Result<std::vector<ServerCopy>> SqliteStore::CopiesOnServer(
    int64_t server_id, const std::string& after_path, int64_t limit) {
  auto list = [&](SqliteConnection& c) -> Result<std::vector<ServerCopy>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    // SQLite compares TEXT bytewise (BINARY collation): a node's order.
    auto s = c.Prepare(
        "SELECT image_id, relative_path FROM placements "
        "WHERE server_id = ?1 AND relative_path > ?2 "
        "ORDER BY relative_path LIMIT ?3");
    if (!s) return Fail(s.error());
    s->Bind(server_id).Bind(after_path).Bind(limit);
    std::vector<ServerCopy> out;
    for (;;) {
      auto row = s->Step();
      if (!row) return Fail(row.error());
      if (!*row) return out;
      auto id = ImageId::Parse(s->Text(0));
      if (!id) {
        return Fail(
            ErrorCode::kInternal,
            fmt::format("invalid image id '{}' in the database", s->Text(0)));
      }
      out.push_back(ServerCopy{*std::move(id), std::string(s->Text(1))});
    }
  };
  return Context(Read<std::vector<ServerCopy>>(list),
                 "list the copies on server {}", server_id);
}

Result<std::vector<ImageRecord>> SqliteStore::ImagesAfter(
    const std::string& after_id, int64_t limit) {
  auto scan = [&](SqliteConnection& c) -> Result<std::vector<ImageRecord>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    auto s = c.Prepare(
        "SELECT i.image_id, i.content_type, i.bytes, i.width, i.height, "
        "i.sha256, i.created_at, p.server_id, p.relative_path "
        "FROM (SELECT * FROM images WHERE image_id > ?1 "
        "ORDER BY image_id LIMIT ?2) i "
        "LEFT JOIN placements p USING (image_id) "
        "ORDER BY i.image_id, p.server_id");
    if (!s) return Fail(s.error());
    s->Bind(after_id).Bind(limit);
    return ReadImages(*s);
  };
  return Context(Read<std::vector<ImageRecord>>(scan), "scan images");
}

Result<std::vector<ImageLocation>> SqliteStore::LocationsAfter(
    const std::string& after_id, int64_t limit) {
  auto scan = [&](SqliteConnection& c) -> Result<std::vector<ImageLocation>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    // Primary-key order, so no sort; no LIMIT: ReadLocations stops after
    // `limit` whole images, however many copies each has.
    auto s = c.Prepare(
        "SELECT image_id, server_id, relative_path FROM placements "
        "WHERE image_id > ?1 ORDER BY image_id, server_id");
    if (!s) return Fail(s.error());
    s->Bind(after_id);
    return ReadLocations(*s, limit);
  };
  return Context(Read<std::vector<ImageLocation>>(scan), "scan locations");
}

Result<void> SqliteStore::QueueRepair(const ImageId& id, int64_t now) {
  auto queue = [&](SqliteConnection& c) -> Result<void> {
    auto s = c.Prepare(
        "INSERT INTO repair_queue (image_id, queued_at) VALUES (?1, ?2) "
        "ON CONFLICT (image_id) DO NOTHING");
    if (!s) return Fail(s.error());
    s->Bind(id.str()).Bind(now);
    return s->Run();
  };
  return Context(Write<void>(queue), "queue {} for repair", id.str());
}

Result<int64_t> SqliteStore::QueueImagesShortOf(int64_t copies, int64_t now) {
  auto queue = [&](SqliteConnection& c) -> Result<int64_t> {
    auto s = c.Prepare(
        "INSERT INTO repair_queue (image_id, queued_at) "
        "SELECT image_id, ?2 FROM placements GROUP BY image_id "
        "HAVING count(*) < ?1 ON CONFLICT (image_id) DO NOTHING");
    if (!s) return Fail(s.error());
    s->Bind(copies).Bind(now);
    if (auto ok = s->Run(); !ok) return Fail(ok.error());
    return c.Changes();
  };
  return Context(Write<int64_t>(queue), "queue images short of {} copies",
                 copies);
}

Result<std::vector<ImageId>> SqliteStore::RepairQueue(
    const std::string& after_id, int64_t limit) {
  auto list = [&](SqliteConnection& c) -> Result<std::vector<ImageId>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    auto s = c.Prepare(
        "SELECT image_id FROM repair_queue WHERE image_id > ?1 "
        "ORDER BY image_id LIMIT ?2");
    if (!s) return Fail(s.error());
    s->Bind(after_id).Bind(limit);
    return ReadIds(*s);
  };
  return Context(Read<std::vector<ImageId>>(list), "read the repair queue");
}

Result<void> SqliteStore::DequeueRepair(const ImageId& id) {
  auto dequeue = [&](SqliteConnection& c) -> Result<void> {
    auto s = c.Prepare("DELETE FROM repair_queue WHERE image_id = ?1");
    if (!s) return Fail(s.error());
    s->Bind(id.str());
    return s->Run();
  };
  return Context(Write<void>(dequeue), "dequeue {}", id.str());
}

Result<int64_t> SqliteStore::RepairQueueLength() {
  auto count = [](SqliteConnection& c) -> Result<int64_t> {
    auto s = c.Prepare("SELECT count(*) FROM repair_queue");
    if (!s) return Fail(s.error());
    auto row = s->Step();
    if (!row) return Fail(row.error());
    return s->Int(0);
  };
  return Context(Read<int64_t>(count), "count the repair queue");
}

Result<void> SqliteStore::QueueFileDelete(const FileDelete& file, int64_t now) {
  auto queue = [&](SqliteConnection& c) -> Result<void> {
    auto s = c.Prepare(
        "INSERT INTO file_deletes (server_id, relative_path, queued_at) "
        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
    if (!s) return Fail(s.error());
    s->Bind(file.server_id).Bind(file.relative_path).Bind(now);
    return s->Run();
  };
  return Context(Write<void>(queue), "queue delete of {} on server {}",
                 file.relative_path, file.server_id);
}

Result<std::vector<FileDelete>> SqliteStore::FileDeletes(int64_t server_id,
                                                         int64_t limit) {
  auto list = [&](SqliteConnection& c) -> Result<std::vector<FileDelete>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    auto s = c.Prepare(
        "SELECT server_id, relative_path FROM file_deletes "
        "WHERE server_id = ?1 ORDER BY relative_path LIMIT ?2");
    if (!s) return Fail(s.error());
    s->Bind(server_id).Bind(limit);
    std::vector<FileDelete> out;
    for (;;) {
      auto row = s->Step();
      if (!row) return Fail(row.error());
      if (!*row) return out;
      out.push_back(FileDelete{s->Int(0), std::string(s->Text(1))});
    }
  };
  return Context(Read<std::vector<FileDelete>>(list), "read file deletes");
}

Result<void> SqliteStore::DequeueFileDelete(const FileDelete& file) {
  auto dequeue = [&](SqliteConnection& c) -> Result<void> {
    auto s = c.Prepare(
        "DELETE FROM file_deletes WHERE server_id = ?1 AND relative_path = ?2");
    if (!s) return Fail(s.error());
    s->Bind(file.server_id).Bind(file.relative_path);
    return s->Run();
  };
  return Context(Write<void>(dequeue), "dequeue delete of {} on server {}",
                 file.relative_path, file.server_id);
}

Result<bool> SqliteStore::AcquireLease(const std::string& name,
                                       const std::string& holder, int64_t now,
                                       int64_t ttl_seconds) {
  auto acquire = [&](SqliteConnection& c) -> Result<bool> {
    auto s = c.Prepare(
        "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
        "expires_at = excluded.expires_at "
        "WHERE leases.holder = excluded.holder OR leases.expires_at < ?4");
    if (!s) return Fail(s.error());
    s->Bind(name).Bind(holder).Bind(now + ttl_seconds).Bind(now);
    if (auto ok = s->Run(); !ok) return Fail(ok.error());
    return c.Changes() > 0;
  };
  return Context(Write<bool>(acquire), "take the {} lease", name);
}

Result<void> SqliteStore::SetSetting(const std::string& name,
                                     const std::string& value) {
  auto set = [&](SqliteConnection& c) -> Result<void> {
    auto s = c.Prepare(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    if (!s) return Fail(s.error());
    s->Bind(name).Bind(value);
    return s->Run();
  };
  return Context(Write<void>(set), "set {}", name);
}

Result<std::optional<std::string>> SqliteStore::GetSetting(
    const std::string& name) {
  auto get = [&](SqliteConnection& c) -> Result<std::optional<std::string>> {
    auto s = c.Prepare("SELECT value FROM settings WHERE name = ?1");
    if (!s) return Fail(s.error());
    s->Bind(name);
    auto row = s->Step();
    if (!row) return Fail(row.error());
    if (!*row || s->Text(0).empty()) return std::nullopt;
    return std::string(s->Text(0));
  };
  return Context(Read<std::optional<std::string>>(get), "read {}", name);
}

}  // namespace imgstore
