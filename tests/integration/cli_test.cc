// The client commands and the demo, run as a user would: the real binary
// against real processes on 127.0.0.1 (SPEC §1, §7).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/hex.h"
#include "testing/cluster.h"
#include "tracker/store_outage.h"

namespace imgstore::testing {
namespace {

namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new Cluster({.nodes = 2}); }
  static void TearDownTestSuite() { delete cluster_; }
  static CommandResult Run(const std::vector<std::string>& args) {
    return RunImgstore(args, cluster_->tracker_url(), kAdminToken);
  }
  static Cluster* cluster_;
};
Cluster* CliTest::cluster_ = nullptr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

TEST_F(CliTest, UploadGetRm) {
  const std::string file = std::string(IMGSTORE_TEST_DATA) + "/small.png";
  auto up = Run({"upload", file});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto words = Lines(up.output);
  ASSERT_EQ(words.size(), 1u) << up.output;
  const std::string id = words[0].substr(0, words[0].find(' '));
  const std::string url = words[0].substr(words[0].find(' ') + 1);
  EXPECT_EQ(Get(url).body, TestData("small.png"));

  TempDir out;
  auto get = Run({"get", id, "-o", out.str() + "/x.png"});
  ASSERT_EQ(get.exit_code, 0) << get.output;
  EXPECT_EQ(ReadFile(out.path() / "x.png"), TestData("small.png"));

  auto rm = Run({"rm", id});
  EXPECT_EQ(rm.exit_code, 0) << rm.output;
  EXPECT_EQ(Get(url).status, 404u);
  EXPECT_NE(Run({"get", id, "-o", out.str() + "/y.png"}).exit_code, 0);
}

// get -o writes where the path leads, as a shell's ">" would: through a
// link (which stays), into a pipe, over a file keeping its mode.
TEST_F(CliTest, GetWritesThroughLinksAndIntoPipes) {
  const std::string bytes = TestData("small.png");
  auto up = Run({"upload", std::string(IMGSTORE_TEST_DATA) + "/small.png"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  const std::string id = up.output.substr(0, up.output.find(' '));
  TempDir out;

  std::ofstream(out.path() / "target.png") << "old";
  fs::create_symlink("target.png", out.path() / "link.png");
  auto linked = Run({"get", id, "-o", out.str() + "/link.png"});
  ASSERT_EQ(linked.exit_code, 0) << linked.output;
  EXPECT_TRUE(fs::is_symlink(out.path() / "link.png"));
  EXPECT_EQ(ReadFile(out.path() / "target.png"), bytes);

  fs::permissions(out.path() / "target.png",
                  fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(Run({"get", id, "-o", out.str() + "/target.png"}).exit_code, 0);
  EXPECT_EQ(fs::status(out.path() / "target.png").permissions(),
            fs::perms::owner_read | fs::perms::owner_write);

  // A reader that is open before: it gets the bytes, the pipe stays one.
  const std::string fifo = out.str() + "/pipe.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto piped = Run({"get", id, "-o", fifo});
  EXPECT_EQ(piped.exit_code, 0) << piped.output;
  std::string got(bytes.size() + 1, '\0');
  const ssize_t n = ::read(reader, got.data(), got.size());
  ::close(reader);
  EXPECT_EQ(got.substr(0, size_t(std::max<ssize_t>(n, 0))), bytes);
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST_F(CliTest, UploadJsonAndRefusals) {
  auto up =
      Run({"upload", "--json", std::string(IMGSTORE_TEST_DATA) + "/small.gif"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto j = nlohmann::json::parse(Lines(up.output).at(0), nullptr, false);
  ASSERT_TRUE(j.is_object()) << up.output;
  EXPECT_EQ(j["content_type"], "image/gif");
  EXPECT_EQ(j["file"], std::string(IMGSTORE_TEST_DATA) + "/small.gif");
  // With --json every file gets its line, failures too, named.
  const std::string text = std::string(IMGSTORE_TEST_DATA) + "/text.txt";
  auto mixed = Run({"upload", "--json", text,
                    std::string(IMGSTORE_TEST_DATA) + "/small.png"});
  EXPECT_NE(mixed.exit_code, 0);
  auto lines = Lines(mixed.output);
  ASSERT_EQ(lines.size(), 2u) << mixed.output;
  auto refused = nlohmann::json::parse(lines[0], nullptr, false);
  ASSERT_TRUE(refused.is_object()) << mixed.output;
  EXPECT_EQ(refused["file"], text);
  EXPECT_TRUE(refused["error"]["message"].is_string()) << mixed.output;
  auto stored = nlohmann::json::parse(lines[1], nullptr, false);
  ASSERT_TRUE(stored.is_object()) << mixed.output;
  EXPECT_EQ(stored["content_type"], "image/png");
  auto bad = Run({"upload", std::string(IMGSTORE_TEST_DATA) + "/text.txt"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("text.txt"), std::string::npos) << bad.output;
  EXPECT_EQ(Lines(bad.output).size(), 1u) << "one-line error: " << bad.output;
}

// A tracker holding all the upload memory it may answers 503 with
// Retry-After ("busy"); `upload` waits as told and tries again rather than
// failing the file.
TEST(CliBusyTest, UploadWaitsForABusyTracker) {
  // Room for one body at a time: the held one below takes it.
  Cluster c({.nodes = 1, .tracker_args = {"--upload-memory", "1"}});
  const std::string& url = c.tracker_url();
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  // Not inherited by the client's process, or closing it here would not
  // end the connection.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string head =
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 1000000\r\n\r\nxx";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
            ssize_t(head.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // The held upload goes away after a second; the client's first try
  // meets it, its next one does not.
  std::thread release([fd] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ::close(fd);
  });
  auto up = RunImgstore(
      {"upload", std::string(IMGSTORE_TEST_DATA) + "/small.jpg"}, url, "");
  release.join();
  EXPECT_EQ(up.exit_code, 0) << up.output;
  EXPECT_EQ(Lines(up.output).size(), 1u) << up.output;
}

// A tracker whose database cannot be read for a moment (a failover, a
// restart) answers 503 with Retry-After too; `upload` waits it out.
TEST(CliBusyTest, UploadWaitsForTheDatabaseToAnswerAgain) {
  Cluster c({.nodes = 1});
  const std::string db = c.dir() + "/tracker.db";
  SetServerTableReadable(db, false);
  ASSERT_TRUE(Eventually(
      [&] { return Get(c.tracker_url() + "/healthz").status == 503; },
      std::chrono::seconds(10)));
  std::thread back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    SetServerTableReadable(db, true);
  });
  auto up =
      RunImgstore({"upload", std::string(IMGSTORE_TEST_DATA) + "/small.jpg"},
                  c.tracker_url(), "");
  back.join();
  EXPECT_EQ(up.exit_code, 0) << up.output;
  EXPECT_EQ(Lines(up.output).size(), 1u) << up.output;
}

// File names are bytes: one that is not UTF-8 still gets its JSON line
// (the stray byte as U+FFFD), and the files after it theirs.
TEST_F(CliTest, JsonLinesForNamesThatAreNotUtf8) {
  TempDir tree;
  const std::string image = tree.str() + "/caf\xe9.png";
  fs::copy_file(std::string(IMGSTORE_TEST_DATA) + "/small.png", image);
  std::ofstream(tree.str() + "/notes\xe9.txt") << "not an image\n";
  fs::copy_file(std::string(IMGSTORE_TEST_DATA) + "/small.gif",
                tree.str() + "/plain.gif");

  auto up = Run({"upload", "--json", image});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto line = nlohmann::json::parse(Lines(up.output).at(0), nullptr, false);
  ASSERT_TRUE(line.is_object()) << up.output;
  EXPECT_EQ(line["file"], tree.str() + "/caf\xef\xbf\xbd.png");
  EXPECT_TRUE(line["id"].is_string());

  auto imported = Run({"import", "--json", tree.str()});
  std::map<std::string, std::string> status;  // by file name's last bytes
  for (const std::string& text : Lines(imported.output)) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("file")) continue;
    const std::string file = j["file"];
    status[file.substr(file.size() - 4)] = j["status"];
  }
  EXPECT_EQ(status[".png"], "already") << imported.output;
  EXPECT_EQ(status[".txt"], "skipped") << imported.output;
  EXPECT_TRUE(status[".gif"] == "imported" || status[".gif"] == "already")
      << imported.output;
}

TEST_F(CliTest, ImportSkipsNonImagesAndDoesNotDuplicate) {
  TempDir tree;
  fs::create_directories(tree.path() / "a" / "b");
  fs::copy_file(fs::path(IMGSTORE_TEST_DATA) / "small.jpg",
                tree.path() / "a" / "one.jpg");
  fs::copy_file(fs::path(IMGSTORE_TEST_DATA) / "small.webp",
                tree.path() / "a" / "b" / "two.webp");
  fs::copy_file(fs::path(IMGSTORE_TEST_DATA) / "text.txt",
                tree.path() / "notes.txt");
  // Distinct bytes per file, so the first import stores both.
  {
    std::ofstream(tree.path() / "a" / "one.jpg", std::ios::app) << "trailer-1";
  }
  const int64_t before = cluster_->Servers()["totals"]["images"];
  auto first = Run({"import", tree.str(), "-j", "4"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("imported 2"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("notes.txt"), std::string::npos)
      << "skip reason shown";
  EXPECT_EQ(cluster_->Servers()["totals"]["images"].get<int64_t>(), before + 2);
  auto second = Run({"import", tree.str()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("imported 0"), std::string::npos)
      << second.output;
  EXPECT_EQ(cluster_->Servers()["totals"]["images"].get<int64_t>(), before + 2);

  // --json: a line per file, what became of it and its image id, so a
  // site can record the ids of what it imported. Hidden files are named.
  const std::string gif = TestData("small.gif") + "trailer-" + tree.str();
  std::ofstream(tree.path() / "three.gif") << gif;
  fs::copy_file(fs::path(IMGSTORE_TEST_DATA) / "small.png",
                tree.path() / ".hidden.png");
  std::ofstream(tree.path() / "drawing.svg")
      << "<svg xmlns=\"http://www.w3.org/2000/svg\"><script/></svg>";
  auto listed = Run({"import", "--json", tree.str()});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  std::map<std::string, nlohmann::json> by_file;
  for (const std::string& line : Lines(listed.output)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("file"))
      by_file[j["file"].get<std::string>()] = j;
  }
  ASSERT_EQ(by_file.size(), 6u) << listed.output;
  const auto& three = by_file[(tree.path() / "three.gif").string()];
  EXPECT_EQ(three["status"], "imported") << listed.output;
  ASSERT_TRUE(three["url"].is_string()) << listed.output;
  EXPECT_EQ(Get(three["url"].get<std::string>()).body, gif);
  const auto& one = by_file[(tree.path() / "a" / "one.jpg").string()];
  EXPECT_EQ(one["status"], "already");
  EXPECT_EQ(one["ids"].size(), 1u) << listed.output;
  EXPECT_EQ(by_file[(tree.path() / "notes.txt").string()]["status"], "skipped");
  EXPECT_EQ(by_file[(tree.path() / ".hidden.png").string()]["reason"],
            "hidden file");
  // The tracker's reason, not a generic one: SVG is refused for its scripts.
  EXPECT_EQ(by_file[(tree.path() / "drawing.svg").string()]["reason"],
            "SVG is not accepted: it can carry scripts")
      << listed.output;
}

// Two imports of one tree running at once (overlapping cron jobs) store
// each file once: between one's look for the bytes and its upload, the
// other may have stored them, and ?if_new=1 says so instead of storing
// them again.
TEST_F(CliTest, ImportsRunningAtOnceStoreEachFileOnce) {
  TempDir tree, logs;
  const std::string png = TestData("small.png");
  constexpr int kFiles = 24;
  for (int i = 0; i < kFiles; ++i) {
    std::ofstream(tree.path() / fmt::format("{:02}.png", i), std::ios::binary)
        << png << "at-once-" << i << tree.str();
  }
  const int64_t before = cluster_->Servers()["totals"]["images"];
  std::vector<std::unique_ptr<ChildProcess>> imports;
  for (int i = 0; i < 2; ++i) {
    imports.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{IMGSTORE_BINARY, "import", tree.str(), "-j",
                                 "4", "--tracker", cluster_->tracker_url(),
                                 "--admin-token", kAdminToken},
        logs.str() + fmt::format("/import-{}.log", i)));
  }
  for (auto& import : imports)
    EXPECT_EQ(import->Wait(std::chrono::seconds(120)), 0) << import->Log();
  EXPECT_EQ(cluster_->Servers()["totals"]["images"].get<int64_t>(),
            before + kFiles)
      << imports[0]->Log() << imports[1]->Log();

  // The API itself: 201 for new bytes, then 200 with the same image; a
  // plain upload of them is a new image (SPEC §4); a bad flag is a 400.
  const std::string url = cluster_->tracker_url() + "/v1/images";
  const std::string bytes = png + "if-new-" + tree.str();
  const std::vector<std::pair<std::string, std::string>> png_type = {
      {"Content-Type", "image/png"}};
  auto first = Send("POST", url + "?if_new=1", bytes, png_type);
  ASSERT_EQ(first.status, 201u) << first.body;
  auto again = Send("POST", url + "?if_new=1", bytes, png_type);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(nlohmann::json::parse(again.body)["id"],
            nlohmann::json::parse(first.body)["id"]);
  auto plain = Send("POST", url, bytes, png_type);
  ASSERT_EQ(plain.status, 201u) << plain.body;
  EXPECT_NE(nlohmann::json::parse(plain.body)["id"],
            nlohmann::json::parse(first.body)["id"]);
  auto bad = Send("POST", url + "?if_new=maybe", bytes, png_type);
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_NE(bad.body.find("if_new must be 1 or 0"), std::string::npos)
      << bad.body;
}

// With no server able to take images, an import stops after ten refusals
// in a row instead of sending every file of the tree to be refused.
TEST_F(CliTest, ImportGivesUpWhenTheClusterTakesNothing) {
  TempDir tree;
  for (int i = 0; i < 15; ++i) {
    std::ofstream(tree.path() / ("p" + std::to_string(i) + ".png"))
        << TestData("small.png") << "give-up-" << i << tree.str();
  }
  auto servers = cluster_->Servers()["servers"];
  for (const auto& s : servers) {
    const std::string id = std::to_string(s["server_id"].get<int>());
    ASSERT_EQ(Run({"servers", "disable", id}).exit_code, 0);
  }
  auto import = Run({"import", tree.str(), "-j", "1"});
  for (const auto& s : servers) {
    const std::string id = std::to_string(s["server_id"].get<int>());
    EXPECT_EQ(Run({"servers", "enable", id}).exit_code, 0);
  }
  EXPECT_NE(import.exit_code, 0);
  EXPECT_NE(import.output.find("stopping: 10 uploads in a row failed"),
            std::string::npos)
      << import.output;
  EXPECT_NE(import.output.find("failed 10, not tried 5"), std::string::npos)
      << import.output;
}

// Files with the same bytes in one import: the first is sent, the others
// are "already" stored with its id once it is, and fail with it when it
// fails, never "already" for bytes stored nowhere.
// Ctrl-C during an import: the uploads in flight finish, no new one
// starts, and the summary says what was left.
TEST_F(CliTest, InterruptedImportSaysWhatWasLeft) {
  TempDir tree, logs;
  const std::string png = TestData("small.png");
  for (int i = 0; i < 1000; ++i) {
    std::ofstream(tree.path() / fmt::format("{:04}.png", i), std::ios::binary)
        << png << "interrupt-" << i;  // distinct bytes: each one uploads
  }
  ChildProcess import(
      {IMGSTORE_BINARY, "import", tree.str(), "-j", "1", "--tracker",
       cluster_->tracker_url(), "--admin-token", kAdminToken},
      logs.str() + "/import.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_EQ(::kill(import.pid(), SIGINT), 0);
  EXPECT_EQ(import.Wait(std::chrono::seconds(60)), 130) << import.Log();
  EXPECT_NE(import.Log().find("interrupted;"), std::string::npos)
      << import.Log();
  EXPECT_NE(import.Log().find("not tried"), std::string::npos) << import.Log();
}

TEST_F(CliTest, ImportTwinsFollowTheFirstFile) {
  TempDir tree;
  const std::string bytes = TestData("small.png") + "twins-" + tree.str();
  for (const char* name : {"a.png", "b.png", "c.png"})
    std::ofstream(tree.path() / name) << bytes;
  auto import_json = [&] {
    auto run = Run({"import", "--json", tree.str(), "-j", "3"});
    std::map<std::string, nlohmann::json> by_file;
    for (const std::string& line : Lines(run.output)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("file"))
        by_file[fs::path(j["file"].get<std::string>()).filename()] = j;
    }
    return std::make_pair(run, by_file);
  };

  auto servers = cluster_->Servers()["servers"];
  for (const auto& s : servers) {
    const std::string id = std::to_string(s["server_id"].get<int>());
    ASSERT_EQ(Run({"servers", "disable", id}).exit_code, 0);
  }
  auto [refused, refused_files] = import_json();
  for (const auto& s : servers) {
    const std::string id = std::to_string(s["server_id"].get<int>());
    EXPECT_EQ(Run({"servers", "enable", id}).exit_code, 0);
  }
  EXPECT_NE(refused.exit_code, 0);
  ASSERT_EQ(refused_files.size(), 3u) << refused.output;
  for (const auto& [name, j] : refused_files)
    EXPECT_EQ(j["status"], "failed") << name << ": " << refused.output;
  EXPECT_NE(refused.output.find("the same bytes as"), std::string::npos)
      << refused.output;

  auto [stored, stored_files] = import_json();
  ASSERT_EQ(stored.exit_code, 0) << stored.output;
  ASSERT_EQ(stored_files.size(), 3u) << stored.output;
  std::string id;
  int imported = 0;
  for (const auto& [name, j] : stored_files) {
    if (j["status"] == "imported") {
      ++imported;
      id = j["id"];
    }
  }
  ASSERT_EQ(imported, 1) << stored.output;
  for (const auto& [name, j] : stored_files) {
    if (j["status"] == "imported") continue;
    EXPECT_EQ(j["status"], "already") << stored.output;
    EXPECT_EQ(j["ids"], nlohmann::json::array({id})) << stored.output;
  }
}

TEST_F(CliTest, ServersAndStats) {
  auto list = Run({"servers", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("UPLOADS"), std::string::npos) << list.output;
  // The command line wins over a malformed IMGSTORE_TRACKER, which is
  // named when it is what is used.
  auto over =
      RunImgstore({"servers", "list", "--tracker", cluster_->tracker_url()},
                  "127.0.0.1:1", kAdminToken);
  EXPECT_EQ(over.exit_code, 0) << over.output;
  auto env = RunImgstore({"stats"}, "127.0.0.1:1", kAdminToken);
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_NE(env.output.find("IMGSTORE_TRACKER"), std::string::npos)
      << env.output;
  EXPECT_NE(list.output.find(cluster_->NodeUrl(0)), std::string::npos)
      << list.output;
  const std::string id =
      std::to_string(cluster_->Servers()["servers"][0]["server_id"].get<int>());
  EXPECT_EQ(Run({"servers", "drain", id}).exit_code, 0);
  EXPECT_EQ(cluster_->Servers()["servers"][0]["state"], "draining");
  EXPECT_EQ(Run({"servers", "enable", id}).exit_code, 0);
  EXPECT_EQ(cluster_->Servers()["servers"][0]["state"], "active");
  EXPECT_NE(Run({"servers", "drain"}).exit_code, 0) << "missing id";
  auto stats = Run({"stats"});
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  auto unauthorised =
      RunImgstore({"servers", "list"}, cluster_->tracker_url(), "wrong");
  EXPECT_NE(unauthorised.exit_code, 0);
  // A node added by another spelling of its URL would never turn usable.
  std::string alias = cluster_->NodeUrl(0);
  alias.replace(alias.find("127.0.0.1"), 9, "localhost");
  auto misspelt = Run({"servers", "add", alias});
  EXPECT_NE(misspelt.exit_code, 0);
  EXPECT_NE(misspelt.output.find("calls itself " + cluster_->NodeUrl(0)),
            std::string::npos)
      << misspelt.output;
  // Pointed at a node instead of the tracker: said so.
  auto at_node = RunImgstore({"stats"}, cluster_->NodeUrl(0), kAdminToken);
  EXPECT_NE(at_node.exit_code, 0);
  EXPECT_NE(at_node.output.find("an imgstore tracker?"), std::string::npos)
      << at_node.output;
  // Pointed where nothing listens: said what to check.
  auto nothing = RunImgstore({"stats"}, "http://127.0.0.1:1", kAdminToken);
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.output.find("is a tracker running there?"),
            std::string::npos)
      << nothing.output;
}

TEST_F(CliTest, FlagsHelpVersionAndConfig) {
  EXPECT_EQ(RunImgstore({"--version"}).exit_code, 0);
  auto help = RunImgstore({"node", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--max-pics"), std::string::npos);
  auto bad = RunImgstore({"node", "--listen", "nope", "--root", "/tmp/x",
                          "--tracker", "http://x", "--secret", "s"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(Lines(bad.output).size(), 1u) << bad.output;
  EXPECT_NE(RunImgstore({"frobnicate"}).exit_code, 0);
  // A secret the environment could give is named with its variable.
  auto no_secret = RunImgstore(
      {"node", "--root", "/tmp/x", "--tracker", "http://127.0.0.1:1"});
  EXPECT_EQ(no_secret.exit_code, 2);
  EXPECT_NE(no_secret.output.find("--secret is required ("), std::string::npos)
      << no_secret.output;
  EXPECT_NE(no_secret.output.find("IMGSTORE_SECRET"), std::string::npos)
      << no_secret.output;
  auto bare = RunImgstore({});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.output.find("no command given: one of node, tracker"),
            std::string::npos)
      << bare.output;
  auto no_config = RunImgstore({"stats", "--config", "/nonexistent.toml"});
  EXPECT_EQ(no_config.exit_code, 2) << "a usage error, as a bad flag";
  TempDir config_dir;
  auto dir_config = RunImgstore({"stats", "--config", config_dir.str()});
  EXPECT_EQ(dir_config.exit_code, 2) << dir_config.output;
  EXPECT_NE(dir_config.output.find("is a directory"), std::string::npos)
      << dir_config.output;
  EXPECT_NE(no_config.output.find("No such file"), std::string::npos)
      << no_config.output;
  // A node's list of trackers, copied into a client's config.
  std::ofstream(config_dir.str() + "/client.toml")
      << "tracker = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2\"]\n";
  auto listed =
      RunImgstore({"stats", "--config", config_dir.str() + "/client.toml"});
  EXPECT_EQ(listed.exit_code, 2) << listed.output;
  EXPECT_NE(listed.output.find("a client talks to one tracker"),
            std::string::npos)
      << listed.output;
  // Every subcommand answers --version, even one with required flags.
  for (const char* sub : {"node", "tracker", "upload", "get", "stats"}) {
    auto version = RunImgstore({sub, "--version"});
    EXPECT_EQ(version.exit_code, 0) << sub << ": " << version.output;
    EXPECT_NE(version.output.find("imgstore "), std::string::npos) << sub;
  }
  // An unknown flag is the error named, not a required flag missing.
  auto unknown = RunImgstore({"tracker", "--bogus"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("--bogus"), std::string::npos)
      << unknown.output;
  // An https public URL on a wildcard listen address: trackers could not
  // reach the node, so it says which flag is missing.
  TempDir root;
  auto https =
      RunImgstore({"node", "--listen", "0.0.0.0:0", "--root", root.str(),
                   "--tracker", "http://127.0.0.1:1", "--secret", "s",
                   "--public-url", "https://img.example.test"});
  EXPECT_NE(https.exit_code, 0);
  EXPECT_NE(https.output.find("--internal-url"), std::string::npos)
      << https.output;
  // A relative --root is reported absolute (trackers and the dashboard
  // show it far from where the node was started).
  {
    TempDir cwd;
    const uint16_t port = FreePort();
    ChildProcess node({"/bin/sh", "-c",
                       "cd '" + cwd.str() + "' && exec " + IMGSTORE_BINARY +
                           " node --listen 127.0.0.1:" + std::to_string(port) +
                           " --root ./images/ --tracker http://127.0.0.1:1"
                           " --secret s"},
                      cwd.str() + "/node.log");
    const std::string status =
        "http://127.0.0.1:" + std::to_string(port) + "/status";
    ASSERT_TRUE(WaitForStatus(status, 200)) << node.Log();
    EXPECT_EQ(nlohmann::json::parse(Get(status).body)["root"],
              cwd.str() + "/images");
  }
  // Durations and counts are numbers: "nan" parses as a double and would
  // leave every server unusable or heartbeats without a pause.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"tracker", "--secret", "s", "--heartbeat-timeout", "nan"},
           {"tracker", "--secret", "s", "--repair-grace", "inf"},
           {"tracker", "--secret", "s", "--max-pixels", "nan"},
           {"tracker", "--secret", "s", "--admin-token", ""},
           {"tracker", "--listen", "127.0.0.1:1", "--secret", ""},
           {"node", "--root", "/tmp/x", "--tracker", "http://127.0.0.1:1",
            "--secret", ""},
           {"node", "--root", "/tmp/x", "--tracker", "http://127.0.0.1:1",
            "--secret", "s", "--heartbeat", "nan"},
           {"node", "--root", "/tmp/x", "--tracker", "http://127.0.0.1:1",
            "--secret", "s", "--name", "two\nlines"}}) {
    auto refused = RunImgstore(args);
    EXPECT_EQ(refused.exit_code, 2) << args[3] << ": " << refused.output;
    EXPECT_EQ(Lines(refused.output).size(), 1u) << refused.output;
  }
  // A key the command does not take names the file it came from.
  TempDir conf;
  std::ofstream(conf.str() + "/c.toml") << "nosuchkey = 3\n";
  auto bad_key = RunImgstore({"stats", "--config", conf.str() + "/c.toml"});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_NE(bad_key.output.find("config " + conf.str() +
                                "/c.toml: unknown key nosuchkey"),
            std::string::npos)
      << bad_key.output;
  std::ofstream(conf.str() + "/s.toml") << "[node]\nroot = \"/x\"\n";
  auto section = RunImgstore({"stats", "--config", conf.str() + "/s.toml"});
  EXPECT_EQ(section.exit_code, 2);
  EXPECT_NE(section.output.find("[node]: sections are not read"),
            std::string::npos)
      << section.output;
  auto bad_public =
      RunImgstore({"tracker", "--secret", "s", "--public-url", "notaurl"});
  EXPECT_EQ(bad_public.exit_code, 2) << bad_public.output;
  EXPECT_NE(bad_public.output.find("--public-url"), std::string::npos)
      << bad_public.output;
  // A tracker URL this program cannot speak to is a flag error at once.
  auto not_url = RunImgstore(
      {"node", "--root", "/tmp/x", "--tracker", "notaurl", "--secret", "s"});
  EXPECT_NE(not_url.exit_code, 0);
  EXPECT_NE(not_url.output.find("--tracker"), std::string::npos)
      << not_url.output;
  TempDir dir;
  // A value of the wrong type is refused, not read as another: `true` is
  // not one copy, "two" is not out of range.
  {
    std::ofstream(dir.path() / "typed.toml")
        << "listen = \"127.0.0.1:1\"\ndb = \"sqlite:" << dir.str()
        << "/t.db\"\nsecret = \"s\"\nreplicas = true\n";
  }
  auto typed = RunImgstore({"tracker", "--config", dir.str() + "/typed.toml"});
  EXPECT_EQ(typed.exit_code, 2) << typed.output;
  EXPECT_NE(typed.output.find("config " + dir.str() +
                              "/typed.toml: --replicas: expected a whole "
                              "number, got 'true'"),
            std::string::npos)
      << "named by its file: " << typed.output;
  auto word = RunImgstore({"tracker", "--listen", "127.0.0.1:1", "--db",
                           "sqlite:" + dir.str() + "/t.db", "--secret", "s",
                           "--replicas", "two"});
  EXPECT_NE(word.output.find("expected a whole number, got 'two'"),
            std::string::npos)
      << word.output;

  // A TOML config supplies flags; the command line still wins.
  {
    std::ofstream(dir.path() / "c.toml")
        << "tracker = \"http://127.0.0.1:1\"\n";
  }
  auto from_config = RunImgstore({"stats", "--config", dir.str() + "/c.toml"});
  EXPECT_NE(from_config.exit_code, 0) << "the config's dead tracker was used";
  auto overridden = RunImgstore({"stats", "--config", dir.str() + "/c.toml",
                                 "--tracker", cluster_->tracker_url()},
                                "", kAdminToken);
  EXPECT_EQ(overridden.exit_code, 0) << overridden.output;
  // --config before the subcommand, keys in snake case.
  {
    std::ofstream(dir.path() / "snake.toml")
        << "tracker = \"" << cluster_->tracker_url() << "\"\n"
        << "admin_token = \"" << kAdminToken << "\"\n";
  }
  auto snake = RunImgstore({"--config", dir.str() + "/snake.toml", "stats"});
  EXPECT_EQ(snake.exit_code, 0) << snake.output;
  // A flag beats the environment, for every client command: each command's
  // options are its own, not filled from the environment by another's.
  for (const char* sub : {"stats", "servers", "fsck"}) {
    auto flag = RunImgstore({sub, "--tracker", cluster_->tracker_url(),
                             "--admin-token", kAdminToken},
                            "http://127.0.0.1:1", "wrong-token");
    EXPECT_EQ(flag.exit_code, 0) << sub << ": " << flag.output;
  }
  // So does the config file.
  auto file_over_env =
      RunImgstore({"stats", "--config", dir.str() + "/snake.toml"},
                  "http://127.0.0.1:1", "wrong-token");
  EXPECT_EQ(file_over_env.exit_code, 0) << file_over_env.output;
}

// The pid of `parent`'s child whose command line has `listen`: a process
// this test started, through the demo, found by its parent.
pid_t ChildListeningOn(pid_t parent, const std::string& listen) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ppid ...: comm may hold spaces, so after the ')'.
    std::istringstream fields(line.substr(line.rfind(')') + 1));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid != parent) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)),
                     std::istreambuf_iterator<char>());
    if (args.find(listen + '\0') != std::string::npos)
      return pid_t(std::stol(name));
  }
  return -1;
}

TEST(DemoTest, StartsServesAndStopsEverything) {
  TempDir dir;
  const uint16_t port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess demo({IMGSTORE_BINARY, "demo", "--port", std::to_string(port),
                     "--dir", dir.str() + "/d"},
                    dir.str() + "/demo.log");
  ASSERT_TRUE(WaitForStatus(url + "/healthz", 200, std::chrono::seconds(20)))
      << demo.Log();
  ASSERT_TRUE(Eventually(
      [&] { return demo.Log().find("/admin#token=") != std::string::npos; },
      std::chrono::seconds(20)))
      << demo.Log();
  auto up = Send("POST", url + "/v1/images", TestData("small.jpg"),
                 {{"Content-Type", "image/jpeg"}});
  ASSERT_EQ(up.status, 201u) << up.body;
  auto j = nlohmann::json::parse(up.body);
  EXPECT_EQ(Get(j["url"].get<std::string>()).body, TestData("small.jpg"));
  EXPECT_EQ(Get(url + "/").status, 200u);

  // A node that dies leaves the rest running (the demo is where one shows
  // a node going down), and the demo says how to bring it back.
  const std::string image_url = j["url"].get<std::string>();
  int victim = 1;  // a node the image's URL is not on
  while (image_url.find(":" + std::to_string(port + victim) + "/") !=
         std::string::npos)
    ++victim;
  const std::string node_listen = "127.0.0.1:" + std::to_string(port + victim);
  const pid_t node = ChildListeningOn(demo.pid(), node_listen);
  ASSERT_GT(node, 0) << "no child of the demo listens on " << node_listen;
  ASSERT_EQ(::kill(node, SIGKILL), 0);
  ASSERT_TRUE(Eventually(
      [&] { return demo.Log().find("To bring it back") != std::string::npos; },
      std::chrono::seconds(10)))
      << demo.Log();
  EXPECT_TRUE(demo.running()) << demo.Log();
  EXPECT_EQ(Get(url + "/healthz").status, 200u);
  EXPECT_EQ(Get(image_url).body, TestData("small.jpg"));

  int status = demo.Signal(SIGTERM, std::chrono::seconds(15));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << status << demo.Log();
  http::ClientRequest probe;
  probe.url = url + "/healthz";
  probe.timeout = std::chrono::milliseconds(500);
  EXPECT_FALSE(http::Fetch(probe).has_value()) << "tracker stopped";
  probe.url = j["url"].get<std::string>();
  EXPECT_FALSE(http::Fetch(probe).has_value()) << "node stopped";
}

}  // namespace
}  // namespace imgstore::testing
