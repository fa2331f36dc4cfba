//===- ScheduleMultistream.cpp - gate and shared-expert overlap -----------===//
//
// vllm-ascend's multistream overlap (SEMANTICS §8) on level-2 IR, matching
// the op sequences of docs/Expansion.md:
//
//  - gate overlap (seed 000): the hidden-state all-gather moves to the gate
//    stream, which first waits for the main stream; the main stream waits
//    for it right before its first user;
// Dispatch-like and combine-like ops are those that say so (the
// Npu_DispatchesRows trait and Npu_CombineOpInterface).
//
//  - shared experts: the chain quantize -> gate-up -> activation -> down moves
//    to the shared stream, each stage ordered after an event the main stream
//    records at a point of the layer's routed path; the main stream waits for
//    the down projection right before the add.
//
// Finally every wait that orders nothing is dropped, using the analysis of
// moe-verify-streams, so the result verifies without warnings.
// See docs/Streams.md.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/StreamOrderAnalysis.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Dominance.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::moe {
#define GEN_PASS_DEF_SCHEDULEMULTISTREAM
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
constexpr int64_t kMainStream = 0;

bool onMainStream(Operation *op) {
  auto device = dyn_cast_or_null<npu::StreamOpInterface>(op);
  return device && device.getStreamId() == kMainStream;
}

void moveToStream(Operation *op, int64_t stream) {
  cast<npu::StreamOpInterface>(op).setStreamId(stream);
}

/// `%e = npu.record stream(stream)` at the builder's insertion point.
Value record(OpBuilder &builder, Location loc, int64_t stream) {
  return builder.create<npu::RecordOp>(
      loc, npu::EventType::get(builder.getContext()), stream);
}

/// `npu.wait %event stream(stream)` at the builder's insertion point.
void wait(OpBuilder &builder, Location loc, Value event, int64_t stream) {
  builder.create<npu::WaitOp>(loc, event, stream);
}

//===----------------------------------------------------------------------===//
// Gate overlap
//===----------------------------------------------------------------------===//

/// The hidden-state gather: its result is the `x` of a routing op. Gathers of
/// router logits and of per-token scales feed other operands and stay.
bool gathersHiddenStates(npu::AllGatherOp gather) {
  return llvm::any_of(gather->getUses(), [](OpOperand &use) {
    auto routing = dyn_cast<npu::MoeInitRoutingOp>(use.getOwner());
    return routing && use.get() == routing.getX();
  });
}

/// The op of `block` holding the first main-stream device op that uses
/// `value`, or null.
Operation *firstMainStreamUser(Value value, Block *block) {
  Operation *first = nullptr;
  for (Operation *user : value.getUsers()) {
    if (!onMainStream(user))
      continue;
    Operation *inBlock = block->findAncestorOpInBlock(*user);
    if (inBlock && (!first || inBlock->isBeforeInBlock(first)))
      first = inBlock;
  }
  return first;
}

void overlapGate(npu::AllGatherOp gather, int64_t gateStream) {
  Operation *user = firstMainStreamUser(gather.getResult(), gather->getBlock());
  if (!user)
    return;
  Location loc = gather.getLoc();
  OpBuilder builder(gather);
  // quant_stream.wait_stream(current_stream)
  wait(builder, loc, record(builder, loc, kMainStream), gateStream);
  gather.setStream(gateStream);
  // current_stream.wait_stream(quant_stream), before the gathered rows are
  // needed.
  builder.setInsertionPointAfter(gather);
  Value gathered = record(builder, loc, gateStream);
  builder.setInsertionPoint(user);
  wait(builder, loc, gathered, kMainStream);
}

//===----------------------------------------------------------------------===//
// Shared experts
//===----------------------------------------------------------------------===//

/// The stages of the shared-expert chain, in the order they run; each one
/// overlaps a part of the routed path.
enum Stage : unsigned { Quantize, GateUp, Activation, Down, NumStages };

/// `%s = npu.matmul (npu.swiglu (npu.matmul x')))` with the quantizations of
/// docs/Expansion.md, added as `npu.add %routed, %s`.
struct SharedChain {
  /// The `npu.add` and its first operand, the output of the routed experts.
  Operation *add;
  Value routed;
  /// The layer's hidden states, the chain's input.
  Value x;
  SmallVector<Operation *, 2> stages[NumStages];

  bool contains(Operation *op) const {
    return llvm::any_of(
        stages, [&](const auto &ops) { return llvm::is_contained(ops, op); });
  }
};

/// Whether every use of every result of `op` is owned by one of `chain`.
bool usedOnlyBy(Operation *op, ArrayRef<Operation *> chain) {
  return llvm::all_of(op->getUsers(), [&](Operation *user) {
    return llvm::is_contained(chain, user);
  });
}

std::optional<SharedChain> matchSharedChain(npu::AddOp add) {
  auto down = add.getRhs().getDefiningOp<npu::MatmulOp>();
  if (!down || add.getLhs() == add.getRhs() || !down->hasOneUse())
    return std::nullopt;
  Value activated = down.getX();
  auto requant = activated.getDefiningOp<npu::DynamicQuantOp>();
  if (requant)
    activated = requant.getX();
  auto swiglu = activated.getDefiningOp<npu::SwigluOp>();
  auto gateUp = swiglu ? swiglu.getX().getDefiningOp<npu::MatmulOp>() : nullptr;
  if (!gateUp)
    return std::nullopt;
  auto quant = gateUp.getX().getDefiningOp<npu::DynamicQuantOp>();

  SharedChain chain{add, add.getLhs(), gateUp.getX(), {}};
  SmallVector<Operation *> ops = {gateUp, swiglu, down};
  if (requant)
    ops.push_back(requant);
  // The input quantization belongs to the chain only if nothing else reads it.
  if (quant && usedOnlyBy(quant, {gateUp.getOperation()})) {
    ops.push_back(quant);
    chain.stages[Quantize].push_back(quant);
    chain.x = quant.getX();
  }
  chain.stages[GateUp].push_back(gateUp);
  chain.stages[Activation].push_back(swiglu);
  if (requant)
    chain.stages[Activation].push_back(requant);
  chain.stages[Down].push_back(down);

  for (Operation *op : ops)
    if (!onMainStream(op) || op->getBlock() != add->getBlock() ||
        (op != down && !usedOnlyBy(op, ops)))
      return std::nullopt;
  return chain;
}

/// The ops say their role in the layer (dialects/Npu/NpuDialect.td).
bool isDispatch(Operation *op) {
  return op->hasTrait<npu::OpTrait::DispatchesRows>();
}

/// `afterExperts`: a grouped matmul of the layer precedes `op`.
bool isCombine(Operation *op, bool afterExperts) {
  auto combine = dyn_cast<npu::CombineOpInterface>(op);
  return combine && combine.combinesExpertOutputs(afterExperts);
}

/// For every stage, the main-stream op before which the stage's event is
/// recorded: the layer's gate, its dispatch, the op after its first grouped
/// matmul (not counting the chain), its combine. A missing anchor falls back to
/// the nearest earlier one (leading missing ones to the first present); anchors
/// never go back in program order. Empty if the routed path has none.
SmallVector<Operation *, NumStages> findAnchors(const SharedChain &chain) {
  Block *block = chain.add->getBlock();
  BackwardSliceOptions options;
  options.inclusive = true;
  options.omitBlockArguments = true;
  // What comes before the layer's input belongs to earlier layers. (Bounding
  // the slice by position keeps the pass linear in the number of layers.)
  Operation *input = chain.x.getDefiningOp();
  if (input && input->getBlock() != block)
    input = nullptr;
  options.filter = [&](Operation *op) {
    return op->getBlock() == block && (!input || input->isBeforeInBlock(op));
  };
  SetVector<Operation *> routedSlice;
  if (Operation *def = chain.routed.getDefiningOp())
    getBackwardSlice(def, &routedSlice, options);
  SmallVector<Operation *> routed(routedSlice.begin(), routedSlice.end());
  llvm::sort(routed,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });

  Operation *gate = nullptr, *dispatch = nullptr, *firstExpertMatmul = nullptr,
            *combine = nullptr;
  for (Operation *op : routed) {
    if (!onMainStream(op))
      continue;
    if (!gate && isa<npu::MoeGatingTopKOp>(op))
      gate = op;
    if (!dispatch && isDispatch(op))
      dispatch = op;
    if (!firstExpertMatmul && isa<npu::GroupedMatmulOp>(op)) {
      firstExpertMatmul = op;
      continue;
    }
    if (!combine && isCombine(op, firstExpertMatmul != nullptr))
      combine = op;
  }
  Operation *afterExperts =
      firstExpertMatmul ? firstExpertMatmul->getNextNode() : nullptr;
  while (afterExperts && chain.contains(afterExperts))
    afterExperts = afterExperts->getNextNode();
  SmallVector<Operation *, NumStages> anchors = {gate, dispatch, afterExperts,
                                                 combine};

  auto firstPresent = llvm::find_if(anchors, [](Operation *op) { return op; });
  if (firstPresent == anchors.end())
    return {};
  Operation *previous = *firstPresent;
  for (Operation *&anchor : anchors) {
    if (!anchor || anchor->isBeforeInBlock(previous))
      anchor = previous;
    previous = anchor;
  }
  return anchors;
}

/// Whether every operand the chain does not compute is available at the
/// anchor its stage moves to.
bool canMoveToAnchors(const SharedChain &chain, ArrayRef<Operation *> anchors,
                      DominanceInfo &dominance) {
  for (unsigned stage = 0; stage != NumStages; ++stage)
    for (Operation *op : chain.stages[stage])
      for (Value operand : op->getOperands())
        if (!chain.contains(operand.getDefiningOp()) &&
            !dominance.properlyDominates(operand, anchors[stage]))
          return false;
  return true;
}

void overlapSharedExperts(const SharedChain &chain,
                          ArrayRef<Operation *> anchors, int64_t sharedStream) {
  OpBuilder builder(chain.add);
  Operation *lastAnchor = nullptr;
  Operation *down = chain.stages[Down].front();
  for (unsigned stage = 0; stage != NumStages; ++stage) {
    ArrayRef<Operation *> ops = chain.stages[stage];
    if (ops.empty())
      continue;
    Operation *anchor = anchors[stage];
    // Stages sharing an anchor share its event.
    if (anchor != lastAnchor) {
      Location loc = ops.front()->getLoc();
      builder.setInsertionPoint(anchor);
      wait(builder, loc, record(builder, loc, kMainStream), sharedStream);
      lastAnchor = anchor;
    }
    for (Operation *op : ops) {
      op->moveBefore(anchor);
      moveToStream(op, sharedStream);
    }
  }
  builder.setInsertionPointAfter(down);
  Value done = record(builder, down->getLoc(), sharedStream);
  builder.setInsertionPoint(chain.add);
  wait(builder, chain.add->getLoc(), done, kMainStream);
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// Drops the waits that add nothing to their stream's clock (and records
/// left without a wait). Removing one does not change any clock, so one
/// analysis finds them all.
void dropRedundantWaits(func::FuncOp func) {
  StreamOrderAnalysis analysis(func);
  if (!analysis.getUnsupportedOps().empty())
    return;
  for (npu::WaitOp redundant : analysis.getRedundantWaits()) {
    Value event = redundant.getEvent();
    redundant.erase();
    if (auto record = event.getDefiningOp<npu::RecordOp>();
        record && record->use_empty())
      record.erase();
  }
}

struct ScheduleMultistreamPass
    : public mlir::moe::impl::ScheduleMultistreamBase<ScheduleMultistreamPass> {
  using ScheduleMultistreamBase::ScheduleMultistreamBase;

  LogicalResult initialize(MLIRContext *context) override {
    if ((gateOverlap && gateStream <= kMainStream) ||
        (sharedExpertsOverlap && sharedStream <= kMainStream))
      return emitError(UnknownLoc::get(context))
             << "moe-schedule-multistream: auxiliary streams must be positive "
                "(0 is the main stream), got gate-stream="
             << gateStream.getValue()
             << " shared-stream=" << sharedStream.getValue();
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (gateOverlap) {
      SmallVector<npu::AllGatherOp> gathers;
      func.walk([&](npu::AllGatherOp gather) {
        if (onMainStream(gather) && gathersHiddenStates(gather))
          gathers.push_back(gather);
      });
      for (npu::AllGatherOp gather : gathers)
        overlapGate(gather, gateStream);
    }

    if (sharedExpertsOverlap) {
      SmallVector<SharedChain> chains;
      func.walk([&](npu::AddOp add) {
        if (!onMainStream(add))
          return;
        if (std::optional<SharedChain> chain = matchSharedChain(add))
          chains.push_back(std::move(*chain));
      });
      DominanceInfo dominance(func);
      for (const SharedChain &chain : chains) {
        SmallVector<Operation *, NumStages> anchors = findAnchors(chain);
        if (!anchors.empty() && canMoveToAnchors(chain, anchors, dominance))
          overlapSharedExperts(chain, anchors, sharedStream);
      }
    }

    dropRedundantWaits(func);
  }
};
} // namespace
