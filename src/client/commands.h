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
int RunImport(const ClientOptions& options, const std::string& dir, int jobs,
              bool json);
int RunGet(const ClientOptions& options, const std::string& id,
           const std::string& out);
int RunRm(const ClientOptions& options, const std::vector<std::string>& ids);
int RunStats(const ClientOptions& options);
// verb: list | add | drain | disable | enable | remove; arg: URL or ID.
// With `wait`, `drain` then shows progress until the server holds nothing.
int RunServers(const ClientOptions& options, const std::string& verb,
               const std::string& arg, bool wait = false);
// Asks for (or with `stop`, cancels) a rebalance to within `spread`; with
// `wait`, shows progress until it is done.
int RunRebalance(const ClientOptions& options, double spread, bool wait,
                 bool stop);
// Compares every server's files with the records; `fix` deletes orphans
// older than `min_age_s` and forgets missing copies (queued for repair).
// Exits 0 when all is consistent (or fixed), 1 otherwise.
int RunFsck(const ClientOptions& options, bool fix, int64_t min_age_s);

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

// What `import DIR` considers: every regular file under `dir`, sorted;
// symbolic links to files followed. Left out, each with its reason in
// `skipped` (so the summary counts them): hidden files and directories
// (names starting with '.'), links to directories (a link loop cannot trap
// the walk), broken links, and what is neither file nor directory (a FIFO,
// a socket, a device). A directory that cannot be read is in `errors`.
struct ImportListing {
  std::vector<std::string> files;
  std::vector<std::pair<std::string, std::string>> skipped;  // path, why
  std::vector<std::pair<std::string, std::string>> errors;   // path, why
};
ImportListing ListImportFiles(const std::string& dir);

}  // namespace imgstore
