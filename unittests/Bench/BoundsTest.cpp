//===- BoundsTest.cpp - the bounds of moe-layer-bench --bound ------------===//
//
// bench/layer/Bounds.cpp on layers and windows whose figures are worked out
// by hand in the comments.
//
//===----------------------------------------------------------------------===//

#include "Bounds.h"

#include <gtest/gtest.h>

using namespace moebench;

namespace {

LayerConfig qwen3(const std::string &quant, int64_t tokens) {
  LayerConfig c; // H 2048, E 128, K 8, I 768
  c.quant = quant;
  c.tokens = tokens;
  return c;
}

TEST(Bounds, WorkOfTheQwen3Layer) {
  std::string why;
  // T = 1: K = 8 experts, each 3 H I = 4718592 weights.
  LayerWork f = layerWork(qwen3("none", 1), why);
  EXPECT_EQ(why, "");
  EXPECT_DOUBLE_EQ(f.experts, 8.0);
  EXPECT_DOUBLE_EQ(f.weightBytes, 8.0 * 4718592 * 4);
  EXPECT_DOUBLE_EQ(f.ops, 2.0 * 8 * 4718592);
  EXPECT_FALSE(f.int8);
  EXPECT_DOUBLE_EQ(layerWork(qwen3("w8a8", 1), why).weightBytes, 8.0 * 4718592);
  EXPECT_DOUBLE_EQ(layerWork(qwen3("w4a8", 1), why).weightBytes, 4.0 * 4718592);
  EXPECT_TRUE(layerWork(qwen3("w4a8", 1), why).int8);
  // T = 2: 128 (1 - (120/128)^2) = 15.5 experts expected.
  EXPECT_DOUBLE_EQ(layerWork(qwen3("w8a8", 2), why).experts, 15.5);
  EXPECT_DOUBLE_EQ(layerWork(qwen3("w8a8", 2), why).ops, 2.0 * 2 * 8 * 4718592);
}

TEST(Bounds, NoBoundWithRanksOrSharedExperts) {
  std::string why;
  LayerConfig c = qwen3("none", 1);
  c.world = 2;
  layerWork(c, why);
  EXPECT_EQ(why, "a bound needs one rank and no shared experts");
  c.world = 1;
  c.sharedInter = 256;
  layerWork(c, why);
  EXPECT_EQ(why, "a bound needs one rank and no shared experts");
}

TEST(Bounds, TheLargerBoundBinds) {
  LayerWork w;
  w.weightBytes = 100;
  w.ops = 1000;
  std::string kind;
  // read 100 / 10 = 10 s, compute 1000 / 200 = 5 s: read binds.
  EXPECT_DOUBLE_EQ(stepBound(w, 10, 200, kind), 10);
  EXPECT_EQ(kind, "read");
  // read 100 / 50 = 2 s, compute 5 s: the FMA peak binds (f32).
  EXPECT_DOUBLE_EQ(stepBound(w, 50, 200, kind), 5);
  EXPECT_EQ(kind, "fma");
  w.int8 = true;
  stepBound(w, 50, 200, kind);
  EXPECT_EQ(kind, "int8");
}

TEST(Bounds, EachWindowAgainstItsFasterProbe) {
  LayerWork w;
  w.weightBytes = 100; // read-bound windows: no ops
  // Window 1: probes 50 and 100 B/s -> bound 100 / 100 = 1 s; median of
  // {4, 2, 3} = 3 s -> 0.33. Window 2: probes 25, 20 -> bound 4 s; median
  // of {5, 4} (the upper one of two) = 5 s -> 0.8. Window 3: probe 100,
  // 100 -> bound 1 s; median 2 s -> 0.5. Median window: 0.5.
  std::vector<Window> windows = {
      {{4, 2, 3}, 50, 100}, {{4, 5}, 25, 20}, {{2}, 100, 100}, {{}, 1, 1}};
  BoundSummary b = summarize(windows, w, 1);
  EXPECT_DOUBLE_EQ(b.median, 0.5);
  EXPECT_DOUBLE_EQ(b.low, 1.0 / 3);
  EXPECT_DOUBLE_EQ(b.high, 0.8);
  EXPECT_DOUBLE_EQ(b.boundSeconds, 1);
  EXPECT_EQ(b.kind, "read");
  EXPECT_DOUBLE_EQ(summarize({}, w, 1).median, 0);
}

} // namespace
