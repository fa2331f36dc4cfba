//===- MoeApiFp4Test.cpp - packed fp4 tensors through the C++ API ---------===//
//
// mxfp4 weights the way checkpoints ship them (docs/Quantization.md,
// "mxfp4 and nvfp4"): DType::I8 tensors of packed e2m1 bytes [L, K / 2, N]
// and e8m0 scale bytes [L, K / 32, N], on a layer whose output is worked
// out by hand; a tensor of the wrong shape or dtype is named with both
// types.
//
//===----------------------------------------------------------------------===//

#include "moe/Moe.h"

#include "ApiTestUtil.h"

#include <gtest/gtest.h>

using namespace moe::api;
using moe::api::test_util::errorOf;
using moe::api::test_util::filledBytes;

namespace {
const char *kMxfp4Layer = R"mlir(
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 1>} {
  func.func @layer(%x: tensor<?x32xf32> {moe.name = "x"},
                   %logits: tensor<?x2xf32> {moe.name = "logits"},
                   %w13: tensor<2x16x64xi8> {moe.name = "w13"},
                   %w2: tensor<2x16x32xi8> {moe.name = "w2"},
                   %s13: tensor<2x1x64xi8> {moe.name = "w13_scale"},
                   %s2: tensor<2x1x32xi8> {moe.name = "w2_scale"}) -> tensor<?x32xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x32xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<allgather>
    %wt, %ids = moe.gate %l top_k(1) softmax renormalize
        : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(2)
        : tensor<?x32xf32>, tensor<?x1xf32>, tensor<?x1xi32>
        -> tensor<2xi64>, !moe.dispatch_ctx<allgather>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<2x16x64xi8>, tensor<2x16x32xi8>)
        scales(%s13, %s2 : tensor<2x1x64xi8>, tensor<2x1x32xi8>)
        quant <a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>,
               w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
        : tensor<?x32xf32>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x32xf32>, !moe.dispatch_ctx<allgather>
    %out = moe.finalize %r, %pctx : tensor<?x32xf32>, !moe.prepare_ctx<allgather>
    return %out : tensor<?x32xf32>
  }
}
)mlir";

} // namespace

TEST(MoeApi, Mxfp4WeightsArePackedByteTensors) {
  Compiler compiler;
  Executable exe = compiler.compile(kMxfp4Layer);
  World world(exe, 1);
  // One token x = 6 e0 (block amax 6: X = 2^(2 - 2) = 1, exact), routed to
  // expert 0 with weight 1. Every weight byte 0x22 holds two e2m1 codes 2
  // (1.0); every scale code 126 is 0.5: W = 0.5. The gate and up columns
  // are 6 * 0.5 = 3; a = silu(3) * 3 = 8.57 in [8, 16): X = 2^(3 - 2) = 2,
  // a / 2 = 4.29 rounds to 4 -> 8; every output is 32 * 8 * 0.5 = 128.
  Tensor x = Tensor::zeros(DType::F32, {1, 32});
  x.data<float>()[0] = 6.0f;
  Tensor logits = Tensor::zeros(DType::F32, {1, 2});
  logits.data<float>()[0] = 1.0f;
  std::vector<Tensor> in = {x, logits,
                            filledBytes(DType::I8, {2, 16, 64}, 0x22),
                            filledBytes(DType::I8, {2, 16, 32}, 0x22),
                            filledBytes(DType::I8, {2, 1, 64}, 126),
                            filledBytes(DType::I8, {2, 1, 32}, 126)};
  std::vector<Tensor> out = exe.run(world, 0, in);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{1, 32}));
  for (int64_t i = 0; i < 32; ++i)
    EXPECT_EQ(out[0].data<float>()[i], 128.0f) << i;

  // The weight unpacked (one code per byte, K not halved) and the e8m0
  // scales as floats are named with both types.
  std::vector<Tensor> unpacked = in;
  unpacked[2] = filledBytes(DType::I8, {2, 32, 64}, 0x02);
  Error shape = errorOf([&] { exe.run(world, 0, unpacked); });
  EXPECT_EQ(shape.kind(), Error::InvalidArgument);
  EXPECT_STREQ(shape.what(), "rank 0: input 'w13' is tensor<2x32x64xi8> but "
                             "the argument is tensor<2x16x64xi8>");
  std::vector<Tensor> floatScales = in;
  floatScales[4] = Tensor::zeros(DType::F32, {2, 1, 64});
  Error dtype = errorOf([&] { exe.run(world, 0, floatScales); });
  EXPECT_EQ(dtype.kind(), Error::InvalidArgument);
  EXPECT_STREQ(dtype.what(), "rank 0: input 'w13_scale' is tensor<2x1x64xf32> "
                             "but the argument is tensor<2x1x64xi8>");
}
