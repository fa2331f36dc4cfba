//===- WeightQuantMatmulTest.cpp - npu.weight_quant_matmul ----------------===//
//
// The weight-only matmul of the w4a8 shared experts (seed 001's
// AscendW4A8DynamicLinearMethod: npu_weight_quant_batchmatmul with
// antiquant_scale.to(x.dtype)) on hand-sized cases: exact f32 values, the
// antiquant scale and the dequantized weight rounded to bf16 / f16 (the
// expected values computed with NumPy from that definition, and chosen so
// that an f32 dequantization gives a different result), and the errors.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

using namespace moert;
using namespace moert::test;

namespace {

Tensor i4(std::vector<int64_t> shape, const std::vector<int8_t> &v) {
  Tensor t = Tensor::zeros(DType::I4, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i)
    setI4(t.bytes(), static_cast<int64_t>(i), v[i]);
  return t;
}

Tensor floatOf(DType dtype, std::vector<int64_t> shape,
               const std::vector<float> &v) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  storeF32(t, 0, t.numel(), v.data());
  return t;
}

TEST(WeightQuantMatmul, PerGroupDequantizationF32) {
  // W [K = 4, N = 2], group size 2: block 0 is rows 0-1, block 1 rows 2-3.
  Tensor w = i4({4, 2}, {1, -8, 7, -1, 3, 0, -2, 5});
  Tensor scale = f32({2, 2}, {0.5f, 0.25f, 2.0f, -1.0f});
  Tensor x = f32({2, 4}, {1, 2, 0, -1, 0.5f, 0, 1, 1});
  Tensor y = weightQuantMatmul(x, w, scale, 2);
  ASSERT_EQ(y.dtype, DType::F32);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{2, 2}));
  // Dequantized W: [[0.5, -2], [3.5, -0.25], [6, 0], [-4, -5]].
  EXPECT_EQ(floats(y), (std::vector<float>{11.5f, 2.5f, 2.25f, -6.0f}));
}

TEST(WeightQuantMatmul, ScaleAndWeightRoundedToBf16) {
  // antiquant 0.3 -> bf16 0x1.34p-2; 7 * s -> 0x1.0ep+1, 3 * s -> 0x1.cep-1;
  // their sum rounds to 0x1.82p+1 (in f32 throughout it would be 3.0).
  Tensor w = i4({2, 1}, {7, 3});
  Tensor scale = f32({1, 1}, {0.3f});
  Tensor x = floatOf(DType::BF16, {1, 2}, {1.0f, 1.0f});
  Tensor y = weightQuantMatmul(x, w, scale, 2);
  ASSERT_EQ(y.dtype, DType::BF16);
  EXPECT_EQ(floats(y)[0], 0x1.82p+1f);
}

TEST(WeightQuantMatmul, ScaleAndWeightRoundedToF16) {
  // antiquant 0.1 -> f16 0x1.998p-4; 7 * s -> 0x1.664p-1, 3 * s ->
  // 0x1.33p-2; the sum 0x1.ffcp-1 (in f32 throughout it would be 1.0).
  Tensor w = i4({2, 1}, {7, 3});
  Tensor scale = f32({1, 1}, {0.1f});
  Tensor x = floatOf(DType::F16, {1, 2}, {1.0f, 1.0f});
  Tensor y = weightQuantMatmul(x, w, scale, 2);
  ASSERT_EQ(y.dtype, DType::F16);
  EXPECT_EQ(floats(y)[0], 0x1.ffcp-1f);
}

TEST(WeightQuantMatmul, ManyColumnsExact) {
  // N = 600 spans several column blocks; small integers and power-of-two
  // scales keep every sum exact, so the formula gives the value directly.
  const int64_t m = 3, k = 8, n = 600, gs = 4;
  std::vector<int8_t> wv(k * n);
  std::vector<float> sv(k / gs * n), xv(m * k);
  for (int64_t i = 0; i < k * n; ++i)
    wv[i] = static_cast<int8_t>((i * 7) % 16 - 8);
  for (int64_t i = 0; i < k / gs * n; ++i)
    sv[i] = (i % 3 == 0) ? 0.5f : (i % 3 == 1 ? 2.0f : -0.25f);
  for (int64_t i = 0; i < m * k; ++i)
    xv[i] = static_cast<float>(i % 5) - 2.0f;
  Tensor y = weightQuantMatmul(f32({m, k}, xv), i4({k, n}, wv),
                               f32({k / gs, n}, sv), gs);
  std::vector<float> got = floats(y);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < n; ++c) {
      double want = 0;
      for (int64_t r = 0; r < k; ++r)
        want += xv[i * k + r] * wv[r * n + c] * sv[(r / gs) * n + c];
      ASSERT_EQ(got[i * n + c], static_cast<float>(want)) << i << ", " << c;
    }
}

TEST(WeightQuantMatmul, NoRows) {
  Tensor y = weightQuantMatmul(f32({0, 4}, {}), i4({4, 2}, {}),
                               f32({2, 2}, {1, 1, 1, 1}), 2);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{0, 2}));
}

TEST(WeightQuantMatmul, Errors) {
  Tensor x = f32({1, 4}, {1, 1, 1, 1});
  Tensor w = i4({4, 2}, {});
  Tensor s = f32({2, 2}, {1, 1, 1, 1});
  EXPECT_ERROR(weightQuantMatmul(i8({1, 4}, {1, 1, 1, 1}), w, s, 2),
               "npu.weight_quant_matmul: x must be f32, bf16 or f16");
  EXPECT_ERROR(
      weightQuantMatmul(x, i8({4, 2}, std::vector<int8_t>(8, 0)), s, 2),
      "npu.weight_quant_matmul: weight must be i4");
  EXPECT_ERROR(weightQuantMatmul(x, i4({3, 2}, {}), s, 2),
               "weight dimension 0 must be 4");
  EXPECT_ERROR(weightQuantMatmul(x, w, s, 3), "group size 3 must divide K 4");
  EXPECT_ERROR(weightQuantMatmul(x, w, f32({1, 2}, {1, 1}), 2),
               "antiquant scale dimension 0 must be 2");
  EXPECT_ERROR(weightQuantMatmul(x, w, f32({2, 1}, {1, 1}), 2),
               "antiquant scale dimension 1 must be 2");
}

} // namespace
