//===- LayerModule.h - the MoE layer moe-layer-bench times -------*- C++ -*-===//
//
// The level-1 module of one MoE layer from the command line's shape, and
// each rank's random arguments for it (LayerModule.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_BENCH_LAYER_LAYERMODULE_H
#define MOE_BENCH_LAYER_LAYERMODULE_H

#include "moe/Runtime/Tensor.h"

#include <string>
#include <vector>

struct LayerConfig {
  int64_t hidden = 2048, experts = 128, topK = 8, inter = 768;
  /// Intermediate size of the shared-expert MLP; 0: no shared experts.
  int64_t sharedInter = 0;
  int64_t tokens = 1; // per rank
  std::string quant = "none"; // none, w8a8 or w4a8
  int64_t groupSize = 256;    // w4a8 only
  int world = 1;
  std::string method = "allgather";
};

/// Empty when the layer can be built, else why not (the option named).
std::string checkLayerConfig(const LayerConfig &c);

/// The module: @layer(x, logits, w13, w2, routed scales..., shared
/// weights and scales...) -> y, the routed experts' output plus, with
/// sharedInter, the shared experts' (moe.finalize ... shared(...)).
std::string layerText(const LayerConfig &c);

/// Rank `rank`'s arguments of @layer, random; the logits (argument
/// kLogitsArg) are drawn afresh by the caller every iteration.
std::vector<moert::Tensor> layerInputs(const LayerConfig &c, int rank);
constexpr size_t kLogitsArg = 1;

/// Fills `t` with uniform values: floats in [-scale, scale], i8 in
/// [-127, 127], i4 in [-8, 7].
void fillRandom(moert::Tensor &t, float scale, uint64_t seed);

#endif // MOE_BENCH_LAYER_LAYERMODULE_H
