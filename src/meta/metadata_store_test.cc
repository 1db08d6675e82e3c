#include "meta/metadata_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/hex.h"
#include "core/layout.h"
#include "meta/postgres_store.h"
#include "testing/testing.h"

namespace imgstore {
namespace {

// One kind of store under test. `open` opens the store kept in `dir`;
// called again with the same dir it re-opens that same store. `close`, if
// set, discards what `open` made for `dir` (after the store is destroyed).
// A non-empty `skip` names why this store cannot run here: its cases are
// reported as skipped, not passed.
struct StoreFactory {
  std::string name;  // the test-name suffix: letters and digits only
  std::function<Result<std::unique_ptr<MetadataStore>>(
      const std::filesystem::path& dir)>
      open;
  std::function<void(const std::filesystem::path& dir)> close;
  std::string skip;
};

void PrintTo(const StoreFactory& factory, std::ostream* os) {
  *os << factory.name;
}

// PostgreSQL: a database of its own per test (per dir), created through the
// server that IMGSTORE_TEST_POSTGRES_URL names and dropped after the test.
// scripts/pg-scratch makes such a server; scripts/test exports the URL.
class PostgresDatabases {
 public:
  static PostgresDatabases& Get() {
    static PostgresDatabases instance;
    return instance;
  }

  const std::string& url() const { return url_; }

  Result<std::unique_ptr<MetadataStore>> Open(
      const std::filesystem::path& dir) {
    std::string name;
    {
      // Held while creating, so stores opening one dir at once share it.
      std::lock_guard lock(mu_);
      auto it = names_.find(dir.string());
      if (it != names_.end()) {
        name = it->second;
      } else {
        std::random_device random;
        name = fmt::format("t_{:08x}{:08x}", random(), random());
        if (auto ok = CreatePostgresDatabase(url_, name); !ok) {
          return Fail(ok.error());
        }
        names_[dir.string()] = name;
      }
    }
    return OpenMetadataStore(PostgresUrlWithDatabase(url_, name));
  }

  void Close(const std::filesystem::path& dir) {
    std::string name;
    {
      std::lock_guard lock(mu_);
      auto it = names_.find(dir.string());
      if (it == names_.end()) return;
      name = it->second;
      names_.erase(it);
    }
    auto dropped = DropPostgresDatabase(url_, name);
    if (!dropped) ADD_FAILURE() << dropped.error().message;
  }

 private:
  PostgresDatabases() {
    const char* url = getenv("IMGSTORE_TEST_POSTGRES_URL");
    if (url != nullptr) url_ = url;
  }

  std::string url_;  // empty: no server to test against
  std::mutex mu_;    // guards names_
  std::map<std::string, std::string> names_;  // dir → database
};

// The stores every test runs against.
std::vector<StoreFactory> Factories() {
  StoreFactory postgres{"Postgres",
                        [](const std::filesystem::path& dir) {
                          return PostgresDatabases::Get().Open(dir);
                        },
                        [](const std::filesystem::path& dir) {
                          PostgresDatabases::Get().Close(dir);
                        },
                        ""};
  if (PostgresDatabases::Get().url().empty()) {
    postgres.skip =
        "IMGSTORE_TEST_POSTGRES_URL is not set (scripts/pg-scratch start DIR "
        "prints one)";
  }
  return {
      {"Sqlite",
       [](const std::filesystem::path& dir) {
         return OpenMetadataStore("sqlite:" + (dir / "meta.db").string(),
                                  {.resolve_index = false});
       },
       nullptr, ""},
      // What a tracker on SQLite runs: the same file behind IndexedStore,
      // which must keep every promise of the interface too.
      {"SqliteIndexed",
       [](const std::filesystem::path& dir) {
         return OpenMetadataStore("sqlite:" + (dir / "meta.db").string(),
                                  {.resolve_index = true});
       },
       nullptr, ""},
      postgres,
  };
}

// The value of a setup step that must succeed. A failure ends the test:
// gtest reports the exception with the store's message.
template <typename T>
T Must(Result<T> result) {
  if (!result) {
    throw std::runtime_error(std::string(ErrorCodeName(result.error().code)) +
                             ": " + result.error().message);
  }
  return *std::move(result);
}
void Must(Result<void> result) {
  if (!result) {
    throw std::runtime_error(std::string(ErrorCodeName(result.error().code)) +
                             ": " + result.error().message);
  }
}

template <typename T>
::testing::AssertionResult FailsWith(const Result<T>& result, ErrorCode code) {
  if (result) {
    return ::testing::AssertionFailure()
           << "succeeded; expected " << ErrorCodeName(code);
  }
  if (result.error().code != code) {
    return ::testing::AssertionFailure()
           << "failed with " << ErrorCodeName(result.error().code) << " ("
           << result.error().message << "); expected " << ErrorCodeName(code);
  }
  return ::testing::AssertionSuccess() << result.error().message;
}

void ExpectSameImage(const ImageRecord& got, const ImageRecord& want) {
  EXPECT_EQ(got.id.str(), want.id.str());
  EXPECT_EQ(FormatContentType(got.format), FormatContentType(want.format));
  EXPECT_EQ(got.bytes, want.bytes);
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  EXPECT_EQ(got.sha256, want.sha256);
  EXPECT_EQ(got.created_at, want.created_at);
  auto key = [](const std::vector<Placement>& placements) {
    std::vector<std::pair<int64_t, std::string>> out;
    for (const Placement& p : placements) {
      out.emplace_back(p.server_id, p.relative_path);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(key(got.placements), key(want.placements));
}

std::vector<std::string> Ids(const std::vector<ImageRecord>& images) {
  std::vector<std::string> out;
  for (const ImageRecord& image : images) out.push_back(image.id.str());
  return out;
}

class MetadataStoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (!GetParam().skip.empty()) GTEST_SKIP() << GetParam().skip;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    if (GetParam().close) GetParam().close(dir_.path());
  }

  void Reopen() {
    store_.reset();
    store_ = Must(GetParam().open(dir_.path()));
  }

  MetadataStore& store() { return *store_; }

  ServerRow AddServer(const std::string& name, int64_t max_pic_amount) {
    return Must(
        store().AddServer(name, "http://" + name + ":8000", max_pic_amount));
  }

  // The server's current row, found through ListServers.
  ServerRow Server(int64_t server_id) {
    for (ServerRow& row : Must(store().ListServers())) {
      if (row.server_id == server_id) return row;
    }
    throw std::runtime_error("server not listed");
  }

  // A new image (not yet stored) with one copy on each of `servers`.
  static ImageRecord NewImage(const std::vector<int64_t>& servers,
                              int64_t created_at = 1700000000,
                              ImageFormat format = ImageFormat::kJpeg) {
    ImageRecord image{.id = ImageId::New(),
                      .format = format,
                      .bytes = 12345,
                      .width = 640,
                      .height = 480,
                      .sha256 = Sha256Hex("bytes"),
                      .created_at = created_at};
    for (int64_t server_id : servers) {
      image.placements.push_back(
          Placement{server_id, MakeImagePath(image.id, format).relative});
    }
    return image;
  }

  imgstore::testing::TempDir dir_;
  std::unique_ptr<MetadataStore> store_;
};

// ---- opening ----

TEST_P(MetadataStoreTest, ReopenKeepsDataAndAppliesNoMigrationTwice) {
  ServerRow server = AddServer("n1", 10);
  ImageRecord image = NewImage({server.server_id});
  Must(store().AddImage(image));

  // Re-applying 001 would fail on CREATE TABLE, so a clean re-open is the
  // proof that applied migrations are skipped.
  Reopen();
  Reopen();

  EXPECT_EQ(Server(server.server_id).cur_pic_amount, 1);
  ExpectSameImage(Must(store().GetImage(image.id)), image);
}

TEST_P(MetadataStoreTest, StoresOpeningTogetherApplyEachMigrationOnce) {
  // Trackers starting at once on a new database: every one must open (none
  // fails on a table another just made) and they must share one schema.
  const std::filesystem::path fresh = dir_.path() / "fresh";
  std::filesystem::create_directories(fresh);
  constexpr int kStores = 4;
  std::vector<std::unique_ptr<MetadataStore>> stores(kStores);
  std::vector<std::string> errors(kStores);
  std::vector<std::thread> openers;
  for (int i = 0; i < kStores; ++i) {
    openers.emplace_back([&, i] {
      auto store = GetParam().open(fresh);
      if (store) {
        stores[i] = *std::move(store);
      } else {
        errors[i] = store.error().message;
      }
    });
  }
  for (std::thread& t : openers) t.join();
  for (int i = 0; i < kStores; ++i) {
    ASSERT_TRUE(stores[i]) << errors[i];
    Must(stores[i]->AddServer("n" + std::to_string(i),
                              "http://n" + std::to_string(i) + ":8000", 1));
  }
  EXPECT_EQ(Must(stores[0]->ListServers()).size(), size_t{kStores});
  stores.clear();
  if (GetParam().close) GetParam().close(fresh);
}

// ---- servers ----

TEST_P(MetadataStoreTest, AddServerStartsActiveAndNotUsable) {
  auto row = store().AddServer("n1", "http://n1:8000", 100);
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_GT(row->server_id, 0);
  EXPECT_EQ(row->server_name, "n1");
  EXPECT_EQ(row->server_url, "http://n1:8000");
  EXPECT_EQ(row->max_pic_amount, 100);
  EXPECT_EQ(row->cur_pic_amount, 0);
  EXPECT_FALSE(row->flg_usable);
  EXPECT_EQ(row->state, ServerState::kActive);
  EXPECT_EQ(row->last_heartbeat_at, 0);
}

TEST_P(MetadataStoreTest, AddServerWithKnownUrlConflicts) {
  ServerRow first = AddServer("n1", 100);
  EXPECT_TRUE(FailsWith(store().AddServer("other-name", first.server_url, 5),
                        ErrorCode::kConflict));
  ServerRow still = Server(first.server_id);
  EXPECT_EQ(still.server_name, "n1");
  EXPECT_EQ(still.max_pic_amount, 100);
  EXPECT_EQ(Must(store().ListServers()).size(), 1u);
}

TEST_P(MetadataStoreTest, AddServerRefusesBadArguments) {
  EXPECT_TRUE(
      FailsWith(store().AddServer("n1", "", 10), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(FailsWith(store().AddServer("n1", "http://n1", -1),
                        ErrorCode::kInvalidArgument));
  EXPECT_TRUE(Must(store().ListServers()).empty());
}

TEST_P(MetadataStoreTest, ListServersIsOrderedById) {
  std::vector<int64_t> added;
  for (const char* name : {"c", "a", "b"}) {
    added.push_back(AddServer(name, 1).server_id);
  }
  std::vector<int64_t> listed;
  for (const ServerRow& row : Must(store().ListServers())) {
    listed.push_back(row.server_id);
  }
  std::sort(added.begin(), added.end());
  EXPECT_EQ(listed, added);
}

TEST_P(MetadataStoreTest, RecordHeartbeatFindsByUrlThenNameElseCreates) {
  enum class Want { kA, kB, kNew };
  struct Case {
    const char* what;
    std::string name;  // the beat's; "-<case>" is appended to both
    std::string url;
    Want want;
  };
  const Case cases[] = {
      {"known url, new name", "renamed", "http://a", Want::kA},
      {"url wins over name", "b", "http://a", Want::kA},
      {"new url, known name", "b", "http://b-moved", Want::kB},
      {"unknown url and name", "c", "http://c", Want::kNew},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.what);
    const std::string sfx = "-" + std::to_string(i);
    ServerRow a = Must(store().AddServer("a" + sfx, "http://a" + sfx, 10));
    ServerRow b = Must(store().AddServer("b" + sfx, "http://b" + sfx, 10));
    Must(store().AddImage(NewImage({a.server_id})));

    auto row = store().RecordHeartbeat(c.name + sfx, c.url + sfx, "/srv/pics",
                                       500, 1 << 30, 4096, 1700000123);
    ASSERT_TRUE(row) << row.error().message;
    switch (c.want) {
      case Want::kA:
        EXPECT_EQ(row->server_id, a.server_id);
        EXPECT_EQ(row->cur_pic_amount, 1);  // a beat never touches the count
        break;
      case Want::kB:
        EXPECT_EQ(row->server_id, b.server_id);
        break;
      case Want::kNew:
        EXPECT_NE(row->server_id, a.server_id);
        EXPECT_NE(row->server_id, b.server_id);
        EXPECT_EQ(row->cur_pic_amount, 0);
        break;
    }
    EXPECT_EQ(row->server_name, c.name + sfx);
    EXPECT_EQ(row->server_url, c.url + sfx);
    EXPECT_EQ(row->pic_root_path, "/srv/pics");
    EXPECT_EQ(row->max_pic_amount, 500);
    EXPECT_EQ(row->disk_free_bytes, 1 << 30);
    EXPECT_EQ(row->bytes_used, 4096);
    EXPECT_EQ(row->last_heartbeat_at, 1700000123);
    EXPECT_TRUE(row->flg_usable);
    EXPECT_EQ(row->state, ServerState::kActive);

    // What the beat returned is what the table now holds.
    ServerRow listed = Server(row->server_id);
    EXPECT_EQ(listed.server_url, row->server_url);
    EXPECT_EQ(listed.last_heartbeat_at, row->last_heartbeat_at);
    EXPECT_TRUE(listed.flg_usable);
  }
}

TEST_P(MetadataStoreTest, OperatorCapacityHoldsUntilTheNodeReportsANewOne) {
  ServerRow row =
      Must(store().RecordHeartbeat("n", "http://n", "/r", 500, 1, 0, 100));
  EXPECT_EQ(row.max_pic_amount, 500);
  Must(store().UpdateServer(row.server_id, ServerUpdate{std::nullopt, 20}));
  row = Must(store().RecordHeartbeat("n", "http://n", "/r", 500, 1, 0, 101));
  EXPECT_EQ(row.max_pic_amount, 20) << "the operator's change holds";
  row = Must(store().RecordHeartbeat("n", "http://n", "/r", 800, 1, 0, 102));
  EXPECT_EQ(row.max_pic_amount, 800) << "a new --max-pics on the node wins";
}

// An operator's removal stands against the node's heartbeats (its node
// may still run) until the operator adds the URL again; a drained server
// stays draining whatever it beats.
TEST_P(MetadataStoreTest, HeartbeatOfRemovedServerRefusedUntilAddedAgain) {
  ServerRow removed = AddServer("gone", 10);
  Must(store().RemoveServer(removed.server_id));
  ServerRow draining = AddServer("draining", 10);
  Must(store().UpdateServer(draining.server_id,
                            ServerUpdate{.state = ServerState::kDraining}));

  EXPECT_TRUE(
      FailsWith(store().RecordHeartbeat(removed.server_name, removed.server_url,
                                        "/r", 10, 1, 1, 5),
                ErrorCode::kForbidden));
  EXPECT_TRUE(FailsWith(
      store().UpdateServer(removed.server_id,
                           ServerUpdate{.state = ServerState::kActive}),
      ErrorCode::kConflict))
      << "enabling is not adding back";
  EXPECT_EQ(Must(store().ListServers()).size(), 1u) << "still removed";
  // Its name alone does not bring the removed row back either: a node of
  // that name at a new URL is a new server.
  auto renamed = Must(store().RecordHeartbeat(
      removed.server_name, "http://elsewhere", "/r", 10, 1, 1, 5));
  EXPECT_NE(renamed.server_id, removed.server_id);

  auto added = store().AddServer("any", removed.server_url, 99);
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->server_id, removed.server_id);
  EXPECT_EQ(added->state, ServerState::kActive);
  auto revived = store().RecordHeartbeat(removed.server_name,
                                         removed.server_url, "/r", 10, 1, 1, 6);
  ASSERT_TRUE(revived) << revived.error().message;
  EXPECT_EQ(revived->server_id, removed.server_id);
  EXPECT_TRUE(revived->flg_usable);

  auto still = store().RecordHeartbeat(draining.server_name,
                                       draining.server_url, "/r", 10, 1, 1, 5);
  ASSERT_TRUE(still) << still.error().message;
  EXPECT_EQ(still->state, ServerState::kDraining);
}

TEST_P(MetadataStoreTest, InternalUrlIsKeptAndListed) {
  ServerRow server = AddServer("n1", 10);
  EXPECT_EQ(server.internal_url, "");
  Must(store().SetInternalUrl(server.server_id, "http://10.0.0.1:9001"));
  EXPECT_EQ(Server(server.server_id).internal_url, "http://10.0.0.1:9001");
  EXPECT_EQ(Must(store().ListServers())[0].internal_url,
            "http://10.0.0.1:9001");
  EXPECT_TRUE(
      FailsWith(store().SetInternalUrl(999, "http://x"), ErrorCode::kNotFound));
}

TEST_P(MetadataStoreTest, SetUsable) {
  ServerRow server = AddServer("n1", 10);
  Must(store().SetUsable(server.server_id, true));
  EXPECT_TRUE(Server(server.server_id).flg_usable);
  Must(store().SetUsable(server.server_id, false));
  EXPECT_FALSE(Server(server.server_id).flg_usable);
  EXPECT_TRUE(FailsWith(store().SetUsable(server.server_id + 100, true),
                        ErrorCode::kNotFound));
}

TEST_P(MetadataStoreTest, UpdateServerChangesOnlyWhatIsGiven) {
  struct Case {
    const char* what;
    ServerUpdate update;
    ServerState want_state;
    int64_t want_max;
  };
  const Case cases[] = {
      {"nothing", {}, ServerState::kActive, 10},
      {"state", {.state = ServerState::kDraining}, ServerState::kDraining, 10},
      {"capacity", {.max_pic_amount = 99}, ServerState::kActive, 99},
      {"both",
       {.state = ServerState::kDisabled, .max_pic_amount = 7},
       ServerState::kDisabled,
       7},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ServerRow server = AddServer(c.what, 10);
    auto row = store().UpdateServer(server.server_id, c.update);
    ASSERT_TRUE(row) << row.error().message;
    EXPECT_EQ(row->state, c.want_state);
    EXPECT_EQ(row->max_pic_amount, c.want_max);
    EXPECT_EQ(Server(server.server_id).state, c.want_state);
    EXPECT_EQ(Server(server.server_id).max_pic_amount, c.want_max);
  }
}

TEST_P(MetadataStoreTest, UpdateServerRefusesUnknownIdAndBadValues) {
  ServerRow server = AddServer("n1", 10);
  EXPECT_TRUE(FailsWith(
      store().UpdateServer(server.server_id + 100,
                           ServerUpdate{.state = ServerState::kDraining}),
      ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(
      store().UpdateServer(server.server_id,
                           ServerUpdate{.state = ServerState::kRemoved}),
      ErrorCode::kInvalidArgument));
  EXPECT_TRUE(
      FailsWith(store().UpdateServer(server.server_id,
                                     ServerUpdate{.max_pic_amount = -1}),
                ErrorCode::kInvalidArgument));
  ServerRow now = Server(server.server_id);
  EXPECT_EQ(now.state, ServerState::kActive);
  EXPECT_EQ(now.max_pic_amount, 10);
}

TEST_P(MetadataStoreTest, CapacityBelowCountIsAllowedAndStopsNewImages) {
  ServerRow server = AddServer("n1", 10);
  Must(store().AddImage(NewImage({server.server_id})));
  Must(store().AddImage(NewImage({server.server_id})));

  auto row =
      store().UpdateServer(server.server_id, ServerUpdate{.max_pic_amount = 1});
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->max_pic_amount, 1);
  EXPECT_EQ(row->cur_pic_amount, 2);
  EXPECT_TRUE(FailsWith(store().AddImage(NewImage({server.server_id})),
                        ErrorCode::kInsufficientStorage));
}

TEST_P(MetadataStoreTest, RemoveServerOnlyWhenEmpty) {
  ServerRow keep = AddServer("keep", 10);
  ServerRow server = AddServer("n1", 10);
  ImageRecord image = NewImage({server.server_id});
  Must(store().AddImage(image));

  EXPECT_TRUE(
      FailsWith(store().RemoveServer(server.server_id), ErrorCode::kConflict));
  EXPECT_EQ(Server(server.server_id).state, ServerState::kActive);

  Must(store().DeleteImage(image.id));
  auto removed = store().RemoveServer(server.server_id);
  ASSERT_TRUE(removed) << removed.error().message;
  auto listed = Must(store().ListServers());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].server_id, keep.server_id);

  EXPECT_TRUE(FailsWith(store().RemoveServer(server.server_id + 100),
                        ErrorCode::kNotFound));
}

// ---- images ----

TEST_P(MetadataStoreTest, AddImageThenGetImageRoundTrips) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  // Given out of order: the store returns copies by server_id.
  ImageRecord image = NewImage({s2.server_id, s1.server_id});
  auto added = store().AddImage(image);
  ASSERT_TRUE(added) << added.error().message;

  auto got = store().GetImage(image.id);
  ASSERT_TRUE(got) << got.error().message;
  ExpectSameImage(*got, image);
  ASSERT_EQ(got->placements.size(), 2u);
  EXPECT_EQ(got->placements[0].server_id, s1.server_id);
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 1);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 1);

  EXPECT_TRUE(
      FailsWith(store().GetImage(ImageId::New()), ErrorCode::kNotFound));
}

TEST_P(MetadataStoreTest, EveryFormatRoundTrips) {
  ServerRow server = AddServer("n1", 100);
  for (ImageFormat format :
       {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kGif,
        ImageFormat::kWebp, ImageFormat::kAvif, ImageFormat::kHeic}) {
    SCOPED_TRACE(FormatContentType(format));
    ImageRecord image = NewImage({server.server_id}, 1, format);
    Must(store().AddImage(image));
    ExpectSameImage(Must(store().GetImage(image.id)), image);
  }
}

TEST_P(MetadataStoreTest, AddImageWithExistingIdConflictsAndChangesNothing) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ImageRecord image = NewImage({s1.server_id});
  Must(store().AddImage(image));

  ImageRecord again = image;
  again.bytes = 1;
  again.placements = NewImage({s2.server_id}).placements;
  EXPECT_TRUE(FailsWith(store().AddImage(again), ErrorCode::kConflict));

  ExpectSameImage(Must(store().GetImage(image.id)), image);
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 1);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 0);
}

TEST_P(MetadataStoreTest, AddImageToFullServerWritesNothing) {
  ServerRow roomy = AddServer("roomy", 10);
  ServerRow full = AddServer("full", 1);
  Must(store().AddImage(NewImage({full.server_id})));
  StoreStats before = Must(store().Stats());

  // The roomy server comes first, so its increment has happened when the
  // full one refuses: the rollback must undo it.
  ImageRecord image = NewImage({roomy.server_id, full.server_id});
  auto added = store().AddImage(image);
  ASSERT_TRUE(FailsWith(added, ErrorCode::kInsufficientStorage));
  EXPECT_NE(
      added.error().message.find("server " + std::to_string(full.server_id)),
      std::string::npos)
      << added.error().message;

  EXPECT_TRUE(FailsWith(store().GetImage(image.id), ErrorCode::kNotFound));
  EXPECT_TRUE(Must(store().GetImages({image.id})).empty());
  EXPECT_EQ(Server(roomy.server_id).cur_pic_amount, 0);
  EXPECT_EQ(Server(full.server_id).cur_pic_amount, 1);
  StoreStats after = Must(store().Stats());
  EXPECT_EQ(after.images, before.images);
  EXPECT_EQ(after.placements, before.placements);
}

TEST_P(MetadataStoreTest, AddImageRefusesBadPlacements) {
  ServerRow server = AddServer("n1", 10);
  ServerRow removed = AddServer("gone", 10);
  Must(store().RemoveServer(removed.server_id));
  struct Case {
    const char* what;
    std::vector<int64_t> servers;
    ErrorCode want;
  };
  const Case cases[] = {
      {"no copies", {}, ErrorCode::kInvalidArgument},
      {"one server twice",
       {server.server_id, server.server_id},
       ErrorCode::kInvalidArgument},
      {"unknown server", {server.server_id + 100}, ErrorCode::kNotFound},
      {"removed server", {removed.server_id}, ErrorCode::kInsufficientStorage},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ImageRecord image = NewImage(c.servers);
    EXPECT_TRUE(FailsWith(store().AddImage(image), c.want));
    EXPECT_TRUE(FailsWith(store().GetImage(image.id), ErrorCode::kNotFound));
  }
  EXPECT_EQ(Server(server.server_id).cur_pic_amount, 0);
}

TEST_P(MetadataStoreTest, GetImagesReturnsTheKnownOnes) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ImageRecord a = NewImage({s1.server_id, s2.server_id});
  ImageRecord b = NewImage({s2.server_id});
  ImageRecord c = NewImage({s1.server_id});
  for (const ImageRecord* image : {&a, &b, &c}) Must(store().AddImage(*image));

  auto got = store().GetImages({a.id, ImageId::New(), c.id, a.id});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  for (const ImageRecord& image : *got) {
    ExpectSameImage(image, image.id == a.id ? a : c);
  }

  EXPECT_TRUE(Must(store().GetImages({})).empty());
  EXPECT_TRUE(Must(store().GetImages({ImageId::New()})).empty());
}

// The location an ImageRecord stands for.
ImageLocation LocationOf(const ImageRecord& image) {
  ImageLocation out{image.id, image.format, {}};
  for (const Placement& p : image.placements) {
    out.server_ids.push_back(p.server_id);
  }
  std::sort(out.server_ids.begin(), out.server_ids.end());
  return out;
}

void ExpectSameLocations(const std::vector<ImageLocation>& got,
                         const std::vector<ImageLocation>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id.str(), want[i].id.str());
    EXPECT_EQ(FormatContentType(got[i].format),
              FormatContentType(want[i].format));
    EXPECT_EQ(got[i].server_ids, want[i].server_ids) << got[i].id.str();
  }
}

// `images` as Locate must answer for them: by id.
std::vector<ImageLocation> SortedLocations(
    const std::vector<const ImageRecord*>& images) {
  std::vector<ImageLocation> out;
  for (const ImageRecord* image : images) out.push_back(LocationOf(*image));
  std::sort(out.begin(), out.end(),
            [](const ImageLocation& a, const ImageLocation& b) {
              return a.id < b.id;
            });
  return out;
}

TEST_P(MetadataStoreTest, LocateReturnsTheKnownOnesInIdOrder) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ServerRow s3 = AddServer("n3", 10);
  // Copies given out of order: Locate lists servers ascending.
  ImageRecord a = NewImage({s3.server_id, s1.server_id});
  ImageRecord b = NewImage({s2.server_id}, 1, ImageFormat::kWebp);
  ImageRecord c = NewImage({s1.server_id, s2.server_id, s3.server_id}, 1,
                           ImageFormat::kPng);
  for (const ImageRecord* image : {&a, &b, &c}) Must(store().AddImage(*image));

  auto got = store().Locate({c.id, ImageId::New(), a.id, c.id});
  ASSERT_TRUE(got) << got.error().message;
  ExpectSameLocations(*got, SortedLocations({&a, &c}));

  ExpectSameLocations(Must(store().Locate({b.id})), SortedLocations({&b}));
  EXPECT_TRUE(Must(store().Locate({})).empty());
  EXPECT_TRUE(Must(store().Locate({ImageId::New()})).empty());
}

TEST_P(MetadataStoreTest, LocateAgreesWithGetImagesForEveryFormat) {
  ServerRow server = AddServer("n1", 100);
  std::vector<ImageId> ids;
  for (ImageFormat format :
       {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kGif,
        ImageFormat::kWebp, ImageFormat::kAvif, ImageFormat::kHeic}) {
    ImageRecord image = NewImage({server.server_id}, 1, format);
    Must(store().AddImage(image));
    ids.push_back(image.id);
  }
  std::vector<ImageRecord> records = Must(store().GetImages(ids));
  std::vector<const ImageRecord*> pointers;
  for (const ImageRecord& r : records) pointers.push_back(&r);
  ExpectSameLocations(Must(store().Locate(ids)), SortedLocations(pointers));
}

TEST_P(MetadataStoreTest, LocateFollowsEveryWrite) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ServerRow s3 = AddServer("n3", 10);
  ImageRecord image = NewImage({s2.server_id});
  auto locate = [&] { return Must(store().Locate({image.id})); };
  EXPECT_TRUE(locate().empty());
  Must(store().AddImage(image));
  ASSERT_EQ(locate().size(), 1u);
  EXPECT_EQ(locate()[0].server_ids, (ServerIds{s2.server_id}));

  const std::string path = image.placements[0].relative_path;
  Must(store().AddPlacement(image.id, Placement{s3.server_id, path}));
  Must(store().AddPlacement(image.id, Placement{s1.server_id, path}));
  EXPECT_EQ(locate()[0].server_ids,
            (ServerIds{s1.server_id, s2.server_id, s3.server_id}));
  // Refused writes change nothing.
  EXPECT_FALSE(store().AddPlacement(image.id, Placement{s1.server_id, path}));
  Must(store().RemovePlacement(image.id, s2.server_id));
  EXPECT_FALSE(store().RemovePlacement(image.id, s2.server_id));
  EXPECT_EQ(locate()[0].server_ids, (ServerIds{s1.server_id, s3.server_id}));

  Reopen();
  EXPECT_EQ(locate()[0].server_ids, (ServerIds{s1.server_id, s3.server_id}));
  Must(store().DeleteImage(image.id));
  EXPECT_TRUE(locate().empty());
  Reopen();
  EXPECT_TRUE(locate().empty());
}

TEST_P(MetadataStoreTest, FindBySha256) {
  ServerRow server = AddServer("n1", 10);
  ImageRecord first = NewImage({server.server_id}, 100);
  ImageRecord second = NewImage({server.server_id}, 200);
  ImageRecord other = NewImage({server.server_id});
  other.sha256 = Sha256Hex("other bytes");
  for (const ImageRecord* image : {&second, &other, &first}) {
    Must(store().AddImage(*image));
  }

  auto ids = store().FindBySha256(first.sha256);
  ASSERT_TRUE(ids) << ids.error().message;
  std::vector<std::string> got;
  for (const ImageId& id : *ids) got.push_back(id.str());
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = {first.id.str(), second.id.str()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);

  EXPECT_TRUE(Must(store().FindBySha256(Sha256Hex("unknown"))).empty());
}

TEST_P(MetadataStoreTest, DeleteImageReturnsItAndDecrementsCounts) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ImageRecord image = NewImage({s1.server_id, s2.server_id});
  ImageRecord kept = NewImage({s1.server_id});
  Must(store().AddImage(image));
  Must(store().AddImage(kept));

  auto deleted = store().DeleteImage(image.id);
  ASSERT_TRUE(deleted) << deleted.error().message;
  ExpectSameImage(*deleted, image);
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 1);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 0);
  EXPECT_TRUE(FailsWith(store().GetImage(image.id), ErrorCode::kNotFound));
  ExpectSameImage(Must(store().GetImage(kept.id)), kept);

  EXPECT_TRUE(FailsWith(store().DeleteImage(image.id), ErrorCode::kNotFound));
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 1);
}

TEST_P(MetadataStoreTest, RecentImagesNewestFirstWithLimitAndOffset) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  // created_at 100..104, each with two copies.
  std::vector<ImageRecord> images;
  for (int64_t t = 100; t < 105; ++t) {
    images.push_back(NewImage({s1.server_id, s2.server_id}, t));
  }
  for (const ImageRecord& image : images) Must(store().AddImage(image));
  auto newest = [&](std::initializer_list<int> ages) {
    std::vector<std::string> out;
    for (int i : ages) out.push_back(images[images.size() - 1 - i].id.str());
    return out;
  };
  struct Case {
    int64_t limit;
    int64_t offset;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {2, 0, newest({0, 1})},
      {2, 2, newest({2, 3})},
      {10, 4, newest({4})},
      {3, 10, {}},
      {0, 0, {}},
      {5, 0, newest({0, 1, 2, 3, 4})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "limit " << c.limit << " offset " << c.offset);
    auto got = store().RecentImages(c.limit, c.offset);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(Ids(*got), c.want);
    for (const ImageRecord& image : *got) {
      EXPECT_EQ(image.placements.size(), 2u);
    }
  }
  EXPECT_TRUE(
      FailsWith(store().RecentImages(-1, 0), ErrorCode::kInvalidArgument));
}

TEST_P(MetadataStoreTest, RecentImagesPagesDoNotRepeatWithinOneSecond) {
  ServerRow server = AddServer("n1", 100);
  std::vector<std::string> want;
  for (int i = 0; i < 7; ++i) {
    ImageRecord image = NewImage({server.server_id}, 42);
    Must(store().AddImage(image));
    want.push_back(image.id.str());
  }
  std::vector<std::string> paged;
  for (int64_t offset = 0; offset < 7; offset += 3) {
    for (const std::string& id : Ids(Must(store().RecentImages(3, offset)))) {
      paged.push_back(id);
    }
  }
  std::sort(paged.begin(), paged.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(paged, want);
}

TEST_P(MetadataStoreTest, Stats) {
  StoreStats empty = Must(store().Stats());
  EXPECT_EQ(empty.images, 0);
  EXPECT_EQ(empty.placements, 0);
  EXPECT_EQ(empty.bytes, 0);

  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ImageRecord a = NewImage({s1.server_id, s2.server_id});
  a.bytes = 1000;
  ImageRecord b = NewImage({s1.server_id});
  b.bytes = 234;
  Must(store().AddImage(a));
  Must(store().AddImage(b));

  StoreStats stats = Must(store().Stats());
  EXPECT_EQ(stats.images, 2);
  EXPECT_EQ(stats.placements, 3);
  EXPECT_EQ(stats.bytes, 1234);  // one copy each

  // Every write that changes them moves the totals (SQLite keeps them by
  // triggers); refused writes do not.
  auto totals = [&] {
    StoreStats t = Must(store().Stats());
    return std::tuple(t.images, t.placements, t.bytes);
  };
  EXPECT_FALSE(store().AddImage(a).has_value());
  EXPECT_EQ(totals(), std::tuple(2, 3, 1234));
  const std::string path = b.placements[0].relative_path;
  Must(store().AddPlacement(b.id, Placement{s2.server_id, path}));
  EXPECT_EQ(totals(), std::tuple(2, 4, 1234));
  Must(store().RemovePlacement(b.id, s1.server_id));
  EXPECT_EQ(totals(), std::tuple(2, 3, 1234));
  Must(store().DeleteImage(a.id));
  EXPECT_EQ(totals(), std::tuple(1, 1, 234));
  Reopen();
  EXPECT_EQ(totals(), std::tuple(1, 1, 234));
  Must(store().DeleteImage(b.id));
  EXPECT_EQ(totals(), std::tuple(0, 0, 0));
}

// ---- copies ----

TEST_P(MetadataStoreTest, AddPlacementBumpsCountAndRefusesWhatItShould) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 1);
  ImageRecord image = NewImage({s1.server_id});
  Must(store().AddImage(image));
  const std::string path = image.placements[0].relative_path;

  Must(store().AddPlacement(image.id, Placement{s2.server_id, path}));
  auto got = Must(store().GetImage(image.id));
  ASSERT_EQ(got.placements.size(), 2u);
  EXPECT_EQ(got.placements[1].server_id, s2.server_id);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 1);

  EXPECT_TRUE(
      FailsWith(store().AddPlacement(image.id, Placement{s2.server_id, path}),
                ErrorCode::kConflict));
  ImageRecord other = NewImage({s1.server_id});
  Must(store().AddImage(other));
  EXPECT_TRUE(
      FailsWith(store().AddPlacement(other.id, Placement{s2.server_id, path}),
                ErrorCode::kInsufficientStorage))
      << "server 2 is full";
  EXPECT_TRUE(FailsWith(
      store().AddPlacement(ImageId::New(), Placement{s1.server_id, path}),
      ErrorCode::kNotFound));
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 2);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 1);
}

TEST_P(MetadataStoreTest, RemovePlacementNeverForgetsTheLastCopy) {
  ServerRow s1 = AddServer("n1", 10);
  ServerRow s2 = AddServer("n2", 10);
  ImageRecord image = NewImage({s1.server_id, s2.server_id});
  Must(store().AddImage(image));

  Must(store().RemovePlacement(image.id, s1.server_id));
  EXPECT_EQ(Server(s1.server_id).cur_pic_amount, 0);
  EXPECT_TRUE(FailsWith(store().RemovePlacement(image.id, s1.server_id),
                        ErrorCode::kNotFound));
  EXPECT_TRUE(FailsWith(store().RemovePlacement(image.id, s2.server_id),
                        ErrorCode::kConflict));
  auto got = Must(store().GetImage(image.id));
  ASSERT_EQ(got.placements.size(), 1u);
  EXPECT_EQ(got.placements[0].server_id, s2.server_id);
  EXPECT_EQ(Server(s2.server_id).cur_pic_amount, 1);
}

TEST_P(MetadataStoreTest, CopiesOnServerPagesInPathOrder) {
  ServerRow s1 = AddServer("n1", 100);
  ServerRow s2 = AddServer("n2", 100);
  std::vector<std::string> paths;
  for (int i = 0; i < 7; ++i) {
    ImageRecord image = NewImage({s1.server_id});
    Must(store().AddImage(image));
    paths.push_back(image.placements[0].relative_path);
  }
  Must(store().AddImage(NewImage({s2.server_id})));
  std::sort(paths.begin(), paths.end());

  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    auto page = Must(store().CopiesOnServer(s1.server_id, after, 3));
    for (const ServerCopy& c : page) {
      seen.push_back(c.relative_path);
      EXPECT_EQ(c.relative_path.substr(6, c.id.str().size()), c.id.str());
    }
    if (page.size() < 3) break;
    after = page.back().relative_path;
  }
  EXPECT_EQ(seen, paths);
}

TEST_P(MetadataStoreTest, ImagesAfterWalksEveryImageInIdOrder) {
  ServerRow s1 = AddServer("n1", 100);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ImageRecord image = NewImage({s1.server_id});
    Must(store().AddImage(image));
    ids.push_back(image.id.str());
  }
  std::sort(ids.begin(), ids.end());
  auto first = Must(store().ImagesAfter("", 3));
  ASSERT_EQ(first.size(), 3u);
  auto rest = Must(store().ImagesAfter(first.back().id.str(), 3));
  ASSERT_EQ(rest.size(), 2u);
  std::vector<std::string> seen;
  for (auto* page : {&first, &rest}) {
    for (const ImageRecord& r : *page) {
      seen.push_back(r.id.str());
      EXPECT_EQ(r.placements.size(), 1u);
    }
  }
  EXPECT_EQ(seen, ids);
}

TEST_P(MetadataStoreTest, LocationsAfterWalksEveryImageWithAllItsCopies) {
  ServerRow s1 = AddServer("n1", 100);
  ServerRow s2 = AddServer("n2", 100);
  ServerRow s3 = AddServer("n3", 100);
  std::vector<ImageRecord> images;
  for (int i = 0; i < 7; ++i) {
    // 1, 2 or 3 copies: pages end on whole images whatever the row count.
    std::vector<int64_t> servers = {s1.server_id, s2.server_id, s3.server_id};
    servers.resize(size_t(1 + i % 3));
    images.push_back(
        NewImage(servers, 1, i % 2 ? ImageFormat::kGif : ImageFormat::kJpeg));
    Must(store().AddImage(images.back()));
  }
  std::vector<const ImageRecord*> pointers;
  for (const ImageRecord& r : images) pointers.push_back(&r);
  const std::vector<ImageLocation> want = SortedLocations(pointers);

  std::vector<ImageLocation> seen;
  std::string after;
  for (;;) {
    auto page = Must(store().LocationsAfter(after, 3));
    ASSERT_LE(page.size(), 3u);
    seen.insert(seen.end(), page.begin(), page.end());
    if (page.size() < 3) break;
    after = page.back().id.str();
  }
  ExpectSameLocations(seen, want);
  EXPECT_TRUE(Must(store().LocationsAfter("", 0)).empty());
  EXPECT_TRUE(
      FailsWith(store().LocationsAfter("", -1), ErrorCode::kInvalidArgument));
}

TEST_P(MetadataStoreTest, FileDeletesQueueOncePerServer) {
  ServerRow one = AddServer("one", 10);
  ServerRow two = AddServer("two", 10);
  EXPECT_TRUE(Must(store().FileDeletes(one.server_id, 10)).empty());
  Must(store().QueueFileDelete({one.server_id, "bb/cc/b.jpg"}, 200));
  Must(store().QueueFileDelete({one.server_id, "aa/bb/a.jpg"}, 300));
  Must(store().QueueFileDelete({one.server_id, "aa/bb/a.jpg"}, 400));  // once
  Must(store().QueueFileDelete({two.server_id, "cc/dd/c.jpg"}, 100));
  auto files = Must(store().FileDeletes(one.server_id, 10));
  ASSERT_EQ(files.size(), 2u) << "one server's only";
  EXPECT_EQ(files[0].server_id, one.server_id);
  EXPECT_EQ(files[0].relative_path, "aa/bb/a.jpg") << "in path order";
  EXPECT_EQ(files[1].relative_path, "bb/cc/b.jpg");
  EXPECT_EQ(Must(store().FileDeletes(one.server_id, 1)).size(), 1u);
  Must(store().DequeueFileDelete(files[0]));
  Must(store().DequeueFileDelete(files[0]));  // already gone: fine
  files = Must(store().FileDeletes(one.server_id, 10));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].relative_path, "bb/cc/b.jpg");
  // Removing a server drops what was queued for it, and only that.
  Must(store().RemoveServer(one.server_id));
  EXPECT_TRUE(Must(store().FileDeletes(one.server_id, 10)).empty());
  EXPECT_EQ(Must(store().FileDeletes(two.server_id, 10)).size(), 1u);
}

TEST_P(MetadataStoreTest, RepairQueue) {
  ServerRow s1 = AddServer("n1", 100);
  ImageRecord a = NewImage({s1.server_id});
  ImageRecord b = NewImage({s1.server_id});
  Must(store().QueueRepair(a.id, 1));
  Must(store().QueueRepair(b.id, 2));
  Must(store().QueueRepair(a.id, 3));  // already queued: no-op
  EXPECT_EQ(Must(store().RepairQueueLength()), 2);
  auto queued = Must(store().RepairQueue("", 10));
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_LT(queued[0].str(), queued[1].str());
  EXPECT_EQ(Must(store().RepairQueue(queued[0].str(), 10)).size(), 1u);
  Must(store().DequeueRepair(a.id));
  auto left = Must(store().RepairQueue("", 10));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].str(), b.id.str());
}

// After a raised --replicas: every image short of the new count queued
// in one statement, none twice.
TEST_P(MetadataStoreTest, QueueImagesShortOf) {
  ServerRow s1 = AddServer("n1", 100);
  ServerRow s2 = AddServer("n2", 100);
  ImageRecord one = NewImage({s1.server_id});
  ImageRecord two = NewImage({s1.server_id, s2.server_id});
  ImageRecord queued = NewImage({s2.server_id});
  for (const ImageRecord& image : {one, two, queued})
    Must(store().AddImage(image));
  Must(store().QueueRepair(queued.id, 1));
  EXPECT_EQ(Must(store().QueueImagesShortOf(1, 5)), 0);
  EXPECT_EQ(Must(store().QueueImagesShortOf(2, 5)), 1) << "one, not again";
  EXPECT_EQ(Must(store().RepairQueueLength()), 2);
  EXPECT_EQ(Must(store().QueueImagesShortOf(3, 5)), 1) << "two";
  EXPECT_EQ(Must(store().RepairQueueLength()), 3);
}

TEST_P(MetadataStoreTest, LeaseHasOneHolderUntilItExpires) {
  EXPECT_TRUE(Must(store().AcquireLease("repair", "a", 100, 10)));
  EXPECT_FALSE(Must(store().AcquireLease("repair", "b", 105, 10)));
  EXPECT_TRUE(Must(store().AcquireLease("repair", "a", 108, 10)))
      << "the holder renews";
  EXPECT_FALSE(Must(store().AcquireLease("repair", "b", 117, 10)));
  EXPECT_TRUE(Must(store().AcquireLease("repair", "b", 119, 10)))
      << "expired at 118";
  EXPECT_FALSE(Must(store().AcquireLease("repair", "a", 120, 10)));
  EXPECT_TRUE(Must(store().AcquireLease("other", "a", 120, 10)));
  // Given up (a ttl below zero, by its holder): another takes it at once.
  Must(store().AcquireLease("repair", "b", 121, -1));
  EXPECT_TRUE(Must(store().AcquireLease("repair", "a", 121, 10)));
}

TEST_P(MetadataStoreTest, Settings) {
  EXPECT_FALSE(Must(store().GetSetting("rebalance_spread")).has_value());
  Must(store().SetSetting("rebalance_spread", "0.1"));
  EXPECT_EQ(Must(store().GetSetting("rebalance_spread")), "0.1");
  Must(store().SetSetting("rebalance_spread", ""));
  EXPECT_FALSE(Must(store().GetSetting("rebalance_spread")).has_value());
}

TEST_P(MetadataStoreTest, ConcurrentAddsNeverExceedCapacity) {
  constexpr int kThreads = 16;
  constexpr int kAttemptsPerThread = 10;
  constexpr int64_t kCapacity = 50;
  ServerRow server = AddServer("n1", kCapacity);

  std::atomic<int> added = 0;
  std::atomic<int> full = 0;
  std::atomic<bool> writing = true;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        auto result = store().AddImage(NewImage({server.server_id}));
        if (result) {
          ++added;
        } else if (result.error().code == ErrorCode::kInsufficientStorage) {
          ++full;
        } else {
          ADD_FAILURE() << result.error().message;
        }
      }
    });
  }
  // Readers at the same time: the pool must hand out connections safely and
  // never see more than the capacity.
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (writing) {
        auto servers = store().ListServers();
        ASSERT_TRUE(servers) << servers.error().message;
        ASSERT_EQ(servers->size(), 1u);
        EXPECT_LE((*servers)[0].cur_pic_amount, kCapacity);
        auto recent = store().RecentImages(10, 0);
        ASSERT_TRUE(recent) << recent.error().message;
      }
    });
  }
  for (std::thread& w : writers) w.join();
  writing = false;
  for (std::thread& r : readers) r.join();

  EXPECT_EQ(added, kCapacity);
  EXPECT_EQ(full, kThreads * kAttemptsPerThread - kCapacity);
  EXPECT_EQ(Server(server.server_id).cur_pic_amount, kCapacity);
  EXPECT_EQ(Must(store().Stats()).images, kCapacity);
}

// AddImageIfNew: bytes recorded already (by sha256) are not recorded again,
// also when many add them at once (several trackers on one database);
// nothing of a refused one is written, its server's count included.
TEST_P(MetadataStoreTest, AddImageIfNewRecordsBytesOnce) {
  ServerRow server = AddServer("n1", 100);
  const ImageRecord first = NewImage({server.server_id});
  EXPECT_EQ(Must(store().AddImageIfNew(first)), std::nullopt);
  const ImageRecord twin = NewImage({server.server_id});
  EXPECT_EQ(Must(store().AddImageIfNew(twin)), first.id);
  EXPECT_EQ(store().GetImage(twin.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Server(server.server_id).cur_pic_amount, 1);
  // Other bytes are new; AddImage still records any bytes.
  ImageRecord other = NewImage({server.server_id});
  other.sha256 = Sha256Hex("other bytes");
  EXPECT_EQ(Must(store().AddImageIfNew(other)), std::nullopt);
  Must(store().AddImage(twin));
  EXPECT_EQ(Must(store().FindBySha256(first.sha256)).size(), 2u);

  constexpr int kThreads = 8;
  std::vector<ImageRecord> racers;
  for (int t = 0; t < kThreads; ++t) {
    racers.push_back(NewImage({server.server_id}));
    racers.back().sha256 = Sha256Hex("raced bytes");
  }
  std::vector<Result<std::optional<ImageId>>> outcomes(
      kThreads, Fail(ErrorCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(
        [&, t] { outcomes[t] = store().AddImageIfNew(racers[t]); });
  }
  for (std::thread& t : threads) t.join();
  std::optional<ImageId> winner;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(outcomes[t].has_value()) << outcomes[t].error().message;
    if (!*outcomes[t]) {
      EXPECT_FALSE(winner.has_value()) << "a second one was added";
      winner = racers[t].id;
    }
  }
  ASSERT_TRUE(winner.has_value());
  for (const auto& outcome : outcomes) {
    if (*outcome) {
      EXPECT_EQ(**outcome, *winner);
    }
  }
  EXPECT_EQ(Must(store().FindBySha256(racers[0].sha256)).size(), 1u);
  EXPECT_EQ(Server(server.server_id).cur_pic_amount, 4);
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, MetadataStoreTest, ::testing::ValuesIn(Factories()),
    [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
      return param_info.param.name;
    });

// ---- OpenMetadataStore ----

TEST(OpenMetadataStoreTest, RefusesUrlsItCannotOpen) {
  struct Case {
    std::string url;
    ErrorCode want;
    std::string message_part;
  };
  const Case cases[] = {
      {"", ErrorCode::kInvalidArgument, "expected sqlite:PATH"},
      {"meta.db", ErrorCode::kInvalidArgument, "write sqlite:meta.db"},
      {"/var/lib/imgstore/meta.db", ErrorCode::kInvalidArgument,
       "write sqlite:/var/lib/imgstore/meta.db"},
      {"mysql://u:secret@h/db", ErrorCode::kInvalidArgument, "'mysql'"},
      {"sqlite:", ErrorCode::kInvalidArgument, "file path"},
      {"sqlite::memory:", ErrorCode::kInvalidArgument, "not supported"},
      // Port 1 on loopback: nothing listens, so the connection is refused.
      {"postgresql://u:secret@127.0.0.1:1/db", ErrorCode::kUnavailable,
       "postgresql://u@127.0.0.1:1/db"},
      {"postgres://u@127.0.0.1:1/db?sslmode=disable", ErrorCode::kUnavailable,
       "open postgresql database"},
      {"sqlite:/nonexistent-imgstore-dir/meta.db", ErrorCode::kIo,
       "/nonexistent-imgstore-dir/meta.db"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    auto store = OpenMetadataStore(c.url);
    ASSERT_TRUE(FailsWith(store, c.want));
    EXPECT_NE(store.error().message.find(c.message_part), std::string::npos)
        << store.error().message;
    EXPECT_EQ(store.error().message.find("secret"), std::string::npos);
    // One line for the log: libpq's continuation lines start with a tab.
    EXPECT_EQ(store.error().message.find_first_of("\n\t"), std::string::npos)
        << store.error().message;
  }
}

// What the tracker's start-up line prints: no password, no query.
TEST(OpenMetadataStoreTest, RedactStoreUrlHidesPasswords) {
  EXPECT_EQ(RedactStoreUrl("sqlite:/var/lib/imgstore/meta.db"),
            "sqlite:/var/lib/imgstore/meta.db");
  EXPECT_EQ(RedactStoreUrl("postgresql://u:secret@db:5432/img"),
            "postgresql://u@db:5432/img");
  EXPECT_EQ(RedactStoreUrl("postgres://u@db/img?password=secret"),
            "postgres://u@db/img");
  EXPECT_EQ(RedactStoreUrl("postgresql://db/img"), "postgresql://db/img");
  EXPECT_EQ(RedactStoreUrl("u:secret@db"), "(unparsed url)");
}

}  // namespace
}  // namespace imgstore
