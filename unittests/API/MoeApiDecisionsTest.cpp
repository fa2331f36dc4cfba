//===- MoeApiDecisionsTest.cpp - Executable::decisions() ------------------===//
//
// What moe-compile decided, read back through the C++ API: the method or
// the run-time switch, the reason (the very text of
// moe-select-comm-method's remark), the MC2 capacity, where the experts'
// activations are quantized and the stream plan.
//
//===----------------------------------------------------------------------===//

#include "moe/Moe.h"

#include <gtest/gtest.h>

using namespace moe::api;

namespace {

// A3, EP over two ranks, w8a8 experts and a shared expert; `%TOKENS%` is
// the token dimension ("?" or a number).
const char *kLayer = R"mlir(
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @layer(%x: tensor<%TOKENS%x8xbf16> {moe.name = "x"},
                   %logits: tensor<%TOKENS%x4xf32> {moe.name = "logits"},
                   %w13: tensor<2x8x8xi8> {moe.name = "w13"},
                   %w2: tensor<2x4x8xi8> {moe.name = "w2"},
                   %s13: tensor<2x8xf32> {moe.name = "w13_scale"},
                   %s2: tensor<2x8xf32> {moe.name = "w2_scale"},
                   %sw13: tensor<8x8xbf16> {moe.name = "shared_w13"},
                   %sw2: tensor<4x8xbf16> {moe.name = "shared_w2"})
      -> tensor<?x8xbf16> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<%TOKENS%x8xbf16>, tensor<%TOKENS%x4xf32>
        -> !moe.prepare_ctx<unset>
    %wt, %ids = moe.gate %l top_k(2) softmax renormalize
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(4)
        : tensor<?x8xbf16>, tensor<?x2xf32>, tensor<?x2xi32>
        -> tensor<2xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>)
        scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>)
        quant <w8a8_dynamic> : tensor<?x8xbf16>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x8xbf16>, !moe.dispatch_ctx<unset>
    %s = moe.shared_experts %x
        weights(%sw13, %sw2 : tensor<8x8xbf16>, tensor<4x8xbf16>)
        : tensor<%TOKENS%x8xbf16>
    %out = moe.finalize %r, %pctx shared(%s : tensor<%TOKENS%x8xbf16>)
        : tensor<?x8xbf16>, !moe.prepare_ctx<unset>
    return %out : tensor<?x8xbf16>
  }
}
)mlir";

std::string layer(const std::string &tokens) {
  std::string text = kLayer;
  for (size_t at; (at = text.find("%TOKENS%")) != std::string::npos;)
    text.replace(at, 8, tokens);
  return text;
}

struct Compiled {
  std::vector<LayerDecision> decisions;
  std::string json;
};
Compiled compile(const std::string &source,
                 const CompileOptions &options = {}) {
  Compiler compiler;
  Executable exe = compiler.compile(source, options);
  return Compiled{exe.decisions(), exe.decisionsJson()};
}

const StreamUse *findStream(const LayerDecision &d, int64_t stream) {
  for (const StreamUse &s : d.streams)
    if (s.stream == stream)
      return &s;
  return nullptr;
}

bool has(const std::vector<std::string> &list, const std::string &item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

} // namespace

TEST(MoeApiDecisions, RunTimeSwitchWithTheRemarkAsReason) {
  Compiled c = compile(layer("?"));
  ASSERT_EQ(c.decisions.size(), 1u);
  const LayerDecision &d = c.decisions[0];
  EXPECT_EQ(d.function, "layer");
  EXPECT_EQ(d.location, "<source>:13:21"); // the moe.prepare
  // A3 with 2 EP ranks: MC2 up to its capacity, alltoall above
  // (docs/CostModel.md).
  EXPECT_EQ(d.method, "run-time");
  ASSERT_EQ(d.candidates.size(), 2u);
  EXPECT_EQ(d.candidates[0].method, "mc2");
  EXPECT_EQ(d.candidates[0].upToTokens, 256);
  EXPECT_EQ(d.candidates[1].method, "alltoall");
  EXPECT_EQ(d.candidates[1].upToTokens, -1);
  // moe-select-comm-method's remark (test/Python compares it with
  // moe-opt's).
  EXPECT_EQ(d.reason,
            "run-time choice on the largest token count across ranks: mc2 up "
            "to 256 tokens (A3, 2 EP ranks, 256 tokens <= MC2 capacity 256); "
            "alltoall above (A3, 2 EP ranks, 257 tokens > MC2 capacity 256)");
  // The MC2 dispatch checks the A3 kernel's per-rank capacity.
  EXPECT_EQ(d.capacity, 512);
  EXPECT_FALSE(d.maxTokens);
  // w8a8: MC2 quantizes in the dispatch, alltoall sends int8 rows.
  EXPECT_EQ(d.quantization.scheme, "w8a8_dynamic");
  EXPECT_EQ(d.quantization.placement,
            "in the dispatch (mc2); before the dispatch (alltoall)");
  // The shared expert runs on its own stream, joined by events.
  const StreamUse *main = findStream(d, 0), *shared = findStream(d, 2);
  ASSERT_TRUE(main && shared);
  EXPECT_TRUE(has(main->ops, "moe_distribute_dispatch"));
  EXPECT_TRUE(has(shared->ops, "matmul[shared gate_up]"));
  EXPECT_TRUE(has(shared->ops, "matmul[shared down]"));
  bool forth = false, back = false;
  for (const StreamEvent &e : d.events) {
    forth |= e.fromStream == 0 && e.toStream == 2 && e.count > 0;
    back |= e.fromStream == 2 && e.toStream == 0 && e.count > 0;
  }
  EXPECT_TRUE(forth && back);
  EXPECT_NE(c.json.find("\"method\":\"run-time\""), std::string::npos)
      << c.json;
}

TEST(MoeApiDecisions, FixedMethodAndBoundedTokens) {
  CompileOptions options;
  options.set("policy", "fixed").set("method", "alltoall");
  options.set("multistream", "false");
  Compiled c = compile(layer("?"), options);
  ASSERT_EQ(c.decisions.size(), 1u);
  const LayerDecision &d = c.decisions[0];
  EXPECT_EQ(d.method, "alltoall");
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0].upToTokens, -1);
  EXPECT_EQ(d.reason.rfind("alltoall for any token count: ", 0), 0u)
      << d.reason;
  EXPECT_EQ(d.capacity, 0); // no MC2 dispatch
  EXPECT_EQ(d.quantization.placement, "before the dispatch");
  // Without multistream everything runs on the default stream.
  ASSERT_EQ(d.streams.size(), 1u);
  EXPECT_EQ(d.streams[0].stream, 0);
  EXPECT_TRUE(d.events.empty());
}

TEST(MoeApiDecisions, StaticTokenCountDecidesAtCompileTime) {
  Compiled c = compile(layer("16"));
  ASSERT_EQ(c.decisions.size(), 1u);
  EXPECT_EQ(c.decisions[0].method, "mc2");
  EXPECT_EQ(c.decisions[0].quantization.placement, "in the dispatch");
  EXPECT_EQ(c.decisions[0].reason.rfind("mc2: ", 0), 0u)
      << c.decisions[0].reason;
}

TEST(MoeApiDecisions, MethodSetInTheInput) {
  std::string source = layer("?");
  for (const char *ctx : {"prepare_ctx", "dispatch_ctx"}) {
    std::string from = std::string("!moe.") + ctx + "<unset>";
    std::string to = std::string("!moe.") + ctx + "<allgather>";
    for (size_t at; (at = source.find(from)) != std::string::npos;)
      source.replace(at, from.size(), to);
  }
  Compiled c = compile(source);
  ASSERT_EQ(c.decisions.size(), 1u);
  EXPECT_EQ(c.decisions[0].method, "allgather");
  EXPECT_EQ(c.decisions[0].reason, "method set in the input");
}
