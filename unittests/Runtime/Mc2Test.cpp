//===- Mc2Test.cpp - MC2 dispatch and combine on a thread world -----------===//

#include "RankThreads.h"

#include "moe/Runtime/Mc2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace moert;
using namespace moert::testing;

namespace {

const int64_t kTokens[] = {5, 0, 9, 1, 4, 0, 7, 3}; // per rank, some empty

/// One rank's inputs of an MoE layer.
struct RankInputs {
  Tensor x;       // [T, H]
  Tensor ids;     // [T, K] i32
  Tensor weights; // [T, K] f32
  Tensor mask;    // [T] i1, or no storage
  Tensor shared;  // [T, H], or no storage
  const Tensor *maskPtr() const { return mask.storage ? &mask : nullptr; }
  const Tensor *sharedPtr() const { return shared.storage ? &shared : nullptr; }
  bool active(int64_t t) const {
    return !mask.storage || mask.bytes()[t] != 0;
  }
};

struct Config {
  int ranks = 2;
  int64_t local = 2; // experts per rank
  int64_t h = 6, k = 3;
  DType dtype = DType::F32;
  bool mask = false, shared = false;
};

std::vector<RankInputs> makeInputs(const Config &c, unsigned seed) {
  std::vector<RankInputs> out;
  const int64_t experts = c.ranks * c.local;
  for (int r = 0; r < c.ranks; ++r) {
    std::mt19937 rng(seed + static_cast<unsigned>(r));
    std::uniform_real_distribution<float> val(-3.0f, 3.0f);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(experts - 1));
    const int64_t t = kTokens[r];
    RankInputs in;
    in.x = floatTensor(c.dtype, {t, c.h}, [&](int64_t) { return val(rng); });
    in.ids = Tensor::empty(DType::I32, {t, c.k});
    for (int64_t i = 0; i < t * c.k; ++i)
      in.ids.data<int32_t>()[i] = id(rng);
    in.weights = floatTensor(DType::F32, {t, c.k},
                             [&](int64_t) { return val(rng) / 3.0f; });
    if (c.mask) { // the last third of the tokens are padding
      in.mask = Tensor::empty(DType::I1, {t});
      for (int64_t i = 0; i < t; ++i)
        in.mask.bytes()[i] = i < t - t / 3;
    }
    if (c.shared)
      in.shared = floatTensor(c.dtype, {t, c.h},
                              [&](int64_t) { return val(rng); });
    out.push_back(in);
  }
  return out;
}

std::unique_ptr<World> epWorld(int ranks, double timeout = 30) {
  Layout l;
  l.tp = ranks;
  l.expertParallel = true;
  return createThreadWorld(l, timeout);
}

/// The dispatch result rank `p` must get, computed directly.
struct Expected {
  std::vector<std::pair<int, int32_t>> rows; // (source rank, pair)
  std::vector<int64_t> perExpert;
  std::vector<int32_t> recvCounts; // [L * R]
};

Expected expectedDispatch(const Config &c, const std::vector<RankInputs> &in,
                          int p) {
  Expected e;
  e.recvCounts.assign(static_cast<size_t>(c.local * c.ranks), 0);
  for (int64_t le = 0; le < c.local; ++le) {
    int64_t n = 0;
    for (int s = 0; s < c.ranks; ++s) {
      const RankInputs &src = in[static_cast<size_t>(s)];
      for (int64_t pair = 0; pair < src.ids.numel(); ++pair)
        if (src.active(pair / c.k) &&
            src.ids.data<int32_t>()[pair] == p * c.local + le) {
          e.rows.push_back({s, static_cast<int32_t>(pair)});
          ++e.recvCounts[static_cast<size_t>(le * c.ranks + s)];
          ++n;
        }
    }
    e.perExpert.push_back(n);
  }
  return e;
}

/// out[t] = sum_k w[t, k] * row(t, k) in f32, k in order (+ shared[t]),
/// rounded once; inactive tokens zero.
Tensor weightedSum(const RankInputs &in, const std::vector<Tensor> &rows,
                   DType dtype) {
  const int64_t t = in.ids.dim(0), k = in.ids.dim(1);
  Tensor out = Tensor::zeros(dtype, {t, in.x.dim(1)});
  const int64_t width = in.x.dim(1);
  std::vector<float> acc(static_cast<size_t>(width)), buf(acc.size());
  for (int64_t i = 0; i < t; ++i) {
    if (!in.active(i))
      continue;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const float w = in.weights.data<float>()[i * k + j];
      const Tensor &row = rows[static_cast<size_t>(i * k + j)];
      loadF32(row, 0, width, buf.data());
      for (int64_t x = 0; x < width; ++x) {
        const float term = w * buf[static_cast<size_t>(x)];
        acc[static_cast<size_t>(x)] += term;
      }
    }
    if (in.shared.storage) {
      loadF32(in.shared, i * width, width, buf.data());
      for (int64_t x = 0; x < width; ++x)
        acc[static_cast<size_t>(x)] += buf[static_cast<size_t>(x)];
    }
    storeF32(out, i * width, width, acc.data());
  }
  return out;
}

/// Row `t` of x as its own [H] tensor.
Tensor rowOf(const Tensor &x, int64_t t) {
  Tensor r = Tensor::empty(x.dtype, {x.dim(1)});
  size_t rb = storageBytes(x.dtype, x.dim(1));
  std::memcpy(r.bytes(), x.bytes() + rb * t, rb);
  return r;
}

/// Reference per-row quantization, written out independently.
float refQuant(const std::vector<float> &row, std::vector<int8_t> &q) {
  float amax = 0;
  for (float v : row)
    amax = std::max(amax, std::fabs(v));
  q.assign(row.size(), 0);
  if (amax == 0)
    return 0;
  float scale = amax / 127.0f;
  for (size_t i = 0; i < row.size(); ++i) {
    float v = row[i] / scale;
    float r = std::round(v); // half away from zero, fixed below
    if (std::fabs(v - std::trunc(v)) == 0.5f)
      r = 2.0f * std::round(v / 2.0f);
    q[i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  return scale;
}

std::string describe(const Config &c) {
  return "R=" + std::to_string(c.ranks) + " L=" + std::to_string(c.local) +
         " " + dtypeName(c.dtype) + (c.mask ? " mask" : "") +
         (c.shared ? " shared" : "");
}

/// Dispatch, identity experts (dequantized with quant mode 2), combine;
/// checks every result against the direct computation.
void checkRoundTrip(const Config &c, int64_t quantMode, GroupListType type) {
  SCOPED_TRACE(describe(c) + " quant " + std::to_string(quantMode));
  auto world = epWorld(c.ranks);
  std::vector<RankInputs> in = makeInputs(c, 7);
  std::vector<DistributeDispatchResult> disp(static_cast<size_t>(c.ranks));
  std::vector<Tensor> out(static_cast<size_t>(c.ranks));
  const int64_t experts = c.ranks * c.local;
  auto errors = runRanks(*world, [&](int r) {
    Comm &ep = world->comm(r, Group::EP, 0);
    const RankInputs &me = in[static_cast<size_t>(r)];
    DistributeDispatchResult d =
        distributeDispatch(ep, me.x, me.ids, me.maskPtr(), c.ranks, experts,
                           quantMode, 512, type);
    disp[static_cast<size_t>(r)] = d;
    Tensor y = d.expandX;
    if (quantMode == 2) { // identity expert on dequantized rows
      y = Tensor::empty(c.dtype, d.expandX.shape);
      std::vector<float> row(static_cast<size_t>(c.h));
      for (int64_t i = 0; i < y.rows(); ++i) {
        for (int64_t j = 0; j < c.h; ++j)
          row[static_cast<size_t>(j)] =
              d.expandX.data<int8_t>()[i * c.h + j] *
              d.dynamicScales.data<float>()[i];
        storeF32(y, i * c.h, c.h, row.data());
      }
    }
    out[static_cast<size_t>(r)] = distributeCombine(
        ep, y, me.ids, d.expandIdx, d.epRecvCounts, me.weights, me.maskPtr(),
        me.sharedPtr(), c.ranks, experts);
  });
  ASSERT_TRUE(allEmpty(errors)) << errors[0];

  // Quantized rows of every token of every rank, by the reference rule.
  std::vector<std::vector<std::vector<int8_t>>> q(static_cast<size_t>(c.ranks));
  std::vector<std::vector<float>> qs(static_cast<size_t>(c.ranks));
  for (int s = 0; s < c.ranks; ++s)
    for (int64_t t = 0; t < kTokens[s]; ++t) {
      std::vector<float> row(static_cast<size_t>(c.h));
      loadF32(in[static_cast<size_t>(s)].x, t * c.h, c.h, row.data());
      std::vector<int8_t> qr;
      qs[static_cast<size_t>(s)].push_back(refQuant(row, qr));
      q[static_cast<size_t>(s)].push_back(qr);
    }

  for (int p = 0; p < c.ranks; ++p) {
    SCOPED_TRACE("rank " + std::to_string(p));
    const DistributeDispatchResult &d = disp[static_cast<size_t>(p)];
    Expected e = expectedDispatch(c, in, p);
    const int64_t n = static_cast<int64_t>(e.rows.size());
    ASSERT_EQ(d.expandX.shape, (std::vector<int64_t>{n, c.h}));
    ASSERT_EQ(d.expandIdx.shape, (std::vector<int64_t>{n}));
    EXPECT_EQ(d.expandX.dtype, quantMode == 2 ? DType::I8 : c.dtype);
    EXPECT_EQ(d.expandIdx.dtype, DType::I32);
    for (int64_t i = 0; i < n; ++i) {
      auto [s, pair] = e.rows[static_cast<size_t>(i)];
      EXPECT_EQ(d.expandIdx.data<int32_t>()[i], pair) << "row " << i;
      const int64_t t = pair / c.k;
      if (quantMode == 2) {
        EXPECT_EQ(d.dynamicScales.data<float>()[i],
                  qs[static_cast<size_t>(s)][static_cast<size_t>(t)]);
        EXPECT_EQ(0, std::memcmp(d.expandX.data<int8_t>() + i * c.h,
                                 q[static_cast<size_t>(s)][static_cast<size_t>(t)].data(),
                                 static_cast<size_t>(c.h)))
            << "row " << i;
      } else {
        EXPECT_TRUE(sameBytes(rowOf(d.expandX, i),
                              rowOf(in[static_cast<size_t>(s)].x, t)))
            << "row " << i;
      }
    }
    ASSERT_EQ(d.expertTokenNums.shape, (std::vector<int64_t>{c.local}));
    EXPECT_EQ(d.expertTokenNums.dtype, DType::I64);
    int64_t run = 0;
    for (int64_t le = 0; le < c.local; ++le) {
      run += e.perExpert[static_cast<size_t>(le)];
      EXPECT_EQ(d.expertTokenNums.data<int64_t>()[le],
                type == GroupListType::Cumsum ? run
                                              : e.perExpert[static_cast<size_t>(le)]);
    }
    ASSERT_EQ(d.epRecvCounts.shape, (std::vector<int64_t>{c.local * c.ranks}));
    EXPECT_EQ(d.epRecvCounts.dtype, DType::I32);
    for (int64_t i = 0; i < c.local * c.ranks; ++i)
      EXPECT_EQ(d.epRecvCounts.data<int32_t>()[i],
                e.recvCounts[static_cast<size_t>(i)]);
    if (quantMode == 2) {
      ASSERT_EQ(d.dynamicScales.shape, (std::vector<int64_t>{n}));
      EXPECT_EQ(d.dynamicScales.dtype, DType::F32);
    } else {
      EXPECT_FALSE(d.dynamicScales.storage);
    }

    // combine(identity(dispatch(x))) == sum_k w[t, k] * x[t] (+ shared).
    const RankInputs &me = in[static_cast<size_t>(p)];
    std::vector<Tensor> rows;
    for (int64_t pair = 0; pair < me.ids.numel(); ++pair) {
      const int64_t t = pair / c.k;
      if (quantMode != 2) {
        rows.push_back(rowOf(me.x, t));
        continue;
      }
      std::vector<float> deq(static_cast<size_t>(c.h));
      for (int64_t j = 0; j < c.h; ++j)
        deq[static_cast<size_t>(j)] =
            q[static_cast<size_t>(p)][static_cast<size_t>(t)][static_cast<size_t>(j)] *
            qs[static_cast<size_t>(p)][static_cast<size_t>(t)];
      Tensor row = Tensor::empty(c.dtype, {c.h});
      storeF32(row, 0, c.h, deq.data());
      rows.push_back(row);
    }
    Tensor expect = weightedSum(me, rows, c.dtype);
    EXPECT_TRUE(sameBytes(out[static_cast<size_t>(p)], expect));
  }
}

} // namespace

TEST(Mc2, DispatchCombineRoundTrip) {
  for (int ranks : {1, 2, 3, 4, 8})
    for (int64_t local : {1, 3})
      for (DType dtype : {DType::F32, DType::BF16}) {
        Config c;
        c.ranks = ranks;
        c.local = local;
        c.dtype = dtype;
        checkRoundTrip(c, 0, GroupListType::Cumsum);
      }
}

TEST(Mc2, CountsMaskAndSharedExpert) {
  for (int ranks : {2, 3, 8}) {
    Config c;
    c.ranks = ranks;
    c.mask = true;
    c.shared = true;
    c.dtype = DType::F16;
    checkRoundTrip(c, 0, GroupListType::Count);
    c.dtype = DType::F32;
    c.mask = false;
    checkRoundTrip(c, 0, GroupListType::Count);
  }
}

TEST(Mc2, QuantMode2RoundTrip) {
  for (int ranks : {1, 2, 4}) {
    Config c;
    c.ranks = ranks;
    c.dtype = DType::BF16;
    c.mask = ranks == 4;
    checkRoundTrip(c, 2, GroupListType::Cumsum);
  }
}

TEST(Mc2, QuantMode2Rounding) {
  // One rank: a row with exact halves after scaling (scale 1) and a zero row.
  auto world = epWorld(1);
  Tensor x = Tensor::zeros(DType::F32, {2, 6});
  float row[] = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 1.5f};
  std::memcpy(x.bytes(), row, sizeof(row));
  Tensor ids = Tensor::zeros(DType::I32, {2, 1});
  auto d = distributeDispatch(world->comm(0, Group::EP, 0), x, ids, nullptr, 1,
                              1, 2, 0, GroupListType::Count);
  ASSERT_EQ(d.expandX.shape, (std::vector<int64_t>{2, 6}));
  int8_t expect[] = {127, 2, 4, -2, 0, 2, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(d.expandX.data<int8_t>()[i], expect[i]) << i;
  EXPECT_EQ(d.dynamicScales.data<float>()[0], 1.0f);
  EXPECT_EQ(d.dynamicScales.data<float>()[1], 0.0f);
  EXPECT_EQ(d.expertTokenNums.data<int64_t>()[0], 2);
}

TEST(Mc2, AllTokensPickOneExpert) {
  const int ranks = 4;
  auto world = epWorld(ranks);
  std::vector<DistributeDispatchResult> disp(ranks);
  std::vector<Tensor> out(ranks), xs(ranks);
  auto errors = runRanks(*world, [&](int r) {
    const int64_t t = kTokens[r];
    xs[r] = floatTensor(DType::F32, {t, 4},
                        [&](int64_t i) { return static_cast<float>(r * 100 + i); });
    Tensor ids = Tensor::empty(DType::I32, {t, 2});
    Tensor w = Tensor::empty(DType::F32, {t, 2});
    for (int64_t i = 0; i < 2 * t; ++i) {
      ids.data<int32_t>()[i] = 7; // the last expert of the last rank, twice
      w.data<float>()[i] = i % 2 ? 0.25f : 0.5f;
    }
    Comm &ep = world->comm(r, Group::EP, 0);
    disp[r] = distributeDispatch(ep, xs[r], ids, nullptr, ranks, 8, 0, 16,
                                 GroupListType::Cumsum);
    out[r] = distributeCombine(ep, disp[r].expandX, ids, disp[r].expandIdx,
                               disp[r].epRecvCounts, w, nullptr, nullptr,
                               ranks, 8);
  });
  ASSERT_TRUE(allEmpty(errors)) << errors[0];
  for (int r = 0; r < ranks - 1; ++r) {
    EXPECT_EQ(disp[r].expandX.rows(), 0);
    EXPECT_EQ(disp[r].expertTokenNums.data<int64_t>()[1], 0);
  }
  const int64_t all = 2 * (5 + 0 + 9 + 1);
  EXPECT_EQ(disp[3].expandX.rows(), all);
  EXPECT_EQ(disp[3].expertTokenNums.data<int64_t>()[0], 0);
  EXPECT_EQ(disp[3].expertTokenNums.data<int64_t>()[1], all);
  for (int r = 0; r < ranks; ++r)
    for (int64_t i = 0; i < xs[r].numel(); ++i)
      EXPECT_EQ(out[r].data<float>()[i], 0.75f * xs[r].data<float>()[i]);
}

TEST(Mc2, WithoutExpertParallelism) {
  // tp = 2 without EP: each rank's ep group is itself and owns all experts.
  Layout l;
  l.tp = 2;
  auto world = createThreadWorld(l, 30);
  std::vector<Tensor> out(2), xs(2);
  auto errors = runRanks(*world, [&](int r) {
    Comm &ep = world->comm(r, Group::EP, 0);
    xs[r] = floatTensor(DType::F32, {3, 2},
                        [&](int64_t i) { return static_cast<float>(i + r); });
    Tensor ids = Tensor::empty(DType::I32, {3, 2});
    Tensor w = Tensor::empty(DType::F32, {3, 2});
    for (int i = 0; i < 6; ++i) {
      ids.data<int32_t>()[i] = (i * 3 + r) % 4;
      w.data<float>()[i] = 0.5f;
    }
    auto d = distributeDispatch(ep, xs[r], ids, nullptr, 1, 4, 0, 0,
                                GroupListType::Count);
    if (d.expandX.rows() != 6)
      throw Error("expected all 6 pairs locally");
    out[r] = distributeCombine(ep, d.expandX, ids, d.expandIdx,
                               d.epRecvCounts, w, nullptr, nullptr, 1, 4);
  });
  ASSERT_TRUE(allEmpty(errors)) << errors[0];
  for (int r = 0; r < 2; ++r)
    EXPECT_TRUE(sameBytes(out[r], xs[r]));
}

//===----------------------------------------------------------------------===//
// Errors: every rank throws the same message naming the rank at fault
//===----------------------------------------------------------------------===//

namespace {
std::vector<std::string>
dispatchErrors(int ranks, const std::function<void(int, Comm &)> &fn) {
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

TEST(Mc2Errors, CapacityOverflow) {
  expectAllEq(dispatchErrors(4,
                             [](int r, Comm &ep) {
                               int64_t t = r == 3 ? 600 : 10;
                               distributeDispatch(
                                   ep, Tensor::zeros(DType::BF16, {t, 8}),
                                   Tensor::zeros(DType::I32, {t, 2}), nullptr,
                                   4, 8, 0, 512, GroupListType::Cumsum);
                             }),
              "npu.moe_distribute_dispatch: rank 3 passes 600 tokens, more "
              "than the MC2 capacity of 512");
}

TEST(Mc2Errors, Attributes) {
  auto call = [](int64_t world, int64_t experts, int64_t quant) {
    return [=](int, Comm &ep) {
      distributeDispatch(ep, Tensor::zeros(DType::F32, {2, 4}),
                         Tensor::zeros(DType::I32, {2, 1}), nullptr, world,
                         experts, quant, 0, GroupListType::Cumsum);
    };
  };
  expectAllEq(dispatchErrors(2, call(4, 8, 0)),
              "npu.moe_distribute_dispatch: ep_world_size is 4 but the ep "
              "group has 2 ranks");
  expectAllEq(dispatchErrors(2, call(2, 7, 0)),
              "npu.moe_distribute_dispatch: moe_expert_num 7 is not a "
              "positive multiple of ep_world_size 2");
  expectAllEq(dispatchErrors(2, call(2, 8, 1)),
              "npu.moe_distribute_dispatch: quant_mode 1 is not supported (0: "
              "none, 2: dynamic per-row int8)");
}

TEST(Mc2Errors, BadIdsAndMask) {
  expectAllEq(dispatchErrors(3,
                             [](int r, Comm &ep) {
                               Tensor ids = Tensor::zeros(DType::I32, {2, 2});
                               if (r == 1)
                                 ids.data<int32_t>()[3] = 6;
                               distributeDispatch(
                                   ep, Tensor::zeros(DType::F32, {2, 4}), ids,
                                   nullptr, 3, 6, 0, 0, GroupListType::Count);
                             }),
              "npu.moe_distribute_dispatch: rank 1 routes token 1 to expert "
              "6, outside [0, 6)");
  // Ids of inactive (padding) tokens are not looked at.
  EXPECT_TRUE(allEmpty(dispatchErrors(2, [](int, Comm &ep) {
    Tensor ids = Tensor::zeros(DType::I32, {2, 1});
    ids.data<int32_t>()[1] = -5;
    Tensor mask = Tensor::zeros(DType::I1, {2});
    mask.bytes()[0] = 1;
    distributeDispatch(ep, Tensor::zeros(DType::F32, {2, 4}), ids, &mask, 2, 2,
                       0, 0, GroupListType::Count);
  })));
  expectAllEq(dispatchErrors(2,
                             [](int r, Comm &ep) {
                               Tensor mask = Tensor::zeros(DType::I1, {r ? 3 : 2});
                               distributeDispatch(
                                   ep, Tensor::zeros(DType::F32, {2, 4}),
                                   Tensor::zeros(DType::I32, {2, 1}), &mask, 2,
                                   2, 0, 0, GroupListType::Count);
                             }),
              "npu.moe_distribute_dispatch: rank 1 passes the mask "
              "tensor<3xi1> for 2 tokens, expected 2xi1");
  expectAllEq(dispatchErrors(2,
                             [](int r, Comm &ep) {
                               distributeDispatch(
                                   ep, Tensor::zeros(DType::F32, {2, 4}),
                                   Tensor::zeros(DType::I32, {r ? 3 : 2, 1}),
                                   nullptr, 2, 2, 0, 0, GroupListType::Count);
                             }),
              "npu.moe_distribute_dispatch: rank 1 passes expert ids "
              "tensor<3x1xi32>, expected 2xK i32");
}

TEST(Mc2Errors, CombineChecksTheExchange) {
  const int ranks = 3;
  for (int tamper : {0, 1}) {
    auto world = epWorld(ranks);
    auto errors = runRanks(*world, [&](int r) {
      Comm &ep = world->comm(r, Group::EP, 0);
      const int64_t t = 4;
      Tensor x = floatTensor(DType::F32, {t, 2},
                             [](int64_t i) { return static_cast<float>(i); });
      Tensor ids = Tensor::empty(DType::I32, {t, 1});
      for (int64_t i = 0; i < t; ++i)
        ids.data<int32_t>()[i] = 2; // every token of every rank to rank 1
      Tensor w = Tensor::zeros(DType::F32, {t, 1});
      auto d = distributeDispatch(ep, x, ids, nullptr, ranks, ranks * 2, 0, 0,
                                  GroupListType::Cumsum);
      if (r == 1 && tamper == 0) {
        // Swap two rows' source pairs of rank 0's block.
        Tensor idx = Tensor::empty(DType::I32, {d.expandIdx.numel()});
        std::memcpy(idx.bytes(), d.expandIdx.bytes(), idx.nbytes());
        std::swap(idx.data<int32_t>()[1], idx.data<int32_t>()[2]);
        d.expandIdx = idx;
      }
      if (r == 2 && tamper == 1) {
        Tensor counts = Tensor::zeros(DType::I32, {6}); // receives nothing
        counts.data<int32_t>()[4] = 1;
        d.epRecvCounts = counts;
      }
      distributeCombine(ep, d.expandX, ids, d.expandIdx, d.epRecvCounts, w,
                        nullptr, nullptr, ranks, ranks * 2);
    });
    if (tamper == 0) {
      // Only the owner of the tokens notices; the others completed.
      EXPECT_EQ(errors[0], "npu.moe_distribute_combine: rank 1 returns pair "
                           "2 where rank 0 dispatched pair 1 (expand_idx does "
                           "not match the dispatch)");
      EXPECT_EQ(errors[1], "");
      EXPECT_EQ(errors[2], "");
    } else {
      expectAllEq(errors, "npu.moe_distribute_combine: rank 2's "
                          "ep_send_counts add up to 1 rows, expand_x has 0");
    }
  }
}

TEST(Mc2Errors, PeersAndInnerCollectives) {
  auto dispatch = [](Comm &ep, int64_t h) {
    distributeDispatch(ep, Tensor::zeros(DType::F32, {2, h}),
                       Tensor::zeros(DType::I32, {2, 1}), nullptr, ep.size(),
                       2 * ep.size(), 0, 0, GroupListType::Cumsum);
  };
  auto errors = dispatchErrors(3, [&](int r, Comm &ep) {
    if (r == 2)
      throw std::runtime_error("boom");
    dispatch(ep, 4);
  });
  EXPECT_EQ(errors[2], "boom");
  for (int r : {0, 1})
    EXPECT_EQ(errors[r],
              "npu.moe_distribute_dispatch: exchange: rank 2 failed: boom");
  expectAllEq(dispatchErrors(2,
                             [&](int r, Comm &ep) { dispatch(ep, 4 + r); }),
              "npu.moe_distribute_dispatch: npu.all_to_all_v: rank 0 passes "
              "tensor<2x4xf32>, rank 1 passes tensor<2x5xf32>; the type and "
              "all but the first dimension must agree (the ep group [0, 1] on "
              "channel 0)");
}
