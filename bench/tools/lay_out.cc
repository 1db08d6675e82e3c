// lay_out CORPUS_MANIFEST ROOT_DIR
// lay_out --links COUNT MANIFEST ROOT_DIR
//
// Copies every file listed in a corpus manifest (one path a line, relative
// paths taken from the manifest's directory) under ROOT_DIR with a node's
// layout: a fresh ImageId each, stored at core/layout's "aa/bb/<id>.<ext>".
// Prints the URL path "/aa/bb/<id>.<ext>" of each file, one a line, so a
// benchmark can serve ROOT_DIR from a node and from nginx and ask both for
// the same paths. The benchmarks need this because aa/bb come from a hash of
// the id, which only core/layout computes (a shell script cannot).
//
// With --links, the manifest's files are stored under COUNT fresh names in
// turn, as hard links (a million names cost directory entries, not a
// million copies), so a benchmark can compare a node holding 10 k images
// with one holding 1 M of the same bytes. The names link to copies at
// ROOT_DIR/.source-<n> (names no node serves), one per file and another
// every 50,000 links (ext4 allows 65,000 to one inode).
//
// Files whose extension names no stored format are skipped with a note on
// stderr. Exit status: 0 on success, 1 on any I/O failure, 2 on bad usage.

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

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

int Links(long count, const fs::path& manifest, const fs::path& root) {
  std::ifstream in(manifest);
  struct Source {
    fs::path file;
    ImageFormat format;
    fs::path linked;  // the copy under ROOT_DIR the names link to
    long links = 0;
  };
  std::vector<Source> sources;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    fs::path file = line;
    if (file.is_relative()) file = manifest.parent_path() / file;
    if (auto format = FormatFromExtension(LowerExtension(file)))
      sources.push_back(Source{file, *format, {}, 0});
  }
  if (sources.empty() || count <= 0) {
    std::cerr << "lay_out: --links wants a positive count and a manifest of "
                 "images\n";
    return 2;
  }
  constexpr long kLinksPerCopy = 50'000;
  long copies = 0;
  for (long i = 0; i < count; ++i) {
    Source& s = sources[size_t(i) % sources.size()];
    std::error_code ec;
    if (s.links % kLinksPerCopy == 0) {
      s.linked = root / (".source-" + std::to_string(copies++));
      fs::create_directories(root, ec);
      if (!ec) fs::copy_file(s.file, s.linked, ec);
    }
    ++s.links;
    ImagePath image = MakeImagePath(ImageId::New(), s.format);
    fs::path target = root / image.relative;
    if (!ec) fs::create_directories(target.parent_path(), ec);
    if (!ec) fs::create_hard_link(s.linked, target, ec);
    if (ec) {
      std::cerr << "lay_out: link " << target.string() << ": " << ec.message()
                << "\n";
      return 1;
    }
    std::cout << '/' << image.relative << '\n';
  }
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "lay_out: writing the path list failed\n";
    return 1;
  }
  std::cerr << "lay_out: " << count << " names of " << copies << " files under "
            << root.string() << "\n";
  return 0;
}

}  // namespace
}  // namespace imgstore

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--links") {
    return imgstore::Links(std::atol(argv[2]), argv[3], argv[4]);
  }
  if (argc != 3) {
    std::cerr << "usage: lay_out CORPUS_MANIFEST ROOT_DIR\n"
                 "       lay_out --links COUNT MANIFEST ROOT_DIR\n";
    return 2;
  }
  return imgstore::Run(argv[1], argv[2]);
}
