//===- MatmulAvx512.cpp - AVX-512 f32 and VNNI int8 matmul kernels --------===//
//
// The avx512 and avx512vnni variants (MatmulKernels.h). They reuse the
// avx2 variant's packed panels (16-column strips, MatmulAvx2.cpp): one
// strip row is one 512-bit register, so a micro-kernel tile is up to 8
// rows by 2 strips (16 accumulators). f32: vfmadd231ps; int8/int4: the
// s16 k-pairs of a strip meet a broadcast pair of x in vpdpwssd, which
// adds both products to the i32 accumulator without saturating (exact,
// like the avx2 variant's vpmaddwd). Only reached on CPUs with AVX-512F
// (and VNNI for avx512vnni); not compiled outside x86-64.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>

#define MOE_AVX512 MOE_TARGET("avx512f,avx2,fma,f16c")
#define MOE_AVX512VNNI MOE_TARGET("avx512f,avx512vnni,avx2,fma,f16c")

namespace moert {
namespace detail {
namespace {
constexpr int64_t kStrip = 16;
constexpr int kMaxRows = 8;

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }
} // namespace

namespace avx512 {
namespace {

/// c[0..MR) x [NS strips] (+)= a[0..MR) x panel strips starting at b.
/// `next`, when not null, is NS strips (as far apart) fetched into L2
/// meanwhile, a line of each per row (the strips the caller reads next
/// from memory).
template <int MR, int NS>
MOE_AVX512 void microF32(const float *a, int64_t lda, const float *b,
                         int64_t stripElems, int64_t kc, float *c,
                         int64_t ldc, bool accumulate,
                         const float *next = nullptr) {
  __m512 acc[MR][NS];
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s)
      acc[i][s] = _mm512_setzero_ps();
  // Without next strips, the prefetches touch these (in L1 already).
  const float *pf = next ? next : b;
  for (int64_t k = 0; k < kc; ++k) {
    for (int s = 0; s < NS; ++s)
      _mm_prefetch(reinterpret_cast<const char *>(pf + s * stripElems +
                                                  k * kStrip),
                   _MM_HINT_T1);
    __m512 bv[NS];
    for (int s = 0; s < NS; ++s)
      bv[s] = _mm512_load_ps(b + s * stripElems + k * kStrip);
    for (int i = 0; i < MR; ++i) {
      __m512 av = _mm512_set1_ps(a[i * lda + k]);
      for (int s = 0; s < NS; ++s)
        acc[i][s] = _mm512_fmadd_ps(av, bv[s], acc[i][s]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s) {
      float *ci = c + i * ldc + s * kStrip;
      if (accumulate)
        acc[i][s] = _mm512_add_ps(acc[i][s], _mm512_loadu_ps(ci));
      _mm512_storeu_ps(ci, acc[i][s]);
    }
}

template <int NS>
MOE_AVX512 void microF32Rows(int64_t rows, const float *a, int64_t lda,
                             const float *b, int64_t stripElems, int64_t kc,
                             float *c, int64_t ldc, bool acc,
                             const float *next = nullptr) {
#define MOE_MICRO_F32(R)                                                       \
  return microF32<R, NS>(a, lda, b, stripElems, kc, c, ldc, acc, next)
  switch (rows) {
  case 1: MOE_MICRO_F32(1);
  case 2: MOE_MICRO_F32(2);
  case 3: MOE_MICRO_F32(3);
  case 4: MOE_MICRO_F32(4);
  case 5: MOE_MICRO_F32(5);
  case 6: MOE_MICRO_F32(6);
  case 7: MOE_MICRO_F32(7);
  default: MOE_MICRO_F32(8);
  }
#undef MOE_MICRO_F32
}

/// One step of gemvRows: rows [k, k + D) of the weight into the MR
/// accumulator rows, 16 columns per register. Full strips take plain
/// loads; only the last partial strip is masked (masked loads and the
/// depth test in the inner loop cost ~15% of the weight stream).
template <int MR, int D, bool Full>
MOE_AVX512 inline void gemvStep(const float *a, int64_t lda, const float *w,
                                int64_t ldw, int64_t cols, int depth,
                                float *c, int64_t ldc) {
  __m512 x[MR][D];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < D; ++j)
      x[i][j] = _mm512_set1_ps(Full || j < depth ? a[i * lda + j] : 0.0f);
  int64_t full = cols / kStrip * kStrip;
  for (int64_t n = 0; n < full; n += kStrip) {
    __m512 wv[D];
    for (int j = 0; j < D; ++j)
      wv[j] = Full || j < depth ? _mm512_loadu_ps(w + j * ldw + n)
                                : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float *ci = c + i * ldc + n;
      __m512 acc = _mm512_loadu_ps(ci);
      for (int j = 0; j < D; ++j)
        acc = _mm512_fmadd_ps(x[i][j], wv[j], acc);
      _mm512_storeu_ps(ci, acc);
    }
  }
  if (full == cols)
    return;
  __mmask16 mask = __mmask16((1u << (cols - full)) - 1);
  __m512 wv[D];
  for (int j = 0; j < D; ++j)
    wv[j] = Full || j < depth ? _mm512_maskz_loadu_ps(mask, w + j * ldw + full)
                              : _mm512_setzero_ps();
  for (int i = 0; i < MR; ++i) {
    float *ci = c + i * ldc + full;
    __m512 acc = _mm512_maskz_loadu_ps(mask, ci);
    for (int j = 0; j < D; ++j)
      acc = _mm512_fmadd_ps(x[i][j], wv[j], acc);
    _mm512_mask_storeu_ps(ci, mask, acc);
  }
}

/// gemvF32 for exactly MR rows: the weight streams 4 rows at a time
/// (whole rows: long contiguous runs, which the hardware prefetchers
/// follow), the MR accumulator rows stay in L1.
template <int MR>
MOE_AVX512 void gemvRows(const float *a, int64_t lda, const WeightView &w,
                         int64_t n0, int64_t n1, float *c, int64_t ldc) {
  const float *base = reinterpret_cast<const float *>(w.data) + w.offset + n0;
  int64_t cols = n1 - n0;
  for (int i = 0; i < MR; ++i)
    std::fill(c + i * ldc, c + i * ldc + cols, 0.0f);
  int64_t k = 0;
  for (; k + 4 <= w.k; k += 4)
    gemvStep<MR, 4, true>(a + k, lda, base + k * w.n, w.n, cols, 4, c, ldc);
  if (k < w.k)
    gemvStep<MR, 4, false>(a + k, lda, base + k * w.n, w.n, cols,
                           static_cast<int>(w.k - k), c, ldc);
}
} // namespace

MOE_AVX512 void gemmF32(const float *a, int64_t lda, int64_t m,
                        const WeightView &w, int64_t n0, int64_t n1, float *c,
                        int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  if (w.k == 0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0.0f);
    return;
  }
  int64_t depth = avx2::panelRows(n1 - n0, 4);
  float *panel =
      static_cast<float *>(avx2::packScratch(depth * strips * kStrip * 4));
  for (int64_t k0 = 0; k0 < w.k; k0 += depth) {
    int64_t k1 = std::min(w.k, k0 + depth), kc = k1 - k0;
    avx2::packF32(w, k0, k1, n0, n1, panel);
    for (int64_t i = 0; i < m; i += kMaxRows) {
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      for (int64_t s = 0; s < strips; s += 2) {
        const float *b = panel + s * kc * kStrip;
        float *cs = c + i * ldc + s * kStrip;
        if (s + 1 < strips)
          microF32Rows<2>(rows, a + i * lda + k0, lda, b, kc * kStrip, kc, cs,
                          ldc, k0 > 0);
        else
          microF32Rows<1>(rows, a + i * lda + k0, lda, b, kc * kStrip, kc, cs,
                          ldc, k0 > 0);
      }
    }
  }
}

MOE_AVX512 void gemmF32Packed(const float *a, int64_t lda, int64_t m,
                              const WeightView &w, int64_t n0, int64_t n1,
                              float *c, int64_t ldc) {
  // Two strips at a time, every row tile of them (evenRowTiles, at most 8
  // rows) while they are in L2: the weight streams from memory once, in
  // address order. Every tile fetches the next pair into L2, so memory
  // streams while the tiles compute.
  const float *base = reinterpret_cast<const float *>(w.data) + w.offset;
  int64_t s0 = n0 / kStrip, s1 = n1 / kStrip, stripElems = w.k * kStrip;
  for (int64_t s = s0; s < s1; s += 2) {
    const float *b = base + s * stripElems;
    // The next pair, when it is a whole one (the odd last strip is not
    // fetched ahead).
    const float *next = s + 3 < s1 ? b + 2 * stripElems : nullptr;
    float *cs = c + (s - s0) * kStrip;
    evenRowTiles(m, kMaxRows, [&](int64_t i, int64_t rows) {
      if (s + 1 < s1)
        microF32Rows<2>(rows, a + i * lda, lda, b, stripElems, w.k,
                        cs + i * ldc, ldc, false, next);
      else
        microF32Rows<1>(rows, a + i * lda, lda, b, stripElems, w.k,
                        cs + i * ldc, ldc, false, next);
    });
  }
}

MOE_AVX512 void gemvF32(const float *a, int64_t lda, int64_t m,
                        const WeightView &w, int64_t n0, int64_t n1, float *c,
                        int64_t ldc) {
  for (int64_t i = 0; i < m; i += 8) {
    int64_t rows = std::min<int64_t>(8, m - i);
    const float *ai = a + i * lda;
    float *ci = c + i * ldc;
    switch (rows) {
    case 1: gemvRows<1>(ai, lda, w, n0, n1, ci, ldc); break;
    case 2: gemvRows<2>(ai, lda, w, n0, n1, ci, ldc); break;
    case 3: gemvRows<3>(ai, lda, w, n0, n1, ci, ldc); break;
    case 4: gemvRows<4>(ai, lda, w, n0, n1, ci, ldc); break;
    case 5: gemvRows<5>(ai, lda, w, n0, n1, ci, ldc); break;
    case 6: gemvRows<6>(ai, lda, w, n0, n1, ci, ldc); break;
    case 7: gemvRows<7>(ai, lda, w, n0, n1, ci, ldc); break;
    default: gemvRows<8>(ai, lda, w, n0, n1, ci, ldc); break;
    }
  }
}
} // namespace avx512

namespace avx512vnni {
namespace {

/// c[0..MR) x [NS strips] (+)= a[0..MR) x panel strips of s16 k-pairs.
template <int MR, int NS>
MOE_AVX512VNNI void microI8(const int16_t *a, int64_t lda, const int16_t *b,
                            int64_t stripElems, int64_t pairs, int32_t *c,
                            int64_t ldc, bool accumulate) {
  __m512i acc[MR][NS];
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s)
      acc[i][s] = _mm512_setzero_si512();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512i bv[NS];
    for (int s = 0; s < NS; ++s)
      bv[s] = _mm512_load_si512(b + s * stripElems + p * 2 * kStrip);
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * lda + 2 * p, 4);
      __m512i av = _mm512_set1_epi32(pair);
      for (int s = 0; s < NS; ++s)
        acc[i][s] = _mm512_dpwssd_epi32(acc[i][s], av, bv[s]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s) {
      int32_t *ci = c + i * ldc + s * kStrip;
      if (accumulate)
        acc[i][s] = _mm512_add_epi32(acc[i][s], _mm512_loadu_si512(ci));
      _mm512_storeu_si512(ci, acc[i][s]);
    }
}

template <int NS>
MOE_AVX512VNNI void microI8Rows(int64_t rows, const int16_t *a, int64_t lda,
                                const int16_t *b, int64_t stripElems,
                                int64_t pairs, int32_t *c, int64_t ldc,
                                bool acc) {
  switch (rows) {
  case 1: return microI8<1, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 2: return microI8<2, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 3: return microI8<3, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 4: return microI8<4, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 5: return microI8<5, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 6: return microI8<6, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  case 7: return microI8<7, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  default: return microI8<8, NS>(a, lda, b, stripElems, pairs, c, ldc, acc);
  }
}
} // namespace

MOE_AVX512VNNI void gemmI8(const int16_t *a, int64_t lda, int64_t m,
                           const WeightView &w, int64_t k0, int64_t k1,
                           int64_t n0, int64_t n1, int32_t *c, int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  if (k1 <= k0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0);
    return;
  }
  int64_t depth = avx2::panelRows(n1 - n0, 2);
  int16_t *panel = static_cast<int16_t *>(
      avx2::packScratch((depth + 1) * strips * kStrip * 2));
  for (int64_t p0 = k0; p0 < k1; p0 += depth) {
    int64_t p1 = std::min(k1, p0 + depth);
    int64_t pairs = (p1 - p0 + 1) / 2, stripElems = pairs * 2 * kStrip;
    avx2::packI8(w, p0, p1, n0, n1, panel);
    for (int64_t i = 0; i < m; i += kMaxRows) {
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      for (int64_t s = 0; s < strips; s += 2) {
        const int16_t *b = panel + s * stripElems;
        int32_t *cs = c + i * ldc + s * kStrip;
        if (s + 1 < strips)
          microI8Rows<2>(rows, a + i * lda + p0, lda, b, stripElems, pairs,
                         cs, ldc, p0 > k0);
        else
          microI8Rows<1>(rows, a + i * lda + p0, lda, b, stripElems, pairs,
                         cs, ldc, p0 > k0);
      }
    }
  }
}
} // namespace avx512vnni

} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
