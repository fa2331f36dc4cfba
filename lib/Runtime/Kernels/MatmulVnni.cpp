//===- MatmulVnni.cpp - u8 x s8 int8/int4 matmul through vpdpbusd ---------===//
//
// The gemmU8 and gemvU8 entries of the avx512vnni variant (MatmulKernels.h;
// MatmulAvxVnni.cpp has the 256-bit AVX-VNNI ones). vpdpbusd
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
// gemvU8 (few rows) streams the weight instead: 16 rows at a time, one
// register of bytes per row interleaved into quads in registers (vpunpck),
// the sums in registers for the 16 rows. An int8 weight: 64 columns per
// register, the column sums taken as one more row of ones, the next 16
// rows prefetched. An int4 weight (gemvU8I4Rows): 128 columns per
// register, split into the low and the high nibbles after the interleave,
// with the weight as the unsigned operand (w + 8) and s = u - 128 as the
// signed one, so the compensation is per row and the column sums are only
// needed for zero != 128; no int8 copy of the weight is made.
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

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }

/// Packs rows [k0, k1) of columns [n0, n1) as quads [strip][q][16][4]
/// (avx2::packU8Quads) and adds sum_k w[k, n] of those rows to
/// comp[n - n0] (round16 columns).
MOE_VNNI void packQuads(const WeightView &w, int64_t k0, int64_t k1,
                        int64_t n0, int64_t n1, int8_t *panel,
                        int32_t *comp) {
  avx2::packU8Quads(w, k0, k1, n0, n1, panel);
  int64_t quads = (k1 - k0 + 3) / 4, strips = round16(n1 - n0) / kStrip;
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

/// What a micro-kernel call does besides its product.
enum class Extra {
  None,
  /// Prefetch 2 KiB ahead along the strips into L1: the first tile over a
  /// packed weight streams it from memory.
  Stream,
  /// Prefetch one 64-byte line from `extra` per quad into L2 (the strips
  /// the next tiles will stream, while this one computes from the cache).
  Prefetch
};

/// c[0..MR) x [NS strips] (+)= a[0..MR) x panel strips of quads, and the
/// Extra. Unsigned a (u8 = x + 128) times the signed weight bytes; with
/// SignedX, the signed activations x times the weight bytes as unsigned
/// (the packed int8 layout holds w + 128).
template <int MR, int NS, Extra X = Extra::None, bool SignedX = false>
MOE_VNNI void microU8(const uint8_t *a, int64_t lda, const int8_t *b,
                      int64_t stripBytes, int64_t quads, int32_t *c,
                      int64_t ldc, bool accumulate, void *extra = nullptr) {
  __m512i acc[MR][NS];
  for (int i = 0; i < MR; ++i)
    for (int s = 0; s < NS; ++s)
      acc[i][s] = _mm512_setzero_si512();
  for (int64_t q = 0; q < quads; ++q) {
    if (X == Extra::Prefetch)
      _mm_prefetch(static_cast<const char *>(extra) + q * 64, _MM_HINT_T1);
    __m512i bv[NS];
    for (int s = 0; s < NS; ++s) {
      if (X == Extra::Stream)
        _mm_prefetch(reinterpret_cast<const char *>(b + s * stripBytes +
                                                    (q + 32) * 64),
                     _MM_HINT_T0);
      bv[s] = _mm512_load_si512(b + s * stripBytes + q * 64);
    }
    for (int i = 0; i < MR; ++i) {
      int32_t quad;
      std::memcpy(&quad, a + i * lda + 4 * q, 4);
      __m512i av = _mm512_set1_epi32(quad);
      for (int s = 0; s < NS; ++s)
        acc[i][s] = SignedX ? _mm512_dpbusd_epi32(acc[i][s], bv[s], av)
                            : _mm512_dpbusd_epi32(acc[i][s], av, bv[s]);
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

template <int NS, Extra X = Extra::None, bool SignedX = false>
MOE_VNNI void microU8Rows(int64_t rows, const uint8_t *a, int64_t lda,
                          const int8_t *b, int64_t stripBytes, int64_t quads,
                          int32_t *c, int64_t ldc, bool acc,
                          void *comp = nullptr) {
  switch (rows) {
  case 1: return microU8<1, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 2: return microU8<2, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 3: return microU8<3, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 4: return microU8<4, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 5: return microU8<5, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 6: return microU8<6, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  case 7: return microU8<7, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
  default: return microU8<8, NS, X, SignedX>(a, lda, b, stripBytes, quads, c, ldc, acc, comp);
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

/// Rows r[0..3] (64 bytes each) as k-quads: v[u] lane l holds columns
/// 16l + 4u .. + 3, each as the 4 bytes of rows 0-3 (the permuted column
/// order unpermute() undoes).
MOE_VNNI inline void interleaveQuads(const __m512i r[4], __m512i v[4]) {
  __m512i lo01 = _mm512_unpacklo_epi8(r[0], r[1]);
  __m512i hi01 = _mm512_unpackhi_epi8(r[0], r[1]);
  __m512i lo23 = _mm512_unpacklo_epi8(r[2], r[3]);
  __m512i hi23 = _mm512_unpackhi_epi8(r[2], r[3]);
  v[0] = _mm512_unpacklo_epi16(lo01, lo23);
  v[1] = _mm512_unpackhi_epi16(lo01, lo23);
  v[2] = _mm512_unpacklo_epi16(hi01, hi23);
  v[3] = _mm512_unpackhi_epi16(hi01, hi23);
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
        __m512i v[4];
        interleaveQuads(r, v);
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

/// Rows of x that one gemvU8 pass over an int4 weight multiplies (its
/// 8 accumulators per row and step fill the registers at 2 rows + U).
constexpr int kGemvI4Rows = 2;


/// One gemvU8I4Rows step: `depth` (<= 16) rows of 128 columns (64 bytes
/// at `p`, `mask` of them readable unless Full) times R rows of s (quads
/// at `xs`, row stride `xStride`), added to the sums at `acc` (row
/// stride `accStride`; stored there on the `first` step). The raw bytes of 4 rows are interleaved into
/// quads, then split: low nibbles xor 8 (even columns) and high nibbles
/// xor 8 (odd columns).
template <int R, bool Full>
MOE_VNNI inline void gemvI4Step(const uint8_t *p, int64_t ldw, int64_t depth,
                                __mmask64 mask, const int8_t *xs,
                                int64_t xStride, int32_t *acc,
                                int64_t accStride, bool first) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  const __m512i high = _mm512_set1_epi8(static_cast<char>(0xF0));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x88));
  __m512i s[R][8];
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < 8; ++u)
      s[i][u] = _mm512_setzero_si512();
  int64_t quads = Full ? kGemvDepth / 4 : (depth + 3) / 4;
  for (int64_t q = 0; q < quads; ++q) {
    __m512i r[4];
    for (int64_t t = 0; t < 4; ++t) {
      const uint8_t *row = p + (4 * q + t) * ldw;
      if (Full) // the next step's row
        _mm_prefetch(reinterpret_cast<const char *>(row + kGemvDepth * ldw),
                     _MM_HINT_T0);
      if (Full)
        r[t] = _mm512_loadu_si512(row);
      else
        r[t] = 4 * q + t < depth ? _mm512_maskz_loadu_epi8(mask, row)
                                 : _mm512_setzero_si512();
    }
    __m512i v[4];
    interleaveQuads(r, v);
    __m512i x[R];
    for (int i = 0; i < R; ++i) {
      int32_t quad;
      std::memcpy(&quad, xs + i * xStride + 4 * q, 4);
      x[i] = _mm512_set1_epi32(quad);
    }
    for (int u = 0; u < 4; ++u) {
      // (The odd columns as 16 (w + 8), the high nibble in place, divided
      // by 16 when the sums leave the registers: exact, and one shift
      // fewer per register.)
      __m512i even = _mm512_and_si512(_mm512_xor_si512(v[u], flip), low);
      __m512i odd = _mm512_and_si512(_mm512_xor_si512(v[u], flip), high);
      for (int i = 0; i < R; ++i) {
        s[i][u] = _mm512_dpbusd_epi32(s[i][u], even, x[i]);
        s[i][4 + u] = _mm512_dpbusd_epi32(s[i][4 + u], odd, x[i]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < 8; ++u) {
      int32_t *d = acc + i * accStride + 16 * u;
      // (maskz: g++ 12's unmasked intrinsic warns about its undefined
      // pass-through operand.)
      __m512i sum = u >= 4 ? _mm512_maskz_srai_epi32(0xFFFF, s[i][u], 4)
                           : s[i][u];
      _mm512_storeu_si512(
          d, first ? sum : _mm512_add_epi32(_mm512_loadu_si512(d), sum));
    }
}

/// The 128 sums of one gemvU8I4Rows chunk in column order: the even
/// columns' 64 (in the order of the quads) at p, the odd ones' at p + 64.
MOE_VNNI inline void unpermuteI4(const int32_t *p, __m512i out[8]) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5,
                                       21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28,
                                       13, 29, 14, 30, 15, 31);
  __m512i even[4], odd[4];
  unpermute(p, even); // even[l]: columns 32l, 32l + 2, .. 32l + 30
  unpermute(p + 64, odd);
  for (int l = 0; l < 4; ++l) {
    out[2 * l] = _mm512_permutex2var_epi32(even[l], lo, odd[l]);
    out[2 * l + 1] = _mm512_permutex2var_epi32(even[l], hi, odd[l]);
  }
}

/// gemvU8 of an int4 weight whose rows start on whole bytes, for exactly
/// MR <= kGemvI4Rows rows of u. Here the weight is vpdpbusd's unsigned
/// operand, w + 8 (a nibble xor 8) in [0, 15], and the activations the
/// signed one, s = u - 128. With D = sum_k s (w + 8), S = sum_k s, U =
/// sum_k (w + 8) and L = k1 - k0:
///   sum_k (u - zero) w = D - 8 S - (zero - 128) (U - 8 L),
/// U only needed (Comp, one more row of ones) when zero != 128. 16 rows
/// of 128 columns (64 bytes) per step, as gemvU8Rows.
template <int MR, bool Comp>
MOE_VNNI void gemvU8I4Rows(const uint8_t *a, int64_t lda, const WeightView &w,
                           int64_t k0, int64_t k1, int64_t n0, int64_t n1,
                           int32_t zero, int32_t *c, int64_t ldc) {
  constexpr int R = MR + (Comp ? 1 : 0);
  const uint8_t *base = w.data + (w.offset + n0) / 2;
  int64_t ldw = w.n / 2, cols = n1 - n0, chunks = (cols + 127) / 128;
  int64_t padded = (k1 - k0 + kGemvDepth - 1) / kGemvDepth * kGemvDepth;
  // Scratch: the sums (and U) per row in the permuted order of the quads,
  // then s per row.
  int64_t rowElems = chunks * 128;
  int32_t *acc = static_cast<int32_t *>(
      avx2::packScratch(R * rowElems * sizeof(int32_t) + R * padded));
  int8_t *xs = reinterpret_cast<int8_t *>(acc + R * rowElems);
  if (k1 <= k0) // no step stores the sums
    std::fill(acc, acc + R * rowElems, 0);
  int64_t sums[MR];
  signedRows(a, lda, MR, Comp, k0, k1, padded, xs, sums);
  for (int64_t k = k0; k < k1; k += kGemvDepth) {
    int64_t depth = std::min(kGemvDepth, k1 - k);
    const uint8_t *rows = base + k * ldw;
    const int8_t *x = xs + (k - k0);
    for (int64_t j = 0; j < chunks; ++j) {
      int64_t bytes = std::min<int64_t>(64, (cols - 128 * j + 1) / 2);
      int32_t *aj = acc + 128 * j;
      if (depth == kGemvDepth && bytes == 64)
        gemvI4Step<R, true>(rows + 64 * j, ldw, depth, 0, x, padded, aj,
                            rowElems, k == k0);
      else
        gemvI4Step<R, false>(rows + 64 * j, ldw, depth,
                             bytes == 64 ? ~__mmask64(0)
                                         : (__mmask64(1) << bytes) - 1,
                             x, padded, aj, rowElems, k == k0);
    }
  }
  // Back to column order; D - 8 S - (zero - 128) (U - 8 L).
  int64_t strips = round16(cols) / kStrip;
  const __m512i eightL = _mm512_set1_epi32(static_cast<int32_t>(8 * (k1 - k0)));
  const __m512i z = _mm512_set1_epi32(zero - 128);
  for (int64_t j = 0; j < chunks; ++j) {
    __m512i corr[8] = {};
    if (Comp) {
      unpermuteI4(acc + MR * rowElems + 128 * j, corr);
      for (int l = 0; l < 8; ++l)
        corr[l] = _mm512_mullo_epi32(z, _mm512_sub_epi32(corr[l], eightL));
    }
    for (int i = 0; i < MR; ++i) {
      __m512i out[8];
      unpermuteI4(acc + i * rowElems + 128 * j, out);
      __m512i eightS = _mm512_set1_epi32(
          static_cast<int32_t>(static_cast<uint32_t>(8 * sums[i])));
      for (int l = 0; l < 8 && 8 * j + l < strips; ++l)
        _mm512_storeu_si512(
            c + i * ldc + 128 * j + 16 * l,
            _mm512_sub_epi32(_mm512_sub_epi32(out[l], eightS), corr[l]));
    }
  }
}

template <int MR>
MOE_VNNI void gemvU8I4(const uint8_t *a, int64_t lda, const WeightView &w,
                       int64_t k0, int64_t k1, int64_t n0, int64_t n1,
                       int32_t zero, int32_t *c, int64_t ldc) {
  if (zero == 128)
    gemvU8I4Rows<MR, false>(a, lda, w, k0, k1, n0, n1, zero, c, ldc);
  else
    gemvU8I4Rows<MR, true>(a, lda, w, k0, k1, n0, n1, zero, c, ldc);
}
} // namespace

MOE_VNNI void gemvU8(const uint8_t *a, int64_t lda, int64_t m,
                     const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int32_t zero, int32_t *c, int64_t ldc) {
  if (w.dtype == DType::I4) {
    // Rows that do not start on a byte: the panel kernel unpacks those.
    if (w.n % 2 != 0 || (w.offset + n0) % 2 != 0)
      return gemmU8(a, lda, m, w, k0, k1, n0, n1, zero, c, ldc);
    for (int64_t i = 0; i < m; i += kGemvI4Rows) {
      const uint8_t *ai = a + i * lda;
      int32_t *ci = c + i * ldc;
      if (m - i == 1)
        gemvU8I4<1>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc);
      else
        gemvU8I4<2>(ai, lda, w, k0, k1, n0, n1, zero, ci, ldc);
    }
    return;
  }
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
  auto [depth, comp, panel] = avx2::u8Panels(strips, kPanelBytes);
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

namespace {
/// sum_k (p[k] xor flip) over n unsigned bytes: vpsadbw against zero, 8
/// bytes per 64-bit lane.
MOE_VNNI int64_t byteSum(const uint8_t *p, int64_t n, uint8_t flip) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  __m512i total = _mm512_setzero_si512();
  for (int64_t k = 0; k < n; k += 64) {
    __mmask64 mask = n - k >= 64 ? ~__mmask64(0) : (__mmask64(1) << (n - k)) - 1;
    // Flipped within the range, 0 past it.
    __m512i u = _mm512_maskz_mov_epi8(
        mask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, p + k), f));
    total = _mm512_add_epi64(total, _mm512_sad_epu8(u, _mm512_setzero_si512()));
  }
  // (Not _mm512_reduce_add_epi64: g++ 12's header warns inside it.)
  alignas(64) int64_t lanes[8];
  _mm512_store_si512(lanes, total);
  int64_t sum = 0;
  for (int64_t lane : lanes)
    sum += lane;
  return sum;
}

/// sum_k x[i, k] over [k0, k1) of `m` rows of signed bytes: the sum of
/// x + 128, less 128 per byte.
MOE_VNNI void signedRowSums(const int8_t *x, int64_t ldx, int64_t m,
                            int64_t k0, int64_t k1, int32_t *sums) {
  for (int64_t i = 0; i < m; ++i)
    sums[i] = static_cast<int32_t>(
        byteSum(reinterpret_cast<const uint8_t *>(x + i * ldx + k0), k1 - k0,
                0x80) -
        128 * (k1 - k0));
}
} // namespace

MOE_VNNI void gemmU8Packed(const int8_t *x, int64_t ldx, int64_t m,
                           const WeightView &w, int64_t k0, int64_t k1,
                           int64_t n0, int64_t n1, int32_t *c, int64_t ldc) {
  int64_t strips = (n1 - n0) / kStrip, quads = (k1 - k0) / 4;
  int64_t stripBytes = w.k / 4 * 64;
  const int8_t *base = reinterpret_cast<const int8_t *>(w.data) + w.offset +
                       n0 / kStrip * stripBytes + k0 / 4 * 64;
  const auto *a = reinterpret_cast<const uint8_t *>(x);
  int32_t *sums = static_cast<int32_t *>(
      avx2::packScratch(static_cast<size_t>(m) * sizeof(int32_t)));
  signedRowSums(x, ldx, m, k0, k1, sums);
  // Two strips at a time, straight from the packed weight (bytes w + 128,
  // the unsigned operand; x the signed one): the first tile of rows streams
  // them from memory, the other tiles find them in the cache and prefetch
  // the next two strips, a tile's worth of lines each. Then
  // sum x w = sum x (w + 128) - 128 sum x, per row.
  int64_t tileBytes = quads * 64;
  for (int64_t s = 0; s < strips; s += 2) {
    int ns = s + 1 < strips ? 2 : 1;
    const int8_t *b = base + s * stripBytes;
    // The next two strips (contiguous from k0 on when the range is all of
    // K, as for every w8a8 matmul): [next, next + nextBytes).
    const int8_t *next = b + 2 * stripBytes;
    int64_t nextBytes = s + 2 < strips && quads * 4 == w.k
                            ? std::min<int64_t>(2, strips - s - 2) * stripBytes
                            : 0;
    for (int64_t i = 0; i < m; i += kMaxRows) {
      int64_t rows = std::min<int64_t>(kMaxRows, m - i);
      const uint8_t *ai = a + i * ldx + k0;
      int32_t *cs = c + i * ldc + s * kStrip;
      int64_t pf = (i / kMaxRows - 1) * tileBytes;
      void *pfAt = const_cast<int8_t *>(next + pf);
      bool prefetch = i > 0 && pf + tileBytes <= nextBytes;
      if (i == 0)
        ns == 2 ? microU8Rows<2, Extra::Stream, true>(
                      rows, ai, ldx, b, stripBytes, quads, cs, ldc, false)
                : microU8Rows<1, Extra::Stream, true>(
                      rows, ai, ldx, b, stripBytes, quads, cs, ldc, false);
      else if (prefetch)
        ns == 2 ? microU8Rows<2, Extra::Prefetch, true>(
                      rows, ai, ldx, b, stripBytes, quads, cs, ldc, false, pfAt)
                : microU8Rows<1, Extra::Prefetch, true>(
                      rows, ai, ldx, b, stripBytes, quads, cs, ldc, false, pfAt);
      else
        ns == 2 ? microU8Rows<2, Extra::None, true>(rows, ai, ldx, b, stripBytes,
                                                    quads, cs, ldc, false)
                : microU8Rows<1, Extra::None, true>(rows, ai, ldx, b, stripBytes,
                                                    quads, cs, ldc, false);
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    __m512i corr = _mm512_set1_epi32(128 * sums[i]);
    for (int64_t s = 0; s < strips; ++s) {
      int32_t *ci = c + i * ldc + s * kStrip;
      _mm512_storeu_si512(ci, _mm512_sub_epi32(_mm512_loadu_si512(ci), corr));
    }
  }
}

namespace {
/// Rows of a packed int4 tile: 2 x MR accumulators for the block's sums
/// and 2 x MR for the scaled total stay in registers.
constexpr int kU4Rows = 4;

/// f[0..MR) x the 32 columns of one packed int4 strip, over all `blocks`
/// K blocks of `gs` rows (MatmulKernels.h's GemmU4ScaledFn). Per block:
/// D = sum_k x (w + 8) per column with the weight nibbles as vpdpbusd's
/// unsigned operand and x = u - 128 (`xs`, signed bytes made once per
/// call) as the signed one, then P = D - 8 S + zc (U - 8 gs) with S =
/// sum_k x (`sums`, [MR][blocks]), U = sum_k (w + 8) and zc = 128 - zero;
/// f += float(P) * scale. The high nibbles stay in place, 16 (w + 8) (one
/// AND, no shift per register): their sums are 16 times too large, exactly,
/// and are shifted back once per block (|16 (w + 8) x| <= 30720, so gs <=
/// kMaxPackedI4Group keeps them in an i32). The kernel is issue-bound at
/// one row, where every instruction per 64 bytes counts. The compensation
/// exists only for zero != 128 (Comp: the kernel form's bias; the plain
/// w4a8 matmul has zc = 0): then the First tile of rows sums U on the way
/// and stores zc (U - 8 gs) per block in `comp` ([blocks][32]), and the
/// other tiles read it. The First tile streams the strip from memory,
/// prefetching 2 KiB ahead.
template <int MR, bool First, bool Comp>
MOE_VNNI void microU4(const int8_t *xs, int64_t ldx, const uint8_t *b,
                      int64_t blocks, int64_t gs, const float *scale,
                      int64_t ldScale, const int32_t *sums, int32_t *comp,
                      __m512i zc, float *f, int64_t ldf) {
  const __m512i low = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi8(-16),
                ones = _mm512_set1_epi8(1);
  const __m512i eightGs = _mm512_set1_epi32(static_cast<int32_t>(8 * gs));
  __m512 total[MR][2];
  for (int i = 0; i < MR; ++i)
    total[i][0] = total[i][1] = _mm512_setzero_ps();
  int64_t quads = gs / 4;
  for (int64_t kb = 0; kb < blocks; ++kb) {
    const uint8_t *bk = b + kb * quads * 64;
    const int8_t *xk = xs + kb * gs;
    if (First)
      prefetchGroupScales(scale, kb, blocks, ldScale);
    __m512i d[MR][2], uu[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int i = 0; i < MR; ++i)
      d[i][0] = d[i][1] = _mm512_setzero_si512();
    for (int64_t q = 0; q < quads; ++q) {
      if (First)
        _mm_prefetch(reinterpret_cast<const char *>(bk + (q + 32) * 64),
                     _MM_HINT_T0);
      __m512i v = _mm512_load_si512(bk + q * 64);
      __m512i lo = _mm512_and_si512(v, low);
      __m512i hi16 = _mm512_and_si512(v, high); // 16 (w + 8)
      if (First && Comp) {
        uu[0] = _mm512_dpbusd_epi32(uu[0], lo, ones);
        uu[1] = _mm512_dpbusd_epi32(uu[1], hi16, ones);
      }
      for (int i = 0; i < MR; ++i) {
        int32_t quad; // a broadcast from memory: a load, no ALU op
        std::memcpy(&quad, xk + i * ldx + 4 * q, 4);
        __m512i x = _mm512_set1_epi32(quad);
        d[i][0] = _mm512_dpbusd_epi32(d[i][0], lo, x);
        d[i][1] = _mm512_dpbusd_epi32(d[i][1], hi16, x);
      }
    }
    // Exact: every term is a multiple of 16. (maskz: g++ 12's unmasked
    // shifts warn about their undefined pass-through operand.)
    for (int i = 0; i < MR; ++i)
      d[i][1] = _mm512_maskz_srai_epi32(0xFFFF, d[i][1], 4);
    int32_t *ck = comp + kb * 32;
    if (First && Comp) {
      uu[1] = _mm512_maskz_srli_epi32(0xFFFF, uu[1], 4);
      for (int h = 0; h < 2; ++h)
        _mm512_store_si512(ck + 16 * h,
                           _mm512_mullo_epi32(zc, _mm512_sub_epi32(uu[h], eightGs)));
    }
    const float *sk = scale + kb * ldScale;
    for (int h = 0; h < 2; ++h) {
      __m512i corr =
          Comp ? _mm512_load_si512(ck + 16 * h) : _mm512_setzero_si512();
      __m512 s = _mm512_loadu_ps(sk + 16 * h);
      for (int i = 0; i < MR; ++i) {
        __m512i eightS = _mm512_set1_epi32(8 * sums[i * blocks + kb]);
        __m512i p = _mm512_add_epi32(_mm512_sub_epi32(d[i][h], eightS), corr);
        // (maskz: g++ 12's unmasked conversion warns about its undefined
        // pass-through operand.)
        __m512 pf = _mm512_maskz_cvtepi32_ps(0xFFFF, p);
        total[i][h] = _mm512_add_ps(total[i][h], _mm512_mul_ps(pf, s));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h)
      _mm512_storeu_ps(f + i * ldf + 16 * h, total[i][h]);
}

template <bool First, bool Comp>
MOE_VNNI void microU4Rows(int64_t rows, const int8_t *a, int64_t lda,
                          const uint8_t *b, int64_t blocks, int64_t gs,
                          const float *scale, int64_t ldScale,
                          const int32_t *sums, int32_t *comp, __m512i zc,
                          float *f, int64_t ldf) {
  switch (rows) {
  case 1: return microU4<1, First, Comp>(a, lda, b, blocks, gs, scale, ldScale, sums, comp, zc, f, ldf);
  case 2: return microU4<2, First, Comp>(a, lda, b, blocks, gs, scale, ldScale, sums, comp, zc, f, ldf);
  case 3: return microU4<3, First, Comp>(a, lda, b, blocks, gs, scale, ldScale, sums, comp, zc, f, ldf);
  default: return microU4<4, First, Comp>(a, lda, b, blocks, gs, scale, ldScale, sums, comp, zc, f, ldf);
  }
}
} // namespace

MOE_VNNI void gemmU4Packed(const uint8_t *a, int64_t lda, int64_t m,
                           const WeightView &w, int64_t blocks, int64_t gs,
                           const float *scale, int64_t ldScale, int64_t n0,
                           int64_t n1, int32_t zero, float *f, int64_t ldf) {
  int64_t strips = (n1 - n0) / kPackedI4Strip;
  int64_t stripBytes = w.k / 4 * 64;
  const uint8_t *base =
      w.data + w.offset / 2 + n0 / kPackedI4Strip * stripBytes;
  // S per row and block, and room for zc (U - 8 gs) per block of a strip.
  auto [sums, comp] = avx2::u4Scratch(a, lda, m, blocks, gs);
  const __m512i zc = _mm512_set1_epi32(128 - zero);
  const bool comped = zero != 128; // zc (U - 8 gs) is 0 otherwise
  // x = u - 128 as signed bytes, once per call (the micro-kernel's
  // broadcast operand).
  int64_t k = blocks * gs;
  const int8_t *signedX = avx2::signedActivations(a, lda, m, k);
  // Strip by strip: the first tile of rows streams it from memory, every
  // K block in order, and sums its columns; the others read it from the
  // cache.
  for (int64_t s = 0; s < strips; ++s) {
    const uint8_t *b = base + s * stripBytes;
    const float *sc = scale + s * kPackedI4Strip;
    for (int64_t i = 0; i < m; i += kU4Rows) {
      int64_t rows = std::min<int64_t>(kU4Rows, m - i);
      float *fs = f + i * ldf + s * kPackedI4Strip;
      const int8_t *xi = signedX + i * k;
      auto run = i == 0 ? (comped ? microU4Rows<true, true>
                                  : microU4Rows<true, false>)
                        : (comped ? microU4Rows<false, true>
                                  : microU4Rows<false, false>);
      run(rows, xi, k, b, blocks, gs, sc, ldScale, sums + i * blocks, comp,
          zc, fs, ldf);
    }
  }
}

} // namespace avx512vnni
} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
