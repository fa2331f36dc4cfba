//===- QuantFp4Test.cpp - e2m1 / e8m0 codecs and the fp4 kernels ----------===//
//
// Bit patterns from the OCP MX v1.0 specification (FP4 E2M1 table, E8M0,
// the shared-scale rule) and NVIDIA's nvfp4 definition (E4M3 block scale,
// global scale amax / (6 * 448)); npu.quant_dequant with mxfp4 / nvfp4 and
// npu.dequantize_fp4_weights on hand-sized cases (values worked out from
// docs/Quantization.md, "mxfp4 and nvfp4"), and their run-time errors.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/QuantFormats.h"
#include "moe/Runtime/QuantFp4.h"

#include <cmath>
#include <limits>

using namespace moert;
using namespace moert::test;

namespace {
constexpr QuantFormat MX = QuantFormat::Mxfp4;
constexpr QuantFormat NV = QuantFormat::Nvfp4;

TEST(E2M1, TableOfTheSpec) {
  const float table[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (uint8_t c = 0; c < 8; ++c) {
    EXPECT_EQ(decodeE2M1(c), table[c]) << int(c);
    EXPECT_EQ(decodeE2M1(c | 0x8), -table[c]) << int(c);
    EXPECT_EQ(encodeE2M1(table[c]), c);
    if (c != 0) {
      EXPECT_EQ(encodeE2M1(-table[c]), c | 0x8);
    }
  }
  // Only the low nibble is read.
  EXPECT_EQ(decodeE2M1(0xF3), 1.5f);
  EXPECT_EQ(decodeE2M1(0x3B), -1.5f);
}

TEST(E2M1, TiesToEvenAndSaturation) {
  EXPECT_EQ(encodeE2M1(0.25f), 0x0);  // 0 | 0.5: even code 0
  EXPECT_EQ(encodeE2M1(0.75f), 0x2);  // 0.5 | 1.0
  EXPECT_EQ(encodeE2M1(1.25f), 0x2);  // 1.0 | 1.5
  EXPECT_EQ(encodeE2M1(1.75f), 0x4);  // 1.5 | 2.0
  EXPECT_EQ(encodeE2M1(2.5f), 0x4);   // 2.0 | 3.0
  EXPECT_EQ(encodeE2M1(3.5f), 0x6);   // 3.0 | 4.0
  EXPECT_EQ(encodeE2M1(5.0f), 0x6);   // 4.0 | 6.0
  EXPECT_EQ(encodeE2M1(0.3f), 0x1);
  EXPECT_EQ(encodeE2M1(5.1f), 0x7);
  EXPECT_EQ(encodeE2M1(-2.6f), 0xD);
  EXPECT_EQ(encodeE2M1(100.0f), 0x7);
  EXPECT_EQ(encodeE2M1(-std::numeric_limits<float>::infinity()), 0xF);
  EXPECT_EQ(encodeE2M1(std::numeric_limits<float>::quiet_NaN()), 0x0);
  EXPECT_EQ(encodeE2M1(-0.0f), 0x8);
}

TEST(E8M0, ValuesAndSharedScale) {
  EXPECT_EQ(decodeE8M0(127), 1.0f);
  EXPECT_EQ(decodeE8M0(130), 8.0f);
  EXPECT_EQ(decodeE8M0(0), std::ldexp(1.0f, -127));
  EXPECT_EQ(decodeE8M0(254), std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(decodeE8M0(0xFF)));
  // floor(log2(amax)) - 2, biased by 127.
  EXPECT_EQ(mxScaleCode(6.0f), 127);
  EXPECT_EQ(mxScaleCode(7.9f), 127);
  EXPECT_EQ(mxScaleCode(8.0f), 128);
  EXPECT_EQ(mxScaleCode(4.0f), 127);
  EXPECT_EQ(mxScaleCode(3.99f), 126);
  EXPECT_EQ(mxScaleCode(0.75f), 124);
  EXPECT_EQ(mxScaleCode(0.0f), 0);
  EXPECT_EQ(mxScaleCode(std::ldexp(1.0f, -140)), 0); // clamped to 2^-127
  EXPECT_EQ(mxScaleCode(std::numeric_limits<float>::quiet_NaN()), 0xFF);
  EXPECT_EQ(mxScaleCode(std::numeric_limits<float>::infinity()), 0xFF);
  EXPECT_EQ(nvfp4GlobalScale(2688.0f), 1.0f);
  EXPECT_EQ(fp4BlockSize(MX), 32);
  EXPECT_EQ(fp4BlockSize(NV), 16);
}

TEST(QuantDequantFp4, MxBlocks) {
  // Block 0 has amax 96 = 6 * 16: X = 16; 19.2 / 16 = 1.2 -> 1.0; block 1
  // holds 7 only: X = 2^(2 - 2) = 1 and 7 saturates to 6; block 2 a NaN.
  std::vector<float> row(96, 0.0f);
  row[0] = 96.0f, row[1] = -48.0f, row[2] = 19.2f, row[3] = 0.3f;
  row[32] = 7.0f;
  row[64] = std::numeric_limits<float>::quiet_NaN();
  row[65] = 1.0f;
  std::vector<float> out = floats(quantDequant(f32({1, 96}, row), MX, 32));
  EXPECT_EQ(out[0], 96.0f);
  EXPECT_EQ(out[1], -48.0f);
  EXPECT_EQ(out[2], 16.0f);
  EXPECT_EQ(out[3], 0.0f); // 0.3 / 16 -> 0
  EXPECT_EQ(out[4], 0.0f);
  EXPECT_EQ(out[32], 6.0f);
  EXPECT_TRUE(std::isnan(out[64]));
  EXPECT_TRUE(std::isnan(out[65]));
}

TEST(QuantDequantFp4, NvBlocksWithTheRowGlobal) {
  // Row amax 2688: global 1. Block 0 amax 2688: sf = e4m3(448) = 448, 3
  // becomes 0; block 1 amax 6: sf 1, -2.9 -> -3.
  std::vector<float> row(32, 0.0f);
  row[0] = 2688.0f, row[1] = 3.0f, row[16] = 6.0f, row[17] = -2.9f;
  std::vector<float> out = floats(quantDequant(f32({2, 32}, [&] {
    std::vector<float> two = row;
    two.resize(64, 0.0f); // the second row is all zeros
    return two;
  }()), NV, 16));
  EXPECT_EQ(out[0], 2688.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[16], 6.0f);
  EXPECT_EQ(out[17], -3.0f);
  for (int c = 32; c < 64; ++c)
    EXPECT_EQ(out[c], 0.0f);
  // The block scale rounds to e4m3: row amax 2688 (global 1), block amax
  // 5 * 6 = 30: sf = e4m3(5) = 5 exactly; amax 6 * 4.25 = 25.5: e4m3(4.25)
  // = 4 (ties to even between 4 and 4.5), so 25.5 / 4 = 6.375 saturates to
  // 6 -> 24.
  std::vector<float> r2(32, 0.0f);
  r2[0] = 2688.0f, r2[16] = 25.5f;
  std::vector<float> o2 = floats(quantDequant(f32({1, 32}, r2), NV, 16));
  EXPECT_EQ(o2[16], 24.0f);
}

TEST(QuantDequantFp4, Errors) {
  Tensor x = f32({1, 32}, std::vector<float>(32, 1.0f));
  EXPECT_ERROR(quantDequant(x, MX, 16), "blocks of 32");
  EXPECT_ERROR(quantDequant(x, NV, 0), "blocks of 16");
  EXPECT_ERROR(quantDequant(f32({1, 48}, std::vector<float>(48, 1.0f)), MX,
                            32),
               "must divide the row length 48");
}

TEST(DequantizeFp4Weights, MxPackedLowNibbleFirst) {
  // K = 32 (16 bytes), N = 1: byte 0 = 0xA1 holds row 0 = code 1 (0.5)
  // and row 1 = code 0xA (-1.0); scale code 128 = 2.
  std::vector<int8_t> bytes(16, 0);
  bytes[0] = static_cast<int8_t>(0xA1);
  bytes[15] = static_cast<int8_t>(0x70); // row 31 = 6
  Tensor w = i8({1, 16, 1}, bytes);
  Tensor s = i8({1, 1, 1}, {static_cast<int8_t>(128)});
  std::vector<float> out =
      floats(dequantizeFp4Weights(w, s, nullptr, MX, DType::F32));
  ASSERT_EQ(out.size(), 32u);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[30], 0.0f);
  EXPECT_EQ(out[31], 12.0f);
}

TEST(DequantizeFp4Weights, NvScaleTimesGlobal) {
  // Two experts, K = 16, N = 1; e4m3 scales 1.0 (0x38) and 2.0 (0x40),
  // globals 0.5 and 3: (6 * 1) * 0.5 = 3 and (-6 * 2) * 3 = -36.
  std::vector<int8_t> bytes(16, 0);
  bytes[0] = 0x77;
  bytes[8] = 0x0F;
  Tensor w = i8({2, 8, 1}, bytes);
  Tensor s = filled(DType::F8E4M3FN, {2, 1, 1}, std::vector<uint8_t>{0x38, 0x40});
  Tensor g = f32({2}, {0.5f, 3.0f});
  std::vector<float> out =
      floats(dequantizeFp4Weights(w, s, &g, NV, DType::F32));
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], 3.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[16], -36.0f);
  EXPECT_EQ(out[17], 0.0f);
  // Rounded to the result type: (1.5 * 1) * 0.3 in bf16.
  Tensor g2 = f32({2}, {0.3f, 1.0f});
  std::vector<int8_t> b2(16, 0);
  b2[0] = 0x03;
  std::vector<float> r = floats(
      dequantizeFp4Weights(i8({2, 8, 1}, b2), s, &g2, NV, DType::BF16));
  float want = 1.5f * 0.3f;
  EXPECT_NE(r[0], want); // not representable in bf16
  EXPECT_NEAR(r[0], want, want * 0.004f);
}

TEST(DequantizeFp4Weights, Errors) {
  Tensor w = i8({1, 16, 1}, std::vector<int8_t>(16, 0));
  Tensor mx = i8({1, 1, 1}, {127});
  Tensor nv = filled(DType::F8E4M3FN, {1, 2, 1}, std::vector<uint8_t>{0x38, 0x38});
  Tensor g = f32({1}, {1.0f});
  EXPECT_ERROR(dequantizeFp4Weights(w, mx, nullptr, QuantFormat::Int8,
                                    DType::F32),
               "mxfp4 or nvfp4");
  EXPECT_ERROR(dequantizeFp4Weights(w, nv, &g, MX, DType::F32), "scale");
  EXPECT_ERROR(dequantizeFp4Weights(w, nv, nullptr, NV, DType::F32),
               "nvfp4 needs a global scale");
  EXPECT_ERROR(dequantizeFp4Weights(w, mx, &g, MX, DType::F32),
               "mxfp4 takes no global scale");
  EXPECT_ERROR(dequantizeFp4Weights(i8({1, 8, 1}, std::vector<int8_t>(8, 0)),
                                    mx, nullptr, MX, DType::F32),
               "must divide K = 16");
  EXPECT_ERROR(dequantizeFp4Weights(w, mx, nullptr, MX, DType::I8),
               "result must be float");
  EXPECT_ERROR(dequantizeWeights(w, f32({1, 1, 1}, {1.0f}), MX, 32, 1,
                                 DType::F32),
               "npu.dequantize_fp4_weights");
}

} // namespace
