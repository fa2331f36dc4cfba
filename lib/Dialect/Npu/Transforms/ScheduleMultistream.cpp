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
//  - shared experts: the ops the conversion marked as a layer's shared
//    experts (`npu.shared_expert`: quantize -> gate-up -> activation -> down)
//    move to the shared stream, each stage ordered after an event the main
//    stream records at a point of the layer's routed path; the main stream
//    waits for the down projection right before the add.
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
/// overlaps a part of the routed path. The conversion marks every op of the
/// chain with its stage (`npu.shared_expert`, dialects/Npu/NpuDialect.td).
using Stage = npu::SharedExpertStage;
constexpr unsigned NumStages = static_cast<unsigned>(Stage::Down) + 1;

/// The ops of one layer's shared experts, by stage, and where their result
/// joins the routed output: `npu.add %routed, %shared`.
struct SharedChain {
  /// The `npu.add` and its other operand, the output of the routed experts.
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

/// The chain whose down projection is `down`: the marked ops it reads,
/// transitively, grouped by their marks. None when its result is not added
/// to another value by one `npu.add`, when a stage reads a later one, or when
/// an op of the chain is on another stream, in another block, or read outside
/// the chain (except the input quantization, which then stays where it is:
/// the routed path reads it too).
std::optional<SharedChain> collectSharedChain(Operation *down,
                                              npu::NpuDialect *dialect) {
  auto helper = dialect->getSharedExpertAttrHelper();
  if (!down->hasOneUse() || down->getNumResults() != 1)
    return std::nullopt;
  auto add = dyn_cast<npu::AddOp>(*down->user_begin());
  if (!add || add.getLhs() == add.getRhs() ||
      add->getBlock() != down->getBlock())
    return std::nullopt;
  Value shared = down->getResult(0);
  SharedChain chain{
      add, add.getLhs() == shared ? add.getRhs() : add.getLhs(), Value(), {}};

  // The marked producers of `down`, backwards; each stage no later than its
  // consumer's.
  SmallVector<Operation *> ops = {down}, worklist = {down};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    Stage consumer = helper.getAttr(op).getValue();
    for (Value operand : op->getOperands()) {
      Operation *producer = operand.getDefiningOp();
      if (!producer || !helper.isAttrPresent(producer) ||
          llvm::is_contained(ops, producer))
        continue;
      if (helper.getAttr(producer).getValue() > consumer)
        return std::nullopt;
      ops.push_back(producer);
      worklist.push_back(producer);
    }
  }

  SmallVector<Operation *> kept;
  for (Operation *op : ops) {
    Stage stage = helper.getAttr(op).getValue();
    if (!onMainStream(op) || op->getBlock() != add->getBlock())
      return std::nullopt;
    if (op != down && !usedOnlyBy(op, ops)) {
      if (stage != Stage::Quantize)
        return std::nullopt;
      continue;
    }
    kept.push_back(op);
  }
  // Program order within each stage.
  llvm::sort(kept,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  for (Operation *op : kept)
    chain.stages[static_cast<unsigned>(helper.getAttr(op).getValue())]
        .push_back(op);
  // The input: what the first stage reads from outside the chain.
  for (const auto &stage : chain.stages) {
    if (stage.empty())
      continue;
    chain.x = stage.front()->getOperand(0);
    break;
  }
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
  // The op the add reads: every op of the chain is one of its producers, so
  // it is the last of its stage in program order (a gated shared expert's
  // npu.scale_rows after the down matmul).
  Operation *down = chain.stages[static_cast<unsigned>(Stage::Down)].back();
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
      auto *dialect = getContext().getLoadedDialect<npu::NpuDialect>();
      auto helper = dialect->getSharedExpertAttrHelper();
      SmallVector<SharedChain> chains;
      func.walk([&](Operation *op) {
        if (helper.isAttrPresent(op) &&
            helper.getAttr(op).getValue() == Stage::Down && onMainStream(op))
          if (std::optional<SharedChain> chain =
                  collectSharedChain(op, dialect))
            chains.push_back(std::move(*chain));
      });
      DominanceInfo dominance(func);
      for (const SharedChain &chain : chains) {
        SmallVector<Operation *, NumStages> anchors = findAnchors(chain);
        if (!anchors.empty() && canMoveToAnchors(chain, anchors, dominance))
          overlapSharedExperts(chain, anchors, sharedStream);
      }
    }

    // Drop the waits that add nothing to their stream's clock (and records
    // left without a wait). The analysis of the scheduled function, not one
    // an earlier pass kept: it stays exact after the erasure, so the
    // moe-verify-streams that follows in moe-compile reuses it.
    getAnalysisManager().invalidate(detail::PreservedAnalyses());
    auto &analysis = getAnalysis<StreamOrderAnalysis>();
    if (analysis.getUnsupportedOps().empty())
      analysis.eraseRedundantWaits();
    markAnalysesPreserved<StreamOrderAnalysis>();
  }
};
} // namespace
