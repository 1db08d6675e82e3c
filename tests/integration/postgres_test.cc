// Two trackers on one PostgreSQL database behind HAProxy, three nodes
// heartbeating through it (docs/DEPLOYMENT.md). Needs a PostgreSQL server
// (IMGSTORE_TEST_POSTGRES_URL, e.g. from scripts/pg-scratch) and haproxy;
// skipped, visibly, without them.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/hex.h"
#include "meta/postgres_store.h"
#include "testing/cluster.h"

namespace imgstore::testing {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

json Parse(const std::string& body) {
  return json::parse(body, nullptr, false);
}

// A database of its own on the test server, dropped on destruction (after
// the processes using it: declare it first).
class ScratchDatabase {
 public:
  explicit ScratchDatabase(std::string maintenance_url)
      : maintenance_url_(std::move(maintenance_url)) {
    std::random_device random;
    name_ = "it_" + std::to_string(random()) + std::to_string(random());
    auto made = CreatePostgresDatabase(maintenance_url_, name_);
    if (!made) ADD_FAILURE() << made.error().message;
  }
  ~ScratchDatabase() {
    auto dropped = DropPostgresDatabase(maintenance_url_, name_);
    if (!dropped) ADD_FAILURE() << dropped.error().message;
  }
  std::string url() const {
    return PostgresUrlWithDatabase(maintenance_url_, name_);
  }

 private:
  std::string maintenance_url_;
  std::string name_;
};

// Two `imgstore tracker`s on one database, HAProxy round-robin in front
// (health-checked on /healthz), and nodes whose heartbeats go to HAProxy.
// Everything is stopped by its own pid on destruction.
class TwoTrackers {
 public:
  TwoTrackers(const std::string& db_url, int nodes, int64_t max_pics)
      : db_url_(db_url), max_pics_(max_pics) {
    for (int i = 0; i < 2; ++i) {
      tracker_ports_[i] = FreePort();
      StartTracker(i);
    }
    proxy_port_ = FreePort();
    WriteProxyConfig();
    proxy_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kHaproxy, "-f", dir_.str() + "/haproxy.cfg",
                                 "-db"},
        dir_.str() + "/haproxy.log");
    if (!WaitForStatus(url() + "/healthz", 200)) {
      ADD_FAILURE() << "haproxy did not start\n" << Logs();
    }
    for (int i = 0; i < nodes; ++i) StartNode(i);
  }
  ~TwoTrackers() {
    for (auto& n : nodes_) n.reset();
    proxy_.reset();
    for (auto& t : trackers_) t.reset();
  }

  // HAProxy's URL: what clients and nodes use.
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(proxy_port_);
  }
  // Whether both trackers' /healthz answer 200.
  bool BothHealthy() const {
    return Get(TrackerUrl(0) + "/healthz").status == 200 &&
           Get(TrackerUrl(1) + "/healthz").status == 200;
  }
  std::string TrackerUrl(int i) const {
    return "http://127.0.0.1:" + std::to_string(tracker_ports_[i]);
  }
  void KillTracker(int i) {
    trackers_[i]->Kill9();
    trackers_[i].reset();
  }

  // Image files under every node's root.
  size_t FileCount() const {
    size_t n = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const auto root = dir_.path() / ("root" + std::to_string(i));
      if (!std::filesystem::exists(root)) continue;
      n += ImageFiles(root);
    }
    return n;
  }

  json Servers(const std::string& tracker) {
    auto r = Get(tracker + "/v1/servers",
                 {{"Authorization", std::string("Bearer ") + kAdminToken}});
    json j = Parse(r.body);
    return j.is_discarded() ? json::object() : j;
  }
  // Until `tracker` lists `count` usable servers.
  bool WaitUsable(const std::string& tracker, size_t count) {
    return Eventually(
        [&] {
          json s = Servers(tracker);
          return s.contains("totals") &&
                 s["totals"]["usable"].get<size_t>() == count;
        },
        std::chrono::seconds(15));
  }

  std::string Logs() const {
    std::string out;
    for (const char* name :
         {"tracker0", "tracker1", "haproxy", "node0", "node1", "node2"}) {
      out += std::string("--- ") + name + ".log\n" +
             ReadFile(dir_.path() / (std::string(name) + ".log"));
    }
    return out;
  }

 private:
  void StartTracker(int i) {
    std::vector<std::string> argv = {
        IMGSTORE_BINARY, "tracker", "--listen",
        "127.0.0.1:" + std::to_string(tracker_ports_[i]), "--db", db_url_,
        "--secret", kSecret, "--admin-token", kAdminToken,
        "--heartbeat-timeout", "3",
        // One copy: the capacity arithmetic below counts images.
        "--replicas", "1"};
    trackers_[i] = std::make_unique<ChildProcess>(
        argv, dir_.str() + "/tracker" + std::to_string(i) + ".log");
    if (!WaitForStatus(TrackerUrl(i) + "/healthz", 200)) {
      ADD_FAILURE() << "tracker " << i << " did not start\n" << Logs();
    }
  }

  void StartNode(int i) {
    uint16_t port = FreePort();
    std::vector<std::string> argv = {
        IMGSTORE_BINARY, "node",
        "--listen",      "127.0.0.1:" + std::to_string(port),
        "--root",        dir_.str() + "/root" + std::to_string(i),
        "--tracker",     url(),
        "--secret",      kSecret,
        "--name",        "n" + std::to_string(i),
        "--heartbeat",   "1",
        "--max-pics",    std::to_string(max_pics_)};
    nodes_.push_back(std::make_unique<ChildProcess>(
        argv, dir_.str() + "/node" + std::to_string(i) + ".log"));
    if (!WaitForStatus("http://127.0.0.1:" + std::to_string(port) + "/status",
                       200)) {
      ADD_FAILURE() << "node " << i << " did not start\n" << Logs();
    }
  }

  // Short timeouts and a 200 ms health check, so a dead tracker leaves the
  // rotation within about half a second; redispatch sends a request whose
  // connection was refused to the other tracker.
  void WriteProxyConfig() {
    std::ofstream cfg(dir_.path() / "haproxy.cfg");
    cfg << "global\n"
           "  maxconn 512\n"
           "defaults\n"
           "  mode http\n"
           "  timeout connect 1s\n"
           "  timeout client 10s\n"
           "  timeout server 10s\n"
           "  retries 3\n"
           "  option redispatch\n"
           "frontend imgstore\n"
           "  bind 127.0.0.1:"
        << proxy_port_
        << "\n"
           "  default_backend trackers\n"
           "backend trackers\n"
           "  balance roundrobin\n"
           "  option httpchk GET /healthz\n"
           "  http-check expect status 200\n";
    for (int i = 0; i < 2; ++i) {
      cfg << "  server t" << i << " 127.0.0.1:" << tracker_ports_[i]
          << " check inter 200ms fall 2 rise 2\n";
    }
  }

  TempDir dir_;
  const std::string db_url_;
  const int64_t max_pics_;
  uint16_t tracker_ports_[2] = {0, 0};
  uint16_t proxy_port_ = 0;
  std::unique_ptr<ChildProcess> trackers_[2];
  std::unique_ptr<ChildProcess> proxy_;
  std::vector<std::unique_ptr<ChildProcess>> nodes_;
};

// HAProxy in TCP mode between the trackers and PostgreSQL: stopping it is
// a database outage as trackers see one (connections reset, new ones
// refused); starting it again on the same port ends it.
class DatabaseProxy {
 public:
  explicit DatabaseProxy(const std::string& db_url) : db_url_(db_url) {
    const size_t at = db_url.find("@127.0.0.1:");
    const size_t port_at = at + std::string("@127.0.0.1:").size();
    if (at == std::string::npos) {
      ADD_FAILURE() << "not a loopback URL: " << db_url;
      return;
    }
    const size_t slash = db_url.find('/', port_at);
    const std::string db_port = db_url.substr(port_at, slash - port_at);
    port_ = FreePort();
    url_ = db_url.substr(0, port_at) + std::to_string(port_) +
           db_url.substr(slash);
    std::ofstream(dir_.path() / "db-proxy.cfg")
        << "defaults\n  mode tcp\n  timeout connect 1s\n"
           "  timeout client 1h\n  timeout server 1h\n"
           "listen pg\n  bind 127.0.0.1:"
        << port_ << "\n  server pg 127.0.0.1:" << db_port << "\n";
    Start();
  }
  const std::string& url() const { return url_; }
  void Start() {
    proxy_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kHaproxy, "-f", dir_.str() + "/db-proxy.cfg",
                                 "-db"},
        dir_.str() + "/db-proxy.log");
    ::usleep(300'000);  // HAProxy binds in a few milliseconds
  }
  void Stop() {
    Thaw();
    proxy_.reset();
  }
  // A database that stops answering with its connections still open (hung,
  // or frozen): HAProxy stopped, so nothing is forwarded either way and new
  // connections wait in its listen queue.
  void Freeze() {
    if (proxy_) ::kill(proxy_->pid(), SIGSTOP);
  }
  void Thaw() {
    if (proxy_) ::kill(proxy_->pid(), SIGCONT);
  }
  ~DatabaseProxy() { Thaw(); }

 private:
  TempDir dir_;
  std::string db_url_;
  std::string url_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> proxy_;
};

class PostgresClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = getenv("IMGSTORE_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') {
      GTEST_SKIP() << "IMGSTORE_TEST_POSTGRES_URL is not set "
                      "(scripts/pg-scratch start DIR prints one)";
    }
    if (access(kHaproxy, X_OK) != 0) {
      GTEST_SKIP() << kHaproxy << " is not installed";
    }
    db_ = std::make_unique<ScratchDatabase>(url);
  }
  void TearDown() override {
    cluster_.reset();
    db_.reset();
  }

  TwoTrackers& Start(int64_t max_pics, std::string db_url = "") {
    if (db_url.empty()) db_url = db_->url();
    cluster_ = std::make_unique<TwoTrackers>(db_url, 3, max_pics);
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(cluster_->WaitUsable(cluster_->TrackerUrl(i), 3))
          << "tracker " << i << " does not see the nodes\n"
          << cluster_->Logs();
    }
    return *cluster_;
  }

  std::unique_ptr<ScratchDatabase> db_;  // outlives the processes
  std::unique_ptr<TwoTrackers> cluster_;
};

TEST_F(PostgresClusterTest, ConcurrentUploadsThroughTwoTrackersNeverOverfill) {
  constexpr int kMaxPics = 10;  // 3 nodes: room for 30 of the 48 uploads
  TwoTrackers& c = Start(kMaxPics);
  const std::string bytes = TestData("small.jpg");
  std::mutex mu;
  std::vector<std::string> ids;
  std::atomic<int> created{0}, full{0}, other{0};
  std::vector<std::thread> uploaders;
  for (int t = 0; t < 16; ++t) {
    uploaders.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        auto r = Send("POST", c.url() + "/v1/images", bytes,
                      {{"Content-Type", "image/jpeg"}});
        if (r.status == 201) {
          ++created;
          std::lock_guard lock(mu);
          ids.push_back(Parse(r.body)["id"]);
        } else if (r.status == 503 || r.status == 507) {
          ++full;
        } else {
          ++other;
          ADD_FAILURE() << r.status << " " << r.body;
        }
      }
    });
  }
  for (auto& t : uploaders) t.join();
  EXPECT_EQ(created.load(), 3 * kMaxPics);
  EXPECT_EQ(full.load(), 48 - 3 * kMaxPics);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size())
      << "duplicate ids";

  // Both trackers, from the database, agree: no server past its limit.
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("tracker " + std::to_string(i));
    const std::string tracker = c.TrackerUrl(i);
    EXPECT_TRUE(Eventually(
        [&] {
          int64_t sum = 0;
          json servers = c.Servers(tracker);  // a temporary would die early
          for (auto& s : servers["servers"]) {
            EXPECT_LE(s["cur_pic_amount"], s["max_pic_amount"]) << s.dump();
            sum += s["cur_pic_amount"].get<int64_t>();
          }
          return sum == created.load();
        },
        std::chrono::seconds(5)))
        << c.Servers(tracker).dump();
    for (const std::string& id : ids) {
      auto r = Get(tracker + "/v1/images/" + id);
      EXPECT_EQ(r.status, 200u) << id;
    }
  }
}

TEST_F(PostgresClusterTest, Kill9OfOneTrackerLosesNothingAndTheOtherCarriesOn) {
  TwoTrackers& c = Start(100000);
  const std::string bytes = TestData("small.jpg");
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acked;  // id, sha256
  std::vector<steady_clock::time_point> failures;
  std::atomic<bool> stop{false};
  std::atomic<int> after_kill{0};
  steady_clock::time_point killed_at = steady_clock::time_point::max();
  std::vector<std::thread> uploaders;
  for (int t = 0; t < 16; ++t) {
    uploaders.emplace_back([&] {
      while (!stop) {
        http::ClientRequest req{"POST",
                                c.url() + "/v1/images",
                                {{"Content-Type", "image/jpeg"}},
                                bytes};
        auto res = http::Fetch(req);
        std::lock_guard lock(mu);
        if (res && res->status == 201) {
          json j = Parse(res->body);
          acked.emplace_back(j["id"], j["sha256"]);
          if (steady_clock::now() > killed_at) ++after_kill;
        } else {
          failures.push_back(steady_clock::now());
        }
      }
    });
  }
  ::usleep(1'500'000);
  {
    std::lock_guard lock(mu);
    killed_at = steady_clock::now();
  }
  c.KillTracker(0);
  ::usleep(4'000'000);
  stop = true;
  for (auto& t : uploaders) t.join();

  ASSERT_GT(acked.size(), 20u);
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("failed", static_cast<int>(failures.size()));
  EXPECT_GT(after_kill.load(), 10) << "no uploads after the kill\n" << c.Logs();
  // Failures only in a brief window around the kill (requests in flight on
  // the killed tracker, and those before HAProxy's check took it out).
  for (auto when : failures) {
    EXPECT_LT(when, killed_at + std::chrono::seconds(2))
        << "an upload failed "
        << std::chrono::duration_cast<std::chrono::milliseconds>(when -
                                                                 killed_at)
               .count()
        << " ms after the kill";
  }
  std::set<std::string> unique;
  for (const auto& [id, sha] : acked) unique.insert(id);
  EXPECT_EQ(unique.size(), acked.size()) << "duplicate ids";

  // Every acknowledged upload, from either side of the kill, is recorded,
  // and its bytes are served (checked for every 10th: thousands of uploads
  // are acknowledged, and the nodes' durability has its own crash tests).
  const std::string survivor = c.TrackerUrl(1);
  for (size_t i = 0; i < acked.size(); ++i) {
    const auto& [id, sha] = acked[i];
    auto r = Get(survivor + "/v1/images/" + id);
    ASSERT_EQ(r.status, 200u) << id;
    json j = Parse(r.body);
    EXPECT_EQ(j["sha256"], sha);
    if (i % 10 == 0) {
      auto file = Get(j["url"].get<std::string>());
      EXPECT_EQ(Sha256Hex(file.body), sha) << id;
    }
  }
  EXPECT_EQ(Get(c.url() + "/healthz").status, 200u);
}

// Of two trackers on one database exactly one holds the repair lease; when
// it dies the other takes it over once the lease runs out.
TEST_F(PostgresClusterTest, OneTrackerAtATimeRepairs) {
  TwoTrackers& c = Start(100000);
  auto leader = [&](int i) {
    constexpr std::string_view kMetric = "\nimgstore_tracker_repair_leader ";
    auto m = Get(c.TrackerUrl(i) + "/metrics").body;
    auto at = m.find(kMetric);
    return at != std::string::npos &&
           m.compare(at + kMetric.size(), 1, "1") == 0;
  };
  ASSERT_TRUE(Eventually([&] { return leader(0) != leader(1); },
                         std::chrono::seconds(10)))
      << c.Logs();
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(leader(0), leader(1)) << "exactly one leader";
    ::usleep(200'000);
  }
  const int holder = leader(0) ? 0 : 1;
  c.KillTracker(holder);
  EXPECT_TRUE(
      Eventually([&] { return leader(1 - holder); }, std::chrono::seconds(30)))
      << "the survivor takes the lease over\n"
      << c.Logs();
}

// While the database is down: uploads are refused before any copy is made
// (no orphan file), /i/ sends browsers to the default image, and no live
// node is called lost, during the outage or once it ends (its heartbeats
// went to whichever tracker, and none could record them).
TEST_F(PostgresClusterTest, ADatabaseOutageLeavesNoFileAndCallsNoNodeLost) {
  DatabaseProxy db(db_->url());
  TwoTrackers& c = Start(100000, db.url());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto r = Send("POST", c.url() + "/v1/images", TestData("small.jpg"),
                  {{"Content-Type", "image/jpeg"}});
    ASSERT_EQ(r.status, 201u) << r.body;
    ids.push_back(Parse(r.body)["id"]);
  }
  ASSERT_EQ(c.FileCount(), ids.size());
  json ask = {{"ids", ids}};

  db.Stop();
  // Longer than the heartbeat timeout (3 s): the beats recorded last grow
  // old in the database.
  const auto until = steady_clock::now() + std::chrono::seconds(5);
  int refused = 0;
  while (steady_clock::now() < until) {
    for (int i = 0; i < 2; ++i) {
      auto up = Send("POST", c.TrackerUrl(i) + "/v1/images",
                     TestData("small.png"), {{"Content-Type", "image/png"}});
      EXPECT_NE(up.status, 201u) << up.body;
      refused += up.status == 503;
    }
    ::usleep(250'000);
  }
  EXPECT_GT(refused, 0);
  // A page says it cannot be shown now; refusals say when to try again.
  auto page = Get(c.TrackerUrl(0) + "/");
  EXPECT_EQ(page.status, 503u);
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("cannot be shown right now"), std::string::npos);
  EXPECT_EQ(page.Header("Retry-After"), "2");
  auto to = Get(c.TrackerUrl(0) + "/i/" + ids[0]);
  EXPECT_EQ(to.status, 302u) << to.body;
  EXPECT_NE(to.Header("Location").find("/default-image"), std::string::npos);

  db.Start();
  ASSERT_TRUE(
      Eventually([&] { return c.BothHealthy(); }, std::chrono::seconds(10)))
      << c.Logs();
  // Right after, and for a while: every image on a live node, on both.
  const auto watch = steady_clock::now() + std::chrono::seconds(3);
  while (steady_clock::now() < watch) {
    for (int i = 0; i < 2; ++i) {
      auto r = Send("POST", c.TrackerUrl(i) + "/v1/resolve", ask.dump(),
                    {{"Content-Type", "application/json"}});
      ASSERT_EQ(r.status, 200u) << r.body;
      for (auto& [id, now] : Parse(r.body)["images"].items())
        EXPECT_EQ(now["available"], true) << "tracker " << i << ": " << id;
    }
    ::usleep(100'000);
  }
  // Uploads refused before the trackers saw the outage stored a copy and
  // could not tell whether their record was written: settled (deleted)
  // once the database answers.
  EXPECT_TRUE(Eventually([&] { return c.FileCount() == ids.size(); },
                         std::chrono::seconds(5)))
      << c.FileCount() << " files for " << ids.size() << " images\n"
      << c.Logs();
}

// A database that stops answering, its connections still open, is an
// outage too: a call that waits on it ends within the store's call timeout
// with a 503, /healthz says so (so a balancer can act), uploads are then
// refused at once, and everything comes back when it answers again.
TEST_F(PostgresClusterTest, AHungDatabaseIsAnOutageNotAHang) {
  DatabaseProxy db(db_->url());
  TwoTrackers& c = Start(100000, db.url());
  auto first = Send("POST", c.TrackerUrl(0) + "/v1/images",
                    TestData("small.jpg"), {{"Content-Type", "image/jpeg"}});
  ASSERT_EQ(first.status, 201u) << first.body;
  const std::string id = Parse(first.body)["id"];

  // One series of a tracker's /metrics, -1 when absent.
  auto metric = [&](int tracker, const std::string& series) {
    std::istringstream in(Get(c.TrackerUrl(tracker) + "/metrics").body);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with(series + " "))
        return std::stod(line.substr(series.size() + 1));
    }
    return -1.0;
  };

  db.Freeze();
  const auto frozen = steady_clock::now();
  // More resolves than the tracker has workers, 8 a second: none waits
  // past a call's timeout, none queues behind the others' waits.
  std::vector<std::thread> askers;
  std::mutex mu;
  std::vector<std::pair<unsigned, steady_clock::duration>> answers;
  for (int i = 0; i < 32; ++i) {
    askers.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(125 * i));
      const auto sent = steady_clock::now();
      auto r = Send("POST", c.TrackerUrl(0) + "/v1/resolve",
                    json{{"ids", {id}}}.dump(),
                    {{"Content-Type", "application/json"}});
      std::lock_guard lock(mu);
      answers.emplace_back(r.status, steady_clock::now() - sent);
    });
  }
  // Meanwhile the servers, beating all along, stay usable.
  double fewest_usable = 3;
  while (steady_clock::now() - frozen < std::chrono::seconds(14)) {
    fewest_usable =
        std::min(fewest_usable, metric(1, "imgstore_tracker_servers_usable"));
    ::usleep(500'000);
  }
  for (std::thread& t : askers) t.join();
  EXPECT_EQ(fewest_usable, 3);
  ASSERT_EQ(answers.size(), 32u);
  for (const auto& [status, took] : answers) {
    EXPECT_EQ(status, 503u);
    EXPECT_LT(took, PostgresStore::kCallTimeout + std::chrono::seconds(3));
  }
  ASSERT_TRUE(Eventually(
      [&] { return Get(c.TrackerUrl(1) + "/healthz").status == 503; },
      PostgresStore::kCallTimeout + std::chrono::seconds(10)))
      << c.Logs();
  // The metrics say so too: the store is down and no server takes uploads.
  const std::string down = Get(c.TrackerUrl(1) + "/metrics").body;
  EXPECT_NE(down.find("\nimgstore_tracker_store_up 0\n"), std::string::npos)
      << down;
  int taking = 0, listed = 0;
  std::istringstream lines(down);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("imgstore_tracker_server_takes_uploads{")) continue;
    ++listed;
    taking += line.ends_with(" 1");
  }
  EXPECT_EQ(listed, 3) << down;
  EXPECT_EQ(taking, 0) << down;
  // Nor does any tracker lead repair once a lease it cannot renew ran out.
  EXPECT_TRUE(Eventually(
      [&] {
        return metric(0, "imgstore_tracker_repair_leader") == 0 &&
               metric(1, "imgstore_tracker_repair_leader") == 0;
      },
      std::chrono::seconds(20)));
  const auto asked = steady_clock::now();
  auto refused = Send("POST", c.TrackerUrl(1) + "/v1/images",
                      TestData("small.png"), {{"Content-Type", "image/png"}});
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_LT(steady_clock::now() - asked, std::chrono::seconds(2));

  db.Thaw();
  ASSERT_TRUE(
      Eventually([&] { return c.BothHealthy(); }, std::chrono::seconds(20)))
      << c.Logs();
  auto again = Send("POST", c.TrackerUrl(1) + "/v1/images",
                    TestData("small.png"), {{"Content-Type", "image/png"}});
  EXPECT_EQ(again.status, 201u) << again.body;
  EXPECT_NE(Get(c.TrackerUrl(1) + "/metrics")
                .body.find("\nimgstore_tracker_store_up 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace imgstore::testing
