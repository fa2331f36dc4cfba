//===- MachineProbeTest.cpp - the peak kernels of moe-layer-bench ---------===//
//
// bench/layer/MachineProbe.cpp's int8 kernel replayed lane by lane: every
// chain must multiply its own accumulator, step after step, so that no
// compiler can compute a multiply once and time the adds alone (as both
// did when the operands were loop-invariant), for every kernel variant the
// host supports.
//
//===----------------------------------------------------------------------===//

#include "MachineProbe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

/// One chain's step, modulo 2^32: vpmaddwd + vpaddd (and the portable
/// loops) add w times both s16 halves; vpdpbusd adds w times each of the
/// four bytes, read as unsigned.
uint32_t stepMadd(uint32_t v, int32_t w) {
  int32_t lo = static_cast<int16_t>(v), hi = static_cast<int16_t>(v >> 16);
  return v + static_cast<uint32_t>(lo * w + hi * w);
}
uint32_t stepDpbusd(uint32_t v, int32_t w) {
  int32_t sum = 0;
  for (int b = 0; b < 4; ++b)
    sum += static_cast<int32_t>((v >> (8 * b)) & 0xff) * w;
  return v + static_cast<uint32_t>(sum);
}

TEST(MachineProbe, TheInt8ChainsMultiplyTheirAccumulators) {
  for (moert::CpuIsa variant : moert::supportedCpuIsas()) {
    PeakKernel k = int8PeakKernel(variant);
    bool dpbusd = std::string(k.name).find("vpdpbusd") != std::string::npos;
    for (int64_t loops : {0, 1, 7, 1000}) {
      // Chain i starts at i in every lane; the kernel returns lane 0 of the
      // chains' sum.
      uint32_t sum = 0;
      for (int i = 0; i < k.chains; ++i) {
        uint32_t v = static_cast<uint32_t>(i);
        for (int64_t l = 0; l < loops; ++l)
          v = dpbusd ? stepDpbusd(v, -5) : stepMadd(v, -5);
        sum += v;
      }
      EXPECT_EQ(k.fn(loops), static_cast<float>(static_cast<int32_t>(sum)))
          << k.name << ", " << loops << " steps";
    }
  }
}

TEST(MachineProbe, EachVariantTimesItsWidestInstructions) {
  std::vector<std::string> int8Names;
  for (moert::CpuIsa variant : moert::supportedCpuIsas()) {
    PeakKernel f = fmaPeakKernel(variant), i8 = int8PeakKernel(variant);
    // Per chain and step: a vector of FMAs (2 flops a lane) and of int8
    // multiply-adds (at least 2 products a lane).
    EXPECT_EQ(static_cast<int64_t>(f.opsPerLoop) % (2 * f.chains), 0);
    EXPECT_EQ(static_cast<int64_t>(i8.opsPerLoop) % (4 * i8.chains), 0);
    int8Names.push_back(i8.name);
  }
  // The variants the kernels of Kernels/CpuIsa.cpp have, in order.
  std::vector<std::string> expected = {
      "portable", "avx2 ymm vpmaddwd", "avxvnni ymm vpdpbusd",
      "avx2 ymm vpmaddwd", "avx512vnni zmm vpdpbusd"};
  std::vector<moert::CpuIsa> all = moert::supportedCpuIsas();
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(int8Names[i], expected[static_cast<size_t>(all[i])])
        << moert::cpuIsaName(all[i]);
}

} // namespace
