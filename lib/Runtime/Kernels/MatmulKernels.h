//===- MatmulKernels.h - engines behind npu.(grouped_)matmul ----*- C++ -*-===//
//
// Internal to lib/Runtime/Kernels. Matmul.cpp checks operands, splits the
// work into blocks of (group, rows, columns) and calls one of:
//  - the AVX2 kernels (MatmulAvx2.cpp): pack a panel of the k-major weight
//    [K, N] (f32/bf16/f16 -> f32, i8/i4 -> interleaved s16 k-pairs) and
//    run register-tiled FMA / vpmaddwd micro-kernels over it. Exact i32
//    accumulation for int8 (vpmaddwd on s16 cannot saturate).
//  - oneDNN's f32 matmul (MatmulDnnl.cpp) for blocks with many rows.
// All of them are single-threaded: Matmul.cpp parallelizes over blocks.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_KERNELS_MATMULKERNELS_H
#define MOE_RUNTIME_KERNELS_MATMULKERNELS_H

#include "moe/Runtime/Tensor.h"

#include <cstdint>

namespace moert {
namespace detail {

/// One group's weight matrix [K, N] (row-major, k-major): element (k, n)
/// is element `offset + k * N + n` of `data`'s packed storage.
struct WeightView {
  const uint8_t *data;
  DType dtype; // F32, BF16, F16, I8 or I4
  int64_t offset;
  int64_t k, n;
};

/// c[i, j] = sum_k a[i, k] * w[k, n0 + j] for i < m, j < n1 - n0, k over
/// the whole K. `a` f32 [m, lda]; `c` f32 with
/// row stride ldc >= round_up(n1 - n0, 16) (columns past n1 - n0 are
/// scratch). Weight F32/BF16/F16.
void gemmF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
             int64_t n0, int64_t n1, float *c, int64_t ldc);

/// As gemmF32 for an F32 weight and few rows (best <= 8): streams each
/// weight row once per 8 rows of `a`, four rows of the weight at a time,
/// accumulating in `c` (no packing).
void gemvF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
             int64_t n0, int64_t n1, float *c, int64_t ldc);

/// c[i, j] = sum_{k in [k0, k1)} a[i, k] * w[k, n0 + j] in exact i32. `a`
/// s16 [m, lda] holding int8 values with lda even and a[i, k1] readable
/// (0) when k1 - k0 is odd; `c` as for gemmF32. Weight I8 or I4.
void gemmI8(const int16_t *a, int64_t lda, int64_t m, const WeightView &w,
            int64_t k0, int64_t k1, int64_t n0, int64_t n1, int32_t *c,
            int64_t ldc);

/// As gemmI8 for an I8 weight and few rows, streaming the weight rows
/// like gemvF32 (no packing). k0 must be even (a is read in k-pairs).
void gemvI8(const int16_t *a, int64_t lda, int64_t m, const WeightView &w,
            int64_t k0, int64_t k1, int64_t n0, int64_t n1, int32_t *c,
            int64_t ldc);

/// oneDNN f32 matmul of one block, single-threaded: c[m, n1 - n0] (row
/// stride ldc) = a [m, lda] . w[:, n0:n1]; weight F32. Primitives are
/// created once per (K, N, block width, strides) and reused.
void dnnlGemmF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
                 int64_t n0, int64_t n1, float *c, int64_t ldc);

} // namespace detail
} // namespace moert

#endif // MOE_RUNTIME_KERNELS_MATMULKERNELS_H
