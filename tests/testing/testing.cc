#include "testing/testing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "core/layout.h"

namespace imgstore::testing {

struct LogCapture::State {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous;
};

LogCapture::LogCapture() : state_(std::make_unique<State>()) {
  state_->previous = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(state_->out);
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("capture", std::move(sink)));
}

LogCapture::~LogCapture() { spdlog::set_default_logger(state_->previous); }

std::string LogCapture::Text() const {
  spdlog::default_logger()->flush();
  return state_->out.str();
}

size_t LogCapture::Count(const std::string& needle) const {
  std::istringstream in(Text());
  size_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find(needle) != std::string::npos;
  return n;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base ? base : "/tmp") + "/imgstore-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && Signal(SIGTERM, std::chrono::seconds(5)) == -1)
    Signal(SIGKILL);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Signal(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, signal);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    ::usleep(10'000);
  }
  return -1;
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ::usleep(10'000);
  }
  return -1;
}

CommandResult RunImgstore(const std::vector<std::string>& args,
                          const std::string& tracker_url,
                          const std::string& admin_token) {
  TempDir dir;
  std::vector<std::string> argv = {"/usr/bin/env"};
  if (!tracker_url.empty()) argv.push_back("IMGSTORE_TRACKER=" + tracker_url);
  if (!admin_token.empty())
    argv.push_back("IMGSTORE_ADMIN_TOKEN=" + admin_token);
  argv.push_back(IMGSTORE_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = dir.str() + "/out.log";
  CommandResult result;
  {
    ChildProcess child(argv, log);
    result.exit_code = child.Wait();
  }
  result.output = ReadFile(log);
  return result;
}

std::string ChildProcess::Log() const { return ReadFile(log_path_); }

uint16_t FreePort() {
  // Below the kernel's ephemeral range (32768+), so no outgoing connection
  // takes the port between this check and the server's bind; random, so
  // suites running in parallel rarely try the same one.
  static std::mt19937 rng(std::random_device{}() ^ uint32_t(::getpid()));
  for (;;) {
    const uint16_t port = uint16_t(20000 + rng() % 12000);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool free =
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
}

bool WaitForStatus(const std::string& url, unsigned status,
                   std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        http::ClientRequest r;
        r.url = url;
        r.timeout = std::chrono::milliseconds(1000);
        auto res = http::Fetch(r);
        return res && res->status == status;
      },
      timeout);
}

size_t ImageFiles(const std::filesystem::path& root) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    n += e.is_regular_file() &&
         ParseImagePath(
             "/" + std::filesystem::relative(e.path(), root).generic_string())
             .has_value();
  }
  return n;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TestData(const std::string& name) {
  return ReadFile(std::filesystem::path(IMGSTORE_TEST_DATA) / name);
}

http::ClientResponse Send(
    const std::string& method, const std::string& url, std::string body,
    std::vector<std::pair<std::string, std::string>> headers) {
  http::ClientRequest r;
  r.method = method;
  r.url = url;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.timeout = std::chrono::milliseconds(30'000);
  auto res = http::Fetch(r);
  if (!res) {
    ADD_FAILURE() << res.error().message;
    return {};
  }
  return *res;
}

http::ClientResponse Get(
    const std::string& url,
    std::vector<std::pair<std::string, std::string>> headers) {
  return Send("GET", url, "", std::move(headers));
}

}  // namespace imgstore::testing
