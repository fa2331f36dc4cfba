//===- MatmulVnni.cpp - u8 x s8 int8/int4 matmul through vpdpbusd ---------===//
//
// The gemmU8 entry of the avx512vnni variant (MatmulKernels.h). vpdpbusd
// multiplies 4 unsigned bytes by 4 signed bytes and adds the 4 products
// (each fits in 16 bits) to an i32 lane without saturating: 64
// multiply-adds per instruction, 4x vpdpwssd's. Its left operand is
// unsigned, so the activations arrive as u = x + 128 (Matmul.cpp) and the
// kernel subtracts `zero` * sum_k w[k, n] per column (the compensation,
// summed with the same instruction while the weight is packed):
// sum_k (u - zero) w is then the exact i32 result, as for the s16 kernels.
//
// The weight of a block is packed one panel of k rows at a time into
// 16-column strips of k-quads, [strip][k/4][16][4] bytes (one quad row of
// a strip is one 512-bit register; rows past the range and columns past
// n1 are zero), int4 unpacked to int8 in registers while packing. Then
// every tile of up to 8 rows runs an 8x32 micro-kernel over the strips.
//
// gemvU8 (few rows, int8 weight) streams the weight instead: 16 rows at a
// time, 64 columns per register, interleaved into quads in registers
// (vpunpck), the column sums taken as one more row of ones; the sums stay
// in registers for the 16 rows and the next 16 rows are prefetched.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>

#define MOE_VNNI MOE_TARGET("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")

namespace moert {
namespace detail {
namespace avx512vnni {
namespace {
constexpr int64_t kStrip = 16;
constexpr int kMaxRows = 8;
/// A packed panel holds about this many bytes (a quarter to half of L2).
constexpr int64_t kPanelBytes = 512 * 1024;
/// Rows of the weight prefetched ahead of the packing loop.
constexpr int64_t kPrefetchRows = 8;

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }

int8_t weightI8(const WeightView &w, int64_t idx) {
  return w.dtype == DType::I8 ? reinterpret_cast<const int8_t *>(w.data)[idx]
                              : getI4(w.data, idx);
}

/// 16 int8 weights from element `idx` on (idx even for i4: the nibbles are
/// unpacked through a vpshufb table).
MOE_VNNI inline __m128i load16(const WeightView &w, int64_t idx) {
  if (w.dtype == DType::I8)
    return _mm_loadu_si128(reinterpret_cast<const __m128i *>(w.data + idx));
  const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5,
                                    -4, -3, -2, -1);
  const __m128i low = _mm_set1_epi8(0x0F);
  __m128i v =
      _mm_loadl_epi64(reinterpret_cast<const __m128i *>(w.data + idx / 2));
  __m128i even = _mm_shuffle_epi8(lut, _mm_and_si128(v, low));
  __m128i odd = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(v, 4), low));
  return _mm_unpacklo_epi8(even, odd);
}

MOE_VNNI inline void prefetchRow(const WeightView &w, int64_t k, int64_t n0,
                                 int64_t n1) {
  if (k >= w.k)
    return;
  int64_t first = storageBytes(w.dtype, w.offset + k * w.n + n0);
  int64_t last = storageBytes(w.dtype, w.offset + k * w.n + n1);
  for (int64_t b = first; b < last; b += 64)
    _mm_prefetch(reinterpret_cast<const char *>(w.data + b), _MM_HINT_T0);
}

/// Packs rows [k0, k1) of columns [n0, n1) as quads [strip][q][16][4] and
/// adds sum_k w[k, n] of those rows to comp[n - n0] (round16 columns).
MOE_VNNI void packQuads(const WeightView &w, int64_t k0, int64_t k1,
                        int64_t n0, int64_t n1, int8_t *panel,
                        int32_t *comp) {
  int64_t quads = (k1 - k0 + 3) / 4, cols = n1 - n0;
  int64_t strips = round16(cols) / kStrip;
  bool vec = w.dtype == DType::I8 || ((w.offset + n0) % 2 == 0 && w.n % 2 == 0);
  int64_t full = vec ? cols / kStrip * kStrip : 0;
  for (int64_t q = 0; q < quads; ++q) {
    int64_t k = k0 + 4 * q;
    for (int64_t j = 0; j < 4; ++j)
      prefetchRow(w, k + kPrefetchRows + j, n0, n1);
    int64_t rowsHere = std::min<int64_t>(4, k1 - k);
    int64_t row = w.offset + k * w.n + n0;
    int8_t *dst = panel + q * 4 * kStrip;
    for (int64_t j = 0; j < full; j += kStrip) {
      __m128i r[4];
      for (int64_t t = 0; t < 4; ++t)
        r[t] = t < rowsHere ? load16(w, row + t * w.n + j)
                            : _mm_setzero_si128();
      __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]);
      __m128i t1 = _mm_unpackhi_epi8(r[0], r[1]);
      __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]);
      __m128i t3 = _mm_unpackhi_epi8(r[2], r[3]);
      __m128i *d = reinterpret_cast<__m128i *>(
          dst + (j / kStrip) * quads * 4 * kStrip);
      _mm_store_si128(d, _mm_unpacklo_epi16(t0, t2));
      _mm_store_si128(d + 1, _mm_unpackhi_epi16(t0, t2));
      _mm_store_si128(d + 2, _mm_unpacklo_epi16(t1, t3));
      _mm_store_si128(d + 3, _mm_unpackhi_epi16(t1, t3));
    }
    for (int64_t j = full; j < strips * kStrip; ++j) {
      int8_t *d = dst + (j / kStrip) * quads * 4 * kStrip + (j % kStrip) * 4;
      for (int64_t t = 0; t < 4; ++t)
        d[t] = j < cols && t < rowsHere ? weightI8(w, row + t * w.n + j) : 0;
    }
  }
  // Column sums of the packed quads: vpdpbusd with all-ones bytes.
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t s = 0; s < strips; ++s) {
    const int8_t *b = panel + s * quads * 4 * kStrip;
    __m512i sum = _mm512_loadu_si512(comp + s * kStrip);
    for (int64_t q = 0; q < quads; ++q)
      sum = _mm512_dpbusd_epi32(sum, ones, _mm512_load_si512(b + q * 64));
    _mm512_storeu_si512(comp + s * kStrip, sum);
  }
}

/// c[0..MR) x [NS strips] (+)= u[0..MR) x panel strips of quads.
template <int MR, int NS>
MOE_VNNI void microU8(const uint8_t *a, int64_t lda, const int8_t *b,
                      int64_t stripBytes, int64_t quads, int32_t *c,
                      int64_t ldc, bool accumulate) {
  __m512i acc[MR][NS];
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s)
      acc[i][s] = _mm512_setzero_si512();
  for (int64_t q = 0; q < quads; ++q) {
    __m512i bv[NS];
    for (int s = 0; s < NS; ++s)
      bv[s] = _mm512_load_si512(b + s * stripBytes + q * 64);
    for (int i = 0; i < MR; ++i) {
      int32_t quad;
      std::memcpy(&quad, a + i * lda + 4 * q, 4);
      __m512i av = _mm512_set1_epi32(quad);
      for (int s = 0; s < NS; ++s)
        acc[i][s] = _mm512_dpbusd_epi32(acc[i][s], av, bv[s]);
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
MOE_VNNI void microU8Rows(int64_t rows, const uint8_t *a, int64_t lda,
                          const int8_t *b, int64_t stripBytes, int64_t quads,
                          int32_t *c, int64_t ldc, bool acc) {
  switch (rows) {
  case 1: return microU8<1, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 2: return microU8<2, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 3: return microU8<3, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 4: return microU8<4, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 5: return microU8<5, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 6: return microU8<6, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  case 7: return microU8<7, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  default: return microU8<8, NS>(a, lda, b, stripBytes, quads, c, ldc, acc);
  }
}
/// Rows of the weight one gemvU8 step multiplies before its sums reach
/// the accumulators in memory.
constexpr int64_t kGemvDepth = 16;

/// The 64 sums of one gemvU8 chunk (quarter u, lane l = columns 16l + 4u
/// .. + 3) in column order: out[l] = columns 16l .. 16l + 15 (a 4x4
/// transpose of 128-bit lanes).
MOE_VNNI inline void unpermute(const int32_t *p, __m512i out[4]) {
  __m512i q0 = _mm512_loadu_si512(p), q1 = _mm512_loadu_si512(p + 16),
          q2 = _mm512_loadu_si512(p + 32), q3 = _mm512_loadu_si512(p + 48);
  // 64-bit element indices into (a, b): lanes 0-1 of a and b, lanes 2-3
  // of a and b, then the even and the odd lanes of a and b. (vpermt2q, not
  // vshufi32x4, whose g++ 12 intrinsic warns about its undefined operand.)
  const __m512i low = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i high = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  const __m512i even = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
  const __m512i odd = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
  __m512i t0 = _mm512_permutex2var_epi64(q0, low, q1); // q0.l0 q0.l1 q1.l0 q1.l1
  __m512i t1 = _mm512_permutex2var_epi64(q2, low, q3);
  __m512i t2 = _mm512_permutex2var_epi64(q0, high, q1); // q0.l2 q0.l3 q1.l2 q1.l3
  __m512i t3 = _mm512_permutex2var_epi64(q2, high, q3);
  out[0] = _mm512_permutex2var_epi64(t0, even, t1); // lane 0 of q0..q3
  out[1] = _mm512_permutex2var_epi64(t0, odd, t1);  // lane 1
  out[2] = _mm512_permutex2var_epi64(t2, even, t3); // lane 2
  out[3] = _mm512_permutex2var_epi64(t2, odd, t3);  // lane 3
}

/// gemvU8 for exactly MR rows of u; see gemvU8.
template <int MR>
MOE_VNNI void gemvU8Rows(const uint8_t *a, int64_t lda, const WeightView &w,
                         int64_t k0, int64_t k1, int64_t n0, int64_t n1,
                         int32_t zero, int32_t *c, int64_t ldc) {
  const int8_t *base =
      reinterpret_cast<const int8_t *>(w.data) + w.offset + n0;
  int64_t cols = n1 - n0, chunks = (cols + 63) / 64;
  // Sums per row (and, as row MR, the column sums of w) in the permuted
  // column order of the quads: chunk j, quarter u, lane l holds columns
  // 64j + 16l + 4u .. + 3.
  int64_t rowElems = chunks * 64;
  int32_t *acc = static_cast<int32_t *>(
      avx2::packScratch((MR + 1) * rowElems * sizeof(int32_t)));
  std::fill(acc, acc + (MR + 1) * rowElems, 0);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t k = k0; k < k1; k += kGemvDepth) {
    int64_t depth = std::min(kGemvDepth, k1 - k), quads = (depth + 3) / 4;
    int32_t xq[MR][kGemvDepth / 4] = {};
    for (int i = 0; i < MR; ++i)
      std::memcpy(xq[i], a + i * lda + k, depth);
    const int8_t *rows = base + k * w.n;
    const int8_t *next = rows + kGemvDepth * w.n;
    bool prefetch = k + 2 * kGemvDepth <= k1;
    for (int64_t j = 0; j < chunks; ++j) {
      int64_t left = cols - 64 * j;
      __mmask64 mask = left >= 64 ? ~__mmask64(0)
                                  : (__mmask64(1) << left) - 1;
      if (prefetch)
        for (int64_t t = 0; t < kGemvDepth; ++t)
          _mm_prefetch(reinterpret_cast<const char *>(next + t * w.n + 64 * j),
                       _MM_HINT_T0);
      __m512i s[MR + 1][4];
      for (int i = 0; i <= MR; ++i)
        for (int u = 0; u < 4; ++u)
          s[i][u] = _mm512_setzero_si512();
      for (int64_t q = 0; q < quads; ++q) {
        __m512i r[4];
        for (int64_t t = 0; t < 4; ++t)
          r[t] = 4 * q + t < depth
                     ? _mm512_maskz_loadu_epi8(
                           mask, rows + (4 * q + t) * w.n + 64 * j)
                     : _mm512_setzero_si512();
        __m512i lo01 = _mm512_unpacklo_epi8(r[0], r[1]);
        __m512i hi01 = _mm512_unpackhi_epi8(r[0], r[1]);
        __m512i lo23 = _mm512_unpacklo_epi8(r[2], r[3]);
        __m512i hi23 = _mm512_unpackhi_epi8(r[2], r[3]);
        __m512i v[4] = {_mm512_unpacklo_epi16(lo01, lo23),
                        _mm512_unpackhi_epi16(lo01, lo23),
                        _mm512_unpacklo_epi16(hi01, hi23),
                        _mm512_unpackhi_epi16(hi01, hi23)};
        for (int i = 0; i < MR; ++i) {
          __m512i x = _mm512_set1_epi32(xq[i][q]);
          for (int u = 0; u < 4; ++u)
            s[i][u] = _mm512_dpbusd_epi32(s[i][u], x, v[u]);
        }
        for (int u = 0; u < 4; ++u)
          s[MR][u] = _mm512_dpbusd_epi32(s[MR][u], ones, v[u]);
      }
      for (int i = 0; i <= MR; ++i)
        for (int u = 0; u < 4; ++u) {
          int32_t *d = acc + i * rowElems + 64 * j + 16 * u;
          _mm512_storeu_si512(
              d, _mm512_add_epi32(_mm512_loadu_si512(d), s[i][u]));
        }
    }
  }
  // Back to column order, minus zero * the column sums.
  const __m512i z = _mm512_set1_epi32(zero);
  int64_t strips = round16(cols) / kStrip;
  for (int64_t j = 0; j < chunks; ++j) {
    __m512i corr[4];
    unpermute(acc + MR * rowElems + 64 * j, corr);
    for (int i = 0; i < MR; ++i) {
      __m512i out[4];
      unpermute(acc + i * rowElems + 64 * j, out);
      for (int l = 0; l < 4 && 4 * j + l < strips; ++l)
        _mm512_storeu_si512(
            c + i * ldc + 64 * j + 16 * l,
            _mm512_sub_epi32(out[l], _mm512_mullo_epi32(z, corr[l])));
    }
  }
}
} // namespace

MOE_VNNI void gemvU8(const uint8_t *a, int64_t lda, int64_t m,
                     const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int32_t zero, int32_t *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i += 4) {
    int64_t rows = std::min<int64_t>(4, m - i);
    const uint8_t *ai = a + i * lda;
    int32_t *ci = c + i * ldc;
    switch (rows) {
    case 1: gemvU8Rows<1>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc); break;
    case 2: gemvU8Rows<2>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc); break;
    case 3: gemvU8Rows<3>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc); break;
    default: gemvU8Rows<4>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc); break;
    }
  }
}

MOE_VNNI void gemmU8(const uint8_t *a, int64_t lda, int64_t m,
                     const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int32_t zero, int32_t *c, int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  if (k1 <= k0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0);
    return;
  }
  // Panel depth: a multiple of 4 rows (quads), 64 to 1024.
  int64_t depth =
      std::min<int64_t>(1024, std::max<int64_t>(64, kPanelBytes /
                                                        (strips * kStrip))) /
      4 * 4;
  int64_t maxQuads = depth / 4;
  // One scratch: the compensation (16 x strips i32), then the panel.
  int32_t *comp = static_cast<int32_t *>(avx2::packScratch(
      strips * kStrip * 4 + maxQuads * strips * kStrip * 4));
  int8_t *panel = reinterpret_cast<int8_t *>(comp + strips * kStrip);
  std::fill(comp, comp + strips * kStrip, 0);
  for (int64_t p0 = k0; p0 < k1; p0 += depth) {
    int64_t p1 = std::min(k1, p0 + depth);
    int64_t quads = (p1 - p0 + 3) / 4, stripBytes = quads * 4 * kStrip;
    packQuads(w, p0, p1, n0, n1, panel, comp);
    for (int64_t i = 0; i < m; i += kMaxRows) {
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      for (int64_t s = 0; s < strips; s += 2) {
        const int8_t *b = panel + s * stripBytes;
        int32_t *cs = c + i * ldc + s * kStrip;
        if (s + 1 < strips)
          microU8Rows<2>(rows, a + i * lda + p0, lda, b, stripBytes, quads, cs,
                         ldc, p0 > k0);
        else
          microU8Rows<1>(rows, a + i * lda + p0, lda, b, stripBytes, quads, cs,
                         ldc, p0 > k0);
      }
    }
  }
  // sum_k (u - zero) w = sum_k u w - zero * sum_k w.
  const __m512i z = _mm512_set1_epi32(zero);
  for (int64_t s = 0; s < strips; ++s) {
    __m512i corr = _mm512_mullo_epi32(z, _mm512_loadu_si512(comp + s * kStrip));
    for (int64_t i = 0; i < m; ++i) {
      int32_t *ci = c + i * ldc + s * kStrip;
      _mm512_storeu_si512(ci,
                          _mm512_sub_epi32(_mm512_loadu_si512(ci), corr));
    }
  }
}

} // namespace avx512vnni
} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
