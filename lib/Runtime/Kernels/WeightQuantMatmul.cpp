//===- WeightQuantMatmul.cpp - npu.weight_quant_matmul --------------------===//
//
// The weight-only matmul of seed 001's AscendW4A8DynamicLinearMethod
// (torch_npu.npu_weight_quant_batchmatmul with antiquant_scale): float
// activations, int4 weights dequantized per group with the antiquant scale
// rounded to the activations' type; docs/Quantization.md, "W4A8 shared
// experts".
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <algorithm>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kOp = "npu.weight_quant_matmul";

/// `v` rounded to `dtype` (nearest even) and widened back to f32.
float roundTo(float v, DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return bf16ToFloat(floatToBf16(v));
  case DType::F16:
    return f16ToFloat(floatToF16(v));
  default:
    return v;
  }
}
} // namespace

Tensor weightQuantMatmul(const Tensor &x, const Tensor &weight,
                         const Tensor &antiquantScale, int64_t groupSize) {
  requireRank(x, {2}, kOp, "x");
  requireFloat(x, kOp, "x");
  requireRank(weight, {2}, kOp, "weight");
  requireType(weight, DType::I4, kOp, "weight");
  requireRank(antiquantScale, {2}, kOp, "antiquant scale");
  requireType(antiquantScale, DType::F32, kOp, "antiquant scale");
  int64_t m = x.dim(0), k = x.dim(1), n = weight.dim(1);
  requireDim(weight, 0, k, kOp, "weight");
  require(groupSize > 0 && k % groupSize == 0, kOp,
          "group size " + num(groupSize) + " must divide K " + num(k));
  requireDim(antiquantScale, 0, k / groupSize, kOp, "antiquant scale");
  requireDim(antiquantScale, 1, n, kOp, "antiquant scale");

  // antiquant_scale.to(x.dtype), then each weight dequantized in x's type.
  DType dtype = x.dtype;
  std::vector<float> w(static_cast<size_t>(k * n));
  const float *scale = antiquantScale.data<float>();
  const uint8_t *packed = weight.bytes();
  parallelFor(k, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float *s = scale + (r / groupSize) * n;
      for (int64_t c = 0; c < n; ++c)
        w[r * n + c] = roundTo(
            static_cast<float>(getI4(packed, r * n + c)) * roundTo(s[c], dtype),
            dtype);
    }
  });

  std::vector<float> xf = toF32(x);
  Tensor out = Tensor::empty(dtype, {m, n});
  parallelFor(m, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(n));
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t r = 0; r < k; ++r) {
        float a = xf[i * k + r];
        const float *row = w.data() + r * n;
        for (int64_t c = 0; c < n; ++c)
          acc[c] += a * row[c];
      }
      storeF32(out, i * n, n, acc.data());
    }
  });
  return out;
}

} // namespace moert
