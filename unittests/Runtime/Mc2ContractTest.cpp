//===- Mc2ContractTest.cpp - MC2's full operator contract at run time -----===//
//
// The arguments of seed 002's get_dispatch_mc2_kwargs / get_combine_mc_kwargs
// beyond the rows and ids: ep_rank_id, global_bs, the A3 TP arguments
// (tp_recv_counts / tp_send_counts), hierarchical communication
// (expert_scales -> expand_scales -> combine), smooth-quant scales,
// shared-expert ranks (shared_expert_rank_num > 0) and the unsupported
// expert_shard_type. Expected values are
// computed here from the inputs, not by the runtime.
//
//===----------------------------------------------------------------------===//

#include "RankThreads.h"

#include "moe/Runtime/Mc2.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace moert;
using namespace moert::testing;

namespace {

const int64_t kTokens[] = {3, 0, 5, 2}; // per rank, one empty

std::unique_ptr<World> epWorld(int ranks) {
  Layout l;
  l.tp = ranks;
  l.expertParallel = true;
  return createThreadWorld(l, 30);
}

Mc2Contract contract(int ranks, int64_t experts, int rank) {
  Mc2Contract c;
  c.epWorldSize = ranks;
  c.epRankId = rank;
  c.moeExpertNum = experts;
  return c;
}

/// Rank r's ids [T, K]: pair (t, k) goes to expert (3t + 5k + r) % E.
Tensor idsOf(int r, int64_t t, int64_t k, int64_t experts) {
  Tensor ids = Tensor::empty(DType::I32, {t, k});
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = 0; j < k; ++j)
      ids.data<int32_t>()[i * k + j] =
          static_cast<int32_t>((3 * i + 5 * j + r) % experts);
  return ids;
}

float xOf(int r, int64_t i) { return static_cast<float>((r + 1) * 0.5 + i); }
float wOf(int r, int64_t i) { return 0.125f * static_cast<float>(1 + (i + r) % 5); }

/// Runs dispatch and combine with the A2 hierarchical or the A3 arguments
/// on every rank; `combineScales` are what combine gets as expert_scales.
struct ContractRun {
  int ranks = 4;
  int64_t experts = 8, h = 3, k = 2;
  bool hierarchical = false, a3 = false;
  int64_t sharedRanks = 0; // the shared expert multiplies rows by 3
  bool zeroCombineScales = false; // combine must then read expand_scales
  std::vector<DistributeDispatchResult> disp;
  std::vector<Tensor> out;
  std::vector<std::string> errors;

  void run() {
    auto world = epWorld(ranks);
    disp.assign(ranks, {});
    out.assign(ranks, {});
    errors = runRanks(*world, [&](int r) {
      const int64_t t = kTokens[r];
      Comm &ep = world->comm(r, Group::EP, 0);
      Tensor x = floatTensor(DType::F32, {t, h},
                             [&](int64_t i) { return xOf(r, i); });
      Tensor ids = idsOf(r, t, k, experts);
      Tensor w = floatTensor(DType::F32, {t, k},
                             [&](int64_t i) { return wOf(r, i); });
      Mc2Contract c = contract(ranks, experts, r);
      if (a3)
        c.tpWorldSize = 1;
      c.sharedExpertRankNum = sharedRanks;
      Mc2DispatchInputs in;
      if (hierarchical)
        in.expertScales = &w;
      disp[r] = distributeDispatch(ep, x, ids, in, c, 0, 0,
                                   GroupListType::Cumsum);
      Tensor combineW =
          zeroCombineScales ? Tensor::zeros(DType::F32, {t, k}) : w;
      if (r < sharedRanks) // the shared expert: y = 3x
        for (int64_t i = 0; i < disp[r].expandX.numel(); ++i)
          disp[r].expandX.data<float>()[i] *= 3.0f;
      Mc2CombineInputs cin;
      if (hierarchical)
        cin.expandScales = &disp[r].expandScales;
      if (a3)
        cin.tpSendCounts = &disp[r].tpRecvCounts;
      out[r] = distributeCombine(ep, disp[r].expandX, ids, disp[r].expandIdx,
                                 disp[r].epRecvCounts, combineW, cin, c);
    });
  }

  /// out[t] = sum_k w[t, k] * x[t] (the experts are the identity here).
  void expectWeightedSums() const {
    for (int r = 0; r < ranks; ++r) {
      const int64_t t = kTokens[r];
      ASSERT_EQ(out[r].shape, (std::vector<int64_t>{t, h}));
      for (int64_t i = 0; i < t; ++i)
        for (int64_t j = 0; j < h; ++j) {
          float acc = 0.0f;
          for (int64_t q = 0; q < k; ++q) {
            const float term = wOf(r, i * k + q) * xOf(r, i * h + j);
            acc += term;
          }
          if (sharedRanks)
            acc += 3.0f * xOf(r, i * h + j);
          EXPECT_EQ(out[r].data<float>()[i * h + j], acc)
              << "rank " << r << " token " << i;
        }
    }
  }
};

std::vector<std::string> onEveryRank(int ranks,
                                     const std::function<void(int, Comm &)> &fn) {
  auto world = epWorld(ranks);
  return runRanks(*world,
                  [&](int r) { fn(r, world->comm(r, Group::EP, 0)); });
}

void expectAllEq(const std::vector<std::string> &errors,
                 const std::string &message) {
  for (size_t r = 0; r < errors.size(); ++r)
    EXPECT_EQ(errors[r], message) << "rank " << r;
}

} // namespace

TEST(Mc2Contract, HierarchicalExpandScalesCarryTheWeights) {
  ContractRun run;
  run.hierarchical = true;
  run.run();
  ASSERT_TRUE(allEmpty(run.errors)) << run.errors[0];
  // Every received row carries the weight of its pair.
  for (int p = 0; p < run.ranks; ++p) {
    const auto &d = run.disp[p];
    ASSERT_EQ(d.expandScales.shape,
              (std::vector<int64_t>{d.expandX.rows()}));
    for (int64_t row = 0; row < d.expandX.rows(); ++row) {
      // The row's source rank is found from its x value (xOf is unique per
      // rank and token); its pair index is expand_idx.
      const int32_t pair = d.expandIdx.data<int32_t>()[row];
      const float x0 = d.expandX.data<float>()[row * run.h];
      int src = -1;
      for (int s = 0; s < run.ranks; ++s)
        if (x0 == xOf(s, (pair / run.k) * run.h))
          src = s;
      ASSERT_GE(src, 0);
      EXPECT_EQ(d.expandScales.data<float>()[row], wOf(src, pair));
    }
  }
  run.expectWeightedSums();
}

TEST(Mc2Contract, CombineWeightsRowsByExpandScales) {
  // Combine gets zeros as expert_scales: with expand_scales the weights the
  // rows carried through the exchange are the ones applied.
  ContractRun run;
  run.hierarchical = true;
  run.zeroCombineScales = true;
  run.run();
  ASSERT_TRUE(allEmpty(run.errors)) << run.errors[0];
  run.expectWeightedSums();
}

TEST(Mc2Contract, A3TpRecvCounts) {
  ContractRun run;
  run.a3 = true;
  run.run();
  ASSERT_TRUE(allEmpty(run.errors)) << run.errors[0];
  for (int p = 0; p < run.ranks; ++p) {
    ASSERT_EQ(run.disp[p].tpRecvCounts.shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(run.disp[p].tpRecvCounts.data<int32_t>()[0],
              run.disp[p].expandX.rows());
  }
  run.expectWeightedSums();
}

TEST(Mc2Contract, WrongTpSendCounts) {
  expectAllEq(onEveryRank(2, [](int r, Comm &ep) {
    Tensor x = Tensor::zeros(DType::F32, {2, 4});
    Tensor ids = Tensor::zeros(DType::I32, {2, 1});
    Mc2Contract c = contract(2, 2, r);
    c.tpWorldSize = 1;
    auto d = distributeDispatch(ep, x, ids, {}, c, 0, 0, GroupListType::Count);
    Tensor wrong = Tensor::zeros(DType::I32, {1});
    Mc2CombineInputs cin;
    cin.tpSendCounts = &wrong;
    distributeCombine(ep, d.expandX, ids, d.expandIdx, d.epRecvCounts,
                      Tensor::zeros(DType::F32, {2, 1}), cin, c);
  }),
              "npu.moe_distribute_combine: rank 0's tp_send_counts say 0 "
              "rows, expand_x has 4 (pass the dispatch's tp_recv_counts)");
}

TEST(Mc2Contract, EpRankIdMustBeTheRank) {
  expectAllEq(onEveryRank(3, [](int r, Comm &ep) {
    Mc2Contract c = contract(3, 3, r == 2 ? 0 : r);
    distributeDispatch(ep, Tensor::zeros(DType::F32, {1, 4}),
                       Tensor::zeros(DType::I32, {1, 1}), {}, c, 0, 0,
                       GroupListType::Count);
  }),
              "npu.moe_distribute_dispatch: rank 2 passes ep_rank_id 0, its "
              "index in the ep group is 2");
}

TEST(Mc2Contract, GlobalBs) {
  // global_bs = the most tokens of a rank (5) x ep_world_size (4) = 20
  // passes; 16 is too small for rank 2, and every rank says so.
  for (int64_t globalBs : {20, 24}) {
    auto errors = onEveryRank(4, [&](int r, Comm &ep) {
      const int64_t t = kTokens[r];
      Mc2Contract c = contract(4, 8, r);
      c.globalBs = globalBs;
      distributeDispatch(ep, Tensor::zeros(DType::F32, {t, 2}),
                         idsOf(r, t, 2, 8), {}, c, 0, 0,
                         GroupListType::Count);
    });
    EXPECT_TRUE(allEmpty(errors)) << errors[0];
  }
  expectAllEq(onEveryRank(4, [](int r, Comm &ep) {
    const int64_t t = kTokens[r];
    Mc2Contract c = contract(4, 8, r);
    c.globalBs = 16;
    distributeDispatch(ep, Tensor::zeros(DType::F32, {t, 2}),
                       idsOf(r, t, 2, 8), {}, c, 0, 0, GroupListType::Count);
  }),
              "npu.moe_distribute_dispatch: rank 2 passes 5 tokens; times "
              "ep_world_size 4 that exceeds global_bs 16 (the most tokens of "
              "a rank times ep_world_size)");
  expectAllEq(onEveryRank(2, [](int r, Comm &ep) {
    Mc2Contract c = contract(2, 2, r);
    c.globalBs = 3;
    distributeDispatch(ep, Tensor::zeros(DType::F32, {1, 2}),
                       Tensor::zeros(DType::I32, {1, 1}), {}, c, 0, 0,
                       GroupListType::Count);
  }),
              "npu.moe_distribute_dispatch: global_bs 3 is not 0 or a "
              "multiple of ep_world_size 2");
}

TEST(Mc2Contract, SharedExpertRanks) {
  // 4 ranks, 2 of them shared-expert ranks: the 8 routed experts live on
  // ranks 2 and 3 (4 each); rank r's tokens also go to rank r % 2, whose
  // expert (here y = 3x) adds its row with weight one.
  ContractRun run;
  run.a3 = true;
  run.sharedRanks = 2;
  run.run();
  ASSERT_TRUE(allEmpty(run.errors)) << run.errors[0];
  for (int p = 0; p < run.ranks; ++p) {
    const auto &d = run.disp[p];
    ASSERT_EQ(d.expertTokenNums.shape, (std::vector<int64_t>{4}));
    ASSERT_EQ(d.epRecvCounts.shape, (std::vector<int64_t>{16}));
    // Expected rows of (local expert e, source s), from the ids.
    for (int64_t e = 0; e < 4; ++e)
      for (int s = 0; s < run.ranks; ++s) {
        int64_t n = 0;
        if (p < 2)
          n = e == 0 && s % 2 == p ? kTokens[s] : 0;
        else
          for (int64_t i = 0; i < kTokens[s] * run.k; ++i)
            n += (3 * (i / run.k) + 5 * (i % run.k) + s) % 8 ==
                 (p - 2) * 4 + e;
        EXPECT_EQ(d.epRecvCounts.data<int32_t>()[e * run.ranks + s], n)
            << "rank " << p << " expert " << e << " source " << s;
      }
    // A shared-expert rank's rows: the tokens of its sources in order, each
    // with index T * K + t (T the source's tokens); cumsum counts hold them
    // all in local expert 0.
    if (p < 2) {
      int64_t row = 0;
      for (int s = p; s < run.ranks; s += 2)
        for (int64_t t = 0; t < kTokens[s]; ++t, ++row)
          EXPECT_EQ(d.expandIdx.data<int32_t>()[row], kTokens[s] * run.k + t);
      EXPECT_EQ(d.expandX.rows(), row);
      for (int64_t e = 0; e < 4; ++e)
        EXPECT_EQ(d.expertTokenNums.data<int64_t>()[e], row);
    }
  }
  run.expectWeightedSums();
}

TEST(Mc2Contract, SharedExpertRanksExcludeOtherPaths) {
  // Shared-expert ranks return the shared rows themselves: no A2
  // expert_scales on dispatch, no shared_expert_x or expand_scales on
  // combine.
  auto shared = [](int r) {
    Mc2Contract c = contract(2, 2, r);
    c.tpWorldSize = 1;
    c.sharedExpertRankNum = 1;
    return c;
  };
  expectAllEq(onEveryRank(2, [&](int r, Comm &ep) {
    Tensor w = Tensor::zeros(DType::F32, {1, 1});
    Mc2DispatchInputs in;
    in.expertScales = &w;
    distributeDispatch(ep, Tensor::zeros(DType::F32, {1, 2}),
                       Tensor::zeros(DType::I32, {1, 1}), in, shared(r), 0, 0,
                       GroupListType::Count);
  }),
              "npu.moe_distribute_dispatch: expert_scales (hierarchical "
              "communication, A2) and shared-expert ranks (A3) do not go "
              "together");
  auto combineWith = [&](bool sharedX) {
    return [=](int r, Comm &ep) {
      Tensor x = Tensor::zeros(DType::F32, {1, 2});
      Tensor ids = Tensor::zeros(DType::I32, {1, 1});
      auto d = distributeDispatch(ep, x, ids, {}, shared(r), 0, 0,
                                  GroupListType::Count);
      Tensor extra = sharedX ? Tensor::zeros(DType::F32, {1, 2})
                             : Tensor::zeros(DType::F32, {d.expandX.rows()});
      Mc2CombineInputs cin;
      cin.tpSendCounts = &d.tpRecvCounts;
      (sharedX ? cin.sharedX : cin.expandScales) = &extra;
      distributeCombine(ep, d.expandX, ids, d.expandIdx, d.epRecvCounts,
                        Tensor::zeros(DType::F32, {1, 1}), cin, shared(r));
    };
  };
  std::vector<std::string> errors = onEveryRank(2, combineWith(true));
  EXPECT_EQ(errors[0], "npu.moe_distribute_combine: rank 0 passes "
                       "shared_expert_x with shared-expert ranks "
                       "(shared_expert_rank_num 1), which return the shared "
                       "experts' rows themselves");
  errors = onEveryRank(2, combineWith(false));
  EXPECT_EQ(errors[1], "npu.moe_distribute_combine: rank 0 passes "
                       "expand_scales with shared-expert ranks "
                       "(shared_expert_rank_num 1), which return the shared "
                       "experts' rows themselves");
}

TEST(Mc2Contract, UnsupportedPlacements) {
  auto call = [](int64_t shard, int64_t shared, int64_t tp, int64_t tpRank) {
    return [=](int r, Comm &ep) {
      Mc2Contract c = contract(2, 4, r);
      c.expertShardType = shard;
      c.sharedExpertRankNum = shared;
      c.tpWorldSize = tp;
      c.tpRankId = tpRank;
      distributeDispatch(ep, Tensor::zeros(DType::F32, {1, 2}),
                         Tensor::zeros(DType::I32, {1, 1}), {}, c, 0, 0,
                         GroupListType::Count);
    };
  };
  expectAllEq(onEveryRank(2, call(1, 0, 0, 0)),
              "npu.moe_distribute_dispatch: expert_shard_type 1 is not "
              "supported (0: shared-expert ranks first)");
  expectAllEq(onEveryRank(2, call(0, 1, 0, 0)),
              "npu.moe_distribute_dispatch: shared_expert_rank_num 1 needs "
              "the A3 arguments (group_tp): A2's kernel has no shared-expert "
              "ranks");
  expectAllEq(onEveryRank(2, call(0, 2, 1, 0)),
              "npu.moe_distribute_dispatch: shared_expert_rank_num 2 must be "
              "0 or a divisor of ep_world_size 2 below it");
  // One shared-expert rank of two, with the A3 arguments: accepted.
  expectAllEq(onEveryRank(2, call(0, 1, 1, 0)), "");
  expectAllEq(onEveryRank(2, call(0, 0, 2, 0)),
              "npu.moe_distribute_dispatch: tp_world_size 2 / tp_rank_id 0 is "
              "not supported (the seed passes 1 / 0)");
}

TEST(Mc2Contract, SmoothQuantScales) {
  // One rank: x * scales is quantized per row (max |.| / 127).
  auto world = epWorld(1);
  Tensor x = floatTensor(DType::F32, {2, 4},
                         [](int64_t i) { return static_cast<float>(i + 1); });
  Tensor scales = floatTensor(DType::F32, {4}, [](int64_t i) {
    return i == 3 ? 0.5f : 2.0f;
  });
  Mc2DispatchInputs in;
  in.scales = &scales;
  auto d = distributeDispatch(world->comm(0, Group::EP, 0), x,
                              Tensor::zeros(DType::I32, {2, 1}), in,
                              contract(1, 1, 0), 2, 0, GroupListType::Count);
  for (int64_t t = 0; t < 2; ++t) {
    float smoothed[4], amax = 0.0f;
    for (int64_t j = 0; j < 4; ++j) {
      smoothed[j] = static_cast<float>(t * 4 + j + 1) * (j == 3 ? 0.5f : 2.0f);
      amax = std::max(amax, std::fabs(smoothed[j]));
    }
    const float scale = amax / 127.0f;
    EXPECT_EQ(d.dynamicScales.data<float>()[t], scale);
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(d.expandX.data<int8_t>()[t * 4 + j],
                static_cast<int8_t>(std::nearbyint(smoothed[j] / scale)));
  }
  // Without quant_mode 2 the scales are an error.
  expectAllEq(onEveryRank(1, [&](int, Comm &ep) {
    distributeDispatch(ep, x, Tensor::zeros(DType::I32, {2, 1}), in,
                       contract(1, 1, 0), 0, 0, GroupListType::Count);
  }),
              "npu.moe_distribute_dispatch: scales (smooth quantization) need "
              "quant_mode 2");
}
