//===- MatmulAvxVnni.cpp - 256-bit u8 x s8 matmul through AVX-VNNI --------===//
//
// The gemmU8 and gemvU8 entries of the avxvnni variant (MatmulKernels.h),
// for CPUs with AVX-VNNI but no AVX-512 (Alder Lake and later, Zen 5
// client parts): the VEX-encoded vpdpbusd on ymm registers, 32
// multiply-adds per instruction. The contract is MatmulVnni.cpp's, and
// so are the results (exact i32 sums).
//
// gemmU4Packed reads the packed int4 layout of npu.pack_weights (w4a8),
// all K blocks and their group scales in the kernel, as MatmulVnni.cpp's
// does on zmm.
//
// gemmU8 packs the weight into the same 16-column strips of k-quads
// (avx2::packU8Quads, column sums by vpdpbusd with ones for the
// compensation) and runs a 6x16 micro-kernel (12 accumulators).
//
// gemvU8 streams the weight 16 rows at a time, 32 bytes of each row per
// register, interleaved into quads in registers (vpunpck), the sums in
// registers for the 16 rows; tiles of 2 rows of x for int8 (32 columns
// per register), 1 row for int4 (64 columns: the bytes split into their
// nibbles in registers after the interleave; no int8 copy of the weight).
// The weight is the unsigned operand of vpdpbusd here, w + 128 for int8
// (w xor 0x80) and w + 8 for int4 (a nibble xor 8), and the activations
// the signed one, s = u - 128. With b that offset, D = sum_k s (w + b),
// S = sum_k s, U = sum_k (w + b) and L = k1 - k0:
//   sum_k (u - zero) w = D - b S - (zero - 128) (U - b L),
// so the weight's column sums U (one more row of ones) are only needed
// when zero != 128 (the w4a8 kernel form).
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>

#define MOE_AVXVNNI MOE_TARGET("avxvnni,avx2,fma,f16c")

namespace moert {
namespace detail {
namespace avxvnni {
namespace {
constexpr int64_t kStrip = 16;
constexpr int kMaxRows = 6;
/// A packed panel holds about this many bytes (a quarter of a 1 MiB L2).
constexpr int64_t kPanelBytes = 256 * 1024;
/// Rows of the weight one gemvU8 step multiplies before its sums reach
/// the accumulators in memory.
constexpr int64_t kGemvDepth = 16;

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }

/// Packs like avx2::packU8Quads and adds the column sums to comp.
MOE_AVXVNNI void packQuads(const WeightView &w, int64_t k0, int64_t k1,
                           int64_t n0, int64_t n1, int8_t *panel,
                           int32_t *comp) {
  avx2::packU8Quads(w, k0, k1, n0, n1, panel);
  int64_t quads = (k1 - k0 + 3) / 4, strips = round16(n1 - n0) / kStrip;
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t s = 0; s < strips; ++s) {
    const int8_t *b = panel + s * quads * 4 * kStrip;
    __m256i *cs = reinterpret_cast<__m256i *>(comp + s * kStrip);
    __m256i lo = _mm256_loadu_si256(cs), hi = _mm256_loadu_si256(cs + 1);
    for (int64_t q = 0; q < quads; ++q) {
      const __m256i *bq = reinterpret_cast<const __m256i *>(b + q * 64);
      lo = _mm256_dpbusd_avx_epi32(lo, ones, _mm256_load_si256(bq));
      hi = _mm256_dpbusd_avx_epi32(hi, ones, _mm256_load_si256(bq + 1));
    }
    _mm256_storeu_si256(cs, lo);
    _mm256_storeu_si256(cs + 1, hi);
  }
}

/// c[0..MR) x 16 columns (+)= u[0..MR) x one strip of quads.
/// With SignedX, `a` holds signed x and the strip's bytes are the
/// unsigned operand (the packed int8 layout, w + 128).
template <int MR, bool SignedX = false>
MOE_AVXVNNI void microU8(const uint8_t *a, int64_t lda, const int8_t *b,
                         int64_t quads, int32_t *c, int64_t ldc,
                         bool accumulate) {
  __m256i acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (int64_t q = 0; q < quads; ++q) {
    const __m256i *bq = reinterpret_cast<const __m256i *>(b + q * 64);
    __m256i b0 = _mm256_load_si256(bq), b1 = _mm256_load_si256(bq + 1);
    for (int i = 0; i < MR; ++i) {
      int32_t quad;
      std::memcpy(&quad, a + i * lda + 4 * q, 4);
      __m256i av = _mm256_set1_epi32(quad);
      acc[i][0] = SignedX ? _mm256_dpbusd_avx_epi32(acc[i][0], b0, av)
                          : _mm256_dpbusd_avx_epi32(acc[i][0], av, b0);
      acc[i][1] = SignedX ? _mm256_dpbusd_avx_epi32(acc[i][1], b1, av)
                          : _mm256_dpbusd_avx_epi32(acc[i][1], av, b1);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) {
      __m256i *ci = reinterpret_cast<__m256i *>(c + i * ldc + 8 * h);
      if (accumulate)
        acc[i][h] = _mm256_add_epi32(acc[i][h], _mm256_loadu_si256(ci));
      _mm256_storeu_si256(ci, acc[i][h]);
    }
}

MOE_AVXVNNI void microU8Rows(int64_t rows, const uint8_t *a, int64_t lda,
                             const int8_t *b, int64_t quads, int32_t *c,
                             int64_t ldc, bool acc) {
  switch (rows) {
  case 1: return microU8<1>(a, lda, b, quads, c, ldc, acc);
  case 2: return microU8<2>(a, lda, b, quads, c, ldc, acc);
  case 3: return microU8<3>(a, lda, b, quads, c, ldc, acc);
  case 4: return microU8<4>(a, lda, b, quads, c, ldc, acc);
  case 5: return microU8<5>(a, lda, b, quads, c, ldc, acc);
  default: return microU8<6>(a, lda, b, quads, c, ldc, acc);
  }
}


/// One gemv step: `depth` (<= 16) rows of one register of weight bytes
/// each (at `p`, row stride `ldw`) times R rows of s (quads at `xs`, row
/// stride `xStride`), added to the sums at `acc` (row stride
/// `accStride`; stored there on the `first` step). The bytes of 4 rows are interleaved into quads; then an
/// I8 weight is w xor 0x80 (32 columns: 4 registers of sums), an I4 weight
/// byte xor 0x88 gives (w_even + 8) + 16 (w_odd + 8) for the even columns
/// and its high nibble 16 (w_odd + 8) for the odd ones (64 columns: 8
/// registers of sums). A step's sums stay below 2^20 in magnitude.
template <int R, bool I4, bool Full>
MOE_AVXVNNI inline void gemvStep(const uint8_t *p, int64_t ldw, int64_t depth,
                                 const int8_t *xs, int64_t xStride,
                                 int32_t *acc, int64_t accStride,
                                 bool first) {
  constexpr int U = I4 ? 8 : 4;
  const __m256i high = _mm256_set1_epi8(static_cast<char>(0xF0));
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(I4 ? 0x88 : 0x80));
  __m256i s[R][U];
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u)
      s[i][u] = _mm256_setzero_si256();
  int64_t quads = Full ? kGemvDepth / 4 : (depth + 3) / 4;
  for (int64_t q = 0; q < quads; ++q) {
    __m256i r[4];
    for (int64_t t = 0; t < 4; ++t) {
      const uint8_t *row = p + (4 * q + t) * ldw;
      if (Full) // the next step's row
        _mm_prefetch(reinterpret_cast<const char *>(row + kGemvDepth * ldw),
                     _MM_HINT_T0);
      r[t] = Full || 4 * q + t < depth
                 ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row))
                 : _mm256_setzero_si256();
    }
    __m256i lo01 = _mm256_unpacklo_epi8(r[0], r[1]);
    __m256i hi01 = _mm256_unpackhi_epi8(r[0], r[1]);
    __m256i lo23 = _mm256_unpacklo_epi8(r[2], r[3]);
    __m256i hi23 = _mm256_unpackhi_epi8(r[2], r[3]);
    __m256i v[4] = {_mm256_unpacklo_epi16(lo01, lo23),
                    _mm256_unpackhi_epi16(lo01, lo23),
                    _mm256_unpacklo_epi16(hi01, hi23),
                    _mm256_unpackhi_epi16(hi01, hi23)};
    __m256i x[R];
    for (int i = 0; i < R; ++i) {
      int32_t quad;
      std::memcpy(&quad, xs + i * xStride + 4 * q, 4);
      x[i] = _mm256_set1_epi32(quad);
    }
    for (int u = 0; u < 4; ++u) {
      if constexpr (I4) {
        // Both nibbles xor 8: (w_even + 8) + 16 (w_odd + 8), whose sums
        // chunkColumns corrects by 16 times the odd columns'; those are
        // summed as 16 (w_odd + 8) (the high nibble in place) and divided
        // by 16 when they leave the registers (exact: multiples of 16).
        __m256i even = _mm256_xor_si256(v[u], flip);
        __m256i odd = _mm256_and_si256(even, high);
        for (int i = 0; i < R; ++i) {
          s[i][u] = _mm256_dpbusd_avx_epi32(s[i][u], even, x[i]);
          s[i][4 + u] = _mm256_dpbusd_avx_epi32(s[i][4 + u], odd, x[i]);
        }
      } else {
        __m256i wu = _mm256_xor_si256(v[u], flip);
        for (int i = 0; i < R; ++i)
          s[i][u] = _mm256_dpbusd_avx_epi32(s[i][u], wu, x[i]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u) {
      __m256i *d = reinterpret_cast<__m256i *>(acc + i * accStride + 8 * u);
      __m256i sum = u >= 4 ? _mm256_srai_epi32(s[i][u], 4) : s[i][u];
      _mm256_storeu_si256(
          d, first ? sum : _mm256_add_epi32(_mm256_loadu_si256(d), sum));
    }
}

/// The 32 sums of 4 registers of one gemv step (quarter u, lane l =
/// bytes 16l + 4u .. + 3 of the loaded rows) in byte order, 8 per
/// register.
MOE_AVXVNNI inline void unpermute(const int32_t *p, __m256i out[4]) {
  const __m256i *v = reinterpret_cast<const __m256i *>(p);
  __m256i q0 = _mm256_loadu_si256(v), q1 = _mm256_loadu_si256(v + 1),
          q2 = _mm256_loadu_si256(v + 2), q3 = _mm256_loadu_si256(v + 3);
  out[0] = _mm256_permute2x128_si256(q0, q1, 0x20); // bytes 0-7
  out[1] = _mm256_permute2x128_si256(q2, q3, 0x20); // 8-15
  out[2] = _mm256_permute2x128_si256(q0, q1, 0x31); // 16-23
  out[3] = _mm256_permute2x128_si256(q2, q3, 0x31); // 24-31
}

/// The sums of one chunk in column order: I8 32 columns (4 registers),
/// I4 64 columns (8 registers: the even columns' 32 sums, plus 16 times
/// the odd ones', at p, the odd ones' at p + 32).
template <bool I4>
MOE_AVXVNNI inline void chunkColumns(const int32_t *p, __m256i out[8]) {
  if (!I4)
    return unpermute(p, out);
  __m256i even[4], odd[4];
  unpermute(p, even);
  unpermute(p + 32, odd);
  for (int l = 0; l < 4; ++l) {
    even[l] = _mm256_sub_epi32(even[l], _mm256_slli_epi32(odd[l], 4));
    __m256i lo = _mm256_unpacklo_epi32(even[l], odd[l]); // 0-3 | 8-11
    __m256i hi = _mm256_unpackhi_epi32(even[l], odd[l]); // 4-7 | 12-15
    out[2 * l] = _mm256_permute2x128_si256(lo, hi, 0x20);
    out[2 * l + 1] = _mm256_permute2x128_si256(lo, hi, 0x31);
  }
}

/// gemvU8 for exactly MR rows of u and an I8 (or, I4, whole-byte-row
/// int4) weight, with the weight's column sums (Comp) when zero != 128.
template <int MR, bool I4, bool Comp>
MOE_AVXVNNI void gemvRows(const uint8_t *a, int64_t lda, const WeightView &w,
                          int64_t k0, int64_t k1, int64_t n0, int64_t n1,
                          int32_t zero, int32_t *c, int64_t ldc) {
  constexpr int R = MR + (Comp ? 1 : 0);
  constexpr int64_t chunkCols = I4 ? 64 : 32; // one register of bytes
  constexpr int32_t offset = I4 ? 8 : 128;
  const uint8_t *base = w.data + (I4 ? (w.offset + n0) / 2 : w.offset + n0);
  int64_t ldw = I4 ? w.n / 2 : w.n, cols = n1 - n0;
  int64_t chunks = (cols + chunkCols - 1) / chunkCols;
  int64_t rowElems = chunks * chunkCols;
  int64_t padded = (k1 - k0 + kGemvDepth - 1) / kGemvDepth * kGemvDepth;
  // Scratch: the sums (and U) per row in the permuted order of the quads,
  // then s per row.
  int32_t *acc = static_cast<int32_t *>(
      avx2::packScratch(R * rowElems * sizeof(int32_t) + R * padded));
  int8_t *xs = reinterpret_cast<int8_t *>(acc + R * rowElems);
  if (k1 <= k0) // no step stores the sums
    std::fill(acc, acc + R * rowElems, 0);
  int64_t sums[MR];
  signedRows(a, lda, MR, Comp, k0, k1, padded, xs, sums);
  // The rows of a partial last chunk, zero-padded (no reads past n1).
  alignas(32) uint8_t tail[kGemvDepth][32];
  for (int64_t k = k0; k < k1; k += kGemvDepth) {
    int64_t depth = std::min(kGemvDepth, k1 - k);
    const uint8_t *rows = base + k * ldw;
    const int8_t *x = xs + (k - k0);
    for (int64_t j = 0; j < chunks; ++j) {
      int64_t left = cols - chunkCols * j;
      const uint8_t *src = rows + 32 * j;
      int32_t *aj = acc + chunkCols * j;
      if (left >= chunkCols && depth == kGemvDepth) {
        gemvStep<R, I4, true>(src, ldw, depth, x, padded, aj, rowElems,
                              k == k0);
        continue;
      }
      if (left < chunkCols) {
        int64_t bytes = I4 ? (left + 1) / 2 : left;
        std::memset(tail, 0, sizeof tail);
        for (int64_t t = 0; t < depth; ++t)
          std::memcpy(tail[t], src + t * ldw, bytes);
        gemvStep<R, I4, false>(tail[0], 32, depth, x, padded, aj, rowElems,
                               k == k0);
      } else {
        gemvStep<R, I4, false>(src, ldw, depth, x, padded, aj, rowElems,
                               k == k0);
      }
    }
  }
  // Back to column order; D - b S - (zero - 128) (U - b L).
  int64_t columns = round16(cols);
  const __m256i bL =
      _mm256_set1_epi32(static_cast<int32_t>(offset * (k1 - k0)));
  const __m256i z = _mm256_set1_epi32(zero - 128);
  for (int64_t j = 0; j < chunks; ++j) {
    __m256i corr[8] = {};
    if (Comp) {
      chunkColumns<I4>(acc + MR * rowElems + chunkCols * j, corr);
      for (int l = 0; l < chunkCols / 8; ++l)
        corr[l] = _mm256_mullo_epi32(z, _mm256_sub_epi32(corr[l], bL));
    }
    for (int i = 0; i < MR; ++i) {
      __m256i out[8];
      chunkColumns<I4>(acc + i * rowElems + chunkCols * j, out);
      __m256i bS = _mm256_set1_epi32(
          static_cast<int32_t>(static_cast<uint32_t>(offset * sums[i])));
      for (int l = 0; l < chunkCols / 8 && chunkCols * j + 8 * l < columns;
           ++l)
        _mm256_storeu_si256(
            reinterpret_cast<__m256i *>(c + i * ldc + chunkCols * j + 8 * l),
            _mm256_sub_epi32(_mm256_sub_epi32(out[l], bS), corr[l]));
    }
  }
}

template <int MR, bool I4>
MOE_AVXVNNI void gemvRowsOf(const uint8_t *a, int64_t lda,
                            const WeightView &w, int64_t k0, int64_t k1,
                            int64_t n0, int64_t n1, int32_t zero, int32_t *c,
                            int64_t ldc) {
  if (zero == 128)
    gemvRows<MR, I4, false>(a, lda, w, k0, k1, n0, n1, zero, c, ldc);
  else
    gemvRows<MR, I4, true>(a, lda, w, k0, k1, n0, n1, zero, c, ldc);
}
} // namespace

MOE_AVXVNNI void gemvU8(const uint8_t *a, int64_t lda, int64_t m,
                        const WeightView &w, int64_t k0, int64_t k1,
                        int64_t n0, int64_t n1, int32_t zero, int32_t *c,
                        int64_t ldc) {
  if (w.dtype == DType::I8) {
    // Tiles of 2 rows: 8 (12 with U) of the 16 registers accumulate.
    for (int64_t i = 0; i < m; i += 2) {
      const uint8_t *ai = a + i * lda;
      int32_t *ci = c + i * ldc;
      if (m - i == 1)
        gemvRowsOf<1, false>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc);
      else
        gemvRowsOf<2, false>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc);
    }
    return;
  }
  // int4 rows that do not start on a byte: the panel kernel unpacks those.
  if (w.n % 2 != 0 || (w.offset + n0) % 2 != 0)
    return gemmU8(a, lda, m, w, k0, k1, n0, n1, zero, c, ldc);
  // One row at a time: 8 (16 with U) registers accumulate.
  for (int64_t i = 0; i < m; ++i)
    gemvRowsOf<1, true>(a + i * lda, lda, w, k0, k1, n0, n1, zero,
                        c + i * ldc, ldc);
}

MOE_AVXVNNI void gemmU8(const uint8_t *a, int64_t lda, int64_t m,
                        const WeightView &w, int64_t k0, int64_t k1,
                        int64_t n0, int64_t n1, int32_t zero, int32_t *c,
                        int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  if (k1 <= k0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0);
    return;
  }
  auto [depth, comp, panel] = avx2::u8Panels(strips, kPanelBytes);
  for (int64_t p0 = k0; p0 < k1; p0 += depth) {
    int64_t p1 = std::min(k1, p0 + depth);
    int64_t quads = (p1 - p0 + 3) / 4, stripBytes = quads * 4 * kStrip;
    packQuads(w, p0, p1, n0, n1, panel, comp);
    for (int64_t i = 0; i < m; i += kMaxRows) {
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      for (int64_t s = 0; s < strips; ++s)
        microU8Rows(rows, a + i * lda + p0, lda, panel + s * stripBytes, quads,
                    c + i * ldc + s * kStrip, ldc, p0 > k0);
    }
  }
  // sum_k (u - zero) w = sum_k u w - zero * sum_k w.
  const __m256i z = _mm256_set1_epi32(zero);
  for (int64_t s = 0; s < strips; ++s)
    for (int h = 0; h < 2; ++h) {
      __m256i corr = _mm256_mullo_epi32(
          z, _mm256_loadu_si256(
                 reinterpret_cast<const __m256i *>(comp + s * kStrip + 8 * h)));
      for (int64_t i = 0; i < m; ++i) {
        __m256i *ci = reinterpret_cast<__m256i *>(c + i * ldc + s * kStrip +
                                                  8 * h);
        _mm256_storeu_si256(ci, _mm256_sub_epi32(_mm256_loadu_si256(ci), corr));
      }
    }
}

namespace {
/// sum_k x[i, k] over `n` signed bytes of each of `m` rows (vpsadbw of
/// x + 128 against zero, less 128 per byte).
MOE_AVXVNNI void signedRowSums(const int8_t *x, int64_t ldx, int64_t m,
                               int64_t n, int32_t *sums) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = 0; i < m; ++i) {
    const int8_t *row = x + i * ldx;
    __m256i total = _mm256_setzero_si256();
    int64_t k = 0;
    for (; k + 32 <= n; k += 32)
      total = _mm256_add_epi64(
          total,
          _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256(
                                               reinterpret_cast<const __m256i *>(row + k)),
                                           flip),
                          _mm256_setzero_si256()));
    alignas(32) int64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), total);
    int64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3] - 128 * k;
    for (; k < n; ++k)
      sum += row[k];
    sums[i] = static_cast<int32_t>(sum);
  }
}

} // namespace

MOE_AVXVNNI void gemmU8Packed(const int8_t *x, int64_t ldx, int64_t m,
                              const WeightView &w, int64_t k0, int64_t k1,
                              int64_t n0, int64_t n1, int32_t *c,
                              int64_t ldc) {
  int64_t strips = (n1 - n0) / kStrip, quads = (k1 - k0) / 4;
  int64_t stripBytes = w.k / 4 * 64;
  const int8_t *base = reinterpret_cast<const int8_t *>(w.data) + w.offset +
                       n0 / kStrip * stripBytes + k0 / 4 * 64;
  int32_t *sums = static_cast<int32_t *>(
      avx2::packScratch(static_cast<size_t>(m) * sizeof(int32_t)));
  signedRowSums(x + k0, ldx, m, k1 - k0, sums);
  // Strip by strip, tiles of up to kMaxRows rows from the cache.
  for (int64_t s = 0; s < strips; ++s) {
    const int8_t *b = base + s * stripBytes;
    for (int64_t i = 0; i < m; i += kMaxRows) {
      const int8_t *xi = x + i * ldx + k0;
      const int32_t *si = sums + i;
      int32_t *ci = c + i * ldc + s * kStrip;
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      const auto *a = reinterpret_cast<const uint8_t *>(xi);
      switch (rows) {
      case 1: microU8<1, true>(a, ldx, b, quads, ci, ldc, false); break;
      case 2: microU8<2, true>(a, ldx, b, quads, ci, ldc, false); break;
      case 3: microU8<3, true>(a, ldx, b, quads, ci, ldc, false); break;
      case 4: microU8<4, true>(a, ldx, b, quads, ci, ldc, false); break;
      case 5: microU8<5, true>(a, ldx, b, quads, ci, ldc, false); break;
      default: microU8<6, true>(a, ldx, b, quads, ci, ldc, false); break;
      }
      // sum x w = sum x (w + 128) - 128 sum x, per row.
      for (int64_t r = 0; r < rows; ++r) {
        __m256i corr = _mm256_set1_epi32(128 * si[r]);
        auto *cr = reinterpret_cast<__m256i *>(ci + r * ldc);
        _mm256_storeu_si256(cr, _mm256_sub_epi32(_mm256_loadu_si256(cr), corr));
        _mm256_storeu_si256(cr + 1,
                            _mm256_sub_epi32(_mm256_loadu_si256(cr + 1), corr));
      }
    }
  }
}

namespace {
/// Rows of x per tile of the packed int4 kernel.
constexpr int kU4Rows = 2;

/// avx512vnni::microU4 (MatmulVnni.cpp) on ymm: the 64 bytes of a quad
/// row are two registers, and their low and high nibbles four registers
/// of 8 columns (columns 0-7, 8-15 from the low nibbles, 16-23, 24-31
/// from the high ones), so a 32-column strip takes four accumulators per
/// row. Per block: D = sum_k x (w + 8), P = D - 8 S + zc (U - 8 gs), f +=
/// float(P) * scale; with Comp (the first tile) U is summed on the way and
/// zc (U - 8 gs) stored in `comp` ([blocks][32]) for the other tiles. As
/// there, x arrives as signed bytes, the high nibbles stay in place
/// (16 (w + 8), their sums shifted back once per block), and U is summed
/// only when zero != 128 (Comp); First is the tile that streams.
template <int MR, bool First, bool Comp>
MOE_AVXVNNI void microU4(const int8_t *xs, int64_t ldx, const uint8_t *b,
                         int64_t blocks, int64_t gs, const float *scale,
                         int64_t ldScale, const int32_t *sums, int32_t *comp,
                         __m256i zc, float *f, int64_t ldf) {
  const __m256i low = _mm256_set1_epi8(0x0F), high = _mm256_set1_epi8(-16),
                ones = _mm256_set1_epi8(1);
  const __m256i eightGs = _mm256_set1_epi32(static_cast<int32_t>(8 * gs));
  __m256 total[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 4; ++h)
      total[i][h] = _mm256_setzero_ps();
  int64_t quads = gs / 4;
  for (int64_t kb = 0; kb < blocks; ++kb) {
    const uint8_t *bk = b + kb * quads * 64;
    const int8_t *xk = xs + kb * gs;
    if (First)
      prefetchGroupScales(scale, kb, blocks, ldScale);
    __m256i d[MR][4], uu[4];
    for (int h = 0; h < 4; ++h) {
      uu[h] = _mm256_setzero_si256();
      for (int i = 0; i < MR; ++i)
        d[i][h] = _mm256_setzero_si256();
    }
    for (int64_t q = 0; q < quads; ++q) {
      if (First)
        _mm_prefetch(reinterpret_cast<const char *>(bk + (q + 32) * 64),
                     _MM_HINT_T0);
      const auto *bq = reinterpret_cast<const __m256i *>(bk + q * 64);
      __m256i v0 = _mm256_load_si256(bq), v1 = _mm256_load_si256(bq + 1);
      __m256i w[4] = {_mm256_and_si256(v0, low), _mm256_and_si256(v1, low),
                      _mm256_and_si256(v0, high), _mm256_and_si256(v1, high)};
      if (First && Comp)
        for (int h = 0; h < 4; ++h)
          uu[h] = _mm256_dpbusd_avx_epi32(uu[h], w[h], ones);
      for (int i = 0; i < MR; ++i) {
        int32_t quad; // a broadcast from memory: a load, no ALU op
        std::memcpy(&quad, xk + i * ldx + 4 * q, 4);
        __m256i x = _mm256_set1_epi32(quad);
        for (int h = 0; h < 4; ++h)
          d[i][h] = _mm256_dpbusd_avx_epi32(d[i][h], w[h], x);
      }
    }
    for (int i = 0; i < MR; ++i) // exact: every term is a multiple of 16
      for (int h = 2; h < 4; ++h)
        d[i][h] = _mm256_srai_epi32(d[i][h], 4);
    int32_t *ck = comp + kb * 32;
    if (First && Comp)
      for (int h = 0; h < 4; ++h)
        _mm256_store_si256(
            reinterpret_cast<__m256i *>(ck + 8 * h),
            _mm256_mullo_epi32(
                zc, _mm256_sub_epi32(h < 2 ? uu[h] : _mm256_srli_epi32(uu[h], 4),
                                     eightGs)));
    const float *sk = scale + kb * ldScale;
    for (int h = 0; h < 4; ++h) {
      __m256i corr =
          Comp ? _mm256_load_si256(reinterpret_cast<const __m256i *>(ck + 8 * h))
               : _mm256_setzero_si256();
      __m256 s = _mm256_loadu_ps(sk + 8 * h);
      for (int i = 0; i < MR; ++i) {
        __m256i eightS = _mm256_set1_epi32(8 * sums[i * blocks + kb]);
        __m256i p =
            _mm256_add_epi32(_mm256_sub_epi32(d[i][h], eightS), corr);
        total[i][h] =
            _mm256_add_ps(total[i][h], _mm256_mul_ps(_mm256_cvtepi32_ps(p), s));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 4; ++h)
      _mm256_storeu_ps(f + i * ldf + 8 * h, total[i][h]);
}
/// microU4 for a tile of min(rows, kU4Rows) rows.
template <bool First, bool Comp>
MOE_AVXVNNI void microU4Rows(int64_t rows, const int8_t *xs, int64_t ldx,
                             const uint8_t *b, int64_t blocks, int64_t gs,
                             const float *scale, int64_t ldScale,
                             const int32_t *sums, int32_t *comp, __m256i zc,
                             float *f, int64_t ldf) {
  (rows >= 2 ? microU4<2, First, Comp> : microU4<1, First, Comp>)(
      xs, ldx, b, blocks, gs, scale, ldScale, sums, comp, zc, f, ldf);
}
} // namespace

MOE_AVXVNNI void gemmU4Packed(const uint8_t *a, int64_t lda, int64_t m,
                              const WeightView &w, int64_t blocks, int64_t gs,
                              const float *scale, int64_t ldScale, int64_t n0,
                              int64_t n1, int32_t zero, float *f,
                              int64_t ldf) {
  int64_t strips = (n1 - n0) / kPackedI4Strip;
  int64_t stripBytes = w.k / 4 * 64;
  const uint8_t *base =
      w.data + w.offset / 2 + n0 / kPackedI4Strip * stripBytes;
  // S per row and block, and room for zc (U - 8 gs) per block of a strip.
  auto [sums, comp] = avx2::u4Scratch(a, lda, m, blocks, gs);
  const __m256i zc = _mm256_set1_epi32(128 - zero);
  const bool comped = zero != 128; // zc (U - 8 gs) is 0 otherwise
  int64_t k = blocks * gs;
  const int8_t *signedX = avx2::signedActivations(a, lda, m, k);
  // Strip by strip: the first tile of rows streams it from memory, the
  // others read it from the cache.
  for (int64_t s = 0; s < strips; ++s) {
    const uint8_t *b = base + s * stripBytes;
    const float *sc = scale + s * kPackedI4Strip;
    for (int64_t i = 0; i < m; i += kU4Rows) {
      float *fs = f + i * ldf + s * kPackedI4Strip;
      const int32_t *si = sums + i * blocks;
      auto run = i == 0 ? (comped ? microU4Rows<true, true>
                                  : microU4Rows<true, false>)
                        : (comped ? microU4Rows<false, true>
                                  : microU4Rows<false, false>);
      run(m - i, signedX + i * k, k, b, blocks, gs, sc, ldScale, si, comp, zc,
          fs, ldf);
    }
  }
}

} // namespace avxvnni
} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
