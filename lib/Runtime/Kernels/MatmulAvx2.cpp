//===- MatmulAvx2.cpp - packed-panel AVX2/FMA matmul kernels --------------===//
//
// The avx2 variant (MatmulKernels.h): every function that uses AVX2, FMA
// or F16C instructions carries MOE_AVX2; the library is built for the
// baseline ISA, and CpuIsa.cpp reaches these only on CPUs that have them.
// Nothing here is compiled outside x86-64.
//
// For a block of columns [n0, n1) the weight is packed one panel of k rows
// at a time into 16-column strips (f32: [strip][k][16]; int8/int4: s16
// k-pairs [strip][k/2][16][2], so one vpmaddwd multiplies two k at once
// with exact i32 results), then every tile of MR rows runs a register
// micro-kernel over every strip. The weight is read once per block and
// row chunk, sequentially along each row, which streams at memory speed
// for the few-row groups of decoding; the panel stays in L2 for many rows.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <vector>

#define MOE_AVX2 MOE_TARGET("avx2,fma,f16c")

namespace moert {
namespace detail {
namespace avx2 {
namespace {

constexpr int64_t kStrip = 16;
/// A packed panel holds at most this many bytes (half of L2).
constexpr int64_t kPanelBytes = 256 * 1024;
/// Rows of the weight prefetched ahead of the packing loop.
constexpr int64_t kPrefetchRows = 4;

int64_t round16(int64_t v) { return (v + kStrip - 1) / kStrip * kStrip; }


/// Prefetches columns [n0, n1) of weight row k (if it exists).
inline void prefetchRow(const WeightView &w, int64_t k, int64_t n0,
                        int64_t n1) {
  if (k >= w.k)
    return;
  int64_t first = storageBytes(w.dtype, w.offset + k * w.n + n0);
  int64_t last = storageBytes(w.dtype, w.offset + k * w.n + n1);
  for (int64_t b = first; b < last; b += 64)
    _mm_prefetch(reinterpret_cast<const char *>(w.data + b), _MM_HINT_T0);
}


float weightF32(const WeightView &w, int64_t idx) {
  switch (w.dtype) {
  case DType::F32:
    return reinterpret_cast<const float *>(w.data)[idx];
  case DType::BF16:
    return bf16ToFloat(reinterpret_cast<const uint16_t *>(w.data)[idx]);
  default:
    return f16ToFloat(reinterpret_cast<const uint16_t *>(w.data)[idx]);
  }
}

int8_t weightI8(const WeightView &w, int64_t idx) {
  return w.dtype == DType::I8 ? reinterpret_cast<const int8_t *>(w.data)[idx]
                              : getI4(w.data, idx);
}

//===----------------------------------------------------------------------===//
// f32
//===----------------------------------------------------------------------===//

/// 16 weights from element `idx` on as f32.
MOE_AVX2 inline void load16F32(const WeightView &w, int64_t idx, __m256 &lo,
                      __m256 &hi) {
  switch (w.dtype) {
  case DType::F32: {
    const float *p = reinterpret_cast<const float *>(w.data) + idx;
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
    return;
  }
  case DType::BF16: {
    const __m128i *p =
        reinterpret_cast<const __m128i *>(
            reinterpret_cast<const uint16_t *>(w.data) + idx);
    lo = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
    hi = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p + 1)), 16));
    return;
  }
  default: {
    const __m128i *p =
        reinterpret_cast<const __m128i *>(
            reinterpret_cast<const uint16_t *>(w.data) + idx);
    lo = _mm256_cvtph_ps(_mm_loadu_si128(p));
    hi = _mm256_cvtph_ps(_mm_loadu_si128(p + 1));
    return;
  }
  }
}

} // namespace

/// Fills kPanelBytes, a multiple of 8 rows, at least 16 and at most 512.
int64_t panelRows(int64_t cols, int64_t bytes) {
  int64_t rows = kPanelBytes / (round16(cols) * bytes) / 8 * 8;
  return std::min<int64_t>(512, std::max<int64_t>(16, rows));
}

U8Panels u8Panels(int64_t strips, int64_t panelBytes) {
  int64_t depth =
      std::min<int64_t>(1024, std::max<int64_t>(64, panelBytes /
                                                        (strips * kStrip))) /
      4 * 4;
  int32_t *comp = static_cast<int32_t *>(packScratch(
      strips * kStrip * 4 + depth / 4 * strips * kStrip * 4));
  std::fill(comp, comp + strips * kStrip, 0);
  return {depth, comp, reinterpret_cast<int8_t *>(comp + strips * kStrip)};
}

void *packScratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64)
    buf.resize(bytes + 64);
  // 64-byte alignment for the aligned loads of the micro-kernels.
  uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void *>((p + 63) & ~uintptr_t(63));
}

U4Scratch u4Scratch(const uint8_t *u, int64_t ldu, int64_t m, int64_t blocks,
                    int64_t gs) {
  size_t sumBytes = static_cast<size_t>(m * blocks) * sizeof(int32_t);
  sumBytes = (sumBytes + 63) / 64 * 64;
  auto *scratch = static_cast<uint8_t *>(packScratch(
      sumBytes + static_cast<size_t>(blocks) * 32 * sizeof(int32_t)));
  auto *sums = reinterpret_cast<int32_t *>(scratch);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kb = 0; kb < blocks; ++kb) {
      const uint8_t *p = u + i * ldu + kb * gs;
      int32_t sum = 0; // |sum| <= 128 gs
      for (int64_t k = 0; k < gs; ++k)
        sum += p[k];
      sums[i * blocks + kb] = sum - 128 * static_cast<int32_t>(gs);
    }
  return {sums, reinterpret_cast<int32_t *>(scratch + sumBytes)};
}

const int8_t *signedActivations(const uint8_t *u, int64_t ldu, int64_t m,
                                int64_t k) {
  thread_local std::vector<int8_t> signedX;
  signedX.resize(static_cast<size_t>(m * k));
  int8_t *x = signedX.data();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < k; ++c)
      x[i * k + c] = static_cast<int8_t>(u[i * ldu + c] ^ 0x80);
  return x;
}

MOE_AVX2 void packF32(const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                      int64_t n1, float *panel) {
  int64_t kc = k1 - k0, cols = n1 - n0;
  int64_t full = cols / kStrip * kStrip;
  for (int64_t k = k0; k < k1; ++k) {
    prefetchRow(w, k + kPrefetchRows, n0, n1);
    int64_t row = w.offset + k * w.n + n0;
    float *dst = panel + (k - k0) * kStrip;
    for (int64_t j = 0; j < full; j += kStrip) {
      __m256 lo, hi;
      load16F32(w, row + j, lo, hi);
      float *d = dst + (j / kStrip) * kc * kStrip;
      _mm256_store_ps(d, lo);
      _mm256_store_ps(d + 8, hi);
    }
    if (full < cols) {
      float *d = dst + (full / kStrip) * kc * kStrip;
      for (int64_t j = 0; j < kStrip; ++j)
        d[j] = full + j < cols ? weightF32(w, row + full + j) : 0.0f;
    }
  }
}

namespace {
/// c[0..MR) x 16 (+)= a[0..MR) x the strip at b (kc rows). `next`, when
/// not null, is a strip of kc rows fetched into L2 meanwhile, a line per
/// row (the strip the caller reads next from memory).
template <int MR>
MOE_AVX2 void microF32(const float *a, int64_t lda, const float *b, int64_t kc,
              float *c, int64_t ldc, bool accumulate,
              const float *next = nullptr) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  // Without a next strip, the prefetches touch this one (in L1 already).
  int64_t ahead = next ? next - b : 0;
  for (int64_t k = 0; k < kc; ++k, b += kStrip) {
    _mm_prefetch(reinterpret_cast<const char *>(b + ahead), _MM_HINT_T1);
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    for (int i = 0; i < MR; ++i) {
      __m256 av = _mm256_broadcast_ss(a + i * lda + k);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float *ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
      acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
  }
}

//===----------------------------------------------------------------------===//
// int8 / int4 as s16 k-pairs
//===----------------------------------------------------------------------===//

/// 16 int8 weights from element `idx` on (idx even for i4).
MOE_AVX2 inline __m128i load16I8(const WeightView &w, int64_t idx) {
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

} // namespace

MOE_AVX2 void packI8(const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int16_t *panel) {
  int64_t pairs = (k1 - k0 + 1) / 2, cols = n1 - n0;
  // Vector loads need whole bytes: i4 rows must start on a byte.
  bool vec = w.dtype == DType::I8 || ((w.offset + n0) % 2 == 0 && w.n % 2 == 0);
  int64_t full = vec ? cols / kStrip * kStrip : 0;
  for (int64_t p = 0; p < pairs; ++p) {
    int64_t k = k0 + 2 * p;
    prefetchRow(w, k + kPrefetchRows, n0, n1);
    prefetchRow(w, k + kPrefetchRows + 1, n0, n1);
    bool second = k + 1 < k1;
    int64_t row0 = w.offset + k * w.n + n0, row1 = row0 + w.n;
    int16_t *dst = panel + p * 2 * kStrip;
    for (int64_t j = 0; j < full; j += kStrip) {
      __m128i r0 = load16I8(w, row0 + j);
      __m128i r1 = second ? load16I8(w, row1 + j) : _mm_setzero_si128();
      int16_t *d = dst + (j / kStrip) * pairs * 2 * kStrip;
      _mm256_store_si256(reinterpret_cast<__m256i *>(d),
                         _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1)));
      _mm256_store_si256(reinterpret_cast<__m256i *>(d + 16),
                         _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r0, r1)));
    }
    for (int64_t j = full; j < round16(cols); ++j) {
      int16_t *d = dst + (j / kStrip) * pairs * 2 * kStrip + (j % kStrip) * 2;
      bool in = j < cols;
      d[0] = in ? weightI8(w, row0 + j) : 0;
      d[1] = in && second ? weightI8(w, row1 + j) : 0;
    }
  }
}

MOE_AVX2 void packU8Quads(const WeightView &w, int64_t k0, int64_t k1,
                          int64_t n0, int64_t n1, int8_t *panel) {
  // The vpdpbusd kernels stream a panel once per 8 rows: prefetch further.
  constexpr int64_t kQuadPrefetchRows = 8;
  int64_t quads = (k1 - k0 + 3) / 4, cols = n1 - n0;
  int64_t strips = round16(cols) / kStrip;
  bool vec = w.dtype == DType::I8 || ((w.offset + n0) % 2 == 0 && w.n % 2 == 0);
  int64_t full = vec ? cols / kStrip * kStrip : 0;
  for (int64_t q = 0; q < quads; ++q) {
    int64_t k = k0 + 4 * q;
    for (int64_t j = 0; j < 4; ++j)
      prefetchRow(w, k + kQuadPrefetchRows + j, n0, n1);
    int64_t rowsHere = std::min<int64_t>(4, k1 - k);
    int64_t row = w.offset + k * w.n + n0;
    int8_t *dst = panel + q * 4 * kStrip;
    for (int64_t j = 0; j < full; j += kStrip) {
      __m128i r[4];
      for (int64_t t = 0; t < 4; ++t)
        r[t] = t < rowsHere ? load16I8(w, row + t * w.n + j)
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
}

namespace {
template <int MR>
MOE_AVX2 void microI8(const int16_t *a, int64_t lda, const int16_t *b,
                      int64_t pairs, int32_t *c, int64_t ldc, bool accumulate) {
  __m256i acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (int64_t p = 0; p < pairs; ++p, b += 2 * kStrip) {
    __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i *>(b));
    __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i *>(b + 16));
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * lda + 2 * p, 4);
      __m256i av = _mm256_set1_epi32(pair);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(av, b0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(av, b1));
    }
  }
  for (int i = 0; i < MR; ++i) {
    __m256i *ci = reinterpret_cast<__m256i *>(c + i * ldc);
    if (accumulate) {
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_loadu_si256(ci));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_loadu_si256(ci + 1));
    }
    _mm256_storeu_si256(ci, acc[i][0]);
    _mm256_storeu_si256(ci + 1, acc[i][1]);
  }
}

//===----------------------------------------------------------------------===//
// Drivers
//===----------------------------------------------------------------------===//

/// microF32<rows> for 1 <= rows <= 6, fetching `next` meanwhile.
MOE_AVX2 void microF32Ahead(int64_t rows, const float *a, int64_t lda,
                            const float *b, int64_t kc, float *c, int64_t ldc,
                            bool acc, const float *next) {
  switch (rows) {
  case 1: return microF32<1>(a, lda, b, kc, c, ldc, acc, next);
  case 2: return microF32<2>(a, lda, b, kc, c, ldc, acc, next);
  case 3: return microF32<3>(a, lda, b, kc, c, ldc, acc, next);
  case 4: return microF32<4>(a, lda, b, kc, c, ldc, acc, next);
  case 5: return microF32<5>(a, lda, b, kc, c, ldc, acc, next);
  default: return microF32<6>(a, lda, b, kc, c, ldc, acc, next);
  }
}

/// microF32<rows> for 1 <= rows <= 6.
MOE_AVX2 void microF32Rows(int64_t rows, const float *a, int64_t lda,
                           const float *b, int64_t kc, float *c, int64_t ldc,
                           bool acc) {
  microF32Ahead(rows, a, lda, b, kc, c, ldc, acc, nullptr);
}

/// c[0..MR) x 16 = a[0..MR) (s16, pairs of k) x the packed k-pair strip at
/// b (`pairs` rows of 32 bytes), in exact i32; `next` (or null) a strip
/// fetched into L2 meanwhile, a line per two pairs.
template <int MR>
MOE_AVX2 void microI8Pairs(const int16_t *a, int64_t lda, const int8_t *b,
                           int64_t pairs, int32_t *c, int64_t ldc,
                           const int8_t *next) {
  __m256i acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  int64_t ahead = next ? next - b : 0;
  for (int64_t p = 0; p < pairs; ++p, b += 32) {
    _mm_prefetch(reinterpret_cast<const char *>(b + ahead), _MM_HINT_T1);
    __m256i b0 = _mm256_cvtepi8_epi16(
        _mm_load_si128(reinterpret_cast<const __m128i *>(b)));
    __m256i b1 = _mm256_cvtepi8_epi16(
        _mm_load_si128(reinterpret_cast<const __m128i *>(b + 16)));
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * lda + 2 * p, 4);
      __m256i x = _mm256_set1_epi32(pair);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(b0, x));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(b1, x));
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(c + i * ldc), acc[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(c + i * ldc + 8),
                        acc[i][1]);
  }
}

/// microI8Pairs<rows> for 1 <= rows <= 6.
MOE_AVX2 void microI8PairsRows(int64_t rows, const int16_t *a, int64_t lda,
                               const int8_t *b, int64_t pairs, int32_t *c,
                               int64_t ldc, const int8_t *next) {
  switch (rows) {
  case 1: return microI8Pairs<1>(a, lda, b, pairs, c, ldc, next);
  case 2: return microI8Pairs<2>(a, lda, b, pairs, c, ldc, next);
  case 3: return microI8Pairs<3>(a, lda, b, pairs, c, ldc, next);
  case 4: return microI8Pairs<4>(a, lda, b, pairs, c, ldc, next);
  case 5: return microI8Pairs<5>(a, lda, b, pairs, c, ldc, next);
  default: return microI8Pairs<6>(a, lda, b, pairs, c, ldc, next);
  }
}

/// The w4a8 product of MR rows of x (s8, u - 128) and the packed int4
/// k-pair strip at b (GemmU4ScaledFn, 32 columns), per K block of gs rows:
/// D = sum x (w + 8) by vpmaddubsw (nibbles unsigned, x signed; eight pair
/// sums stay exact in s16, |sum| <= 8 * 2 * 15 * 128), widened to i32
/// every 8 pairs; with U (zc != 0) also U = sum (w + 8); then P = D - 8 S
/// + zc (U - 8 gs) exactly and f += float(P) * scale, block after block
/// (Matmul.cpp's rounding). `next` (or null) is a strip fetched into L2
/// meanwhile.
template <int MR, bool U>
MOE_AVX2 void microU4Pairs(const int8_t *x8, int64_t ldx, const uint8_t *b,
                           int64_t blocks, int64_t gs, const float *scale,
                           int64_t ldScale, const int32_t *sums, int32_t zc,
                           float *f, int64_t ldf, const uint8_t *next) {
  const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi8(1);
  int64_t ahead = next ? next - b : 0, pairsPerBlock = gs / 2;
  for (int i = 0; i < MR; ++i)
    std::fill(f + i * ldf, f + i * ldf + 32, 0.0f);
  for (int64_t kb = 0; kb < blocks; ++kb) {
    prefetchGroupScales(scale, kb, blocks, ldScale);
    constexpr int kRows = MR + (U ? 1 : 0); // row MR: U
    alignas(32) int32_t d[MR + 1][32] = {};
    for (int64_t p0 = 0; p0 < pairsPerBlock; p0 += 8) {
      int64_t p1 = std::min<int64_t>(pairsPerBlock, p0 + 8);
      __m256i acc[MR + 1][2];
      for (int i = 0; i < kRows; ++i)
        acc[i][0] = acc[i][1] = _mm256_setzero_si256();
      for (int64_t p = kb * pairsPerBlock + p0; p < kb * pairsPerBlock + p1;
           ++p) {
        const uint8_t *row = b + p * 32;
        _mm_prefetch(reinterpret_cast<const char *>(row + ahead), _MM_HINT_T1);
        __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i *>(row));
        __m256i lo = _mm256_and_si256(v, low);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        for (int i = 0; i < MR; ++i) {
          int16_t pair;
          std::memcpy(&pair, x8 + i * ldx + 2 * p, 2);
          __m256i x = _mm256_set1_epi16(pair);
          acc[i][0] = _mm256_add_epi16(acc[i][0], _mm256_maddubs_epi16(lo, x));
          acc[i][1] = _mm256_add_epi16(acc[i][1], _mm256_maddubs_epi16(hi, x));
        }
        if (U) {
          acc[MR][0] =
              _mm256_add_epi16(acc[MR][0], _mm256_maddubs_epi16(lo, ones));
          acc[MR][1] =
              _mm256_add_epi16(acc[MR][1], _mm256_maddubs_epi16(hi, ones));
        }
      }
      // Lane c of acc[.][h] is column 16 h + c: widen in order.
      for (int i = 0; i < kRows; ++i)
        for (int h = 0; h < 2; ++h)
          for (int q = 0; q < 2; ++q) {
            __m128i part = q ? _mm256_extracti128_si256(acc[i][h], 1)
                             : _mm256_castsi256_si128(acc[i][h]);
            auto *di = reinterpret_cast<__m256i *>(d[i] + 16 * h + 8 * q);
            _mm256_store_si256(di,
                               _mm256_add_epi32(_mm256_load_si256(di),
                                                _mm256_cvtepi16_epi32(part)));
          }
    }
    const float *sk = scale + kb * ldScale;
    for (int q = 0; q < 4; ++q) {
      __m256i corr = _mm256_mullo_epi32(
          _mm256_set1_epi32(zc),
          _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i *>(
                               d[MR] + 8 * q)),
                           _mm256_set1_epi32(static_cast<int32_t>(8 * gs))));
      __m256 s = _mm256_loadu_ps(sk + 8 * q);
      for (int i = 0; i < MR; ++i) {
        __m256i pv = _mm256_add_epi32(
            _mm256_sub_epi32(
                _mm256_load_si256(
                    reinterpret_cast<const __m256i *>(d[i] + 8 * q)),
                _mm256_set1_epi32(8 * sums[i * blocks + kb])),
            corr);
        float *fi = f + i * ldf + 8 * q;
        _mm256_storeu_ps(
            fi, _mm256_add_ps(_mm256_loadu_ps(fi),
                              _mm256_mul_ps(_mm256_cvtepi32_ps(pv), s)));
      }
    }
  }
}

/// microI8<rows> for 1 <= rows <= 4.
MOE_AVX2 void microI8Rows(int64_t rows, const int16_t *a, int64_t lda,
                          const int16_t *b, int64_t pairs, int32_t *c,
                          int64_t ldc, bool acc) {
  switch (rows) {
  case 1: return microI8<1>(a, lda, b, pairs, c, ldc, acc);
  case 2: return microI8<2>(a, lda, b, pairs, c, ldc, acc);
  case 3: return microI8<3>(a, lda, b, pairs, c, ldc, acc);
  default: return microI8<4>(a, lda, b, pairs, c, ldc, acc);
  }
}

/// Runs `micro` over rows [0, m) in tiles of at most kMR rows.
template <int kMR, typename A, typename B, typename C>
MOE_AVX2 void tiles(const A *a, int64_t lda, int64_t m, const B *panel,
                    int64_t strips, int64_t stripElems, int64_t depth, C *c,
                    int64_t ldc, bool accumulate,
                    void (*micro)(int64_t, const A *, int64_t, const B *,
                                  int64_t, C *, int64_t, bool)) {
  for (int64_t i = 0; i < m; i += kMR) {
    int64_t rows = std::min<int64_t>(kMR, m - i);
    for (int64_t s = 0; s < strips; ++s)
      micro(rows, a + i * lda, lda, panel + s * stripElems, depth,
            c + i * ldc + s * kStrip, ldc, accumulate);
  }
}

/// gemvF32 for exactly MR rows.
template <int MR>
MOE_AVX2 void gemvRows(const float *a, int64_t lda, const WeightView &w,
                       int64_t n0, int64_t n1, float *c, int64_t ldc) {
  const float *base = reinterpret_cast<const float *>(w.data) + w.offset + n0;
  int64_t cols = n1 - n0, vec = cols / 8 * 8;
  for (int i = 0; i < MR; ++i)
    std::fill(c + i * ldc, c + i * ldc + cols, 0.0f);
  int64_t k = 0;
  for (; k + 4 <= w.k; k += 4) {
    const float *r0 = base + k * w.n, *r1 = r0 + w.n, *r2 = r1 + w.n,
                *r3 = r2 + w.n;
    __m256 x[MR][4];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j)
        x[i][j] = _mm256_broadcast_ss(a + i * lda + k + j);
    for (int64_t n = 0; n < vec; n += 8) {
      __m256 w0 = _mm256_loadu_ps(r0 + n), w1 = _mm256_loadu_ps(r1 + n),
             w2 = _mm256_loadu_ps(r2 + n), w3 = _mm256_loadu_ps(r3 + n);
      for (int i = 0; i < MR; ++i) {
        float *ci = c + i * ldc + n;
        __m256 acc = _mm256_loadu_ps(ci);
        acc = _mm256_fmadd_ps(x[i][0], w0, acc);
        acc = _mm256_fmadd_ps(x[i][1], w1, acc);
        acc = _mm256_fmadd_ps(x[i][2], w2, acc);
        acc = _mm256_fmadd_ps(x[i][3], w3, acc);
        _mm256_storeu_ps(ci, acc);
      }
    }
    for (int64_t n = vec; n < cols; ++n)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < 4; ++j)
          c[i * ldc + n] += a[i * lda + k + j] * base[(k + j) * w.n + n];
  }
  for (; k < w.k; ++k)
    for (int i = 0; i < MR; ++i)
      for (int64_t n = 0; n < cols; ++n)
        c[i * ldc + n] += a[i * lda + k] * base[k * w.n + n];
}

/// Rows of the weight one gemvI8 step multiplies before it touches the
/// accumulators in memory (8 s16 k-pairs per accumulator register).
constexpr int64_t kGemvI8Depth = 16;

/// Adds x[0..MR) . w[k, k+4) to `s` for the 16 columns at `r` (row k).
template <int MR>
MOE_AVX2 inline void gemvI8Quad(const int8_t *r, int64_t ldw,
                                const int32_t *pairs, int64_t pairStride,
                                __m256i (&s)[MR][2]) {
  __m256i wp[2][2];
  for (int j = 0; j < 2; ++j) {
    const int8_t *rj = r + 2 * j * ldw;
    __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rj));
    __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rj + ldw));
    wp[j][0] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(lo, hi));
    wp[j][1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(lo, hi));
  }
  for (int i = 0; i < MR; ++i) {
    __m256i x0 = _mm256_set1_epi32(pairs[i * pairStride]);
    __m256i x1 = _mm256_set1_epi32(pairs[i * pairStride + 1]);
    s[i][0] = _mm256_add_epi32(
        s[i][0], _mm256_add_epi32(_mm256_madd_epi16(x0, wp[0][0]),
                                  _mm256_madd_epi16(x1, wp[1][0])));
    s[i][1] = _mm256_add_epi32(
        s[i][1], _mm256_add_epi32(_mm256_madd_epi16(x0, wp[0][1]),
                                  _mm256_madd_epi16(x1, wp[1][1])));
  }
}

/// gemvI8 for exactly MR rows. The weight is read in steps of
/// kGemvI8Depth rows: for every 16 columns the step's products stay in
/// registers and reach the accumulators once (not once per 4 rows), and
/// the next step's rows are prefetched meanwhile.
template <int MR>
MOE_AVX2 void gemvI8Rows(const int16_t *a, int64_t lda, const WeightView &w,
                int64_t k0, int64_t k1, int64_t n0, int64_t n1, int32_t *c,
                int64_t ldc) {
  constexpr int64_t kPairs = kGemvI8Depth / 2;
  const int8_t *base =
      reinterpret_cast<const int8_t *>(w.data) + w.offset + n0;
  int64_t cols = n1 - n0, vec = cols / 16 * 16;
  for (int i = 0; i < MR; ++i)
    std::fill(c + i * ldc, c + i * ldc + cols, 0);
  int64_t k = k0;
  for (; k + 4 <= k1; ) {
    int64_t depth = k + kGemvI8Depth <= k1 ? kGemvI8Depth : 4;
    int32_t pairs[MR][kPairs];
    for (int i = 0; i < MR; ++i)
      std::memcpy(pairs[i], a + i * lda + k, depth * 2);
    const int8_t *r0 = base + k * w.n;
    const int8_t *next = r0 + kGemvI8Depth * w.n;
    bool prefetch = depth == kGemvI8Depth && k + 2 * kGemvI8Depth <= k1;
    for (int64_t n = 0; n < vec; n += 16) {
      if (prefetch && n % 64 == 0)
        for (int64_t j = 0; j < kGemvI8Depth; ++j)
          _mm_prefetch(reinterpret_cast<const char *>(next + j * w.n + n),
                       _MM_HINT_T0);
      __m256i s[MR][2];
      for (int i = 0; i < MR; ++i)
        s[i][0] = s[i][1] = _mm256_setzero_si256();
      if (depth == kGemvI8Depth) {
        for (int64_t q = 0; q < kGemvI8Depth; q += 4)
          gemvI8Quad<MR>(r0 + q * w.n + n, w.n, &pairs[0][q / 2], kPairs, s);
      } else {
        gemvI8Quad<MR>(r0 + n, w.n, &pairs[0][0], kPairs, s);
      }
      for (int i = 0; i < MR; ++i) {
        __m256i *ci = reinterpret_cast<__m256i *>(c + i * ldc + n);
        _mm256_storeu_si256(
            ci, _mm256_add_epi32(_mm256_loadu_si256(ci), s[i][0]));
        _mm256_storeu_si256(
            ci + 1, _mm256_add_epi32(_mm256_loadu_si256(ci + 1), s[i][1]));
      }
    }
    for (int64_t n = vec; n < cols; ++n)
      for (int i = 0; i < MR; ++i)
        for (int64_t j = 0; j < depth; ++j)
          c[i * ldc + n] += a[i * lda + k + j] * base[(k + j) * w.n + n];
    k += depth;
  }
  for (; k < k1; ++k)
    for (int i = 0; i < MR; ++i)
      for (int64_t n = 0; n < cols; ++n)
        c[i * ldc + n] += a[i * lda + k] * base[k * w.n + n];
}

/// gemvI8 for a row-major int4 weight whose rows start on a byte (even N
/// and column offset), when every x fits a signed byte (the w4a8 form
/// without the bias): vpmaddubsw multiplies the weight nibbles as unsigned bytes (w +
/// 8, at most 15) by byte pairs of x, so a pair sum stays within 2 * 15 *
/// 128 and eight of them fit the s16 accumulators exactly. Rows k and k + 1
/// are byte-interleaved before the nibbles are split, so the low nibbles
/// are the even columns' k-pairs and the high ones the odd columns', with
/// no unpacking per column: sum x w = sum x (w + 8) - 8 sum x.
template <int MR>
MOE_AVX2 void gemvI4BytePairs(const int16_t *a, int64_t lda,
                              const WeightView &w, int64_t k0, int64_t k1,
                              int64_t n0, int64_t n1, int32_t *c,
                              int64_t ldc) {
  const int64_t ldb = w.n / 2;
  const uint8_t *base = w.data + (w.offset + n0) / 2;
  int64_t cols = n1 - n0, vec = cols / 32 * 32;
  const __m256i mask = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(
                                                   static_cast<char>(0x88));
  for (int i = 0; i < MR; ++i)
    std::fill(c + i * ldc, c + i * ldc + cols, 0);
  int64_t k = k0;
  for (; k + 2 <= k1;) {
    int64_t pairs = std::min<int64_t>(kGemvI8Depth, (k1 - k) / 2 * 2) / 2;
    uint16_t xp[MR][kGemvI8Depth / 2];
    int32_t sx[MR];
    for (int i = 0; i < MR; ++i) {
      sx[i] = 0;
      for (int64_t p = 0; p < pairs; ++p) {
        int16_t x0 = a[i * lda + k + 2 * p], x1 = a[i * lda + k + 2 * p + 1];
        xp[i][p] = static_cast<uint16_t>(static_cast<uint8_t>(x0) |
                                         (static_cast<uint8_t>(x1) << 8));
        sx[i] += x0 + x1;
      }
    }
    const uint8_t *r0 = base + k * ldb;
    const uint8_t *next = r0 + 2 * pairs * ldb;
    bool prefetch = k + 4 * pairs <= k1;
    for (int64_t n = 0; n < vec; n += 32) {
      if (prefetch && n % 128 == 0)
        for (int64_t j = 0; j < 2 * pairs; ++j)
          _mm_prefetch(reinterpret_cast<const char *>(next + j * ldb + n / 2),
                       _MM_HINT_T0);
      __m256i even[MR], odd[MR];
      for (int i = 0; i < MR; ++i)
        even[i] = odd[i] = _mm256_setzero_si256();
      for (int64_t p = 0; p < pairs; ++p) {
        const uint8_t *rk = r0 + 2 * p * ldb + n / 2;
        __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rk));
        __m128i hi =
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(rk + ldb));
        __m256i both = _mm256_xor_si256(
            _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi)),
            flip);
        __m256i we = _mm256_and_si256(both, mask);
        __m256i wo = _mm256_and_si256(_mm256_srli_epi16(both, 4), mask);
        for (int i = 0; i < MR; ++i) {
          __m256i x = _mm256_set1_epi16(static_cast<int16_t>(xp[i][p]));
          even[i] = _mm256_add_epi16(even[i], _mm256_maddubs_epi16(we, x));
          odd[i] = _mm256_add_epi16(odd[i], _mm256_maddubs_epi16(wo, x));
        }
      }
      // Element j of `even` is column 2j, of `odd` column 2j + 1.
      for (int i = 0; i < MR; ++i) {
        __m256i l = _mm256_unpacklo_epi16(even[i], odd[i]); // 0-7 | 16-23
        __m256i h = _mm256_unpackhi_epi16(even[i], odd[i]); // 8-15 | 24-31
        __m128i parts[4] = {_mm256_castsi256_si128(l), _mm256_castsi256_si128(h),
                            _mm256_extracti128_si256(l, 1),
                            _mm256_extracti128_si256(h, 1)};
        __m256i corr = _mm256_set1_epi32(8 * sx[i]);
        for (int q = 0; q < 4; ++q) {
          auto *ci = reinterpret_cast<__m256i *>(c + i * ldc + n + 8 * q);
          __m256i v = _mm256_sub_epi32(_mm256_cvtepi16_epi32(parts[q]), corr);
          _mm256_storeu_si256(ci, _mm256_add_epi32(_mm256_loadu_si256(ci), v));
        }
      }
    }
    for (int64_t j = 0; j < 2 * pairs; ++j)
      for (int64_t n = vec; n < cols; ++n) {
        int8_t v = getI4(w.data, w.offset + (k + j) * w.n + n0 + n);
        for (int i = 0; i < MR; ++i)
          c[i * ldc + n] += a[i * lda + k + j] * v;
      }
    k += 2 * pairs;
  }
  for (; k < k1; ++k)
    for (int64_t n = 0; n < cols; ++n) {
      int8_t v = getI4(w.data, w.offset + k * w.n + n0 + n);
      for (int i = 0; i < MR; ++i)
        c[i * ldc + n] += a[i * lda + k] * v;
    }
}

} // namespace

MOE_AVX2 void gemvI8(const int16_t *a, int64_t lda, int64_t m,
                     const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int32_t *c, int64_t ldc) {
  if (w.dtype == DType::I4) {
    // Rows that do not start on a byte: the panel kernel unpacks those.
    if (w.n % 2 != 0 || (w.offset + n0) % 2 != 0)
      return gemmI8(a, lda, m, w, k0, k1, n0, n1, c, ldc);
    // The bias form's x - 8 is no byte: the panel kernel takes those.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t k = k0; k < k1; ++k)
        if (a[i * lda + k] < -128 || a[i * lda + k] > 127)
          return gemmI8(a, lda, m, w, k0, k1, n0, n1, c, ldc);
    for (int64_t i = 0; i < m; i += 2) {
      if (m - i >= 2)
        gemvI4BytePairs<2>(a + i * lda, lda, w, k0, k1, n0, n1, c + i * ldc,
                           ldc);
      else
        gemvI4BytePairs<1>(a + i * lda, lda, w, k0, k1, n0, n1, c + i * ldc,
                           ldc);
    }
    return;
  }
  for (int64_t i = 0; i < m; i += 4) {
    int64_t rows = std::min<int64_t>(4, m - i);
    const int16_t *ai = a + i * lda;
    int32_t *ci = c + i * ldc;
    switch (rows) {
    case 1: gemvI8Rows<1>(ai, lda, w, k0, k1, n0, n1, ci, ldc); break;
    case 2: gemvI8Rows<2>(ai, lda, w, k0, k1, n0, n1, ci, ldc); break;
    case 3: gemvI8Rows<3>(ai, lda, w, k0, k1, n0, n1, ci, ldc); break;
    default: gemvI8Rows<4>(ai, lda, w, k0, k1, n0, n1, ci, ldc); break;
    }
  }
}

MOE_AVX2 void gemvF32(const float *a, int64_t lda, int64_t m,
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

MOE_AVX2 void gemmF32(const float *a, int64_t lda, int64_t m,
                      const WeightView &w, int64_t n0, int64_t n1, float *c,
                      int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  int64_t depth = panelRows(n1 - n0, 4);
  float *panel =
      static_cast<float *>(packScratch(depth * strips * kStrip * 4));
  if (w.k == 0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0.0f);
    return;
  }
  for (int64_t k0 = 0; k0 < w.k; k0 += depth) {
    int64_t k1 = std::min(w.k, k0 + depth);
    packF32(w, k0, k1, n0, n1, panel);
    tiles<6>(a + k0, lda, m, panel, strips, (k1 - k0) * kStrip, k1 - k0, c,
             ldc, k0 > 0, microF32Rows);
  }
}

MOE_AVX2 void gemmF32Packed(const float *a, int64_t lda, int64_t m,
                            const WeightView &w, int64_t n0, int64_t n1,
                            float *c, int64_t ldc) {
  // Strip after strip, every row tile of a strip (evenRowTiles, at most 6
  // rows) while it is in L2 (K * 64 bytes): the weight streams from memory
  // once, in address order. Every tile fetches the next strip into L2, so
  // memory streams while the tiles compute.
  const float *base = reinterpret_cast<const float *>(w.data) + w.offset;
  for (int64_t s = n0 / kStrip; s < n1 / kStrip; ++s) {
    const float *b = base + s * w.k * kStrip;
    const float *next = s + 1 < n1 / kStrip ? b + w.k * kStrip : nullptr;
    float *cs = c + (s - n0 / kStrip) * kStrip;
    evenRowTiles(m, 6, [&](int64_t i, int64_t rows) {
      microF32Ahead(rows, a + i * lda, lda, b, w.k, cs + i * ldc, ldc, false,
                    next);
    });
  }
}

MOE_AVX2 void gemmI8Packed(const int16_t *a, int64_t lda, int64_t m,
                           const WeightView &w, int64_t k0, int64_t k1,
                           int64_t n0, int64_t n1, int32_t *c, int64_t ldc) {
  // As gemmF32Packed: strip after strip, every row tile (evenRowTiles, at
  // most 6 rows) while the strip is in L2, each fetching the next strip.
  int64_t stripBytes = w.k * kStrip; // K / 2 pairs of 32 bytes
  const int8_t *base = reinterpret_cast<const int8_t *>(w.data) + w.offset +
                       k0 * kStrip;
  int64_t pairs = (k1 - k0) / 2;
  for (int64_t s = n0 / kStrip; s < n1 / kStrip; ++s) {
    const int8_t *b = base + s * stripBytes;
    const int8_t *next = s + 1 < n1 / kStrip ? b + stripBytes : nullptr;
    int32_t *cs = c + (s - n0 / kStrip) * kStrip;
    evenRowTiles(m, 6, [&](int64_t i, int64_t rows) {
      microI8PairsRows(rows, a + i * lda, lda, b, pairs, cs + i * ldc, ldc,
                       next);
    });
  }
}

MOE_AVX2 void gemmU4Pairs(const uint8_t *a, int64_t lda, int64_t m,
                          const WeightView &w, int64_t blocks, int64_t gs,
                          const float *scale, int64_t ldScale, int64_t n0,
                          int64_t n1, int32_t zero, float *f, int64_t ldf) {
  // Strip after strip (32 columns), every row tile (evenRowTiles, at most 4
  // rows) while the strip is in L2, the next strip fetched meanwhile.
  constexpr int64_t kI4Strip = 32;
  int64_t stripBytes = w.k * 16; // K / 2 pairs of 32 bytes
  const uint8_t *base = w.data + w.offset / 2;
  int32_t *sums = u4Scratch(a, lda, m, blocks, gs).sums;
  int32_t zc = 128 - zero;
  // x = u - 128 as bytes, once per call (vpmaddubsw's signed operand).
  const int8_t *signedX = signedActivations(a, lda, m, w.k);
  for (int64_t s = n0 / kI4Strip; s < n1 / kI4Strip; ++s) {
    const uint8_t *b = base + s * stripBytes;
    const uint8_t *next = s + 1 < n1 / kI4Strip ? b + stripBytes : nullptr;
    const float *sc = scale + (s - n0 / kI4Strip) * kI4Strip;
    float *fs = f + (s - n0 / kI4Strip) * kI4Strip;
    evenRowTiles(m, 4, [&](int64_t i, int64_t rows) {
      const int8_t *xi = signedX + i * w.k;
      const int32_t *si = sums + i * blocks;
      float *fi = fs + i * ldf;
#define MOE_MICRO_U4(R)                                                        \
  (zc ? microU4Pairs<R, true>(xi, w.k, b, blocks, gs, sc, ldScale, si, zc, fi, \
                              ldf, next)                                       \
      : microU4Pairs<R, false>(xi, w.k, b, blocks, gs, sc, ldScale, si, zc,    \
                               fi, ldf, next))
      switch (rows) {
      case 1: MOE_MICRO_U4(1); break;
      case 2: MOE_MICRO_U4(2); break;
      case 3: MOE_MICRO_U4(3); break;
      default: MOE_MICRO_U4(4); break;
      }
#undef MOE_MICRO_U4
    });
  }
}

MOE_AVX2 void gemmI8(const int16_t *a, int64_t lda, int64_t m,
                     const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                     int64_t n1, int32_t *c, int64_t ldc) {
  int64_t strips = round16(n1 - n0) / kStrip;
  int64_t depth = panelRows(n1 - n0, 2);
  int16_t *panel = static_cast<int16_t *>(
      packScratch((depth + 1) * strips * kStrip * 2));
  if (k1 <= k0) {
    for (int64_t i = 0; i < m; ++i)
      std::fill(c + i * ldc, c + i * ldc + strips * kStrip, 0);
    return;
  }
  for (int64_t p0 = k0; p0 < k1; p0 += depth) {
    int64_t p1 = std::min(k1, p0 + depth);
    int64_t pairs = (p1 - p0 + 1) / 2;
    packI8(w, p0, p1, n0, n1, panel);
    tiles<4>(a + p0, lda, m, panel, strips, pairs * 2 * kStrip, pairs, c, ldc,
             p0 > k0, microI8Rows);
  }
}

} // namespace avx2
} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
