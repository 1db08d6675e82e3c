#include "client/commands.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "testing/testing.h"

namespace imgstore {
namespace {

using Kind = ServersAction::Kind;

TEST(ServersActionTest, Good) {
  auto list = ParseServersAction("list", "");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->kind, Kind::kList);

  auto add = ParseServersAction("add", "http://10.0.0.5:9001");
  ASSERT_TRUE(add);
  EXPECT_EQ(add->kind, Kind::kAdd);
  EXPECT_EQ(add->url, "http://10.0.0.5:9001");

  const std::pair<const char*, ServerState> states[] = {
      {"drain", ServerState::kDraining},
      {"disable", ServerState::kDisabled},
      {"enable", ServerState::kActive}};
  for (const auto& [verb, state] : states) {
    auto a = ParseServersAction(verb, "42");
    ASSERT_TRUE(a) << verb;
    EXPECT_EQ(a->kind, Kind::kSetState);
    EXPECT_EQ(a->state, state);
    EXPECT_EQ(a->server_id, 42);
  }

  auto remove = ParseServersAction("remove", "7");
  ASSERT_TRUE(remove);
  EXPECT_EQ(remove->kind, Kind::kRemove);
  EXPECT_EQ(remove->server_id, 7);
}

TEST(ServersActionTest, MustRefuse) {
  const std::pair<const char*, const char*> bad[] = {
      {"list", "extra"}, {"add", ""},      {"drain", ""},
      {"disable", "x"},  {"enable", "-1"}, {"remove", "0"},
      {"remove", "3a"},  {"remove", " 3"}, {"drain", "99999999999999999999"},
      {"explode", "1"},
  };
  for (const auto& [verb, arg] : bad) {
    auto a = ParseServersAction(verb, arg);
    EXPECT_FALSE(a) << verb << " " << arg;
    if (!a) {
      EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(ParseServersAction("drain", "").error().message,
            "servers drain: missing server ID");
  EXPECT_EQ(ParseServersAction("add", "").error().message,
            "servers add: missing URL");
}

TEST(ListImportFilesTest, SkipsHiddenAndDirectoryLinks) {
  testing::TempDir tmp;
  namespace fs = std::filesystem;
  const fs::path root = tmp.path();
  fs::create_directories(root / "a" / "b");
  fs::create_directories(root / ".hidden");
  auto touch = [](const fs::path& p) { std::ofstream(p) << "x"; };
  touch(root / "z.png");
  touch(root / "a" / "one.jpg");
  touch(root / "a" / "b" / "two.txt");
  touch(root / ".dot.png");
  touch(root / ".hidden" / "in.png");
  fs::create_directory_symlink("..", root / "a" / "loop");
  fs::create_symlink(root / "z.png", root / "a" / "link.png");

  fs::create_symlink(root / "gone.png", root / "a" / "broken.png");
  ASSERT_EQ(::mkfifo((root / "a" / "fifo.jpg").c_str(), 0600), 0);

  auto listing = ListImportFiles(root.string());
  EXPECT_TRUE(listing.errors.empty());
  std::vector<std::string> want = {(root / "a" / "b" / "two.txt").string(),
                                   (root / "a" / "link.png").string(),
                                   (root / "a" / "one.jpg").string(),
                                   (root / "z.png").string()};
  EXPECT_EQ(listing.files, want);
  // What is left out is said, with why.
  std::vector<std::pair<std::string, std::string>> skipped = {
      {(root / ".dot.png").string(), "hidden file"},
      {(root / ".hidden").string(), "hidden directory"},
      {(root / "a" / "broken.png").string(), "broken link"},
      {(root / "a" / "fifo.jpg").string(), "not a regular file"},
      {(root / "a" / "loop").string(), "link to a directory, not followed"},
  };
  EXPECT_EQ(listing.skipped, skipped);
}

TEST(ListImportFilesTest, ReportsAMissingDirectory) {
  auto listing = ListImportFiles("/nonexistent/imgstore-test");
  EXPECT_TRUE(listing.files.empty());
  ASSERT_EQ(listing.errors.size(), 1u);
  EXPECT_EQ(listing.errors[0].first, "/nonexistent/imgstore-test");
  EXPECT_FALSE(listing.errors[0].second.empty());
}

}  // namespace
}  // namespace imgstore
