#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "http/client.h"

namespace imgstore::testing {

// A fresh directory under $TMPDIR, removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// What the process's default logger writes while this lives, instead of
// stderr; the logger before is put back on destruction.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string Text() const;
  // How many lines hold `needle`.
  size_t Count(const std::string& needle) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A child process started from argv, with stdout and stderr to `log_path`.
// The destructor stops it (SIGTERM, then SIGKILL after 5 s) by its own pid,
// never anything else.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `signal` and waits (up to `timeout`) for the exit; returns the raw
  // wait status, or -1 on timeout.
  int Signal(int signal,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  int Kill9() { return Signal(9); }
  // Waits (up to `timeout`) for the process to exit by itself; returns its
  // exit code, or -1 on timeout or death by signal.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs IMGSTORE_BINARY with `args` to completion (60 s at most), with
// IMGSTORE_TRACKER and IMGSTORE_ADMIN_TOKEN set as given.
struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult RunImgstore(const std::vector<std::string>& args,
                          const std::string& tracker_url = "",
                          const std::string& admin_token = "");

// A TCP port on 127.0.0.1 that was free a moment ago (not thread-safe).
uint16_t FreePort();

// Polls `url` with GET until it answers `status` or `timeout` passes.
bool WaitForStatus(
    const std::string& url, unsigned status,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls `predicate` every 50 ms until true or `timeout`.
template <typename F>
bool Eventually(F predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    ::usleep(50'000);
  }
  return predicate();
}

std::string ReadFile(const std::filesystem::path& path);
// The image files under a node's root (not its name file or others).
size_t ImageFiles(const std::filesystem::path& root);
// A fixture file from tests/data.
std::string TestData(const std::string& name);

// Convenience over http::Fetch; aborts the test on a network failure.
http::ClientResponse Get(
    const std::string& url,
    std::vector<std::pair<std::string, std::string>> headers = {});
http::ClientResponse Send(
    const std::string& method, const std::string& url, std::string body,
    std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace imgstore::testing
