#include "node/file_store.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/image_id.h"
#include "core/layout.h"
#include "testing/testing.h"

namespace imgstore {
namespace {

namespace fs = std::filesystem;

class FileStoreListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileStore::Open(root(), 1'000'000, 0);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
  }

  std::string root() const { return dir_.str() + "/root"; }

  // Stores a new image; returns its relative path.
  std::string Add(const std::string& bytes = "bytes") {
    ImagePath path = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
    auto put = store_->Put(path, bytes);
    EXPECT_TRUE(put.has_value()) << put.error().message;
    stored_.push_back(path.relative);
    std::sort(stored_.begin(), stored_.end());
    return path.relative;
  }

  void Plant(const std::string& relative, const std::string& bytes = "x") {
    fs::create_directories(fs::path(root() + "/" + relative).parent_path());
    std::ofstream(root() + "/" + relative, std::ios::binary) << bytes;
  }

  std::vector<std::string> Paths(std::string_view after, size_t limit) {
    auto listed = store_->List(after, limit);
    EXPECT_TRUE(listed.has_value()) << listed.error().message;
    std::vector<std::string> out;
    if (listed) {
      for (const auto& f : *listed) out.push_back(f.path);
    }
    return out;
  }

  // Every page of `limit`, walked as a caller would.
  std::vector<std::string> Walk(size_t limit) {
    std::vector<std::string> all;
    std::string after;
    for (int pages = 0; pages < 10'000; ++pages) {
      auto page = Paths(after, limit);
      EXPECT_LE(page.size(), limit);
      for (const auto& p : page) EXPECT_GT(p, after) << "strictly after";
      all.insert(all.end(), page.begin(), page.end());
      if (page.size() < limit) break;
      after = page.back();
    }
    return all;
  }

  testing::TempDir dir_;
  std::unique_ptr<FileStore> store_;
  std::vector<std::string> stored_;  // sorted
};

// A full node refuses new images but still answers a retried store of one
// it holds: the same bytes are stored already, other bytes a conflict.
TEST(FileStoreTest, FullNodeAnswersRetriesOfWhatItHolds) {
  testing::TempDir dir;
  auto opened = FileStore::Open(dir.str() + "/root", 1, 0);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  FileStore& store = **opened;
  const ImagePath held = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  ASSERT_EQ(*store.Put(held, "bytes"), FileStore::PutOutcome::kCreated);

  auto again = store.Put(held, "bytes");
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, FileStore::PutOutcome::kAlreadyPresent);
  auto other = store.Put(held, "other bytes");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);
  auto fresh =
      store.Put(MakeImagePath(ImageId::New(), ImageFormat::kJpeg), "bytes");
  ASSERT_FALSE(fresh.has_value());
  EXPECT_EQ(fresh.error().code, ErrorCode::kInsufficientStorage);
}

// A FIFO where an image belongs (put there by hand, or by a hostile local
// user) is no image: reading it answers at once instead of blocking the
// thread until a writer opens it, and a store there is a conflict.
// One node per root: a second open while the first holds it is refused;
// once the first is gone, the root opens again.
TEST(FileStoreTest, ARootTakesOneNodeAtATime) {
  testing::TempDir dir;
  auto first = FileStore::Open(dir.str() + "/root", 10, 0);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  auto second = FileStore::Open(dir.str() + "/root", 10, 0);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().message.find("in use by another node"),
            std::string::npos);
  first->reset();
  EXPECT_TRUE(FileStore::Open(dir.str() + "/root", 10, 0).has_value());
}

// A root emptied behind the node's back is noticed: the counts go to none,
// so trackers hear the images are gone.
TEST(FileStoreTest, RootEmptiedBehindItsBackIsNoticed) {
  testing::TempDir dir;
  auto store = FileStore::Open(dir.str() + "/root", 10, 0);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  EXPECT_TRUE((*store)->CheckNotEmptied()) << "empty and known to be";
  const ImagePath path = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  ASSERT_TRUE((*store)->Put(path, "bytes").has_value());
  EXPECT_TRUE((*store)->CheckNotEmptied());
  EXPECT_EQ((*store)->images(), 1);
  fs::remove_all(dir.path() / "root" / path.relative.substr(0, 2));
  EXPECT_FALSE((*store)->CheckNotEmptied());
  EXPECT_EQ((*store)->images(), 0);
  EXPECT_EQ((*store)->bytes_used(), 0);
}

// The name kept in the root, and the probe of whether it takes a new file.
TEST(FileStoreTest, KeepsItsNameAndProbesForWrites) {
  testing::TempDir dir;
  auto store = FileStore::Open(dir.str() + "/root", 10, 0);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  EXPECT_EQ((*store)->SavedName(), "");
  ASSERT_TRUE((*store)->SaveName("node-9001").has_value());
  EXPECT_EQ((*store)->SavedName(), "node-9001");
  ASSERT_TRUE((*store)->SaveName("east-1").has_value());
  EXPECT_EQ((*store)->SavedName(), "east-1");
  EXPECT_TRUE((*store)->CheckWritable().has_value());
  // Neither is an image: the root still holds none, and lists none.
  EXPECT_EQ((*store)->images(), 0);
  auto listed = (*store)->List("", 10);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
}

TEST(FileStoreTest, FifoAtAnImagePathDoesNotBlock) {
  testing::TempDir dir;
  auto opened = FileStore::Open(dir.str() + "/root", 100, 0);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  FileStore& store = **opened;
  const ImagePath path = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  const fs::path at = fs::path(dir.str() + "/root") / path.relative;
  fs::create_directories(at.parent_path());
  ASSERT_EQ(::mkfifo(at.c_str(), 0600), 0);

  auto served = store.OpenForRead(path);
  ASSERT_FALSE(served.has_value());
  EXPECT_EQ(served.error().code, ErrorCode::kNotFound);
  auto read = store.Read(path);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, ErrorCode::kNotFound);
  auto put = store.Put(path, "bytes");
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.error().code, ErrorCode::kConflict);
}

// Under a low descriptor limit the open-file cache keeps a quarter of it:
// reading more distinct images than the limit never runs out (each failed
// with "Too many open files" once the cache had taken them all).
TEST(FileStoreTest, OpenFileCacheStaysWithinTheDescriptorLimit) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  {
    testing::TempDir dir;
    auto opened = FileStore::Open(dir.str() + "/root", 1'000'000, 0);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    FileStore& store = **opened;
    std::vector<ImagePath> paths;
    for (int i = 0; i < 400; ++i) {
      paths.push_back(MakeImagePath(ImageId::New(), ImageFormat::kJpeg));
      ASSERT_TRUE(store.Put(paths.back(), "bytes").has_value());
    }
    for (const ImagePath& p : paths) {
      auto file = store.OpenForRead(p);
      ASSERT_TRUE(file.has_value()) << file.error().message;
    }
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

TEST_F(FileStoreListTest, EmptyRoot) {
  EXPECT_TRUE(Paths("", 10).empty());
  EXPECT_TRUE(Paths("", 0).empty());
  EXPECT_TRUE(Paths("ff/ff/zzz", 10).empty());
}

TEST_F(FileStoreListTest, ListsInByteOrderWithSizeAndTime) {
  for (int i = 0; i < 40; ++i) Add(std::string(size_t(i + 1), 'b'));
  EXPECT_EQ(Paths("", 1000), stored_);
  auto listed = store_->List("", 1000);
  ASSERT_TRUE(listed.has_value());
  for (const auto& f : *listed) {
    struct stat st;
    ASSERT_EQ(::stat((root() + "/" + f.path).c_str(), &st), 0) << f.path;
    EXPECT_EQ(f.bytes, st.st_size) << f.path;
    EXPECT_EQ(f.mtime, st.st_mtim.tv_sec) << f.path;
    EXPECT_GT(f.bytes, 0);
  }
}

TEST_F(FileStoreListTest, PagesWithAfterAndLimit) {
  for (int i = 0; i < 25; ++i) Add();
  EXPECT_EQ(Paths("", 3),
            std::vector<std::string>(stored_.begin(), stored_.begin() + 3));
  for (size_t limit : {1, 2, 7, 25, 26, 1000}) {
    EXPECT_EQ(Walk(limit), stored_) << "limit " << limit;
  }
  // `after` need not be a stored path, nor a whole one.
  const std::string& mid = stored_[10];
  EXPECT_EQ(Paths(mid, 1000),
            std::vector<std::string>(stored_.begin() + 11, stored_.end()));
  std::string before_mid = mid;
  before_mid.back() = char(before_mid.back() - 1);
  EXPECT_EQ(Paths(before_mid, 1).at(0), mid);
  EXPECT_EQ(Paths(mid.substr(0, 2), 1000).front(),
            *std::lower_bound(stored_.begin(), stored_.end(), mid.substr(0, 2)))
      << "a bare shard name starts at that shard";
  EXPECT_TRUE(Paths(stored_.back(), 1000).empty());
  EXPECT_EQ(Paths("~", 1000).size(), 0u) << "after every hex digit";
}

TEST_F(FileStoreListTest, SkipsWhatIsNotAnImageOfOurs) {
  const std::string kept = Add();
  const std::string shard = kept.substr(0, 6);  // "aa/bb/"
  const std::string name = kept.substr(6);
  Plant(shard + ".tmp." + name + ".0123456789abcdef");  // interrupted write
  Plant(shard + "notes.txt");
  Plant(shard + name.substr(0, name.size() - 3) + "txt");   // unknown ext
  Plant(shard + name.substr(0, name.size() - 3) + "jpeg");  // not our spelling
  // A valid name in the wrong shard directory.
  const std::string other_shard = shard == "00/00/" ? "00/01/" : "00/00/";
  Plant(other_shard + name);
  Plant("README");                         // in the root itself
  Plant("zz/00/" + name);                  // not a shard directory
  Plant("0/00/" + name);                   // nor this
  fs::create_directories(root() + "/7f");  // an empty first level
  // A symlink and a directory, each under a name the layout would make.
  ImagePath link = MakeImagePath(ImageId::New(), ImageFormat::kPng);
  fs::create_directories(root() + "/" + link.relative.substr(0, 5));
  fs::create_symlink(root() + "/" + kept, root() + "/" + link.relative);
  ImagePath directory = MakeImagePath(ImageId::New(), ImageFormat::kGif);
  fs::create_directories(root() + "/" + directory.relative);
  // A symlinked shard directory holding a real-looking image.
  ImagePath behind = MakeImagePath(ImageId::New(), ImageFormat::kJpeg);
  testing::TempDir elsewhere;
  fs::create_directories(root() + "/" + behind.relative.substr(0, 2));
  fs::create_directory_symlink(elsewhere.path(),
                               root() + "/" + behind.relative.substr(0, 5));
  { std::ofstream(elsewhere.str() + "/" + behind.relative.substr(6)) << "x"; }

  EXPECT_EQ(Paths("", 1000), std::vector<std::string>{kept});
  EXPECT_EQ(Walk(1), std::vector<std::string>{kept});
}

TEST_F(FileStoreListTest, OrdersAndPagesWithinOneShard) {
  // Ids whose paths share one shard directory, found by trying many.
  std::map<std::string, std::vector<ImagePath>> by_shard;
  std::vector<ImagePath> crowd;
  while (crowd.empty()) {
    ImagePath p = MakeImagePath(ImageId::New(), ImageFormat::kWebp);
    auto& same = by_shard[p.relative.substr(0, 5)];
    same.push_back(p);
    if (same.size() == 4) crowd = same;
  }
  std::vector<std::string> expected;
  for (const ImagePath& p : crowd) {
    ASSERT_TRUE(store_->Put(p, "w").has_value());
    expected.push_back(p.relative);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Paths("", 100), expected);
  EXPECT_EQ(Paths(expected[1], 1), std::vector<std::string>{expected[2]});
  EXPECT_EQ(Paths(expected[1], 100),
            std::vector<std::string>(expected.begin() + 2, expected.end()));
  EXPECT_EQ(Walk(1), expected);
}

TEST_F(FileStoreListTest, ManyFilesAcrossShards) {
  for (int i = 0; i < 150; ++i) Add();
  std::set<std::string> shards;
  for (const auto& p : stored_) shards.insert(p.substr(0, 5));
  EXPECT_GT(shards.size(), 100u) << "the ids spread over shards";
  EXPECT_EQ(Walk(13), stored_);
  // Two pages split the listing exactly.
  auto first = Paths("", 75);
  ASSERT_EQ(first.size(), 75u);
  auto rest = Paths(first.back(), 1000);
  EXPECT_EQ(first.size() + rest.size(), stored_.size());
}

}  // namespace
}  // namespace imgstore
