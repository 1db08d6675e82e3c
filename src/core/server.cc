#include "core/server.h"

#include <fmt/format.h>

namespace imgstore {

std::string_view ServerStateName(ServerState state) {
  switch (state) {
    case ServerState::kActive:
      return "active";
    case ServerState::kDraining:
      return "draining";
    case ServerState::kDisabled:
      return "disabled";
    case ServerState::kRemoved:
      return "removed";
  }
  return "active";
}

std::optional<ServerState> ParseServerState(std::string_view name) {
  for (auto s : {ServerState::kActive, ServerState::kDraining,
                 ServerState::kDisabled, ServerState::kRemoved}) {
    if (ServerStateName(s) == name) return s;
  }
  return std::nullopt;
}

Result<void> CheckServerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxServerNameLength) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("a server name is 1 to {} characters",
                            kMaxServerNameLength));
  }
  for (char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                       c == '.' || c == ':' || c == '@';
    if (!plain) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a server name has letters, digits and - _ . : @ only");
    }
  }
  return {};
}

}  // namespace imgstore
