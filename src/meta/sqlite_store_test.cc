#include "meta/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "meta/migrations.h"

namespace imgstore {
namespace {

// What only the SQLite store promises; the shared behaviour is in
// metadata_store_test.cc.
class SqliteStoreTest : public testing::Test {
 protected:
  SqliteStoreTest() {
    std::string name =
        (std::filesystem::temp_directory_path() / "imgstore-sqlite-XXXXXX")
            .string();
    if (mkdtemp(name.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + name + " failed");
    }
    dir_ = name;
    path_ = (dir_ / "meta.db").string();
  }
  ~SqliteStoreTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Runs `sql` on a connection of our own, beside the store; the first
  // column of each row, as text.
  std::vector<std::string> Query(const std::string& sql) {
    sqlite3* db = nullptr;
    std::vector<std::string> out;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    auto collect = [](void* rows, int, char** values, char**) {
      static_cast<std::vector<std::string>*>(rows)->push_back(
          values[0] != nullptr ? values[0] : "NULL");
      return 0;
    };
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), collect, &out, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
    return out;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, RecordsEachMigrationOnce) {
  auto migrations = DialectMigrations(kMigrations, "sqlite");
  ASSERT_TRUE(migrations) << migrations.error().message;
  std::vector<std::string> want;
  for (const Migration& m : *migrations) {
    want.push_back(std::to_string(m.version));
  }
  for (int i = 0; i < 3; ++i) {
    auto store = SqliteStore::Open(path_);
    ASSERT_TRUE(store) << store.error().message;
  }
  EXPECT_EQ(Query("SELECT version FROM schema_migrations ORDER BY version"),
            want);
}

TEST_F(SqliteStoreTest, KeepsTheFoundingColumnNames) {
  ASSERT_TRUE(SqliteStore::Open(path_));
  EXPECT_EQ(Query("SELECT name FROM pragma_table_info('servers') ORDER BY cid"),
            (std::vector<std::string>{
                "server_id", "server_name", "server_url", "pic_root_path",
                "max_pic_amount", "cur_pic_amount", "flg_usable", "state",
                "last_heartbeat_at", "disk_free_bytes", "bytes_used",
                "reported_max_pics", "internal_url"}));
}

TEST_F(SqliteStoreTest, UsesWriteAheadLog) {
  ASSERT_TRUE(SqliteStore::Open(path_));
  // journal_mode=WAL is stored in the file, so any connection reports it.
  EXPECT_EQ(Query("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
}

TEST_F(SqliteStoreTest, RefusesASchemaNewerThanItKnows) {
  ASSERT_TRUE(SqliteStore::Open(path_));
  Query("INSERT INTO schema_migrations VALUES (999, 0)");
  auto store = SqliteStore::Open(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message.find("999"), std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabase) {
  std::ofstream(path_) << "this is not a database, just text long enough "
                          "to fill the sqlite header and then some more";
  auto store = SqliteStore::Open(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  EXPECT_NE(store.error().message.find(path_), std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, AFileDeletedWhileOpenAcknowledgesNothingMore) {
  auto store = SqliteStore::Open(path_);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE((*store)->AddServer("n1", "http://n1", 10));
  // An operator's mistake: the open file goes; the store still writes to it.
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path_ + suffix);
  auto added = (*store)->AddServer("n2", "http://n2", 10);
  ASSERT_FALSE(added) << "a write no restart would find is no success";
  EXPECT_EQ(added.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(added.error().message.find("deleted or replaced"),
            std::string::npos)
      << added.error().message;
  auto listed = (*store)->ListServers();
  ASSERT_FALSE(listed) << "and the registry's next read says so";
  EXPECT_EQ(listed.error().code, ErrorCode::kUnavailable);
}

TEST_F(SqliteStoreTest, ALockHeldPastTheBusyTimeoutIsUnavailable) {
  auto store = SqliteStore::Open(path_, std::chrono::milliseconds(50));
  ASSERT_TRUE(store) << store.error().message;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  // Waits out the busy timeout, then gives up with a retryable error.
  auto added = (*store)->AddServer("n1", "http://n1", 10);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(added.error().message, "add server http://n1: database is locked");
  EXPECT_TRUE((*store)->ListServers()->empty());
}

TEST_F(SqliteStoreTest, ALockReleasedWithinTheBusyTimeoutIsWaitedFor) {
  auto store = SqliteStore::Open(path_);
  ASSERT_TRUE(store) << store.error().message;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  std::thread release([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  });
  auto added = (*store)->AddServer("n1", "http://n1", 10);
  release.join();
  sqlite3_close(other);
  EXPECT_TRUE(added) << added.error().message;
}

// SQLite answers some SQLITE_BUSY at once, without its busy handler, while
// another connection switches a new file to WAL; the suite's "stores
// opening together" case failed in CI on one run in five from it.
TEST_F(SqliteStoreTest, StoresOpeningOneNewFileTogetherAllOpen) {
  constexpr int kRounds = 30, kStores = 6;
  for (int round = 0; round < kRounds; ++round) {
    std::filesystem::remove(path_);
    std::filesystem::remove(path_ + "-wal");
    std::filesystem::remove(path_ + "-shm");
    std::vector<std::string> errors(kStores);
    std::vector<std::thread> openers;
    for (int i = 0; i < kStores; ++i) {
      openers.emplace_back([&, i] {
        auto store = SqliteStore::Open(path_);
        if (!store) errors[i] = store.error().message;
      });
    }
    for (std::thread& t : openers) t.join();
    for (int i = 0; i < kStores; ++i) {
      EXPECT_EQ(errors[i], "") << "round " << round << ", store " << i;
    }
  }
  // Each migration of the last round applied exactly once.
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"),
            Query("SELECT max(version) FROM schema_migrations"));
}

}  // namespace
}  // namespace imgstore
