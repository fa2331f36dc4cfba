//===- QuantFp4.h - bit-exact fp4 (e2m1) micro-block formats ----*- C++ -*-===//
//
// The two 4-bit micro-block formats of the quant descriptor
// (docs/Quantization.md, "mxfp4 and nvfp4"):
// - OCP MX v1.0 mxfp4: FP4 E2M1 elements, one E8M0 scale (a power of two,
//   code 0xFF is NaN) per 32 consecutive elements along K;
// - NVIDIA nvfp4: E2M1 elements, one fp8 E4M3 scale per 16 elements and
//   a global f32 scale per tensor: x = e2m1 * e4m3 * global.
// E2M1 (bias 1, no infinities or NaN) holds 0, 0.5, 1, 1.5, 2, 3, 4, 6;
// encoding rounds to nearest, ties to even, and saturates to +-6. Packed
// storage: two elements per byte, element 2i in the low nibble.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_QUANTFP4_H
#define MOE_RUNTIME_QUANTFP4_H

#include "moe/Runtime/Enums.h"

#include <cstdint>

namespace moert {

/// Elements per scale: 32 (Mxfp4) or 16 (Nvfp4); 0 for the other formats.
int64_t fp4BlockSize(QuantFormat format);
/// The 4-bit code of `v` in E2M1: RNE, saturating to +-6 (infinities
/// too); NaN gives 0 (the block's scale carries the NaN).
uint8_t encodeE2M1(float v);
/// The value of the low four bits of `code` as E2M1 (exact).
float decodeE2M1(uint8_t code);
/// The value of an E8M0 scale code: 2^(code - 127), NaN for 0xFF.
float decodeE8M0(uint8_t code);
/// The OCP MX shared scale code of a block with largest magnitude `amax`:
/// 127 + clamp(floor(log2(amax)) - 2, -127, 127); 0x00 for amax 0 and
/// 0xFF (NaN) for a NaN or infinite amax.
uint8_t mxScaleCode(float amax);
/// The nvfp4 global scale of values with largest magnitude `amax`:
/// amax / (6 * 448) in f32.
float nvfp4GlobalScale(float amax);

} // namespace moert

#endif // MOE_RUNTIME_QUANTFP4_H
