//===- MachineProbe.cpp - read bandwidth, FMA and int8 peaks --------------===//
//
// The machine figures behind the bounds of bench/run_layer_bench.py
// (`moe-layer-bench --machine`). Every figure uses all hardware threads and
// the widest instructions the kernels use (the CPU's best, or those of the
// variant MOE_CPU_ISA forces), chosen at run time: each variant is
// a function with its own target attribute (as lib/Runtime/Kernels does)
// or inline assembly (the ymm int8 chains, below), never a file compiled
// with -mavx512f, so the probe runs on any x86-64 CPU and, with the
// portable loops, on other targets.
//
//  - FMA peak: 16 independent vfmadd231ps chains of zmm (AVX-512F) or 12 of
//    ymm (AVX2 + FMA): enough to cover the FMA latency on two pipes.
//  - int8 peak: vpdpbusd (u8 x s8, 4 products into each i32 lane) on zmm
//    (AVX-512 VNNI) or ymm (AVX-VNNI), else vpmaddwd + vpaddd (AVX2): the
//    instruction the int8 matmul kernels use on that CPU. Every chain
//    multiplies its own accumulator's bytes (or s16 halves), so no compiler
//    can hoist a multiply out of the loop: with loop-invariant operands
//    both compilers had computed the vpmaddwd once, and the AVX2 figure
//    was that of vpaddd alone (MachineProbeTest replays the chains).
//  - Read bandwidth: 1 GiB (pre-faulted) read once per repetition by all
//    threads, each a contiguous slice, with 4 independent accumulators of
//    32-bit integer adds (readBandwidth; moe-layer-bench --bound runs it
//    over the layer's own weights, whose bytes as floats could be
//    subnormal, which some CPUs add slowly).
//
//===----------------------------------------------------------------------===//

#include "MachineProbe.h"

#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Parallel.h"
#include "moe/Runtime/Tensor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#define PROBE_TARGET(f) __attribute__((target(f)))
#endif

namespace {

/// One kernel of the probe: `loops` steps, returns a value the caller
/// keeps (so nothing is optimized away).
using LoopFn = float (*)(int64_t loops);
using ReadFn = uint32_t (*)(const uint32_t *p, int64_t n);

#if defined(__x86_64__)
constexpr int kZmmChains = 16, kYmmChains = 12;

// The sum of a zmm's 16 lanes of type T, through memory: g++ 12 warns
// about the undefined pass-through operand of the extracts inside
// _mm512_reduce_add_ps / _epi32.
template <typename T, typename V> PROBE_TARGET("avx512f") T sumLanes(V v) {
  static_assert(sizeof(V) == 16 * sizeof(T), "16 lanes of T");
  T lanes[16];
  std::memcpy(lanes, &v, sizeof(v));
  T sum = 0;
  for (T x : lanes)
    sum += x;
  return sum;
}

PROBE_TARGET("avx512f")
float fmaAvx512(int64_t loops) {
  __m512 a[kZmmChains];
  for (int i = 0; i < kZmmChains; ++i)
    a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t l = 0; l < loops; ++l)
    for (auto &v : a)
      v = _mm512_fmadd_ps(v, m, c);
  __m512 s = a[0];
  for (int i = 1; i < kZmmChains; ++i)
    s = _mm512_add_ps(s, a[i]);
  return sumLanes<float>(s);
}

PROBE_TARGET("avx2,fma")
float fmaAvx2(int64_t loops) {
  __m256 a[kYmmChains];
  for (int i = 0; i < kYmmChains; ++i)
    a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t l = 0; l < loops; ++l)
    for (auto &v : a)
      v = _mm256_fmadd_ps(v, m, c);
  __m256 s = a[0];
  for (int i = 1; i < kYmmChains; ++i)
    s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

PROBE_TARGET("avx512f,avx512vnni")
float dpbusdAvx512(int64_t loops) {
  __m512i a[kZmmChains];
  for (int i = 0; i < kZmmChains; ++i)
    a[i] = _mm512_set1_epi32(i);
  __m512i s = _mm512_set1_epi8(-5);
  for (int64_t l = 0; l < loops; ++l)
    for (auto &v : a)
      v = _mm512_dpbusd_epi32(v, v, s);
  __m512i t = a[0];
  for (int i = 1; i < kZmmChains; ++i)
    t = _mm512_add_epi32(t, a[i]);
  return static_cast<float>(_mm512_cvtsi512_si32(t));
}

// The two ymm int8 probes are written in assembly: with 12 chains of 16
// ymm registers, g++ 12 kept some chains in memory (loads and stores in
// the loop: 194 instead of 414 GOP/s for vpmaddwd, 676 instead of 960 for
// vpdpbusd here), clang did not. Chain i lives in ymm<i>, the weight in
// ymm15; the loop runs `loops` steps over the 12 chains (a[]) in place.
// clang-format off
#define MOE_PROBE_CHAINS(X)                                                    \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define MOE_PROBE_LOAD(i) "vmovdqu " #i "*32(%[a]), %%ymm" #i "\n\t"
#define MOE_PROBE_STORE(i) "vmovdqu %%ymm" #i ", " #i "*32(%[a])\n\t"
// v += vpmaddwd(v, w): both s16 halves of every lane times w.
#define MOE_PROBE_MADD(i)                                                      \
  "vpmaddwd %%ymm15, %%ymm" #i ", %%ymm12\n\t"                                 \
  "vpaddd %%ymm12, %%ymm" #i ", %%ymm" #i "\n\t"
// v += vpdpbusd(v as u8, w as s8): the VEX (AVX-VNNI) encoding.
#define MOE_PROBE_DPBUSD(i)                                                    \
  "%{vex%} vpdpbusd %%ymm15, %%ymm" #i ", %%ymm" #i "\n\t"
#define MOE_PROBE_YMM_LOOP(STEP, a, w, loops)                                  \
  asm volatile(MOE_PROBE_CHAINS(MOE_PROBE_LOAD) "vmovdqu (%[w]), %%ymm15\n\t"  \
               "test %[n], %[n]\n\t"                                           \
               "jle 2f\n\t"                                                    \
               "1:\n\t" MOE_PROBE_CHAINS(STEP) "dec %[n]\n\t"                  \
               "jnz 1b\n\t"                                                    \
               "2:\n\t" MOE_PROBE_CHAINS(MOE_PROBE_STORE) "vzeroupper\n\t"     \
               : [n] "+r"(loops)                                               \
               : [a] "r"(a), [w] "r"(w)                                        \
               : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",       \
                 "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",     \
                 "xmm12", "xmm15")
// clang-format on

/// Lane 0 of the 12 chains' sum (all lanes are equal).
float ymmChainsSum(const int32_t (&a)[kYmmChains][8]) {
  uint32_t sum = 0;
  for (const auto &chain : a)
    sum += static_cast<uint32_t>(chain[0]);
  return static_cast<float>(static_cast<int32_t>(sum));
}

/// vpdpbusd on ymm (AVX-VNNI): 32 u8 x s8 products per step.
float dpbusdAvxVnni(int64_t loops) {
  int32_t a[kYmmChains][8];
  for (int i = 0; i < kYmmChains; ++i)
    std::fill(a[i], a[i] + 8, i);
  int8_t w[32];
  std::fill(w, w + 32, int8_t(-5));
  MOE_PROBE_YMM_LOOP(MOE_PROBE_DPBUSD, a, w, loops);
  return ymmChainsSum(a);
}

/// vpmaddwd + vpaddd: 16 s16 multiply-adds per ymm step.
float maddAvx2(int64_t loops) {
  int32_t a[kYmmChains][8];
  for (int i = 0; i < kYmmChains; ++i)
    std::fill(a[i], a[i] + 8, i);
  int16_t w[16];
  std::fill(w, w + 16, int16_t(-5));
  MOE_PROBE_YMM_LOOP(MOE_PROBE_MADD, a, w, loops);
  return ymmChainsSum(a);
}

PROBE_TARGET("avx512f")
uint32_t readAvx512(const uint32_t *p, int64_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_epi32(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi32(a1, _mm512_loadu_si512(p + i + 16));
    a2 = _mm512_add_epi32(a2, _mm512_loadu_si512(p + i + 32));
    a3 = _mm512_add_epi32(a3, _mm512_loadu_si512(p + i + 48));
  }
  uint32_t sum = sumLanes<uint32_t>(
      _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)));
  for (; i < n; ++i)
    sum += p[i];
  return sum;
}

PROBE_TARGET("avx2")
uint32_t readAvx2(const uint32_t *p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_epi32(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i)));
    a1 = _mm256_add_epi32(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 8)));
    a2 = _mm256_add_epi32(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 16)));
    a3 = _mm256_add_epi32(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 24)));
  }
  alignas(32) uint32_t out[8];
  _mm256_store_si256(reinterpret_cast<__m256i *>(out),
                     _mm256_add_epi32(_mm256_add_epi32(a0, a1),
                                      _mm256_add_epi32(a2, a3)));
  uint32_t tail = 0;
  for (; i < n; ++i)
    tail += p[i];
  return out[0] + out[7] + tail;
}
#endif

/// Portable loops (the compiler vectorizes them for the baseline ISA).
float fmaPortable(int64_t loops) {
  float a[64];
  for (int i = 0; i < 64; ++i)
    a[i] = 1.0f + i * 1e-3f;
  for (int64_t l = 0; l < loops; ++l)
    for (float &v : a)
      v = v * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : a)
    s += v;
  return s;
}
/// vpmaddwd's arithmetic: two s16 multiply-adds per lane and step.
float int8Portable(int64_t loops) {
  int32_t a[64];
  for (int i = 0; i < 64; ++i)
    a[i] = i;
  const int32_t w = -5;
  for (int64_t l = 0; l < loops; ++l)
    for (int32_t &v : a) {
      uint32_t u = static_cast<uint32_t>(v);
      int32_t lo = static_cast<int16_t>(u), hi = static_cast<int16_t>(u >> 16);
      v = static_cast<int32_t>(u + static_cast<uint32_t>(lo * w + hi * w));
    }
  uint32_t s = 0;
  for (int32_t v : a)
    s += static_cast<uint32_t>(v);
  return static_cast<float>(static_cast<int32_t>(s));
}
uint32_t readPortable(const uint32_t *p, int64_t n) {
  uint32_t acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j)
      acc[j] += p[i + j];
  uint32_t s = 0;
  for (uint32_t v : acc)
    s += v;
  for (; i < n; ++i)
    s += p[i];
  return s;
}

/// Whether the kernels of variant `selected` may use `isa`: the CPU has it
/// and the variant includes it. The probe measures the instructions the
/// kernels use, so a run with MOE_CPU_ISA=avx2 on an AVX-512 machine gets
/// the bounds of an AVX2 CPU.
bool has(moert::CpuIsa isa, moert::CpuIsa selected) {
  using moert::CpuIsa;
  if (!moert::cpuIsaSupported(isa))
    return false;
  switch (isa) {
  case CpuIsa::Portable:
    return true;
  case CpuIsa::Avx2:
    return selected != CpuIsa::Portable;
  case CpuIsa::AvxVnni:
    return selected == CpuIsa::AvxVnni;
  case CpuIsa::Avx512:
    return selected == CpuIsa::Avx512 || selected == CpuIsa::Avx512Vnni;
  case CpuIsa::Avx512Vnni:
    return selected == CpuIsa::Avx512Vnni;
  }
  return false;
}

} // namespace

PeakKernel fmaPeakKernel(moert::CpuIsa variant) {
#if defined(__x86_64__)
  if (has(moert::CpuIsa::Avx512, variant))
    return {fmaAvx512, kZmmChains * 16.0 * 2, "avx512 zmm vfmadd231ps",
            kZmmChains};
  if (has(moert::CpuIsa::Avx2, variant))
    return {fmaAvx2, kYmmChains * 8.0 * 2, "avx2 ymm vfmadd231ps", kYmmChains};
#endif
  return {fmaPortable, 64.0 * 2, "portable", 64};
}

PeakKernel int8PeakKernel(moert::CpuIsa variant) {
#if defined(__x86_64__)
  if (has(moert::CpuIsa::Avx512Vnni, variant))
    return {dpbusdAvx512, kZmmChains * 64.0 * 2, "avx512vnni zmm vpdpbusd",
            kZmmChains};
  if (has(moert::CpuIsa::AvxVnni, variant))
    return {dpbusdAvxVnni, kYmmChains * 32.0 * 2, "avxvnni ymm vpdpbusd",
            kYmmChains};
  if (has(moert::CpuIsa::Avx2, variant))
    return {maddAvx2, kYmmChains * 16.0 * 2, "avx2 ymm vpmaddwd", kYmmChains};
#endif
  return {int8Portable, 64.0 * 2 * 2, "portable", 64};
}

namespace {

ReadFn readKernel(moert::CpuIsa variant) {
#if defined(__x86_64__)
  if (has(moert::CpuIsa::Avx512, variant))
    return readAvx512;
  if (has(moert::CpuIsa::Avx2, variant))
    return readAvx2;
#endif
  return readPortable;
}

/// Best of 3 runs of `k` on every thread at once; operations per second.
double peak(const PeakKernel &k, int threads, int64_t loops) {
  double best = 1e30;
  std::vector<float> sink(threads);
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    moert::parallelFor(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        sink[t] = k.fn(loops);
    });
    best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - t0)
                              .count());
  }
  volatile float keep = sink[0];
  (void)keep;
  return threads * loops * k.opsPerLoop / best;
}
} // namespace

double readBandwidth(const void *data, size_t bytes, int reps) {
  int threads = std::max(1u, std::thread::hardware_concurrency());
  moert::setKernelThreads(threads);
  const auto *words = static_cast<const uint32_t *>(data);
  int64_t n = static_cast<int64_t>(bytes / sizeof(uint32_t));
  ReadFn read = readKernel(moert::cpuIsa());
  std::vector<uint32_t> sums(threads);
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    moert::parallelFor(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
        sums[t] = read(words + lo, hi - lo);
      }
    });
    best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - t0)
                              .count());
  }
  volatile uint32_t keep = sums[0];
  (void)keep;
  return static_cast<double>(n) * sizeof(uint32_t) / best;
}

MachineFigures probePeaks() {
  MachineFigures m;
  m.threads = std::max(1u, std::thread::hardware_concurrency());
  moert::setKernelThreads(m.threads);
  PeakKernel fma = fmaPeakKernel(moert::cpuIsa()),
             i8 = int8PeakKernel(moert::cpuIsa());
  m.fmaIsa = fma.name;
  m.int8Isa = i8.name;
  m.fmaGflops = peak(fma, m.threads, 20'000'000) / 1e9;
  m.int8Gops = peak(i8, m.threads, 20'000'000) / 1e9;
  return m;
}

MachineFigures probeMachine() {
  std::vector<uint32_t> big((size_t(1) << 30) / sizeof(uint32_t), 1u);
  // (written once above: every page faulted in)
  double read = readBandwidth(big.data(), big.size() * sizeof(uint32_t), 5);
  MachineFigures m = probePeaks();
  m.readGBps = read / 1e9;
  return m;
}
