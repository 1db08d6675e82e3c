#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "core/embedded.h"
#include "core/error.h"

namespace imgstore {

// Every file under src/meta/migrations, compiled in by imgstore_embed
// (src/meta/CMakeLists.txt); paths like "sqlite/001_initial.sql".
extern const std::span<const EmbeddedFile> kMigrations;

// One numbered schema change of one SQL dialect. Views into the embedded
// file, so valid for the life of the program.
struct Migration {
  int version = 0;        // the file's NNN
  std::string_view path;  // "sqlite/001_initial.sql"
  std::string_view sql;   // statements only: the runner owns the transaction
};

// The migrations of `dialect` ("sqlite", "postgres") among `files`: those
// named "<dialect>/NNN_<name>.sql", ordered by version. Each store applies
// the ones above its recorded version, each in its own transaction; the
// dialects share numbers, so version N means the same schema in both.
// kInternal (a build mistake) when a file in the dialect's folder is
// misnamed, or the versions are not exactly 1..N.
Result<std::vector<Migration>> DialectMigrations(
    std::span<const EmbeddedFile> files, std::string_view dialect);

}  // namespace imgstore
