//===- CpuIsa.h - the instruction set of the runtime's kernels --*- C++ -*-===//
//
// The runtime's hand-written kernels (matmul engines, SwiGLU, dynamic
// quantization) exist in several variants, one per instruction set; the
// library itself is built for the baseline of its target (x86-64 or
// aarch64, no -march=native unless MOE_NATIVE is on) and picks a variant
// at run time from the CPU's features, checked once per process. Every
// variant computes the same results: bit-identical for the int8/int4
// matmuls and dynamic quantization, within the tolerances of
// docs/Runtime.md ("Instruction sets") for the f32 ones. The selection
// can be forced with
// MOE_CPU_ISA=portable|avx2|avxvnni|avx512|avx512vnni.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CPUISA_H
#define MOE_RUNTIME_CPUISA_H

#include <vector>

namespace moert {

/// Kernel variants, in order of preference (the last one the CPU supports
/// is the default):
///  - Portable: plain C++ the compiler vectorizes for the baseline ISA;
///  - Avx2: AVX2 + FMA + F16C (x86-64 only);
///  - AvxVnni: Avx2 plus the VEX-encoded (256-bit) u8 x s8 vpdpbusd engine
///    of AVX-VNNI, for CPUs without AVX-512 (Alder Lake and later, Zen 5
///    client parts); AVX-512 CPUs prefer the variants below;
///  - Avx512: Avx2 plus AVX-512F f32 kernels, int8 as Avx2;
///  - Avx512Vnni: Avx512 plus AVX-512 VNNI int8 kernels (vpdpwssd, and
///    the u8 x s8 vpdpbusd engine).
enum class CpuIsa { Portable = 0, Avx2, AvxVnni, Avx512, Avx512Vnni };

/// "portable", "avx2", "avxvnni", "avx512" or "avx512vnni" (MOE_CPU_ISA's
/// values).
const char *cpuIsaName(CpuIsa isa);

/// Whether this build has the variant and this CPU (and OS) can run it.
bool cpuIsaSupported(CpuIsa isa);

/// Every supported variant, Portable first.
std::vector<CpuIsa> supportedCpuIsas();

/// The variant the kernels use: MOE_CPU_ISA when set, else the best
/// supported one; decided on the first call. Throws moert::Error when
/// MOE_CPU_ISA names no variant or one this CPU cannot run (and on every
/// later call, so every kernel fails with the same message).
CpuIsa cpuIsa();

/// Makes `isa` the variant for the rest of the process (tests and
/// benchmarks compare the variants with it); throws moert::Error when it
/// is not supported. Safe to call while kernels run: each kernel call
/// reads the choice once.
void setCpuIsa(CpuIsa isa);

} // namespace moert

#endif // MOE_RUNTIME_CPUISA_H
