//===- DispatchCombine.cpp - dispatch / combine per method ----------------===//
//
// vllm-ascend's TokenDispatcherWithAllGather / All2AllV / MC2 / Moge
// (seed 002) and the fused MC2 kernel as npu ops; docs/Expansion.md "dispatch /
// combine" lists the sequences. The dispatch context becomes what combine
// needs (DispatchedParts); a fused_mc2 dispatch becomes, with its experts
// and combine, one npu.dispatch_ffn_combine, as vllm-ascend's
// `fused_experts` runs the three in one call.
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

#include "moe/Dialect/Moe/CommLegality.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

//===----------------------------------------------------------------------===//
// Decisions
//===----------------------------------------------------------------------===//

npu::GroupListType to_npu::groupListTypeOf(DispatchOp dispatch) {
  CommMethod method = dispatch.getMethod();
  if (method != CommMethod::MC2 && method != CommMethod::Moge)
    return npu::GroupListType::Count;
  bool onlyExperts =
      llvm::all_of(dispatch.getCounts().getUsers(),
                   [](Operation *user) { return isa<ExpertsOp>(user); });
  return onlyExperts ? npu::GroupListType::Cumsum : npu::GroupListType::Count;
}

FusedChain to_npu::matchFusedChain(DispatchOp dispatch) {
  // dispatch -> experts -> combine must be one chain to fuse.
  FusedChain chain;
  auto fail = [&](StringRef why) {
    chain.error = why.str();
    return chain;
  };
  if (!dispatch.getRows().hasOneUse() || !dispatch.getCounts().hasOneUse())
    return fail("its rows and counts must feed exactly one moe.experts");
  auto experts = dyn_cast<ExpertsOp>(*dispatch.getRows().getUsers().begin());
  if (!experts || experts.getRows() != dispatch.getRows() ||
      experts.getCounts() != dispatch.getCounts())
    return fail("its rows and counts must feed exactly one moe.experts");
  if (!experts.getResult().hasOneUse() || !dispatch.getCtx().hasOneUse())
    return fail("the experts' output must feed exactly its moe.combine");
  auto combine = dyn_cast<CombineOp>(*experts.getResult().getUsers().begin());
  if (!combine || combine.getCtx() != dispatch.getCtx())
    return fail("the experts' output must feed exactly its moe.combine");
  chain.experts = experts;
  chain.combine = combine;
  return chain;
}

std::string to_npu::checkMogeChain(DispatchOp dispatch) {
  // The experts apply topk_scales (seed 002: `gate_up_out *= topk_scales`),
  // so the rows must reach them and nothing else.
  FusedChain chain = matchFusedChain(dispatch);
  if (!chain.error.empty())
    return chain.error;
  return mogeQuantObstacle(chain.experts.getQuantOrNone().getScheme());
}

int64_t to_npu::mogeExpertsPerRank(DispatchOp dispatch, LayoutAttr layout) {
  return dispatch.getIds().getType().getDimSize(1) / layout.getEpSize();
}

std::string to_npu::checkFusedMc2Quant(DispatchOp dispatch,
                                       ExpertsOp experts) {
  (void)dispatch;
  // The legality query's rule (moe/Dialect/Moe/CommLegality.h).
  return fusedMc2QuantObstacle(experts.getQuantOrNone().getScheme());
}

/// The first expert this rank holds: its EP rank times the experts per rank
/// (0 without expert parallelism).
static Value firstLocalExpert(OpBuilder &b, Location loc, int64_t ep,
                              int64_t local) {
  if (ep <= 1)
    return to_npu::constantIndex(b, loc, 0);
  return b.create<arith::MulIOp>(
      loc, b.create<npu::GroupRankOp>(loc, b.getIndexType(), npu::Group::EP),
      to_npu::constantIndex(b, loc, local));
}

namespace {

/// What seed 002's TokenDispatcherWithMC2 decides from the SoC and the
/// software stack: `need_extra_args` (A3), `enable_dispatch_v2` and
/// `need_expert_scale` (hierarchical communication, A2). Without a chip the
/// call is an A2-like one with dispatch v2 (the chip attribute's defaults).
struct Mc2Call {
  bool a3 = false, v2 = true, hierarchical = false;

  npu::GroupAttr groupEp(OpBuilder &b) const {
    return npu::GroupAttr::get(b.getContext(), npu::Group::EP);
  }
  // A3: `group_tp = moe_all_to_all_group_name, tp_world_size = 1,
  // tp_rank_id = 0`.
  npu::GroupAttr groupTp(OpBuilder &b) const {
    return a3 ? groupEp(b) : npu::GroupAttr();
  }
  IntegerAttr tpWorldSize(OpBuilder &b) const {
    return a3 ? b.getI64IntegerAttr(1) : IntegerAttr();
  }
  IntegerAttr tpRankId(OpBuilder &b) const {
    return a3 ? b.getI64IntegerAttr(0) : IntegerAttr();
  }
};

Mc2Call mc2CallOf(const Deployment &deployment) {
  Mc2Call call;
  if (ChipAttr chip = deployment.chip) {
    call.a3 = chip.getKind() == ChipKind::A3;
    call.v2 = chip.getDispatchV2();
    call.hierarchical = chip.getHierarchicalComm();
  }
  return call;
}

/// `ep_rank_id = get_mc2_group().rank_in_group`.
Value epRankId(OpBuilder &b, Location loc) {
  return b.create<npu::GroupRankOp>(loc, b.getIndexType(), npu::Group::EP);
}

/// Logical expert ids mapped to physical replicas (EPLB), or the ids.
Value physicalIds(OpBuilder &b, Location loc, Value ids, Value log2phy) {
  if (log2phy)
    ids = b.create<npu::MapExpertIdsOp>(loc, ids.getType(), ids, log2phy);
  return ids;
}

/// The mc2 mask of the rows a dispatch sends: the mask prepare made for
/// them, when they come straight from a moe.prepare.
Value maskOfRows(ConversionPatternRewriter &rewriter, Value originalHidden) {
  auto prepare = originalHidden.getDefiningOp<PrepareOp>();
  if (!prepare || prepare.getPreparedHidden() != originalHidden)
    return Value();
  FailureOr<PreparedParts> parts =
      PreparedParts::unpack(rewriter.getRemappedValue(prepare.getCtx()));
  return succeeded(parts) ? parts->mask : Value();
}

//===----------------------------------------------------------------------===//
// dispatch
//===----------------------------------------------------------------------===//

struct DispatchPattern : StagePattern<DispatchOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(DispatchOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    CommMethod method = op.getMethod();
    if (method == CommMethod::Unset || method == CommMethod::FusedMC2)
      return rewriter.notifyMatchFailure(op, "not a separate dispatch");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    int64_t local = op.getNumLocalExperts();
    int64_t physical = op.getNumPhysicalExperts();
    int64_t ep = deployment.layout.getEpSize();
    Value hidden = adaptor.getHidden();
    Value ids = physicalIds(b, loc, adaptor.getIds(), adaptor.getLog2phy());
    recordExpertLoad(rewriter, loc, op, ids, maskOfRows(rewriter, op.getHidden()),
                     deployment);
    Type rowsType = op.getRows().getType();
    Type countsType = op.getCounts().getType();
    Type indexVector = tensorType({ShapedType::kDynamic}, b.getI32Type());
    Type splitVector = tensorType({ShapedType::kDynamic}, b.getI64Type());
    DispatchedParts parts;
    parts.weights = adaptor.getWeights();
    Value rows, counts;

    switch (method) {
    case CommMethod::AllGather: {
      // apply_router_weight_on_input (seed 002): the weights scale the
      // hidden states here, so the combine sums the rows with weight one.
      if (op.getRouterWeightOnInput()) {
        hidden = b.create<npu::ScaleRowsOp>(loc, hidden.getType(), hidden,
                                            parts.weights);
        parts.weights = b.create<npu::OnesLikeOp>(
            loc, parts.weights.getType(), parts.weights);
      }
      if (Value map = adaptor.getExpertMap())
        parts.weights = b.create<npu::MaskWeightsOp>(
            loc, parts.weights.getType(), parts.weights, ids, map);
      Value start = firstLocalExpert(b, loc, ep, local);
      auto routing = b.create<npu::MoeInitRoutingOp>(
          loc, rowsType, indexVector, countsType, /*expanded_scale=*/Type(),
          hidden, ids, /*scale=*/Value(), start, local, physical,
          npu::RoutingQuantMode::None, npu::GroupListType::Count);
      rows = routing.getExpandedX();
      counts = routing.getExpertTokens();
      parts.rowIdx = routing.getExpandedRowIdx();
      break;
    }
    case CommMethod::AllToAll: {
      Value localCounts = b.create<npu::HistogramOp>(
          loc, tensorType({physical}, b.getI64Type()), ids, physical);
      Value globalCounts = allGather(b, loc, localCounts, npu::Group::EP);
      auto splits = b.create<npu::AllToAllSplitsOp>(
          loc, splitVector, splitVector, countsType, indexVector, localCounts,
          globalCounts, local, npu::Group::EP);
      auto permute = b.create<npu::MoeTokenPermuteOp>(loc, rowsType,
                                                      indexVector, hidden, ids);
      rows = b.create<npu::AllToAllVOp>(
          loc, rowsType, permute.getPermuted(), splits.getInputSplits(),
          splits.getOutputSplits(), npu::Group::EP);
      if (local > 1) {
        auto byExpert = b.create<npu::MoeTokenPermuteOp>(
            loc, rowsType, indexVector, rows, splits.getRecvExpertIds());
        rows = byExpert.getPermuted();
        parts.localSorted = byExpert.getSortedIndices();
      }
      counts = splits.getTokensPerExpert();
      parts.inSplits = splits.getInputSplits();
      parts.outSplits = splits.getOutputSplits();
      parts.sorted = permute.getSortedIndices();
      break;
    }
    case CommMethod::MC2: {
      // TokenDispatcherWithMC2.get_dispatch_mc2_kwargs: every argument
      // under the seed's conditions (docs/Expansion.md "MC2's operator
      // contract").
      Mc2Call call = mc2CallOf(deployment);
      parts.ids = ids;
      Value mask = maskOfRows(rewriter, op.getHidden());
      // `if self.a3_need_extra_args and self.enable_dispatch_v2`.
      parts.mask = call.a3 && call.v2 ? mask : Value();
      // `if self.need_expert_scale: expert_scales = topk_weights`.
      Value expertScales = call.hierarchical ? parts.weights : Value();
      Type f32Vector = tensorType({ShapedType::kDynamic}, b.getF32Type());
      auto dispatch = b.create<npu::MoeDistributeDispatchOp>(
          loc, rowsType, call.v2 ? Type() : indexVector,
          call.v2 ? indexVector : Type(), countsType,
          tensorType({local * ep}, b.getI32Type()), /*dynamic_scales=*/Type(),
          /*tp_recv_counts=*/call.a3 ? tensorType({1}, b.getI32Type()) : Type(),
          /*expand_scales=*/expertScales ? f32Vector : Type(), hidden, ids,
          /*scales=*/Value(), parts.mask, expertScales,
          epRankId(b, loc), call.groupEp(b), b.getI64IntegerAttr(ep),
          call.groupTp(b), call.tpWorldSize(b), call.tpRankId(b),
          /*expert_shard_type=*/b.getI64IntegerAttr(0),
          /*shared_expert_rank_num=*/
          b.getI64IntegerAttr(deployment.layout.getSharedExpertRanks()),
          /*moe_expert_num=*/b.getI64IntegerAttr(physical),
          /*global_bs=*/b.getI64IntegerAttr(0),
          npu::DispatchQuantModeAttr::get(b.getContext(),
                                          npu::DispatchQuantMode::None),
          b.getI64IntegerAttr(mc2Capacity(deployment)),
          npu::GroupListTypeAttr::get(b.getContext(), groupListTypeOf(op)),
          call.v2 ? b.getUnitAttr() : UnitAttr(), IntegerAttr());
      rows = dispatch.getExpandX();
      counts = dispatch.getExpertTokenNums();
      parts.expandIdx = dispatch.getCombineInfo();
      parts.recvCounts = dispatch.getEpRecvCounts();
      break;
    }
    case CommMethod::Moge: {
      // TokenDispatcherWithMoge.token_dispatch: after the all-gather
      // prepare this rank takes top_k / ep experts of every token (the
      // routing is group-balanced, CommLegality.h mogeRoutingObstacle).
      Value start = firstLocalExpert(b, loc, ep, local);
      auto moge = b.create<npu::MogeDispatchOp>(
          loc, rowsType, indexVector, countsType,
          tensorType({ShapedType::kDynamic, 1}, b.getF32Type()), hidden, ids,
          parts.weights, start, local,
          mogeExpertsPerRank(op, deployment.layout), groupListTypeOf(op));
      rows = moge.getRows();
      counts = moge.getGroupList();
      parts.sortedIds = moge.getSortedIds();
      parts.topkScales = moge.getTopkScales();
      break;
    }
    case CommMethod::FusedMC2:
    case CommMethod::Unset:
      llvm_unreachable("handled above");
    }
    rewriter.replaceOp(op,
                       {rows, counts, parts.pack(b, loc, op.getCtx().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// combine
//===----------------------------------------------------------------------===//

struct CombinePattern : StagePattern<CombineOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(CombineOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<DispatchedParts> parts =
        DispatchedParts::unpack(adaptor.getCtx());
    auto dispatch = op.getCtx().getDefiningOp<DispatchOp>();
    if (failed(parts) || !dispatch)
      return rewriter.notifyMatchFailure(op, "context not from a dispatch");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Value y = adaptor.getExpertOut();
    Type resultType = op.getResult().getType();
    Type rowsType = dynamicRows(y.getType());
    Value out;
    switch (op.getCtx().getType().getMethod()) {
    case CommMethod::AllGather:
      out = b.create<npu::MoeTokenUnpermuteOp>(loc, resultType, y,
                                               parts->rowIdx, parts->weights);
      break;
    case CommMethod::AllToAll: {
      Value back = y;
      if (parts->localSorted)
        back = b.create<npu::MoeTokenUnpermuteOp>(loc, rowsType, y,
                                                  parts->localSorted, Value());
      Value returned =
          b.create<npu::AllToAllVOp>(loc, rowsType, back, parts->outSplits,
                                     parts->inSplits, npu::Group::EP);
      out = b.create<npu::MoeTokenUnpermuteOp>(loc, resultType, returned,
                                               parts->sorted, parts->weights);
      break;
    }
    case CommMethod::MC2: {
      // TokenDispatcherWithMC2.get_combine_mc_kwargs: the dispatch's
      // arguments and results (expand_idx or assist_info_for_combine,
      // ep_recv_counts, tp_recv_counts, expand_scales, the mask).
      auto npuDispatch =
          parts->expandIdx.getDefiningOp<npu::MoeDistributeDispatchOp>();
      if (!npuDispatch)
        return rewriter.notifyMatchFailure(op, "no npu MC2 dispatch");
      bool v2 = npuDispatch.getV2();
      out = b.create<npu::MoeDistributeCombineOp>(
          loc, resultType, y, parts->ids, v2 ? Value() : parts->expandIdx,
          v2 ? parts->expandIdx : Value(), parts->recvCounts, parts->weights,
          npuDispatch.getTpRecvCounts(), npuDispatch.getXActiveMask(),
          npuDispatch.getExpandScales(), /*shared_expert_x=*/Value(),
          npuDispatch.getEpRankId(), npuDispatch.getGroupEpAttr(),
          npuDispatch.getEpWorldSizeAttr(), npuDispatch.getGroupTpAttr(),
          npuDispatch.getTpWorldSizeAttr(), npuDispatch.getTpRankIdAttr(),
          npuDispatch.getExpertShardTypeAttr(),
          npuDispatch.getSharedExpertRankNumAttr(),
          npuDispatch.getMoeExpertNumAttr(), npuDispatch.getGlobalBsAttr(),
          npuDispatch.getV2Attr(), IntegerAttr());
      break;
    }
    case CommMethod::Moge:
      // TokenDispatcherWithMoge.token_combine: inverse permutation, view
      // [T, top_k / ep, H], sum; the experts applied the weights.
      out = b.create<npu::MogeCombineOp>(
          loc, resultType, y, parts->sortedIds,
          mogeExpertsPerRank(dispatch, deployment.layout));
      break;
    case CommMethod::FusedMC2:
    case CommMethod::Unset:
      return rewriter.notifyMatchFailure(op, "combined inside a fused kernel");
    }
    rewriter.replaceOp(op, out);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// fused_mc2: dispatch + experts + combine
//===----------------------------------------------------------------------===//

struct FusedMc2Pattern : StagePattern<DispatchOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(DispatchOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getMethod() != CommMethod::FusedMC2)
      return rewriter.notifyMatchFailure(op, "not fused_mc2");
    FusedChain chain = matchFusedChain(op);
    if (!chain.error.empty())
      return rewriter.notifyMatchFailure(op, chain.error);
    if (std::string why = checkFusedMc2Quant(op, chain.experts); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    ExpertsOp experts = chain.experts;
    CombineOp combine = chain.combine;
    QuantScheme scheme = experts.getQuantOrNone().getScheme();
    auto remapped = [&](Value v) {
      return v ? rewriter.getRemappedValue(v) : Value();
    };

    // The weights are available at the experts op; build the fused op there.
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(experts);
    Location loc = combine.getLoc();
    Value ids = physicalIds(rewriter, op.getLoc(), adaptor.getIds(),
                            adaptor.getLog2phy());
    recordExpertLoad(rewriter, op.getLoc(), op, ids,
                     maskOfRows(rewriter, op.getHidden()), deployment);
    auto fused = rewriter.create<npu::DispatchFfnCombineOp>(
        loc, combine.getResult().getType(), adaptor.getHidden(), ids,
        adaptor.getWeights(), maskOfRows(rewriter, op.getHidden()),
        remapped(experts.getW13()), remapped(experts.getW2()),
        remapped(experts.getW13Scale()), remapped(experts.getW2Scale()),
        scheme == QuantScheme::None ? npu::MatmulQuant::None
                                    : npu::MatmulQuant::W8A8,
        deployment.layout.getEpSize(), op.getNumPhysicalExperts(),
        mc2Capacity(deployment));
    rewriter.replaceOp(combine, fused.getResult());
    rewriter.eraseOp(experts);
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void to_npu::populateDispatchCombinePatterns(RewritePatternSet &patterns,
                                             const Deployment &deployment) {
  patterns.add<DispatchPattern, CombinePattern, FusedMc2Pattern>(
      patterns.getContext(), deployment);
}
