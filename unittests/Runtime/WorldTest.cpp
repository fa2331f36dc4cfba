//===- WorldTest.cpp - layouts, the thread world and its collectives ------===//

#include "RankThreads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <stdexcept>

using namespace moert;
using namespace moert::testing;

namespace {

const Group kGroups[] = {Group::World, Group::TP, Group::DP, Group::EP,
                         Group::PCP};

/// Layouts of 1, 2, 3, 4 and 8 ranks, with and without expert parallelism,
/// some with prefill context parallelism (pcp > 1).
std::vector<Layout> layouts() {
  std::vector<Layout> out;
  struct Sizes {
    int tp, dp, pcp;
  };
  for (Sizes s : std::vector<Sizes>{
           {1, 1, 1}, {2, 1, 1}, {1, 2, 1}, {3, 1, 1}, {1, 3, 1}, {2, 2, 1},
           {4, 1, 1}, {1, 4, 1}, {4, 2, 1}, {2, 4, 1}, {8, 1, 1}, {1, 8, 1},
           {1, 1, 2}, {2, 1, 2}, {1, 2, 2}, {2, 2, 2}, {1, 2, 4}})
    for (bool ep : {false, true}) {
      Layout l;
      l.tp = s.tp;
      l.dp = s.dp;
      l.pcp = s.pcp;
      l.expertParallel = ep;
      out.push_back(l);
    }
  return out;
}

std::string describe(const Layout &l) {
  return "tp=" + std::to_string(l.tp) + " dp=" + std::to_string(l.dp) +
         " pcp=" + std::to_string(l.pcp) + (l.expertParallel ? " ep" : "");
}

/// Members by the definition of SEMANTICS §1 (rank = (dp_rank * pcp +
/// pcp_rank) * tp + tp_rank), independently of Layout: a group holds the
/// ranks that agree with r on every coordinate but its own.
std::vector<int> expectedMembers(const Layout &l, Group g, int r) {
  auto tpOf = [&](int q) { return q % l.tp; };
  auto pcpOf = [&](int q) { return (q / l.tp) % l.pcp; };
  auto dpOf = [&](int q) { return q / (l.tp * l.pcp); };
  std::vector<int> out;
  for (int q = 0; q < l.worldSize(); ++q) {
    bool in = false;
    switch (g) {
    case Group::World:
      in = true;
      break;
    case Group::TP:
      in = dpOf(q) == dpOf(r) && pcpOf(q) == pcpOf(r);
      break;
    case Group::DP:
      in = pcpOf(q) == pcpOf(r) && tpOf(q) == tpOf(r);
      break;
    case Group::PCP:
      in = dpOf(q) == dpOf(r) && tpOf(q) == tpOf(r);
      break;
    case Group::EP:
      in = l.useEp() || q == r;
      break;
    }
    if (in)
      out.push_back(q);
  }
  return out;
}

/// Values whose sum depends on the order of addition.
float wideValue(std::mt19937 &rng) {
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-24, 24);
  return std::ldexp(mant(rng), exp(rng));
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// Every rank's error equals `message` (all throw the same).
void expectAll(const std::vector<std::string> &errors,
               const std::string &message) {
  for (size_t r = 0; r < errors.size(); ++r)
    EXPECT_EQ(errors[r], message) << "rank " << r;
}

/// Runs stream(0) and stream(1) (two streams of rank `rank`) on two
/// threads; an error aborts the world and is rethrown.
void runStreams(World &world, int rank,
                const std::function<void(int)> &stream) {
  std::exception_ptr errors[2];
  auto run = [&](int channel) {
    try {
      stream(channel);
    } catch (const std::exception &e) {
      errors[channel] = std::current_exception();
      world.abort(rank, e.what());
    }
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  for (auto &e : errors)
    if (e)
      std::rethrow_exception(e);
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

} // namespace

//===----------------------------------------------------------------------===//
// Layout and groups
//===----------------------------------------------------------------------===//

TEST(Layout, Members) {
  Layout l;
  l.tp = 2;
  l.dp = 3;
  EXPECT_EQ(l.members(Group::TP, 3), (std::vector<int>{2, 3}));
  EXPECT_EQ(l.members(Group::DP, 3), (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(l.members(Group::EP, 3), (std::vector<int>{3}));
  EXPECT_EQ(l.members(Group::World, 3), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  l.expertParallel = true;
  EXPECT_EQ(l.members(Group::EP, 3), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(l.epSize(), 6);
  EXPECT_THROW(l.members(Group::TP, 6), Error);
  EXPECT_THROW(l.members(Group::TP, -1), Error);
  Layout one;
  one.expertParallel = true; // one device: no expert parallelism
  EXPECT_FALSE(one.useEp());
  EXPECT_EQ(one.members(Group::EP, 0), (std::vector<int>{0}));
  EXPECT_STREQ(groupName(Group::World), "world");
  EXPECT_STREQ(groupName(Group::TP), "tp");
  EXPECT_STREQ(groupName(Group::DP), "dp");
  EXPECT_STREQ(groupName(Group::EP), "ep");
  EXPECT_STREQ(groupName(Group::PCP), "pcp");
}

TEST(Layout, PrefillContextParallelMembers) {
  // dp 2 x pcp 2 x tp 2: rank 5 = (dp_rank 1 * 2 + pcp_rank 0) * 2 + 1.
  Layout l;
  l.tp = 2;
  l.dp = 2;
  l.pcp = 2;
  EXPECT_EQ(l.worldSize(), 8);
  EXPECT_EQ(l.members(Group::TP, 5), (std::vector<int>{4, 5}));
  EXPECT_EQ(l.members(Group::PCP, 5), (std::vector<int>{5, 7}));
  EXPECT_EQ(l.members(Group::DP, 5), (std::vector<int>{1, 5}));
  EXPECT_EQ(l.members(Group::EP, 5), (std::vector<int>{5}));
  l.expertParallel = true;
  EXPECT_EQ(l.epSize(), 8);
  EXPECT_EQ(l.members(Group::EP, 5).size(), 8u);
  // pcp 1 is the layout without prefill context parallelism.
  Layout flat;
  flat.tp = 2;
  flat.dp = 2;
  EXPECT_EQ(flat.members(Group::PCP, 3), (std::vector<int>{3}));
  Layout bad;
  bad.pcp = 0;
  EXPECT_THROW(bad.members(Group::TP, 0), Error);
}

TEST(Layout, MembersOfEveryLayout) {
  for (const Layout &l : layouts())
    for (Group g : kGroups)
      for (int r = 0; r < l.worldSize(); ++r)
        EXPECT_EQ(l.members(g, r), expectedMembers(l, g, r))
            << describe(l) << " group " << groupName(g) << " rank " << r;
}

TEST(ThreadWorld, CommsMatchMembers) {
  for (const Layout &l : layouts()) {
    auto world = createThreadWorld(l, 10);
    EXPECT_EQ(world->localRanks().size(), static_cast<size_t>(l.worldSize()));
    for (Group g : kGroups)
      for (int r = 0; r < l.worldSize(); ++r) {
        std::vector<int> m = l.members(g, r);
        Comm &c = world->comm(r, g, 0);
        EXPECT_EQ(c.size(), static_cast<int>(m.size()));
        EXPECT_EQ(m[static_cast<size_t>(c.rank())], r);
        EXPECT_EQ(&world->comm(r, g, 0), &c); // one per (rank, group, channel)
        EXPECT_NE(&world->comm(r, g, 1), &c);
      }
    EXPECT_THROW(world->comm(static_cast<int>(l.worldSize()), Group::TP, 0),
                 Error);
    EXPECT_THROW(world->comm(0, Group::TP, -1), Error);
  }
}

//===----------------------------------------------------------------------===//
// Results of every collective on every group of every layout
//===----------------------------------------------------------------------===//

TEST(ThreadWorld, AllGatherUnevenRows) {
  for (const Layout &l : layouts()) {
    auto world = createThreadWorld(l, 30);
    for (Group g : kGroups) {
      // Rank r passes r % 3 rows (some none) of 2x3 values naming it.
      auto input = [](int r, DType dtype) {
        return floatTensor(dtype, {r % 3, 2, 3}, [r](int64_t i) {
          return static_cast<float>(r * 100 + i);
        });
      };
      std::vector<Tensor> got(static_cast<size_t>(l.worldSize()));
      auto errors = runRanks(*world, [&](int r) {
        got[static_cast<size_t>(r)] =
            world->comm(r, g, 0).allGather(input(r, DType::BF16));
      });
      ASSERT_TRUE(allEmpty(errors)) << errors[0];
      for (int r = 0; r < l.worldSize(); ++r) {
        std::vector<Tensor> parts;
        for (int m : l.members(g, r))
          parts.push_back(input(m, DType::BF16));
        int64_t rows = 0;
        for (const Tensor &p : parts)
          rows += p.rows();
        Tensor expect = Tensor::empty(DType::BF16, {rows, 2, 3});
        size_t at = 0;
        for (const Tensor &p : parts) {
          std::memcpy(expect.bytes() + at, p.bytes(), p.nbytes());
          at += p.nbytes();
        }
        EXPECT_TRUE(sameBytes(got[static_cast<size_t>(r)], expect))
            << describe(l) << " " << groupName(g) << " rank " << r;
      }
    }
  }
}

TEST(ThreadWorld, AllGatherIntegerTypes) {
  Layout l;
  l.dp = 3;
  auto world = createThreadWorld(l, 30);
  std::vector<Tensor> i8(3), i4(3), i64(3);
  auto errors = runRanks(*world, [&](int r) {
    Comm &c = world->comm(r, Group::DP, 0);
    Tensor a = Tensor::empty(DType::I8, {r, 3});
    for (int i = 0; i < 3 * r; ++i)
      a.data<int8_t>()[i] = static_cast<int8_t>(-10 * r - i);
    i8[static_cast<size_t>(r)] = c.allGather(a);
    Tensor b = Tensor::zeros(DType::I4, {1, 4});
    for (int i = 0; i < 4; ++i)
      setI4(b.bytes(), i, static_cast<int8_t>(r - i));
    i4[static_cast<size_t>(r)] = c.allGather(b);
    Tensor d = Tensor::empty(DType::I64, {2});
    d.data<int64_t>()[0] = int64_t(1) << (40 + r);
    d.data<int64_t>()[1] = -r;
    i64[static_cast<size_t>(r)] = c.allGather(d);
  });
  ASSERT_TRUE(allEmpty(errors));
  for (int r = 0; r < 3; ++r) {
    const Tensor &a = i8[static_cast<size_t>(r)];
    ASSERT_EQ(a.shape, (std::vector<int64_t>{3, 3}));
    int8_t expect[] = {-10, -11, -12, -20, -21, -22, -23, -24, -25};
    for (int i = 0; i < 9; ++i)
      EXPECT_EQ(a.data<int8_t>()[i], expect[i]);
    const Tensor &b = i4[static_cast<size_t>(r)];
    ASSERT_EQ(b.shape, (std::vector<int64_t>{3, 4}));
    for (int m = 0; m < 3; ++m)
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(getI4(b.bytes(), m * 4 + i), m - i);
    const Tensor &d = i64[static_cast<size_t>(r)];
    ASSERT_EQ(d.shape, (std::vector<int64_t>{6}));
    for (int m = 0; m < 3; ++m) {
      EXPECT_EQ(d.data<int64_t>()[2 * m], int64_t(1) << (40 + m));
      EXPECT_EQ(d.data<int64_t>()[2 * m + 1], -m);
    }
  }
}

TEST(ThreadWorld, AllReduceSumIsRankOrderedBitForBit) {
  for (const Layout &l : layouts()) {
    auto world = createThreadWorld(l, 30);
    const int n = static_cast<int>(l.worldSize());
    const int64_t elems = 257;
    std::vector<std::vector<float>> values(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) {
      std::mt19937 rng(1234 + r);
      for (int64_t i = 0; i < elems; ++i)
        values[static_cast<size_t>(r)].push_back(wideValue(rng));
    }
    for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
      for (Group g : kGroups) {
        auto input = [&](int r) {
          return floatTensor(dtype, {elems}, [&](int64_t i) {
            return values[static_cast<size_t>(r)][static_cast<size_t>(i)];
          });
        };
        std::vector<Tensor> got(static_cast<size_t>(n));
        auto errors = runRanks(*world, [&](int r) {
          got[static_cast<size_t>(r)] =
              world->comm(r, g, 0).allReduce(input(r), ReduceKind::Sum);
        });
        ASSERT_TRUE(allEmpty(errors)) << errors[0];
        for (int r = 0; r < n; ++r) {
          std::vector<int> m = l.members(g, r);
          // Serial f32 sum in group-rank order of the inputs as stored,
          // rounded once.
          std::vector<float> acc(elems), next(elems);
          loadF32(input(m[0]), 0, elems, acc.data());
          for (size_t j = 1; j < m.size(); ++j) {
            loadF32(input(m[j]), 0, elems, next.data());
            for (int64_t i = 0; i < elems; ++i)
              acc[i] += next[i];
          }
          Tensor expect = Tensor::empty(dtype, {elems});
          storeF32(expect, 0, elems, acc.data());
          EXPECT_TRUE(sameBytes(got[static_cast<size_t>(r)], expect))
              << describe(l) << " " << groupName(g) << " " << dtypeName(dtype)
              << " rank " << r;
          if (dtype == DType::F32 && m.size() >= 3) {
            // The check can tell orders apart: the reverse order differs.
            int differ = 0;
            for (int64_t i = 0; i < elems; ++i) {
              float rev = values[static_cast<size_t>(m.back())][i];
              for (size_t j = m.size() - 1; j-- > 0;)
                rev += values[static_cast<size_t>(m[j])][i];
              differ += rev != acc[i];
            }
            EXPECT_GT(differ, 0) << describe(l);
          }
        }
      }
    }
  }
}

TEST(ThreadWorld, AllReduceMaxAndIntegers) {
  Layout l;
  l.tp = 2;
  l.dp = 2;
  auto world = createThreadWorld(l, 30);
  std::vector<Tensor> fmax(4), isum(4), imax(4), lsum(4), scalarShape(4);
  auto errors = runRanks(*world, [&](int r) {
    Comm &c = world->comm(r, Group::World, 0);
    Tensor f = Tensor::empty(DType::F32, {2, 2});
    float fv[4][4] = {{1, -5, NAN, 0},
                      {2, -7, 0, -0.0f},
                      {-1, -6, 3, 1},
                      {0, -9, 4, 2}};
    std::memcpy(f.bytes(), fv[r], sizeof(fv[r]));
    fmax[r] = c.allReduce(f, ReduceKind::Max);
    Tensor i = Tensor::empty(DType::I32, {3});
    i.data<int32_t>()[0] = INT32_MAX; // wraps instead of being UB
    i.data<int32_t>()[1] = -r;
    i.data<int32_t>()[2] = r * r;
    isum[r] = c.allReduce(i, ReduceKind::Sum);
    imax[r] = c.allReduce(i, ReduceKind::Max);
    Tensor j = Tensor::empty(DType::I64, {1});
    j.data<int64_t>()[0] = (int64_t(1) << 40) * (r + 1);
    lsum[r] = c.allReduce(j, ReduceKind::Sum);
    Tensor s = Tensor::empty(DType::F32, {}); // a rank-0 tensor
    s.data<float>()[0] = 0.5f * r;
    scalarShape[r] = c.allReduce(s, ReduceKind::Sum);
  });
  ASSERT_TRUE(allEmpty(errors)) << errors[0];
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(fmax[r].data<float>()[0], 2.0f);
    EXPECT_EQ(fmax[r].data<float>()[1], -5.0f);
    EXPECT_TRUE(std::isnan(fmax[r].data<float>()[2])); // NaN propagates
    EXPECT_EQ(fmax[r].data<float>()[3], 2.0f);
    EXPECT_EQ(isum[r].data<int32_t>()[0],
              static_cast<int32_t>(uint32_t(INT32_MAX) * 4u));
    EXPECT_EQ(isum[r].data<int32_t>()[1], -6);
    EXPECT_EQ(isum[r].data<int32_t>()[2], 14);
    EXPECT_EQ(imax[r].data<int32_t>()[1], 0);
    EXPECT_EQ(imax[r].data<int32_t>()[2], 9);
    EXPECT_EQ(lsum[r].data<int64_t>()[0], (int64_t(1) << 40) * 10);
    EXPECT_TRUE(scalarShape[r].shape.empty());
    EXPECT_EQ(scalarShape[r].data<float>()[0], 3.0f);
  }
}

TEST(ThreadWorld, ReduceScatterKeepsOwnChunk) {
  for (const Layout &l : layouts()) {
    auto world = createThreadWorld(l, 30);
    const int n = static_cast<int>(l.worldSize());
    for (Group g : {Group::World, Group::TP, Group::DP}) {
      for (DType dtype : {DType::F32, DType::BF16}) {
        // Every member of a group passes size * 2 rows of 5 values.
        auto input = [&](int r, int64_t rows) {
          std::mt19937 rng(99 + r);
          return floatTensor(dtype, {rows, 5},
                             [&](int64_t) { return wideValue(rng); });
        };
        std::vector<Tensor> got(static_cast<size_t>(n));
        auto errors = runRanks(*world, [&](int r) {
          Comm &c = world->comm(r, g, 0);
          got[static_cast<size_t>(r)] =
              c.reduceScatter(input(r, 2 * c.size()));
        });
        ASSERT_TRUE(allEmpty(errors)) << errors[0];
        for (int r = 0; r < n; ++r) {
          std::vector<int> m = l.members(g, r);
          const int64_t rows = 2 * static_cast<int64_t>(m.size());
          const int64_t me =
              std::find(m.begin(), m.end(), r) - m.begin();
          std::vector<float> acc(10), next(10);
          loadF32(input(m[0], rows), me * 10, 10, acc.data());
          for (size_t j = 1; j < m.size(); ++j) {
            loadF32(input(m[j], rows), me * 10, 10, next.data());
            for (int i = 0; i < 10; ++i)
              acc[i] += next[i];
          }
          Tensor expect = Tensor::empty(dtype, {2, 5});
          storeF32(expect, 0, 10, acc.data());
          EXPECT_TRUE(sameBytes(got[static_cast<size_t>(r)], expect))
              << describe(l) << " " << groupName(g) << " rank " << r;
        }
      }
    }
  }
}

TEST(ThreadWorld, AllToAllVUnevenSplits) {
  for (const Layout &l : layouts()) {
    auto world = createThreadWorld(l, 30);
    const int n = static_cast<int>(l.worldSize());
    for (Group g : kGroups) {
      // Member i sends (i + p) % 3 rows to member p (some none); every
      // row names (source, destination, index).
      auto rowsTo = [](int64_t i, int64_t p) { return (i + p) % 3; };
      std::vector<Tensor> got(static_cast<size_t>(n));
      auto errors = runRanks(*world, [&](int r) {
        Comm &c = world->comm(r, g, 0);
        std::vector<int64_t> send, recv;
        int64_t rows = 0;
        for (int p = 0; p < c.size(); ++p) {
          send.push_back(rowsTo(c.rank(), p));
          recv.push_back(rowsTo(p, c.rank()));
          rows += send.back();
        }
        Tensor x = Tensor::empty(DType::I64, {rows, 2});
        int64_t at = 0;
        for (int p = 0; p < c.size(); ++p)
          for (int64_t j = 0; j < send[p]; ++j, ++at) {
            x.data<int64_t>()[2 * at] = c.rank() * 100 + p;
            x.data<int64_t>()[2 * at + 1] = j;
          }
        got[static_cast<size_t>(r)] = c.allToAllV(x, send, recv);
      });
      ASSERT_TRUE(allEmpty(errors)) << errors[0];
      for (int r = 0; r < n; ++r) {
        std::vector<int> m = l.members(g, r);
        const int64_t me = std::find(m.begin(), m.end(), r) - m.begin();
        const Tensor &t = got[static_cast<size_t>(r)];
        int64_t at = 0;
        for (int64_t q = 0; q < static_cast<int64_t>(m.size()); ++q)
          for (int64_t j = 0; j < rowsTo(q, me); ++j, ++at) {
            ASSERT_LT(at, t.rows());
            EXPECT_EQ(t.data<int64_t>()[2 * at], q * 100 + me);
            EXPECT_EQ(t.data<int64_t>()[2 * at + 1], j);
          }
        EXPECT_EQ(t.rows(), at) << describe(l);
        EXPECT_EQ(t.shape.size(), 2u);
      }
    }
  }
}

TEST(ThreadWorld, ScalarsAndExchange) {
  for (int n : {1, 2, 3, 4, 8}) {
    Layout l;
    l.tp = n;
    auto world = createThreadWorld(l, 30);
    std::vector<int64_t> sum(n), max(n);
    std::vector<std::vector<std::vector<uint8_t>>> got(n);
    auto errors = runRanks(*world, [&](int r) {
      Comm &c = world->comm(r, Group::TP, 0);
      sum[r] = c.allReduceScalar(r * 10 - 7, ReduceKind::Sum);
      max[r] = c.allReduceScalar(r == n / 2 ? 1000 : -r, ReduceKind::Max);
      std::vector<std::vector<uint8_t>> blobs(n);
      for (int p = 0; p < n; ++p) // (r + p) % 4 bytes, some empty
        for (int j = 0; j < (r + p) % 4; ++j)
          blobs[p].push_back(static_cast<uint8_t>(r * 16 + p));
      got[r] = c.exchange(blobs);
    });
    ASSERT_TRUE(allEmpty(errors)) << errors[0];
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(sum[r], 10 * n * (n - 1) / 2 - 7 * n);
      EXPECT_EQ(max[r], 1000);
      ASSERT_EQ(got[r].size(), static_cast<size_t>(n));
      for (int p = 0; p < n; ++p)
        EXPECT_EQ(got[r][p], std::vector<uint8_t>((p + r) % 4,
                                                  static_cast<uint8_t>(p * 16 + r)));
    }
  }
}

//===----------------------------------------------------------------------===//
// Channels: collectives of different streams never pair up
//===----------------------------------------------------------------------===//

TEST(ThreadWorld, ChannelsDoNotMix) {
  Layout l;
  l.tp = 2;
  l.dp = 2;
  auto world = createThreadWorld(l, 30);
  const int iters = 40;
  std::mutex mu;
  std::vector<std::string> failures;
  // Each rank runs two streams (threads), one per channel. Even ranks
  // start channel 1 late, odd ranks channel 0, so a rank's collectives of
  // the two channels interleave differently on every rank.
  auto errors = runRanks(*world, [&](int r) {
    auto stream = [&](int channel) {
      if ((r % 2) != channel)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      Comm &c = world->comm(r, Group::World, channel);
      for (int i = 0; i < iters; ++i) {
        Tensor x = Tensor::empty(DType::I64, {1});
        x.data<int64_t>()[0] = channel * 1000000 + i * 100 + r;
        Tensor g = c.allGather(x);
        for (int p = 0; p < 4; ++p)
          if (g.data<int64_t>()[p] != channel * 1000000 + i * 100 + p) {
            std::lock_guard<std::mutex> lock(mu);
            failures.push_back("channel " + std::to_string(channel) +
                               " call " + std::to_string(i) + " rank " +
                               std::to_string(r));
          }
        int64_t s = c.allReduceScalar(channel + 1, ReduceKind::Sum);
        if (s != 4 * (channel + 1)) {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back("scalar mixed channels");
        }
      }
    };
    runStreams(*world, r, stream);
  });
  EXPECT_TRUE(allEmpty(errors)) << errors[0];
  EXPECT_TRUE(failures.empty()) << failures.front();
}

TEST(ThreadWorld, GroupsOfOneRankAreLocal) {
  Layout l;
  l.tp = 3; // ep is one rank per group
  auto world = createThreadWorld(l, 0.2);
  // Only rank 1 calls: its ep group is itself, so nothing waits.
  Comm &c = world->comm(1, Group::EP, 0);
  EXPECT_EQ(c.size(), 1);
  Tensor x = Tensor::zeros(DType::F32, {2, 2});
  x.data<float>()[3] = 1.5f;
  EXPECT_TRUE(sameBytes(c.allReduce(x, ReduceKind::Sum), x));
  EXPECT_TRUE(sameBytes(c.allGather(x), x));
  EXPECT_TRUE(sameBytes(c.reduceScatter(x), x));
  EXPECT_TRUE(sameBytes(c.allToAllV(x, {2}, {2}), x));
  EXPECT_EQ(c.allReduceScalar(5, ReduceKind::Max), 5);
  EXPECT_THROW(c.allToAllV(x, {1}, {1}), Error);
  EXPECT_FALSE(world->aborted());
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

namespace {
/// Runs fn on every rank of a world of `n` tp ranks, catching errors
/// without aborting the world, then checks that the world still works.
std::vector<std::string>
symmetricErrors(int n, const std::function<void(Comm &, int)> &fn) {
  Layout l;
  l.tp = n;
  auto world = createThreadWorld(l, 30);
  std::vector<std::string> caught(static_cast<size_t>(n));
  std::vector<int64_t> after(static_cast<size_t>(n));
  auto errors = runRanks(*world, [&](int r) {
    Comm &c = world->comm(r, Group::TP, 0);
    try {
      fn(c, r);
    } catch (const Error &e) {
      caught[static_cast<size_t>(r)] = e.what();
    }
    // The failed call was symmetric: the communicator stays usable.
    after[static_cast<size_t>(r)] = c.allReduceScalar(1, ReduceKind::Sum);
  });
  EXPECT_TRUE(allEmpty(errors)) << errors[0];
  for (int64_t a : after)
    EXPECT_EQ(a, n);
  EXPECT_FALSE(world->aborted());
  return caught;
}
} // namespace

TEST(ThreadWorldErrors, AllGatherMismatch) {
  expectAll(symmetricErrors(3,
                            [](Comm &c, int r) {
                              c.allGather(Tensor::zeros(DType::F32,
                                                        {2, r == 1 ? 4 : 3}));
                            }),
            "npu.all_gather: rank 0 passes tensor<2x3xf32>, rank 1 passes "
            "tensor<2x4xf32>; the type and all but the first dimension must "
            "agree (the tp group [0, 1, 2] on channel 0)");
  expectAll(symmetricErrors(2,
                            [](Comm &c, int r) {
                              c.allGather(Tensor::zeros(
                                  r ? DType::BF16 : DType::F32, {1, 3}));
                            }),
            "npu.all_gather: rank 0 passes tensor<1x3xf32>, rank 1 passes "
            "tensor<1x3xbf16>; the type and all but the first dimension must "
            "agree (the tp group [0, 1] on channel 0)");
}

TEST(ThreadWorldErrors, ReduceScatterMismatch) {
  expectAll(symmetricErrors(3,
                            [](Comm &c, int) {
                              c.reduceScatter(Tensor::zeros(DType::F32, {4, 2}));
                            }),
            "npu.reduce_scatter: tensor<4x2xf32> has no rows divisible by "
            "the 3 ranks of the tp group [0, 1, 2] on channel 0");
  expectAll(symmetricErrors(2,
                            [](Comm &c, int r) {
                              c.reduceScatter(
                                  Tensor::zeros(DType::F32, {2 + 2 * r, 2}));
                            }),
            "npu.reduce_scatter: rank 0 passes tensor<2x2xf32>, rank 1 "
            "passes tensor<4x2xf32>; shapes and types must agree (the tp "
            "group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [](Comm &c, int) {
                              c.reduceScatter(Tensor::zeros(DType::I32, {2}));
                            }),
            "npu.reduce_scatter: cannot reduce tensor<2xi32> (f32, bf16 or "
            "f16)");
}

TEST(ThreadWorldErrors, AllReduceMismatch) {
  expectAll(symmetricErrors(2,
                            [](Comm &c, int r) {
                              c.allReduce(Tensor::zeros(DType::F32, {3 + r}),
                                          ReduceKind::Sum);
                            }),
            "npu.all_reduce: rank 0 passes tensor<3xf32>, rank 1 passes "
            "tensor<4xf32>; shapes and types must agree (the tp group [0, 1] "
            "on channel 0)");
  expectAll(symmetricErrors(2,
                            [](Comm &c, int r) {
                              c.allReduce(Tensor::zeros(DType::F32, {3}),
                                          r ? ReduceKind::Max
                                            : ReduceKind::Sum);
                            }),
            "npu.all_reduce: rank 0 asks for sum, rank 1 for max (the tp "
            "group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [](Comm &c, int) {
                              c.allReduce(Tensor::zeros(DType::I8, {3}),
                                          ReduceKind::Sum);
                            }),
            "npu.all_reduce: cannot reduce tensor<3xi8> (f32, bf16, f16, i32 "
            "or i64)");
}

TEST(ThreadWorldErrors, AllToAllVMismatch) {
  Tensor x = Tensor::zeros(DType::F32, {3, 2});
  expectAll(symmetricErrors(2,
                            [&](Comm &c, int) {
                              c.allToAllV(x, {1, 1, 1}, {1, 1});
                            }),
            "npu.all_to_all_v: rank 0 passes 3 send and 2 receive splits; "
            "the group has 2 ranks (the tp group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [&](Comm &c, int r) {
                              if (r)
                                c.allToAllV(x, {4, -1}, {4, 1});
                              else
                                c.allToAllV(x, {1, 2}, {1, 1});
                            }),
            "npu.all_to_all_v: rank 1 passes a negative split for rank 1 "
            "(the tp group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [&](Comm &c, int) {
                              c.allToAllV(x, {1, 1}, {1, 1});
                            }),
            "npu.all_to_all_v: rank 0 sends 2 rows of tensor<3x2xf32> (the "
            "tp group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [&](Comm &c, int r) {
                              c.allToAllV(x, {1, 2}, {1, r ? 1 : 2});
                            }),
            "npu.all_to_all_v: rank 0 expects 2 rows from rank 1, which "
            "sends it 1 (the tp group [0, 1] on channel 0)");
  expectAll(symmetricErrors(2,
                            [&](Comm &c, int r) {
                              c.allToAllV(r ? convertFloat(x, DType::F16) : x,
                                          {1, 2}, {1, 1});
                            }),
            "npu.all_to_all_v: rank 0 passes tensor<3x2xf32>, rank 1 passes "
            "tensor<3x2xf16>; the type and all but the first dimension must "
            "agree (the tp group [0, 1] on channel 0)");
}

TEST(ThreadWorldErrors, ExchangeAndCollectiveMismatch) {
  expectAll(symmetricErrors(3,
                            [](Comm &c, int r) {
                              c.exchange(std::vector<std::vector<uint8_t>>(
                                  r == 2 ? 2 : 3));
                            }),
            "exchange: rank 2 passes 2 blobs; the group has 3 ranks (the tp "
            "group [0, 1, 2] on channel 0)");
  // Every rank names its own op first, then the mismatch.
  auto caught = symmetricErrors(2, [](Comm &c, int r) {
    Tensor x = Tensor::zeros(DType::F32, {2});
    if (r)
      c.allReduce(x, ReduceKind::Sum);
    else
      c.allGather(x);
  });
  EXPECT_EQ(caught[0], "npu.all_gather: collectives do not match on the tp "
                       "group [0, 1] on channel 0 (call #0): rank 0 calls "
                       "npu.all_gather, rank 1 calls npu.all_reduce");
  EXPECT_EQ(caught[1], "npu.all_reduce: collectives do not match on the tp "
                       "group [0, 1] on channel 0 (call #0): rank 0 calls "
                       "npu.all_gather, rank 1 calls npu.all_reduce");
}

TEST(ThreadWorldErrors, FailedRankFailsOthers) {
  for (int waitFirst : {0, 1}) {
    Layout l;
    l.tp = 4;
    auto world = createThreadWorld(l, 30);
    std::vector<std::string> later(4);
    auto errors = runRanks(*world, [&](int r) {
      Comm &c = world->comm(r, Group::TP, 0);
      if (r == 2) {
        // Fail before (waitFirst = 0) or while (1) the others wait.
        if (waitFirst)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        throw std::runtime_error("boom");
      }
      try {
        c.allGather(Tensor::zeros(DType::F32, {1, 2}));
      } catch (const Error &e) {
        later[r] = std::string("first: ") + e.what();
        try {
          world->comm(r, Group::DP, 3).allReduceScalar(1, ReduceKind::Sum);
        } catch (const Error &e2) {
          later[r] += std::string(" later: ") + e2.what();
        }
        throw;
      }
    });
    EXPECT_EQ(errors[2], "boom");
    EXPECT_TRUE(world->aborted());
    for (int r : {0, 1, 3}) {
      EXPECT_EQ(errors[r], "npu.all_gather: rank 2 failed: boom");
      EXPECT_EQ(later[r], "first: npu.all_gather: rank 2 failed: boom later: "
                          "npu.all_reduce_scalar: rank 2 failed: boom");
    }
  }
}

TEST(ThreadWorldErrors, MissingRankTimesOut) {
  Layout l;
  l.tp = 4;
  auto world = createThreadWorld(l, 0.5);
  auto start = std::chrono::steady_clock::now();
  std::vector<double> took(4);
  auto errors = runRanks(*world, [&](int r) {
    if (r == 1)
      return; // never arrives
    try {
      world->comm(r, Group::TP, 0)
          .allReduce(Tensor::zeros(DType::F32, {8}), ReduceKind::Sum);
    } catch (...) {
      took[r] = secondsSince(start);
      throw;
    }
  });
  EXPECT_TRUE(world->aborted());
  EXPECT_EQ(errors[1], "");
  int timedOut = 0;
  for (int r : {0, 2, 3}) {
    EXPECT_GE(took[r], 0.45) << errors[r];
    EXPECT_LT(took[r], 5.0) << errors[r];
    // The first rank to give up reports the timeout, the others its
    // failure; both name the collective, the group and the missing rank.
    const std::string own =
        "npu.all_reduce: timed out after 0.5 s in npu.all_reduce on the tp "
        "group [0, 1, 2, 3] on channel 0 (call #0) waiting for rank 1";
    if (errors[r] == own) {
      ++timedOut;
      continue;
    }
    EXPECT_TRUE(contains(errors[r], "npu.all_reduce: rank ") &&
                contains(errors[r], " failed: timed out after 0.5 s in "
                                    "npu.all_reduce on the tp group [0, 1, 2, "
                                    "3] on channel 0 (call #0) waiting for "
                                    "rank 1"))
        << errors[r];
  }
  EXPECT_GE(timedOut, 1);
  // Later collectives fail at once.
  EXPECT_THROW(world->comm(1, Group::TP, 0).allGather(Tensor::zeros(
                   DType::F32, {1})),
               Error);
}

TEST(ThreadWorldErrors, TimeoutNamesEveryMissingRank) {
  Layout l;
  l.dp = 4;
  auto world = createThreadWorld(l, 0.3);
  auto errors = runRanks(*world, [&](int r) {
    if (r == 2)
      world->comm(r, Group::DP, 5).allReduceScalar(1, ReduceKind::Sum);
  });
  EXPECT_EQ(errors[2],
            "npu.all_reduce_scalar: timed out after 0.3 s in "
            "npu.all_reduce_scalar on the dp group [0, 1, 2, 3] on channel 5 "
            "(call #0) waiting for ranks 0, 1, 3");
}

TEST(ThreadWorldErrors, AbortWakesEveryChannelAndGroup) {
  Layout l;
  l.tp = 2;
  l.dp = 2;
  auto world = createThreadWorld(l, 0); // no timeout: only abort ends waits
  std::atomic<int> waiting{0};
  auto errors = runRanks(*world, [&](int r) {
    if (r == 3) {
      while (waiting.load() < 3)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      world->abort(3, "stopped by the test");
      return;
    }
    Group g = r == 0 ? Group::TP : r == 1 ? Group::World : Group::DP;
    ++waiting;
    world->comm(r, g, r).allReduceScalar(1, ReduceKind::Sum);
  });
  for (int r : {0, 1, 2})
    EXPECT_EQ(errors[r],
              "npu.all_reduce_scalar: rank 3 failed: stopped by the test");
}

TEST(ThreadWorldErrors, OneCommFromTwoThreads) {
  Layout l;
  l.tp = 2;
  auto world = createThreadWorld(l, 30);
  // Two threads of rank 0 call on one communicator while rank 1 holds
  // back: whichever comes second is refused; rank 1 then pairs with the
  // first.
  std::mutex mu;
  std::vector<std::string> refused;
  std::atomic<bool> oneRefused{false};
  auto errors = runRanks(*world, [&](int r) {
    Comm &c = world->comm(r, Group::TP, 0);
    if (r == 1) {
      while (!oneRefused.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      c.allReduceScalar(1, ReduceKind::Sum);
      return;
    }
    auto call = [&] {
      try {
        c.allReduceScalar(1, ReduceKind::Sum);
      } catch (const Error &e) {
        std::lock_guard<std::mutex> lock(mu);
        refused.push_back(e.what());
        oneRefused = true;
      }
    };
    std::thread intruder(call);
    call();
    intruder.join();
  });
  EXPECT_TRUE(allEmpty(errors)) << errors[0];
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0], "npu.all_reduce_scalar: rank 0 uses its communicator "
                        "of the tp group [0, 1] on channel 0 from two threads "
                        "at once");
}

//===----------------------------------------------------------------------===//
// Stress: many small collectives of 8 ranks on 2 channels
//===----------------------------------------------------------------------===//

TEST(ThreadWorld, Stress) {
  Layout l;
  l.tp = 2;
  l.dp = 4;
  l.expertParallel = true;
  auto world = createThreadWorld(l, 60);
  const int iters = 300;
  std::atomic<int> bad{0};
  auto errors = runRanks(*world, [&](int r) {
    auto stream = [&](int channel) {
      std::mt19937 rng(r * 7 + channel);
      for (int i = 0; i < iters; ++i) {
        // Same op sequence on every rank of a channel; the group and the
        // sizes vary with i, the pacing with the rank.
        Group g = kGroups[(i + channel) % 4];
        Comm &c = world->comm(r, g, channel);
        if (rng() % 8 == 0)
          std::this_thread::yield();
        const int64_t tag = channel * 100000 + i;
        switch (i % 5) {
        case 0: {
          Tensor x = Tensor::empty(DType::I64, {(c.rank() + i) % 3});
          for (int64_t j = 0; j < x.numel(); ++j)
            x.data<int64_t>()[j] = tag * 10 + c.rank();
          Tensor y = c.allGather(x);
          int64_t at = 0;
          for (int p = 0; p < c.size(); ++p)
            for (int64_t j = 0; j < (p + i) % 3; ++j)
              bad += y.data<int64_t>()[at++] != tag * 10 + p;
          bad += y.numel() != at;
          break;
        }
        case 1: {
          Tensor x = Tensor::empty(DType::F32, {3});
          for (int j = 0; j < 3; ++j)
            x.data<float>()[j] = static_cast<float>(tag + c.rank() + j);
          Tensor y = c.allReduce(x, ReduceKind::Max);
          for (int j = 0; j < 3; ++j)
            bad += y.data<float>()[j] != static_cast<float>(tag + c.size() - 1 + j);
          break;
        }
        case 2: {
          std::vector<int64_t> send(c.size()), recv(c.size());
          int64_t rows = 0;
          for (int p = 0; p < c.size(); ++p) {
            send[p] = (c.rank() + p + i) % 2;
            recv[p] = (p + c.rank() + i) % 2;
            rows += send[p];
          }
          Tensor x = Tensor::empty(DType::I32, {rows, 1});
          for (int64_t j = 0; j < rows; ++j)
            x.data<int32_t>()[j] = static_cast<int32_t>(tag % 1000 * 10 + c.rank());
          Tensor y = c.allToAllV(x, send, recv);
          int64_t at = 0;
          for (int p = 0; p < c.size(); ++p)
            for (int64_t j = 0; j < recv[p]; ++j)
              bad += y.data<int32_t>()[at++] != tag % 1000 * 10 + p;
          break;
        }
        case 3:
          bad += c.allReduceScalar(tag, ReduceKind::Sum) != tag * c.size();
          break;
        case 4: {
          std::vector<std::vector<uint8_t>> blobs(c.size());
          for (int p = 0; p < c.size(); ++p)
            blobs[p].assign(1 + (p + i) % 3, static_cast<uint8_t>(c.rank() + i));
          auto got = c.exchange(blobs);
          for (int p = 0; p < c.size(); ++p)
            bad += got[p] != std::vector<uint8_t>(1 + (c.rank() + i) % 3,
                                                  static_cast<uint8_t>(p + i));
          break;
        }
        }
      }
    };
    runStreams(*world, r, stream);
  });
  EXPECT_TRUE(allEmpty(errors)) << errors[0];
  EXPECT_EQ(bad.load(), 0);
}
