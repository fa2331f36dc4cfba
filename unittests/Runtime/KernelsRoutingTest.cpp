//===- KernelsRoutingTest.cpp - gating, routing and permutes --------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/Parallel.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

using namespace moert;
using namespace moert::test;

namespace {

GatingParams params(int64_t k, Scoring s = Scoring::Softmax) {
  GatingParams p;
  p.k = k;
  p.scoring = s;
  return p;
}

TEST(Gating, SoftmaxTopKTiesToLowerId) {
  // Row 0: experts 1 and 3 tie; the lower id comes first.
  Tensor logits = f32({2, 4}, {0, 2, 1, 2, 5, 0, 0, 0});
  auto [w, ids] = gatingTopK(logits, nullptr, params(2));
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{1, 3, 0, 1}));
  float e0 = std::exp(-2.0f), sum0 = e0 + std::exp(-1.0f) + 2;
  std::vector<float> got = values<float>(w);
  EXPECT_FLOAT_EQ(got[0], 1 / sum0);
  EXPECT_FLOAT_EQ(got[1], 1 / sum0);
  EXPECT_FLOAT_EQ(got[2], 1 / (1 + 3 * std::exp(-5.0f)));
}

TEST(Gating, SigmoidRenormalizeAndScale) {
  Tensor logits = f32({1, 3}, {0, 1, -1});
  GatingParams p = params(2, Scoring::Sigmoid);
  p.renormalize = true;
  p.routedScalingFactor = 2.5f;
  auto [w, ids] = gatingTopK(logits, nullptr, p);
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{1, 0}));
  float s1 = 1 / (1 + std::exp(-1.0f)), s0 = 0.5f;
  EXPECT_FLOAT_EQ(values<float>(w)[0], s1 / (s1 + s0) * 2.5f);
  EXPECT_FLOAT_EQ(values<float>(w)[1], s0 / (s1 + s0) * 2.5f);
}

TEST(Gating, BiasSteersSelectionOnly) {
  Tensor logits = f32({1, 3}, {0, 0, 0});
  Tensor bias = f32({3}, {0, 0, 1});
  auto [w, ids] = gatingTopK(logits, &bias, params(1, Scoring::Sigmoid));
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{2}));
  EXPECT_FLOAT_EQ(values<float>(w)[0], 0.5f); // the unbiased score
}

TEST(Gating, GroupedTopKWithBiasUsesTopTwoSums) {
  // 3 groups of 3 experts, keep 1 group. Sigmoid of 0 logits = 0.5, the
  // bias decides: group 0 has the single best expert (2.5) but group 1 the
  // best two-sum (1.7 + 1.7 = 3.4 against 2.5 + 0.5 = 3).
  Tensor logits = Tensor::zeros(DType::F32, {1, 9});
  Tensor bias = f32({9}, {2, 0, 0, 1.2f, 1.2f, 0, 0.5f, 0.5f, 0.5f});
  GatingParams p = params(2, Scoring::Sigmoid);
  p.groupCount = 3;
  p.kGroup = 1;
  auto [w, ids] = gatingTopK(logits, &bias, p);
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{3, 4}));
  // Without a bias a group scores by its best expert: group 2 wins.
  Tensor l2 = f32({1, 9}, {1, 0, 0, 0.9f, 0.9f, 0, 0, 0, 2});
  GatingParams q = params(2);
  q.groupCount = 3;
  q.kGroup = 1;
  auto [w2, ids2] = gatingTopK(l2, nullptr, q);
  EXPECT_EQ(values<int32_t>(ids2), (std::vector<int32_t>{8, 6}));
}

TEST(Gating, Bf16LogitsAndZeroTokens) {
  Tensor l = convertFloat(f32({1, 4}, {0.5f, 3, 1, 2}), DType::BF16);
  auto [w, ids] = gatingTopK(l, nullptr, params(2));
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{1, 3}));
  auto [w0, ids0] = gatingTopK(Tensor::empty(DType::F32, {0, 4}), nullptr,
                               params(2));
  EXPECT_EQ(w0.shape, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(ids0.shape, (std::vector<int64_t>{0, 2}));
}

TEST(Gating, Errors) {
  Tensor l = Tensor::zeros(DType::F32, {2, 8});
  EXPECT_ERROR(gatingTopK(Tensor::zeros(DType::F32, {8}), nullptr, params(1)),
               "npu.moe_gating_top_k: logits must have rank 2");
  EXPECT_ERROR(gatingTopK(Tensor::zeros(DType::I32, {2, 8}), nullptr,
                          params(1)),
               "logits must be f32, bf16 or f16");
  EXPECT_ERROR(gatingTopK(l, nullptr, params(9)), "k 9 must be in [1, 8]");
  Tensor bias = Tensor::zeros(DType::F32, {7});
  EXPECT_ERROR(gatingTopK(l, &bias, params(1)), "bias has 7 entries for 8");
  GatingParams p = params(2);
  p.groupCount = 3;
  p.kGroup = 1;
  EXPECT_ERROR(gatingTopK(l, nullptr, p), "3 expert groups do not divide");
  p.groupCount = 4;
  p.kGroup = 5;
  EXPECT_ERROR(gatingTopK(l, nullptr, p), "k_group 5 must be in [1, 4]");
  p.kGroup = 1;
  p.k = 3;
  EXPECT_ERROR(gatingTopK(l, nullptr, p), "k 3 exceeds the 2 experts");
  p.groupCount = 8;
  p.k = 1;
  Tensor b8 = Tensor::zeros(DType::F32, {8});
  EXPECT_ERROR(gatingTopK(l, &b8, p), "each group needs at least 2 experts");
  GatingParams s = params(1);
  s.routedScalingFactor = 0;
  EXPECT_ERROR(gatingTopK(l, nullptr, s), "routed scaling factor");
}

TEST(Gating, BalancedTakesKOverGFromEveryGroup) {
  // 3 groups of 2, one expert from each (Pangu Pro MoE): plain top-3 would
  // take 0, 1, 2; balanced takes the best of each group, ties to the lower
  // id.
  Tensor logits = f32({2, 6}, {5, 4, 3, 0, 0, 1, 0, 1, 3, 2, 0, 0});
  GatingParams p = params(3);
  p.groupCount = 3;
  p.kGroup = 3;
  p.balanced = true;
  auto [w, ids] = gatingTopK(logits, nullptr, p);
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{0, 2, 5, 1, 2, 4}));
  float sum0 = std::exp(5.0f) + std::exp(4.0f) + std::exp(3.0f) + 1 + 1 +
               std::exp(1.0f);
  EXPECT_FLOAT_EQ(values<float>(w)[0], std::exp(5.0f) / sum0);
  EXPECT_FLOAT_EQ(values<float>(w)[1], std::exp(3.0f) / sum0);
  EXPECT_FLOAT_EQ(values<float>(w)[2], std::exp(1.0f) / sum0);
  // Two of each of 2 groups, group by group, best first.
  Tensor l4 = f32({1, 8}, {5, 4, 3, 0, 0, 1, 2, 9});
  GatingParams q = params(4);
  q.groupCount = 2;
  q.kGroup = 2;
  q.balanced = true;
  EXPECT_EQ(values<int32_t>(gatingTopK(l4, nullptr, q).second),
            (std::vector<int32_t>{0, 1, 7, 6}));
  q.k = 3;
  EXPECT_ERROR(gatingTopK(l4, nullptr, q),
               "balanced routing keeps all 2 groups and takes k / groups "
               "experts from each; got k 3, k_group 2");
  q.k = 4;
  q.groupCount = 0;
  q.kGroup = 0;
  EXPECT_ERROR(gatingTopK(l4, nullptr, q),
               "balanced routing needs expert groups");
}

TEST(Routing, MogeDispatchAndCombine) {
  // T = 3, K = 4, ep = 2: rank 1 owns experts [4, 8) and takes 2 of every
  // token's experts (worked by hand from seed 002's
  // TokenDispatcherWithMoge). Local pairs in k order: t0 (5 -> 1, .2),
  // (7 -> 3, .4); t1 (6 -> 2, .5), (4 -> 0, .7); t2 (4 -> 0, .9),
  // (5 -> 1, 1). Flat local ids 1 3 2 0 0 1: argsort 3 4 0 5 2 1.
  Tensor x = f32({3, 2}, {10, 11, 20, 21, 30, 31});
  Tensor ids = i32({3, 4}, {1, 5, 2, 7, 6, 0, 4, 3, 4, 5, 1, 2});
  Tensor w = f32({3, 4}, {.1f, .2f, .3f, .4f, .5f, .6f, .7f, .8f, .9f, 1,
                          1.1f, 1.2f});
  MogeDispatchResult r =
      mogeDispatch(x, ids, w, 4, 4, 2, GroupListType::Cumsum);
  EXPECT_EQ(values<int32_t>(r.sortedIds),
            (std::vector<int32_t>{3, 4, 0, 5, 2, 1}));
  // rows = x[sorted // 2] = x1 x2 x0 x2 x1 x0.
  EXPECT_EQ(values<float>(r.rows),
            (std::vector<float>{20, 21, 30, 31, 10, 11, 30, 31, 20, 21, 10,
                                11}));
  EXPECT_EQ(r.topkScales.shape, (std::vector<int64_t>{6, 1}));
  EXPECT_EQ(values<float>(r.topkScales),
            (std::vector<float>{.7f, .9f, .2f, 1, .5f, .4f}));
  EXPECT_EQ(values<int64_t>(r.groupList), (std::vector<int64_t>{2, 4, 5, 6}));
  EXPECT_EQ(values<int64_t>(
                mogeDispatch(x, ids, w, 4, 4, 2, GroupListType::Count)
                    .groupList),
            (std::vector<int64_t>{2, 2, 1, 1}));
  // Combine: back to pair order, two rows per token summed. Pair p sits in
  // row rowOf[p] = 2 5 4 0 1 3, so out[t] = y[rowOf[2t]] + y[rowOf[2t+1]].
  Tensor y = f32({6, 1}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values<float>(mogeCombine(y, r.sortedIds, 2)),
            (std::vector<float>{9, 6, 6}));
  // The round trip with unit experts sums each token's two local rows.
  EXPECT_EQ(values<float>(mogeCombine(r.rows, r.sortedIds, 2)),
            (std::vector<float>{20, 22, 40, 42, 60, 62}));
  // Zero tokens (an empty rank): no rows, empty groups.
  MogeDispatchResult none =
      mogeDispatch(Tensor::empty(DType::F32, {0, 2}),
                   Tensor::empty(DType::I32, {0, 4}),
                   Tensor::empty(DType::F32, {0, 4}), 4, 4, 2,
                   GroupListType::Cumsum);
  EXPECT_EQ(none.rows.shape, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(values<int64_t>(none.groupList), (std::vector<int64_t>(4, 0)));
  EXPECT_EQ(mogeCombine(none.rows, none.sortedIds, 2).shape,
            (std::vector<int64_t>{0, 2}));
}

TEST(Routing, MogeErrors) {
  Tensor x = f32({2, 1}, {1, 2});
  Tensor w = Tensor::zeros(DType::F32, {2, 4});
  // Token 1 has three of its experts on this rank: not group-balanced.
  Tensor ids = i32({2, 4}, {0, 4, 1, 5, 4, 5, 6, 0});
  EXPECT_ERROR(mogeDispatch(x, ids, w, 4, 4, 2, GroupListType::Count),
               "npu.moge_dispatch: token 1 routes 3 of its experts to this "
               "rank's [4, 8); group-balanced routing gives every rank "
               "exactly 2");
  Tensor ok = i32({2, 4}, {0, 4, 1, 5, 4, 5, 2, 0});
  EXPECT_ERROR(mogeDispatch(x, ok, Tensor::zeros(DType::F32, {2, 3}), 4, 4, 2,
                            GroupListType::Count),
               "differ in shape");
  EXPECT_ERROR(mogeDispatch(x, ok, w, 4, 4, 5, GroupListType::Count),
               "k_per_rank 5 must be in [1, 4]");
  EXPECT_ERROR(mogeDispatch(x, i32({1, 4}, {0, 4, 1, 5}), w, 4, 4, 2,
                            GroupListType::Count),
               "ids has 1 rows, x has 2");
  Tensor y = f32({4, 1}, {1, 2, 3, 4});
  const char *op = "npu.moge_combine: ";
  EXPECT_ERROR(mogeCombine(y, i32({4}, {0, 1, 1, 2}), 2),
               std::string(op) + "pair 1 has two rows (1 and 2)");
  EXPECT_ERROR(mogeCombine(y, i32({4}, {0, 1, 2, 4}), 2),
               "sorted id 4 (entry 3) outside [0, 4)");
  EXPECT_ERROR(mogeCombine(y, i32({3}, {0, 1, 2}), 2),
               "sorted ids have 3 entries for 4 rows");
  EXPECT_ERROR(mogeCombine(y, i32({4}, {0, 1, 2, 3}), 3),
               "4 rows are not a whole number of tokens with k_per_rank 3");
}

TEST(Routing, MapAndMask) {
  Tensor ids = i32({2, 2}, {0, 3, 2, 1});
  EXPECT_EQ(values<int32_t>(mapExpertIds(ids, i32({4}, {7, 6, 5, 4}))),
            (std::vector<int32_t>{7, 4, 5, 6}));
  EXPECT_ERROR(mapExpertIds(ids, i32({3}, {0, 1, 2})),
               "npu.map_expert_ids: id 3 (entry 1) outside [0, 3)");
  Tensor w = f32({2, 2}, {0.1f, 0.2f, 0.3f, 0.4f});
  Tensor map = i32({4}, {0, -1, 1, -1});
  EXPECT_EQ(values<float>(maskWeights(w, ids, map)),
            (std::vector<float>{0.1f, 0, 0.3f, 0}));
  EXPECT_ERROR(maskWeights(w, i32({1, 2}, {0, 1}), map),
               "npu.mask_weights: ids tensor<1x2xi32> and weights");
  EXPECT_ERROR(maskWeights(w, ids, i32({3}, {0, 0, 0})),
               "npu.mask_weights: id 3");
  EXPECT_ERROR(mapExpertIds(f32({1, 1}, {0}), i32({1}, {0})),
               "ids must be i32");
}

TEST(Routing, InitRoutingThreeTokensTwoK) {
  // 3 tokens, K = 2, experts 0..3, local range [1, 3).
  Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor ids = i32({3, 2}, {2, 1, 0, 2, 1, 3});
  InitRoutingResult r =
      initRouting(x, ids, nullptr, 1, 2, 4, -1, GroupListType::Count);
  // Local pairs: j=0 (e2), 1 (e1), 3 (e2), 4 (e1). Stable by expert:
  // e1: 1, 4; e2: 0, 3.
  EXPECT_EQ(values<int32_t>(r.expandedRowIdx),
            (std::vector<int32_t>{1, 4, 0, 3}));
  EXPECT_EQ(values<float>(r.expandedX),
            (std::vector<float>{1, 2, 5, 6, 1, 2, 3, 4}));
  EXPECT_EQ(values<int64_t>(r.expertTokens), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r.expandedScale.storage, nullptr);
  InitRoutingResult c =
      initRouting(x, ids, nullptr, 0, 4, 4, -1, GroupListType::Cumsum);
  EXPECT_EQ(values<int64_t>(c.expertTokens),
            (std::vector<int64_t>{1, 3, 5, 6}));
  EXPECT_EQ(values<int32_t>(c.expandedRowIdx),
            (std::vector<int32_t>{2, 1, 4, 0, 3, 5}));
}

TEST(Routing, InitRoutingQuantAndCarriedScale) {
  Tensor x = f32({2, 2}, {1.27f, -0.635f, 0, 0});
  Tensor ids = i32({2}, {0, 0});
  InitRoutingResult r =
      initRouting(x, ids, nullptr, 0, 1, 1, 1, GroupListType::Count);
  EXPECT_EQ(r.expandedX.dtype, DType::I8);
  auto [q, s] = dynamicQuant(x);
  EXPECT_EQ(values<int8_t>(r.expandedX), values<int8_t>(q));
  EXPECT_EQ(values<float>(r.expandedScale), values<float>(s));
  Tensor xq = i8({2, 1}, {5, 6});
  Tensor scale = f32({2}, {0.5f, 0.25f});
  InitRoutingResult c = initRouting(xq, i32({2}, {1, 0}), &scale, 0, 2, 2, -1,
                                    GroupListType::Count);
  EXPECT_EQ(values<int8_t>(c.expandedX), (std::vector<int8_t>{6, 5}));
  EXPECT_EQ(values<float>(c.expandedScale),
            (std::vector<float>{0.25f, 0.5f}));
}

// Quant mode 1 with K = 2: a token's rows are quantized once and copied
// (Routing.cpp); every row must equal its token's own quantization, in
// the stable expert order, and a token with no local pair is skipped.
TEST(Routing, InitRoutingQuantRowsOfEveryPair) {
  Tensor x = f32({3, 3}, {1.27f, -0.635f, 0.5f, 2.54f, 0.0254f, -1, 0.5f,
                          0.25f, 0.125f});
  Tensor ids = i32({3, 2}, {1, 0, 0, 1, 2, 2});
  InitRoutingResult r =
      initRouting(x, ids, nullptr, 0, 2, 3, 1, GroupListType::Count);
  // e0: pairs 1 (token 0), 2 (token 1); e1: pairs 0 (token 0), 3 (token 1).
  EXPECT_EQ(values<int32_t>(r.expandedRowIdx),
            (std::vector<int32_t>{1, 2, 0, 3}));
  auto [q, s] = dynamicQuant(x);
  std::vector<int8_t> qv = values<int8_t>(q), want;
  std::vector<float> sv = values<float>(s), wantScale;
  for (int token : {0, 1, 0, 1}) {
    want.insert(want.end(), qv.begin() + 3 * token, qv.begin() + 3 * token + 3);
    wantScale.push_back(sv[token]);
  }
  EXPECT_EQ(values<int8_t>(r.expandedX), want);
  EXPECT_EQ(values<float>(r.expandedScale), wantScale);
  // Token 0's row by hand: scale 1.27 / 127, 1.27 -> 127.
  EXPECT_EQ(values<int8_t>(r.expandedX)[0], 127);
}

TEST(Routing, InitRoutingZeroTokensAndErrors) {
  InitRoutingResult r =
      initRouting(Tensor::empty(DType::F32, {0, 4}),
                  Tensor::empty(DType::I32, {0, 2}), nullptr, 0, 2, 4, 1,
                  GroupListType::Count);
  EXPECT_EQ(r.expandedX.shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(values<int64_t>(r.expertTokens), (std::vector<int64_t>{0, 0}));
  Tensor x = f32({2, 1}, {1, 2});
  Tensor ids = i32({2}, {0, 1});
  const char *op = "npu.moe_init_routing: ";
  auto init = [&](const Tensor &x, const Tensor &ids, const Tensor *s,
                  int64_t start, int64_t l, int64_t e, int64_t q) {
    return initRouting(x, ids, s, start, l, e, q, GroupListType::Count);
  };
  EXPECT_ERROR(init(x, i32({2}, {0, 4}), nullptr, 0, 2, 4, -1),
               std::string(op) + "expert id 4 (entry 1) outside [0, 4)");
  EXPECT_ERROR(init(x, i32({3}, {0, 1, 1}), nullptr, 0, 2, 4, -1),
               "expert ids has 3 rows, x has 2");
  EXPECT_ERROR(init(x, ids, nullptr, 3, 2, 4, -1), "local range [3, 5)");
  EXPECT_ERROR(init(x, ids, nullptr, 0, 2, 4, 2), "quant mode must be -1 or 1");
  Tensor xq = i8({2, 1}, {1, 2});
  EXPECT_ERROR(init(xq, ids, nullptr, 0, 2, 4, -1), "needs its per-token");
  Tensor s = f32({2}, {1, 1});
  EXPECT_ERROR(init(x, ids, &s, 0, 2, 4, -1), "only carried with int8");
  EXPECT_ERROR(init(xq, ids, &s, 0, 2, 4, 1), "quant mode 1 quantizes float");
  Tensor s3 = f32({3}, {1, 1, 1});
  EXPECT_ERROR(init(xq, ids, &s3, 0, 2, 4, -1), "scale has 3 entries");
  EXPECT_ERROR(init(x, f32({2}, {0, 1}), nullptr, 0, 2, 4, -1),
               "expert ids must be i32");
}

TEST(Routing, PermuteIsStable) {
  Tensor tokens = f32({3, 1}, {10, 20, 30});
  Tensor idx = i32({3, 2}, {1, 0, 1, 0, 0, 1});
  auto [perm, sorted] = tokenPermute(tokens, idx);
  // Flat ids 1 0 1 0 0 1: zeros at 1, 3, 4; ones at 0, 2, 5.
  EXPECT_EQ(values<int32_t>(sorted), (std::vector<int32_t>{1, 3, 4, 0, 2, 5}));
  EXPECT_EQ(values<float>(perm),
            (std::vector<float>{10, 20, 30, 10, 20, 30}));
  // Round trip through unpermute with probs.
  Tensor probs = f32({3, 2}, {0.5f, 0.5f, 1, 0, 0.25f, 2});
  EXPECT_EQ(values<float>(tokenUnpermute(perm, sorted, &probs)),
            (std::vector<float>{10, 20, 67.5f}));
  // Without probs, rows go back to their pairs.
  Tensor back = tokenUnpermute(perm, sorted, nullptr);
  EXPECT_EQ(values<float>(back),
            (std::vector<float>{10, 10, 20, 20, 30, 30}));
  EXPECT_ERROR(tokenPermute(tokens, i32({2}, {0, 1})),
               "npu.moe_token_permute: indices has 2 rows, x has 3");
}

TEST(Routing, UnpermuteDroppedPairsAndErrors) {
  // T = 2, K = 2; only pairs 3 and 0 have rows (in that order).
  Tensor rows = f32({2, 2}, {1, 2, 3, 4});
  Tensor sorted = i32({2}, {3, 0});
  Tensor probs = f32({2, 2}, {0.5f, 9, 9, 2});
  EXPECT_EQ(values<float>(tokenUnpermute(rows, sorted, &probs)),
            (std::vector<float>{1.5f, 2, 2, 4}));
  Tensor bf = convertFloat(rows, DType::BF16);
  Tensor outBf = tokenUnpermute(bf, sorted, &probs);
  EXPECT_EQ(outBf.dtype, DType::BF16);
  EXPECT_EQ(floats(outBf), (std::vector<float>{1.5f, 2, 2, 4}));
  Tensor zero = tokenUnpermute(Tensor::empty(DType::F32, {0, 2}),
                               Tensor::empty(DType::I32, {0}),
                               &probs);
  EXPECT_EQ(values<float>(zero), (std::vector<float>(4, 0.0f)));
  const char *op = "npu.moe_token_unpermute: ";
  EXPECT_ERROR(tokenUnpermute(rows, i32({2}, {4, 0}), &probs),
               std::string(op) + "pair index 4 (entry 0) outside [0, 4)");
  EXPECT_ERROR(tokenUnpermute(rows, i32({2}, {1, 1}), &probs),
               "pair 1 has two rows");
  EXPECT_ERROR(tokenUnpermute(rows, i32({3}, {0, 1, 2}), &probs),
               "3 entries for 2 rows");
  EXPECT_ERROR(tokenUnpermute(rows, i32({2}, {0, 2}), nullptr),
               "pair index 2 (entry 1) outside [0, 2)");
}

TEST(Routing, Histogram) {
  EXPECT_EQ(values<int64_t>(histogram(i32({2, 2}, {0, 2, 2, 3}), 4)),
            (std::vector<int64_t>{1, 0, 2, 1}));
  EXPECT_EQ(values<int64_t>(histogram(Tensor::empty(DType::I32, {0, 8}), 2)),
            (std::vector<int64_t>{0, 0}));
  EXPECT_ERROR(histogram(i32({1}, {4}), 4),
               "npu.histogram: id 4 (entry 0) outside [0, 4)");
  EXPECT_ERROR(histogram(i32({1}, {0}), 0), "bins must be positive");
  EXPECT_ERROR(histogram(f32({1}, {0}), 2), "ids must be i32 or i64");
}

TEST(Routing, AllToAllSplits) {
  // R = 2, L = 2, E = 4. Rank 1's view.
  Tensor global = i64({8}, {1, 0, 2, 3, /*rank 1*/ 4, 1, 0, 5});
  Tensor local = i64({4}, {4, 1, 0, 5});
  AllToAllSplits s = alltoallSplits(local, global, 2, 1, 2);
  EXPECT_EQ(values<int64_t>(s.inputSplits), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(values<int64_t>(s.outputSplits), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(values<int64_t>(s.tokensPerExpert), (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(values<int32_t>(s.recvExpertIds),
            (std::vector<int32_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}));
  const char *op = "npu.alltoall_splits: ";
  EXPECT_ERROR(alltoallSplits(local, global, 2, 2, 2),
               std::string(op) + "rank 2 outside a group of 2");
  EXPECT_ERROR(alltoallSplits(i64({3}, {0, 0, 0}), global, 2, 1, 2),
               "local counts have 3 entries, need 4");
  EXPECT_ERROR(alltoallSplits(local, i64({4}, {0, 0, 0, 0}), 2, 1, 2),
               "global counts have 4 entries, need 8");
  EXPECT_ERROR(alltoallSplits(i64({4}, {4, 1, 0, 4}), global, 2, 1, 2),
               "local count of expert 3 (4) differs");
  Tensor neg = i64({8}, {-1, 0, 0, 0, 4, 1, 0, 5});
  EXPECT_ERROR(alltoallSplits(local, neg, 2, 1, 2), "negative count -1");
}

TEST(Parallel, CoversRangeAndRethrows) {
  setKernelThreads(3);
  std::vector<std::atomic<int>> hits(1000);
  parallelFor(1000, 10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      hits[i]++;
  });
  for (auto &h : hits)
    EXPECT_EQ(h.load(), 1);
  EXPECT_ERROR(parallelFor(100, 1,
                           [&](int64_t b, int64_t) {
                             if (b > 0)
                               throw Error("npu.test: chunk failed");
                           }),
               "npu.test: chunk failed");
  // Several rank threads at once, each with nested calls.
  std::atomic<int64_t> total{0};
  std::vector<std::thread> ranks;
  for (int r = 0; r < 4; ++r)
    ranks.emplace_back([&] {
      setKernelThreads(2);
      for (int rep = 0; rep < 50; ++rep)
        parallelFor(64, 1, [&](int64_t b, int64_t e) {
          parallelFor(e - b, 1, [&](int64_t b2, int64_t e2) {
            total += e2 - b2;
          });
        });
    });
  for (auto &t : ranks)
    t.join();
  EXPECT_EQ(total.load(), 4 * 50 * 64);
  // Wake-ups (a step's start) interleaved with jobs and with sleeping
  // workers: a woken worker without a job spins again and still takes
  // the jobs that come later.
  setKernelThreads(3);
  std::atomic<bool> stop{false};
  std::thread waker([&] {
    while (!stop.load())
      wakeKernelThreads();
  });
  for (int rep = 0; rep < 20; ++rep) {
    if (rep % 5 == 0) // past the spin: the workers sleep
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    std::atomic<int64_t> covered{0};
    parallelFor(300, 1, [&](int64_t b, int64_t e) { covered += e - b; });
    EXPECT_EQ(covered.load(), 300);
  }
  stop = true;
  waker.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  wakeKernelThreads(); // no job follows: the workers go back to sleep
  std::atomic<int64_t> late{0};
  parallelFor(300, 1, [&](int64_t b, int64_t e) { late += e - b; });
  EXPECT_EQ(late.load(), 300);
  setKernelThreads(1);
  std::thread::id caller = std::this_thread::get_id();
  parallelFor(100, 1, [&](int64_t b, int64_t e) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 100);
  });
}

} // namespace
