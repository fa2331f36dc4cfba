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
/// Output columns per block of work (one thread's accumulators: M x this).
constexpr int64_t kBlockColumns = 256;

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
  MOE_REQUIRE(groupSize > 0 && k % groupSize == 0, kOp,
              "group size " + num(groupSize) + " must divide K " + num(k));
  requireDim(antiquantScale, 0, k / groupSize, kOp, "antiquant scale");
  requireDim(antiquantScale, 1, n, kOp, "antiquant scale");

  // antiquant_scale.to(x.dtype), then each weight dequantized in x's type,
  // one row of a column block at a time (the whole dequantized matrix of a
  // DeepSeek shared expert would be 117 MB); every output sums over k in
  // order, in f32.
  DType dtype = x.dtype;
  const float *scale = antiquantScale.data<float>();
  const uint8_t *packed = weight.bytes();
  std::vector<float> xf = toF32(x);
  Tensor out = Tensor::empty(dtype, {m, n});
  int64_t blocks = (n + kBlockColumns - 1) / kBlockColumns;
  parallelFor(blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w(kBlockColumns);
    std::vector<float> acc;
    for (int64_t blk = begin; blk < end; ++blk) {
      int64_t c0 = blk * kBlockColumns, cols = std::min(kBlockColumns, n - c0);
      acc.assign(static_cast<size_t>(m * cols), 0.0f);
      for (int64_t r = 0; r < k; ++r) {
        const float *s = scale + (r / groupSize) * n + c0;
        for (int64_t c = 0; c < cols; ++c)
          w[c] = roundTo(static_cast<float>(getI4(packed, r * n + c0 + c)) *
                             roundTo(s[c], dtype),
                         dtype);
        for (int64_t i = 0; i < m; ++i) {
          float a = xf[i * k + r];
          float *row = acc.data() + i * cols;
          for (int64_t c = 0; c < cols; ++c)
            row[c] += a * w[c];
        }
      }
      for (int64_t i = 0; i < m; ++i)
        storeF32(out, i * n + c0, cols, acc.data() + i * cols);
    }
  });
  return out;
}

} // namespace moert
