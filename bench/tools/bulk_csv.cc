// bulk_csv COUNT SERVERS IMAGES_CSV PLACEMENTS_CSV IDS_OUT: writes COUNT
// synthetic images as CSV for PostgreSQL's COPY, the counterpart of
// bulk_load (which writes SQLite directly). IMAGES_CSV gets rows of
// image_id,content_type,bytes,width,height,sha256,created_at (the column
// order of the images table); PLACEMENTS_CSV gets
// image_id,server_id,relative_path, each image placed on one of server ids
// 1..SERVERS; IDS_OUT the ids, one a line. The same rows bulk_load writes,
// so the SQLite and PostgreSQL runs of bench/resolve hold the same data.
// No quoting is needed: ids are [A-Za-z0-9_-] and paths "aa/bb/<id>.jpg".
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/image_id.h"
#include "core/layout.h"

namespace {

std::FILE* Open(const char* path) {
  std::FILE* f = std::fopen(path, "w");
  if (f == nullptr) {
    std::perror(path);
    std::exit(1);
  }
  static_cast<void>(std::setvbuf(f, nullptr, _IOFBF, 1 << 20));
  return f;
}

void Close(std::FILE* f, const char* path) {
  if (std::ferror(f) != 0 || std::fclose(f) != 0) {
    std::perror(path);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: bulk_csv COUNT SERVERS IMAGES_CSV PLACEMENTS_CSV "
                 "IDS_OUT\n");
    return 2;
  }
  const long count = std::atol(argv[1]);
  const long servers = std::atol(argv[2]);
  if (count < 0 || servers < 1) {
    std::fprintf(stderr, "bulk_csv: COUNT >= 0 and SERVERS >= 1\n");
    return 2;
  }
  std::FILE* images = Open(argv[3]);
  std::FILE* placements = Open(argv[4]);
  std::FILE* ids = Open(argv[5]);
  const std::string sha(64, '0');
  for (long i = 0; i < count; ++i) {
    const imgstore::ImageId id = imgstore::ImageId::New();
    const imgstore::ImagePath path =
        imgstore::MakeImagePath(id, imgstore::ImageFormat::kJpeg);
    std::fprintf(images, "%s,image/jpeg,65536,640,480,%s,%ld\n",
                 id.str().c_str(), sha.c_str(), 1'700'000'000 + i);
    std::fprintf(placements, "%s,%ld,%s\n", id.str().c_str(), 1 + i % servers,
                 path.relative.c_str());
    std::fprintf(ids, "%s\n", id.str().c_str());
  }
  Close(images, argv[3]);
  Close(placements, argv[4]);
  Close(ids, argv[5]);
  return 0;
}
