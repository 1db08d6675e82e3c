#include "meta/indexed_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/hex.h"
#include "core/layout.h"
#include "meta/sqlite_store.h"
#include "testing/testing.h"

namespace imgstore {
namespace {

// The store suite (metadata_store_test.cc, "SqliteIndexed") holds the
// IndexedStore to the interface; these cases check that its memory stays
// exactly what the file says, against a plain SqliteStore on that file.
class IndexedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plain_ = Must(SqliteStore::Open(path()));
    Reopen();
    for (int i = 1; i <= 5; ++i) {
      servers_.push_back(
          Must(indexed_->AddServer("n" + std::to_string(i),
                                   "http://n" + std::to_string(i), 1'000'000))
              .server_id);
    }
  }

  std::string path() const { return dir_.str() + "/meta.db"; }

  void Reopen() {
    indexed_.reset();
    indexed_ = Must(IndexedStore::Open(Must(SqliteStore::Open(path()))));
  }

  template <typename T>
  static T Must(Result<T> result) {
    if (!result) throw std::runtime_error(result.error().message);
    return *std::move(result);
  }

  static ImageRecord NewImage(const ImageId& id,
                              const std::vector<int64_t>& servers,
                              ImageFormat format = ImageFormat::kJpeg) {
    ImageRecord image{.id = id,
                      .format = format,
                      .bytes = 1,
                      .width = 1,
                      .height = 1,
                      .sha256 = Sha256Hex("x"),
                      .created_at = 1};
    for (int64_t s : servers) {
      image.placements.push_back(
          Placement{s, MakeImagePath(id, format).relative});
    }
    return image;
  }

  // Every id the index answers for `ids` as the file does.
  void ExpectExact(const std::vector<ImageId>& ids) {
    auto got = Must(indexed_->Locate(ids));
    auto want = Must(plain_->Locate(ids));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id.str(), want[i].id.str());
      EXPECT_EQ(got[i].format, want[i].format) << got[i].id.str();
      EXPECT_EQ(got[i].server_ids, want[i].server_ids) << got[i].id.str();
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<MetadataStore> plain_;
  std::unique_ptr<IndexedStore> indexed_;
  std::vector<int64_t> servers_;
};

// Ids of every shape ImageId allows: ImageId::New's 22 characters of 128
// bits (the compact table) and ones that do not pack (the general table).
std::vector<ImageId> MixedIds(std::mt19937& rng, int count) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<ImageId> out;
  for (int i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      out.push_back(ImageId::New());
      continue;
    }
    // 16, 22 (with a last character that carries more than 128 bits) or
    // 32 characters.
    const size_t length = i % 3 == 0 ? 16 : i % 3 == 1 ? 22 : 32;
    std::string text;
    for (size_t j = 0; j < length; ++j) text += kAlphabet[rng() % 64];
    if (length == 22) text.back() = 'B';
    out.push_back(*ImageId::Parse(text));
  }
  return out;
}

TEST_F(IndexedStoreTest, StaysExactThroughEveryWriteAndAReopen) {
  std::mt19937 rng(11);
  std::vector<ImageId> ids = MixedIds(rng, 60);
  for (int step = 0; step < 600; ++step) {
    const ImageId& id = ids[rng() % ids.size()];
    const int64_t server = servers_[rng() % servers_.size()];
    // Writes that the store refuses (a duplicate, an unknown image, the
    // last copy) must leave the index alone as they leave the file.
    switch (rng() % 5) {
      case 0:
      case 1: {
        const auto format = static_cast<ImageFormat>(rng() % 6);
        (void)indexed_->AddImage(NewImage(id, {server}, format));
        break;
      }
      case 2: {
        // At the image's own path, as repair places copies.
        auto image = plain_->GetImage(id);
        const auto format = image ? image->format : ImageFormat::kJpeg;
        (void)indexed_->AddPlacement(
            id, Placement{server, MakeImagePath(id, format).relative});
        break;
      }
      case 3:
        (void)indexed_->RemovePlacement(id, server);
        break;
      case 4:
        if (rng() % 3 == 0) (void)indexed_->DeleteImage(id);
        break;
    }
    if (step % 50 == 0) ExpectExact(ids);
  }
  ExpectExact(ids);
  // Some images hold more copies than the compact table keeps inline.
  size_t most = 0;
  for (const ImageLocation& l : Must(plain_->Locate(ids))) {
    most = std::max(most, l.server_ids.size());
  }
  EXPECT_GE(most, 4u);
  const size_t size = indexed_->size();
  Reopen();
  EXPECT_EQ(indexed_->size(), size);
  ExpectExact(ids);
}

TEST_F(IndexedStoreTest, ConcurrentWritesToOneImageReachTheIndexInOrder) {
  // Threads adding and removing copies of the same few images (as an
  // upload, repair and rebalance may) while others read: afterwards the
  // index must equal the file.
  std::vector<ImageId> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(ImageId::New());
    ASSERT_TRUE(indexed_->AddImage(NewImage(ids.back(), {servers_[0]})));
  }
  std::atomic<bool> writing = true;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 60; ++i) {
        const ImageId& id = ids[rng() % ids.size()];
        const int64_t server = servers_[1 + rng() % (servers_.size() - 1)];
        if (rng() % 2) {
          (void)indexed_->AddPlacement(
              id, Placement{server,
                            MakeImagePath(id, ImageFormat::kJpeg).relative});
        } else {
          (void)indexed_->RemovePlacement(id, server);
        }
      }
    });
  }
  std::thread reader([&] {
    while (writing) {
      auto got = indexed_->Locate(ids);
      ASSERT_TRUE(got);
      EXPECT_EQ(got->size(), ids.size());
    }
  });
  for (std::thread& t : threads) t.join();
  writing = false;
  reader.join();
  ExpectExact(ids);
}

TEST_F(IndexedStoreTest, LoadsInPagesAndReportsItsSize) {
  // Images placed by the plain store (as a bulk load before the tracker
  // starts would), over several pages of 3 with a short last one.
  constexpr int64_t kImages = 20;
  std::vector<ImageId> ids;
  for (int64_t i = 0; i < kImages; ++i) {
    ids.push_back(ImageId::New());
    const auto format = i % 2 == 0 ? ImageFormat::kPng : ImageFormat::kJpeg;
    ASSERT_TRUE(plain_->AddImage(NewImage(
        ids.back(), {servers_[i % 5], servers_[(i + 1) % 5]}, format)));
    if (i % 5 == 0) ids.push_back(ImageId::New());  // never stored
  }
  for (int64_t page : {int64_t{1}, int64_t{3}, kImages, kImages + 1}) {
    SCOPED_TRACE(page);
    indexed_.reset();
    indexed_ = Must(IndexedStore::Open(Must(SqliteStore::Open(path())), page));
    EXPECT_EQ(indexed_->size(), size_t(kImages));
    ExpectExact(ids);
  }
  EXPECT_FALSE(IndexedStore::Open(Must(SqliteStore::Open(path())), 0));
  // The compact table's slots: 32 bytes and a metadata byte each.
  EXPECT_GE(indexed_->memory_bytes(), size_t(kImages) * 33);
}

// New ids pack: 65 bytes per image at this size, where the general table
// takes over 130. Guards the packing against a change of ImageId::New.
TEST_F(IndexedStoreTest, NewIdsTakeTheCompactTable) {
  constexpr size_t kImages = 2000;
  for (size_t i = 0; i < kImages; ++i) {
    ASSERT_TRUE(plain_->AddImage(
        NewImage(ImageId::New(), {servers_[i % 5]}, ImageFormat::kJpeg)));
  }
  indexed_.reset();
  indexed_ = Must(IndexedStore::Open(Must(SqliteStore::Open(path()))));
  ASSERT_EQ(indexed_->size(), kImages);
  EXPECT_LT(indexed_->memory_bytes(), kImages * 100);
}

}  // namespace
}  // namespace imgstore
