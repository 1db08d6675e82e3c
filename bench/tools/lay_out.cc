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

// An image file a manifest lists.
struct Listed {
  fs::path file;
  ImageFormat format;
};

// The manifest's image files, relative paths taken from the manifest's
// directory; other files are skipped with a note. nullopt when unreadable.
std::optional<std::vector<Listed>> ReadManifest(const fs::path& manifest) {
  std::ifstream in(manifest);
  if (!in) {
    std::cerr << "lay_out: cannot read " << manifest.string() << "\n";
    return std::nullopt;
  }
  std::vector<Listed> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    fs::path file = line;
    if (file.is_relative()) file = manifest.parent_path() / file;
    std::optional<ImageFormat> format =
        FormatFromExtension(LowerExtension(file));
    if (!format) {
      std::cerr << "lay_out: skipping " << line << ": not an image format\n";
      continue;
    }
    out.push_back(Listed{file, *format});
  }
  return out;
}

// A fresh id's place under `root` for `format`, its URL path printed; the
// directories are made.
fs::path NewTarget(const fs::path& root, ImageFormat format,
                   std::error_code& ec) {
  ImagePath image = MakeImagePath(ImageId::New(), format);
  fs::path target = root / image.relative;
  fs::create_directories(target.parent_path(), ec);
  if (!ec) std::cout << '/' << image.relative << '\n';
  return target;
}

// Flushes the path list; the exit status.
int Finish(const std::string& summary) {
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "lay_out: writing the path list failed\n";
    return 1;
  }
  std::cerr << "lay_out: " << summary << "\n";
  return 0;
}

int Run(const fs::path& manifest, const fs::path& root) {
  auto listed = ReadManifest(manifest);
  if (!listed) return 1;
  for (const Listed& l : *listed) {
    std::error_code ec;
    const fs::path target = NewTarget(root, l.format, ec);
    if (!ec) fs::copy_file(l.file, target, ec);
    if (ec) {
      std::cerr << "lay_out: copy " << l.file.string() << " to "
                << target.string() << ": " << ec.message() << "\n";
      return 1;
    }
  }
  return Finish(std::to_string(listed->size()) + " files under " +
                root.string());
}

int Links(long count, const fs::path& manifest, const fs::path& root) {
  auto listed = ReadManifest(manifest);
  if (!listed) return 1;
  if (listed->empty() || count <= 0) {
    std::cerr << "lay_out: --links wants a positive count and a manifest of "
                 "images\n";
    return 2;
  }
  // Each listed file's copy under ROOT_DIR that the names link to, and how
  // many links it has.
  std::vector<std::pair<fs::path, long>> copies(listed->size());
  constexpr long kLinksPerCopy = 50'000;
  long made = 0;
  for (long i = 0; i < count; ++i) {
    const size_t k = size_t(i) % listed->size();
    auto& [copy, links] = copies[k];
    std::error_code ec;
    if (links % kLinksPerCopy == 0) {
      copy = root / (".source-" + std::to_string(made++));
      fs::create_directories(root, ec);
      if (!ec) fs::copy_file((*listed)[k].file, copy, ec);
    }
    ++links;
    fs::path target;
    if (!ec) target = NewTarget(root, (*listed)[k].format, ec);
    if (!ec) fs::create_hard_link(copy, target, ec);
    if (ec) {
      std::cerr << "lay_out: link " << target.string() << ": " << ec.message()
                << "\n";
      return 1;
    }
  }
  return Finish(std::to_string(count) + " names of " + std::to_string(made) +
                " files under " + root.string());
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
