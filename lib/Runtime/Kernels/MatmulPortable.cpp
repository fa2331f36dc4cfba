//===- MatmulPortable.cpp - matmul kernels for any CPU --------------------===//
//
// The portable variant of the matmul engines (MatmulKernels.h): plain C++
// for the baseline ISA of the target (SSE2 on x86-64, NEON on aarch64),
// used on CPUs without AVX2 and with MOE_CPU_ISA=portable. A tile of up to
// kTileRows rows of x and kTileCols columns keeps its accumulators in L1;
// for every k the weight row's slice (converted to f32, or int4 unpacked
// to int8, first) is added into each row of the tile, a loop over
// contiguous columns the compiler vectorizes. f32 sums run over k in
// order; int8/int4 sums are exact in i32 like the other variants.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#include <algorithm>
#include <cstring>

namespace moert {
namespace detail {
namespace portable {
namespace {

constexpr int64_t kTileRows = 4;
constexpr int64_t kTileCols = 128;
/// The callers' accumulator blocks are 16 columns wide per strip.
constexpr int64_t kStrip = 16;

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }

/// Columns [j0, j0 + cols) of weight row k as f32: the weight itself for
/// F32, else converted into `buf`.
const float *rowF32(const WeightView &w, int64_t k, int64_t j0, int64_t cols,
                    float *buf) {
  int64_t idx = w.offset + k * w.n + j0;
  if (w.dtype == DType::F32)
    return reinterpret_cast<const float *>(w.data) + idx;
  const uint16_t *p = reinterpret_cast<const uint16_t *>(w.data) + idx;
  for (int64_t j = 0; j < cols; ++j)
    buf[j] = w.dtype == DType::BF16 ? bf16ToFloat(p[j]) : f16ToFloat(p[j]);
  return buf;
}

/// Columns [j0, j0 + cols) of weight row k as int8: the weight itself for
/// I8, else the int4 values unpacked into `buf`.
const int8_t *rowI8(const WeightView &w, int64_t k, int64_t j0, int64_t cols,
                    int8_t *buf) {
  int64_t idx = w.offset + k * w.n + j0;
  if (w.dtype == DType::I8)
    return reinterpret_cast<const int8_t *>(w.data) + idx;
  for (int64_t j = 0; j < cols; ++j)
    buf[j] = getI4(w.data, idx + j);
  return buf;
}

/// Zeroes the scratch columns [cols, round16(cols)) of `rows` rows of c.
template <typename T>
void clearPadding(T *c, int64_t ldc, int64_t rows, int64_t cols) {
  int64_t padded = std::min(round16(cols), ldc);
  for (int64_t i = 0; i < rows; ++i)
    std::fill(c + i * ldc + cols, c + i * ldc + padded, T(0));
}
} // namespace

void gemmF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
             int64_t n0, int64_t n1, float *c, int64_t ldc) {
  int64_t cols = n1 - n0;
  float buf[kTileCols];
  float acc[kTileRows][kTileCols];
  for (int64_t i0 = 0; i0 < m; i0 += kTileRows) {
    int64_t rows = std::min(kTileRows, m - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += kTileCols) {
      int64_t jn = std::min(kTileCols, cols - j0);
      for (int64_t r = 0; r < rows; ++r)
        std::fill(acc[r], acc[r] + jn, 0.0f);
      for (int64_t k = 0; k < w.k; ++k) {
        const float *wr = rowF32(w, k, n0 + j0, jn, buf);
        for (int64_t r = 0; r < rows; ++r) {
          float av = a[(i0 + r) * lda + k];
          float *ar = acc[r];
          for (int64_t j = 0; j < jn; ++j)
            ar[j] += av * wr[j];
        }
      }
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(c + (i0 + r) * ldc + j0, acc[r], jn * sizeof(float));
    }
  }
  clearPadding(c, ldc, m, cols);
}

void gemmI8(const int16_t *a, int64_t lda, int64_t m, const WeightView &w,
            int64_t k0, int64_t k1, int64_t n0, int64_t n1, int32_t *c,
            int64_t ldc) {
  int64_t cols = n1 - n0;
  int8_t buf[kTileCols];
  int32_t acc[kTileRows][kTileCols];
  for (int64_t i0 = 0; i0 < m; i0 += kTileRows) {
    int64_t rows = std::min(kTileRows, m - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += kTileCols) {
      int64_t jn = std::min(kTileCols, cols - j0);
      for (int64_t r = 0; r < rows; ++r)
        std::fill(acc[r], acc[r] + jn, 0);
      for (int64_t k = k0; k < k1; ++k) {
        const int8_t *wr = rowI8(w, k, n0 + j0, jn, buf);
        for (int64_t r = 0; r < rows; ++r) {
          int32_t av = a[(i0 + r) * lda + k];
          int32_t *ar = acc[r];
          for (int64_t j = 0; j < jn; ++j)
            ar[j] += av * static_cast<int32_t>(wr[j]);
        }
      }
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(c + (i0 + r) * ldc + j0, acc[r], jn * sizeof(int32_t));
    }
  }
  clearPadding(c, ldc, m, cols);
}

} // namespace portable

void signedRows(const uint8_t *a, int64_t lda, int rows, bool ones,
                int64_t k0, int64_t k1, int64_t padded, int8_t *s,
                int64_t *sums) {
  int64_t len = k1 - k0;
  for (int i = 0; i < rows; ++i) {
    int8_t *si = s + i * padded;
    const uint8_t *ai = a + i * lda + k0;
    int32_t sum = 0; // |sum| <= 128 K
    for (int64_t k = 0; k < len; ++k) {
      si[k] = static_cast<int8_t>(ai[k] ^ 0x80);
      sum += si[k];
    }
    std::fill(si + len, si + padded, 0);
    sums[i] = sum;
  }
  if (ones) {
    std::fill(s + rows * padded, s + rows * padded + len, 1);
    std::fill(s + rows * padded + len, s + (rows + 1) * padded, 0);
  }
}

} // namespace detail
} // namespace moert
