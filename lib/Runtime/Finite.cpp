//===- Finite.cpp - the runtime's NaN/Inf checks --------------------------===//

#include "moe/Runtime/Finite.h"

#include "moe/Runtime/Parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace moert {

namespace {
/// The float formats' bits, sign cleared: an infinity is exactly the
/// all-ones exponent with a zero mantissa, a NaN anything above it.
template <typename Bits> struct Special {
  Bits magnitude; // the mask clearing the sign bit
  Bits infinity;  // the infinity's magnitude
};
constexpr Special<uint32_t> kF32{0x7FFFFFFFu, 0x7F800000u};
constexpr Special<uint16_t> kBf16{0x7FFF, 0x7F80};
constexpr Special<uint16_t> kF16{0x7FFF, 0x7C00};

/// Flat index of the first element whose magnitude bits exceed `limit`
/// (the infinity's minus one: NaN or infinity; the infinity's: NaN only),
/// or -1. Chunks in parallel, each a branch-free scan (one AND, compare and
/// OR per element, vectorized with the sign-cleared bits compared as
/// signed integers, which SSE2 has; a short-circuit or an early exit per
/// element kept the loop scalar, at 0.5 ns an element), then the first bad
/// element of the first bad chunk, exactly.
template <typename Bits>
int64_t firstAbove(const Bits *bits, int64_t n, Special<Bits> f, Bits limit) {
  using Signed = std::make_signed_t<Bits>;
  const Signed lim = static_cast<Signed>(limit);
  const Bits mask = f.magnitude;
  auto above = [&](int64_t i) {
    return static_cast<Signed>(bits[i] & mask) > lim;
  };
  constexpr int64_t kChunk = 1 << 14;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::atomic<int64_t> firstBad{chunks};
  parallelFor(chunks, 16, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end && c < firstBad.load(); ++c) {
      int bad = 0;
      for (int64_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i)
        bad |= above(i);
      if (bad) {
        int64_t seen = firstBad.load();
        while (c < seen && !firstBad.compare_exchange_weak(seen, c)) {
        }
        return;
      }
    }
  });
  for (int64_t i = firstBad.load() * kChunk; i < n; ++i)
    if (above(i))
      return i;
  return -1;
}

template <typename Bits>
int64_t firstSpecial(const Tensor &t, Special<Bits> f, bool infinities) {
  return firstAbove(t.data<Bits>(), t.numel(), f,
                    static_cast<Bits>(infinities ? f.infinity - 1 : f.infinity));
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
  switch (t.dtype) {
  case DType::F32:
    return firstSpecial(t, kF32, infinities);
  case DType::BF16:
    return firstSpecial(t, kBf16, infinities);
  case DType::F16:
    return firstSpecial(t, kF16, infinities);
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
