//===- Bounds.h - what an MoE layer step must at least take -----*- C++ -*-===//
//
// The bounds moe-layer-bench --bound measures a layer against (Bounds.cpp),
// the one definition bench/layer_targets.py reads from the bench's output:
//
//   read bound    = bytes of the routed experts a step touches / read
//                   bandwidth, with E (1 - (1 - K/E)^T) experts expected
//                   (4 bytes per f32 weight, 1 per int8, 1/2 per int4)
//   compute bound = 2 T K (3 H I) operations / the FMA (f32) or int8 peak
//   bound         = the larger
//
// and the ratio of each window of steps to the bound of a read probe run
// right before and right after it: this host's read bandwidth moves by 2x
// within seconds, so a probe taken in another process, or a minute
// earlier, says little about the steps it is compared with.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_BENCH_LAYER_BOUNDS_H
#define MOE_BENCH_LAYER_BOUNDS_H

#include "LayerModule.h"

#include <string>
#include <vector>

namespace moebench {

/// What one step of a layer must do (world 1, routed experts only).
struct LayerWork {
  double experts = 0;     // expected distinct experts a step touches
  double weightBytes = 0; // their weight bytes
  double ops = 0;         // 2 per multiply-add of the expert matmuls
  bool int8 = false;      // the compute bound is the int8 peak, not FMA
};
/// Empty `why` when the layer has a bound here (one rank, no shared
/// experts); otherwise why not.
LayerWork layerWork(const LayerConfig &c, std::string &why);

/// The bound of a step (seconds) at read bandwidth `readBps` and compute
/// peak `peakOps` (the FMA or int8 peak, as `w.int8` says); `kind` is
/// "read", "fma" or "int8", whichever binds.
double stepBound(const LayerWork &w, double readBps, double peakOps,
                 std::string &kind);

/// One window of timed steps and the read probes around it.
struct Window {
  std::vector<double> seconds; // the steps' times
  double readBefore = 0, readAfter = 0; // bytes per second
};
struct BoundSummary {
  double median = 0, low = 0, high = 0; // step time / bound over windows
  double boundSeconds = 0;              // the median window's bound
  std::string kind;                     // of the median window
};
/// Per window: the bound at the faster of its two probes (the smaller
/// bound: never flattering) over the median of its steps; the median,
/// the lowest and the highest of those ratios.
BoundSummary summarize(const std::vector<Window> &windows,
                       const LayerWork &w, double peakOps);

} // namespace moebench

#endif // MOE_BENCH_LAYER_BOUNDS_H
