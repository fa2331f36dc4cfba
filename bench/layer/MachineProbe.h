//===- MachineProbe.h - read bandwidth, FMA and int8 peaks ------*- C++ -*-===//
//
// The machine figures of `moe-layer-bench --machine` (MachineProbe.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_BENCH_LAYER_MACHINEPROBE_H
#define MOE_BENCH_LAYER_MACHINEPROBE_H

#include "moe/Runtime/CpuIsa.h"

#include <cstddef>
#include <string>

struct MachineFigures {
  int threads = 1;
  double readGBps = 0;  // all threads, each a disjoint slice
  double fmaGflops = 0; // f32, 2 flops per FMA, all threads
  double int8Gops = 0;  // 2 ops per int8 multiply-add, all threads
  std::string fmaIsa, int8Isa;
};

/// A kernel the peaks time: `fn(loops)` runs `loops` steps of `chains`
/// dependent chains (vectors of lanes, or scalars in the portable loops)
/// and returns a value that depends on all of them.
struct PeakKernel {
  float (*fn)(int64_t loops);
  double opsPerLoop; // all chains and lanes, 2 per multiply-add
  const char *name;
  int chains;
};
/// The FMA and int8 kernels of a kernel variant this CPU supports (the
/// widest instructions of `variant` the CPU has); probePeaks times those of
/// the variant the runtime's kernels run (moert::cpuIsa()).
PeakKernel fmaPeakKernel(moert::CpuIsa variant);
PeakKernel int8PeakKernel(moert::CpuIsa variant);

/// Measures the figures with all hardware threads (sets the runtime's
/// kernel thread count to them); the read bandwidth over a 1 GiB buffer of
/// its own.
MachineFigures probeMachine();
/// The FMA and int8 peaks only (no buffer; readGBps stays 0).
MachineFigures probePeaks();
/// Bytes per second reading [data, data + bytes) with all hardware
/// threads, each a contiguous slice; the best of `reps` passes.
double readBandwidth(const void *data, size_t bytes, int reps);

#endif // MOE_BENCH_LAYER_MACHINEPROBE_H
