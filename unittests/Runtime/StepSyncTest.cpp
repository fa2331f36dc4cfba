//===- StepSyncTest.cpp - npu.step_sync's one exchange per step -----------===//
//
// moert_npu_step_sync on a thread world: every rank's maxima over each of
// its groups, the step's flags and the TP uniformity check, worked out by
// hand from the ranks' inputs.
//
//===----------------------------------------------------------------------===//

#include "RankThreads.h"

#include "moe/Runtime/RuntimeAbi.h"
#include "moe/Runtime/Streams.h"

#include <gtest/gtest.h>

using namespace moert;
using moert::testing::runRanks;

namespace {
struct Synced {
  int64_t world = -1, tp = -1, dp = -1, ep = -1, pcp = -1, prefill = -1,
          dbo = -1;
  std::string error;
};

/// Runs the call on every rank with `tokens[r]`, `prefill[r]`, `dbo[r]`.
std::vector<Synced> sync(const Layout &layout, std::vector<int64_t> tokens,
                         std::vector<int64_t> prefill, std::vector<int64_t> dbo,
                         const char *uniformTp = nullptr) {
  auto world = createThreadWorld(layout, 30);
  std::vector<Synced> out(tokens.size());
  runRanks(*world, [&](int r) {
    RankRuntime runtime(*world, r, 1);
    RankRuntime::setCurrent(&runtime);
    Synced &s = out[static_cast<size_t>(r)];
    moert_npu_step_sync("test", tokens[r], prefill[r], dbo[r], uniformTp,
                        &s.world, &s.tp, &s.dp, &s.ep, &s.pcp, &s.prefill,
                        &s.dbo);
    runtime.synchronize();
    if (runtime.failed())
      s.error = runtime.error();
    RankRuntime::setCurrent(nullptr);
  });
  return out;
}
} // namespace

TEST(StepSync, MaximaPerGroupAndFlags) {
  // tp 2 x dp 2, expert parallel: ranks 0,1 form DP group 0's TP pair.
  Layout layout;
  layout.tp = 2;
  layout.dp = 2;
  layout.expertParallel = true;
  std::vector<Synced> s =
      sync(layout, {3, 5, 0, 7}, {0, 1, 0, 0}, {1, 1, 0, 1});
  ASSERT_EQ(s.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    SCOPED_TRACE(r);
    EXPECT_EQ(s[r].error, "");
    EXPECT_EQ(s[r].world, 7);
    EXPECT_EQ(s[r].ep, 7);            // EP spans the world
    EXPECT_EQ(s[r].prefill, 1);       // rank 1 has prefill
    EXPECT_EQ(s[r].dbo, 0);           // rank 2 disables DBO
  }
  // TP pairs {0, 1} and {2, 3}; DP groups {0, 2} and {1, 3}.
  EXPECT_EQ(s[0].tp, 5);
  EXPECT_EQ(s[1].tp, 5);
  EXPECT_EQ(s[2].tp, 7);
  EXPECT_EQ(s[3].tp, 7);
  EXPECT_EQ(s[0].dp, 3);
  EXPECT_EQ(s[2].dp, 3);
  EXPECT_EQ(s[1].dp, 7);
  EXPECT_EQ(s[3].dp, 7);
  // pcp 1: each rank is its own PCP group.
  EXPECT_EQ(s[0].pcp, 3);
  EXPECT_EQ(s[1].pcp, 5);
  EXPECT_EQ(s[2].pcp, 0);
  EXPECT_EQ(s[3].pcp, 7);
}

TEST(StepSync, AllRanksEmptyAndAllDbo) {
  Layout layout;
  layout.dp = 4;
  std::vector<Synced> s = sync(layout, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1});
  for (const Synced &r : s) {
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.world, 0);
    EXPECT_EQ(r.dp, 0);
    EXPECT_EQ(r.prefill, 0);
    EXPECT_EQ(r.dbo, 1);
  }
}

TEST(StepSync, UniformTpCheckNamesTheContract) {
  Layout layout;
  layout.tp = 2;
  std::vector<Synced> s =
      sync(layout, {4, 6}, {0, 0}, {0, 0}, "the TP ranks hold the same tokens");
  EXPECT_NE(s[0].error.find("npu.step_sync: the TP ranks hold the same "
                            "tokens, but the ranks of the tp group hold 4 to 6 "
                            "(this rank: 4)"),
            std::string::npos)
      << s[0].error;
  // Equal counts pass.
  std::vector<Synced> ok =
      sync(layout, {6, 6}, {0, 0}, {0, 0}, "the TP ranks hold the same tokens");
  EXPECT_EQ(ok[0].error, "");
  EXPECT_EQ(ok[1].tp, 6);
}

TEST(StepSync, FlagsMustBeZeroOrOne) {
  Layout layout;
  std::vector<Synced> s = sync(layout, {1}, {2}, {0});
  EXPECT_NE(s[0].error.find("npu.step_sync: with_prefill must be 0 or 1, got 2"),
            std::string::npos)
      << s[0].error;
}
