#include "tracker/repairer.h"

#include <gtest/gtest.h>

#include <mutex>

#include "core/hex.h"
#include "testing/testing.h"
#include "tracker/fake_nodes.h"
#include "tracker/store_outage.h"
#include "tracker/uploader.h"

namespace imgstore {
namespace {

using std::chrono::seconds;

// Three servers (ids 1, 2, 3) in one SQLite store, image files in memory,
// time under the test's control.
class RepairerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenMetadataStore("sqlite:" + dir_.str() + "/meta.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    Beat({1, 2, 3});
    registry_ = std::make_unique<ServerRegistry>(*store_, clock_, seconds(6));
    ASSERT_TRUE(registry_->Refresh().has_value());
  }

  // Heartbeats from the given servers at the current time.
  void Beat(const std::vector<int>& servers, int64_t max_pics = 1000) {
    for (int i : servers) {
      ASSERT_TRUE(store_
                      ->RecordHeartbeat(
                          "n" + std::to_string(i),
                          "http://127.0.0.1:" + std::to_string(9000 + i), "/r",
                          max_pics, int64_t(1) << 40, 0, clock_.NowSeconds())
                      .has_value());
    }
    if (registry_) {
      ASSERT_TRUE(registry_->Refresh().has_value());
    }
  }

  // Lets `by` pass with only `alive` beating.
  void Pass(seconds by, const std::vector<int>& alive) {
    clock_.Advance(by);
    Beat(alive);
  }

  Repairer Make(int replicas, std::string holder = "t1") {
    RepairOptions o;
    o.replicas = replicas;
    o.grace = seconds(60);
    o.disk_reserve_bytes = 0;
    o.bytes_per_second = 0;
    o.holder = std::move(holder);
    return Repairer(*store_, *registry_, nodes_, clock_, o);
  }

  ImageRecord Upload(int replicas) {
    UploaderOptions o;
    o.replicas = replicas;
    o.disk_reserve_bytes = 0;
    Uploader uploader(*store_, *registry_, nodes_, clock_, o);
    auto record = uploader.Upload(jpeg_);
    EXPECT_TRUE(record.has_value()) << record.error().message;
    return *record;
  }

  std::vector<int64_t> Holders(const ImageId& id) {
    std::vector<int64_t> out;
    auto image = store_->GetImage(id);
    EXPECT_TRUE(image.has_value());
    if (!image) return out;
    for (const Placement& p : image->placements) out.push_back(p.server_id);
    return out;
  }

  // Every recorded copy has a file with the recorded bytes.
  void ExpectGoodCopies(const ImageRecord& image, size_t copies) {
    auto now = store_->GetImage(image.id);
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->placements.size(), copies);
    for (const Placement& p : now->placements) {
      auto it = nodes_.files.find({p.server_id, p.relative_path});
      ASSERT_NE(it, nodes_.files.end()) << "server " << p.server_id;
      EXPECT_EQ(Sha256Hex(it->second), image.sha256);
    }
  }

  // Flips a bit of `image`'s copy on `server`, and has `repairer` hear
  // of it from that server's scrub; returns the paths found corrupt.
  std::vector<std::string> DamageAndScrub(Repairer& repairer,
                                          const ImageRecord& image,
                                          int64_t server) {
    const std::string& relative = image.placements[0].relative_path;
    std::string& bytes = nodes_.files[{server, relative}];
    bytes[100] ^= 0x01;
    auto found = repairer.CheckScrub(
        *registry_->Find(server), {{relative, Sha256Hex(bytes), image.bytes}});
    EXPECT_TRUE(found.has_value()) << found.error().message;
    return found ? *found : std::vector<std::string>{};
  }

  void Rounds(Repairer& r, int n) {
    for (int i = 0; i < n; ++i) {
      auto round = r.RunOnce();
      ASSERT_TRUE(round.has_value()) << round.error().message;
    }
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ServerRegistry> registry_;
  FakeNodes nodes_;
  const std::string jpeg_ = testing::TestData("small.jpg");
};

TEST_F(RepairerTest, UploadWithTooFewServersIsCompletedLater) {
  nodes_.fail[2] = Error{ErrorCode::kUnavailable, "down"};
  nodes_.fail[3] = Error{ErrorCode::kUnavailable, "down"};
  ImageRecord image = Upload(2);
  EXPECT_EQ(Holders(image.id).size(), 1u) << "acknowledged with one copy";
  EXPECT_EQ(*store_->RepairQueueLength(), 1);

  Repairer repairer = Make(2);
  Rounds(repairer, 1);
  EXPECT_EQ(Holders(image.id).size(), 1u) << "nowhere to copy it yet";
  nodes_.fail.clear();
  Pass(seconds(1), {1, 2, 3});  // back: stores go there after a heartbeat
  Rounds(repairer, 1);
  ExpectGoodCopies(image, 2);
  EXPECT_EQ(*store_->RepairQueueLength(), 0);
  EXPECT_EQ(repairer.Status().copies_made, 1);
}

// A raised --replicas queues every image short of it at the tracker's
// start, so the backlog shows them all from the first round.
TEST_F(RepairerTest, RaisedReplicasQueueEveryShortImage) {
  ASSERT_TRUE(Make(1).AdoptReplicas().has_value());
  std::vector<ImageRecord> images;
  for (int i = 0; i < 3; ++i) images.push_back(Upload(1));
  EXPECT_EQ(*store_->RepairQueueLength(), 0);
  Repairer raised = Make(2);
  ASSERT_TRUE(raised.AdoptReplicas().has_value());
  EXPECT_EQ(*store_->RepairQueueLength(), 3);
  ASSERT_TRUE(raised.AdoptReplicas().has_value());
  EXPECT_EQ(*store_->RepairQueueLength(), 3) << "a restart queues nothing";
  // While the round copies, the backlog shows what is left of it.
  // The round copies on several threads, so each put notes it under a lock.
  std::mutex seen_mu;
  std::vector<int64_t> seen;
  nodes_.before_put = [&] {
    std::lock_guard lock(seen_mu);
    seen.push_back(raised.Status().backlog);
  };
  Rounds(raised, 2);
  nodes_.before_put = nullptr;
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), 3);
  EXPECT_GT(seen.back(), 0);
  for (const ImageRecord& image : images) ExpectGoodCopies(image, 2);
  EXPECT_EQ(*store_->RepairQueueLength(), 0);
  EXPECT_EQ(raised.Status().backlog, 0);
  EXPECT_EQ(**store_->GetSetting(std::string(Repairer::kReplicasSetting)), "2");
}

TEST_F(RepairerTest, LostServerIsReplacedOnlyAfterTheGracePeriod) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> before = Holders(image.id);
  const int dead = int(before[0]);
  std::vector<int> alive;
  for (int i : {1, 2, 3}) {
    if (i != dead) alive.push_back(i);
  }
  nodes_.fail[dead] = Error{ErrorCode::kUnavailable, "down"};
  Repairer repairer = Make(2);

  Pass(seconds(30), alive);  // unusable, within the grace period
  Rounds(repairer, 2);
  EXPECT_EQ(Holders(image.id), before) << "a short outage changes nothing";

  Pass(seconds(40), alive);  // 70 s without a heartbeat: lost
  Rounds(repairer, 2);
  std::vector<int64_t> after = Holders(image.id);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(std::count(after.begin(), after.end(), dead), 0);
  nodes_.fail.clear();
  ExpectGoodCopies(image, 2);
  EXPECT_EQ(registry_->Find(dead)->cur_pic_amount, 0)
      << "the lost server now holds nothing and can be removed";
}

// A lost server's images with no other server to take a copy keep the
// lost copy, and the tracker says once that they wait, and once when they
// go on.
TEST_F(RepairerTest, LostCopiesWithNowhereToGoWaitAndSaySo) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> before = Holders(image.id);
  const int dead = int(before[0]);
  int spare = 0;
  for (int i : {1, 2, 3}) {
    if (std::count(before.begin(), before.end(), i) == 0) spare = i;
  }
  ASSERT_TRUE(store_
                  ->UpdateServer(
                      spare, ServerUpdate{ServerState::kDisabled, std::nullopt})
                  .has_value());
  nodes_.fail[dead] = Error{ErrorCode::kUnavailable, "down"};
  testing::LogCapture log;
  Repairer repairer = Make(2);
  Pass(seconds(70), {int(before[1]), spare});  // lost
  Rounds(repairer, 3);
  EXPECT_EQ(Holders(image.id), before) << "nowhere to copy it: kept";
  EXPECT_EQ(log.Count("repair: images wait"), 1u) << log.Text();

  ASSERT_TRUE(store_
                  ->UpdateServer(
                      spare, ServerUpdate{ServerState::kActive, std::nullopt})
                  .has_value());
  Pass(seconds(1), {int(before[1]), spare});
  Rounds(repairer, 2);
  EXPECT_EQ(log.Count("copied again"), 1u) << log.Text();
  nodes_.fail.clear();
  ExpectGoodCopies(image, 2);
  const std::vector<int64_t> after = Holders(image.id);
  EXPECT_EQ(std::count(after.begin(), after.end(), int64_t(dead)), 0);
}

TEST_F(RepairerTest, AFreshTrackerGivesEveryServerAGracePeriod) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> before = Holders(image.id);
  std::vector<int> others;
  for (int i : {1, 2, 3}) {
    if (i != before[0]) others.push_back(i);
  }
  // Silent for longer than the grace period while no tracker watched.
  Pass(seconds(300), others);
  // A tracker (re)starting now.
  registry_ = std::make_unique<ServerRegistry>(*store_, clock_, seconds(6));
  ASSERT_TRUE(registry_->Refresh().has_value());
  Repairer repairer = Make(2);
  Rounds(repairer, 2);
  EXPECT_EQ(Holders(image.id), before) << "not lost before it had a chance";
  Pass(seconds(61), others);
  Rounds(repairer, 2);
  const std::vector<int64_t> after = Holders(image.id);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(std::count(after.begin(), after.end(), before[0]), 0);
}

TEST_F(RepairerTest, ADatabaseOutageGivesEveryServerAGracePeriod) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> before = Holders(image.id);
  Repairer repairer = Make(2);
  // While the database cannot be read no tracker records a beat: in the
  // store every server falls silent, for longer than the grace period.
  SetServerTableReadable(dir_.str() + "/meta.db", false);
  clock_.Advance(seconds(300));
  EXPECT_FALSE(registry_->Refresh().has_value());
  EXPECT_TRUE(registry_->RefreshError().has_value());
  SetServerTableReadable(dir_.str() + "/meta.db", true);
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_FALSE(registry_->RefreshError().has_value());
  EXPECT_EQ(registry_->HealthKnownSince(), clock_.NowSeconds());
  Rounds(repairer, 2);
  EXPECT_EQ(Holders(image.id), before)
      << "no copy moves for a silence no one could record";
  // Then a server that really stays silent is lost after its grace period.
  std::vector<int> others;
  for (int i : {1, 2, 3}) {
    if (i != before[0]) others.push_back(i);
  }
  Pass(seconds(61), others);
  Rounds(repairer, 2);
  const std::vector<int64_t> after = Holders(image.id);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(std::count(after.begin(), after.end(), before[0]), 0);
}

TEST_F(RepairerTest, DrainMovesEveryImageAwayThenTheServerIsEmpty) {
  std::vector<ImageRecord> images;
  for (int i = 0; i < 20; ++i) images.push_back(Upload(1));
  ASSERT_TRUE(
      store_
          ->UpdateServer(1, ServerUpdate{ServerState::kDraining, std::nullopt})
          .has_value());
  ASSERT_TRUE(registry_->Refresh().has_value());
  Repairer repairer = Make(1);
  Rounds(repairer, 3);
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_EQ(registry_->Find(1)->cur_pic_amount, 0);
  EXPECT_EQ(nodes_.Count(1), 0u) << "its files deleted once copied";
  for (const ImageRecord& image : images) ExpectGoodCopies(image, 1);
  EXPECT_TRUE(store_->RemoveServer(1).has_value());
}

TEST_F(RepairerTest, DrainOfTheLastServerKeepsTheOnlyCopy) {
  ImageRecord image = Upload(1);
  const int64_t holder = Holders(image.id)[0];
  for (int64_t id : {int64_t(1), int64_t(2), int64_t(3)}) {
    ASSERT_TRUE(store_
                    ->UpdateServer(
                        id, ServerUpdate{ServerState::kDraining, std::nullopt})
                    .has_value());
  }
  ASSERT_TRUE(registry_->Refresh().has_value());
  Repairer repairer = Make(1);
  Rounds(repairer, 2);
  EXPECT_EQ(Holders(image.id), std::vector<int64_t>{holder});
  ExpectGoodCopies(image, 1);
}

// A drain moves copies; it never lowers how many there are. With no other
// server to take a copy, the draining server keeps its own and the drain
// waits; once one can, the copy moves.
TEST_F(RepairerTest, DrainWithNowhereToCopyWaits) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> holders = Holders(image.id);
  int64_t spare = 0;
  for (int64_t id : {1, 2, 3}) {
    if (std::count(holders.begin(), holders.end(), id) == 0) spare = id;
  }
  auto set = [&](int64_t id, ServerState state) {
    ASSERT_TRUE(store_->UpdateServer(id, ServerUpdate{state, std::nullopt})
                    .has_value());
    ASSERT_TRUE(registry_->Refresh().has_value());
  };
  set(spare, ServerState::kDisabled);
  set(holders[0], ServerState::kDraining);
  testing::LogCapture log;
  Repairer repairer = Make(2);
  Rounds(repairer, 3);
  EXPECT_EQ(Holders(image.id), holders) << "both copies kept";
  EXPECT_EQ(repairer.Status().copies_dropped, 0);
  EXPECT_GT(repairer.Status().backlog, 0) << "the drain is not done";
  EXPECT_EQ(log.Count("repair: images wait"), 1u) << "said once:\n"
                                                  << log.Text();
  EXPECT_EQ(repairer.Status().waiting, 1);

  set(spare, ServerState::kActive);
  Rounds(repairer, 2);
  EXPECT_EQ(log.Count("copied again"), 1u) << log.Text();
  EXPECT_EQ(repairer.Status().waiting, 0);
  ExpectGoodCopies(image, 2);
  const std::vector<int64_t> now = Holders(image.id);
  EXPECT_EQ(std::count(now.begin(), now.end(), holders[0]), 0);
}

// A copy that repair reads and finds corrupt or missing, kept because the
// image's other copy is on a server that is down, is said once, counts no
// more, and goes (with a new good copy made) once that server is back.
TEST_F(RepairerTest, BadCopyFoundByRepairIsRememberedUntilReplaced) {
  for (bool missing : {false, true}) {
    SCOPED_TRACE(missing ? "missing" : "corrupt");
    Pass(seconds(1), {1, 2, 3});
    ImageRecord image = Upload(2);
    const std::vector<int64_t> holders = Holders(image.id);
    const int64_t bad = holders[0], down = holders[1];
    const std::pair<int64_t, std::string> file{
        bad, image.placements[0].relative_path};
    if (missing) {
      nodes_.files.erase(file);
    } else {
      nodes_.files[file][100] ^= 0x01;
    }
    std::vector<int> beating;
    for (int i : {1, 2, 3}) {
      if (i != down) beating.push_back(i);
    }
    Pass(seconds(61), beating);  // past the grace period: `down` is lost
    Repairer repairer = Make(2);
    Rounds(repairer, 4);
    EXPECT_EQ(repairer.Status().corrupt, 1) << "found, and said, once";
    EXPECT_EQ(Holders(image.id), holders) << "nothing good to copy";

    Pass(seconds(1), {1, 2, 3});  // the good copy's server is back
    Rounds(repairer, 2);
    ExpectGoodCopies(image, 2);
    EXPECT_EQ(repairer.Status().unreadable, 0);
    const std::vector<int64_t> now = Holders(image.id);
    EXPECT_EQ(std::count(now.begin(), now.end(), bad), 0);
  }
}

// A file queued for deletion on a server (a copy forgotten while it was
// down, a store that failed unanswered) is deleted when the server is back
// unless a copy of the image is recorded there by then.
TEST_F(RepairerTest, QueuedFileDeleteSparesACopyRecordedSince) {
  ImageRecord kept = Upload(1);
  const int64_t holder = Holders(kept.id)[0];
  const std::string& kept_path = kept.placements[0].relative_path;
  const std::string stray =
      MakeImagePath(ImageId::New(), ImageFormat::kJpeg).relative;
  nodes_.files[{holder, stray}] = "stray bytes";
  ASSERT_TRUE(store_->QueueFileDelete({holder, kept_path}, 1).has_value());
  ASSERT_TRUE(store_->QueueFileDelete({holder, stray}, 1).has_value());
  Repairer repairer = Make(1);
  Rounds(repairer, 1);
  EXPECT_EQ(nodes_.files.count({holder, kept_path}), 1u) << "recorded: kept";
  EXPECT_EQ(nodes_.files.count({holder, stray}), 0u);
  EXPECT_TRUE(store_->FileDeletes(holder, 10)->empty());
  ExpectGoodCopies(kept, 1);
}

TEST_F(RepairerTest, CorruptCopyFromTheScrubberIsReplaced) {
  ImageRecord image = Upload(2);
  const int64_t bad = Holders(image.id)[0];
  Repairer repairer = Make(2);
  EXPECT_EQ(DamageAndScrub(repairer, image, bad).size(), 1u);
  EXPECT_EQ(Holders(image.id).size(), 1u) << "the corrupt copy retired";
  Rounds(repairer, 1);
  ExpectGoodCopies(image, 2);
}

TEST_F(RepairerTest, CorruptCopyIsKeptWhileTheOtherIsOnADownServer) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> holders = Holders(image.id);
  const int64_t bad = holders[0], down = holders[1];
  // The other copy's server stops beating: unusable, perhaps for good.
  std::vector<int> beating;
  for (int i : {1, 2, 3}) {
    if (i != down) beating.push_back(i);
  }
  Pass(seconds(10), beating);
  Repairer repairer = Make(2);
  EXPECT_EQ(DamageAndScrub(repairer, image, bad).size(), 1u);
  EXPECT_EQ(Holders(image.id), holders)
      << "the only readable copy, damaged, is kept";
  EXPECT_EQ(nodes_.files.count({bad, image.placements[0].relative_path}), 1u);
}

TEST_F(RepairerTest, MatchingScrubReportChangesNothing) {
  ImageRecord image = Upload(2);
  Repairer repairer = Make(2);
  const int64_t s = Holders(image.id)[0];
  auto found = repairer.CheckScrub(
      *registry_->Find(s),
      {{image.placements[0].relative_path, image.sha256, image.bytes}});
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->empty());
  EXPECT_EQ(Holders(image.id).size(), 2u);
}

TEST_F(RepairerTest, NeverCopiesACorruptCopy) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> held = Holders(image.id);
  // Both copies rot silently; a third is wanted.
  for (int64_t s : held) {
    nodes_.files[{s, image.placements[0].relative_path}][100] ^= 0x01;
  }
  Repairer repairer = Make(3);
  Rounds(repairer, 2);
  EXPECT_EQ(repairer.Status().copies_made, 0);
  EXPECT_EQ(Holders(image.id), held)
      << "neither damaged copy retired: together they may mend the image";
  EXPECT_EQ(nodes_.Count(held[0]) + nodes_.Count(held[1]), 2u);
  for (const auto& [key, bytes] : nodes_.files) {
    EXPECT_NE(Sha256Hex(bytes), image.sha256) << "no good copy was invented";
  }
}

// A damaged copy goes only for another that reads back good, not for one
// merely recorded on a usable server: that one may be missing.
TEST_F(RepairerTest, DamagedCopyIsKeptWhenTheOtherIsMissing) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> held = Holders(image.id);
  const std::string& relative = image.placements[0].relative_path;
  nodes_.files.erase({held[0], relative});
  Repairer repairer = Make(2);
  EXPECT_EQ(DamageAndScrub(repairer, image, held[1]).size(), 1u);
  EXPECT_EQ(Holders(image.id), held);
  EXPECT_EQ(nodes_.files.count({held[1], relative}), 1u)
      << "the last bytes of the image are kept";
  Rounds(repairer, 2);
  EXPECT_EQ(nodes_.files.count({held[1], relative}), 1u);
  EXPECT_EQ(repairer.Status().copies_made, 0) << "nothing good to copy";
  EXPECT_EQ(repairer.Status().unreadable, 1) << "and said so";
}

// A copy found bad is read again later: bytes put back (from a backup, a
// disk mended) are found, whether a scrub reports them or the mark lapses.
TEST_F(RepairerTest, ABadCopyPutBackIsFoundAgain) {
  for (bool by_scrub : {true, false}) {
    ImageRecord image = Upload(2);
    const std::vector<int64_t> held = Holders(image.id);
    const std::string& relative = image.placements[0].relative_path;
    const std::string good = nodes_.files[{held[0], relative}];
    nodes_.files.erase({held[0], relative});
    Repairer repairer = Make(2);
    EXPECT_EQ(DamageAndScrub(repairer, image, held[1]).size(), 1u);
    Rounds(repairer, 2);
    EXPECT_EQ(repairer.Status().copies_made, 0) << "nothing good to copy";
    EXPECT_EQ(repairer.Status().corrupt, 2) << "each bad copy counted once";
    nodes_.files[{held[1], relative}] = good;  // put back
    if (by_scrub) {
      auto found = repairer.CheckScrub(*registry_->Find(held[1]),
                                       {{relative, image.sha256, image.bytes}});
      ASSERT_TRUE(found.has_value());
      EXPECT_TRUE(found->empty());
    } else {
      clock_.Advance(Repairer::kBadCopyRecheck);
      Beat({1, 2, 3});
    }
    Rounds(repairer, 2);
    ExpectGoodCopies(image, 2);
    const std::vector<int64_t> now = Holders(image.id);
    EXPECT_EQ(std::count(now.begin(), now.end(), held[0]), 0)
        << "the missing copy went once another read back good";
    nodes_.files.clear();
  }
}

// A tracker restarted while a bad copy is kept has forgotten its mark; the
// image is still queued, so its copies are read and checked again.
TEST_F(RepairerTest, ARestartedTrackerFindsAKeptBadCopyAgain) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> held = Holders(image.id);
  nodes_.files.erase({held[0], image.placements[0].relative_path});
  {
    Repairer before = Make(2);
    EXPECT_EQ(DamageAndScrub(before, image, held[1]).size(), 1u);
  }
  Repairer after = Make(2, "t2");
  clock_.Advance(seconds(20));  // the first one's lease runs out
  Beat({1, 2, 3});
  Rounds(after, 2);
  EXPECT_EQ(*store_->RepairQueueLength(), 1) << "still queued";
  EXPECT_EQ(after.Status().corrupt, 2) << "both bad copies found again";
  EXPECT_EQ(Holders(image.id), held) << "and both kept";
}

// Lowering --replicas trims copies, keeping only those that read back
// good: here the emptier server's copy, which it would keep, is missing.
TEST_F(RepairerTest, TrimKeepsTheCopiesThatReadBackGood) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> held = Holders(image.id);
  const std::string& relative = image.placements[0].relative_path;
  // The first holder is made the emptier: the trim would keep its copy.
  ASSERT_TRUE(
      store_->UpdateServer(held[1], ServerUpdate{std::nullopt, 2}).has_value());
  ASSERT_TRUE(registry_->Refresh().has_value());
  nodes_.files.erase({held[0], relative});
  Repairer repairer = Make(1);
  Rounds(repairer, 3);
  ExpectGoodCopies(image, 1);
  EXPECT_EQ(Holders(image.id), std::vector<int64_t>{held[1]})
      << "the copy that reads back good stays; the missing one goes";
}

// A drain retires its copy only once another reads back good: not for a
// copy recorded on a live server whose file is gone.
TEST_F(RepairerTest, DrainKeepsItsCopyWhileTheOtherIsMissing) {
  ImageRecord image = Upload(2);
  const std::vector<int64_t> held = Holders(image.id);
  const std::string& relative = image.placements[0].relative_path;
  ASSERT_TRUE(store_
                  ->UpdateServer(held[0], ServerUpdate{ServerState::kDraining,
                                                       std::nullopt})
                  .has_value());
  ASSERT_TRUE(registry_->Refresh().has_value());
  nodes_.files.erase({held[1], relative});
  // One copy wanted: the live one counts, and would let the drain retire
  // the draining copy at once.
  Repairer repairer = Make(1);
  Rounds(repairer, 3);
  ExpectGoodCopies(image, 1);
  auto now = store_->GetImage(image.id);
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->placements[0].server_id, held[0]) << "moved off the drain";
}

// An image deleted while a round works on it is no bad copy: its missing
// files are not reported, remembered or counted as corrupt.
TEST_F(RepairerTest, ImageDeletedDuringTheRoundIsNoBadCopy) {
  ImageRecord image = Upload(1);
  Repairer repairer = Make(2);
  nodes_.before_read = [&] {
    if (store_->DeleteImage(image.id)) nodes_.files.clear();
  };
  Rounds(repairer, 2);
  nodes_.before_read = nullptr;
  EXPECT_EQ(repairer.Status().corrupt, 0);
  EXPECT_EQ(repairer.Status().copies_made, 0);
  EXPECT_EQ(*store_->RepairQueueLength(), 0);
}

// A server whose node takes no file this large is no place for a copy: the
// image waits for one, and says so (the node would refuse the PUT by its
// head, closing the connection, as a server gone does).
TEST_F(RepairerTest, CopiesGoOnlyToServersThatTakeTheFile) {
  ImageRecord image = Upload(1);
  const int64_t holder = Holders(image.id)[0];
  for (int i : {1, 2, 3}) {
    if (i == holder) continue;
    NodeStatus small = FakeBeat(i);
    small.max_upload_bytes = image.bytes - 1;
    ASSERT_TRUE(registry_->Heartbeat(small).has_value());
  }
  nodes_.puts.clear();
  Repairer repairer = Make(2);
  Rounds(repairer, 2);
  EXPECT_EQ(Holders(image.id).size(), 1u);
  EXPECT_TRUE(nodes_.puts.empty()) << "no server was sent the file";
  EXPECT_EQ(repairer.Status().waiting, 1);
}

TEST_F(RepairerTest, OnlyTheLeaseHolderRepairs) {
  nodes_.fail[2] = Error{ErrorCode::kUnavailable, "down"};
  nodes_.fail[3] = Error{ErrorCode::kUnavailable, "down"};
  ImageRecord image = Upload(2);
  nodes_.fail.clear();
  Repairer first = Make(2, "t1");
  Repairer second = Make(2, "t2");
  ASSERT_TRUE(store_->AcquireLease("repair", "t1", clock_.NowSeconds(), 15));
  Rounds(second, 1);
  EXPECT_FALSE(second.Status().leader);
  EXPECT_EQ(Holders(image.id).size(), 1u);
  clock_.Advance(seconds(20));  // t1 died: its lease runs out
  Beat({1, 2, 3});
  Rounds(second, 1);
  EXPECT_TRUE(second.Status().leader);
  ExpectGoodCopies(image, 2);
  // A clean stop gives the lease up: the next tracker need not wait.
  second.ReleaseLease();
  EXPECT_FALSE(second.Status().leader);
  Rounds(first, 1);
  EXPECT_TRUE(first.Status().leader) << "taken at once, not after 15 s";
}

// A lease that cannot be renewed (the database does not answer) is given
// up once it has run out: another tracker may hold it by then, and
// repair_leader must not say this one leads.
TEST_F(RepairerTest, ALeaseThatCannotBeRenewedLapses) {
  Repairer repairer = Make(2, "t1");
  Rounds(repairer, 1);
  ASSERT_TRUE(repairer.Status().leader);
  const std::string db = dir_.str() + "/meta.db";
  std::filesystem::rename(db, db + ".away");  // writes fail from now on
  clock_.Advance(seconds(10));                // time to renew
  EXPECT_FALSE(repairer.RunOnce().has_value());
  EXPECT_TRUE(repairer.Status().leader) << "still within its time";
  clock_.Advance(seconds(10));
  EXPECT_FALSE(repairer.RunOnce().has_value());
  EXPECT_FALSE(repairer.Status().leader);
  std::filesystem::rename(db + ".away", db);
  Beat({1, 2, 3});
  Rounds(repairer, 1);
  EXPECT_TRUE(repairer.Status().leader) << "taken again once it can be";
}

TEST_F(RepairerTest, ExtraCopiesAreTrimmed) {
  ImageRecord image = Upload(3);
  Repairer repairer = Make(2);
  // The sweep finds it.
  Rounds(repairer, 1);
  ExpectGoodCopies(image, 2);
}

TEST_F(RepairerTest, RebalanceMovesFromTheFullestUntilWithinSpread) {
  // Fill server 1 alone, then open the others.
  for (int id : {2, 3}) {
    ASSERT_TRUE(store_
                    ->UpdateServer(
                        id, ServerUpdate{ServerState::kDisabled, std::nullopt})
                    .has_value());
  }
  ASSERT_TRUE(registry_->Refresh().has_value());
  std::vector<ImageRecord> images;
  for (int i = 0; i < 30; ++i) images.push_back(Upload(1));
  for (int id : {2, 3}) {
    ASSERT_TRUE(
        store_
            ->UpdateServer(id, ServerUpdate{ServerState::kActive, std::nullopt})
            .has_value());
  }
  ASSERT_TRUE(store_->SetSetting("rebalance_spread", "0.005").has_value());
  Beat({1, 2, 3}, 100);
  Repairer repairer = Make(1);
  for (int i = 0; i < 20 && store_->GetSetting("rebalance_spread")->has_value();
       ++i) {
    Rounds(repairer, 1);
    ASSERT_TRUE(registry_->Refresh().has_value());
  }
  EXPECT_FALSE(store_->GetSetting("rebalance_spread")->has_value())
      << "done: the setting is cleared";
  for (int id : {1, 2, 3}) {
    EXPECT_EQ(registry_->Find(id)->cur_pic_amount, 10) << "server " << id;
    EXPECT_EQ(nodes_.Count(id), 10u) << "server " << id;
  }
  for (const ImageRecord& image : images) ExpectGoodCopies(image, 1);
  EXPECT_GE(repairer.Status().moved, 20);
}

// The spread is relative to the mean fill: a fresh server beside a large
// one holding 50 k images is far from even although both fill ratios are
// under 1 %; servers that are not active and usable do not count.
TEST(FillSpreadTest, IsTheGapAsAShareOfTheMeanFill) {
  auto row = [](int64_t id, int64_t cur, int64_t max) {
    ServerRow s;
    s.server_id = id;
    s.cur_pic_amount = cur;
    s.max_pic_amount = max;
    s.flg_usable = true;
    s.state = ServerState::kActive;
    return s;
  };
  EXPECT_DOUBLE_EQ(
      FillSpread({row(1, 50'000, 10'000'000), row(2, 0, 10'000'000)}), 2.0);
  EXPECT_DOUBLE_EQ(FillSpread({row(1, 100, 1000), row(2, 200, 2000)}), 0.0);
  ServerRow down = row(3, 0, 1000);
  down.flg_usable = false;
  EXPECT_DOUBLE_EQ(FillSpread({row(1, 10, 1000), down}), 0.0);
  EXPECT_DOUBLE_EQ(FillSpread({row(1, 0, 1000), row(2, 0, 1000)}), 0.0);
}

}  // namespace
}  // namespace imgstore
