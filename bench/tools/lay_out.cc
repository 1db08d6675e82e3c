// lay_out CORPUS_MANIFEST ROOT_DIR
//
// Copies every file listed in a corpus manifest (one path a line, relative
// paths taken from the manifest's directory) under ROOT_DIR with a node's
// layout: a fresh ImageId each, stored at core/layout's "aa/bb/<id>.<ext>".
// Prints the URL path "/aa/bb/<id>.<ext>" of each file, one a line, so a
// benchmark can serve ROOT_DIR from a node and from nginx and ask both for
// the same paths. The benchmarks need this because aa/bb come from a hash of
// the id, which only core/layout computes (a shell script cannot).
//
// Files whose extension names no stored format are skipped with a note on
// stderr. Exit status: 0 on success, 1 on any I/O failure, 2 on bad usage.

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "core/image_id.h"
#include "core/layout.h"

namespace imgstore {
namespace {

namespace fs = std::filesystem;

std::string LowerExtension(const fs::path& path) {
  std::string ext = path.extension().string();
  if (!ext.empty()) ext.erase(0, 1);  // the dot
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext;
}

int Run(const fs::path& manifest, const fs::path& root) {
  std::ifstream in(manifest);
  if (!in) {
    std::cerr << "lay_out: cannot read " << manifest.string() << "\n";
    return 1;
  }
  const fs::path base = manifest.parent_path();
  std::string line;
  size_t copied = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    fs::path source = line;
    if (source.is_relative()) source = base / source;
    std::optional<ImageFormat> format =
        FormatFromExtension(LowerExtension(source));
    if (!format) {
      std::cerr << "lay_out: skipping " << line << ": not an image format\n";
      continue;
    }
    ImagePath image = MakeImagePath(ImageId::New(), *format);
    fs::path target = root / image.relative;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (!ec) fs::copy_file(source, target, ec);
    if (ec) {
      std::cerr << "lay_out: copy " << source.string() << " to "
                << target.string() << ": " << ec.message() << "\n";
      return 1;
    }
    std::cout << '/' << image.relative << '\n';
    ++copied;
  }
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "lay_out: writing the path list failed\n";
    return 1;
  }
  std::cerr << "lay_out: " << copied << " files under " << root.string()
            << "\n";
  return 0;
}

}  // namespace
}  // namespace imgstore

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: lay_out CORPUS_MANIFEST ROOT_DIR\n";
    return 2;
  }
  return imgstore::Run(argv[1], argv[2]);
}
