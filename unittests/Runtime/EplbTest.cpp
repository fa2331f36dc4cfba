//===- EplbTest.cpp - dynamic EPLB's policy and commit point --------------===//
//
// The greedy rebalance policy of moe/Runtime/Eplb.h on loads whose
// placements are worked out by hand (docs/Eplb.md, "Policy"), the load
// counting of npu.record_expert_load, the weight moves, and the commit point
// on a thread world: tables and weights as the hand-made plan says.
//
//===----------------------------------------------------------------------===//

#include "RankThreads.h"

#include "moe/Runtime/Eplb.h"

#include <gtest/gtest.h>

using namespace moert;

namespace {

using Rows = std::vector<int64_t>;

Tensor i32(std::vector<int32_t> v) {
  Tensor t = Tensor::empty(DType::I32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

std::vector<int32_t> values(const Tensor &t) {
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// 4 experts, 2 ranks of 3 slots (R = 2); both ranks send [8, 2, 1, 1].
// Replicas: expert 0 twice (16 > 4), then expert 1 (0 is at 2 = ranks).
// Placed hottest first: e0 -> r0, e0' -> r1, e1 -> r0 (tie), e1' -> r1,
// e2 -> r0 (tie), e3 -> r1 (r0 full). Pairs: (0,e0,8) -> own p0,
// (1,e0,8) -> p3 (r1 serves less), (0,e1,2) -> own p1, (1,e1,2) -> p4,
// then e2 -> p2 and e3 -> p5 for both: 12 rows per rank.
TEST(EplbPolicy, PerRankTablesSplitTheHotExpert) {
  EplbPlacement p = planPlacement({{8, 2, 1, 1}, {8, 2, 1, 1}}, 2, 3, false);
  EXPECT_EQ(p.phys2log, (Rows{0, 1, 2, 0, 1, 3}));
  EXPECT_EQ(p.log2phy[0], (std::vector<int32_t>{0, 1, 2, 5}));
  EXPECT_EQ(p.log2phy[1], (std::vector<int32_t>{3, 4, 2, 5}));
  EXPECT_EQ(p.expertMap(0), (std::vector<int32_t>{0, 1, 2, -1, -1, -1}));
  EXPECT_EQ(p.expertMap(1), (std::vector<int32_t>{-1, -1, -1, 0, 1, 2}));
  std::vector<double> load = predictRankLoad(p, {{8, 2, 1, 1}, {8, 2, 1, 1}});
  EXPECT_EQ(load, (std::vector<double>{12, 12}));
  EXPECT_DOUBLE_EQ(imbalance(load), 1.0);
}

// One table (allgather): an expert's first replica carries all its load.
// Order: e0 (16) -> r0, e1 (4) -> r1, e2 -> r1, e3 -> r1 (r1 full), then
// the idle replicas: e0' only fits r0 (second pass), e1' -> r0. Slots by
// expert: r0 = e0, e0', e1'; r1 = e1, e2, e3.
TEST(EplbPolicy, OneTableBalancesWholeExperts) {
  EplbPlacement p = planPlacement({{16, 4, 2, 2}}, 2, 3, true);
  EXPECT_EQ(p.phys2log, (Rows{0, 0, 1, 1, 2, 3}));
  EXPECT_EQ(p.log2phy[0], (std::vector<int32_t>{0, 3, 4, 5}));
  EXPECT_EQ(p.log2phy[1], p.log2phy[0]);
  EXPECT_EQ(predictRankLoad(p, {{16, 4, 2, 2}}), (std::vector<double>{16, 8}));
}

TEST(EplbPolicy, DeterministicAndIdleWorld) {
  std::vector<std::vector<int64_t>> load = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  EplbPlacement a = planPlacement(load, 2, 4, false);
  EplbPlacement b = planPlacement(load, 2, 4, false);
  EXPECT_EQ(a.phys2log, b.phys2log);
  EXPECT_EQ(a.log2phy, b.log2phy);
  // Every expert placed, each rank full.
  for (int64_t e = 0; e < 4; ++e)
    EXPECT_GE(std::count(a.phys2log.begin(), a.phys2log.end(), e), 1);
  EXPECT_DOUBLE_EQ(imbalance(predictRankLoad(a, load)), 1.0);
}

TEST(EplbPolicy, RejectsImpossiblePlacements) {
  EXPECT_THROW(planPlacement({{1, 1, 1, 1}, {1, 1, 1, 1}}, 2, 1, false), Error);
  EXPECT_THROW(planPlacement({{1, 1}}, 2, 2, false), Error); // 1 source, 2 ranks
  EXPECT_THROW(planPlacement({{1, -1}}, 1, 2, true), Error);
}

// Slots 3, 4, 5 change: e0 and e1 have no replica on rank 1, e3 has one.
TEST(EplbPolicy, MovesPreferTheReceivingRank) {
  EplbPlacement next = planPlacement({{8, 2, 1, 1}, {8, 2, 1, 1}}, 2, 3, false);
  std::vector<EplbMove> moves = planMoves({0, 1, 2, 3, -1, -1}, next);
  ASSERT_EQ(moves.size(), 3u);
  auto same = [](const EplbMove &m, EplbMove want) {
    return m.toRank == want.toRank && m.toSlot == want.toSlot &&
           m.logical == want.logical && m.fromRank == want.fromRank &&
           m.fromSlot == want.fromSlot;
  };
  EXPECT_TRUE(same(moves[0], {1, 0, 0, 0, 0}));
  EXPECT_TRUE(same(moves[1], {1, 1, 1, 0, 1}));
  EXPECT_TRUE(same(moves[2], {1, 2, 3, 1, 0}));
  // An expert nobody holds cannot be placed.
  EXPECT_THROW(planMoves({0, 1, 2, 2, -1, -1}, next), Error);
}

TEST(EplbLoad, CountsRealRowsInRange) {
  Tensor ids = Tensor::empty(DType::I32, {3, 2});
  int32_t v[] = {0, 5, 3, 3, 1, 2};
  std::copy(v, v + 6, ids.data<int32_t>());
  Tensor valid = Tensor::zeros(DType::I1, {3});
  valid.data<uint8_t>()[0] = valid.data<uint8_t>()[2] = 1;
  EXPECT_EQ(countExpertLoad(ids, &valid, 6, 0, 6), (Rows{1, 1, 1, 0, 0, 1}));
  EXPECT_EQ(countExpertLoad(ids, nullptr, 6, 0, 6), (Rows{1, 1, 1, 2, 0, 1}));
  EXPECT_EQ(countExpertLoad(ids, &valid, 6, 2, 2), (Rows{0, 0, 1, 0, 0, 0}));
  EXPECT_THROW(countExpertLoad(ids, nullptr, 5, 0, 5), Error); // id 5
}

// Two ranks, placement r0 = e0 e1 e2, r1 = e3 e0 e1; each rank's tokens
// ask for [8, 2, 1, 1]. The commit must produce the plan of
// PerRankTablesSplitTheHotExpert and move the weights (row e = 10e, 10e+1).
TEST(EplbCommit, SwapsTablesAndWeightsOnEveryRank) {
  Layout layout;
  layout.dp = 2;
  layout.expertParallel = true;
  auto world = createThreadWorld(layout, 30);
  std::vector<std::vector<int64_t>> oldSlots = {{0, 1, 2}, {3, 0, 1}};
  std::vector<std::vector<Tensor>> inputs(2);
  for (int r = 0; r < 2; ++r) {
    Tensor w = Tensor::empty(DType::F32, {3, 2});
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 2; ++c)
        w.data<float>()[j * 2 + c] = float(oldSlots[r][j] * 10 + c);
    inputs[r] = {r == 0 ? i32({0, 1, 2, 3}) : i32({4, 5, 2, 3}),
                 i32({r == 0 ? 0 : -1, r == 0 ? 1 : -1, r == 0 ? 2 : -1,
                      r == 0 ? -1 : 0, r == 0 ? -1 : 1, r == 0 ? -1 : 2}),
                 w};
  }
  world->addExpertLoad(0, {8, 2, 1, 1, 0, 0}, false);
  world->addExpertLoad(1, {0, 0, 1, 1, 8, 2}, false);
  EplbBinding binding;
  binding.log2phy = 0;
  binding.expertMap = 1;
  binding.weights = {2};
  std::vector<EplbReport> reports = eplbCommitRanks(*world, inputs, binding);
  ASSERT_EQ(reports.size(), 2u);
  for (const EplbReport &r : reports) {
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.logicalLoad, (Rows{16, 4, 2, 2}));
    EXPECT_EQ(r.rankLoad, (std::vector<double>{12, 12}));
    EXPECT_EQ(r.moves, 3);
  }
  EXPECT_EQ(values(inputs[0][0]), (std::vector<int32_t>{0, 1, 2, 5}));
  EXPECT_EQ(values(inputs[1][0]), (std::vector<int32_t>{3, 4, 2, 5}));
  EXPECT_EQ(values(inputs[1][1]), (std::vector<int32_t>{-1, -1, -1, 0, 1, 2}));
  std::vector<std::vector<int64_t>> newSlots = {{0, 1, 2}, {0, 1, 3}};
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 2; ++c)
        EXPECT_EQ(inputs[r][2].data<float>()[j * 2 + c],
                  float(newSlots[r][j] * 10 + c))
            << "rank " << r << " slot " << j;
  // The buffers were taken: a second commit without a step has no load.
  std::vector<EplbReport> again = eplbCommitRanks(*world, inputs, binding);
  EXPECT_NE(again[0].error.find("no rank recorded expert load"),
            std::string::npos);
}

// Tables that send two experts to one replica fail every rank, and leave
// the inputs untouched.
TEST(EplbCommit, RejectsConflictingTables) {
  Layout layout;
  layout.dp = 2;
  layout.expertParallel = true;
  auto world = createThreadWorld(layout, 30);
  std::vector<std::vector<Tensor>> inputs(2);
  for (int r = 0; r < 2; ++r)
    inputs[r] = {i32({0, 0}), i32({0, -1}), Tensor::zeros(DType::F32, {1, 2})};
  world->addExpertLoad(0, {1, 0}, false);
  world->addExpertLoad(1, {1, 0}, false);
  EplbBinding binding{0, 1, {2}};
  std::vector<EplbReport> reports = eplbCommitRanks(*world, inputs, binding);
  EXPECT_NE(reports[0].error.find("map experts 0 and 1 to one physical"),
            std::string::npos)
      << reports[0].error;
  EXPECT_EQ(values(inputs[0][0]), (std::vector<int32_t>{0, 0}));
}

TEST(EplbBinding, ByName) {
  std::string why;
  EplbBinding b = bindEplbInputs(
      {"x", "logits", "log2phy", "expert_map", "w13", "w2", "shared_w13"}, why);
  EXPECT_EQ(why, "");
  EXPECT_EQ(b.log2phy, 2);
  EXPECT_EQ(b.expertMap, 3);
  EXPECT_EQ(b.weights, (std::vector<int>{4, 5}));
  bindEplbInputs({"x", "w13"}, why);
  EXPECT_NE(why.find("'log2phy' and 'expert_map'"), std::string::npos);
}

} // namespace
