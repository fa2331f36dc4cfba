//===- Quant.cpp - dynamic quantization and SwiGLU ------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <algorithm>
#include <cmath>
#include <immintrin.h>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kQuant = "npu.dynamic_quant";
constexpr const char *kSwiglu = "npu.swiglu";
constexpr const char *kDsq = "npu.dequant_swiglu_quant";

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

/// e^x for 8 lanes: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
/// r is exact), e^r by its degree-6 Taylor polynomial (relative error
/// within 2.3e-7 over that range), 2^n through the exponent bits. Inputs are
/// clamped to [-87, 88], inside the normal f32 range, so e^-v of a large
/// v gives a tiny positive number and silu(v) = v / (1 + tiny) = v.
inline __m256 exp8(__m256 x) {
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

/// out[i] = silu(h[i]) * h[i + n] for i < n.
void swigluRow(const float *h, int64_t n, float *out) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(h + i), u = _mm256_loadu_ps(h + n + i);
    __m256 den = _mm256_add_ps(
        one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, den), u));
  }
  for (; i < n; ++i)
    out[i] = silu(h[i]) * h[i + n];
}

void requireGateUp(const Tensor &x, const char *op) {
  requireRank(x, {2}, op, "x");
  require(x.dim(1) % 2 == 0, op,
          "x needs an even number of columns (gate and up halves), got " +
              x.str());
}
} // namespace

float detail::quantizeRow(const float *x, int64_t n, int8_t *q) {
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

std::pair<Tensor, Tensor> dynamicQuant(const Tensor &x) {
  requireRank(x, {2}, kQuant, "x");
  requireFloat(x, kQuant, "x");
  int64_t m = x.dim(0), k = x.dim(1);
  Tensor q = Tensor::empty(DType::I8, {m, k});
  Tensor scale = Tensor::empty(DType::F32, {m});
  parallelFor(m, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(k);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * k, k, row.data());
      scale.data<float>()[i] =
          quantizeRow(row.data(), k, q.data<int8_t>() + i * k);
    }
  });
  return {q, scale};
}

Tensor swiglu(const Tensor &x) {
  requireGateUp(x, kSwiglu);
  requireFloat(x, kSwiglu, "x");
  int64_t m = x.dim(0), n = x.dim(1) / 2;
  Tensor out = Tensor::empty(x.dtype, {m, n});
  parallelFor(m, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> row(2 * n), a(n);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * 2 * n, 2 * n, row.data());
      swigluRow(row.data(), n, a.data());
      storeF32(out, i * n, n, a.data());
    }
  });
  return out;
}

std::pair<Tensor, Tensor> dequantSwigluQuant(const Tensor &x,
                                             const Tensor &weightScale,
                                             const Tensor &activationScale,
                                             const Tensor &groupList,
                                             GroupListType type) {
  requireGateUp(x, kDsq);
  requireType(x, DType::I32, kDsq, "x");
  requireRank(weightScale, {2}, kDsq, "weight scale");
  requireType(weightScale, DType::F32, kDsq, "weight scale");
  requireRank(activationScale, {1}, kDsq, "activation scale");
  requireType(activationScale, DType::F32, kDsq, "activation scale");
  int64_t m = x.dim(0), n2 = x.dim(1), n = n2 / 2;
  require(activationScale.dim(0) == m, kDsq,
          "activation scale has " + num(activationScale.dim(0)) +
              " entries for " + num(m) + " rows");
  require(weightScale.dim(1) == n2, kDsq,
          "weight scale " + weightScale.str() + " needs " + num(n2) +
              " columns like x " + x.str());
  std::vector<int64_t> ends = groupEnds(groupList, type, m, kDsq);
  require(static_cast<int64_t>(ends.size()) == weightScale.dim(0), kDsq,
          "group list has " + num(ends.size()) + " groups, weight scale " +
              num(weightScale.dim(0)));
  // Group of every row; -1 past the last group.
  std::vector<int32_t> groupOf(m, -1);
  for (size_t g = 0, r = 0; g < ends.size(); ++g)
    for (; static_cast<int64_t>(r) < ends[g]; ++r)
      groupOf[r] = static_cast<int32_t>(g);
  Tensor q = Tensor::zeros(DType::I8, {m, n});
  Tensor scale = Tensor::zeros(DType::F32, {m});
  parallelFor(m, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> h(n2), a(n);
    for (int64_t i = begin; i < end; ++i) {
      if (groupOf[i] < 0)
        continue;
      const int32_t *xi = x.data<int32_t>() + i * n2;
      const float *ws = weightScale.data<float>() + groupOf[i] * n2;
      float as = activationScale.data<float>()[i];
      for (int64_t c = 0; c < n2; ++c)
        h[c] = static_cast<float>(xi[c]) * as * ws[c];
      swigluRow(h.data(), n, a.data());
      scale.data<float>()[i] =
          quantizeRow(a.data(), n, q.data<int8_t>() + i * n);
    }
  });
  return {q, scale};
}

} // namespace moert
