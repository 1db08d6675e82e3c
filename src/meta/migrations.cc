#include "meta/migrations.h"

#include <fmt/format.h>

#include <algorithm>

namespace imgstore {

namespace {

constexpr size_t kDigits = 3;  // "NNN_": 999 schema changes is plenty

// The version of "NNN_<name>.sql", or 0 when the name has another shape.
int VersionOf(std::string_view file_name) {
  constexpr std::string_view kSuffix = ".sql";
  if (file_name.size() < kDigits + 2 + kSuffix.size() ||
      file_name[kDigits] != '_' || !file_name.ends_with(kSuffix)) {
    return 0;
  }
  int version = 0;
  for (char c : file_name.substr(0, kDigits)) {
    if (c < '0' || c > '9') return 0;
    version = version * 10 + (c - '0');
  }
  return version;
}

}  // namespace

Result<std::vector<Migration>> DialectMigrations(
    std::span<const EmbeddedFile> files, std::string_view dialect) {
  std::vector<Migration> out;
  for (const EmbeddedFile& file : files) {
    std::string_view path = file.path;
    if (!path.starts_with(dialect) || path.size() <= dialect.size() ||
        path[dialect.size()] != '/') {
      continue;
    }
    int version = VersionOf(path.substr(dialect.size() + 1));
    if (version == 0) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("migration {}: not named NNN_<name>.sql with "
                              "NNN from 001",
                              path));
    }
    out.push_back(Migration{version, path, file.bytes});
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) {
    return a.version < b.version;
  });
  // A gap or a repeated number is a file missing from, or doubled in, the
  // CMake list; applying around it would let the dialects drift apart.
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].version != static_cast<int>(i) + 1) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("migration {}: expected version {:03}",
                              out[i].path, i + 1));
    }
  }
  return out;
}

}  // namespace imgstore
