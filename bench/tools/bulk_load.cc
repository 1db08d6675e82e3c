// bulk_load DB COUNT SERVERS IDS_OUT: fills a tracker's SQLite database with
// COUNT synthetic images, each placed on one of server ids 1..SERVERS, and
// writes their ids, one a line, to IDS_OUT. For bench/resolve only: going
// through the API would take an fsync per image (hours at 1 M), so this
// writes the schema's tables directly in large transactions. The database
// must already exist (a tracker has run on it, applying the migrations).
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/image_id.h"
#include "core/layout.h"

namespace {

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "bulk_load: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: bulk_load DB COUNT SERVERS IDS_OUT\n");
    return 2;
  }
  const long count = std::atol(argv[2]);
  const int servers = std::atoi(argv[3]);
  sqlite3* db = nullptr;
  Check(sqlite3_open(argv[1], &db), db, "open");
  Check(sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;",
                     nullptr, nullptr, nullptr),
        db, "pragma");
  sqlite3_stmt* image = nullptr;
  sqlite3_stmt* placement = nullptr;
  Check(
      sqlite3_prepare_v2(
          db,
          "INSERT INTO images (image_id, content_type, bytes, width, height, "
          "sha256, created_at) VALUES (?, 'image/jpeg', 65536, 640, 480, ?, ?)",
          -1, &image, nullptr),
      db, "prepare images");
  Check(sqlite3_prepare_v2(
            db,
            "INSERT INTO placements (image_id, server_id, relative_path) "
            "VALUES (?, ?, ?)",
            -1, &placement, nullptr),
        db, "prepare placements");
  std::ofstream ids(argv[4]);
  const std::string sha(64, '0');
  Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  for (long i = 0; i < count; ++i) {
    imgstore::ImageId id = imgstore::ImageId::New();
    imgstore::ImagePath path =
        imgstore::MakeImagePath(id, imgstore::ImageFormat::kJpeg);
    sqlite3_bind_text(image, 1, id.str().c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(image, 2, sha.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(image, 3, 1'700'000'000 + i);
    Check(sqlite3_step(image), db, "insert image");
    sqlite3_reset(image);
    sqlite3_bind_text(placement, 1, id.str().c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(placement, 2, 1 + i % servers);
    sqlite3_bind_text(placement, 3, path.relative.c_str(), -1,
                      SQLITE_TRANSIENT);
    Check(sqlite3_step(placement), db, "insert placement");
    sqlite3_reset(placement);
    ids << id.str() << '\n';
    if (i % 100'000 == 99'999) {
      Check(sqlite3_exec(db, "COMMIT; BEGIN", nullptr, nullptr, nullptr), db,
            "commit");
    }
  }
  Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  // servers.cur_pic_amount is left alone: no file stands behind these rows,
  // and a server recorded as holding them while its node reports none is
  // what a node whose disk was lost looks like (the tracker refuses its
  // heartbeats). Resolve does not read the counts.
  sqlite3_finalize(image);
  sqlite3_finalize(placement);
  sqlite3_close(db);
  return 0;
}
