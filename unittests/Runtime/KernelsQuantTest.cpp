//===- KernelsQuantTest.cpp - dynamic quant, SwiGLU, dequant-SwiGLU-quant -===//

#include "KernelTestUtil.h"

#include <cmath>

using namespace moert;
using namespace moert::test;

namespace {

float silu(float v) { return v / (1.0f + std::exp(-v)); }

TEST(Quant, DynamicQuantRoundsHalfEven) {
  // max 127 -> scale 1: x / 1 rounds half to even.
  std::vector<float> row = {127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f,
                            -127, 0.51f};
  Tensor x = f32({1, 10}, row);
  auto [q, s] = dynamicQuant(x);
  EXPECT_EQ(values<float>(s), (std::vector<float>{1.0f}));
  EXPECT_EQ(values<int8_t>(q),
            (std::vector<int8_t>{127, 0, 2, 2, 0, -2, -2, 3, -127, 1}));
}

TEST(Quant, DynamicQuantScalesAndZeroRows) {
  std::mt19937 rng(5);
  // 37 columns: the vector body and the scalar tail.
  Tensor x = randomFloat(rng, DType::F32, {4, 37});
  std::vector<float> v = values<float>(x);
  std::fill(v.begin() + 37, v.begin() + 74, 0.0f); // row 1 all zero
  x = f32({4, 37}, v);
  auto [q, s] = dynamicQuant(x);
  for (int r = 0; r < 4; ++r) {
    float mx = 0;
    for (int c = 0; c < 37; ++c)
      mx = std::max(mx, std::fabs(v[r * 37 + c]));
    float scale = mx / 127.0f;
    EXPECT_EQ(s.data<float>()[r], scale);
    for (int c = 0; c < 37; ++c) {
      int want = scale == 0 ? 0 : static_cast<int>(std::nearbyint(
                                      v[r * 37 + c] / scale));
      EXPECT_EQ(q.data<int8_t>()[r * 37 + c], want) << r << "," << c;
    }
  }
  auto [q0, s0] = dynamicQuant(Tensor::empty(DType::BF16, {0, 8}));
  EXPECT_EQ(q0.shape, (std::vector<int64_t>{0, 8}));
  EXPECT_EQ(s0.shape, (std::vector<int64_t>{0}));
}

TEST(Quant, DynamicQuantBf16AndErrors) {
  Tensor x = convertFloat(f32({1, 2}, {254, -127}), DType::BF16);
  auto [q, s] = dynamicQuant(x);
  EXPECT_EQ(values<float>(s), (std::vector<float>{2.0f}));
  // -127 / 2 = -63.5 rounds to the even -64.
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{127, -64}));
  EXPECT_ERROR(dynamicQuant(Tensor::zeros(DType::I8, {1, 2})),
               "npu.dynamic_quant: x must be f32, bf16 or f16");
  EXPECT_ERROR(dynamicQuant(Tensor::zeros(DType::F32, {2})),
               "npu.dynamic_quant: x must have rank 2");
}

TEST(Quant, Swiglu) {
  Tensor x = f32({2, 4}, {1, -2, 3, 4, 0, 5, -1, 2});
  Tensor out = swiglu(x);
  std::vector<float> want = {silu(1) * 3, silu(-2) * 4, silu(0) * -1,
                             silu(5) * 2};
  std::vector<float> got = values<float>(out);
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(got[i], want[i]);
  Tensor bf = swiglu(convertFloat(x, DType::BF16));
  EXPECT_EQ(bf.dtype, DType::BF16);
  EXPECT_EQ(swiglu(Tensor::empty(DType::F32, {0, 6})).shape,
            (std::vector<int64_t>{0, 3}));
  EXPECT_ERROR(swiglu(Tensor::zeros(DType::F32, {2, 3})),
               "npu.swiglu: x needs an even number of columns");
  EXPECT_ERROR(swiglu(Tensor::zeros(DType::I32, {2, 2})),
               "npu.swiglu: x must be f32");
}

// The vector body (AVX2 exp) and the scalar tail against a double
// reference, over the whole range of gate values, saturating ones and NaN.
TEST(Quant, SwigluVectorPathMatchesDoubleReference) {
  const int64_t n = 1003; // 125 vectors of 8 and a tail of 3
  std::vector<float> v(2 * n);
  for (int64_t i = 0; i < n; ++i) {
    v[i] = -120.0f + 240.0f * static_cast<float>(i) / (n - 1); // gate
    v[n + i] = 1.0f + 0.001f * static_cast<float>(i);           // up
  }
  v[3] = -1000.0f;
  v[4] = 1000.0f;
  v[5] = std::nanf("");
  std::vector<float> got = values<float>(swiglu(f32({1, 2 * n}, v)));
  EXPECT_TRUE(std::isnan(got[5]));
  for (int64_t i = 0; i < n; ++i) {
    if (i == 5)
      continue;
    double g = v[i], want = g / (1.0 + std::exp(-g)) * v[n + i];
    EXPECT_NEAR(got[i], want, 1e-6 * std::fabs(want) + 1e-30)
        << "gate " << g;
  }
}

TEST(Quant, DequantSwigluQuantMatchesComposition) {
  // 3 rows: groups of 1 and 1 row, the last row past the groups.
  Tensor x = i32({3, 4}, {10, -20, 30, 40, 5, 6, -7, 8, 99, 99, 99, 99});
  Tensor ws = f32({2, 4}, {0.1f, 0.2f, 0.3f, 0.4f, 1, 2, 3, 4});
  Tensor as = f32({3}, {0.5f, 0.25f, 1});
  auto [q, s] = dequantSwigluQuant(x, ws, as, i64({2}, {1, 1}),
                                   GroupListType::Count);
  std::vector<float> h(8);
  const int32_t *xv = x.data<int32_t>();
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c)
      h[r * 4 + c] = static_cast<float>(xv[r * 4 + c]) * as.data<float>()[r] *
                     ws.data<float>()[r * 4 + c];
  Tensor a = swiglu(f32({2, 4}, h));
  auto [wq, wsc] = dynamicQuant(a);
  std::vector<int8_t> gotQ = values<int8_t>(q);
  std::vector<int8_t> wantQ = values<int8_t>(wq);
  wantQ.insert(wantQ.end(), {0, 0});
  EXPECT_EQ(gotQ, wantQ);
  std::vector<float> wantS = values<float>(wsc);
  wantS.push_back(0);
  EXPECT_EQ(values<float>(s), wantS);
  auto [q0, s0] = dequantSwigluQuant(Tensor::empty(DType::I32, {0, 4}), ws,
                                     Tensor::empty(DType::F32, {0}),
                                     i64({2}, {0, 0}), GroupListType::Cumsum);
  EXPECT_EQ(q0.shape, (std::vector<int64_t>{0, 2}));
}

TEST(Quant, DequantSwigluQuantErrors) {
  Tensor x = Tensor::zeros(DType::I32, {2, 4});
  Tensor ws = Tensor::zeros(DType::F32, {2, 4});
  Tensor as = Tensor::zeros(DType::F32, {2});
  Tensor gl = i64({2}, {1, 1});
  auto dsq = [&](const Tensor &x, const Tensor &ws, const Tensor &as,
                 const Tensor &gl) {
    return dequantSwigluQuant(x, ws, as, gl, GroupListType::Count);
  };
  const std::string op = "npu.dequant_swiglu_quant: ";
  EXPECT_ERROR(dsq(Tensor::zeros(DType::F32, {2, 4}), ws, as, gl),
               op + "x must be i32");
  EXPECT_ERROR(dsq(x, Tensor::zeros(DType::F32, {2, 6}), as, gl),
               "needs 4 columns");
  EXPECT_ERROR(dsq(x, ws, Tensor::zeros(DType::F32, {3}), gl),
               "activation scale has 3 entries for 2 rows");
  EXPECT_ERROR(dsq(x, ws, as, i64({2}, {2, 1})),
               op + "group list needs 3 rows, x has 2");
  EXPECT_ERROR(dsq(x, ws, as, i64({3}, {1, 0, 0})),
               "group list has 3 groups, weight scale 2");
}

} // namespace
