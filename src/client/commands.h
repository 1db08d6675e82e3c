#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/server.h"

namespace imgstore {

// What every client command needs (app/config.cc fills it).
struct ClientOptions {
  std::string tracker_url = "http://127.0.0.1:8080";
  std::string admin_token;
};

// One function per verb of SPEC §7. Each prints its result to stdout and
// one-line errors to stderr, and returns the process exit code.
int RunUpload(const ClientOptions& options,
              const std::vector<std::string>& files, bool json);
int RunImport(const ClientOptions& options, const std::string& dir, int jobs);
int RunGet(const ClientOptions& options, const std::string& id,
           const std::string& out);
int RunRm(const ClientOptions& options, const std::vector<std::string>& ids);
int RunStats(const ClientOptions& options);
// verb: list | add | drain | disable | enable | remove; arg: URL or ID.
int RunServers(const ClientOptions& options, const std::string& verb,
               const std::string& arg);

// `servers VERB ARG` checked before anything is sent: kInvalidArgument with
// a one-line message ("servers drain: missing server ID") when ARG is
// missing, extra or not a server id. RunServers exits 2 on it.
struct ServersAction {
  enum class Kind { kList, kAdd, kSetState, kRemove };
  Kind kind = Kind::kList;
  std::string url;                           // kAdd
  int64_t server_id = 0;                     // kSetState, kRemove
  ServerState state = ServerState::kActive;  // kSetState
};
Result<ServersAction> ParseServersAction(const std::string& verb,
                                         const std::string& arg);

// The files `import DIR` considers: every regular file under `dir`, sorted,
// hidden files and directories (names starting with '.') left out; symbolic
// links to files followed, to directories not (a link loop cannot trap the
// walk). A directory that cannot be read adds "PATH: why" to `errors`.
std::vector<std::string> ListImportFiles(const std::string& dir,
                                         std::vector<std::string>& errors);

}  // namespace imgstore
