// `imgstore demo`: a tracker and N nodes as child processes of this one, on
// 127.0.0.1, with their state under one directory.
//
// Signals: SIGINT, SIGTERM, SIGHUP (its terminal closed) and SIGCHLD are
// blocked before the first fork and
// taken with sigtimedwait, so there is no handler and no race between "a
// child died" and "we were asked to stop". Each child gets the default mask
// and dispositions back before exec, its own process group (a terminal's
// Ctrl-C reaches only the demo, which then stops the children in order), and
// PR_SET_PDEATHSIG so it does not outlive a demo killed with SIGKILL. The
// demo signals only the pids it forked and has not reaped yet, so a pid is
// never reused under it.
#include "app/demo.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/tracker_client.h"
#include "core/hex.h"

extern char** environ;

namespace imgstore {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// How the printed commands name this program: "imgstore" when that is what
// the shell finds on PATH, else the binary's own path (a build tree's).
std::string CommandName() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "imgstore";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / "imgstore";
    if (fs::exists(candidate, ec) && fs::equivalent(candidate, self, ec))
      return "imgstore";
  }
  return self.string();
}

// Start-up is a tracker plus one heartbeat per node (every 2 s): 15 s is
// ample on a loaded machine, and short enough to report a hang.
constexpr auto kReadyTimeout = std::chrono::seconds(15);
// A child that fails to bind its port or open its files dies within this.
constexpr auto kMinAlive = std::chrono::seconds(1);
constexpr auto kStopTimeout = std::chrono::seconds(10);
constexpr int kHeartbeatSeconds = 2;
constexpr int kTailLines = 10;

void Say(const std::string& line) {
  std::fprintf(stderr, "imgstore: demo: %s\n", line.c_str());
}

std::string Errno(int err) { return std::strerror(err); }

// ------------------------------------------------------------- secrets

struct Secrets {
  std::string secret;
  std::string admin_token;
};

Result<std::string> RandomHex(size_t bytes) {
  std::string buf(bytes, '\0');
  size_t at = 0;
  while (at < bytes) {
    ssize_t n = ::getrandom(buf.data() + at, bytes - at, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIo, "getrandom: " + Errno(errno));
    at += size_t(n);
  }
  return HexEncode(buf);
}

// The cluster secret and admin token of this demo directory: those saved by
// an earlier run (so its database, nodes and the operator's bookmarked
// dashboard link keep working), else new random ones, saved (mode 0600).
Result<Secrets> LoadOrCreateSecrets(const fs::path& file) {
  std::error_code ec;
  if (fs::exists(file, ec)) {
    Secrets s;
    try {
      toml::table t = toml::parse_file(file.string());
      s.secret = t["secret"].value_or(std::string());
      s.admin_token = t["admin_token"].value_or(std::string());
    } catch (const toml::parse_error& e) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: {} (line {})", file.string(),
                              e.description(), e.source().begin.line));
    }
    if (s.secret.empty() || s.admin_token.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: needs secret and admin_token; remove the "
                              "file to make new ones",
                              file.string()));
    }
    return s;
  }
  auto secret = RandomHex(32);
  if (!secret) return Fail(secret.error());
  auto token = RandomHex(24);
  if (!token) return Fail(token.error());
  Secrets s{*secret, *token};
  const std::string text = fmt::format(
      "# imgstore demo: this cluster's secrets, reused by the next run.\n"
      "secret = \"{}\"\nadmin_token = \"{}\"\n",
      s.secret, s.admin_token);
  const std::string tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return Fail(ErrorCode::kIo, "create " + tmp + ": " + Errno(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIo,
                "write " + file.string() + ": " + Errno(ok ? errno : err));
  }
  return s;
}

// ------------------------------------------------------------- ports, lock

// True when a listener could bind 127.0.0.1:port now. SO_REUSEADDR as the
// servers set it, so connections in TIME_WAIT from an earlier run do not
// count as busy.
bool PortFree(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok =
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

// Holds DIR/demo.lock for the process's life (the fd is never closed; the
// kernel drops the lock at exit), so two demos cannot share one database.
Result<void> LockDir(const fs::path& dir) {
  const std::string path = (dir / "demo.lock").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorCode::kIo, "open " + path + ": " + Errno(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, size_t(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
      pid.pop_back();
    }
    ::close(fd);
    return Fail(ErrorCode::kConflict,
                fmt::format("another demo (pid {}) is running in {}", pid,
                            dir.string()));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    // The lock is what matters; the pid is only for the message above.
  }
  return {};
}

// ------------------------------------------------------------- children

struct Child {
  std::string name;        // "tracker", "node-1", ...
  std::string log;         // its stdout and stderr
  pid_t pid = -1;          // -1 once reaped
  pid_t started_pid = -1;  // for messages after it is reaped
  Clock::time_point started;
};

// The environment of a child: ours, with the cluster's secrets in place of
// any inherited ones. Secrets go by environment rather than argv, where
// every user of the machine could read them in ps.
std::vector<std::string> ChildEnv(const Secrets& s, bool tracker) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("IMGSTORE_SECRET=") ||
        v.starts_with("IMGSTORE_ADMIN_TOKEN=") ||
        v.starts_with("IMGSTORE_TRACKER=")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("IMGSTORE_SECRET=" + s.secret);
  if (tracker) env.push_back("IMGSTORE_ADMIN_TOKEN=" + s.admin_token);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::localtime(&t));
  return buf;
}

// Forks and execs `self args...` with stdout and stderr appended to `log`
// and stdin from /dev/null.
Result<pid_t> Spawn(const std::string& self, std::vector<std::string> args,
                    std::vector<std::string> env, const std::string& log) {
  int log_fd =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return Fail(ErrorCode::kIo, "open " + log + ": " + Errno(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return Fail(ErrorCode::kIo, "open /dev/null: " + Errno(errno));
  }
  std::string banner =
      fmt::format("--- {} imgstore demo starts: imgstore", Now());
  for (size_t i = 1; i < args.size(); ++i) banner += " " + args[i];
  banner += "\n";
  (void)!::write(log_fd, banner.data(), banner.size());

  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(log_fd);
    ::close(null_fd);
    return Fail(ErrorCode::kIo, "fork: " + Errno(err));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the demo died already
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP, SIGQUIT}) {
      ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(self.c_str(), argv.data(), envp.data());
    constexpr char kMsg[] = "imgstore demo: exec failed\n";
    (void)!::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so it holds before either side runs on
  ::close(log_fd);
  ::close(null_fd);
  return pid;
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) {
    return fmt::format("exit status {}", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(status),
                       ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("wait status {}", status);
}

// The last `n` lines of a log file.
std::vector<std::string> TailLines(const std::string& path, int n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 8192);
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  if (from > 0 && !lines.empty()) lines.erase(lines.begin());  // partial
  if (int(lines.size()) > n) lines.erase(lines.begin(), lines.end() - n);
  return lines;
}

void PrintTail(const Child& c) {
  auto lines = TailLines(c.log, kTailLines);
  if (lines.empty()) {
    std::fprintf(stderr, "  (%s is empty)\n", c.log.c_str());
    return;
  }
  std::fprintf(stderr, "  last lines of %s:\n", c.log.c_str());
  for (const std::string& l : lines) {
    std::fprintf(stderr, "  %s | %s\n", c.name.c_str(), l.c_str());
  }
}

// Reaps children that have ended; returns each, with its wait status
// (none while all still run).
std::vector<std::pair<Child*, int>> ReapEnded(std::vector<Child>& children) {
  std::vector<std::pair<Child*, int>> ended;
  for (Child& c : children) {
    if (c.pid <= 0) continue;
    int status = 0;
    pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) {
      c.pid = -1;
      ended.emplace_back(&c, status);
    }
  }
  return ended;
}

// SIGTERM to every child still running, up to kStopTimeout for them to
// finish, then SIGKILL to the rest. Only our own unreaped pids are signalled.
void StopAll(std::vector<Child>& children) {
  for (const Child& c : children) {
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  }
  const auto deadline = Clock::now() + kStopTimeout;
  auto running = [&] {
    int n = 0;
    for (const Child& c : children) n += c.pid > 0;
    return n;
  };
  while (running() > 0 && Clock::now() < deadline) {
    ReapEnded(children);
    if (running() > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (Child& c : children) {
    if (c.pid <= 0) continue;
    Say(fmt::format("{} (pid {}) did not stop within {} s; killing it", c.name,
                    c.pid, kStopTimeout.count()));
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    c.pid = -1;
  }
}

// Waits up to `timeout` for a signal of `set`; returns the signal,
// or 0 on timeout.
int WaitSignal(const sigset_t& set, std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = timeout.count() / 1000;
  ts.tv_nsec = long(timeout.count() % 1000) * 1'000'000;
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig < 0 ? 0 : sig;
}

// ------------------------------------------------------------- the demo

class Demo {
 public:
  Demo(const DemoOptions& options, fs::path dir, Secrets secrets)
      : options_(options),
        dir_(std::move(dir)),
        secrets_(std::move(secrets)),
        tracker_url_(fmt::format("http://127.0.0.1:{}", options.port)),
        client_(tracker_url_, secrets_.admin_token) {}

  // Runs until a signal or a child's death; returns the exit code.
  int Run(const sigset_t& signals);

 private:
  uint16_t NodePort(int i) const { return uint16_t(options_.port + i); }
  std::string NodeUrl(int i) const {
    return fmt::format("http://127.0.0.1:{}", NodePort(i));
  }

  Result<void> StartTracker();
  Result<void> StartNodes();
  // True when every node of ours shows usable in /v1/servers.
  bool NodesUsable() const;
  // Reports a child that ended on its own, then stops the rest.
  int ChildDied(Child& child, int status, bool starting);
  // Servers of an earlier run of this directory with more --nodes: their
  // images are unavailable or repaired elsewhere, which a user should hear.
  void SayLeftBehind() const;
  // A node that ended while the demo runs: said, with the command that
  // brings it back; the tracker and the other nodes go on.
  void NodeLost(const Child& child, int status) const;
  void PrintBanner() const;
  int Stop(int sig);

  const DemoOptions& options_;
  const fs::path dir_;
  const Secrets secrets_;
  const std::string tracker_url_;
  const TrackerClient client_;
  std::vector<Child> children_;
};

Result<void> Demo::StartTracker() {
  Child c{"tracker", (dir_ / "logs" / "tracker.log").string()};
  auto pid = Spawn(options_.self,
                   {"imgstore", "tracker", "--listen",
                    fmt::format("127.0.0.1:{}", options_.port), "--db",
                    "sqlite:" + (dir_ / "tracker.db").string(), "--replicas",
                    std::to_string(std::min(2, options_.nodes)),
                    // A node stopped for a minute is copied elsewhere, so
                    // the demo shows repair without a long wait.
                    "--repair-grace", "60"},
                   ChildEnv(secrets_, true), c.log);
  if (!pid) return Fail(pid.error());
  c.pid = c.started_pid = *pid;
  c.started = Clock::now();
  children_.push_back(std::move(c));
  return {};
}

Result<void> Demo::StartNodes() {
  for (int i = 1; i <= options_.nodes; ++i) {
    const std::string name = fmt::format("node-{}", i);
    Child c{name, (dir_ / "logs" / (name + ".log")).string()};
    auto pid =
        Spawn(options_.self,
              {"imgstore", "node", "--listen",
               fmt::format("127.0.0.1:{}", NodePort(i)), "--root",
               (dir_ / name).string(), "--tracker", tracker_url_, "--name",
               name, "--heartbeat", std::to_string(kHeartbeatSeconds)},
              ChildEnv(secrets_, false), c.log);
    if (!pid) return Fail(pid.error());
    c.pid = c.started_pid = *pid;
    c.started = Clock::now();
    children_.push_back(std::move(c));
  }
  return {};
}

bool Demo::NodesUsable() const {
  auto list = client_.ListServers();
  if (!list) return false;
  for (int i = 1; i <= options_.nodes; ++i) {
    const std::string url = NodeUrl(i);
    bool usable = false;
    for (const ServerEntry& e : list->servers) {
      usable |= e.row.server_url == url && e.row.flg_usable;
    }
    if (!usable) return false;
  }
  return true;
}

int Demo::ChildDied(Child& child, int status, bool starting) {
  Say(fmt::format("{} (pid {}) {}: {}", child.name, child.started_pid,
                  starting ? "failed to start" : "stopped unexpectedly",
                  DescribeStatus(status)));
  PrintTail(child);
  bool others = false;
  for (const Child& c : children_) others |= c.pid > 0;
  if (others) Say("stopping the others");
  StopAll(children_);
  return 1;
}

void Demo::SayLeftBehind() const {
  auto list = client_.ListServers();
  if (!list) return;
  std::vector<std::string> names;
  for (const ServerEntry& e : list->servers) {
    bool ours = false;
    for (int i = 1; i <= options_.nodes; ++i)
      ours |= e.row.server_url == NodeUrl(i);
    if (!ours && e.row.state != ServerState::kRemoved &&
        e.row.cur_pic_amount > 0)
      names.push_back(
          fmt::format("{} ({})", e.row.server_name, e.row.server_url));
  }
  if (names.empty()) return;
  Say(fmt::format(
      "note: {} of an earlier run of {} {} not started by this one (--nodes "
      "{}): {} images are read from other copies or show the default image, "
      "and where a copy survives are copied again after a minute. Run with the "
      "earlier --nodes "
      "to bring {} back.",
      fmt::join(names, ", "), dir_.string(), names.size() == 1 ? "is" : "are",
      options_.nodes, names.size() == 1 ? "its" : "their",
      names.size() == 1 ? "it" : "them"));
}

void Demo::NodeLost(const Child& child, int status) const {
  const int i = std::stoi(child.name.substr(child.name.find('-') + 1));
  Say(fmt::format(
      "{} (pid {}) stopped: {}. The tracker and the other nodes go on: its "
      "images are served from their other copies or as the default image, "
      "and copied again if it stays away for a minute. To bring it back "
      "(yours to stop: the demo stops only what it started):\n"
      "  IMGSTORE_SECRET={} {} node --listen 127.0.0.1:{} --root {} "
      "--tracker {} --name {}",
      child.name, child.started_pid, DescribeStatus(status), secrets_.secret,
      CommandName(), NodePort(i), (dir_ / child.name).string(), tracker_url_,
      child.name));
}

int Demo::Stop(int sig) {
  // What is still running: a node killed by hand is not stopped again.
  ReapEnded(children_);
  int nodes = 0;
  bool tracker = false;
  for (const Child& c : children_) {
    if (c.pid <= 0) continue;
    if (c.name == "tracker") {
      tracker = true;
    } else {
      ++nodes;
    }
  }
  std::printf("\nimgstore demo: %s: stopping %s%d node%s\n", ::strsignal(sig),
              tracker ? "the tracker and " : "", nodes, nodes == 1 ? "" : "s");
  std::fflush(stdout);
  StopAll(children_);
  std::printf("imgstore demo: stopped\n");
  return 0;
}

void Demo::PrintBanner() const {
  const std::string& t = secrets_.admin_token;
  const std::string command = CommandName();
  const std::string nodes =
      options_.nodes == 1
          ? NodeUrl(1)
          : fmt::format("{} .. {}", NodeUrl(1), NodeUrl(options_.nodes));
  std::printf(
      "\nimgstore demo: a tracker and %d node%s on 127.0.0.1, state in %s\n\n"
      "  site:         %s/\n"
      "  dashboard:    %s/admin#token=%s\n"
      "  admin token:  %s\n"
      "  secret:       %s\n"
      "  nodes:        %s\n"
      "  copies:       %s\n"
      "  logs:         %s\n\n"
      "Try, from another shell:\n"
      "  IMGSTORE_TRACKER=%s %s upload FILE\n"
      "  IMGSTORE_TRACKER=%s IMGSTORE_ADMIN_TOKEN=%s %s servers list\n\n"
      "Ctrl-C stops everything.\n",
      options_.nodes, options_.nodes == 1 ? "" : "s", dir_.c_str(),
      tracker_url_.c_str(), tracker_url_.c_str(), t.c_str(), t.c_str(),
      secrets_.secret.c_str(), nodes.c_str(),
      options_.nodes == 1 ? "1 of each image (with one node, a node gone "
                            "shows the default image)"
                          : "2 of each image; a node gone for a minute is "
                            "repaired",
      (dir_ / "logs/").c_str(), tracker_url_.c_str(), command.c_str(),
      tracker_url_.c_str(), t.c_str(), command.c_str());
  std::fflush(stdout);
}

int Demo::Run(const sigset_t& signals) {
  if (auto started = StartTracker(); !started) {
    Say(started.error().message);
    return 1;
  }
  // Start-up: the tracker answers /healthz, then the nodes are started (so
  // their first heartbeats find it) and must all turn usable.
  const auto deadline = Clock::now() + kReadyTimeout;
  bool nodes_started = false;
  while (true) {
    if (int sig = WaitSignal(signals, std::chrono::milliseconds(200));
        sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      return Stop(sig);
    }
    if (auto ended = ReapEnded(children_); !ended.empty()) {
      return ChildDied(*ended[0].first, ended[0].second, true);
    }
    const auto now = Clock::now();
    if (!nodes_started) {
      if (client_.Healthz()) {
        if (auto started = StartNodes(); !started) {
          Say(started.error().message);
          StopAll(children_);
          return 1;
        }
        nodes_started = true;
      }
    } else if (now - children_.back().started >= kMinAlive && NodesUsable()) {
      break;
    }
    if (now > deadline) {
      Say(fmt::format("not ready after {} s ({})", kReadyTimeout.count(),
                      nodes_started ? "the nodes are not all usable"
                                    : "the tracker does not answer /healthz"));
      for (const Child& c : children_) PrintTail(c);
      StopAll(children_);
      return 1;
    }
  }
  PrintBanner();
  SayLeftBehind();

  while (true) {
    int sig = WaitSignal(signals, std::chrono::seconds(1));
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) return Stop(sig);
    for (auto [child, status] : ReapEnded(children_)) {
      if (child->name == "tracker") return ChildDied(*child, status, false);
      NodeLost(*child, status);
    }
  }
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  if (options.port == 0 || int(options.port) + options.nodes > 65535) {
    Say(fmt::format("--port {} leaves no room for {} node ports after it",
                    options.port, options.nodes));
    return 2;
  }
  std::error_code ec;
  const fs::path dir = fs::absolute(options.dir, ec).lexically_normal();
  if (ec) {
    Say(fmt::format("{}: {}", options.dir, ec.message()));
    return 1;
  }
  // A refusal leaves no state directory behind that this run made.
  const bool fresh = !fs::exists(dir);
  fs::create_directories(dir / "logs", ec);
  for (int i = 1; !ec && i <= options.nodes; ++i) {
    fs::create_directories(dir / fmt::format("node-{}", i), ec);
  }
  if (ec) {
    Say(fmt::format("create {}: {}", dir.string(), ec.message()));
    return 1;
  }
  if (auto locked = LockDir(dir); !locked) {
    Say(locked.error().message);
    return 1;
  }
  auto secrets = LoadOrCreateSecrets(dir / "demo.toml");
  if (!secrets) {
    Say(secrets.error().message);
    return 1;
  }
  for (int i = 0; i <= options.nodes; ++i) {
    const uint16_t port = uint16_t(options.port + i);
    if (!PortFree(port)) {
      Say(
          fmt::format("port {} on 127.0.0.1 is in use{}; choose another "
                      "--port (the demo uses {} to {})",
                      port, i == 0 ? "" : fmt::format(" (for node-{})", i),
                      options.port, options.port + options.nodes));
      if (fresh) fs::remove_all(dir, ec);
      return 1;
    }
  }

  // Blocked before the first fork, for the life of the demo; see the top.
  sigset_t signals;
  ::sigemptyset(&signals);
  ::sigaddset(&signals, SIGINT);
  ::sigaddset(&signals, SIGTERM);
  ::sigaddset(&signals, SIGHUP);
  ::sigaddset(&signals, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);

  Demo demo(options, dir, std::move(*secrets));
  return demo.Run(signals);
}

}  // namespace imgstore
