//===- QuantRows.cpp - portable SwiGLU and dynamic-quantization rows ------===//
//
// The portable variant of the row kernels (MatmulKernels.h) and the exp
// every variant's SwiGLU shares: plain loops, vectorized by the compiler
// for the baseline ISA where it can.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace moert {
namespace detail {

/// x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so r is exact), e^r
/// by its degree-6 Taylor polynomial (relative error within 2.3e-7 over
/// that range), 2^n through the exponent bits. Inputs are clamped to
/// [-87, 88], inside the normal f32 range, so e^-v of a large v gives a
/// tiny positive number and silu(v) = v / (1 + tiny) = v. A NaN is
/// returned as is: the clamp lets it through (std::max/min compare false),
/// and converting NaN to an integer for 2^n is undefined behaviour.
/// QuantAvx2.cpp computes the same steps 8 lanes at a time (its clamp
/// turns a NaN lane into -87; SwiGLU's result is NaN either way).
float expApprox(float x) {
  if (std::isnan(x))
    return x;
  x = std::min(std::max(x, -87.0f), 88.0f);
  float n = std::nearbyint(x * 1.44269504f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.0f / 720;
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
    p = p * r + c;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

namespace portable {

void swigluRow(const float *h, int64_t n, float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = h[i] / (1.0f + expApprox(-h[i])) * h[i + n];
}

float quantizeRow(const float *x, int64_t n, int8_t *q) {
  float mx = 0;
  for (int64_t i = 0; i < n; ++i)
    mx = std::max(mx, std::fabs(x[i]));
  float scale = mx / 127.0f;
  if (scale == 0) {
    std::fill(q, q + n, int8_t(0));
    return 0;
  }
  // q = round-half-even(x / scale), clamped; the division (not a multiply
  // by the reciprocal) is the documented formula.
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] / scale);
    q[i] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
  }
  return scale;
}

} // namespace portable
} // namespace detail
} // namespace moert
