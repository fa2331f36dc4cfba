//===- CommMethodRules.cpp - choosing an MoE communication method ---------===//
//
// vllm-ascend's selection rules, its MC2 capacity and an analytic cost model
// (docs/CostModel.md). Everything here is a pure function of its inputs.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/Transforms/CommMethodRules.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::moe;

static constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

using mlir::moe::detail::satMul;
using mlir::moe::detail::str;

static int64_t satAdd(int64_t a, int64_t b) {
  return llvm::AddOverflow(a, b, a) ? kNoLimit : a;
}

//===----------------------------------------------------------------------===//
// Serving configuration
//===----------------------------------------------------------------------===//

ServingConfig::ServingConfig() {
  *this = fromOptions(SelectCommMethodOptions());
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

static Choice selectA2(const CommMethodInputs &inputs, int64_t tokens) {
  if (std::optional<std::string> obstacle = a2Mc2Obstacle(inputs))
    return {CommMethod::AllGather, "A2, " + *obstacle};
  MethodLegality mc2 = checkMethod(CommMethod::MC2, inputs);
  int64_t world = inputs.layer.layout.getWorldSize();
  std::string context =
      str("A2, world dp * tp = ", world, ", ", inputs.layer.experts / world,
          " experts per device, ",
          tokensVsCapacity(tokens, mc2.maxTokens, mc2.capacityName));
  if (!mc2.canRun(tokens))
    return {CommMethod::AllGather, context};
  return {CommMethod::MC2, context};
}

static Choice selectA3(const CommMethodInputs &inputs, int64_t tokens) {
  int64_t ep = inputs.layer.layout.getEpSize();
  std::string context = str("A3, ", ep, " EP ranks");
  if (inputs.config.fusedMc2) {
    MethodLegality fused = checkMethod(CommMethod::FusedMC2, inputs);
    if (fused.canRun(tokens)) {
      bool mega = usesMegaMoe(inputs);
      return {CommMethod::FusedMC2,
              str(context, " <= ", inputs.layer.chip.getFusedMc2EpLimit(mega),
                  " of fused MC2 (", mega ? "MegaMoE" : "dispatch_ffn_combine",
                  "), ",
                  tokensVsCapacity(tokens, fused.maxTokens,
                                   fused.capacityName))};
    }
    context += ", no fused_mc2: " + fused.whyNot(tokens);
  }
  MethodLegality mc2 = checkMethod(CommMethod::MC2, inputs);
  context += ", " + tokensVsCapacity(tokens, mc2.maxTokens, mc2.capacityName);
  return {mc2.canRun(tokens) ? CommMethod::MC2 : CommMethod::AllToAll,
          context};
}

static Choice selectA5(const CommMethodInputs &inputs, int64_t tokens) {
  LayoutAttr layout = inputs.layer.layout;
  // world_size_across_dp, which (unlike on A2) includes the pipeline stages.
  int64_t world = satMul(layout.getWorldSize(), layout.getPp());
  MethodLegality mc2 = checkMethod(CommMethod::MC2, inputs);
  std::string capacity =
      tokensVsCapacity(tokens, mc2.maxTokens, mc2.capacityName);
  std::string worldStr = str("world dp * tp * pp = ", world);
  if (mc2.canRun(tokens) && world > 1)
    return {CommMethod::MC2, str("A5, ", worldStr, ", ", capacity)};
  std::string context = str("A5, ", world > 1 ? capacity : worldStr, ", ");
  int64_t k = inputs.layer.topK;
  if (world <= k)
    return {CommMethod::AllGather, str(context, worldStr, " <= top-k ", k)};
  return {CommMethod::AllToAll, str(context, worldStr, " > top-k ", k)};
}

Choice mlir::moe::selectByTable(const CommMethodInputs &inputs,
                                int64_t tokens) {
  const LayerFacts &layer = inputs.layer;
  if (!layer.layout.getExpertParallel())
    return {CommMethod::AllGather, "expert parallelism is off"};
  if (!layer.layout.useEp())
    return {CommMethod::AllGather, "a single expert-parallel rank"};
  assert(layer.chip && "the table needs the target chip");
  if (inputs.config.lora)
    return {CommMethod::AllToAll, "LoRA with expert parallelism"};
  // Only vllm-ascend's allgather dispatcher applies it (seed 002).
  if (layer.routerWeightOnInput)
    return {CommMethod::AllGather, "the router weight on the input"};
  // Only MC2's dispatch serves shared-expert ranks (shared_expert_rank_num).
  if (int64_t shared = layer.layout.getSharedExpertRanks())
    return {CommMethod::MC2, str("shared_expert_ranks = ", shared,
                                 " (only mc2's dispatch serves them)")};
  switch (layer.chip.getKind()) {
  case ChipKind::A2:
    return selectA2(inputs, tokens);
  case ChipKind::A3:
    return selectA3(inputs, tokens);
  case ChipKind::A5:
    return selectA5(inputs, tokens);
  case ChipKind::A310P:
    return {CommMethod::AllGather, "310P"};
  }
  llvm_unreachable("unknown chip kind");
}

//===----------------------------------------------------------------------===//
// Cost model
//===----------------------------------------------------------------------===//

namespace {
/// `fixed + perToken * T` microseconds.
struct Line {
  double fixed = 0.0, perToken = 0.0;
  Line &operator+=(Line other) {
    fixed += other.fixed;
    perToken += other.perToken;
    return *this;
  }
};

/// Local (HBM) bandwidth of one rank in GB/s, for the permutes and copies a
/// method adds; sources in docs/CostModel.md.
double localGBps(ChipKind kind) {
  switch (kind) {
  case ChipKind::A2:
    return 1600.0;
  case ChipKind::A3:
    return 1600.0;
  case ChipKind::A5:
    return 4000.0;
  case ChipKind::A310P:
    return 204.0;
  }
  llvm_unreachable("unknown chip kind");
}

/// Bytes per element of the activations the experts quantize to (what
/// travels once quantization moves before the dispatch, SEMANTICS §7), or
/// nothing for unquantized activations.
std::optional<double> quantizedActivationBytes(QuantAttr quant) {
  QuantDescAttr a1 = quant ? quant.getA1() : QuantDescAttr();
  if (!a1 || !a1.isQuantized())
    return std::nullopt;
  switch (a1.getDtype()) {
  case QuantDtype::MXFP4:
  case QuantDtype::NVFP4:
    return 0.5;
  case QuantDtype::MXFP6E3M2:
  case QuantDtype::MXFP6E2M3:
    return 0.75;
  default:
    return 1.0;
  }
}

/// Bytes of the scales that travel with one quantized row of `hidden`
/// elements: an f32 per row (per_token), per group of G columns
/// (block [1, G]: 4 * ceil(H / G)), none per row for per_tensor (one scale
/// per tensor); the OCP MX formats one e8m0 byte per 32 elements, nvfp4
/// one e4m3 byte per 16 plus its f32 global scale, which the runtime's
/// dynamic nvfp4 activations compute per row (docs/Quantization.md,
/// "mxfp4 and nvfp4").
double activationScaleBytes(QuantAttr quant, int64_t hidden) {
  QuantDescAttr a1 = quant.getA1();
  auto perGroup = [&](int64_t group, double bytes) {
    return bytes * static_cast<double>((hidden + group - 1) / group);
  };
  if (int64_t block = QuantDescAttr::microBlockSize(a1.getDtype()))
    return perGroup(block, 1.0) +
           (a1.getDtype() == QuantDtype::NVFP4 ? 4.0 : 0.0);
  if (a1.isPerTensor())
    return 0.0;
  if (a1.isBlock())
    return perGroup(a1.getGroupCols(), 4.0);
  return 4.0;
}

/// The per-token building blocks of the formulas in docs/CostModel.md.
struct Terms {
  double alpha;      // latency of one collective, us
  double linkBytes;  // link bytes per us
  double localBytes; // local bytes per us
  double dp, tp, ep;
  double slices;     // TP ranks splitting the tokens for the EP methods: tp,
                     // or 1 with sequence parallelism (tokenSlices)
  double share;      // (ep - 1) / ep: pairs leaving the rank
  double rowBytes;   // bytes of one hidden row (H * b)
  double sendBytes;  // bytes of one dispatched row (quantized: H * q +
                     // scaleBytes)
  double scaleBytes; // bytes of one quantized row's scales
  bool quantized;
  double pairsPerToken; // (token, k) pairs a rank dispatches per token:
                        // K / slices
  double gemmPerToken;  // expert GEMM time per token, us

  /// One collective moving `fixedBytes + perTokenBytes * T` bytes.
  Line step(double perTokenBytes, double fixedBytes = 0.0) const {
    return {alpha + fixedBytes / linkBytes, perTokenBytes / linkBytes};
  }
  /// A local pass reading and writing `rowsPerToken * T` rows.
  Line copy(double rowsPerToken, double bytes) const {
    return {0.0, 2.0 * rowsPerToken * bytes / localBytes};
  }
  /// Finalize of the EP methods with sliced tokens: all-gather the TP
  /// chunks.
  Line tpGather() const {
    return slices > 1 ? step((slices - 1) / slices * rowBytes) : Line();
  }
  /// Prepare of MC2 with dp > 1: the all-reduce of the token count.
  Line tokenMax() const { return dp > 1 ? step(0.0) : Line(); }
};

Terms makeTerms(const CommMethodInputs &inputs) {
  const LayerFacts &layer = inputs.layer;
  LayoutAttr layout = layer.layout;
  Terms t;
  t.alpha = layer.chip.getLinkLatencyUs();
  t.linkBytes = layer.chip.getLinkGBps() * 1e3;
  t.localBytes = localGBps(layer.chip.getKind()) * 1e3;
  t.dp = static_cast<double>(layout.getDp());
  t.tp = static_cast<double>(layout.getTp());
  t.slices = static_cast<double>(tokenSlices(layout));
  t.ep = static_cast<double>(layout.getEpSize());
  t.share = (t.ep - 1.0) / t.ep;
  double hidden = static_cast<double>(layer.hidden);
  t.rowBytes = hidden * static_cast<double>(layer.hiddenBytes);
  std::optional<double> q = quantizedActivationBytes(layer.quant);
  t.quantized = q.has_value();
  t.scaleBytes = q ? activationScaleBytes(layer.quant, layer.hidden) : 0.0;
  t.sendBytes = q ? hidden * *q + t.scaleBytes : t.rowBytes;
  double k = static_cast<double>(layer.topK);
  t.pairsPerToken = k / t.slices;
  // Rows the local experts process per token of T: with EP a balanced
  // share T*K/tp of all dp*T*K pairs; without EP every gathered pair, on a
  // tensor-sharded slice of the weights.
  double rowsPerToken = layout.useEp() ? k / t.slices : t.dp * k;
  double flopsPerRow =
      6.0 * hidden * static_cast<double>(layer.intermediate);
  double flopsPerUs = layer.chip.getMatmulTflops(t.quantized) * 1e6;
  t.gemmPerToken = rowsPerToken * flopsPerRow / flopsPerUs;
  return t;
}

Line allGatherCost(const CommMethodInputs &inputs, const Terms &t) {
  const LayerFacts &layer = inputs.layer;
  Line cost;
  if (t.dp > 1) {
    cost += t.tokenMax();
    cost += t.step((t.dp - 1) * t.rowBytes); // hidden states
    cost += t.step((t.dp - 1) * static_cast<double>(layer.experts) *
                   static_cast<double>(layer.logitsBytes)); // router logits
    cost += t.step((t.dp - 1) * t.rowBytes); // reduce-scatter
  }
  if (t.tp > 1)
    cost += t.step(2.0 * (t.tp - 1) / t.tp * t.rowBytes); // all-reduce
  // Routing gathers the local rows out of all dp*T tokens; the unpermute
  // writes every gathered token back.
  double rows = layer.layout.useEp() ? t.pairsPerToken
                                     : t.dp * static_cast<double>(layer.topK);
  cost += t.copy(rows, t.rowBytes);
  cost += t.copy(t.dp, t.rowBytes);
  cost += Line{0.0, t.gemmPerToken};
  return cost;
}

Line allToAllCost(const CommMethodInputs &inputs, const Terms &t) {
  const LayerFacts &layer = inputs.layer;
  double physical =
      static_cast<double>(layer.experts + layer.redundantExperts);
  bool manyLocal = physical / t.ep > 1.0;
  double pairs = t.pairsPerToken * t.share;
  Line cost;
  // The per-expert counts (i64), gathered over the EP group.
  cost += t.step(0.0, (t.ep - 1) * physical * 8.0);
  if (t.quantized) {
    cost += t.step(pairs * t.scaleBytes);               // scales
    cost += t.step(pairs * (t.sendBytes - t.scaleBytes)); // quantized rows
  } else {
    cost += t.step(pairs * t.sendBytes);
  }
  cost += t.step(pairs * t.rowBytes); // combine
  cost += t.tpGather();
  // Permute before and unpermute after the exchanges; with several local
  // experts also a permute and an unpermute by local expert.
  double passes = manyLocal ? 2.0 : 1.0;
  cost += t.copy(passes * t.pairsPerToken, t.sendBytes);
  cost += t.copy(passes * t.pairsPerToken, t.rowBytes);
  cost += Line{0.0, t.gemmPerToken};
  return cost;
}

Line mc2Cost(const Terms &t) {
  double pairs = t.pairsPerToken * t.share;
  Line cost = t.tokenMax();
  cost += t.step(pairs * t.sendBytes); // dispatch
  cost += t.step(pairs * t.rowBytes);  // combine
  cost += t.tpGather();
  cost += Line{0.0, t.gemmPerToken};
  return cost;
}

Line fusedMc2Cost(const Terms &t) {
  double pairs = t.pairsPerToken * t.share;
  double exchange = pairs * (t.sendBytes + t.rowBytes) / t.linkBytes;
  Line cost = t.tokenMax();
  // One kernel: one start-up latency, communication overlapped with the
  // expert GEMMs.
  cost += Line{t.alpha, std::max(exchange, t.gemmPerToken)};
  cost += t.tpGather();
  return cost;
}

} // namespace

CostModel::CostModel(const CommMethodInputs &inputs) {
  assert(inputs.layer.chip && "the cost model needs the target chip");
  Terms t = makeTerms(inputs);
  for (auto [method, line] :
       {std::pair(CommMethod::AllGather, allGatherCost(inputs, t)),
        std::pair(CommMethod::AllToAll, allToAllCost(inputs, t)),
        std::pair(CommMethod::MC2, mc2Cost(t)),
        std::pair(CommMethod::FusedMC2, fusedMc2Cost(t))}) {
    MethodLegality legality = checkMethod(method, inputs);
    costs.push_back({method, legality.obstacle, legality.maxTokens,
                     legality.capacityName, line.fixed, line.perToken});
  }
}

Choice CostModel::select(int64_t tokens) const {
  SmallVector<const MethodCost *, 4> legal;
  for (const MethodCost &cost : costs)
    if (cost.isLegal(tokens))
      legal.push_back(&cost);
  assert(!legal.empty() && "allgather or alltoall is always legal");
  // Cheapest first; ties keep the order of `costs`.
  llvm::sort(legal, [&](const MethodCost *a, const MethodCost *b) {
    double x = a->at(tokens), y = b->at(tokens);
    return x < y || (x == y && a < b);
  });
  std::string reason;
  llvm::raw_string_ostream os(reason);
  os << "cost model at " << tokens << " tokens: ";
  llvm::interleave(
      legal, os,
      [&](const MethodCost *cost) {
        os << stringifyCommMethod(cost->method) << " "
           << llvm::format("%.1f", cost->at(tokens)) << " us";
      },
      " < ");
  for (const MethodCost &cost : costs) {
    if (cost.isLegal(tokens))
      continue;
    os << "; " << stringifyCommMethod(cost.method) << " excluded: ";
    if (!cost.excluded.empty())
      os << cost.excluded;
    else
      os << tokensVsCapacity(tokens, cost.maxTokens, cost.capacityName);
  }
  return {legal.front()->method, reason};
}

SmallVector<int64_t> CostModel::breakpoints() const {
  SmallVector<int64_t> result;
  SmallVector<const MethodCost *, 4> usable;
  for (const MethodCost &cost : costs) {
    if (!cost.excluded.empty())
      continue;
    usable.push_back(&cost);
    if (cost.maxTokens != kNoLimit)
      result.push_back(cost.maxTokens);
  }
  // Where two lines cross; one token on either side absorbs rounding.
  for (auto [i, a] : llvm::enumerate(usable))
    for (const MethodCost *b : llvm::drop_begin(usable, i + 1)) {
      double slope = a->perTokenUs - b->perTokenUs;
      if (slope == 0.0)
        continue;
      double cross = (b->fixedUs - a->fixedUs) / slope;
      if (!(cross >= 0.0) || cross >= 9e18)
        continue;
      auto at = static_cast<int64_t>(std::floor(cross));
      for (int64_t p : {at - 1, at, satAdd(at, 1)})
        if (p >= 0)
          result.push_back(p);
    }
  return result;
}

//===----------------------------------------------------------------------===//
// Policies
//===----------------------------------------------------------------------===//

StringRef mlir::moe::stringifyPolicy(Policy policy) {
  switch (policy) {
  case Policy::Table:
    return "table";
  case Policy::CostModel:
    return "cost-model";
  case Policy::Fixed:
    return "fixed";
  }
  llvm_unreachable("unknown policy");
}

static constexpr Policy kPolicies[] = {Policy::Table, Policy::CostModel,
                                       Policy::Fixed};

std::optional<Policy> mlir::moe::symbolizePolicy(StringRef name) {
  for (Policy policy : kPolicies)
    if (stringifyPolicy(policy) == name)
      return policy;
  return std::nullopt;
}

EnumOptionValues mlir::moe::policyOptionValues() {
  auto describe = [](Policy policy) -> StringRef {
    switch (policy) {
    case Policy::Table:
      return "vllm-ascend's selection table";
    case Policy::CostModel:
      return "the legal method with the lowest modelled latency";
    case Policy::Fixed:
      return "the method of the `method` option everywhere";
    }
    llvm_unreachable("unknown policy");
  };
  llvm::SmallVector<EnumOptionValues::Value, 5> values;
  for (Policy policy : kPolicies)
    values.push_back({stringifyPolicy(policy), static_cast<int>(policy),
                      describe(policy)});
  return EnumOptionValues(std::move(values));
}

EnumOptionValues mlir::moe::commMethodOptionValues() {
  llvm::SmallVector<EnumOptionValues::Value, 5> values;
  for (uint32_t i = 0; i <= getMaxEnumValForCommMethod(); ++i)
    if (std::optional<CommMethod> method = symbolizeCommMethod(i))
      values.push_back({stringifyCommMethod(*method), static_cast<int>(i),
                        *method == CommMethod::Unset
                            ? "none (policy=fixed needs a method)"
                            : ""});
  return EnumOptionValues(std::move(values));
}

MethodSelector::MethodSelector(Policy policy, const CommMethodInputs &inputs,
                               CommMethod fixed)
    : policy(policy), inputs(inputs), fixed(fixed) {
  if (policy == Policy::CostModel)
    costModel.emplace(inputs);
}

Choice MethodSelector::decide(int64_t tokens) const {
  switch (policy) {
  case Policy::Table:
    return selectByTable(inputs, tokens);
  case Policy::CostModel:
    return costModel->select(tokens);
  case Policy::Fixed:
    return {fixed, "fixed by policy"};
  }
  llvm_unreachable("unknown policy");
}

SmallVector<int64_t> MethodSelector::breakpoints() const {
  switch (policy) {
  case Policy::Table: {
    // The table compares the token count with the capacities of MC2 and
    // fused MC2 only.
    SmallVector<int64_t> points;
    for (CommMethod m : {CommMethod::MC2, CommMethod::FusedMC2})
      if (int64_t max = checkMethod(m, inputs).maxTokens; max != kNoLimit)
        points.push_back(max);
    return points;
  }
  case Policy::CostModel:
    return costModel->breakpoints();
  case Policy::Fixed:
    return {};
  }
  llvm_unreachable("unknown policy");
}

//===----------------------------------------------------------------------===//
// Token ranges
//===----------------------------------------------------------------------===//

SmallVector<TokenSegment>
mlir::moe::partitionTokens(function_ref<Choice(int64_t)> decide,
                           ArrayRef<int64_t> breakpoints, int64_t horizon) {
  assert(horizon >= 0 && "negative token horizon");
  // The decision is constant strictly between consecutive points of
  // {0, horizon, b, b + 1}; one more point right after each of them
  // samples that constant.
  SmallVector<int64_t> points = {0, horizon};
  for (int64_t b : breakpoints)
    for (int64_t p : {b, satAdd(b, 1)})
      if (p >= 0 && p <= horizon)
        points.push_back(p);
  for (size_t i = 0, e = points.size(); i < e; ++i)
    if (points[i] < horizon)
      points.push_back(points[i] + 1);
  llvm::sort(points);
  points.erase(std::unique(points.begin(), points.end()), points.end());

  SmallVector<TokenSegment> segments;
  CommMethod current = decide(points.front()).method;
  for (int64_t p : llvm::drop_begin(points)) {
    Choice choice = decide(p);
    if (choice.method == current)
      continue;
    // Every count in (previous point, p) decides like the previous point.
    segments.push_back({p - 1, decide(p - 1)});
    current = choice.method;
  }
  if (segments.empty())
    return {{horizon, decide(horizon)}};
  int64_t first = segments.back().upTo + 1;
  segments.push_back({horizon, decide(first)});
  return segments;
}
