//===- CommLegality.cpp - can a method run a layer, with what capacity ----===//
//
// The legality and MC2 capacity rules of include/moe/Dialect/Moe/
// CommLegality.h (docs/CostModel.md). Pure functions of their inputs.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/CommLegality.h"

#include "moe/Dialect/Moe/MoeOps.h"

#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::moe;

using mlir::moe::detail::satMul;
using mlir::moe::detail::str;

/// `ceil(a / b)` for a >= 0, b > 0.
static int64_t ceilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0); }

static StringRef chipName(ChipKind kind) {
  return kind == ChipKind::A310P ? "310P" : stringifyChipKind(kind);
}

std::string mlir::moe::tokensVsCapacity(int64_t tokens, int64_t capacity,
                                        StringRef name) {
  return str(tokens, " tokens ", tokens <= capacity ? "<=" : ">", " ", name,
             " ", capacity);
}

//===----------------------------------------------------------------------===//
// Serving configuration
//===----------------------------------------------------------------------===//

std::string ServingConfig::validate() const {
  auto atLeast = [](StringRef name, int64_t value, int64_t min) {
    return value < min ? str("option ", name, " must be at least ", min,
                             ", got ", value)
                       : std::string();
  };
  for (std::string error :
       {atLeast("max-num-reqs", maxNumReqs, 1),
        atLeast("decode-query-len", decodeQueryLen, 1),
        atLeast("max-graph-size", maxGraphSize, 0),
        atLeast("max-num-batched-tokens", maxNumBatchedTokens, 1)})
    if (!error.empty())
      return error;
  if (megaMoe && !fusedMc2)
    return "option mega-moe selects the kernel of fused MC2 and needs "
           "fused-mc2";
  return "";
}

//===----------------------------------------------------------------------===//
// Kernels and layouts
//===----------------------------------------------------------------------===//

int64_t mlir::moe::mc2KernelCapacity(ChipAttr chip) {
  return chip ? chip.getMc2Capacity() : 0;
}

int64_t mlir::moe::tokenSlices(LayoutAttr layout) {
  return layout.getSequenceParallel() ? 1 : layout.getTp();
}

int64_t mlir::moe::tokensForRows(int64_t rowsPerRank, LayoutAttr layout) {
  return rowsPerRank > 0 ? satMul(rowsPerRank, tokenSlices(layout))
                         : kAnyTokenCount;
}

static bool sendsToExpertOwner(CommMethod method) {
  return method == CommMethod::AllToAll || method == CommMethod::MC2 ||
         method == CommMethod::FusedMC2;
}

std::string mlir::moe::layoutObstacle(CommMethod method, LayoutAttr layout) {
  if (sendsToExpertOwner(method) && layout.getWorldSize() > 1 &&
      !layout.useEp())
    return str("method ", stringifyCommMethod(method),
               " sends tokens to the rank owning their expert and needs "
               "expert_parallel in the layout");
  // Shared-expert ranks are an argument of MC2's dispatch and combine
  // (shared_expert_rank_num); the other methods compute every expert on
  // the ranks the experts' weights are split over.
  if (int64_t shared = layout.getSharedExpertRanks();
      shared > 0 && method != CommMethod::MC2 && method != CommMethod::Unset)
    return str("shared_expert_ranks = ", shared,
               " reserves ranks for the shared experts, which only mc2's "
               "dispatch (shared_expert_rank_num) serves, not ",
               stringifyCommMethod(method));
  return "";
}

int64_t mlir::moe::balancedGroupsOf(Value ids) {
  auto gate = ids ? ids.getDefiningOp<GateOp>() : GateOp();
  if (!gate || !gate.getBalanced() || gate.getIds() != ids)
    return 0;
  return static_cast<int64_t>(gate.getNumExpertGroup().value_or(0));
}

std::string mlir::moe::mogeRoutingObstacle(int64_t balancedGroups,
                                           int64_t topK,
                                           int64_t redundantExperts,
                                           bool eplbTables,
                                           LayoutAttr layout) {
  int64_t ep = layout.getEpSize();
  if (balancedGroups <= 0)
    return str("moge needs group-balanced routing (moe.gate ... groups(G, G) "
               "balanced) so that each of the ",
               ep, " expert-parallel ranks receives top_k / ", ep,
               " of every token's ", topK, " experts");
  if (balancedGroups % ep != 0)
    return str("moge needs whole expert groups on every rank: the ",
               balancedGroups, " balanced groups do not split over ", ep,
               " expert-parallel ranks");
  if (redundantExperts > 0 || eplbTables)
    return "moge keeps every expert group on its rank: no redundant "
           "experts, log2phy or expert_map (EPLB)";
  return "";
}

std::string mlir::moe::mogeQuantObstacle(QuantScheme scheme) {
  if (scheme == QuantScheme::None)
    return "";
  return str("moge's experts scale unquantized activations by topk_scales, "
             "not ",
             stringifyQuantScheme(scheme), " ones");
}

std::string mlir::moe::fusedMc2QuantObstacle(QuantScheme scheme) {
  if (scheme == QuantScheme::None || scheme == QuantScheme::W8A8Dynamic)
    return "";
  return str("dispatch_ffn_combine runs unquantized or w8a8_dynamic "
             "experts, not ",
             stringifyQuantScheme(scheme));
}

//===----------------------------------------------------------------------===//
// MC2 capacity
//===----------------------------------------------------------------------===//

Mc2Capacity mlir::moe::computeMc2Capacity(const ServingConfig &config,
                                          int64_t tp, bool megaMoe,
                                          int64_t kernelPerRank,
                                          int64_t slices) {
  assert(tp >= 1 && "tensor-parallel size must be positive");
  if (slices < 1)
    slices = tp;
  // The decode batch bound: the largest captured graph, else every request
  // with its decode query length.
  int64_t decodeBase = config.maxGraphSize > 0
                           ? config.maxGraphSize
                           : satMul(config.maxNumReqs, config.decodeQueryLen);
  int64_t base = config.prefillMc2 || megaMoe ? config.maxNumBatchedTokens
                                              : decodeBase;
  // vllm-ascend clamps to 512 rows per rank (4096 with MegaMoE); the kernel
  // this compiler emits accepts `kernelPerRank` rows, which replaces every
  // clamp (MegaMoE runs on the same npu.dispatch_ffn_combine here).
  int64_t mc2Limit = kernelPerRank > 0 ? kernelPerRank : kMc2TokensPerRankLimit;
  Mc2Capacity result;
  int64_t perRank = ceilDiv(base, tp);
  if (config.fusedMc2) {
    int64_t fusedLimit =
        kernelPerRank > 0 ? kernelPerRank
                          : (megaMoe ? kMegaMoeTokensPerRankLimit
                                     : kDispatchFfnCombineTokensPerRankLimit);
    result.perRank = std::min(perRank, fusedLimit);
    result.dispatchV2Capacity =
        satMul(std::min(ceilDiv(decodeBase, tp), mc2Limit), slices);
  } else {
    result.perRank = std::min(perRank, mc2Limit);
  }
  result.capacity = satMul(result.perRank, slices);
  return result;
}

Mc2Capacity mlir::moe::computeMc2Capacity(const CommMethodInputs &inputs) {
  LayoutAttr layout = inputs.layer.layout;
  return computeMc2Capacity(inputs.config, layout.getTp(), usesMegaMoe(inputs),
                            mc2KernelCapacity(inputs.layer.chip),
                            tokenSlices(layout));
}

int64_t mlir::moe::mc2DecisionCapacity(const CommMethodInputs &inputs) {
  Mc2Capacity capacity = computeMc2Capacity(inputs);
  ChipAttr chip = inputs.layer.chip;
  if (chip && chip.getKind() == ChipKind::A3 && capacity.dispatchV2Capacity)
    return *capacity.dispatchV2Capacity;
  return capacity.capacity;
}

bool mlir::moe::usesMegaMoe(const CommMethodInputs &inputs) {
  const ServingConfig &config = inputs.config;
  const LayerFacts &layer = inputs.layer;
  if (!layer.chip || layer.chip.getKind() != ChipKind::A3 ||
      !config.fusedMc2 || !config.megaMoe || config.lora ||
      !layer.layout.useEp())
    return false;
  int64_t ep = layer.layout.getEpSize();
  if (ep <= 1 || ep > layer.chip.getFusedMc2EpLimit(/*megaMoe=*/true))
    return false;
  if (layer.hidden < 1024 || layer.hidden > 8192 || layer.hidden % 512 != 0)
    return false;
  QuantScheme scheme =
      layer.quant ? layer.quant.getScheme() : QuantScheme::None;
  return scheme == QuantScheme::W8A8Dynamic ||
         scheme == QuantScheme::W4A8Dynamic;
}

std::optional<std::string>
mlir::moe::a2Mc2Obstacle(const CommMethodInputs &inputs) {
  const LayerFacts &layer = inputs.layer;
  // world_size_across_dp // pp: the devices of one pipeline stage.
  int64_t world = layer.layout.getWorldSize();
  if (layer.experts > 512)
    return str(layer.experts, " experts > 512");
  if (int64_t perDevice = layer.experts / world; perDevice > 24)
    return str(perDevice, " experts per device (", layer.experts, " / ",
               world, ") > 24");
  if (world < 16)
    return str("world dp * tp = ", world, " < 16");
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// The query
//===----------------------------------------------------------------------===//

std::string MethodLegality::whyNot(int64_t tokens) const {
  if (!obstacle.empty())
    return obstacle;
  if (tokens > maxTokens)
    return tokensVsCapacity(tokens, maxTokens, capacityName);
  return "";
}

/// Why a method sending tokens to their expert's rank has nothing to do.
static std::string epObstacle(LayoutAttr layout) {
  if (!layout.getExpertParallel())
    return "expert parallelism is off";
  if (!layout.useEp())
    return "a single expert-parallel rank";
  return "";
}

static std::string mc2Obstacle(const CommMethodInputs &inputs) {
  if (std::string ep = epObstacle(inputs.layer.layout); !ep.empty())
    return ep;
  if (inputs.config.lora)
    return "LoRA needs alltoall";
  ChipAttr chip = inputs.layer.chip;
  int64_t shared = inputs.layer.layout.getSharedExpertRanks();
  if (!chip)
    return shared > 0 ? "shared_expert_ranks need an A3 chip (#moe.chip<A3>)"
                      : "";
  if (mc2KernelCapacity(chip) == 0)
    return str(chipName(chip.getKind()), " has no MC2");
  if (chip.getKind() == ChipKind::A2)
    if (std::optional<std::string> obstacle = a2Mc2Obstacle(inputs))
      return "A2, " + *obstacle;
  return shared > 0 && chip.getKind() != ChipKind::A3
             ? str("shared_expert_ranks need A3's MC2 arguments (group_tp); ",
                   chipName(chip.getKind()),
                   "'s kernel has no shared-expert ranks")
             : "";
}

static std::string fusedMc2Obstacle(const CommMethodInputs &inputs) {
  if (std::string ep = epObstacle(inputs.layer.layout); !ep.empty())
    return ep;
  if (!inputs.config.fusedMc2)
    return "fused-mc2 is off";
  if (inputs.config.lora)
    return "LoRA needs alltoall";
  if (ChipAttr chip = inputs.layer.chip) {
    bool mega = usesMegaMoe(inputs);
    int64_t limit = chip.getFusedMc2EpLimit(mega);
    if (limit == 0)
      return str(chipName(chip.getKind()), " has no fused MC2");
    int64_t ep = inputs.layer.layout.getEpSize();
    if (ep > limit)
      return str(ep, " EP ranks > fused MC2 limit ", limit);
  }
  QuantAttr quant = inputs.layer.quant;
  return fusedMc2QuantObstacle(quant ? quant.getScheme() : QuantScheme::None);
}

MethodLegality mlir::moe::checkMethod(CommMethod method,
                                      const CommMethodInputs &inputs) {
  LayoutAttr layout = inputs.layer.layout;
  MethodLegality result;
  result.method = method;
  // The EP methods report the selection's reason first: `epObstacle`
  // covers every layout `layoutObstacle` rejects.
  auto capacityOf = [&](int64_t admitted, StringRef name) {
    result.kernelCapacity = mc2KernelCapacity(inputs.layer.chip);
    result.runTimeMaxTokens = tokensForRows(result.kernelCapacity, layout);
    result.maxTokens = std::min(admitted, result.runTimeMaxTokens);
    result.capacityName = name.str();
  };
  switch (method) {
  case CommMethod::AllGather:
    if (layout.useEp() && inputs.config.lora)
      result.obstacle = "LoRA needs alltoall";
    break;
  case CommMethod::AllToAll:
    result.obstacle = epObstacle(layout);
    break;
  case CommMethod::MC2:
    result.obstacle = mc2Obstacle(inputs);
    capacityOf(mc2DecisionCapacity(inputs), "MC2 capacity");
    break;
  case CommMethod::FusedMC2:
    result.obstacle = fusedMc2Obstacle(inputs);
    capacityOf(computeMc2Capacity(inputs).capacity, "fused MC2 capacity");
    break;
  case CommMethod::Moge: {
    const LayerFacts &layer = inputs.layer;
    // An all-gather prepare and finalize, as allgather.
    if (layout.useEp() && inputs.config.lora)
      result.obstacle = "LoRA needs alltoall";
    if (result.obstacle.empty())
      result.obstacle =
          mogeRoutingObstacle(layer.balancedGroups, layer.topK,
                              layer.redundantExperts, layer.eplbTables, layout);
    if (result.obstacle.empty())
      result.obstacle = mogeQuantObstacle(
          layer.quant ? layer.quant.getScheme() : QuantScheme::None);
    break;
  }
  case CommMethod::Unset:
    result.obstacle = "no method";
    break;
  }
  if (result.obstacle.empty() && inputs.layer.routerWeightOnInput &&
      method != CommMethod::AllGather)
    result.obstacle = "the router weight on the input needs allgather";
  if (result.obstacle.empty())
    result.obstacle = layoutObstacle(method, layout);
  return result;
}
