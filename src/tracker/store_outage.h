#pragma once

// For unit tests only: a database outage, as a tracker's reads see it.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace imgstore {

// Makes the server table of the SQLite store at `db` unreadable (renamed
// away) or readable again, from a connection of the test's own.
inline void SetServerTableReadable(const std::string& db, bool readable) {
  sqlite3* c = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &c), SQLITE_OK);
  const char* sql = readable ? "ALTER TABLE servers_away RENAME TO servers"
                             : "ALTER TABLE servers RENAME TO servers_away";
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(c, sql, nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(c);
}

}  // namespace imgstore
