//===- W4A8WeightsTest.cpp - w4a8 load-time processing and kernel form ----===//
//
// npu.w4a8_process_weights (seed 001 process_weights_after_loading) and the
// w4a8 kernel form of the matmuls on hand-sized cases whose expected values
// were computed with NumPy from the seed's formulas (float16 casts, the
// bias sum), the packed-int4 byte order, the error paths, and the memory
// a processed (packed) weight takes against the int8 weight of w8a8.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include <cmath>
#include <iostream>

using namespace moert;
using namespace moert::test;

namespace {

// Checkpoint of one expert, N = 2 output channels, K = 4, group size 2.
Tensor checkpointWeight() {
  return i8({1, 2, 4}, {1, -8, 7, -1, 3, 0, -2, 5});
}

Tensor bf16Of(std::vector<int64_t> shape, const std::vector<float> &v) {
  Tensor t = Tensor::empty(DType::BF16, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i)
    t.data<uint16_t>()[i] = floatToBf16(v[i]);
  return t;
}

TEST(W4A8Weights, SeedProcessing) {
  Tensor scale = f32({1, 2, 1}, {0.1f, 0.7f});
  Tensor second = f32({1, 2, 2}, {3.0f, 0.3f, 1.1f, 2.5f});
  W4A8Weights p = w4a8ProcessWeights(checkpointWeight(), scale, second);

  // Transposed to [K, N] = [[1, 3], [-8, 0], [7, -2], [-1, 5]], two values
  // per byte, element 2i in the low nibble.
  ASSERT_EQ(p.weight.dtype, DType::I4);
  EXPECT_EQ(p.weight.shape, (std::vector<int64_t>{1, 4, 2}));
  const uint8_t *bytes = p.weight.bytes();
  EXPECT_EQ(bytes[0], 0x31);
  EXPECT_EQ(bytes[1], 0x08);
  EXPECT_EQ(bytes[2], 0xE7);
  EXPECT_EQ(bytes[3], 0x5F);

  // (scale * scale_second) in float32, to float16: [K / gs, N].
  EXPECT_EQ(p.scale.shape, (std::vector<int64_t>{1, 2, 2}));
  std::vector<float> merged = floats(p.scale);
  EXPECT_EQ(merged[0], 0x1.334p-2f);  // block 0, n 0: fp16(0.3)
  EXPECT_EQ(merged[1], 0x1.8a4p-1f);  // block 0, n 1: fp16(0.77)
  EXPECT_EQ(merged[2], 0x1.eb8p-6f);  // block 1, n 0: fp16(0.03)
  EXPECT_EQ(merged[3], 0x1.cp+0f);    // block 1, n 1: 1.75

  // 8 * sum_k w * scale_second * scale.
  std::vector<float> bias = floats(p.bias);
  EXPECT_NEAR(bias[0], -15.360000610351562, 1e-5);
  EXPECT_NEAR(bias[1], 60.480003356933594, 1e-5);
}

TEST(W4A8Weights, QuantVersion1Checkpoint) {
  // The checkpoint of SeedProcessing packed along N: byte [0, 0, k] holds
  // channels 0 (low nibble) and 1 of row k: 0x31, 0x08, 0xE7, 0x5F.
  Tensor packed = i8({1, 1, 4}, {0x31, 0x08, int8_t(0xE7), 0x5F});
  Tensor scale = f32({1, 2, 1}, {0.1f, 0.7f});
  Tensor second = f32({1, 2, 2}, {3.0f, 0.3f, 1.1f, 2.5f});
  Tensor partial = f32({1, 2, 3}, {1.5f, -2.0f, 0.25f, 4.0f, 8.0f, -1.0f});
  W4A8Weights p = w4a8ProcessWeights(packed, scale, second, &partial);
  EXPECT_EQ(p.weight.shape, (std::vector<int64_t>{1, 4, 2}));
  const uint8_t *bytes = p.weight.bytes();
  EXPECT_EQ(bytes[0], 0x31);
  EXPECT_EQ(bytes[1], 0x08);
  EXPECT_EQ(bytes[2], 0xE7);
  EXPECT_EQ(bytes[3], 0x5F);
  std::vector<float> merged = floats(p.scale);
  EXPECT_EQ(merged[0], 0x1.334p-2f);
  EXPECT_EQ(merged[3], 0x1.cp+0f);
  // update_bias: the partial sums summed, not computed from the weight.
  std::vector<float> bias = floats(p.bias);
  EXPECT_EQ(bias[0], -0.25f);
  EXPECT_EQ(bias[1], 11.0f);
  // Every byte is two valid int4 values: no range check applies.
  Tensor all = i8({1, 1, 4}, {-128, -1, 127, 0});
  EXPECT_NO_THROW(w4a8ProcessWeights(all, scale, second, &partial));
  Tensor badPartial = f32({1, 1, 3}, {0, 0, 0});
  EXPECT_ERROR(w4a8ProcessWeights(packed, scale, second, &badPartial),
               "scale_bias must be [1x2xP]");
}

TEST(W4A8Weights, Bf16ScalesRoundTheProductTwice) {
  // process_scale multiplies in the scales' dtype (bf16), then casts to
  // float16: 0.1 * 3.0 -> bf16 0.30029296875 -> fp16 0.30078125.
  Tensor scale = bf16Of({1, 2, 1}, {0.1f, 0.7f});
  Tensor second = bf16Of({1, 2, 2}, {3.0f, 0.3f, 1.1f, 2.5f});
  W4A8Weights p = w4a8ProcessWeights(checkpointWeight(), scale, second);
  std::vector<float> merged = floats(p.scale);
  EXPECT_EQ(merged[0], 0.30078125f);
  EXPECT_EQ(merged[2], 0.0301513671875f);
}

TEST(W4A8Weights, KernelFormMatmul) {
  Tensor scale = f32({1, 2, 1}, {0.1f, 0.7f});
  Tensor second = f32({1, 2, 2}, {3.0f, 0.3f, 1.1f, 2.5f});
  W4A8Weights p = w4a8ProcessWeights(checkpointWeight(), scale, second);
  Tensor x = i8({2, 4}, {10, -20, 127, -127, 0, 1, 2, 3});
  Tensor perToken = f32({2}, {0.5f, 2.0f});
  Tensor counts = i64({1}, {2});
  MatmulScales sc{nullptr, &perToken, &p.scale, &p.bias};
  // ((x - 8) . w per block * merged, summed, + bias) * per-token scale.
  std::vector<float> want = {40.74492645263672f, -766.324951171875f,
                             -4.135223388671875f, 38.49906921386719f};
  std::vector<float> got =
      floats(groupedMatmul(x, p.weight, counts, sc, MatmulQuant::W4A8,
                           GroupListType::Count, DType::F32));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i])) << i;
  // The dense matmul: the same numbers without the group dimension.
  Tensor w2d = p.weight;
  w2d.shape = {4, 2};
  Tensor s2d = p.scale, b1d = p.bias;
  s2d.shape = {2, 2};
  b1d.shape = {2};
  MatmulScales dense{nullptr, &perToken, &s2d, &b1d};
  got = floats(matmul(x, w2d, dense, MatmulQuant::W4A8, DType::F32));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i])) << i;
}

TEST(W4A8Weights, Errors) {
  Tensor scale = f32({1, 2, 1}, {0.1f, 0.7f});
  Tensor second = f32({1, 2, 2}, {3.0f, 0.3f, 1.1f, 2.5f});
  EXPECT_ERROR(w4a8ProcessWeights(i8({1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}),
                                  scale, second),
               "weight element 7 is 8, outside int4 [-8, 7]");
  EXPECT_ERROR(w4a8ProcessWeights(checkpointWeight(), f32({1, 2}, {1, 1}),
                                  second),
               "scale");
  EXPECT_ERROR(w4a8ProcessWeights(checkpointWeight(),
                                  f32({1, 1, 1}, {1}), second),
               "scale must be [1x2x1]");
  EXPECT_ERROR(w4a8ProcessWeights(checkpointWeight(), scale,
                                  f32({1, 2, 3}, {1, 1, 1, 1, 1, 1})),
               "with B dividing 4");
  EXPECT_ERROR(w4a8ProcessWeights(checkpointWeight(), scale,
                                  bf16Of({1, 2, 2}, {1, 1, 1, 1})),
               "scale_second must have the scale's dtype f32");
  EXPECT_ERROR(w4a8ProcessWeights(i8({1, 3, 2}, {0, 0, 0, 0, 0, 0}),
                                  f32({1, 3, 1}, {1, 1, 1}),
                                  f32({1, 3, 1}, {1, 1, 1})),
               "N must be even");

  // The kernel form's operand checks.
  W4A8Weights p = w4a8ProcessWeights(checkpointWeight(), scale, second);
  Tensor x = i8({1, 4}, {1, 2, 3, 4});
  Tensor perToken = f32({1}, {1.0f});
  Tensor counts = i64({1}, {1});
  Tensor channel = f32({1, 2}, {1, 1});
  auto run = [&](const MatmulScales &sc, MatmulQuant q) {
    return groupedMatmul(x, p.weight, counts, sc, q, GroupListType::Count,
                         DType::F32);
  };
  EXPECT_ERROR(run({&channel, &perToken, &p.scale, &p.bias},
                   MatmulQuant::W4A8),
               "w4a8 with a bias takes merged group scales, no per-channel");
  Tensor badBias = f32({1, 3}, {1, 1, 1});
  EXPECT_ERROR(run({nullptr, &perToken, &p.scale, &badBias},
                   MatmulQuant::W4A8),
               "bias must be [1x2]");
  Tensor w8 = i8({1, 4, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_ERROR(groupedMatmul(x, w8, counts,
                             {&channel, &perToken, nullptr, &p.bias},
                             MatmulQuant::W8A8, GroupListType::Count,
                             DType::F32),
               "a bias needs w4a8");
}

// The memory of a processed w4a8 expert against the int8 weights a w8a8
// layer of the same shape keeps: DeepSeek-V3's routed expert (H = 7168,
// I = 2048: w13 [2I, H] and w2 [H, I] as the checkpoint ships them).
TEST(W4A8Weights, PackedWeightsTakeHalfTheW8A8Bytes) {
  const int64_t h = 7168, inter = 2048, group = 256;
  size_t w4Bytes = 0, w8Bytes = 0, scaleBytes = 0;
  const std::pair<int64_t, int64_t> stacks[] = {{2 * inter, h}, {h, inter}};
  for (auto [n, k] : stacks) {
    Tensor ckpt = Tensor::zeros(DType::I8, {1, n, k});
    int8_t *values = ckpt.data<int8_t>();
    for (int64_t i = 0, e = n * k; i < e; ++i)
      values[i] = static_cast<int8_t>(i % 16 - 8);
    Tensor scale = Tensor::zeros(DType::F32, {1, n, 1});
    Tensor second = Tensor::zeros(DType::F32, {1, n, k / group});
    W4A8Weights p = w4a8ProcessWeights(ckpt, scale, second);
    EXPECT_EQ(p.weight.nbytes() * 2, ckpt.nbytes());
    // Spot-check the values survived the packing.
    EXPECT_EQ(getI4(p.weight.bytes(), 5 * n + 3), (3 * k + 5) % 16 - 8);
    w4Bytes += p.weight.nbytes();
    w8Bytes += ckpt.nbytes(); // a w8a8 weight: one int8 per element
    scaleBytes += p.scale.nbytes() + p.bias.nbytes();
  }
  EXPECT_EQ(w8Bytes, size_t(3 * h * inter));
  EXPECT_EQ(w4Bytes * 2, w8Bytes);
  std::cout << "one DeepSeek-V3 expert: w8a8 weights " << w8Bytes
            << " bytes, w4a8 packed weights " << w4Bytes
            << " bytes, w4a8 merged scales + bias " << scaleBytes
            << " bytes\n";
}

} // namespace
