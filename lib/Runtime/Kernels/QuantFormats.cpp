//===- QuantFormats.cpp - fp8 codecs, npu.quant_dequant, weights ----------===//
//
// Bit-exact OCP fp8 encode / decode (round to nearest even, saturating),
// the activation quantize-dequantize of the fp8 schemes (npu.quant_dequant)
// and the dequantization of fp8 / int8 weights (npu.dequantize_weights).
// docs/Quantization.md, "fp8 and int8 weight-only schemes".
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/QuantFormats.h"
#include "moe/Runtime/QuantFp4.h"
#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <cmath>
#include <limits>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kQuantDequant = "npu.quant_dequant";
constexpr const char *kDequantWeights = "npu.dequantize_weights";

/// An OFP8 format: exponent and mantissa bits, bias, largest finite value,
/// and whether the all-ones exponent holds infinities and NaNs (E5M2) or
/// ordinary values with only mantissa all-ones as NaN (E4M3).
struct Fp8Spec {
  int mantissa;
  int bias;
  float max;
  bool ieee;
};

Fp8Spec specOf(QuantFormat format) {
  if (format == QuantFormat::Fp8E5M2)
    return {2, 15, 57344.0f, true};
  return {3, 7, 448.0f, false};
}
} // namespace

float formatMax(QuantFormat format) {
  switch (format) {
  case QuantFormat::Int8:
    return 127.0f;
  case QuantFormat::Fp8E4M3:
  case QuantFormat::Fp8E5M2:
    return specOf(format).max;
  case QuantFormat::Mxfp4:
  case QuantFormat::Nvfp4:
    return 6.0f; // e2m1
  }
  return 0.0f;
}

uint8_t encodeFp8(float v, QuantFormat format) {
  Fp8Spec f = specOf(format);
  uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  if (std::isnan(v))
    return static_cast<uint8_t>(sign | 0x7F); // S.1111.111 / S.11111.11
  double a = std::fabs(static_cast<double>(v));
  const int minExp = 1 - f.bias; // exponent of the smallest normal
  // The quantum of a's binade (subnormals share the smallest normal's);
  // a / quantum and q * quantum are exact in double, rint is ties-to-even.
  double rounded = 0.0;
  if (a != 0.0 && std::isfinite(a)) {
    int exp = 0;
    (void)std::frexp(a, &exp); // a = m * 2^exp, m in [0.5, 1)
    int e = std::max(exp - 1, minExp);
    double quantum = std::ldexp(1.0, e - f.mantissa);
    rounded = std::rint(a / quantum) * quantum;
  }
  if (!std::isfinite(a) || rounded > f.max)
    rounded = f.max; // saturate
  if (rounded == 0.0)
    return sign;
  int exp = 0;
  (void)std::frexp(rounded, &exp);
  int e = exp - 1;
  unsigned field, mant;
  if (e < minExp) { // subnormal: exponent field 0
    field = 0;
    mant = static_cast<unsigned>(std::ldexp(rounded, f.mantissa - minExp));
  } else {
    field = static_cast<unsigned>(e + f.bias);
    mant = static_cast<unsigned>(std::ldexp(rounded, f.mantissa - e)) -
           (1u << f.mantissa);
  }
  return static_cast<uint8_t>(sign | (field << f.mantissa) | mant);
}

float decodeFp8(uint8_t bits, QuantFormat format) {
  Fp8Spec f = specOf(format);
  const int expBits = 7 - f.mantissa;
  unsigned mantMask = (1u << f.mantissa) - 1;
  unsigned expMask = (1u << expBits) - 1;
  unsigned mant = bits & mantMask;
  unsigned field = (bits >> f.mantissa) & expMask;
  float sign = (bits & 0x80) ? -1.0f : 1.0f;
  if (f.ieee && field == expMask)
    return mant ? std::numeric_limits<float>::quiet_NaN()
                : sign * std::numeric_limits<float>::infinity();
  if (!f.ieee && field == expMask && mant == mantMask)
    return std::numeric_limits<float>::quiet_NaN();
  if (field == 0)
    return sign * std::ldexp(static_cast<float>(mant), 1 - f.bias - f.mantissa);
  return sign * std::ldexp(static_cast<float>(mant | (1u << f.mantissa)),
                           static_cast<int>(field) - f.bias - f.mantissa);
}

float roundToFormat(float v, QuantFormat format) {
  if (format == QuantFormat::Int8) {
    if (std::isnan(v))
      return v;
    return std::fmin(127.0f, std::fmax(-127.0f, std::nearbyint(v)));
  }
  if (format == QuantFormat::Mxfp4 || format == QuantFormat::Nvfp4)
    return decodeE2M1(encodeE2M1(v));
  return decodeFp8(encodeFp8(v, format), format);
}

Tensor quantDequant(const Tensor &x, QuantFormat format, int64_t groupSize) {
  if (format == QuantFormat::Mxfp4 || format == QuantFormat::Nvfp4)
    return quantDequantFp4(x, format, groupSize);
  requireRank(x, {2}, kQuantDequant, "x");
  requireFloat(x, kQuantDequant, "x");
  int64_t m = x.dim(0), k = x.dim(1);
  int64_t group = groupSize == 0 ? k : groupSize;
  MOE_REQUIRE(group > 0 && (k == 0 || k % group == 0), kQuantDequant,
              "group size " + num(groupSize) + " must divide the row length " +
                  num(k));
  std::vector<float> xf = toF32(x);
  Tensor out = Tensor::empty(DType::F32, {m, k});
  float *o = out.data<float>();
  const float fmax = formatMax(format);
  parallelFor(m, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t g0 = 0; g0 < k; g0 += group) {
        const float *in = xf.data() + r * k + g0;
        float amax = 0.0f;
        bool nan = false;
        for (int64_t c = 0; c < group; ++c) {
          nan = nan || std::isnan(in[c]);
          amax = std::fmax(amax, std::fabs(in[c]));
        }
        // A NaN in the group makes its scale, and so the group, NaN.
        float scale = nan ? std::numeric_limits<float>::quiet_NaN()
                          : amax / fmax;
        for (int64_t c = 0; c < group; ++c)
          o[r * k + g0 + c] =
              scale == 0.0f ? 0.0f : roundToFormat(in[c] / scale, format) * scale;
      }
  });
  return out;
}

Tensor dequantizeWeights(const Tensor &weight, const Tensor &scale,
                         QuantFormat format, int64_t blockK, int64_t blockN,
                         DType out) {
  requireRank(weight, {3}, kDequantWeights, "weight");
  requireRank(scale, {3}, kDequantWeights, "scale");
  requireType(scale, DType::F32, kDequantWeights, "scale");
  MOE_REQUIRE(
      format != QuantFormat::Mxfp4 && format != QuantFormat::Nvfp4,
      kDequantWeights,
      "packed fp4 weights are dequantized by npu.dequantize_fp4_weights");
  DType want = format == QuantFormat::Int8      ? DType::I8
               : format == QuantFormat::Fp8E4M3 ? DType::F8E4M3FN
                                                : DType::F8E5M2;
  requireType(weight, want, kDequantWeights, "weight");
  MOE_REQUIRE(isFloat(out), kDequantWeights,
              std::string("result must be float, got ") + dtypeName(out));
  int64_t l = weight.dim(0), k = weight.dim(1), n = weight.dim(2);
  MOE_REQUIRE(blockK > 0 && blockN > 0 && k % blockK == 0 && n % blockN == 0,
              kDequantWeights,
              "blocks [" + num(blockK) + ", " + num(blockN) +
                  "] must tile the weight's [K, N] = [" + num(k) + ", " +
                  num(n) + "]");
  requireDim(scale, 0, l, kDequantWeights, "scale");
  requireDim(scale, 1, k / blockK, kDequantWeights, "scale");
  requireDim(scale, 2, n / blockN, kDequantWeights, "scale");
  Tensor result = Tensor::empty(out, {l, k, n});
  const float *s = scale.data<float>();
  const uint8_t *w = weight.bytes();
  int64_t sk = k / blockK, sn = n / blockN;
  parallelFor(l * k, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t lk = begin; lk < end; ++lk) {
      int64_t e = lk / k, r = lk % k;
      const float *srow = s + (e * sk + r / blockK) * sn;
      const uint8_t *wrow = w + lk * n;
      for (int64_t c = 0; c < n; ++c) {
        float v = format == QuantFormat::Int8
                      ? static_cast<float>(static_cast<int8_t>(wrow[c]))
                      : decodeFp8(wrow[c], format);
        row[c] = v * srow[c / blockN];
      }
      storeF32(result, lk * n, n, row.data());
    }
  });
  return result;
}

} // namespace moert
