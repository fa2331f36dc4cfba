//===- CpuIsa.cpp - choosing the kernels' instruction set -----------------===//
//
// The CPU's features are read once (__builtin_cpu_supports, which also
// checks that the OS saves the wider registers); MOE_CPU_ISA can lower the
// choice. The kernel tables of MatmulKernels.h live here.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/CpuIsa.h"

#include "KernelUtil.h"
#include "MatmulKernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace moert {
using namespace detail;

namespace {
/// In order of preference: the last supported one is the default.
constexpr CpuIsa kAllIsas[] = {CpuIsa::Portable, CpuIsa::Avx2, CpuIsa::AvxVnni,
                               CpuIsa::Avx512, CpuIsa::Avx512Vnni};

// Entries in KernelTable's order: gemmF32, gemvF32, gemmF32Packed, gemmI8,
// gemvI8, gemmI8Packed, gemmU8, gemvU8, gemmU8Packed, gemmU4Packed,
// gemmU4Pairs, swigluRow, quantizeRow.
const KernelTable kPortable{
    CpuIsa::Portable, portable::gemmF32, portable::gemmF32, nullptr,
    portable::gemmI8, portable::gemmI8,  nullptr,           nullptr,
    nullptr,          nullptr,           nullptr,           nullptr,
    portable::swigluRow, portable::quantizeRow};
#if defined(__x86_64__)
const KernelTable kAvx2{
    CpuIsa::Avx2,       avx2::gemmF32,  avx2::gemvF32,  avx2::gemmF32Packed,
    avx2::gemmI8,       avx2::gemvI8,   avx2::gemmI8Packed, nullptr,
    nullptr,            nullptr,        nullptr,        avx2::gemmU4Pairs,
    avx2::swigluRow,    avx2::quantizeRow};
const KernelTable kAvxVnni{
    CpuIsa::AvxVnni,       avx2::gemmF32,   avx2::gemvF32, avx2::gemmF32Packed,
    avx2::gemmI8,          avx2::gemvI8,    nullptr,       avxvnni::gemmU8,
    avxvnni::gemvU8,       avxvnni::gemmU8Packed, avxvnni::gemmU4Packed,
    nullptr,               avx2::swigluRow, avx2::quantizeRow};
const KernelTable kAvx512{
    CpuIsa::Avx512,     avx512::gemmF32, avx512::gemvF32, avx512::gemmF32Packed,
    avx2::gemmI8,       avx2::gemvI8,    avx2::gemmI8Packed, nullptr,
    nullptr,            nullptr,         nullptr,         avx2::gemmU4Pairs,
    avx2::swigluRow,    avx2::quantizeRow};
const KernelTable kAvx512Vnni{
    CpuIsa::Avx512Vnni,    avx512::gemmF32,    avx512::gemvF32,
    avx512::gemmF32Packed, avx512vnni::gemmI8, avx2::gemvI8,
    nullptr,               avx512vnni::gemmU8, avx512vnni::gemvU8,
    avx512vnni::gemmU8Packed, avx512vnni::gemmU4Packed, nullptr,
    avx2::swigluRow,       avx2::quantizeRow};
#endif

const KernelTable &table(CpuIsa isa) {
#if defined(__x86_64__)
  switch (isa) {
  case CpuIsa::Avx2:
    return kAvx2;
  case CpuIsa::AvxVnni:
    return kAvxVnni;
  case CpuIsa::Avx512:
    return kAvx512;
  case CpuIsa::Avx512Vnni:
    return kAvx512Vnni;
  case CpuIsa::Portable:
    break;
  }
#endif
  (void)isa;
  return kPortable;
}

/// What the CPU can run, read once.
bool hardwareSupports(CpuIsa isa) {
#if defined(__x86_64__)
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  }();
  // AVX-VNNI: the 256-bit, VEX-encoded vpdpbusd (clang and g++ both know
  // the name; it is CPUID leaf 7 subleaf 1, EAX bit 4).
  static const bool avxVnni = avx2 && __builtin_cpu_supports("avxvnni");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  static const bool vnni = avx512 && __builtin_cpu_supports("avx512vnni") &&
                           __builtin_cpu_supports("avx512bw");
  switch (isa) {
  case CpuIsa::Portable:
    return true;
  case CpuIsa::Avx2:
    return avx2;
  case CpuIsa::AvxVnni:
    return avxVnni;
  case CpuIsa::Avx512:
    return avx512;
  case CpuIsa::Avx512Vnni:
    return vnni;
  }
  return false;
#else
  return isa == CpuIsa::Portable;
#endif
}

/// The first choice: MOE_CPU_ISA or the best supported variant; `error`
/// is set when MOE_CPU_ISA is invalid.
CpuIsa initialIsa(std::string &error) {
  const char *forced = std::getenv("MOE_CPU_ISA");
  if (!forced || !*forced) {
    CpuIsa best = CpuIsa::Portable;
    for (CpuIsa isa : kAllIsas)
      if (hardwareSupports(isa))
        best = isa;
    return best;
  }
  for (CpuIsa isa : kAllIsas) {
    if (std::strcmp(forced, cpuIsaName(isa)) != 0)
      continue;
    if (!hardwareSupports(isa))
      error = std::string("MOE_CPU_ISA=") + forced +
              ": this CPU (or this build) cannot run it; supported:";
    else
      return isa;
  }
  if (error.empty())
    error = std::string("MOE_CPU_ISA=") + forced +
            " names no kernel variant; supported:";
  for (CpuIsa isa : kAllIsas)
    if (hardwareSupports(isa))
      error += std::string(" ") + cpuIsaName(isa);
  return CpuIsa::Portable;
}

/// The choice. `error` never changes after construction; setCpuIsa only
/// clears `invalid`.
struct Choice {
  std::string error;
  std::atomic<int> isa;
  std::atomic<bool> invalid;
  Choice()
      : isa(static_cast<int>(initialIsa(error))), invalid(!error.empty()) {}
};
Choice &choice() {
  static Choice c;
  return c;
}
} // namespace

const char *cpuIsaName(CpuIsa isa) {
  switch (isa) {
  case CpuIsa::Portable:
    return "portable";
  case CpuIsa::Avx2:
    return "avx2";
  case CpuIsa::AvxVnni:
    return "avxvnni";
  case CpuIsa::Avx512:
    return "avx512";
  case CpuIsa::Avx512Vnni:
    return "avx512vnni";
  }
  return "unknown";
}

bool cpuIsaSupported(CpuIsa isa) { return hardwareSupports(isa); }

std::vector<CpuIsa> supportedCpuIsas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : kAllIsas)
    if (hardwareSupports(isa))
      out.push_back(isa);
  return out;
}

CpuIsa cpuIsa() {
  Choice &c = choice();
  if (c.invalid.load(std::memory_order_relaxed))
    throw Error(c.error);
  return static_cast<CpuIsa>(c.isa.load(std::memory_order_relaxed));
}

void setCpuIsa(CpuIsa isa) {
  if (!hardwareSupports(isa))
    throw Error(std::string("setCpuIsa: this CPU (or this build) cannot run ") +
                cpuIsaName(isa));
  Choice &c = choice();
  c.isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  c.invalid.store(false, std::memory_order_relaxed);
}

const KernelTable &detail::kernels() { return table(cpuIsa()); }

} // namespace moert
