#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/server.h"

namespace imgstore {

enum class PlacementPolicy { kWeighted, kRandom };

// Servers that may take a new image: usable, active, below max_pic_amount,
// and with more than `disk_reserve_bytes` free.
std::vector<const ServerRow*> Candidates(const ServerView& servers,
                                         int64_t disk_reserve_bytes);

// The founding design's choice: uniform, C[R % N]. Empty input -> nullptr.
const ServerRow* PickRandom(const std::vector<const ServerRow*>& candidates,
                            uint64_t r);

// Each candidate's probability of taking the next image under `weighted`:
// proportional to remaining capacity (max - cur), then capped at twice the
// uniform share (2/N) with the excess spread over the others, so a freshly
// added empty server does not take every new (and most-read) image.
std::vector<double> WeightedShares(
    const std::vector<const ServerRow*>& candidates);

// Picks up to `count` distinct servers by `policy`. Pure apart from `rng`.
std::vector<const ServerRow*> PickServers(
    std::vector<const ServerRow*> candidates, PlacementPolicy policy,
    size_t count, std::mt19937_64& rng);

}  // namespace imgstore
