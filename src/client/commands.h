#pragma once

#include <string>
#include <vector>

namespace imgstore {

// What every client command needs (app/config.cc fills it).
struct ClientOptions {
  std::string tracker_url = "http://127.0.0.1:8080";
  std::string admin_token;
};

// One function per verb of SPEC §7. Each prints its result to stdout and
// one-line errors to stderr, and returns the process exit code.
int RunUpload(const ClientOptions& options, const std::vector<std::string>& files, bool json);
int RunImport(const ClientOptions& options, const std::string& dir, int jobs);
int RunGet(const ClientOptions& options, const std::string& id, const std::string& out);
int RunRm(const ClientOptions& options, const std::vector<std::string>& ids);
int RunStats(const ClientOptions& options);
// verb: list | add | drain | disable | enable | remove; arg: URL or ID.
int RunServers(const ClientOptions& options, const std::string& verb, const std::string& arg);

}  // namespace imgstore
