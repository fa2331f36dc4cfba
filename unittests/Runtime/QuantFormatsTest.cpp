//===- QuantFormatsTest.cpp - fp8 codecs and the fp8 / int8 kernels -------===//
//
// Bit patterns from the OCP 8-bit floating point specification (OFP8
// v1.0): largest finite values, subnormals, NaN and infinity codes, ties
// to even, saturation; every code round-trips. npu.quant_dequant and
// npu.dequantize_weights on hand-sized cases (values worked out from the
// definition in docs/Quantization.md) and their run-time errors.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/QuantFormats.h"

#include <cmath>
#include <limits>

using namespace moert;
using namespace moert::test;

namespace {
constexpr QuantFormat E4 = QuantFormat::Fp8E4M3;
constexpr QuantFormat E5 = QuantFormat::Fp8E5M2;

TEST(Fp8, KnownBitPatterns) {
  EXPECT_EQ(encodeFp8(448.0f, E4), 0x7E);
  EXPECT_EQ(encodeFp8(57344.0f, E5), 0x7B);
  EXPECT_EQ(encodeFp8(1.0f, E4), 0x38);
  EXPECT_EQ(encodeFp8(1.0f, E5), 0x3C);
  EXPECT_EQ(encodeFp8(-2.0f, E4), 0xC0);
  EXPECT_EQ(encodeFp8(-0.0f, E4), 0x80);
  EXPECT_EQ(decodeFp8(0x01, E4), std::ldexp(1.0f, -9));
  EXPECT_EQ(decodeFp8(0x01, E5), std::ldexp(1.0f, -16));
  EXPECT_EQ(decodeFp8(0x7E, E4), 448.0f);
  EXPECT_TRUE(std::isnan(decodeFp8(0x7F, E4)));
  EXPECT_TRUE(std::isnan(decodeFp8(0xFF, E4)));
  EXPECT_EQ(decodeFp8(0x7C, E5), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(decodeFp8(0x7D, E5)));
}

TEST(Fp8, RoundsToNearestEvenAndSaturates) {
  // 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39): even wins.
  EXPECT_EQ(encodeFp8(1.0625f, E4), 0x38);
  EXPECT_EQ(encodeFp8(1.1875f, E4), 0x3A);
  EXPECT_EQ(encodeFp8(1.07f, E4), 0x39);
  // Halfway between 448 and the (NaN) next code: saturates to 448.
  EXPECT_EQ(encodeFp8(464.0f, E4), 0x7E);
  EXPECT_EQ(encodeFp8(1e9f, E4), 0x7E);
  EXPECT_EQ(encodeFp8(-1e9f, E5), 0xFB);
  EXPECT_EQ(encodeFp8(-std::numeric_limits<float>::infinity(), E4), 0xFE);
  EXPECT_EQ(encodeFp8(std::nanf(""), E4) & 0x7F, 0x7F);
  EXPECT_EQ(encodeFp8(std::nanf(""), E5) & 0x7F, 0x7F);
  // Subnormals: half the smallest rounds to zero (even), 0.75 of it up.
  EXPECT_EQ(encodeFp8(std::ldexp(1.0f, -10), E4), 0x00);
  EXPECT_EQ(encodeFp8(1.5f * std::ldexp(1.0f, -10), E4), 0x01);
  EXPECT_EQ(encodeFp8(std::ldexp(1.0f, -17), E5), 0x00);
}

TEST(Fp8, EveryFiniteCodeRoundTrips) {
  for (QuantFormat f : {E4, E5})
    for (int c = 0; c < 256; ++c) {
      float v = decodeFp8(static_cast<uint8_t>(c), f);
      if (std::isfinite(v))
        EXPECT_EQ(encodeFp8(v, f), c) << "code " << c;
    }
}

TEST(QuantDequant, PerRowAndPerGroup) {
  // Row max 448 -> scale 1: 3.3 rounds to 3.25 (quantum 0.25 in [2, 4)).
  Tensor x = f32({2, 4}, {448.0f, -1.0f, 0.0f, 3.3f, 0.0f, 0.0f, 0.0f, 0.0f});
  std::vector<float> out = floats(quantDequant(x, E4, 0));
  EXPECT_EQ(out, (std::vector<float>{448.0f, -1.0f, 0.0f, 3.25f, 0, 0, 0, 0}));
  // Groups of 2: [448, -1] scale 1; [0, 3.3] scale 3.3/448: 3.3 -> 448.
  out = floats(quantDequant(x, E4, 2));
  EXPECT_EQ(out[0], 448.0f);
  EXPECT_EQ(out[3], (3.3f / 448.0f) * 448.0f);
  EXPECT_ERROR(quantDequant(x, E4, 3), "group size 3 must divide");
  EXPECT_ERROR(quantDequant(i8({1, 2}, {1, 2}), E4, 0), "x");
}

TEST(QuantDequant, NaNMakesItsGroupNaN) {
  Tensor x = f32({1, 4}, {1.0f, std::nanf(""), 2.0f, 4.0f});
  std::vector<float> out = floats(quantDequant(x, E5, 2));
  EXPECT_TRUE(std::isnan(out[0]) && std::isnan(out[1]));
  EXPECT_EQ(out[2], 2.0f);
  EXPECT_EQ(out[3], 4.0f);
}

TEST(DequantizeWeights, BlocksScaleTheirElements) {
  // [1, 2, 2] int8 with blocks (1, 2): one scale per row of K.
  Tensor w = i8({1, 2, 2}, {3, -4, 127, 0});
  Tensor s = f32({1, 2, 1}, {0.5f, 2.0f});
  EXPECT_EQ(floats(dequantizeWeights(w, s, QuantFormat::Int8, 1, 2,
                                     DType::F32)),
            (std::vector<float>{1.5f, -2.0f, 254.0f, 0.0f}));
  // fp8 codes 0x38 (1.0) and 0xC0 (-2.0), per-tensor scale 3.
  Tensor f = Tensor::empty(DType::F8E4M3FN, {1, 1, 2});
  f.bytes()[0] = 0x38;
  f.bytes()[1] = 0xC0;
  EXPECT_EQ(floats(dequantizeWeights(f, f32({1, 1, 1}, {3.0f}), E4, 1, 2,
                                     DType::BF16)),
            (std::vector<float>{3.0f, -6.0f}));
  // bf16 rounding of the product: 1.0 * (1 + 2^-9) -> 1.0.
  EXPECT_EQ(floats(dequantizeWeights(f, f32({1, 1, 1}, {1.0f + 0x1p-9f}), E4,
                                     1, 2, DType::BF16))[0],
            1.0f);
}

TEST(DequantizeWeights, Errors) {
  Tensor w = i8({1, 2, 2}, {1, 2, 3, 4});
  EXPECT_ERROR(dequantizeWeights(w, f32({1, 2, 1}, {1, 1}), E4, 1, 2,
                                 DType::F32),
               "weight");
  EXPECT_ERROR(dequantizeWeights(w, f32({1, 2, 1}, {1, 1}),
                                 QuantFormat::Int8, 3, 2, DType::F32),
               "must tile");
  EXPECT_ERROR(dequantizeWeights(w, f32({1, 1, 1}, {1}), QuantFormat::Int8, 1,
                                 2, DType::F32),
               "scale");
  EXPECT_ERROR(dequantizeWeights(w, f32({1, 2, 1}, {1, 1}),
                                 QuantFormat::Int8, 1, 2, DType::I8),
               "result must be float");
}

} // namespace
