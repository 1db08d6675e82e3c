#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/image_id.h"
#include "core/layout.h"

namespace imgstore {

// One copy of an image: which server holds it, at which relative path.
struct Placement {
  int64_t server_id = 0;
  std::string relative_path;  // "aa/bb/<id>.<ext>"
};

// A row of the image table with its placements.
struct ImageRecord {
  ImageId id;
  ImageFormat format = ImageFormat::kJpeg;
  int64_t bytes = 0;
  int64_t width = 0;
  int64_t height = 0;
  std::string sha256;                 // 64 lower-case hex digits
  int64_t created_at = 0;             // Unix seconds
  std::vector<Placement> placements;  // in server_id order, as stored
};

}  // namespace imgstore
