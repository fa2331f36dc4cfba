//===- SelectCommMethod.cpp - choose the method of every MoE layer --------===//
//
// `moe-select-comm-method`: for every layer whose context types say `unset`,
// decide the communication method with the rules of CommMethodRules.h and
// either set it (one method fits every token count the layer can see) or
// duplicate the layer once per candidate method under an `scf.index_switch`
// on `moe.choose_method`.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Moe/Transforms/CommMethodRules.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::moe {
#define GEN_PASS_DEF_SELECTCOMMMETHOD
#include "moe/Dialect/Moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// One MoE layer: a `moe.prepare`, the `moe.finalize` consuming its context
/// and every op of their block on both the forward slice of the prepare and
/// the backward slice of the finalize (gate, dispatch, experts, combine, and
/// whatever else computes between them). `moe.shared_experts` works on the
/// layer's input, not on the prepare's results, and stays outside.
struct Layer {
  PrepareOp prepare;
  FinalizeOp finalize;
  DispatchOp dispatch;
  ExpertsOp experts; // null when the layer has none
  SmallVector<Operation *> ops; // in block order, prepare ... finalize
  llvm::SmallPtrSet<Operation *, 16> members;
};

} // namespace

/// `start` and the ops of its block that use its results, transitively (a
/// use nested in an op counts as a use by that op), not going past `stop`.
static llvm::SmallPtrSet<Operation *, 16> forwardInBlock(Operation *start,
                                                         Operation *stop) {
  Block *block = start->getBlock();
  llvm::SmallPtrSet<Operation *, 16> seen = {start};
  SmallVector<Operation *> worklist = {start};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    for (Operation *user : op->getUsers()) {
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (ancestor && ancestor != stop && seen.insert(ancestor).second)
        worklist.push_back(ancestor);
    }
  }
  return seen;
}

/// `end` and the ops of its block from `start` on whose results `end` (or
/// an op nested in it) depends on, transitively.
static llvm::SmallPtrSet<Operation *, 16> backwardInBlock(Operation *end,
                                                          Operation *start) {
  Block *block = end->getBlock();
  llvm::SmallPtrSet<Operation *, 16> seen = {end};
  SmallVector<Operation *> worklist = {end};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands()) {
        Operation *def = operand.getDefiningOp();
        Operation *ancestor = def ? block->findAncestorOpInBlock(*def) : nullptr;
        if (!ancestor || ancestor == op ||
            (ancestor != start && !start->isBeforeInBlock(ancestor)))
          continue;
        if (seen.insert(ancestor).second && ancestor != start)
          worklist.push_back(ancestor);
      }
    });
  }
  return seen;
}

/// Finds the layer `prepare` starts, or reports why it is malformed.
static FailureOr<Layer> collectLayer(PrepareOp prepare) {
  Value ctx = prepare.getCtx();
  size_t uses = std::distance(ctx.use_begin(), ctx.use_end());
  if (uses != 1)
    return prepare.emitError()
           << "the context of this moe.prepare has " << uses
           << " uses; a layer needs exactly one, by its moe.finalize";
  Operation *user = *ctx.user_begin();
  auto finalize = dyn_cast<FinalizeOp>(user);
  if (!finalize) {
    InFlightDiagnostic diag =
        prepare.emitError() << "the context of this moe.prepare is consumed by '"
                            << user->getName() << "', not by a moe.finalize";
    diag.attachNote(user->getLoc()) << "consumed here";
    return diag;
  }
  if (finalize->getBlock() != prepare->getBlock()) {
    InFlightDiagnostic diag =
        prepare.emitError() << "the moe.finalize of this layer is in another "
                               "block than its moe.prepare";
    diag.attachNote(finalize.getLoc()) << "moe.finalize here";
    return diag;
  }

  Layer layer;
  layer.prepare = prepare;
  layer.finalize = finalize;
  llvm::SmallPtrSet<Operation *, 16> forward =
      forwardInBlock(prepare, finalize);
  llvm::SmallPtrSet<Operation *, 16> backward =
      backwardInBlock(finalize, prepare);
  for (Operation &op : llvm::make_range(prepare->getIterator(),
                                        std::next(finalize->getIterator()))) {
    if (&op != finalize && !(forward.contains(&op) && backward.contains(&op)))
      continue;
    layer.ops.push_back(&op);
    layer.members.insert(&op);
  }
  // Shared experts feeding only this layer go with it, so every run-time
  // alternative is a whole layer that moe-schedule-multistream can overlap.
  if (Value shared = finalize.getShared()) {
    auto sharedOp = shared.getDefiningOp<SharedExpertsOp>();
    if (sharedOp && shared.hasOneUse() &&
        sharedOp->getBlock() == prepare->getBlock()) {
      layer.ops.insert(layer.ops.begin(), sharedOp);
      layer.members.insert(sharedOp);
    }
  }

  SmallVector<DispatchOp> dispatches;
  SmallVector<ExpertsOp> experts;
  for (Operation *op : layer.ops) {
    if (auto dispatch = dyn_cast<DispatchOp>(op))
      dispatches.push_back(dispatch);
    else if (auto mlp = dyn_cast<ExpertsOp>(op))
      experts.push_back(mlp);
    else if (isa<PrepareOp, FinalizeOp>(op) && op != prepare &&
             op != finalize) {
      InFlightDiagnostic diag =
          prepare.emitError() << "this MoE layer contains another layer's '"
                              << op->getName() << "'";
      diag.attachNote(op->getLoc()) << "nested here";
      return diag;
    }
  }
  if (dispatches.size() != 1) {
    InFlightDiagnostic diag =
        prepare.emitError() << "this MoE layer has " << dispatches.size()
                            << " moe.dispatch ops between its moe.prepare and "
                               "moe.finalize; expected one";
    diag.attachNote((dispatches.size() > 1 ? dispatches[1] : finalize)
                        ->getLoc())
        << (dispatches.size() > 1 ? "second moe.dispatch here"
                                  : "moe.finalize here");
    return diag;
  }
  if (experts.size() > 1) {
    InFlightDiagnostic diag =
        prepare.emitError() << "this MoE layer has " << experts.size()
                            << " moe.experts ops; expected at most one";
    diag.attachNote(experts[1].getLoc()) << "second moe.experts here";
    return diag;
  }
  layer.dispatch = dispatches.front();
  layer.experts = experts.empty() ? ExpertsOp() : experts.front();
  if (CommMethod method = layer.dispatch.getMethod();
      method != CommMethod::Unset) {
    InFlightDiagnostic diag =
        layer.dispatch.emitError()
        << "this moe.dispatch already uses method "
        << stringifyCommMethod(method) << " but its layer's moe.prepare is unset";
    diag.attachNote(prepare.getLoc()) << "moe.prepare here";
    return diag;
  }
  return layer;
}

/// What the rules need to know about `layer`.
static LayerFacts factsOf(const Layer &layer) {
  LayerFacts facts;
  DispatchOp dispatch = layer.dispatch;
  PrepareOp prepare = layer.prepare;
  facts.chip = lookupChip(prepare);
  facts.layout = lookupLayout(prepare);
  facts.experts = dispatch.getNumExperts();
  facts.redundantExperts = dispatch.getRedundantExperts();
  facts.topK = dispatch.getIds().getType().getDimSize(1);
  facts.routerWeightOnInput = dispatch.getRouterWeightOnInput();
  facts.balancedGroups = balancedGroupsOf(dispatch.getIds());
  facts.eplbTables = dispatch.getLog2phy() || dispatch.getExpertMap();
  RankedTensorType hidden = dispatch.getHidden().getType();
  facts.hidden = hidden.getDimSize(1);
  auto bytes = [](RankedTensorType type) {
    return std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
  };
  facts.hiddenBytes = bytes(hidden);
  facts.logitsBytes = bytes(prepare.getLogits().getType());
  if (ExpertsOp experts = layer.experts) {
    facts.intermediate =
        cast<RankedTensorType>(experts.getW2().getType()).getDimSize(1);
    facts.quant = experts.getQuantOrNone();
  }
  return facts;
}

/// Sets `method` in the context types of a layer's prepare and dispatch
/// after checking it with checkDispatchDeployment (the one place that knows
/// which layouts a method needs; the moe.layout verifier uses it too). On
/// failure `errorAt` gets an error quoting it.
static LogicalResult setMethod(PrepareOp prepare, DispatchOp dispatch,
                               CommMethod method, Operation *errorAt) {
  std::string message =
      checkDispatchDeployment(dispatch, method, lookupLayout(dispatch));
  if (!message.empty()) {
    InFlightDiagnostic diag =
        errorAt->emitError() << "method " << stringifyCommMethod(method)
                             << " is not legal for this layer: '"
                             << dispatch->getName() << "' op " << message;
    diag.attachNote(dispatch.getLoc()) << "moe.dispatch here";
    return diag;
  }
  MLIRContext *ctx = prepare.getContext();
  prepare.getCtx().setType(PrepareCtxType::get(ctx, method));
  dispatch.getCtx().setType(DispatchCtxType::get(ctx, method));
  return success();
}

/// Reports a result of a layer op used outside the layer: such a layer
/// cannot be duplicated per method.
static LogicalResult checkSelfContained(const Layer &layer) {
  Block *block = layer.prepare->getBlock();
  for (Operation *op : layer.ops) {
    if (op == layer.finalize)
      continue;
    for (OpOperand &use : op->getUses()) {
      Operation *ancestor = block->findAncestorOpInBlock(*use.getOwner());
      if (ancestor && layer.members.contains(ancestor))
        continue;
      InFlightDiagnostic diag =
          op->emitError()
          << "result #" << cast<OpResult>(use.get()).getResultNumber()
          << " of this '" << op->getName()
          << "' is used outside its MoE layer, which is duplicated per "
             "candidate method; only the moe.finalize result may leave it";
      diag.attachNote(use.getOwner()->getLoc()) << "used here";
      return diag;
    }
  }
  return success();
}

/// Replaces `layer` by `moe.choose_method` and an `scf.index_switch` with one
/// copy of the layer per segment, each with the segment's method.
static LogicalResult buildRunTimeChoice(Layer &layer,
                                        ArrayRef<TokenSegment> segments) {
  OpBuilder builder(layer.finalize);
  MLIRContext *ctx = builder.getContext();
  SmallVector<int64_t> thresholds;
  SmallVector<Attribute> methods;
  for (const TokenSegment &segment : segments) {
    methods.push_back(CommMethodAttr::get(ctx, segment.choice.method));
    if (&segment != &segments.back())
      thresholds.push_back(segment.upTo);
  }
  Value index = builder.create<ChooseMethodOp>(
      layer.prepare.getLoc(), builder.getIndexType(),
      layer.prepare.getHidden(), thresholds, builder.getArrayAttr(methods));
  auto cases = llvm::to_vector(llvm::seq<int64_t>(0, segments.size() - 1));
  auto switchOp = builder.create<scf::IndexSwitchOp>(
      layer.finalize.getLoc(), layer.finalize.getType(), index, cases,
      cases.size());
  for (auto [i, segment] : llvm::enumerate(segments)) {
    Region &region = i < cases.size() ? switchOp.getCaseRegions()[i]
                                      : switchOp.getDefaultRegion();
    OpBuilder::InsertionGuard guard(builder);
    builder.createBlock(&region);
    IRMapping mapping;
    for (Operation *op : layer.ops)
      builder.clone(*op, mapping);
    auto prepare = cast<PrepareOp>(
        mapping.lookup(layer.prepare.getCtx()).getDefiningOp());
    auto dispatch = cast<DispatchOp>(
        mapping.lookup(layer.dispatch.getCtx()).getDefiningOp());
    if (failed(setMethod(prepare, dispatch, segment.choice.method,
                         layer.prepare))) {
      switchOp.erase();
      index.getDefiningOp()->erase();
      return failure();
    }
    builder.create<scf::YieldOp>(layer.finalize.getLoc(),
                                 mapping.lookup(layer.finalize.getResult()));
  }
  layer.finalize.getResult().replaceAllUsesWith(switchOp.getResult(0));
  for (Operation *op : llvm::reverse(layer.ops))
    op->erase();
  return success();
}

/// The remark of a decided layer: its method(s) and why. `bound` is the
/// `max_tokens` of a dynamic token count, `isStatic` tells a static count.
static std::string describe(ArrayRef<TokenSegment> segments,
                            std::optional<int64_t> bound, bool isStatic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (segments.size() == 1) {
    const Choice &choice = segments.front().choice;
    os << stringifyCommMethod(choice.method);
    if (!isStatic && bound)
      os << " for up to " << *bound << " tokens (max_tokens)";
    else if (!isStatic)
      os << " for any token count";
    os << ": " << choice.reason;
    return text;
  }
  os << "run-time choice on the largest token count across ranks";
  if (bound)
    os << " (at most " << *bound << ")";
  os << ": ";
  for (const TokenSegment &segment : segments.drop_back())
    os << stringifyCommMethod(segment.choice.method) << " up to "
       << segment.upTo << " tokens (" << segment.choice.reason << "); ";
  os << stringifyCommMethod(segments.back().choice.method) << " above ("
     << segments.back().choice.reason << ")";
  return text;
}

/// The cost model's token horizon: `horizon`, extended past every capacity
/// of a method that can run the layer, so that the last segment (which also
/// stands for every larger count) is a method without a capacity.
static int64_t costModelHorizon(const CommMethodInputs &inputs,
                                int64_t horizon) {
  for (CommMethod method : {CommMethod::MC2, CommMethod::FusedMC2}) {
    MethodLegality legality = checkMethod(method, inputs);
    if (legality.obstacle.empty() && legality.maxTokens != kAnyTokenCount)
      horizon = std::max(horizon, legality.maxTokens + 1);
  }
  return horizon;
}

/// Checks the decided segments against the legality query: a policy picks
/// a method only where it can run (up to `bound`, or for every count in the
/// last segment), and a fixed method must accept the layer's static token
/// count and, for fused_mc2, its experts' quantization.
static LogicalResult checkSegments(PrepareOp prepare, Policy policy,
                                   const CommMethodInputs &inputs,
                                   ArrayRef<TokenSegment> segments,
                                   std::optional<int64_t> bound) {
  for (const TokenSegment &segment : segments) {
    CommMethod method = segment.choice.method;
    MethodLegality legality = checkMethod(method, inputs);
    int64_t most = &segment == &segments.back()
                       ? bound.value_or(kAnyTokenCount)
                       : segment.upTo;
    std::string why;
    if (policy == Policy::Fixed) {
      if (method == CommMethod::FusedMC2 && inputs.layer.quant)
        why = fusedMc2QuantObstacle(inputs.layer.quant.getScheme());
      if (why.empty() && inputs.layer.routerWeightOnInput &&
          method != CommMethod::AllGather)
        why = legality.obstacle;
      // Every rule of moge (routing, placement, quantization) is one its
      // dispatcher computes a wrong result without.
      if (why.empty() && method == CommMethod::Moge)
        why = legality.obstacle;
      if (why.empty() && bound && most > legality.runTimeMaxTokens)
        why = tokensVsCapacity(most, legality.runTimeMaxTokens,
                               "MC2 kernel capacity");
    } else if (inputs.layer.layout.getSharedExpertRanks() > 0) {
      // Only mc2 serves shared-expert ranks, at every token count: its
      // kernel capacity is then a run-time limit, as under policy=fixed.
      why = legality.obstacle;
      if (why.empty() && bound && most > legality.runTimeMaxTokens)
        why = tokensVsCapacity(most, legality.runTimeMaxTokens,
                               "MC2 kernel capacity");
    } else {
      why = legality.whyNot(most);
    }
    if (!why.empty())
      return prepare.emitError()
             << "method " << stringifyCommMethod(method)
             << " cannot run this layer"
             << (policy == Policy::Fixed ? "" : " (internal error: the policy "
                                                "picked it)")
             << ": " << why;
  }
  return success();
}

namespace {
struct SelectCommMethodPass
    : public mlir::moe::impl::SelectCommMethodBase<SelectCommMethodPass> {
  using SelectCommMethodBase::SelectCommMethodBase;

  void runOnOperation() override;

private:
  /// Parses the options; reports the first invalid one at `func`.
  LogicalResult parseOptions(func::FuncOp func);
  LogicalResult selectLayer(PrepareOp prepare);

  Policy parsedPolicy = Policy::Table;
  CommMethod fixedMethod = CommMethod::Unset;
  ServingConfig config;

  /// ServingConfig::fromOptions reads the serving options.
  friend struct mlir::moe::ServingConfig;
};
} // namespace

LogicalResult SelectCommMethodPass::parseOptions(func::FuncOp func) {
  // `policy` and `method` are enum options: the option parser rejects
  // unknown names (with the same message for moe-opt and the embedding
  // APIs); what is left are the combinations.
  parsedPolicy = policy;
  fixedMethod = method;
  if (fixedMethod != CommMethod::Unset && parsedPolicy != Policy::Fixed)
    return func.emitError() << "method=" << stringifyCommMethod(fixedMethod)
                            << " is only used with policy=fixed, not policy="
                            << stringifyPolicy(parsedPolicy);
  if (fixedMethod == CommMethod::Unset && parsedPolicy == Policy::Fixed)
    return func.emitError() << "policy=fixed needs method=<allgather, "
                               "alltoall, mc2, fused_mc2 or moge>";
  config = ServingConfig::fromOptions(*this);
  std::string error = config.validate();
  if (error.empty() && maxTokens < 0)
    error = "option max-tokens must be at least 0, got " +
            std::to_string(maxTokens);
  if (!error.empty())
    return func.emitError() << error;
  return success();
}

LogicalResult SelectCommMethodPass::selectLayer(PrepareOp prepare) {
  FailureOr<Layer> layer = collectLayer(prepare);
  if (failed(layer))
    return failure();
  CommMethodInputs inputs{config, factsOf(*layer)};
  // Two requirements no method meets at once.
  if (inputs.layer.routerWeightOnInput && inputs.config.lora &&
      inputs.layer.layout.useEp())
    return layer->dispatch.emitError()
           << "no method runs this layer: the router weight on the input "
              "needs allgather, LoRA with expert parallelism needs alltoall";
  if (int64_t shared = inputs.layer.layout.getSharedExpertRanks())
    if (std::string why = checkMethod(CommMethod::MC2, inputs).obstacle;
        !why.empty())
      return layer->dispatch.emitError()
             << "no method runs this layer: shared_expert_ranks = " << shared
             << " needs mc2 (shared_expert_rank_num), which cannot: " << why;
  Policy layerPolicy = parsedPolicy;
  if (layerPolicy != Policy::Fixed && !inputs.layer.chip) {
    // Without expert parallelism every policy gives allgather; only layers
    // with a choice need to know the chip.
    if (inputs.layer.layout.useEp())
      return prepare.emitError()
             << "policy=" << stringifyPolicy(parsedPolicy)
             << " needs the target chip: put a moe.chip attribute (e.g. "
                "#moe.chip<A3>) on an enclosing op";
    layerPolicy = Policy::Table;
  }
  MethodSelector selector(layerPolicy, inputs, fixedMethod);

  // The token counts this layer can see: one, [0, max_tokens], or any.
  int64_t tokens = prepare.getHidden().getType().getDimSize(0);
  bool isStatic = !ShapedType::isDynamic(tokens);
  std::optional<int64_t> bound;
  if (std::optional<uint64_t> maxTokensAttr = prepare.getMaxTokens())
    bound = static_cast<int64_t>(*maxTokensAttr);
  SmallVector<TokenSegment> segments;
  if (layerPolicy == Policy::Fixed || isStatic) {
    int64_t at = isStatic ? tokens : 0;
    segments.push_back({at, selector.decide(at)});
  } else {
    SmallVector<int64_t> breakpoints = selector.breakpoints();
    int64_t horizon;
    if (bound)
      horizon = *bound;
    else if (layerPolicy == Policy::CostModel)
      horizon = costModelHorizon(inputs, maxTokens > 0
                                             ? static_cast<int64_t>(maxTokens)
                                             : config.maxNumBatchedTokens);
    else { // The table decides alike above its largest breakpoint.
      int64_t last = 0;
      for (int64_t b : breakpoints)
        last = std::max(last, b);
      horizon = last == std::numeric_limits<int64_t>::max() ? last : last + 1;
    }
    segments = partitionTokens(
        [&](int64_t t) { return selector.decide(t); }, breakpoints, horizon);
  }
  if (failed(checkSegments(prepare, layerPolicy, inputs, segments,
                           isStatic ? std::optional<int64_t>(tokens) : bound)))
    return failure();
  std::string remark = describe(segments, bound, isStatic);

  // Remarks are location-based (see FuseQuantIntoDispatch's remarkBlocked).
  if (segments.size() == 1) {
    if (failed(setMethod(prepare, layer->dispatch,
                         segments.front().choice.method, prepare)))
      return failure();
    mlir::emitRemark(prepare.getLoc()) << remark;
    return success();
  }
  if (failed(checkSelfContained(*layer)))
    return failure();
  // Remark first: the layer's ops are erased below.
  mlir::emitRemark(prepare.getLoc()) << remark;
  return buildRunTimeChoice(*layer, segments);
}

void SelectCommMethodPass::runOnOperation() {
  func::FuncOp func = getOperation();
  // Under a moe.layout its verifier has checked the layers; without one the
  // single-device default applies and nothing else checks them against it.
  bool hasLayout = false;
  for (Operation *op = func; op && !hasLayout; op = op->getParentOp())
    hasLayout = op->hasAttr(MoeDialect::kLayoutAttrName);
  if (!hasLayout &&
      failed(verifyDeployment(func, lookupLayout(func), /*layoutHolder=*/nullptr)))
    return signalPassFailure();
  // Post-order: a layer nested in a region of another layer's op is
  // handled before the outer layer duplicates that op.
  SmallVector<PrepareOp> prepares;
  func.walk([&](PrepareOp prepare) {
    if (prepare.getMethod() == CommMethod::Unset)
      prepares.push_back(prepare);
  });
  if (prepares.empty())
    return;
  if (failed(parseOptions(func)))
    return signalPassFailure();
  bool failedAny = false;
  for (PrepareOp prepare : prepares)
    failedAny |= failed(selectLayer(prepare));
  if (failedAny)
    signalPassFailure();
}
