//===- W4A8Weights.cpp - load-time processing of w4a8 checkpoint weights -===//
//
// npu.w4a8_process_weights: seed 001's process_weights_after_loading of the
// fused-MoE w4a8_dynamic method (quant version 0) on one weight stack.
// docs/Quantization.md gives the numerics and the layouts.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <algorithm>
#include <vector>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kProcess = "npu.w4a8_process_weights";

/// `v` rounded to `dtype` (F32: unchanged).
float roundTo(float v, DType dtype) {
  if (dtype == DType::BF16)
    return bf16ToFloat(floatToBf16(v));
  if (dtype == DType::F16)
    return f16ToFloat(floatToF16(v));
  return v;
}
} // namespace

W4A8Weights w4a8ProcessWeights(const Tensor &weight, const Tensor &scale,
                               const Tensor &scaleSecond,
                               const Tensor *scaleBias) {
  requireRank(weight, {3}, kProcess, "weight");
  requireType(weight, DType::I8, kProcess, "weight");
  requireRank(scale, {3}, kProcess, "scale");
  requireFloat(scale, kProcess, "scale");
  requireRank(scaleSecond, {3}, kProcess, "scale_second");
  MOE_REQUIRE(scaleSecond.dtype == scale.dtype, kProcess,
              std::string("scale_second must have the scale's dtype ") +
                  dtypeName(scale.dtype) + ", got " + scaleSecond.str());
  // Quant version 1.0.0 (with a scale bias) packs two channels per byte.
  bool prepacked = scaleBias != nullptr;
  int64_t l = weight.dim(0), n = weight.dim(1) * (prepacked ? 2 : 1),
          k = weight.dim(2);
  int64_t parts = 0;
  if (prepacked) {
    requireRank(*scaleBias, {3}, kProcess, "scale_bias");
    requireType(*scaleBias, DType::F32, kProcess, "scale_bias");
    parts = scaleBias->dim(2);
    MOE_REQUIRE(scaleBias->dim(0) == l && scaleBias->dim(1) == n && parts > 0,
                kProcess,
                "scale_bias must be [" + num(l) + "x" + num(n) + "xP], got " +
                    scaleBias->str());
  }
  MOE_REQUIRE((scale.shape == std::vector<int64_t>{l, n, 1}), kProcess,
              "scale must be [" + num(l) + "x" + num(n) + "x1], got " +
                  scale.str());
  int64_t blocks = scaleSecond.dim(2);
  MOE_REQUIRE(scaleSecond.dim(0) == l && scaleSecond.dim(1) == n &&
                  blocks > 0 && k % blocks == 0,
              kProcess,
              "scale_second must be [" + num(l) + "x" + num(n) +
                  "xB] with B dividing " + num(k) + ", got " +
                  scaleSecond.str());
  MOE_REQUIRE(n % 2 == 0, kProcess,
              "the i4 result packs rows of N = " + num(n) +
                  " output channels two per byte: N must be even");
  int64_t gs = k / blocks;
  const int8_t *w = weight.data<int8_t>();
  for (int64_t i = 0, e = prepacked ? 0 : l * n * k; i < e; ++i)
    if (w[i] < -8 || w[i] > 7)
      MOE_REQUIRE(false, kProcess,
                  "weight element " + num(i) + " is " + num(w[i]) +
                      ", outside int4 [-8, 7]");

  std::vector<float> s(l * n), ss(l * n * blocks);
  loadF32(scale, 0, l * n, s.data());
  loadF32(scaleSecond, 0, l * n * blocks, ss.data());

  W4A8Weights out{Tensor::empty(DType::I4, {l, k, n}),
                  Tensor::empty(DType::F32, {l, blocks, n}),
                  Tensor::empty(DType::F32, {l, n})};
  uint8_t *packed = out.weight.bytes();
  float *merged = out.scale.data<float>();
  float *bias = out.bias.data<float>();
  // One task per tile of up to 64 output channels of an expert (an even
  // count since n is: tiles fill whole bytes of the packed weight).
  constexpr int64_t kTile = 64;
  int64_t tiles = (n + kTile - 1) / kTile;
  parallelFor(l * tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      int64_t e = task / tiles, c0 = (task % tiles) * kTile;
      int64_t c1 = std::min(n, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c) {
        float sc = s[e * n + c];
        const float *sec = ss.data() + (e * n + c) * blocks;
        // process_scale: (scale * scale_second) in the scales' dtype, then
        // to float16 and back to float32.
        for (int64_t b = 0; b < blocks; ++b)
          merged[(e * blocks + b) * n + c] =
              roundTo(roundTo(sc * sec[b], scale.dtype), DType::F16);
        if (prepacked) {
          // update_bias: the checkpoint's partial sums, summed in order.
          const float *part = scaleBias->data<float>() + (e * n + c) * parts;
          float sum = 0;
          for (int64_t p = 0; p < parts; ++p)
            sum += part[p];
          bias[e * n + c] = sum;
          continue;
        }
        // bias = 8 * sum_k (w * scale_second) * scale, in float32.
        const int8_t *row = w + (e * n + c) * k;
        double sum = 0;
        for (int64_t b = 0; b < blocks; ++b)
          for (int64_t kk = b * gs; kk < (b + 1) * gs; ++kk)
            sum += static_cast<double>(static_cast<float>(row[kk]) * sec[b] *
                                       sc);
        bias[e * n + c] = 8.0f * static_cast<float>(sum);
      }
      if (prepacked) {
        // Byte j of checkpoint row [e, j, :] holds channels 2j, 2j + 1: the
        // transposition moves whole bytes.
        const uint8_t *src = weight.bytes() + e * (n / 2) * k;
        for (int64_t kk = 0; kk < k; ++kk) {
          uint8_t *dst = packed + ((e * k + kk) * n + c0) / 2;
          for (int64_t c = c0; c < c1; c += 2)
            dst[(c - c0) / 2] = src[(c / 2) * k + kk];
        }
        continue;
      }
      // Transposed to [K, N] and packed two per byte, element 2i (the even
      // channel) in the low nibble.
      const int8_t *base = w + e * n * k;
      for (int64_t kk = 0; kk < k; ++kk) {
        uint8_t *dst = packed + ((e * k + kk) * n + c0) / 2;
        for (int64_t c = c0; c < c1; c += 2)
          dst[(c - c0) / 2] = static_cast<uint8_t>(
              (static_cast<uint8_t>(base[c * k + kk]) & 0xF) |
              (static_cast<uint8_t>(base[(c + 1) * k + kk]) << 4));
      }
    }
  });
  return out;
}

} // namespace moert
