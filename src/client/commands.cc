#include "client/commands.h"
namespace imgstore {
int RunUpload(const ClientOptions&, const std::vector<std::string>&, bool) { return 1; }
int RunImport(const ClientOptions&, const std::string&, int) { return 1; }
int RunGet(const ClientOptions&, const std::string&, const std::string&) { return 1; }
int RunRm(const ClientOptions&, const std::vector<std::string>&) { return 1; }
int RunStats(const ClientOptions&) { return 1; }
int RunServers(const ClientOptions&, const std::string&, const std::string&) { return 1; }
}  // namespace imgstore
