#include "core/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace imgstore {
namespace {

ServerRow Server(int64_t id, int64_t max, int64_t cur = 0) {
  ServerRow s;
  s.server_id = id;
  s.max_pic_amount = max;
  s.cur_pic_amount = cur;
  s.flg_usable = true;
  s.disk_free_bytes = int64_t(1) << 40;
  return s;
}

std::map<int64_t, int> Count(const ServerView& servers, PlacementPolicy policy,
                             int n) {
  std::mt19937_64 rng(42);
  std::map<int64_t, int> hits;
  for (int i = 0; i < n; ++i) {
    auto picked = PickServers(Candidates(servers, 0), policy, 1, rng);
    EXPECT_EQ(picked.size(), 1u);
    hits[picked[0]->server_id]++;
  }
  return hits;
}

TEST(PlacementTest, CandidatesFilter) {
  ServerView servers = {Server(1, 10), Server(2, 10, 10), Server(3, 10),
                        Server(4, 10), Server(5, 10),     Server(6, 10)};
  servers[2].flg_usable = false;
  servers[3].state = ServerState::kDraining;
  servers[4].disk_free_bytes = 100;
  servers[5].node_full = true;  // its own --max-pics, below max_pic_amount
  auto c = Candidates(servers, 1000);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]->server_id, 1);
}

TEST(PlacementTest, EqualServersWithinThreePercent) {
  ServerView servers;
  for (int i = 1; i <= 5; ++i) servers.push_back(Server(i, 1'000'000));
  for (auto policy : {PlacementPolicy::kRandom, PlacementPolicy::kWeighted}) {
    auto hits = Count(servers, policy, 100'000);
    for (auto [id, n] : hits) {
      EXPECT_NEAR(n, 20'000, 600) << "server " << id;
    }
  }
}

TEST(PlacementTest, WeightedFollowsRemainingCapacity) {
  // Remaining 1:2:3:4 -> shares 0.1 .. 0.4, all under the 2/N = 0.5 cap.
  ServerView servers = {Server(1, 1000), Server(2, 2000), Server(3, 3000),
                        Server(4, 4000)};
  auto hits = Count(servers, PlacementPolicy::kWeighted, 100'000);
  for (auto [id, n] : hits)
    EXPECT_NEAR(n, 10'000 * id, 1000) << "server " << id;
}

TEST(PlacementTest, NewEmptyServerCappedAtTwiceUniform) {
  // Three nearly full servers and a fresh empty one: by capacity alone the
  // new one would take ~97%; the cap holds it at 2/N = 50%.
  ServerView servers = {Server(1, 1000, 990), Server(2, 1000, 990),
                        Server(3, 1000, 990), Server(4, 1000, 0)};
  auto shares = WeightedShares(Candidates(servers, 0));
  EXPECT_NEAR(shares[3], 0.5, 1e-9);
  EXPECT_NEAR(std::accumulate(shares.begin(), shares.end(), 0.0), 1.0, 1e-9);
  auto hits = Count(servers, PlacementPolicy::kWeighted, 100'000);
  EXPECT_NEAR(hits[4], 50'000, 1500);
}

TEST(PlacementTest, ReplicasAreDistinct) {
  ServerView servers = {Server(1, 10), Server(2, 10), Server(3, 10)};
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    auto picked =
        PickServers(Candidates(servers, 0), PlacementPolicy::kWeighted, 2, rng);
    ASSERT_EQ(picked.size(), 2u);
    EXPECT_NE(picked[0]->server_id, picked[1]->server_id);
  }
  auto all =
      PickServers(Candidates(servers, 0), PlacementPolicy::kRandom, 5, rng);
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(PickServers({}, PlacementPolicy::kWeighted, 1, rng).empty());
}

TEST(PlacementTest, RandomIsFoundingDesignModulo) {
  ServerView servers = {Server(1, 10), Server(2, 10), Server(3, 10)};
  auto c = Candidates(servers, 0);
  EXPECT_EQ(PickRandom(c, 0)->server_id, 1);
  EXPECT_EQ(PickRandom(c, 4)->server_id, 2);
  EXPECT_EQ(PickRandom(c, 8)->server_id, 3);
  EXPECT_EQ(PickRandom({}, 8), nullptr);
}

}  // namespace
}  // namespace imgstore
