#include "tracker/uploader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "testing/testing.h"
#include "tracker/fake_nodes.h"
#include "tracker/store_outage.h"

namespace imgstore {
namespace {

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenMetadataStore("sqlite:" + dir_.str() + "/meta.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE(store_
                      ->RecordHeartbeat(
                          "n" + std::to_string(i),
                          "http://127.0.0.1:" + std::to_string(9000 + i), "/r",
                          1000, int64_t(1) << 40, 0, clock_.NowSeconds())
                      .has_value());
    }
    registry_ = std::make_unique<ServerRegistry>(*store_, clock_,
                                                 std::chrono::seconds(6));
    ASSERT_TRUE(registry_->Refresh().has_value());
  }

  Uploader Make(int replicas = 1) {
    UploaderOptions o;
    o.replicas = replicas;
    o.disk_reserve_bytes = 0;
    return Uploader(*store_, *registry_, nodes_, clock_, o);
  }

  // Server 1 full in the database, which the registry does not know yet
  // (another tracker filled it); servers 2 and 3 take no copy.
  void FillServer1AndStopTheOthers() {
    ASSERT_TRUE(
        store_->UpdateServer(1, ServerUpdate{std::nullopt, 1}).has_value());
    ImageRecord filler{ImageId::New()};
    filler.sha256 = std::string(64, '0');
    filler.placements = {{1, "aa/bb/x.jpg"}};
    ASSERT_TRUE(store_->AddImage(filler).has_value());
    nodes_.fail[2] = Error{ErrorCode::kUnavailable, "down"};
    nodes_.fail[3] = Error{ErrorCode::kUnavailable, "down"};
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ServerRegistry> registry_;
  FakeNodes nodes_;
  const std::string jpeg_ = testing::TestData("small.jpg");
};

TEST_F(UploaderTest, StoresAndRecords) {
  auto record = Make().Upload(jpeg_);
  ASSERT_TRUE(record.has_value()) << record.error().message;
  ASSERT_EQ(record->placements.size(), 1u);
  auto stored = store_->GetImage(record->id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->sha256, record->sha256);
  EXPECT_EQ(nodes_.files.size(), 1u);
}

// UploadIfNew stores bytes once: of 8 concurrent uploads of one file
// exactly one stores it and the others get that image; later ones too.
// A plain Upload still makes a new image of the same bytes (SPEC §4).
TEST_F(UploaderTest, UploadsIfNewOfTheSameBytesStoreOnce) {
  Uploader uploader = Make();
  std::vector<Result<Uploader::Outcome>> outcomes(
      8, Fail(ErrorCode::kInternal, ""));
  std::vector<std::thread> threads;
  for (auto& outcome : outcomes)
    threads.emplace_back([&] { outcome = uploader.UploadIfNew(jpeg_); });
  for (auto& t : threads) t.join();
  size_t created = 0;
  for (const auto& outcome : outcomes) {
    ASSERT_TRUE(outcome.has_value()) << outcome.error().message;
    created += outcome->created;
    EXPECT_EQ(outcome->record.id, outcomes[0]->record.id);
    EXPECT_EQ(outcome->record.placements.size(), 1u);
  }
  EXPECT_EQ(created, 1u);
  EXPECT_EQ(nodes_.files.size(), 1u);

  auto again = uploader.UploadIfNew(jpeg_);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->record.id, outcomes[0]->record.id);

  auto plain = uploader.Upload(jpeg_);
  ASSERT_TRUE(plain.has_value());
  EXPECT_NE(plain->id, outcomes[0]->record.id);
  auto ids = store_->FindBySha256(plain->sha256);
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(ids->size(), 2u);

  // Other bytes are stored, and what is not an image is refused as by
  // Upload, leaving nothing.
  auto png = uploader.UploadIfNew(testing::TestData("small.png"));
  ASSERT_TRUE(png.has_value()) << png.error().message;
  EXPECT_TRUE(png->created);
  auto text = uploader.UploadIfNew("not an image at all");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code, ErrorCode::kUnsupportedMedia);
  EXPECT_EQ(nodes_.files.size(), 3u);

  // Two trackers on one database (two uploaders): still one image, and the
  // copies of those that lost are deleted.
  Uploader other_tracker = Make();
  // A JPEG (read by libjpeg): other bytes, by a trailer after its end.
  const std::string other = jpeg_ + "two trackers";
  std::vector<Result<Uploader::Outcome>> raced(8,
                                               Fail(ErrorCode::kInternal, ""));
  threads.clear();
  for (size_t i = 0; i < raced.size(); ++i) {
    Uploader& through = i % 2 == 0 ? uploader : other_tracker;
    threads.emplace_back(
        [&, i, &through = through] { raced[i] = through.UploadIfNew(other); });
  }
  for (auto& t : threads) t.join();
  created = 0;
  for (const auto& outcome : raced) {
    ASSERT_TRUE(outcome.has_value()) << outcome.error().message;
    created += outcome->created;
    EXPECT_EQ(outcome->record.id, raced[0]->record.id);
  }
  EXPECT_EQ(created, 1u);
  EXPECT_EQ(nodes_.files.size(), 4u);
  EXPECT_EQ(store_->FindBySha256(raced[0]->record.sha256)->size(), 1u);
}

TEST_F(UploaderTest, RetriesOnAnotherServer) {
  nodes_.fail[1] = Error{ErrorCode::kUnavailable, "down"};
  nodes_.fail[2] = Error{ErrorCode::kInsufficientStorage, "full"};
  Uploader uploader = Make();
  for (int i = 0; i < 20; ++i) {
    auto record = uploader.Upload(jpeg_);
    ASSERT_TRUE(record.has_value()) << record.error().message;
    EXPECT_EQ(record->placements[0].server_id, 3);
  }
  EXPECT_GT(uploader.retries(), 0u)
      << "failed servers were tried and passed over";
}

// A refusal for want of a server says what is wanting.
TEST_F(UploaderTest, NoServerSaysWhy) {
  for (int64_t id : {1, 2, 3}) {
    ASSERT_TRUE(
        store_->UpdateServer(id, ServerUpdate{ServerState::kDisabled, {}}));
  }
  ASSERT_TRUE(registry_->Refresh().has_value());
  auto disabled = Make().Upload(jpeg_);
  ASSERT_FALSE(disabled.has_value());
  EXPECT_EQ(disabled.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(disabled.error().message.find("draining or disabled"),
            std::string::npos)
      << disabled.error().message;
  clock_.Advance(std::chrono::seconds(30));  // no heartbeats since
  auto down = Make().Upload(jpeg_);
  ASSERT_FALSE(down.has_value());
  EXPECT_NE(down.error().message.find("no image server is up"),
            std::string::npos)
      << down.error().message;
  EXPECT_TRUE(nodes_.files.empty());
}

// Server i's heartbeat, with room unless a test says otherwise.
// A server that cannot be reached costs one failed store, not one per
// upload until its heartbeat times out; its next heartbeat lets it back.
TEST_F(UploaderTest, UnreachableServerGetsNoUploadsUntilItBeats) {
  nodes_.fail[1] = Error{ErrorCode::kUnavailable, "connection refused"};
  nodes_.fail[2] = Error{ErrorCode::kUnavailable, "connection refused"};
  Uploader uploader = Make();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(uploader.Upload(jpeg_));
  EXPECT_EQ(std::count(nodes_.puts.begin(), nodes_.puts.end(), 1), 1);
  EXPECT_EQ(std::count(nodes_.puts.begin(), nodes_.puts.end(), 2), 1);
  EXPECT_TRUE(registry_->Find(1)->flg_usable) << "reads are left alone";
  // It may have written the file before failing to answer: queued for
  // deletion when it is back.
  EXPECT_EQ(store_->FileDeletes(1, 10)->size(), 1u);

  nodes_.fail.clear();
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Heartbeat(FakeBeat(1)));
  nodes_.puts.clear();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(uploader.Upload(jpeg_));
  EXPECT_GT(std::count(nodes_.puts.begin(), nodes_.puts.end(), 1), 0);
  EXPECT_EQ(std::count(nodes_.puts.begin(), nodes_.puts.end(), 2), 0)
      << "server 2 has not beaten yet";
}

// 30 uploads, none of them stored on (or even tried at) server 2.
void ExpectSecondNodePassedOver(Uploader& uploader) {
  for (int i = 0; i < 30; ++i) {
    auto record = uploader.Upload(testing::TestData("small.jpg"));
    ASSERT_TRUE(record.has_value()) << record.error().message;
    EXPECT_NE(record->placements[0].server_id, 2);
  }
  EXPECT_EQ(uploader.retries(), 0u) << "not even tried";
}

// A node whose heartbeat says it holds its own --max-pics gets no uploads,
// though an operator set max_pic_amount above it; its next beat with room
// lets it back in.
TEST_F(UploaderTest, NodeAtItsOwnMaximumIsPassedOver) {
  NodeStatus full = FakeBeat(2);
  full.images = 1000;
  ASSERT_TRUE(registry_->Heartbeat(full).has_value());
  ASSERT_TRUE(registry_->Refresh().has_value()) << "a reload keeps it";
  Uploader uploader = Make();
  ExpectSecondNodePassedOver(uploader);
  full.images = 10;
  ASSERT_TRUE(registry_->Heartbeat(full).has_value());
  bool reached = false;
  for (int i = 0; i < 60 && !reached; ++i)
    reached = uploader.Upload(jpeg_)->placements[0].server_id == 2;
  EXPECT_TRUE(reached);
}

// Likewise a node whose disk is at its own --disk-reserve, larger than the
// tracker's: it would answer every store with 507.
TEST_F(UploaderTest, NodeAtItsOwnDiskReserveIsPassedOver) {
  NodeStatus low = FakeBeat(2);
  low.disk_free_bytes = int64_t(10) << 30;
  low.disk_reserve_bytes = int64_t(20) << 30;
  ASSERT_TRUE(registry_->Heartbeat(low).has_value());
  Uploader uploader = Make();
  ExpectSecondNodePassedOver(uploader);
}

// Likewise, for a file over its --max-upload-bytes, a node that would
// refuse it by the PUT's head; when no server takes it, a 413 that says
// why, and no server is tried (nor called down).
TEST_F(UploaderTest, NodeWithASmallerFileLimitIsPassedOver) {
  auto beat_with_limit = [&](int i, int64_t limit) {
    NodeStatus beat = FakeBeat(i);
    beat.max_upload_bytes = limit;
    ASSERT_TRUE(registry_->Heartbeat(beat).has_value());
  };
  const int64_t below = int64_t(jpeg_.size()) - 1;
  for (int i : {1, 2, 3}) beat_with_limit(i, below);
  Uploader uploader = Make();
  auto refused = uploader.Upload(jpeg_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(refused.error().message.find("--max-upload-bytes"),
            std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(nodes_.puts.empty()) << "no server tried";
  beat_with_limit(1, 0);  // not said: no limit known
  beat_with_limit(3, int64_t(jpeg_.size()));
  ASSERT_TRUE(registry_->Refresh().has_value()) << "a reload keeps them";
  ExpectSecondNodePassedOver(uploader);
}

TEST_F(UploaderTest, NoServerLeavesNothing) {
  for (int id = 1; id <= 3; ++id)
    nodes_.fail[id] = Error{ErrorCode::kUnavailable, "down"};
  auto record = Make().Upload(jpeg_);
  ASSERT_FALSE(record.has_value());
  EXPECT_EQ(record.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store_->Stats()->images, 0);
  EXPECT_TRUE(nodes_.files.empty());
}

TEST_F(UploaderTest, RefusedInputTouchesNoServer) {
  EXPECT_EQ(Make().Upload("plain text").error().code,
            ErrorCode::kUnsupportedMedia);
  EXPECT_EQ(Make().Upload(testing::TestData("bomb.png")).error().code,
            ErrorCode::kUndecodable);
  EXPECT_TRUE(nodes_.puts.empty());
}

TEST_F(UploaderTest, CopiesOnDistinctServers) {
  auto record = Make(2).Upload(jpeg_);
  ASSERT_TRUE(record.has_value());
  ASSERT_EQ(record->placements.size(), 2u);
  EXPECT_NE(record->placements[0].server_id, record->placements[1].server_id);
  EXPECT_EQ(nodes_.files.size(), 2u);
}

TEST_F(UploaderTest, RecordListsCopiesAsTheStoreDoes) {
  // The 201 is rendered from the returned record, pages from the stored
  // one: the resolver's pick depends on the order of the copies.
  Uploader uploader = Make(3);
  for (int i = 0; i < 10; ++i) {
    auto record = uploader.Upload(jpeg_);
    ASSERT_TRUE(record.has_value()) << record.error().message;
    auto stored = store_->GetImage(record->id);
    ASSERT_TRUE(stored.has_value());
    ASSERT_EQ(stored->placements.size(), record->placements.size());
    for (size_t c = 0; c < record->placements.size(); ++c) {
      EXPECT_EQ(record->placements[c].server_id,
                stored->placements[c].server_id);
    }
  }
}

TEST_F(UploaderTest, ARecordOfUnknownFateKeepsItsCopies) {
  // The database file goes (the store then cannot say whether the commit
  // it made counts): the upload fails, and its copy stays for fsck to
  // judge instead of being deleted under a record that might exist.
  Uploader uploader = Make();
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(dir_.str() + "/meta.db" + suffix);
  auto record = uploader.Upload(jpeg_);
  ASSERT_FALSE(record.has_value());
  EXPECT_EQ(record.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(nodes_.files.size(), 1u) << "the copy is kept";
}

TEST_F(UploaderTest, FullInDatabaseDeletesTheCopyAndMovesOn) {
  // The registry still thinks server 1 has room; the database knows better
  // (another tracker filled it). Its copy must be removed again.
  FillServer1AndStopTheOthers();
  auto record = Make().Upload(jpeg_);
  ASSERT_FALSE(record.has_value());
  EXPECT_TRUE(nodes_.files.empty()) << "copy on the full server removed";
  nodes_.fail.erase(3);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(store_
                  ->RecordHeartbeat("n3", "http://127.0.0.1:9003", "/r", 1000,
                                    int64_t(1) << 40, 0, clock_.NowSeconds())
                  .has_value());
  ASSERT_TRUE(registry_->Refresh().has_value());
  auto again = Make().Upload(jpeg_);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->placements[0].server_id, 3);
  EXPECT_EQ(nodes_.files.size(), 1u);
}

// A copy whose removal fails (its server stopped answering meanwhile) is
// queued for deletion, as the copy of a failed store is, not only left
// for fsck.
TEST_F(UploaderTest, ACopyThatCannotBeRemovedIsQueuedForDeletion) {
  FillServer1AndStopTheOthers();
  nodes_.fail_delete[1] = Error{ErrorCode::kUnavailable, "gone quiet"};
  ASSERT_FALSE(Make().Upload(jpeg_).has_value());
  ASSERT_EQ(nodes_.files.size(), 1u) << "the copy could not be removed";
  auto queued = store_->FileDeletes(1, 10);
  ASSERT_TRUE(queued.has_value()) << queued.error().message;
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].relative_path, nodes_.files.begin()->first.second);
}

// A store the tracker cannot read will not take the record: the upload is
// refused before any copy is made, so an outage leaves no file behind.
TEST_F(UploaderTest, StoreOutageRefusesBeforeAnyCopy) {
  const std::string db = dir_.str() + "/meta.db";
  SetServerTableReadable(db, false);
  ASSERT_FALSE(registry_->Refresh().has_value());
  auto record = Make().Upload(jpeg_);
  ASSERT_FALSE(record.has_value());
  EXPECT_EQ(record.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(record.error().message.find("cannot be read"), std::string::npos)
      << record.error().message;
  EXPECT_TRUE(nodes_.puts.empty());
  SetServerTableReadable(db, true);
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_TRUE(Make().Upload(jpeg_).has_value());
}

}  // namespace
}  // namespace imgstore
