//===- Finite.cpp - the runtime's NaN/Inf checks --------------------------===//

#include "moe/Runtime/Finite.h"

#include "moe/Runtime/Parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

namespace moert {

namespace {
/// Exponent bits of the 16-bit floats: all ones is an infinity or a NaN.
constexpr uint16_t kBf16Exponent = 0x7F80;
constexpr uint16_t kF16Exponent = 0x7C00;

/// Exponent all ones and, for NaN only, a non-zero mantissa.
int64_t firstWithExponent(const uint16_t *v, int64_t n, uint16_t exponent,
                          bool infinities) {
  uint16_t mantissa = static_cast<uint16_t>(~exponent & 0x7FFF);
  for (int64_t i = 0; i < n; ++i)
    if ((v[i] & exponent) == exponent && (infinities || (v[i] & mantissa)))
      return i;
  return -1;
}

float valueAt(const Tensor &t, int64_t index) {
  float v;
  loadF32(t, index, 1, &v);
  return v;
}
} // namespace

int64_t firstNonFinite(const Tensor &t, bool infinities) {
  if (!t.storage)
    return -1;
  int64_t n = t.numel();
  switch (t.dtype) {
  case DType::F32: {
    // Chunks in parallel, each a branch-free scan of the exponent bits
    // (vectorized; an early exit per element kept the loop scalar), then
    // the first bad element of the first bad chunk, exactly.
    const uint32_t *bits = t.data<uint32_t>();
    const float *v = t.data<float>();
    constexpr int64_t kChunk = 1 << 14;
    int64_t chunks = (n + kChunk - 1) / kChunk;
    std::atomic<int64_t> firstBad{chunks};
    parallelFor(chunks, 16, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end && c < firstBad.load(); ++c) {
        uint32_t bad = 0;
        for (int64_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i) {
          uint32_t b = bits[i];
          bool special = (b & 0x7F800000u) == 0x7F800000u;
          bad |= special && (infinities || (b & 0x007FFFFFu));
        }
        if (bad) {
          int64_t seen = firstBad.load();
          while (c < seen && !firstBad.compare_exchange_weak(seen, c)) {
          }
          return;
        }
      }
    });
    for (int64_t i = firstBad.load() * kChunk; i < n; ++i)
      if (infinities ? !std::isfinite(v[i]) : std::isnan(v[i]))
        return i;
    return -1;
  }
  case DType::BF16:
    return firstWithExponent(t.data<uint16_t>(), n, kBf16Exponent, infinities);
  case DType::F16:
    return firstWithExponent(t.data<uint16_t>(), n, kF16Exponent, infinities);
  default:
    return -1;
  }
}

std::string describeNonFinite(const Tensor &t, int64_t index) {
  float v = valueAt(t, index);
  std::string value = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  // The position as a multi-index, the row as its first coordinate.
  std::vector<int64_t> at(t.shape.size());
  int64_t rest = index;
  for (size_t d = t.shape.size(); d-- > 0;) {
    int64_t size = std::max<int64_t>(t.shape[d], 1);
    at[d] = rest % size;
    rest /= size;
  }
  std::string pos;
  for (int64_t i : at)
    pos += (pos.empty() ? "" : ", ") + std::to_string(i);
  if (at.empty())
    return "the scalar is " + value;
  return "row " + std::to_string(at[0]) + " holds " + value + " (element [" +
         pos + "])";
}

void requireFinite(const Tensor &t, const std::string &what) {
  int64_t bad = firstNonFinite(t);
  if (bad >= 0)
    throw Error(what + " (" + t.str() +
                ") is not finite: " + describeNonFinite(t, bad));
}

} // namespace moert
