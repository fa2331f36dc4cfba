//===- QuantFormats.h - bit-exact fp8 codecs of the runtime -----*- C++ -*-===//
//
// OCP 8-bit floating point (OFP8, v1.0): E4M3 ("fn": no infinities, only
// S.1111.111 is NaN, max 448) and E5M2 (IEEE-like: infinities and NaNs,
// max 57344). Encoding rounds to nearest, ties to even, and saturates:
// finite values (and infinities) beyond the largest finite value become
// +-max; NaN stays NaN. docs/Quantization.md, "fp8 and int8 weight-only
// schemes".
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_QUANTFORMATS_H
#define MOE_RUNTIME_QUANTFORMATS_H

#include "moe/Runtime/Enums.h"

#include <cstdint>

namespace moert {

/// The bit pattern of `v` in fp8 `format` (Fp8E4M3 or Fp8E5M2).
uint8_t encodeFp8(float v, QuantFormat format);
/// The value of fp8 bit pattern `bits` (exact in float).
float decodeFp8(uint8_t bits, QuantFormat format);
/// Largest finite value of a quantized format: 127 (int8), 448, 57344.
float formatMax(QuantFormat format);
/// `v` quantized to `format` and decoded back, without a scale: RNE to
/// fp8 with saturation, or round-half-even clamped to [-127, 127] for int8.
float roundToFormat(float v, QuantFormat format);

} // namespace moert

#endif // MOE_RUNTIME_QUANTFORMATS_H
