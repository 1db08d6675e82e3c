#pragma once

#include <span>
#include <string_view>

namespace imgstore {

// A file compiled into the binary by cmake/Embed.cmake.
struct EmbeddedFile {
  std::string_view path;  // relative to the embedded folder, e.g. "site/app.js"
  std::string_view bytes;
};

}  // namespace imgstore
