#include "tracker/server_registry.h"

#include <gtest/gtest.h>

#include "core/placement.h"
#include "testing/testing.h"
#include "tracker/store_outage.h"

namespace imgstore {
namespace {

class ServerRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenMetadataStore("sqlite:" + dir_.str() + "/meta.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    registry_ = std::make_unique<ServerRegistry>(*store_, clock_, kTimeout);
  }

  static NodeStatus Beat(const std::string& name, const std::string& url,
                         int64_t images = 0) {
    NodeStatus s;
    s.name = name;
    s.url = url;
    s.root = "/srv/images";
    s.images = images;
    s.disk_free_bytes = int64_t(1) << 40;
    s.max_pics = 1000;
    return s;
  }

  static constexpr std::chrono::seconds kTimeout{6};
  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ServerRegistry> registry_;
};

// Two nodes started with one name (the default node-PORT on two hosts):
// the second must not take over the first's row, whose copies it does not
// hold. A node that moved, its old URL silent, keeps its row.
TEST_F(ServerRegistryTest, LiveServersNameIsNotTakenOver) {
  auto first = registry_->Heartbeat(Beat("node-9001", "http://a:9001"));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  auto second = registry_->Heartbeat(Beat("node-9001", "http://b:9001"));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().message.find("in use by server"), std::string::npos)
      << second.error().message;
  ASSERT_EQ(registry_->Snapshot().size(), 1u);
  EXPECT_EQ(registry_->Snapshot()[0].server_url, "http://a:9001");

  clock_.Advance(kTimeout + std::chrono::seconds(1));
  auto moved = registry_->Heartbeat(Beat("node-9001", "http://b:9001"));
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_EQ(moved->server_id, first->server_id);
  EXPECT_EQ(registry_->Snapshot()[0].server_url, "http://b:9001");
}

// A node back with far fewer images than the copies recorded on it lost
// its files (a disk not mounted under --root): refused, so it turns
// unusable and resolve hands out other copies instead of its 404s.
// A node whose root takes no new file (read-only, out of inodes) says so
// in its heartbeat: it gets no uploads until a heartbeat says it does.
TEST_F(ServerRegistryTest, RootThatTakesNoFileGetsNoUploads) {
  NodeStatus s = Beat("n1", "http://a:9001");
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  EXPECT_EQ(Candidates(registry_->Snapshot(), 0).size(), 1u);
  s.write_error = "create a file in /srv/images: Read-only file system";
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  EXPECT_TRUE(Candidates(registry_->Snapshot(), 0).empty());
  EXPECT_TRUE(registry_->Snapshot()[0].flg_usable) << "still serves reads";
  s.write_error.clear();
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  EXPECT_EQ(Candidates(registry_->Snapshot(), 0).size(), 1u);
}

// A node beating less than twice per heartbeat timeout would flap between
// usable and not: the tracker says so, once.
TEST_F(ServerRegistryTest, BeatsTooRareForTheTimeoutAreSaidOnce) {
  testing::LogCapture log;
  NodeStatus s = Beat("n1", "http://a:9001");
  s.heartbeat_s = 2;  // against 6 s: fine
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  EXPECT_EQ(log.Count("it will flap"), 0u);
  s.heartbeat_s = 5;
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  ASSERT_TRUE(registry_->Heartbeat(s).has_value());
  EXPECT_EQ(log.Count("it will flap"), 1u) << log.Text();
}

TEST_F(ServerRegistryTest, NodeThatLostItsFilesIsRefused) {
  auto row = registry_->Heartbeat(Beat("n1", "http://a:9001"));
  ASSERT_TRUE(row.has_value());
  registry_->AdjustCount(row->server_id, 40);

  auto empty = registry_->Heartbeat(Beat("n1", "http://a:9001", 0));
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kConflict);
  EXPECT_NE(empty.error().message.find("reports 0 images"), std::string::npos)
      << empty.error().message;
  EXPECT_FALSE(registry_->Find(row->server_id)->flg_usable)
      << "unusable at once, not a heartbeat timeout later";
  clock_.Advance(kTimeout + std::chrono::seconds(1));
  ASSERT_FALSE(registry_->Heartbeat(Beat("n1", "http://a:9001", 3)));
  EXPECT_FALSE(registry_->Find(row->server_id)->flg_usable);

  // Its disk is back: most of what is recorded is there.
  auto mounted = registry_->Heartbeat(Beat("n1", "http://a:9001", 38));
  ASSERT_TRUE(mounted.has_value()) << mounted.error().message;
  EXPECT_TRUE(registry_->Find(row->server_id)->flg_usable);

  // Small counts drift with uploads and deletes in flight: not judged.
  auto small = registry_->Heartbeat(Beat("n2", "http://b:9001"));
  ASSERT_TRUE(small.has_value());
  registry_->AdjustCount(small->server_id, 5);
  EXPECT_TRUE(registry_->Heartbeat(Beat("n2", "http://b:9001", 0)));

  // But a node back on another --root without its files is refused at
  // any count; with them (the disk mounted elsewhere) it is taken. (The
  // store holds no copies here: its row, read back by each beat, says 0.)
  registry_->AdjustCount(small->server_id, 5);
  NodeStatus moved = Beat("n2", "http://b:9001", 1);
  moved.root = "/srv/other";
  auto refused = registry_->Heartbeat(moved);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  moved.images = 5;
  EXPECT_TRUE(registry_->Heartbeat(moved));
}

// While the database cannot be read no tracker records a beat, so every
// server falls silent in the store: none may be called lost for that, not
// during the outage nor at its end (trackers that hear no beats themselves
// would hand out default images for live servers). One unusable before
// stays so; silence after the outage counts as usual.
TEST_F(ServerRegistryTest, AStoreOutageCallsNoServerLost) {
  for (const char* url : {"http://a:1", "http://b:1", "http://c:1"}) {
    ASSERT_TRUE(registry_->Heartbeat(Beat(url, url)).has_value());
  }
  clock_.Advance(kTimeout);
  ASSERT_TRUE(registry_->Heartbeat(Beat("http://a:1", "http://a:1")));
  ASSERT_TRUE(registry_->Heartbeat(Beat("http://b:1", "http://b:1")));
  ASSERT_TRUE(registry_->Refresh().has_value());
  auto usable = [&] {
    std::string out;
    for (const ServerRow& row : registry_->Snapshot())
      out += row.flg_usable ? "1" : "0";
    return out;
  };
  ASSERT_EQ(usable(), "110");

  const std::string db = dir_.str() + "/meta.db";
  SetServerTableReadable(db, false);
  clock_.Advance(kTimeout * 5);
  EXPECT_FALSE(registry_->Refresh().has_value());
  EXPECT_EQ(usable(), "110") << "during the outage";
  SetServerTableReadable(db, true);
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_EQ(usable(), "110") << "at its end";
  auto stored = store_->ListServers();
  ASSERT_TRUE(stored.has_value());
  for (const ServerRow& row : *stored)
    EXPECT_EQ(row.flg_usable, row.server_url != "http://c:1") << row.server_url;

  clock_.Advance(kTimeout - std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_EQ(usable(), "110");
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Heartbeat(Beat("http://b:1", "http://b:1")));
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_EQ(usable(), "010") << "silent a timeout after the outage";
}

// A beat the store refuses (a status it will not take) is a refusal, not
// an outage: the server it names stays as it was, unusable if it was.
TEST_F(ServerRegistryTest, ABeatTheStoreRefusesChangesNothing) {
  ASSERT_TRUE(registry_->Heartbeat(Beat("a", "http://a:1")));
  clock_.Advance(kTimeout + std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Refresh().has_value());
  ASSERT_FALSE(registry_->Snapshot()[0].flg_usable);
  const int64_t heard = registry_->Snapshot()[0].last_heartbeat_at;

  NodeStatus bad = Beat("a", "http://a:1");
  bad.max_pics = -5;
  auto refused = registry_->Heartbeat(bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(registry_->Snapshot()[0].flg_usable);
  EXPECT_EQ(registry_->Snapshot()[0].last_heartbeat_at, heard);
  ASSERT_TRUE(registry_->Refresh().has_value());
  EXPECT_FALSE(registry_->Snapshot()[0].flg_usable) << "after a refresh too";
  EXPECT_FALSE(registry_->RefreshError().has_value()) << "no outage was called";

  ASSERT_TRUE(registry_->Heartbeat(Beat("a", "http://a:1")));
  EXPECT_TRUE(registry_->Snapshot()[0].flg_usable)
      << "a good beat still counts";
}

// A tracker that was down heard no beats (it may be the only one): at its
// start a server usable when it stopped stays usable for a timeout, not
// called lost for that silence; one unusable then stays so.
TEST_F(ServerRegistryTest, ARestartedTrackerCallsNoServerLostAtOnce) {
  ASSERT_TRUE(registry_->Heartbeat(Beat("a", "http://a:1")));
  ASSERT_TRUE(registry_->Heartbeat(Beat("b", "http://b:1")));
  clock_.Advance(kTimeout);
  ASSERT_TRUE(registry_->Heartbeat(Beat("a", "http://a:1")));
  ASSERT_TRUE(registry_->Refresh().has_value());  // b recorded unusable
  clock_.Advance(std::chrono::seconds(30));       // the tracker is down

  ServerRegistry restarted(*store_, clock_, kTimeout);
  ASSERT_TRUE(restarted.Refresh().has_value());
  auto usable = [&] {
    std::string out;
    for (const ServerRow& row : restarted.Snapshot())
      out += row.flg_usable ? "1" : "0";
    return out;
  };
  EXPECT_EQ(usable(), "10");
  clock_.Advance(kTimeout);
  ASSERT_TRUE(restarted.Refresh().has_value());
  EXPECT_EQ(usable(), "00") << "silent a timeout after the start";
}

}  // namespace
}  // namespace imgstore
