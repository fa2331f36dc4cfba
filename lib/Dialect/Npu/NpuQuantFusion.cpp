//===- NpuQuantFusion.cpp - dispatches that take over a dynamic_quant
//------===//
//
// Npu_QuantFusableDispatchOpInterface: the `npu.dynamic_quant` that
// convert-moe-to-npu puts after a dispatch (docs/Expansion.md) moves into or
// before it, so int8 rows plus one f32 scale per row travel
// (moe-fuse-quant-into-dispatch, SEMANTICS §7):
//
//   (a) allgather   moe_init_routing quant_mode(-1) + dynamic_quant
//                   -> moe_init_routing quant_mode(1)
//   (b) mc2         moe_distribute_dispatch quant_mode(0) + dynamic_quant
//                   -> moe_distribute_dispatch quant_mode(2)
//   (c) alltoall    permute, all_to_all_v, [permute by local expert,]
//                   dynamic_quant -> permute, dynamic_quant, all_to_all_v of
//                   the scales, then of the rows, [moe_init_routing with the
//                   scales, quant_mode(-1)]
//   (d) allgather over ep (sequence parallelism): all_gather + (a)
//                   -> dynamic_quant, all_gather of rows and of scales,
//                   moe_init_routing with the scales, quant_mode(-1)
//
// npu.moe_init_routing implements (a) and (d), npu.moe_distribute_dispatch
// (b), and npu.all_to_all_v (L = 1) and npu.moe_token_permute (L > 1, the
// permute by local expert after the exchange) implement (c).
//
// Per-row quantization commutes with moving and duplicating rows, so the
// result is bit-identical to quantizing after the dispatch. Only the matched
// ops change, and every refusal is reported once, as a remark on the
// dynamic_quant.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <string>

using namespace mlir;
using namespace mlir::npu;

namespace {

/// Why a dynamic_quant stays where it is: the reason, and the op in the way
/// with the note that points at it.
struct Blocker {
  std::string reason;
  Operation *culprit;
  const char *note;
};

using MaybeBlocker = std::optional<Blocker>;

} // namespace

//===----------------------------------------------------------------------===//
// Types and diagnostics
//===----------------------------------------------------------------------===//

static std::string opName(Operation *op) {
  return op->getName().getStringRef().str();
}

/// The type of `v` with element type i8.
static RankedTensorType int8Like(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.clone(IntegerType::get(type.getContext(), 8));
}

/// One f32 scale per row of `rows`.
static RankedTensorType rowScalesOf(Value rows) {
  auto type = cast<RankedTensorType>(rows.getType());
  return RankedTensorType::get({type.getDimSize(0)},
                               Float32Type::get(type.getContext()));
}

/// "The `what` are also used by ..." when `v` has a user besides `owner`.
static MaybeBlocker onlyUsedBy(Value v, Operation *owner, StringRef what) {
  for (Operation *user : v.getUsers())
    if (user != owner)
      return Blocker{
          (Twine("the ") + what + " are also used by '" + opName(user) + "'")
              .str(),
          user, "used here"};
  return std::nullopt;
}

static bool isInt8(MatmulQuant quant) {
  return quant == MatmulQuant::W8A8 || quant == MatmulQuant::W4A8;
}

/// `use` is the single operand of the optional operand group `group`.
static bool isOperand(OpOperand &use, MutableOperandRange group) {
  return group.size() == 1 &&
         group[0].getOperandNumber() == use.getOperandNumber();
}

/// The quantized rows of `dq` must be the activations of int8 grouped
/// matmuls (or of int8 matmuls: the shared experts MC2's shared-expert ranks
/// run on the dispatched rows), its scales their per-token scales (or the
/// per-token activation scale that npu.dequant_swiglu_quant applies to a
/// w8a8 accumulator).
static MaybeBlocker checkConsumers(DynamicQuantOp dq) {
  for (OpOperand &use : dq.getQ().getUses()) {
    Operation *user = use.getOwner();
    auto gmm = dyn_cast<GroupedMatmulOp>(user);
    auto mm = dyn_cast<MatmulOp>(user);
    bool int8Rows =
        (gmm && &use == &gmm.getXMutable() && isInt8(gmm.getQuant())) ||
        (mm && &use == &mm.getXMutable() && isInt8(mm.getQuant()));
    if (!int8Rows)
      return Blocker{"the quantized rows feed '" + opName(user) +
                         "', not the activations of an int8 grouped matmul",
                     user, "consumed here"};
  }
  for (OpOperand &use : dq.getScale().getUses()) {
    Operation *user = use.getOwner();
    if (auto gmm = dyn_cast<GroupedMatmulOp>(user);
        gmm && isInt8(gmm.getQuant()) &&
        isOperand(use, gmm.getPerTokenScaleMutable()))
      continue;
    if (auto mm = dyn_cast<MatmulOp>(user);
        mm && isInt8(mm.getQuant()) &&
        isOperand(use, mm.getPerTokenScaleMutable()))
      continue;
    if (auto dsq = dyn_cast<DequantSwigluQuantOp>(user);
        dsq && &use == &dsq.getActivationScaleMutable())
      continue;
    return Blocker{"the row scales feed '" + opName(user) +
                       "', not the per-token scale of an int8 grouped matmul",
                   user, "consumed here"};
  }
  return std::nullopt;
}

/// The rows `dq` quantizes must have no other user, and its results must be
/// consumed by int8 grouped matmuls.
static MaybeBlocker checkDispatchedRows(DynamicQuantOp dq) {
  if (MaybeBlocker blocker = onlyUsedBy(dq.getX(), dq, "dispatched rows"))
    return blocker;
  return checkConsumers(dq);
}

/// Remarks "<what>: <reason>" on `dq`, with a note on the op in the way.
static void remarkBlocked(DynamicQuantOp dq, const Twine &what,
                          const Blocker &blocker) {
  // Location-based: an op-based remark would print the whole op in a note,
  // which costs O(function size) per remark on large modules.
  InFlightDiagnostic diag = mlir::emitRemark(dq.getLoc())
                            << what << ": " << blocker.reason;
  diag.attachNote(blocker.culprit->getLoc()) << blocker.note;
}

static void remarkNotFused(DynamicQuantOp dq, Operation *dispatch,
                           const Blocker &blocker) {
  remarkBlocked(dq, "not fused into '" + opName(dispatch) + "'", blocker);
}

//===----------------------------------------------------------------------===//
// Rewrites
//===----------------------------------------------------------------------===//

/// Replaces `dq` by the int8 rows (first result) and row scales (last result)
/// of `fused`, which replaces `old`: the other results of `old` are replaced
/// by the results of `fused` at the same positions. Erases `dq` and `old`.
static void replaceQuantizedDispatch(RewriterBase &rewriter, DynamicQuantOp dq,
                                     Operation *old, Operation *fused) {
  rewriter.replaceOp(
      dq, ValueRange{fused->getResult(0), fused->getResults().back()});
  for (unsigned i = 1, e = old->getNumResults(); i < e; ++i)
    rewriter.replaceAllUsesWith(old->getResult(i), fused->getResult(i));
  rewriter.eraseOp(old);
}

/// `routing` rebuilt on `x` (with per-token `scale` when `x` is int8) in
/// `quant_mode`, producing the result types of `dq` for rows and scales.
static MoeInitRoutingOp rebuildRouting(RewriterBase &rewriter,
                                       MoeInitRoutingOp routing,
                                       DynamicQuantOp dq, Value x, Value scale,
                                       RoutingQuantMode quantMode) {
  rewriter.setInsertionPoint(routing);
  return rewriter.create<MoeInitRoutingOp>(
      routing.getLoc(), dq.getQ().getType(),
      routing.getExpandedRowIdx().getType(),
      routing.getExpertTokens().getType(), dq.getScale().getType(), x,
      routing.getExpertIdx(), scale, routing.getActiveStart(),
      routing.getLocalExpertsAttr(), routing.getExpertNumAttr(),
      RoutingQuantModeAttr::get(rewriter.getContext(), quantMode),
      routing.getExpertTokensNumTypeAttr(), routing.getStreamAttr());
}

/// (a) and (d): all-gather dispatch by npu.moe_init_routing. Its rows are
/// float (dynamic_quant takes nothing else), so it runs in quant_mode(-1)
/// without a scale operand.
static LogicalResult fuseIntoInitRouting(RewriterBase &rewriter,
                                         DynamicQuantOp dq,
                                         MoeInitRoutingOp routing) {
  if (MaybeBlocker blocker = checkDispatchedRows(dq)) {
    remarkNotFused(dq, routing, *blocker);
    return failure();
  }

  // (d): hidden states gathered over the EP group (sequence parallelism) are
  // quantized before the gather, as _prepare_with_ep_group does for W8A8.
  auto gather = routing.getX().getDefiningOp<AllGatherOp>();
  if (gather && gather.getGroup() == Group::EP) {
    if (MaybeBlocker blocker =
            onlyUsedBy(gather.getResult(), routing, "gathered rows")) {
      remarkBlocked(dq,
                    "fused into '" + opName(routing) +
                        "' but not moved before '" + opName(gather) + "'",
                    *blocker);
    } else {
      rewriter.setInsertionPoint(gather);
      Value local = gather.getInput();
      auto quant = rewriter.create<DynamicQuantOp>(dq.getLoc(), int8Like(local),
                                                   rowScalesOf(local), local,
                                                   gather.getStreamAttr());
      auto rows = rewriter.create<AllGatherOp>(
          gather.getLoc(), int8Like(gather.getResult()), quant.getQ(),
          gather.getGroupAttr(), gather.getStreamAttr());
      auto scales = rewriter.create<AllGatherOp>(
          gather.getLoc(), rowScalesOf(gather.getResult()), quant.getScale(),
          gather.getGroupAttr(), gather.getStreamAttr());
      MoeInitRoutingOp fused = rebuildRouting(rewriter, routing, dq, rows,
                                              scales, RoutingQuantMode::None);
      replaceQuantizedDispatch(rewriter, dq, routing, fused);
      rewriter.eraseOp(gather);
      return success();
    }
  }

  // (a): init-routing quantizes the rows it gathers.
  MoeInitRoutingOp fused = rebuildRouting(rewriter, routing, dq, routing.getX(),
                                          Value(), RoutingQuantMode::Dynamic);
  replaceQuantizedDispatch(rewriter, dq, routing, fused);
  return success();
}

/// (b): MC2 dispatch with dynamic quantization. Its rows are float, so it
/// runs in quant_mode(0).
static LogicalResult fuseIntoMc2Dispatch(RewriterBase &rewriter,
                                         DynamicQuantOp dq,
                                         MoeDistributeDispatchOp dispatch) {
  if (MaybeBlocker blocker = checkDispatchedRows(dq)) {
    remarkNotFused(dq, dispatch, *blocker);
    return failure();
  }
  rewriter.setInsertionPoint(dispatch);
  auto typeOf = [](Value v) { return v ? v.getType() : Type(); };
  auto fused = rewriter.create<MoeDistributeDispatchOp>(
      dispatch.getLoc(), dq.getQ().getType(), typeOf(dispatch.getExpandIdx()),
      typeOf(dispatch.getAssistInfoForCombine()),
      dispatch.getExpertTokenNums().getType(),
      dispatch.getEpRecvCounts().getType(), dq.getScale().getType(),
      typeOf(dispatch.getTpRecvCounts()), typeOf(dispatch.getExpandScales()),
      dispatch.getX(), dispatch.getExpertIds(), dispatch.getScales(),
      dispatch.getXActiveMask(), dispatch.getExpertScales(),
      dispatch.getEpRankId(), dispatch.getGroupEpAttr(),
      dispatch.getEpWorldSizeAttr(), dispatch.getGroupTpAttr(),
      dispatch.getTpWorldSizeAttr(), dispatch.getTpRankIdAttr(),
      dispatch.getExpertShardTypeAttr(), dispatch.getSharedExpertRankNumAttr(),
      dispatch.getMoeExpertNumAttr(), dispatch.getGlobalBsAttr(),
      DispatchQuantModeAttr::get(rewriter.getContext(),
                                 DispatchQuantMode::Dynamic),
      dispatch.getCapacityAttr(), dispatch.getExpertTokenNumsTypeAttr(),
      dispatch.getV2Attr(), dispatch.getStreamAttr());
  // The results by name: the fused op gains dynamic_scales in the middle.
  rewriter.replaceOp(dq, ValueRange{fused.getExpandX(), fused.getDynamicScales()});
  std::pair<Value, Value> same[] = {
      {dispatch.getExpandIdx(), fused.getExpandIdx()},
      {dispatch.getAssistInfoForCombine(), fused.getAssistInfoForCombine()},
      {dispatch.getExpertTokenNums(), fused.getExpertTokenNums()},
      {dispatch.getEpRecvCounts(), fused.getEpRecvCounts()},
      {dispatch.getTpRecvCounts(), fused.getTpRecvCounts()},
      {dispatch.getExpandScales(), fused.getExpandScales()}};
  for (auto [from, to] : same)
    if (from)
      rewriter.replaceAllUsesWith(from, to);
  rewriter.eraseOp(dispatch);
  return success();
}

/// The splits whose recv_expert_ids order the received rows by local expert
/// in `expertPermute`, or null.
static AllToAllSplitsOp splitsOf(MoeTokenPermuteOp expertPermute) {
  Value eids = expertPermute.getIndices();
  auto splits = eids.getDefiningOp<AllToAllSplitsOp>();
  return splits && splits.getRecvExpertIds() == eids ? splits
                                                     : AllToAllSplitsOp();
}

/// What keeps the all-to-all-v dispatch of `dq` from quantizing before the
/// exchange.
static MaybeBlocker checkAllToAllV(DynamicQuantOp dq, AllToAllVOp exchange,
                                   MoeTokenPermuteOp expertPermute) {
  if (MaybeBlocker blocker = checkDispatchedRows(dq))
    return blocker;
  if (expertPermute)
    if (MaybeBlocker blocker =
            onlyUsedBy(exchange.getResult(), expertPermute, "received rows"))
      return blocker;
  if (MaybeBlocker blocker =
          onlyUsedBy(exchange.getInput(), exchange, "permuted rows"))
    return blocker;
  if (expertPermute && !splitsOf(expertPermute))
    return Blocker{"the received rows are permuted by ids that are not the "
                   "recv_expert_ids of 'npu.alltoall_splits'",
                   expertPermute, "permuted here"};
  return std::nullopt;
}

/// (c): all-to-all-v dispatch. `rows` is what `dq` quantizes: the received
/// rows, or (L > 1) the received rows permuted by local expert.
static LogicalResult fuseIntoAllToAllV(RewriterBase &rewriter,
                                       DynamicQuantOp dq) {
  Value rows = dq.getX();
  auto expertPermute = rows.getDefiningOp<MoeTokenPermuteOp>();
  Value received = expertPermute ? expertPermute.getTokens() : rows;
  auto exchange = received.getDefiningOp<AllToAllVOp>();
  if (!exchange || !exchange.getInput().getDefiningOp<MoeTokenPermuteOp>())
    return failure();
  if (MaybeBlocker blocker = checkAllToAllV(dq, exchange, expertPermute)) {
    remarkNotFused(dq, exchange, *blocker);
    return failure();
  }

  // Quantize the locally permuted rows, exchange the scales, then the rows
  // (TokenDispatcherWithAll2AllV.token_dispatch with_quant).
  rewriter.setInsertionPoint(exchange);
  Value perm = exchange.getInput();
  auto quant = rewriter.create<DynamicQuantOp>(dq.getLoc(), int8Like(perm),
                                               rowScalesOf(perm), perm,
                                               exchange.getStreamAttr());
  auto exchangeLike = [&](Type type, Value input) {
    return rewriter.create<AllToAllVOp>(
        exchange.getLoc(), type, input, exchange.getSendSplits(),
        exchange.getRecvSplits(), exchange.getGroupAttr(),
        exchange.getStreamAttr());
  };
  Type scalesType =
      expertPermute ? Type(rowScalesOf(received)) : dq.getScale().getType();
  Type rowsType =
      expertPermute ? Type(int8Like(received)) : dq.getQ().getType();
  Value scales = exchangeLike(scalesType, quant.getScale());
  Value qrows = exchangeLike(rowsType, quant.getQ());

  if (!expertPermute) {
    rewriter.replaceOp(dq, ValueRange{qrows, scales});
    rewriter.eraseOp(exchange);
    return success();
  }

  // L > 1: order the int8 rows by local expert with init-routing, which
  // carries the scales along (_dispatch_postprocess, quantized branch). Its
  // expanded_row_idx equals the permute's sorted_indices: every id is in
  // [0, L), the sort is stable and K = 1. The counts of the grouped matmuls
  // stay the splits' tokens_per_expert.
  int64_t localExperts = splitsOf(expertPermute).getLocalExperts();
  rewriter.setInsertionPoint(expertPermute);
  Location loc = expertPermute.getLoc();
  Value zero = rewriter.create<arith::ConstantIndexOp>(loc, 0);
  auto fused = rewriter.create<MoeInitRoutingOp>(
      loc, dq.getQ().getType(), expertPermute.getSortedIndices().getType(),
      RankedTensorType::get({localExperts}, rewriter.getI64Type()),
      dq.getScale().getType(), qrows, expertPermute.getIndices(), scales, zero,
      rewriter.getI64IntegerAttr(localExperts),
      rewriter.getI64IntegerAttr(localExperts),
      RoutingQuantModeAttr::get(rewriter.getContext(), RoutingQuantMode::None),
      GroupListTypeAttr::get(rewriter.getContext(), GroupListType::Count),
      expertPermute.getStreamAttr());
  replaceQuantizedDispatch(rewriter, dq, expertPermute, fused);
  rewriter.eraseOp(exchange);
  return success();
}

//===----------------------------------------------------------------------===//
// Npu_QuantFusableDispatchOpInterface
//===----------------------------------------------------------------------===//

LogicalResult MoeInitRoutingOp::fuseDynamicQuant(DynamicQuantOp &quant,
                                                 RewriterBase &rewriter) {
  if (getExpandedX() != quant.getX())
    return failure();
  return fuseIntoInitRouting(rewriter, quant, *this);
}

LogicalResult
MoeDistributeDispatchOp::fuseDynamicQuant(DynamicQuantOp &quant,
                                          RewriterBase &rewriter) {
  if (getExpandX() != quant.getX())
    return failure();
  return fuseIntoMc2Dispatch(rewriter, quant, *this);
}

/// (c) with one local expert: the exchange's received rows are quantized.
LogicalResult AllToAllVOp::fuseDynamicQuant(DynamicQuantOp &quant,
                                            RewriterBase &rewriter) {
  return fuseIntoAllToAllV(rewriter, quant);
}

/// (c) with more than one local expert: the exchanged rows, permuted by local
/// expert, are quantized.
LogicalResult MoeTokenPermuteOp::fuseDynamicQuant(DynamicQuantOp &quant,
                                                  RewriterBase &rewriter) {
  return fuseIntoAllToAllV(rewriter, quant);
}
