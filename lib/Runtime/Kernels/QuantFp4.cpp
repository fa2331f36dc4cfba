//===- QuantFp4.cpp - mxfp4 / nvfp4 codecs and kernels --------------------===//
//
// Bit-exact E2M1 / E8M0 codecs, the dynamic activation quantization of the
// fp4 schemes (npu.quant_dequant with mxfp4 / nvfp4) and the
// dequantization of packed fp4 weights (npu.dequantize_fp4_weights).
// docs/Quantization.md, "mxfp4 and nvfp4".
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/QuantFp4.h"
#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"
#include "moe/Runtime/QuantFormats.h"

#include "KernelUtil.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kQuantDequant = "npu.quant_dequant";
constexpr const char *kDequantFp4 = "npu.dequantize_fp4_weights";
constexpr float kE2M1Max = 6.0f;
constexpr float kE4M3Max = 448.0f;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
} // namespace

int64_t fp4BlockSize(QuantFormat format) {
  switch (format) {
  case QuantFormat::Mxfp4:
    return 32;
  case QuantFormat::Nvfp4:
    return 16;
  default:
    return 0;
  }
}

uint8_t encodeE2M1(float v) {
  if (std::isnan(v))
    return 0;
  uint8_t sign = std::signbit(v) ? 0x8 : 0x0;
  float a = std::fabs(v);
  if (a >= kE2M1Max)
    return sign | 0x7; // saturate (infinities too)
  // The quantum of a's binade: 0.5 below 2 (the subnormal 0.5 and the
  // binade [1, 2) share it), 1 in [2, 4), 2 in [4, 6]. rint is ties-to-even
  // in units of the quantum, which is the code with the even mantissa.
  float quantum = a < 2.0f ? 0.5f : a < 4.0f ? 1.0f : 2.0f;
  float r = std::nearbyint(a / quantum) * quantum;
  // r is one of 0, 0.5, ..., 6: its code.
  uint8_t code = r < 2.0f ? static_cast<uint8_t>(r * 2.0f)       // 0..4
                 : r < 4.0f ? static_cast<uint8_t>(r + 2.0f)     // 4, 5
                            : static_cast<uint8_t>(r / 2.0f + 4.0f); // 6, 7
  return sign | code;
}

float decodeE2M1(uint8_t code) {
  unsigned exp = (code >> 1) & 0x3, man = code & 0x1;
  float mag = exp == 0 ? 0.5f * static_cast<float>(man)
                       : std::ldexp(1.0f + 0.5f * static_cast<float>(man),
                                    static_cast<int>(exp) - 1);
  return (code & 0x8) ? -mag : mag;
}

float decodeE8M0(uint8_t code) {
  if (code == 0xFF)
    return kNaN;
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

uint8_t mxScaleCode(float amax) {
  if (!std::isfinite(amax))
    return 0xFF;
  if (amax == 0.0f)
    return 0x00;
  int exp = 0;
  (void)std::frexp(amax, &exp);    // amax = m * 2^exp, m in [0.5, 1)
  int shared = (exp - 1) - 2;      // floor(log2(amax)) - emax(e2m1)
  shared = std::max(-127, std::min(127, shared));
  return static_cast<uint8_t>(shared + 127);
}

float nvfp4GlobalScale(float amax) { return amax / (kE2M1Max * kE4M3Max); }

namespace {
/// One block of `n` values quantized to mxfp4 and dequantized into `out`.
void mxBlock(const float *in, float *out, int64_t n) {
  float amax = 0.0f;
  bool nan = false;
  for (int64_t c = 0; c < n; ++c) {
    nan = nan || std::isnan(in[c]);
    amax = std::fmax(amax, std::fabs(in[c]));
  }
  uint8_t code = nan ? 0xFF : mxScaleCode(amax);
  float x = decodeE8M0(code);
  for (int64_t c = 0; c < n; ++c)
    out[c] = code == 0xFF ? kNaN : decodeE2M1(encodeE2M1(in[c] / x)) * x;
}

/// One row of `k` values quantized to nvfp4 (blocks of 16, the row's own
/// global scale) and dequantized into `out`.
void nvRow(const float *in, float *out, int64_t k) {
  float amax = 0.0f;
  bool nan = false;
  for (int64_t c = 0; c < k; ++c) {
    nan = nan || std::isnan(in[c]);
    amax = std::fmax(amax, std::fabs(in[c]));
  }
  if (nan || !std::isfinite(amax)) {
    std::fill(out, out + k, kNaN);
    return;
  }
  float global = nvfp4GlobalScale(amax);
  for (int64_t b0 = 0; b0 < k; b0 += 16) {
    float bmax = 0.0f;
    for (int64_t c = b0; c < b0 + 16; ++c)
      bmax = std::fmax(bmax, std::fabs(in[c]));
    float sf = global == 0.0f
                   ? 0.0f
                   : decodeFp8(encodeFp8((bmax / kE2M1Max) / global,
                                         QuantFormat::Fp8E4M3),
                               QuantFormat::Fp8E4M3);
    float scale = sf * global;
    for (int64_t c = b0; c < b0 + 16; ++c)
      out[c] = sf == 0.0f
                   ? 0.0f
                   : (decodeE2M1(encodeE2M1(in[c] / scale)) * sf) * global;
  }
}
} // namespace

Tensor quantDequantFp4(const Tensor &x, QuantFormat format,
                       int64_t groupSize) {
  requireRank(x, {2}, kQuantDequant, "x");
  requireFloat(x, kQuantDequant, "x");
  int64_t block = fp4BlockSize(format);
  MOE_REQUIRE(groupSize == block, kQuantDequant,
              std::string(format == QuantFormat::Mxfp4 ? "mxfp4" : "nvfp4") +
                  " quantizes blocks of " + num(block) +
                  " columns, got group size " + num(groupSize));
  int64_t m = x.dim(0), k = x.dim(1);
  MOE_REQUIRE(k % block == 0, kQuantDequant,
              "blocks of " + num(block) + " must divide the row length " +
                  num(k));
  std::vector<float> xf = toF32(x);
  Tensor out = Tensor::empty(DType::F32, {m, k});
  float *o = out.data<float>();
  parallelFor(m, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (format == QuantFormat::Nvfp4) {
        nvRow(xf.data() + r * k, o + r * k, k);
        continue;
      }
      for (int64_t b0 = 0; b0 < k; b0 += block)
        mxBlock(xf.data() + r * k + b0, o + r * k + b0, block);
    }
  });
  return out;
}

Tensor dequantizeFp4Weights(const Tensor &weight, const Tensor &scale,
                            const Tensor *globalScale, QuantFormat format,
                            DType out) {
  int64_t block = fp4BlockSize(format);
  MOE_REQUIRE(block != 0, kDequantFp4, "format must be mxfp4 or nvfp4");
  bool nv = format == QuantFormat::Nvfp4;
  requireRank(weight, {3}, kDequantFp4, "weight");
  requireRank(scale, {3}, kDequantFp4, "scale");
  requireType(weight, DType::I8, kDequantFp4, "weight");
  requireType(scale, nv ? DType::F8E4M3FN : DType::I8, kDequantFp4, "scale");
  MOE_REQUIRE(isFloat(out), kDequantFp4,
              std::string("result must be float, got ") + dtypeName(out));
  int64_t l = weight.dim(0), k = weight.dim(1) * 2, n = weight.dim(2);
  MOE_REQUIRE(k % block == 0, kDequantFp4,
              "blocks of " + num(block) + " must divide K = " + num(k));
  requireDim(scale, 0, l, kDequantFp4, "scale");
  requireDim(scale, 1, k / block, kDequantFp4, "scale");
  requireDim(scale, 2, n, kDequantFp4, "scale");
  MOE_REQUIRE(nv == (globalScale != nullptr), kDequantFp4,
              nv ? "nvfp4 needs a global scale"
                 : "mxfp4 takes no global scale");
  const float *g = nullptr;
  if (nv) {
    requireRank(*globalScale, {1}, kDequantFp4, "global_scale");
    requireType(*globalScale, DType::F32, kDequantFp4, "global_scale");
    requireDim(*globalScale, 0, l, kDequantFp4, "global_scale");
    g = globalScale->data<float>();
  }
  Tensor result = Tensor::empty(out, {l, k, n});
  const uint8_t *w = weight.bytes();
  const uint8_t *s = scale.bytes();
  parallelFor(l * k, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t lk = begin; lk < end; ++lk) {
      int64_t e = lk / k, r = lk % k;
      // Byte (e, r / 2, c) holds rows 2j (low nibble) and 2j + 1.
      const uint8_t *wrow = w + (e * (k / 2) + r / 2) * n;
      const uint8_t *srow = s + (e * (k / block) + r / block) * n;
      int shift = (r % 2) * 4;
      for (int64_t c = 0; c < n; ++c) {
        float v = decodeE2M1(static_cast<uint8_t>(wrow[c] >> shift) & 0xF);
        row[c] = nv ? (v * decodeFp8(srow[c], QuantFormat::Fp8E4M3)) * g[e]
                    : v * decodeE8M0(srow[c]);
      }
      storeF32(result, lk * n, n, row.data());
    }
  });
  return result;
}

} // namespace moert
