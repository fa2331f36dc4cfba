//===- OverlapTest.cpp - span arithmetic of moe-layer-bench --overlap -----===//
//
// bench/layer/Overlap.cpp on hand-made traces, every expected figure worked
// out by hand in the comments: unions of overlapping, nested, touching and
// empty spans; per-stream busy time without event waits; the overlap, the
// idle time and the compute time of a rank; numbered collectives; the
// slowest rank and each collective's longest time over the ranks.
//
//===----------------------------------------------------------------------===//

#include "Overlap.h"

#include <gtest/gtest.h>

using namespace moebench;
using moert::TraceSpan;

namespace {

TraceSpan span(const char *op, int stream, double start, double duration,
               uint64_t flow = 0) {
  TraceSpan s;
  s.op = op;
  s.stream = stream;
  s.startUs = start;
  s.durationUs = duration;
  s.flow = flow;
  return s;
}

} // namespace

TEST(OverlapUnion, DisjointOverlappingNestedTouching) {
  EXPECT_DOUBLE_EQ(unionLength({}), 0);
  EXPECT_DOUBLE_EQ(unionLength({{0, 10}}), 10);
  // Disjoint: 10 + 5.
  EXPECT_DOUBLE_EQ(unionLength({{20, 25}, {0, 10}}), 15);
  // [0, 10) and [5, 12) overlap: [0, 12).
  EXPECT_DOUBLE_EQ(unionLength({{5, 12}, {0, 10}}), 12);
  // [2, 3) nested in [0, 10), then [10, 14) touching it: [0, 14).
  EXPECT_DOUBLE_EQ(unionLength({{0, 10}, {2, 3}, {10, 14}}), 14);
  // A chain [0, 4) [3, 8) [7, 9) and a separate [20, 21): 9 + 1.
  EXPECT_DOUBLE_EQ(unionLength({{7, 9}, {20, 21}, {0, 4}, {3, 8}}), 10);
  // Empty and reversed intervals cover nothing.
  EXPECT_DOUBLE_EQ(unionLength({{5, 5}, {9, 3}, {0, 1}}), 1);
}

TEST(OverlapSpans, NamesEventsAndCollectives) {
  EXPECT_EQ(spanOpName(span("npu.all_gather at layer.mlir:3:17", 0, 0, 1)),
            "npu.all_gather");
  EXPECT_EQ(spanOpName(span("npu.swiglu", 0, 0, 1)), "npu.swiglu");
  EXPECT_TRUE(isEventSpan(span("npu.wait at l:1:1", 0, 0, 1, 7)));
  EXPECT_FALSE(isEventSpan(span("npu.matmul at l:1:1", 0, 0, 1)));
  for (const char *c :
       {"npu.all_gather", "npu.reduce_scatter", "npu.all_reduce",
        "npu.all_to_all_v", "npu.moe_distribute_dispatch",
        "npu.moe_distribute_combine", "npu.dispatch_ffn_combine",
        "npu.tensor_split"})
    EXPECT_TRUE(isCollective(c)) << c;
  for (const char *c : {"npu.grouped_matmul", "npu.matmul", "npu.wait",
                        "npu.moe_init_routing", "npu.all_gather_x"})
    EXPECT_FALSE(isCollective(c)) << c;
}

TEST(OverlapRank, StreamsOverlapIdleAndCompute) {
  // Stream 0: all_gather [100, 130), grouped_matmul [130, 200), wait for
  //   stream 2 [200, 230) (an event: not busy), add [230, 240).
  // Stream 1: all_gather [105, 150).
  // Stream 2: matmul [140, 190), record [190, 191) (an event).
  moert::Trace t = {
      span("npu.all_gather at l:3:17", 0, 100, 30),
      span("npu.all_gather at l:3:17", 1, 105, 45),
      span("npu.grouped_matmul at l:6:8", 0, 130, 70),
      span("npu.matmul at l:8:8", 2, 140, 50),
      span("npu.record at l:8:8", 2, 190, 1, 9),
      span("npu.wait at l:9:8", 0, 200, 30, 9),
      span("npu.add at l:9:8", 0, 230, 10),
  };
  RankTimes r = rankTimes(t);
  EXPECT_DOUBLE_EQ(r.wallUs, 140);          // 100 .. 240
  EXPECT_DOUBLE_EQ(r.busyUs.at(0), 110);    // 30 + 70 + 10
  EXPECT_DOUBLE_EQ(r.busyUs.at(1), 45);
  EXPECT_DOUBLE_EQ(r.busyUs.at(2), 50);
  EXPECT_EQ(r.busyUs.size(), 3u);
  EXPECT_DOUBLE_EQ(r.sumBusyUs, 205);
  EXPECT_DOUBLE_EQ(r.overlapUs, 65);        // 205 - 140
  // Some stream busy: [100, 200) and [230, 240) = 110; idle 30 (the wait).
  EXPECT_DOUBLE_EQ(r.anyBusyUs, 110);
  EXPECT_DOUBLE_EQ(r.concurrentUs, 95);     // 205 - 110
  EXPECT_DOUBLE_EQ(r.wallUs - r.anyBusyUs, r.concurrentUs - r.overlapUs);
  // Compute: grouped_matmul [130, 200) covers matmul [140, 190); add 10.
  EXPECT_DOUBLE_EQ(r.computeUs, 80);
  // Same op and location twice: numbered in start order.
  ASSERT_EQ(r.collectives.size(), 2u);
  EXPECT_EQ(r.collectives[0].name, "npu.all_gather at l:3:17 #1");
  EXPECT_DOUBLE_EQ(r.collectives[0].us, 30);
  EXPECT_EQ(r.collectives[1].name, "npu.all_gather at l:3:17 #2");
  EXPECT_DOUBLE_EQ(r.collectives[1].us, 45);
}

TEST(OverlapRank, OneStreamWithGapsOverlapsNegatively) {
  // [0, 10) then [15, 20): busy 15 in a wall of 20, overlap -5.
  moert::Trace t = {span("npu.swiglu at l:1:1", 0, 15, 5),
                    span("npu.reduce_scatter at l:2:1", 0, 0, 10)};
  RankTimes r = rankTimes(t);
  EXPECT_DOUBLE_EQ(r.wallUs, 20);
  EXPECT_DOUBLE_EQ(r.sumBusyUs, 15);
  EXPECT_DOUBLE_EQ(r.overlapUs, -5);
  EXPECT_DOUBLE_EQ(r.concurrentUs, 0);
  EXPECT_DOUBLE_EQ(r.computeUs, 5);
  ASSERT_EQ(r.collectives.size(), 1u);
  EXPECT_EQ(r.collectives[0].name, "npu.reduce_scatter at l:2:1");
}

TEST(OverlapRank, EmptyTraceAndOnlyEvents) {
  RankTimes none = rankTimes({});
  EXPECT_DOUBLE_EQ(none.wallUs, 0);
  EXPECT_TRUE(none.busyUs.empty());
  // A stream that only waited is listed, with no busy time.
  RankTimes waits = rankTimes({span("npu.wait at l:1:1", 1, 5, 20, 3)});
  EXPECT_DOUBLE_EQ(waits.wallUs, 20);
  ASSERT_EQ(waits.busyUs.count(1), 1u);
  EXPECT_DOUBLE_EQ(waits.busyUs.at(1), 0);
  EXPECT_DOUBLE_EQ(waits.overlapUs, -20);
}

TEST(OverlapStep, SlowestComputeAndLongestCollectives) {
  // Rank 0 computes 50 and waits 40 in its all_gather; rank 1 computes 80
  // and waits 10 there, and spends 25 in a reduce_scatter.
  std::vector<moert::Trace> ranks = {
      {span("npu.all_gather at l:1:1", 0, 0, 40),
       span("npu.grouped_matmul at l:2:1", 0, 40, 50)},
      {span("npu.all_gather at l:1:1", 0, 30, 10),
       span("npu.grouped_matmul at l:2:1", 0, 40, 80),
       span("npu.reduce_scatter at l:3:1", 0, 120, 25)}};
  StepTimes s = stepTimes(ranks);
  ASSERT_EQ(s.ranks.size(), 2u);
  EXPECT_DOUBLE_EQ(s.ranks[0].computeUs, 50);
  EXPECT_DOUBLE_EQ(s.ranks[1].computeUs, 80);
  EXPECT_DOUBLE_EQ(s.slowestComputeUs, 80);
  ASSERT_EQ(s.longestCollectiveUs.size(), 2u);
  EXPECT_DOUBLE_EQ(s.longestCollectiveUs.at("npu.all_gather at l:1:1"), 40);
  EXPECT_DOUBLE_EQ(s.longestCollectiveUs.at("npu.reduce_scatter at l:3:1"), 25);
  EXPECT_DOUBLE_EQ(s.longestAnyCollectiveUs, 40);
}

TEST(OverlapMedian, OddEvenAndEmpty) {
  EXPECT_DOUBLE_EQ(median({}), 0);
  EXPECT_DOUBLE_EQ(median({3}), 3);
  EXPECT_DOUBLE_EQ(median({9, 1, 5}), 5);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
}
