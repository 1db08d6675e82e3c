#include "core/placement.h"

#include <algorithm>

namespace imgstore {

std::vector<const ServerRow*> Candidates(const ServerView& servers,
                                         int64_t disk_reserve_bytes) {
  std::vector<const ServerRow*> out;
  for (const ServerRow& s : servers) {
    if (s.flg_usable && s.state == ServerState::kActive &&
        s.cur_pic_amount < s.max_pic_amount && !s.node_full &&
        !StoreFailedSinceBeat(s) && s.disk_free_bytes > disk_reserve_bytes) {
      out.push_back(&s);
    }
  }
  return out;
}

const ServerRow* PickRandom(const std::vector<const ServerRow*>& candidates,
                            uint64_t r) {
  if (candidates.empty()) return nullptr;
  return candidates[r % candidates.size()];
}

std::vector<double> WeightedShares(
    const std::vector<const ServerRow*>& candidates) {
  const size_t n = candidates.size();
  std::vector<double> share(n, 0.0);
  if (n == 0) return share;
  std::vector<double> weight(n);
  for (size_t i = 0; i < n; ++i) {
    weight[i] = double(std::max<int64_t>(
        1, candidates[i]->max_pic_amount - candidates[i]->cur_pic_amount));
  }
  // Water-filling: fix every server whose share would pass the cap at the
  // cap, and share what is left among the rest in proportion to weight.
  // Terminates in at most n rounds because each round fixes one more.
  const double cap = std::min(1.0, 2.0 / double(n));
  std::vector<bool> capped(n, false);
  double left = 1.0;
  for (size_t round = 0; round < n; ++round) {
    double free_weight = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!capped[i]) free_weight += weight[i];
    }
    bool changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (capped[i]) continue;
      share[i] = left * weight[i] / free_weight;
      if (share[i] > cap) {
        capped[i] = true;
        share[i] = cap;
        changed = true;
      }
    }
    if (!changed) break;
    left = 1.0;
    for (size_t i = 0; i < n; ++i) {
      if (capped[i]) left -= share[i];
    }
  }
  return share;
}

std::vector<const ServerRow*> PickServers(
    std::vector<const ServerRow*> candidates, PlacementPolicy policy,
    size_t count, std::mt19937_64& rng) {
  std::vector<const ServerRow*> picked;
  while (picked.size() < count && !candidates.empty()) {
    size_t index = 0;
    if (policy == PlacementPolicy::kRandom) {
      index = size_t(rng() % candidates.size());
    } else {
      std::vector<double> share = WeightedShares(candidates);
      std::discrete_distribution<size_t> dist(share.begin(), share.end());
      index = dist(rng);
    }
    picked.push_back(candidates[index]);
    candidates.erase(candidates.begin() + long(index));
  }
  return picked;
}

}  // namespace imgstore
