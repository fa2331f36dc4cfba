//===- Layout.cpp - groups of the parallel layout -------------------------===//
//
// Global rank r = (dp_rank * pcp + pcp_rank) * tp + tp_rank (SEMANTICS §1
// with prefill context parallelism; pcp = 1 gives dp_rank * tp + tp_rank). The tp group of r
// holds the ranks with r's dp_rank and pcp_rank, the dp group those with
// r's pcp_rank and tp_rank, the pcp group those with r's dp_rank and
// tp_rank, the ep group every rank when expert parallelism is on
// (ep = tp * dp * pcp) and r alone otherwise, the world group every rank.
// Members are listed in group-rank order, which is ascending global rank for
// every group.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Comm.h"

#include <string>

namespace moert {

Comm::~Comm() = default;
World::~World() = default;

World::LoadedValues &World::loaded(int rank, uint64_t id) {
  std::lock_guard<std::mutex> lock(loadedMutex);
  return loadedValues[{rank, id}];
}

const char *groupName(Group group) {
  switch (group) {
  case Group::World:
    return "world";
  case Group::TP:
    return "tp";
  case Group::DP:
    return "dp";
  case Group::EP:
    return "ep";
  case Group::PCP:
    return "pcp";
  }
  return "?";
}

std::vector<int> Layout::members(Group group, int rank) const {
  MOE_CHECK(
      tp >= 1 && dp >= 1 && pcp >= 1,
      "layout: tp, dp and pcp must be positive, got tp=" + std::to_string(tp) +
          " dp=" + std::to_string(dp) + " pcp=" + std::to_string(pcp));
  const int64_t world = worldSize();
  MOE_CHECK(rank >= 0 && rank < world, "layout: rank " + std::to_string(rank) +
                                           " is outside the world of " +
                                           std::to_string(world) + " ranks");
  const int64_t tpRank = rank % tp, pcpRank = (rank / tp) % pcp,
                dpRank = rank / (tp * pcp);
  auto at = [&](int64_t d, int64_t p, int64_t t) {
    return static_cast<int>((d * pcp + p) * tp + t);
  };
  std::vector<int> out;
  switch (group) {
  case Group::World:
    for (int64_t r = 0; r < world; ++r)
      out.push_back(static_cast<int>(r));
    return out;
  case Group::TP:
    for (int64_t i = 0; i < tp; ++i)
      out.push_back(at(dpRank, pcpRank, i));
    return out;
  case Group::DP:
    for (int64_t j = 0; j < dp; ++j)
      out.push_back(at(j, pcpRank, tpRank));
    return out;
  case Group::PCP:
    for (int64_t j = 0; j < pcp; ++j)
      out.push_back(at(dpRank, j, tpRank));
    return out;
  case Group::EP:
    if (!useEp())
      return {rank};
    for (int64_t r = 0; r < world; ++r)
      out.push_back(static_cast<int>(r));
    return out;
  }
  throw Error("layout: unknown group " +
              std::to_string(static_cast<int32_t>(group)));
}

} // namespace moert
