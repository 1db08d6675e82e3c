#include "meta/migrations.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace imgstore {
namespace {

std::vector<EmbeddedFile> Files(const std::vector<std::string_view>& paths) {
  std::vector<EmbeddedFile> out;
  for (std::string_view path : paths) out.push_back({path, "SELECT 1;"});
  return out;
}

TEST(DialectMigrationsTest, PicksTheDialectsFilesInVersionOrder) {
  auto files = Files({"sqlite/002_more.sql", "postgres/001_initial.sql",
                      "sqlite/001_initial.sql", "sqlitex/001_other.sql",
                      "postgres/002_more.sql"});
  auto got = DialectMigrations(files, "sqlite");
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].version, 1);
  EXPECT_EQ((*got)[0].path, "sqlite/001_initial.sql");
  EXPECT_EQ((*got)[0].sql, "SELECT 1;");
  EXPECT_EQ((*got)[1].version, 2);
  EXPECT_EQ((*got)[1].path, "sqlite/002_more.sql");

  auto none = DialectMigrations(files, "mysql");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(DialectMigrationsTest, RefusesMisnamedOrMissingVersions) {
  const std::vector<std::vector<std::string_view>> must_refuse = {
      {"sqlite/1_initial.sql"},
      {"sqlite/0001_initial.sql"},
      {"sqlite/001initial.sql"},
      {"sqlite/001_.sql"},
      {"sqlite/001_initial.txt"},
      {"sqlite/00x_initial.sql"},
      {"sqlite/000_initial.sql"},
      {"sqlite/001_a.sql", "sqlite/001_b.sql"},  // one number twice
      {"sqlite/002_more.sql"},                   // 001 missing
      {"sqlite/001_a.sql", "sqlite/003_c.sql"},  // 002 missing
  };
  for (const auto& paths : must_refuse) {
    SCOPED_TRACE(testing::PrintToString(paths));
    auto files = Files(paths);
    auto got = DialectMigrations(files, "sqlite");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, ErrorCode::kInternal);
  }
}

TEST(DialectMigrationsTest, EveryEmbeddedDialectHasTheSameVersions) {
  std::set<std::string_view> dialects;
  for (const EmbeddedFile& file : kMigrations) {
    dialects.insert(file.path.substr(0, file.path.find('/')));
  }
  ASSERT_TRUE(dialects.contains("sqlite"));
  ASSERT_TRUE(dialects.contains("postgres"));
  auto sqlite = DialectMigrations(kMigrations, "sqlite");
  ASSERT_TRUE(sqlite) << sqlite.error().message;
  EXPECT_FALSE(sqlite->empty());
  for (std::string_view dialect : dialects) {
    SCOPED_TRACE(dialect);
    auto got = DialectMigrations(kMigrations, dialect);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->size(), sqlite->size());
  }
}

}  // namespace
}  // namespace imgstore
