//===- QuantAvx2.cpp - AVX2 SwiGLU and dynamic-quantization rows ----------===//
//
// The avx2 variant of the row kernels (MatmulKernels.h); only reached on
// CPUs with AVX2, FMA and F16C, and not compiled outside x86-64.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#if defined(__x86_64__)

#include <algorithm>
#include <cmath>
#include <immintrin.h>

#define MOE_AVX2 MOE_TARGET("avx2,fma,f16c")

namespace moert {
namespace detail {
namespace avx2 {
namespace {

/// expApprox (QuantRows.cpp) for 8 lanes.
MOE_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)),
                    _mm256_set1_ps(88.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
  __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

} // namespace

MOE_AVX2 void swigluRow(const float *h, int64_t n, float *out) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(h + i), u = _mm256_loadu_ps(h + n + i);
    __m256 den =
        _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, den), u));
  }
  for (; i < n; ++i)
    out[i] = h[i] / (1.0f + expApprox(-h[i])) * h[i + n];
}

MOE_AVX2 float quantizeRow(const float *x, int64_t n, int8_t *q) {
  __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 mx8 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    mx8 = _mm256_max_ps(mx8, _mm256_and_ps(absMask, _mm256_loadu_ps(x + i)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx8);
  float mx = 0;
  for (float v : lanes)
    mx = std::max(mx, v);
  for (; i < n; ++i)
    mx = std::max(mx, std::fabs(x[i]));
  float scale = mx / 127.0f;
  if (scale == 0) {
    std::fill(q, q + n, int8_t(0));
    return 0;
  }
  // q = round-half-even(x / scale), clamped; the division (not a multiply
  // by the reciprocal) is the documented formula.
  __m256 s8 = _mm256_set1_ps(scale), lo = _mm256_set1_ps(-127.0f),
         hi = _mm256_set1_ps(127.0f);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), s8),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i w = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
    __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(w),
                                  _mm256_extracti128_si256(w, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i *>(q + i),
                     _mm_packs_epi16(p16, p16));
  }
  for (; i < n; ++i) {
    float v = std::nearbyint(x[i] / scale);
    q[i] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
  }
  return scale;
}

} // namespace avx2
} // namespace detail
} // namespace moert

#endif // defined(__x86_64__)
