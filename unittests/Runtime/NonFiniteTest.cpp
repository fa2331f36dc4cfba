//===- NonFiniteTest.cpp - the NaN/Inf policy of the runtime --------------===//
//
// docs/Reliability.md, "NaN and Inf": the gate rejects NaN logits and NaN
// or infinite correction biases, takes the limits of infinite logits
// (softmax: the +inf experts share probability 1; sigmoid(+-inf) = 1 / 0),
// and the finite checks name the row and the value. Expected values are the
// mathematical limits, written out here.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/Finite.h"

#include <cmath>
#include <limits>

using namespace moert;
using namespace moert::test;

namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

GatingParams params(int64_t k, Scoring s = Scoring::Softmax) {
  GatingParams p;
  p.k = k;
  p.scoring = s;
  return p;
}

/// The message of the Error `f` throws ("" when it does not throw).
template <typename F> std::string errorOf(F f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(NonFiniteGate, NanLogitIsAnErrorNamingRowAndExpert) {
  // Softmax: a NaN used to give NaN weights and ids [0, 1].
  Tensor logits = f32({2, 4}, {0, 1, 2, 3, 1, kNan, 0, 0});
  EXPECT_EQ(errorOf([&] { gatingTopK(logits, nullptr, params(2)); }),
            "npu.moe_gating_top_k: logits row 1 holds nan (expert 1): the "
            "experts of that token cannot be ranked");
  // Sigmoid: [nan, 1, 2, 3] used to drop the best expert and skip the
  // renormalization.
  GatingParams p = params(2, Scoring::Sigmoid);
  p.renormalize = true;
  Tensor sig = f32({1, 4}, {kNan, 1, 2, 3});
  EXPECT_EQ(errorOf([&] { gatingTopK(sig, nullptr, p); }),
            "npu.moe_gating_top_k: logits row 0 holds nan (expert 0): the "
            "experts of that token cannot be ranked");
}

TEST(NonFiniteGate, SoftmaxPlusInfinityTakesTheLimit) {
  // One +inf: probability 1 (it used to be NaN), every other expert 0, so
  // the second pick is a tie of zeros that goes to the lowest id; two +inf:
  // 1/2 each.
  Tensor logits = f32({2, 4}, {0, kInf, 5, -kInf, kInf, 0, kInf, 1});
  auto [w, ids] = gatingTopK(logits, nullptr, params(2));
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{1, 0, 0, 2}));
  EXPECT_EQ(values<float>(w), (std::vector<float>{1, 0, 0.5f, 0.5f}));
}

TEST(NonFiniteGate, SoftmaxMinusInfinityMasksAnExpert) {
  // exp(-inf) = 0: the others share the probability as without it.
  Tensor logits = f32({1, 3}, {-kInf, std::log(3.0f), 0});
  auto [w, ids] = gatingTopK(logits, nullptr, params(2));
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{1, 2}));
  std::vector<float> got = values<float>(w);
  EXPECT_FLOAT_EQ(got[0], 0.75f);
  EXPECT_FLOAT_EQ(got[1], 0.25f);
  // Every expert -inf: 0 / 0, an error.
  Tensor none = f32({2, 2}, {0, 0, -kInf, -kInf});
  EXPECT_EQ(errorOf([&] { gatingTopK(none, nullptr, params(1)); }),
            "npu.moe_gating_top_k: logits row 1 is -inf for every expert: its "
            "softmax is undefined");
}

TEST(NonFiniteGate, SigmoidInfinitiesAreOneAndZero) {
  GatingParams p = params(2, Scoring::Sigmoid);
  p.renormalize = true;
  Tensor logits = f32({1, 4}, {-kInf, 0, kInf, -kInf});
  auto [w, ids] = gatingTopK(logits, nullptr, p);
  EXPECT_EQ(values<int32_t>(ids), (std::vector<int32_t>{2, 1}));
  // sigmoid: 1 and 0.5, renormalized.
  std::vector<float> got = values<float>(w);
  EXPECT_FLOAT_EQ(got[0], 1 / 1.5f);
  EXPECT_FLOAT_EQ(got[1], 0.5f / 1.5f);
  // All -inf: every score 0, experts 0 and 1, weights 0 (no renormalization
  // of a zero sum).
  Tensor low = f32({1, 3}, {-kInf, -kInf, -kInf});
  auto [w0, ids0] = gatingTopK(low, nullptr, p);
  EXPECT_EQ(values<int32_t>(ids0), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(values<float>(w0), (std::vector<float>{0, 0}));
}

TEST(NonFiniteGate, BiasMustBeFinite) {
  GatingParams p = params(1, Scoring::Sigmoid);
  p.groupCount = 2;
  p.kGroup = 1;
  Tensor logits = f32({1, 4}, {0, 1, 2, 3});
  for (float bad : {kNan, kInf, -kInf}) {
    Tensor bias = f32({4}, {0, 0, bad, 0});
    std::string want = std::string("npu.moe_gating_top_k: the correction "
                                   "bias of expert 2 is ") +
                       (std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf") +
                       "; it must be finite";
    EXPECT_EQ(errorOf([&] { gatingTopK(logits, &bias, p); }), want);
  }
}

TEST(NonFiniteCheck, FirstNonFiniteAndItsRow) {
  Tensor t = f32({3, 2}, {1, 2, 3, kInf, kNan, 0});
  EXPECT_EQ(firstNonFinite(t), 3);
  EXPECT_EQ(firstNonFinite(t, /*infinities=*/false), 4);
  EXPECT_EQ(describeNonFinite(t, 3), "row 1 holds inf (element [1, 1])");
  EXPECT_EQ(errorOf([&] { requireFinite(t, "result 0"); }),
            "result 0 (tensor<3x2xf32>) is not finite: row 1 holds inf "
            "(element [1, 1])");
  EXPECT_EQ(firstNonFinite(f32({2}, {1, -2})), -1);
  // Integer tensors are never non-finite.
  EXPECT_EQ(firstNonFinite(i32({2}, {-1, 0x7F800000})), -1);
}

TEST(NonFiniteCheck, SixteenBitFloats) {
  for (DType d : {DType::BF16, DType::F16}) {
    Tensor t = convertFloat(f32({2, 2}, {0, 1, -kInf, kNan}), d);
    EXPECT_EQ(firstNonFinite(t), 2) << dtypeName(d);
    EXPECT_EQ(firstNonFinite(t, /*infinities=*/false), 3) << dtypeName(d);
    EXPECT_EQ(describeNonFinite(t, 2), "row 1 holds -inf (element [1, 0])");
  }
  // The largest finite f16 (65504) is finite.
  EXPECT_EQ(firstNonFinite(convertFloat(f32({1}, {65504}), DType::F16)), -1);
}

// Tensors of many scan chunks (16 Ki elements each, scanned in parallel):
// the first bad element is found exactly wherever it lies, past bad
// elements of later chunks, and the values at the edge of finite (the
// largest, the smallest subnormal, -0, both signs) are never reported.
TEST(NonFiniteCheck, FirstOfManyChunksAndTheFiniteEdges) {
  const int64_t n = 5 * (1 << 14) + 123;
  const float edges[] = {std::numeric_limits<float>::max(),
                         -std::numeric_limits<float>::max(),
                         std::numeric_limits<float>::denorm_min(), -0.0f,
                         -1.5f, 65504.0f};
  for (DType d : {DType::F32, DType::BF16, DType::F16}) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i)
      v[i] = edges[i % 6];
    // The largest finite value of the format (f32's rounds to bf16's inf).
    float most = d == DType::F16    ? 65504.0f
                 : d == DType::BF16 ? 3.3895314e38f // 0x7F7F
                                    : std::numeric_limits<float>::max();
    for (float &x : v)
      x = std::fabs(x) > most ? std::copysign(most, x) : x;
    std::vector<int64_t> shape = {n};
    EXPECT_EQ(firstNonFinite(convertFloat(f32(shape, v), d)), -1)
        << dtypeName(d);
    for (int64_t at : {int64_t(0), int64_t(1 << 14) - 1, int64_t(2 << 14) + 7,
                       n - 1}) {
      std::vector<float> w = v;
      w[at] = -kInf;
      if (at + 1 < n)
        w[at + 1] = kNan;
      w[n - 1] = at == n - 1 ? -kInf : kNan; // a later NaN
      Tensor t = convertFloat(f32(shape, w), d);
      EXPECT_EQ(firstNonFinite(t), at) << dtypeName(d) << " at " << at;
      EXPECT_EQ(firstNonFinite(t, /*infinities=*/false),
                at + 1 < n ? at + 1 : -1)
          << dtypeName(d) << " at " << at;
    }
  }
}

} // namespace
