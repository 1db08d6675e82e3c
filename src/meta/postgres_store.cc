#include "meta/postgres_store.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/hex.h"
#include "core/layout.h"
#include "meta/migrations.h"

namespace imgstore {

namespace {

// Advisory lock keys (any bigint; these spell "imgstmig" and "imgstsrv").
// Migrations: trackers starting together apply each migration once. Server
// writes by URL: two trackers seeing a new node's first heartbeats at once
// would otherwise both insert it.
constexpr int64_t kMigrationLock = 0x696d6773746d6967;
constexpr int64_t kServerLock = 0x696d677374737276;

// How long a connection attempt may take: a dead database host must turn
// into a 503 within a client's patience, not after TCP's minutes.
constexpr int kConnectTimeoutSeconds = 5;
// libpq takes connect_timeout in whole seconds, and no less than 2.
constexpr int kShortestConnectSeconds = 2;

// The one place libpq failures become Errors (STYLE §4). `sqlstate` is the
// five-character SQLSTATE, empty when the failure never reached the server
// (connection refused, lost, timed out).
ErrorCode CodeForSqlstate(std::string_view sqlstate) {
  if (sqlstate.empty()) return ErrorCode::kUnavailable;
  if (sqlstate == "23505") return ErrorCode::kConflict;  // unique_violation
  if (sqlstate == "53100") return ErrorCode::kInsufficientStorage;  // disk
  std::string_view cls = sqlstate.substr(0, 2);
  // 08 connection exception, 40 rollback (serialization, deadlock: retried
  // first), 53 insufficient resources (too many connections), 57 operator
  // intervention (shutdown, cannot connect now), 55P03 lock not available:
  // all temporary, so 503 and "try again".
  if (cls == "08" || cls == "40" || cls == "53" || cls == "57" ||
      sqlstate == "55P03") {
    return ErrorCode::kUnavailable;
  }
  if (cls == "58" || sqlstate == "XX001" || sqlstate == "XX002") {
    return ErrorCode::kIo;  // system I/O error, data corrupted
  }
  return ErrorCode::kInternal;  // SQL errors, constraint bugs: ours to fix
}

bool Retryable(std::string_view sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01";
}

// libpq's messages end in a newline and may span lines, the next indented
// by a tab; logs want one line, its words one space apart.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool space = c == '\n' || c == '\t' || c == ' ';
    if (!space) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

template <typename T, typename... Args>
Result<T> Context(Result<T> result, fmt::format_string<Args...> what,
                  Args&&... args) {
  if (!result) {
    result.error().message = fmt::format(what, std::forward<Args>(args)...) +
                             ": " + result.error().message;
  }
  return result;
}

// A result set, owned; rows and columns read as text (the text protocol).
class PgResult {
 public:
  explicit PgResult(PGresult* res) : res_(res) {}
  ~PgResult() { PQclear(res_); }
  PgResult(PgResult&& other) noexcept
      : res_(std::exchange(other.res_, nullptr)) {}
  PgResult& operator=(PgResult&&) = delete;

  int Rows() const { return PQntuples(res_); }
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t Changes() const { return std::atoll(PQcmdTuples(res_)); }
  bool IsNull(int row, int column) const {
    return PQgetisnull(res_, row, column) != 0;
  }
  std::string_view Text(int row, int column) const {
    return {PQgetvalue(res_, row, column),
            static_cast<size_t>(PQgetlength(res_, row, column))};
  }
  int64_t Int(int row, int column) const {
    return std::atoll(PQgetvalue(res_, row, column));
  }
  bool Bool(int row, int column) const {
    return PQgetvalue(res_, row, column)[0] == 't';
  }

 private:
  PGresult* res_;
};

// Parameters in order ($1, $2, ...), as text; nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

std::string Int(int64_t value) { return std::to_string(value); }

}  // namespace

// One PGconn and the statements prepared on it. Used by one thread at a
// time (the pool lends it out); never shared.
class PgConnection {
 public:
  static Result<std::unique_ptr<PgConnection>> Open(
      const std::string& url, int timeout_seconds = kConnectTimeoutSeconds) {
    const std::string timeout = std::to_string(timeout_seconds);
    // The URL goes in as "dbname" with expand_dbname, so libpq parses it
    // and the keywords after it add what the URL does not say.
    const char* keys[] = {"dbname", "connect_timeout", "application_name",
                          nullptr};
    const char* values[] = {url.c_str(), timeout.c_str(), "imgstore", nullptr};
    std::unique_ptr<PgConnection> c(
        new PgConnection(PQconnectdbParams(keys, values, 1)));
    if (c->conn_ == nullptr) {
      return Fail(ErrorCode::kUnavailable, "out of memory for a connection");
    }
    if (PQstatus(c->conn_) != CONNECTION_OK) {
      return Fail(ErrorCode::kUnavailable, OneLine(PQerrorMessage(c->conn_)));
    }
    // NOTICEs ("relation already exists, skipping") are not ours to print.
    PQsetNoticeProcessor(
        c->conn_, [](void*, const char*) {}, nullptr);
    return c;
  }

  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` as a statement prepared on this connection on first use
  // (PQprepare once per connection and text), with `params` bound.
  Result<PgResult> Exec(std::string_view sql, const Params& params = {}) {
    auto it = prepared_.find(std::string(sql));
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(prepared_.size());
      std::string text(sql);
      auto made = Check(
          Await(PQsendPrepare(conn_, name.c_str(), text.c_str(), 0, nullptr)),
          "prepare");
      if (!made) return Fail(made.error());
      it = prepared_.emplace(std::move(text), std::move(name)).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return Check(Await(PQsendQueryPrepared(conn_, it->second.c_str(),
                                           static_cast<int>(values.size()),
                                           values.data(), nullptr, nullptr, 0)),
                 nullptr);
  }

  // Runs a script of several statements (a migration, BEGIN, COMMIT)
  // through the simple protocol; not prepared.
  Result<PgResult> Script(std::string_view sql) {
    std::string text(sql);
    return Check(Await(PQsendQuery(conn_, text.c_str())), nullptr);
  }

  // Undoes an open transaction, if any; a connection that cannot even do
  // that is broken and dropped by the pool.
  void Rollback() {
    if (!timed_out_ && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(Await(PQsendQuery(conn_, "ROLLBACK")));
    }
  }

  // Every answer from now on must come by `deadline`; one that does not
  // fails the call with kUnavailable and breaks the connection (its
  // statement may still run once the database wakes up: the caller learns
  // no more than from a connection lost mid-call).
  void SetDeadline(std::chrono::steady_clock::time_point deadline) {
    deadline_ = deadline;
  }
  bool Broken() const { return timed_out_ || PQstatus(conn_) != CONNECTION_OK; }
  bool TimedOut() const { return timed_out_; }
  // The SQLSTATE of the last failure ("" for none or a connection failure).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}

  // The result of the command just sent (`sent`: PQsend*'s return), as
  // PQexec would give it (the last one; the error, if one stopped it), read
  // without waiting past deadline_. nullptr when sending failed or the
  // deadline passed (then timed_out_).
  PGresult* Await(int sent) {
    if (sent == 0) return nullptr;
    PGresult* last = nullptr;
    for (;;) {
      while (PQisBusy(conn_) != 0) {
        if (!Readable()) {
          timed_out_ = true;
          PQclear(last);
          return nullptr;
        }
        if (PQconsumeInput(conn_) == 0) break;  // lost: PQgetResult says
      }
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) return last;
      PQclear(last);
      last = r;
    }
  }

  // Waits until the socket has something to read or deadline_ passes.
  bool Readable() {
    for (;;) {
      int wait_ms = -1;
      if (deadline_ != std::chrono::steady_clock::time_point::max()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        wait_ms = static_cast<int>(std::min<int64_t>(left.count(), 60'000));
      }
      pollfd p{PQsocket(conn_), POLLIN, 0};
      const int n = ::poll(&p, 1, wait_ms);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return true;  // PQconsumeInput reports it
    }
  }

  Result<PgResult> Check(PGresult* raw, const char* doing) {
    if (raw == nullptr && timed_out_) {
      last_sqlstate_.clear();
      return Fail(ErrorCode::kUnavailable,
                  std::string(doing != nullptr ? doing : "query") +
                      ": no answer from the PostgreSQL database in time (is "
                      "it hung, or its host cut off?)");
    }
    PgResult res(raw);
    last_sqlstate_.clear();
    ExecStatusType status =
        raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return res;
    const char* state =
        raw == nullptr ? nullptr : PQresultErrorField(raw, PG_DIAG_SQLSTATE);
    if (state != nullptr) last_sqlstate_ = state;
    std::string why = OneLine(raw != nullptr ? PQresultErrorMessage(raw)
                                             : PQerrorMessage(conn_));
    if (why.empty()) why = OneLine(PQerrorMessage(conn_));
    // A statement that fails with no SQLSTATE on a healthy connection is a
    // protocol surprise, not an outage.
    ErrorCode code = CodeForSqlstate(last_sqlstate_);
    if (last_sqlstate_.empty() && !Broken()) code = ErrorCode::kInternal;
    if (doing != nullptr) why = std::string(doing) + ": " + why;
    return Fail(code, why);
  }

  PGconn* const conn_;
  std::unordered_map<std::string, std::string> prepared_;  // sql → name
  std::string last_sqlstate_;
  std::chrono::steady_clock::time_point deadline_ =
      std::chrono::steady_clock::time_point::max();
  bool timed_out_ = false;
};

namespace {

// ---- rows ----

constexpr std::string_view kServerColumns =
    "server_id, server_name, server_url, pic_root_path, max_pic_amount, "
    "cur_pic_amount, flg_usable, state, last_heartbeat_at, disk_free_bytes, "
    "bytes_used, internal_url";

Result<ServerRow> ReadServer(const PgResult& r, int i) {
  ServerRow row;
  row.server_id = r.Int(i, 0);
  row.server_name = r.Text(i, 1);
  row.server_url = r.Text(i, 2);
  row.pic_root_path = r.Text(i, 3);
  row.max_pic_amount = r.Int(i, 4);
  row.cur_pic_amount = r.Int(i, 5);
  row.flg_usable = r.Bool(i, 6);
  auto state = ParseServerState(r.Text(i, 7));
  if (!state) {
    return Fail(ErrorCode::kInternal,
                fmt::format("server {}: unknown state '{}' in the database",
                            row.server_id, r.Text(i, 7)));
  }
  row.state = *state;
  row.last_heartbeat_at = r.Int(i, 8);
  row.disk_free_bytes = r.Int(i, 9);
  row.bytes_used = r.Int(i, 10);
  row.internal_url = r.Text(i, 11);
  return row;
}

Result<ServerRow> ServerById(PgConnection& c, int64_t server_id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM servers WHERE server_id = $1", kServerColumns);
  auto r = c.Exec(sql, {Int(server_id)});
  if (!r) return Fail(r.error());
  if (r->Rows() == 0) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("server {} does not exist", server_id));
  }
  return ReadServer(*r, 0);
}

// The first column of the first row, or nullopt when there is none.
Result<std::optional<int64_t>> SelectId(PgConnection& c, std::string_view sql,
                                        const std::string& key) {
  auto r = c.Exec(sql, {key});
  if (!r) return Fail(r.error());
  if (r->Rows() == 0) return std::nullopt;
  return r->Int(0, 0);
}

constexpr std::string_view kImageColumns =
    "i.image_id, i.content_type, i.bytes, i.width, i.height, i.sha256, "
    "i.created_at, p.server_id, p.relative_path";

// Reads rows of kImageColumns from `images i LEFT JOIN placements p`: one
// row per copy, an image's rows adjacent.
Result<std::vector<ImageRecord>> ReadImages(const PgResult& r) {
  std::vector<ImageRecord> out;
  for (int i = 0; i < r.Rows(); ++i) {
    std::string_view id = r.Text(i, 0);
    if (out.empty() || out.back().id.str() != id) {
      auto parsed = ImageId::Parse(id);
      if (!parsed) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("invalid image id '{}' in the database", id));
      }
      auto format = FormatFromContentType(r.Text(i, 1));
      if (!format) {
        return Fail(ErrorCode::kInternal,
                    fmt::format("image {}: unknown content type '{}' in the "
                                "database",
                                id, r.Text(i, 1)));
      }
      out.push_back(ImageRecord{.id = *std::move(parsed),
                                .format = *format,
                                .bytes = r.Int(i, 2),
                                .width = r.Int(i, 3),
                                .height = r.Int(i, 4),
                                .sha256 = std::string(r.Text(i, 5)),
                                .created_at = r.Int(i, 6)});
    }
    if (!r.IsNull(i, 7)) {
      out.back().placements.push_back(
          Placement{r.Int(i, 7), std::string(r.Text(i, 8))});
    }
  }
  return out;
}

// Reads rows of `image_id, server_id, relative_path` from placements, an
// image's rows adjacent and by server_id. The format is the relative
// path's extension: placements hold MakeImagePath's paths.
Result<std::vector<ImageLocation>> ReadLocations(const PgResult& r) {
  std::vector<ImageLocation> out;
  for (int i = 0; i < r.Rows(); ++i) {
    std::string_view id = r.Text(i, 0);
    if (out.empty() || out.back().id.str() != id) {
      auto parsed = ImageId::Parse(id);
      std::string_view path = r.Text(i, 2);
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
    out.back().server_ids.push_back(r.Int(i, 1));
  }
  return out;
}

// Reads `SELECT image_id` rows into ids.
Result<std::vector<ImageId>> ReadIds(const PgResult& r) {
  std::vector<ImageId> out;
  for (int i = 0; i < r.Rows(); ++i) {
    auto id = ImageId::Parse(r.Text(i, 0));
    if (!id) {
      return Fail(
          ErrorCode::kInternal,
          fmt::format("invalid image id '{}' in the database", r.Text(i, 0)));
    }
    out.push_back(*std::move(id));
  }
  return out;
}

// `ids` as a PostgreSQL text[] literal, bound as one parameter so a batch
// of any size is one prepared query. An ImageId is [A-Za-z0-9_-] only, so
// the literal needs no escapes.
std::string TextArray(const std::vector<ImageId>& ids) {
  std::string array;
  array.reserve(2 + ids.size() * (ImageId::kMaxLength + 1));
  array += '{';
  for (const ImageId& id : ids) {
    if (array.size() > 1) array += ',';
    array += id.str();
  }
  array += '}';
  return array;
}

Result<ImageRecord> ImageById(PgConnection& c, const ImageId& id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM images i LEFT JOIN placements p USING (image_id) "
      "WHERE i.image_id = $1 ORDER BY p.server_id",
      kImageColumns);
  auto r = c.Exec(sql, {id.str()});
  if (!r) return Fail(r.error());
  auto images = ReadImages(*r);
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

Result<void> Lock(PgConnection& c, int64_t key) {
  auto r = c.Exec("SELECT pg_advisory_xact_lock($1)", {Int(key)});
  if (!r) return Fail(r.error());
  return {};
}

constexpr std::string_view kServerByUrl =
    "SELECT server_id FROM servers WHERE server_url = $1";

// ---- migrations ----

// Applies every migration above the recorded version, each in its own
// transaction that first takes the migration lock and re-reads the version:
// trackers starting together then apply each migration exactly once, and
// none sees a half-made schema.
Result<void> Migrate(PgConnection& c) {
  auto migrations = DialectMigrations(kMigrations, "postgres");
  if (!migrations) return Fail(migrations.error());
  const int latest = migrations->empty() ? 0 : migrations->back().version;
  // Version 0 is the check alone: a newer schema refuses even a database
  // with nothing pending for this build.
  for (int next = 0; next <= latest; ++next) {
    auto step = [&]() -> Result<void> {
      if (auto ok = c.Script("BEGIN"); !ok) return Fail(ok.error());
      if (auto ok = Lock(c, kMigrationLock); !ok) return ok;
      auto created = c.Script(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      if (!created) return Fail(created.error());
      auto current =
          c.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
      if (!current) return Fail(current.error());
      int64_t version = current->Int(0, 0);
      if (version > latest) {
        // An older binary must not write a schema it does not know.
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("the database has schema version {}, newer "
                                "than this build's {}",
                                version, latest));
      }
      if (next > 0 && version < next) {
        const Migration& m = (*migrations)[next - 1];
        if (auto ok = c.Script(m.sql); !ok) {
          return Context(Result<void>(Fail(ok.error())), "apply {}", m.path);
        }
        auto recorded = c.Exec(
            "INSERT INTO schema_migrations (version, applied_at) "
            "VALUES ($1, extract(epoch FROM now())::bigint)",
            {Int(m.version)});
        if (!recorded) return Fail(recorded.error());
      }
      if (auto ok = c.Script("COMMIT"); !ok) return Fail(ok.error());
      return {};
    }();
    if (!step) {
      c.Rollback();
      return step;
    }
  }
  return {};
}

}  // namespace

// ---- the store ----

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& url) {
  auto open = [&]() -> Result<std::unique_ptr<PostgresStore>> {
    auto first = PgConnection::Open(url);
    if (!first) return Fail(first.error());
    auto migrated = Migrate(**first);
    if (!migrated) return Fail(migrated.error());
    return std::unique_ptr<PostgresStore>(
        new PostgresStore(url, *std::move(first)));
  };
  return Context(open(), "open postgresql database {}", RedactStoreUrl(url));
}

PostgresStore::PostgresStore(std::string url,
                             std::unique_ptr<PgConnection> first)
    : url_(std::move(url)) {
  free_.push_back(std::move(first));
  open_ = 1;
}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PgConnection>> PostgresStore::Acquire(
    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!freed_.wait_until(lock, deadline, [this] {
        return !free_.empty() || open_ < kPoolSize;
      })) {
    unanswered_ = true;
    return Fail(ErrorCode::kUnavailable,
                "every connection to the PostgreSQL database is busy and "
                "none came free in time (is the database answering?)");
  }
  if (!free_.empty()) {
    auto c = std::move(free_.back());
    free_.pop_back();
    return c;
  }
  // A new connection, within what is left of the call's time.
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
  if (left < kShortestConnectSeconds) {
    return Fail(ErrorCode::kUnavailable,
                "no time left to connect to the PostgreSQL database (is it "
                "answering?)");
  }
  ++open_;  // reserve the slot, connect without the lock
  lock.unlock();
  auto c = PgConnection::Open(
      url_, static_cast<int>(std::min<int64_t>(left, kConnectTimeoutSeconds)));
  if (!c) {
    // A frozen server takes the connection and never answers its start.
    if (c.error().message.find("timeout expired") != std::string::npos)
      unanswered_ = true;
    lock.lock();
    --open_;
    freed_.notify_one();
    // libpq's reason names the database's host and port: for the log, not
    // for whichever client's request needed the connection. Once per 10 s,
    // as every request tries.
    if (connect_failures_logged_.Due()) {
      spdlog::warn("postgresql: cannot connect: {}", c.error().message);
    }
    return Fail(c.error().code,
                "cannot connect to the PostgreSQL database (the tracker's "
                "log says why)");
  }
  return c;
}

void PostgresStore::Release(std::unique_ptr<PgConnection> c) {
  {
    std::lock_guard lock(mu_);
    if (c->Broken()) {
      --open_;  // its slot goes to a fresh connection on demand
      c.reset();
    } else {
      free_.push_back(std::move(c));
    }
  }
  freed_.notify_one();
}

template <typename T, typename Fn>
Result<T> PostgresStore::Run(Kind kind, Fn&& fn,
                             std::chrono::steady_clock::duration timeout) {
  // While the database is not answering, one call asks; the rest fail now.
  const bool probe = unanswered_.load();
  if (probe && probing_.exchange(true)) {
    return Fail(ErrorCode::kUnavailable,
                "the PostgreSQL database is not answering (a call is "
                "waiting on it already)");
  }
  struct EndProbe {
    std::atomic<bool>* probing;
    ~EndProbe() {
      if (probing != nullptr) *probing = false;
    }
  } end_probe{probe ? &probing_ : nullptr};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    auto c = Acquire(deadline);
    if (!c) return Fail(c.error());
    PgConnection& conn = **c;
    conn.SetDeadline(deadline);
    bool commit_sent = false;
    auto result = [&]() -> Result<T> {
      if (kind == Kind::kRead) return fn(conn);
      if (auto ok = conn.Script("BEGIN"); !ok) return Fail(ok.error());
      Result<T> out = fn(conn);
      if (!out) return out;
      commit_sent = true;
      if (auto ok = conn.Script("COMMIT"); !ok) return Fail(ok.error());
      return out;
    }();
    std::string sqlstate = conn.last_sqlstate();
    // Whether a pooled connection died while idle (the server restarted):
    // nothing was committed, so a fresh connection may safely try again. A
    // connection lost during COMMIT leaves the outcome unknown: no retry.
    // Not one that timed out: the database is not answering, and the
    // call's time is up.
    bool lost = conn.Broken() && !conn.TimedOut() && !commit_sent;
    if (conn.TimedOut()) {
      unanswered_ = true;
    } else if (!conn.Broken()) {
      unanswered_ = false;  // it answered, if only with an error
    }
    if (!result) conn.Rollback();
    conn.SetDeadline(std::chrono::steady_clock::time_point::max());
    Release(*std::move(c));
    if (result || attempt >= kAttempts || !(Retryable(sqlstate) || lost)) {
      return result;
    }
    // A little backoff with jitter, so two retried transactions do not
    // collide again in step.
    std::this_thread::sleep_for(std::chrono::milliseconds(
        (1 << attempt) + static_cast<int>(std::rand() % 10)));
  }
}

// ---- servers ----

Result<std::vector<ServerRow>> PostgresStore::ListServers() {
  auto list = [](PgConnection& c) -> Result<std::vector<ServerRow>> {
    static const std::string sql = fmt::format(
        "SELECT {} FROM servers WHERE state <> 'removed' ORDER BY server_id",
        kServerColumns);
    auto r = c.Exec(sql);
    if (!r) return Fail(r.error());
    std::vector<ServerRow> out;
    for (int i = 0; i < r->Rows(); ++i) {
      auto server = ReadServer(*r, i);
      if (!server) return Fail(server.error());
      out.push_back(*std::move(server));
    }
    return out;
  };
  return Context(Run<std::vector<ServerRow>>(Kind::kRead, list),
                 "list servers");
}

Result<ServerRow> PostgresStore::AddServer(const std::string& name,
                                           const std::string& url,
                                           int64_t max_pic_amount) {
  auto add = [&](PgConnection& c) -> Result<ServerRow> {
    if (url.empty()) return Fail(ErrorCode::kInvalidArgument, "empty url");
    if (auto ok = CheckCount(max_pic_amount, "max_pic_amount"); !ok) {
      return Fail(ok.error());
    }
    auto r = c.Exec(
        "INSERT INTO servers (server_name, server_url, max_pic_amount) "
        "VALUES ($1, $2, $3) ON CONFLICT (server_url) DO NOTHING "
        "RETURNING server_id",
        {name, url, Int(max_pic_amount)});
    if (!r) return Fail(r.error());
    if (r->Rows() == 1) return ServerById(c, r->Int(0, 0));
    auto existing = SelectId(c, kServerByUrl, url);
    if (!existing) return Fail(existing.error());
    if (!*existing) return Fail(ErrorCode::kInternal, "url conflict, no row");
    auto row = ServerById(c, **existing);
    if (!row) return Fail(row.error());
    if (row->state != ServerState::kRemoved) return Fail(UrlTaken(*row));
    auto revived =
        c.Exec("UPDATE servers SET state = 'active' WHERE server_id = $1",
               {Int(row->server_id)});
    if (!revived) return Fail(revived.error());
    return ServerById(c, row->server_id);
  };
  return Context(Run<ServerRow>(Kind::kWrite, add), "add server {}", url);
}

Result<ServerRow> PostgresStore::RecordHeartbeat(
    const std::string& name, const std::string& url, const std::string& root,
    int64_t max_pic_amount, int64_t disk_free_bytes, int64_t bytes_used,
    int64_t now) {
  auto beat = [&](PgConnection& c) -> Result<ServerRow> {
    if (url.empty()) return Fail(ErrorCode::kInvalidArgument, "empty url");
    if (auto ok = CheckCount(max_pic_amount, "max_pic_amount"); !ok) {
      return Fail(ok.error());
    }
    // Find-or-create must not interleave with another tracker's for the
    // same node; heartbeats are a few a second, so one lock is cheap.
    if (auto ok = Lock(c, kServerLock); !ok) return Fail(ok.error());
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
                       "SELECT server_id FROM servers WHERE server_name = $1 "
                       "AND state <> 'removed' ORDER BY server_id LIMIT 1",
                       name);
      if (!found) return Fail(found.error());
      id = *found;
    }
    if (!id) {
      auto r = c.Exec(
          "INSERT INTO servers (server_name, server_url, pic_root_path, "
          "max_pic_amount, reported_max_pics, flg_usable, state, "
          "last_heartbeat_at, disk_free_bytes, bytes_used) "
          "VALUES ($1, $2, $3, $4, $4, true, 'active', $5, $6, $7) "
          "RETURNING server_id",
          {name, url, root, Int(max_pic_amount), Int(now), Int(disk_free_bytes),
           Int(bytes_used)});
      if (!r) return Fail(r.error());
      return ServerById(c, r->Int(0, 0));
    }
    // The node's --max-pics replaces the capacity only when the node reports
    // a new one; otherwise an operator's change stands.
    auto r = c.Exec(
        "UPDATE servers SET server_name = $1, server_url = $2, "
        "pic_root_path = $3, max_pic_amount = CASE reported_max_pics "
        "WHEN $4 THEN max_pic_amount ELSE $4 END, reported_max_pics = $4, "
        "last_heartbeat_at = $5, "
        "disk_free_bytes = $6, bytes_used = $7, flg_usable = true "
        "WHERE server_id = $8",
        {name, url, root, Int(max_pic_amount), Int(now), Int(disk_free_bytes),
         Int(bytes_used), Int(*id)});
    if (!r) return Fail(r.error());
    return ServerById(c, *id);
  };
  return Context(Run<ServerRow>(Kind::kWrite, beat), "record heartbeat of {}",
                 url);
}

Result<void> PostgresStore::SetInternalUrl(int64_t server_id,
                                           const std::string& url) {
  auto set = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec("UPDATE servers SET internal_url = $1 WHERE server_id = $2",
                    {url, Int(server_id)});
    if (!r) return Fail(r.error());
    if (r->Changes() == 0) {
      return Fail(ErrorCode::kNotFound, "no such server");
    }
    return {};
  };
  return Context(Run<void>(Kind::kWrite, set), "set internal url of server {}",
                 server_id);
}

Result<void> PostgresStore::SetUsable(int64_t server_id, bool usable) {
  auto set = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec("UPDATE servers SET flg_usable = $1 WHERE server_id = $2",
                    {std::string(usable ? "true" : "false"), Int(server_id)});
    if (!r) return Fail(r.error());
    if (r->Changes() == 0) {
      return Fail(ErrorCode::kNotFound, "no such server");
    }
    return {};
  };
  return Context(Run<void>(Kind::kWrite, set), "set server {} usable={}",
                 server_id, usable);
}

Result<ServerRow> PostgresStore::UpdateServer(int64_t server_id,
                                              const ServerUpdate& update) {
  auto change = [&](PgConnection& c) -> Result<ServerRow> {
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
    Params params;
    if (update.state) {
      params.emplace_back(std::string(ServerStateName(*update.state)));
    } else {
      params.emplace_back(std::nullopt);
    }
    if (update.max_pic_amount) {
      params.emplace_back(Int(*update.max_pic_amount));
    } else {
      params.emplace_back(std::nullopt);
    }
    params.emplace_back(Int(server_id));
    static const std::string sql = fmt::format(
        "UPDATE servers SET state = coalesce($1::text, state), "
        "max_pic_amount = coalesce($2::bigint, max_pic_amount) "
        "WHERE server_id = $3 RETURNING {}",
        kServerColumns);
    auto r = c.Exec(sql, params);
    if (!r) return Fail(r.error());
    if (r->Rows() == 0) return Fail(ErrorCode::kNotFound, "no such server");
    return ReadServer(*r, 0);
  };
  return Context(Run<ServerRow>(Kind::kWrite, change), "update server {}",
                 server_id);
}

Result<void> PostgresStore::RemoveServer(int64_t server_id) {
  auto remove = [&](PgConnection& c) -> Result<void> {
    // FOR UPDATE: an AddImage naming this server either committed before
    // (and its placement is seen below) or waits and then finds it removed.
    static const std::string sql =
        fmt::format("SELECT {} FROM servers WHERE server_id = $1 FOR UPDATE",
                    kServerColumns);
    auto locked = c.Exec(sql, {Int(server_id)});
    if (!locked) return Fail(locked.error());
    if (locked->Rows() == 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("server {} does not exist", server_id));
    }
    auto server = ReadServer(*locked, 0);
    if (!server) return Fail(server.error());
    auto holds =
        c.Exec("SELECT EXISTS (SELECT 1 FROM placements WHERE server_id = $1)",
               {Int(server_id)});
    if (!holds) return Fail(holds.error());
    if (holds->Bool(0, 0)) {
      return Fail(
          ErrorCode::kConflict,
          fmt::format("it still holds images ({})", server->cur_pic_amount));
    }
    auto r = c.Exec(
        "UPDATE servers SET state = 'removed', flg_usable = false "
        "WHERE server_id = $1",
        {Int(server_id)});
    if (!r) return Fail(r.error());
    // Files queued for deletion there go with it: nothing of it is kept.
    auto queued = c.Exec("DELETE FROM file_deletes WHERE server_id = $1",
                         {Int(server_id)});
    if (!queued) return Fail(queued.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, remove), "remove server {}",
                 server_id);
}

// ---- images ----

namespace {

// The placements of `image` in server id order: servers are bumped in that
// order, so two uploads to the same servers take their row locks in the
// same order and cannot deadlock. kInvalidArgument for none, or for a
// server named twice.
Result<std::vector<const Placement*>> SortedPlacements(
    const ImageRecord& image) {
  if (image.placements.empty())
    return Fail(ErrorCode::kInvalidArgument, "no placements");
  std::vector<const Placement*> placements;
  for (const Placement& p : image.placements) placements.push_back(&p);
  std::sort(placements.begin(), placements.end(),
            [](const Placement* a, const Placement* b) {
              return a->server_id < b->server_id;
            });
  for (size_t i = 1; i < placements.size(); ++i) {
    if (placements[i]->server_id == placements[i - 1]->server_id) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("server {} named twice", placements[i]->server_id));
    }
  }
  return placements;
}

// AddImage's rows, inside the caller's transaction.
Result<void> InsertImage(PgConnection& c, const ImageRecord& image,
                         const std::vector<const Placement*>& placements) {
  // DO NOTHING and a look at the row count, rather than parsing the
  // constraint's name to tell this conflict from others. A concurrent
  // insert of the same id makes this wait for its commit, then do nothing.
  auto insert = c.Exec(
      "INSERT INTO images (image_id, content_type, bytes, width, height, "
      "sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
      "ON CONFLICT (image_id) DO NOTHING",
      {image.id.str(), std::string(FormatContentType(image.format)),
       Int(image.bytes), Int(image.width), Int(image.height), image.sha256,
       Int(image.created_at)});
  if (!insert) return Fail(insert.error());
  if (insert->Changes() == 0) {
    return Fail(ErrorCode::kConflict, "the id already exists");
  }
  for (const Placement* p : placements) {
    // The capacity check and the increment are one statement. Under READ
    // COMMITTED a concurrent writer of the same row makes this wait, then
    // re-check the WHERE against the committed row, so no number of
    // trackers can push cur_pic_amount past max_pic_amount. A removed
    // server takes nothing: RemoveServer may have run since placement
    // chose it.
    auto bump = c.Exec(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount + 1 "
        "WHERE server_id = $1 AND cur_pic_amount < max_pic_amount "
        "AND state <> 'removed'",
        {Int(p->server_id)});
    if (!bump) return Fail(bump.error());
    if (bump->Changes() == 0) {
      auto server = ServerById(c, p->server_id);
      if (!server) return Fail(server.error());
      if (server->state == ServerState::kRemoved) {
        return Fail(ErrorCode::kInsufficientStorage,
                    fmt::format("server {} is removed", p->server_id));
      }
      return Fail(
          ErrorCode::kInsufficientStorage,
          fmt::format("server {} is full ({} of {} images)", p->server_id,
                      server->cur_pic_amount, server->max_pic_amount));
    }
    auto place = c.Exec(
        "INSERT INTO placements (image_id, server_id, relative_path) "
        "VALUES ($1, $2, $3)",
        {image.id.str(), Int(p->server_id), p->relative_path});
    if (!place) return Fail(place.error());
  }
  return {};
}

}  // namespace

Result<void> PostgresStore::AddImage(const ImageRecord& image) {
  auto placements = SortedPlacements(image);
  if (!placements) {
    return Context(Result<void>(Fail(placements.error())), "add image {}",
                   image.id.str());
  }
  auto add = [&](PgConnection& c) {
    return InsertImage(c, image, *placements);
  };
  return Context(Run<void>(Kind::kWrite, add), "add image {}", image.id.str());
}

Result<std::optional<ImageId>> PostgresStore::AddImageIfNew(
    const ImageRecord& image) {
  auto placements = SortedPlacements(image);
  if (!placements) {
    return Context(Result<std::optional<ImageId>>(Fail(placements.error())),
                   "add image {}", image.id.str());
  }
  if (!IsLowerHex(image.sha256, 64)) {
    return Context(Result<std::optional<ImageId>>(Fail(
                       ErrorCode::kInvalidArgument, "sha256 is not a digest")),
                   "add image {}", image.id.str());
  }
  // Transactions for the same bytes, from any tracker, take turns: each
  // first takes a lock named by the digest's first 60 bits, held to its
  // commit, so the look below sees what the one before it wrote.
  int64_t turn = 0;
  std::from_chars(image.sha256.data(), image.sha256.data() + 15, turn, 16);
  const std::string key = Int(turn);
  auto add = [&](PgConnection& c) -> Result<std::optional<ImageId>> {
    auto locked = c.Exec("SELECT pg_advisory_xact_lock($1::bigint)", {key});
    if (!locked) return Fail(locked.error());
    auto found = c.Exec("SELECT image_id FROM images WHERE sha256 = $1 LIMIT 1",
                        {image.sha256});
    if (!found) return Fail(found.error());
    auto ids = ReadIds(*found);
    if (!ids) return Fail(ids.error());
    if (!ids->empty()) return ids->front();
    if (auto ok = InsertImage(c, image, *placements); !ok)
      return Fail(ok.error());
    return std::nullopt;
  };
  return Context(Run<std::optional<ImageId>>(Kind::kWrite, add), "add image {}",
                 image.id.str());
}

Result<ImageRecord> PostgresStore::GetImage(const ImageId& id) {
  auto get = [&](PgConnection& c) { return ImageById(c, id); };
  return Context(Run<ImageRecord>(Kind::kRead, get), "get image {}", id.str());
}

Result<std::vector<ImageRecord>> PostgresStore::GetImages(
    const std::vector<ImageId>& ids) {
  if (ids.empty()) return std::vector<ImageRecord>{};
  // One text[] parameter (TextArray), so one snapshot; repeats are harmless
  // (= ANY matches each row once).
  const std::string array = TextArray(ids);
  auto get = [&](PgConnection& c) -> Result<std::vector<ImageRecord>> {
    static const std::string sql = fmt::format(
        "SELECT {} FROM images i LEFT JOIN placements p USING (image_id) "
        "WHERE i.image_id = ANY ($1::text[]) ORDER BY i.image_id, p.server_id",
        kImageColumns);
    auto r = c.Exec(sql, {array});
    if (!r) return Fail(r.error());
    return ReadImages(*r);
  };
  return Context(Run<std::vector<ImageRecord>>(Kind::kRead, get),
                 "get {} images", ids.size());
}

Result<std::vector<ImageLocation>> PostgresStore::Locate(
    const std::vector<ImageId>& ids) {
  if (ids.empty()) return std::vector<ImageLocation>{};
  // As GetImages, but from placements alone: the primary key (image_id,
  // server_id) answers it from one index descent per id without the image
  // rows (every image has a copy: AddImage wants one, RemovePlacement
  // keeps the last).
  const std::string array = TextArray(ids);
  auto locate = [&](PgConnection& c) -> Result<std::vector<ImageLocation>> {
    auto r = c.Exec(
        "SELECT image_id, server_id, relative_path FROM placements "
        "WHERE image_id = ANY ($1::text[]) ORDER BY image_id, server_id",
        {array});
    if (!r) return Fail(r.error());
    return ReadLocations(*r);
  };
  return Context(Run<std::vector<ImageLocation>>(Kind::kRead, locate),
                 "locate {} images", ids.size());
}

Result<std::vector<ImageId>> PostgresStore::FindBySha256(
    const std::string& sha256) {
  auto find = [&](PgConnection& c) -> Result<std::vector<ImageId>> {
    auto r = c.Exec(
        "SELECT image_id FROM images WHERE sha256 = $1 "
        "ORDER BY created_at, image_id",
        {sha256});
    if (!r) return Fail(r.error());
    return ReadIds(*r);
  };
  return Context(Run<std::vector<ImageId>>(Kind::kRead, find), "find sha256 {}",
                 sha256);
}

Result<ImageRecord> PostgresStore::DeleteImage(const ImageId& id) {
  auto remove = [&](PgConnection& c) -> Result<ImageRecord> {
    // Lock the image row first: of two deletes of one image, the second
    // waits, then finds nothing, instead of decrementing the counts twice.
    auto locked = c.Exec("SELECT 1 FROM images WHERE image_id = $1 FOR UPDATE",
                         {id.str()});
    if (!locked) return Fail(locked.error());
    if (locked->Rows() == 0) return Fail(ErrorCode::kNotFound, "no such image");
    auto image = ImageById(c, id);
    if (!image) return image;
    for (const Placement& p : image->placements) {
      // "> 0" keeps a count that drifted (a manual edit) from breaking the
      // CHECK and with it every delete on that server.
      auto drop = c.Exec(
          "UPDATE servers SET cur_pic_amount = cur_pic_amount - 1 "
          "WHERE server_id = $1 AND cur_pic_amount > 0",
          {Int(p.server_id)});
      if (!drop) return Fail(drop.error());
    }
    for (std::string_view sql : {"DELETE FROM placements WHERE image_id = $1",
                                 "DELETE FROM images WHERE image_id = $1"}) {
      auto r = c.Exec(sql, {id.str()});
      if (!r) return Fail(r.error());
    }
    return image;
  };
  return Context(Run<ImageRecord>(Kind::kWrite, remove), "delete image {}",
                 id.str());
}

Result<std::vector<ImageRecord>> PostgresStore::RecentImages(int64_t limit,
                                                             int64_t offset) {
  auto recent = [&](PgConnection& c) -> Result<std::vector<ImageRecord>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    if (auto ok = CheckCount(offset, "offset"); !ok) return Fail(ok.error());
    // image_id breaks ties between images of the same second, so pages
    // neither repeat nor skip one.
    static const std::string sql = fmt::format(
        "SELECT {} FROM (SELECT * FROM images "
        "ORDER BY created_at DESC, image_id DESC LIMIT $1 OFFSET $2) i "
        "LEFT JOIN placements p USING (image_id) "
        "ORDER BY i.created_at DESC, i.image_id DESC, p.server_id",
        kImageColumns);
    auto r = c.Exec(sql, {Int(limit), Int(offset)});
    if (!r) return Fail(r.error());
    return ReadImages(*r);
  };
  return Context(Run<std::vector<ImageRecord>>(Kind::kRead, recent),
                 "list recent images");
}

Result<StoreStats> PostgresStore::Stats() {
  auto stats = [](PgConnection& c) -> Result<StoreStats> {
    // One statement, so the three figures come from one snapshot.
    auto r = c.Exec(
        "SELECT (SELECT count(*) FROM images), "
        "(SELECT count(*) FROM placements), "
        "(SELECT coalesce(sum(bytes), 0) FROM images)");
    if (!r) return Fail(r.error());
    return StoreStats{r->Int(0, 0), r->Int(0, 1), r->Int(0, 2)};
  };
  return Context(Run<StoreStats>(Kind::kRead, stats, kSlowCallTimeout),
                 "read store stats");
}

// ---- copies ----

Result<void> PostgresStore::AddPlacement(const ImageId& id,
                                         const Placement& placement) {
  auto add = [&](PgConnection& c) -> Result<void> {
    // The image row locked, so a concurrent DeleteImage either ran before
    // (and this finds nothing) or waits until this copy is recorded.
    auto locked = c.Exec("SELECT 1 FROM images WHERE image_id = $1 FOR UPDATE",
                         {id.str()});
    if (!locked) return Fail(locked.error());
    if (locked->Rows() == 0) return Fail(ErrorCode::kNotFound, "no such image");
    auto held = c.Exec(
        "SELECT 1 FROM placements WHERE image_id = $1 AND server_id = $2",
        {id.str(), Int(placement.server_id)});
    if (!held) return Fail(held.error());
    if (held->Rows() > 0) {
      return Fail(
          ErrorCode::kConflict,
          fmt::format("server {} already holds it", placement.server_id));
    }
    auto bump = c.Exec(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount + 1 "
        "WHERE server_id = $1 AND cur_pic_amount < max_pic_amount "
        "AND state <> 'removed'",
        {Int(placement.server_id)});
    if (!bump) return Fail(bump.error());
    if (bump->Changes() == 0) {
      return Fail(
          ErrorCode::kInsufficientStorage,
          fmt::format("server {} is full or removed", placement.server_id));
    }
    auto place = c.Exec(
        "INSERT INTO placements (image_id, server_id, relative_path) "
        "VALUES ($1, $2, $3)",
        {id.str(), Int(placement.server_id), placement.relative_path});
    if (!place) return Fail(place.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, add), "add a copy of {} on server {}",
                 id.str(), placement.server_id);
}

Result<void> PostgresStore::RemovePlacement(const ImageId& id,
                                            int64_t server_id) {
  auto remove = [&](PgConnection& c) -> Result<void> {
    // The image row locked: two removals of its last two copies run one
    // after the other, and the second sees it would remove the last.
    auto locked = c.Exec("SELECT 1 FROM images WHERE image_id = $1 FOR UPDATE",
                         {id.str()});
    if (!locked) return Fail(locked.error());
    if (locked->Rows() == 0) return Fail(ErrorCode::kNotFound, "no such image");
    auto count = c.Exec("SELECT count(*) FROM placements WHERE image_id = $1",
                        {id.str()});
    if (!count) return Fail(count.error());
    auto drop =
        c.Exec("DELETE FROM placements WHERE image_id = $1 AND server_id = $2",
               {id.str(), Int(server_id)});
    if (!drop) return Fail(drop.error());
    if (drop->Changes() == 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("server {} holds no copy", server_id));
    }
    if (count->Int(0, 0) <= 1) {
      return Fail(ErrorCode::kConflict, "it is the image's last copy");
    }
    auto s = c.Exec(
        "UPDATE servers SET cur_pic_amount = cur_pic_amount - 1 "
        "WHERE server_id = $1 AND cur_pic_amount > 0",
        {Int(server_id)});
    if (!s) return Fail(s.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, remove),
                 "remove the copy of {} on server {}", id.str(), server_id);
}

Result<std::vector<ServerCopy>> PostgresStore::CopiesOnServer(
    int64_t server_id, const std::string& after_path, int64_t limit) {
  auto list = [&](PgConnection& c) -> Result<std::vector<ServerCopy>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    // COLLATE "C": byte order, a node's order, served by the index.
    auto r = c.Exec(
        "SELECT image_id, relative_path FROM placements "
        "WHERE server_id = $1 AND relative_path COLLATE \"C\" > $2 "
        "ORDER BY relative_path COLLATE \"C\" LIMIT $3",
        {Int(server_id), after_path, Int(limit)});
    if (!r) return Fail(r.error());
    std::vector<ServerCopy> out;
    auto ids = ReadIds(*r);
    if (!ids) return Fail(ids.error());
    for (int i = 0; i < r->Rows(); ++i) {
      out.push_back(
          ServerCopy{std::move((*ids)[i]), std::string(r->Text(i, 1))});
    }
    return out;
  };
  return Context(Run<std::vector<ServerCopy>>(Kind::kRead, list),
                 "list the copies on server {}", server_id);
}

Result<std::vector<ImageRecord>> PostgresStore::ImagesAfter(
    const std::string& after_id, int64_t limit) {
  auto scan = [&](PgConnection& c) -> Result<std::vector<ImageRecord>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    static const std::string sql = fmt::format(
        "SELECT {} FROM (SELECT * FROM images WHERE image_id > $1 "
        "ORDER BY image_id LIMIT $2) i "
        "LEFT JOIN placements p USING (image_id) "
        "ORDER BY i.image_id, p.server_id",
        kImageColumns);
    auto r = c.Exec(sql, {after_id, Int(limit)});
    if (!r) return Fail(r.error());
    return ReadImages(*r);
  };
  return Context(Run<std::vector<ImageRecord>>(Kind::kRead, scan),
                 "scan images");
}

Result<std::vector<ImageLocation>> PostgresStore::LocationsAfter(
    const std::string& after_id, int64_t limit) {
  auto scan = [&](PgConnection& c) -> Result<std::vector<ImageLocation>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    // `limit` whole images: the ids come from images, the rows from
    // placements.
    auto r = c.Exec(
        "SELECT p.image_id, p.server_id, p.relative_path "
        "FROM (SELECT image_id FROM images WHERE image_id > $1 "
        "ORDER BY image_id LIMIT $2) i JOIN placements p USING (image_id) "
        "ORDER BY p.image_id, p.server_id",
        {after_id, Int(limit)});
    if (!r) return Fail(r.error());
    return ReadLocations(*r);
  };
  return Context(Run<std::vector<ImageLocation>>(Kind::kRead, scan),
                 "scan locations");
}

Result<void> PostgresStore::QueueRepair(const ImageId& id, int64_t now) {
  auto queue = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec(
        "INSERT INTO repair_queue (image_id, queued_at) VALUES ($1, $2) "
        "ON CONFLICT (image_id) DO NOTHING",
        {id.str(), Int(now)});
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, queue), "queue {} for repair",
                 id.str());
}

Result<int64_t> PostgresStore::QueueImagesShortOf(int64_t copies, int64_t now) {
  auto queue = [&](PgConnection& c) -> Result<int64_t> {
    auto r = c.Exec(
        "INSERT INTO repair_queue (image_id, queued_at) "
        "SELECT image_id, $2 FROM placements GROUP BY image_id "
        "HAVING count(*) < $1 ON CONFLICT (image_id) DO NOTHING",
        {Int(copies), Int(now)});
    if (!r) return Fail(r.error());
    return r->Changes();
  };
  return Context(Run<int64_t>(Kind::kWrite, queue, kSlowCallTimeout),
                 "queue images short of {} copies", copies);
}

Result<std::vector<ImageId>> PostgresStore::RepairQueue(
    const std::string& after_id, int64_t limit) {
  auto list = [&](PgConnection& c) -> Result<std::vector<ImageId>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    auto r = c.Exec(
        "SELECT image_id FROM repair_queue WHERE image_id > $1 "
        "ORDER BY image_id LIMIT $2",
        {after_id, Int(limit)});
    if (!r) return Fail(r.error());
    return ReadIds(*r);
  };
  return Context(Run<std::vector<ImageId>>(Kind::kRead, list),
                 "read the repair queue");
}

Result<void> PostgresStore::DequeueRepair(const ImageId& id) {
  auto dequeue = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec("DELETE FROM repair_queue WHERE image_id = $1", {id.str()});
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, dequeue), "dequeue {}", id.str());
}

Result<int64_t> PostgresStore::RepairQueueLength() {
  auto count = [](PgConnection& c) -> Result<int64_t> {
    auto r = c.Exec("SELECT count(*) FROM repair_queue");
    if (!r) return Fail(r.error());
    return r->Int(0, 0);
  };
  return Context(Run<int64_t>(Kind::kRead, count), "count the repair queue");
}

Result<void> PostgresStore::QueueFileDelete(const FileDelete& file,
                                            int64_t now) {
  auto queue = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec(
        "INSERT INTO file_deletes (server_id, relative_path, queued_at) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        {Int(file.server_id), file.relative_path, Int(now)});
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, queue),
                 "queue delete of {} on server {}", file.relative_path,
                 file.server_id);
}

Result<std::vector<FileDelete>> PostgresStore::FileDeletes(int64_t server_id,
                                                           int64_t limit) {
  auto list = [&](PgConnection& c) -> Result<std::vector<FileDelete>> {
    if (auto ok = CheckCount(limit, "limit"); !ok) return Fail(ok.error());
    auto r = c.Exec(
        "SELECT server_id, relative_path FROM file_deletes "
        "WHERE server_id = $1 ORDER BY relative_path LIMIT $2",
        {Int(server_id), Int(limit)});
    if (!r) return Fail(r.error());
    std::vector<FileDelete> out;
    for (int i = 0; i < r->Rows(); ++i)
      out.push_back(FileDelete{r->Int(i, 0), std::string(r->Text(i, 1))});
    return out;
  };
  return Context(Run<std::vector<FileDelete>>(Kind::kRead, list),
                 "read file deletes");
}

Result<void> PostgresStore::DequeueFileDelete(const FileDelete& file) {
  auto dequeue = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec(
        "DELETE FROM file_deletes WHERE server_id = $1 AND relative_path = $2",
        {Int(file.server_id), file.relative_path});
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, dequeue),
                 "dequeue delete of {} on server {}", file.relative_path,
                 file.server_id);
}

Result<bool> PostgresStore::AcquireLease(const std::string& name,
                                         const std::string& holder, int64_t now,
                                         int64_t ttl_seconds) {
  auto acquire = [&](PgConnection& c) -> Result<bool> {
    // One statement: the row lock of the conflicting row makes concurrent
    // takers of an expired lease queue, and the second sees the first's.
    auto r = c.Exec(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
        "expires_at = excluded.expires_at "
        "WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        {name, holder, Int(now + ttl_seconds), Int(now)});
    if (!r) return Fail(r.error());
    return r->Changes() > 0;
  };
  return Context(Run<bool>(Kind::kWrite, acquire), "take the {} lease", name);
}

Result<void> PostgresStore::SetSetting(const std::string& name,
                                       const std::string& value) {
  auto set = [&](PgConnection& c) -> Result<void> {
    auto r = c.Exec(
        "INSERT INTO settings (name, value) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        {name, value});
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(Run<void>(Kind::kWrite, set), "set {}", name);
}

Result<std::optional<std::string>> PostgresStore::GetSetting(
    const std::string& name) {
  auto get = [&](PgConnection& c) -> Result<std::optional<std::string>> {
    auto r = c.Exec("SELECT value FROM settings WHERE name = $1", {name});
    if (!r) return Fail(r.error());
    if (r->Rows() == 0 || r->Text(0, 0).empty()) return std::nullopt;
    return std::string(r->Text(0, 0));
  };
  return Context(Run<std::optional<std::string>>(Kind::kRead, get), "read {}",
                 name);
}

// ---- administration ----

namespace {

Result<void> Administer(const std::string& maintenance_url,
                        const std::string& name, std::string_view verb,
                        const std::string& sql) {
  auto run = [&]() -> Result<void> {
    bool valid =
        !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        });
    if (!valid) {
      return Fail(ErrorCode::kInvalidArgument,
                  "database names here are [a-z0-9_]+");
    }
    auto c = PgConnection::Open(maintenance_url);
    if (!c) return Fail(c.error());
    auto r = (*c)->Script(sql);  // CREATE DATABASE cannot be prepared
    if (!r) return Fail(r.error());
    return {};
  };
  return Context(run(), "{} database {} via {}", verb, name,
                 RedactStoreUrl(maintenance_url));
}

}  // namespace

Result<void> CreatePostgresDatabase(const std::string& maintenance_url,
                                    const std::string& name) {
  return Administer(maintenance_url, name, "create", "CREATE DATABASE " + name);
}

Result<void> DropPostgresDatabase(const std::string& maintenance_url,
                                  const std::string& name) {
  // WITH (FORCE): a store of a failed test may still hold connections.
  return Administer(maintenance_url, name, "drop",
                    "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

std::string PostgresUrlWithDatabase(const std::string& url,
                                    const std::string& name) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t query = url.find('?', start);
  size_t slash = url.find('/', start);
  if (slash == std::string::npos || slash > query) slash = query;
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, slash == std::string::npos ? url.size() : slash) + "/" +
         name + rest;
}

}  // namespace imgstore
