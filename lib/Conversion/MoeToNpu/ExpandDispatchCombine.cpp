//===- ExpandDispatchCombine.cpp - dispatch / combine per method ----------===//
//
// vllm-ascend's TokenDispatcherWithAllGather / All2AllV / MC2 (seed 002)
// and the fused MC2 kernel as npu ops; docs/Expansion.md "dispatch /
// combine" lists the sequences.
//
//===----------------------------------------------------------------------===//

#include "Expander.h"

#include "moe/Dialect/Moe/CommLegality.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::expand;

/// Logical expert ids mapped to physical replicas (EPLB), or the ids.
static Value physicalIds(OpBuilder &b, DispatchOp op) {
  Value ids = op.getIds();
  if (Value log2phy = op.getLog2phy())
    ids = b.create<npu::MapExpertIdsOp>(op.getLoc(), ids.getType(), ids,
                                        log2phy);
  return ids;
}

LogicalResult Expander::expandDispatch(DispatchOp op) {
  CommMethod method = op.getMethod();
  if (method == CommMethod::Unset)
    return op.emitOpError()
           << "has no communication method; run moe-select-comm-method "
              "first or give the method in its context type";
  if (method == CommMethod::FusedMC2)
    return expandFusedMc2(op);

  Location loc = op.getLoc();
  int64_t local = op.getNumLocalExperts();
  int64_t physical = op.getNumPhysicalExperts();
  int64_t ep = layout.getEpSize();
  Value hidden = op.getHidden();
  Value ids = physicalIds(b, op);
  Type rowsType = op.getRows().getType();
  Type countsType = op.getCounts().getType();
  Type indexVector = tensorType({ShapedType::kDynamic}, b.getI32Type());
  Type splitVector = tensorType({ShapedType::kDynamic}, b.getI64Type());
  DispatchedLayer info{};
  info.method = method;
  info.physicalExperts = physical;
  info.weights = op.getWeights();
  info.ids = ids;
  Value rows, counts;
  npu::GroupListType listType = npu::GroupListType::Count;

  switch (method) {
  case CommMethod::AllGather: {
    if (Value map = op.getExpertMap())
      info.weights =
          b.create<npu::MaskWeightsOp>(loc, info.weights.getType(),
                                     info.weights, ids, map);
    Value start = constantIndex(loc, 0);
    if (ep > 1)
      start = b.create<arith::MulIOp>(
          loc, b.create<npu::GroupRankOp>(loc, b.getIndexType(), npu::Group::EP),
          constantIndex(loc, local));
    auto routing = b.create<npu::MoeInitRoutingOp>(
        loc, rowsType, indexVector, countsType, /*expanded_scale=*/Type(),
        hidden, ids, /*scale=*/Value(), start, local, physical,
        /*quant_mode=*/-1, npu::GroupListType::Count);
    rows = routing.getExpandedX();
    counts = routing.getExpertTokens();
    info.rowIdx = routing.getExpandedRowIdx();
    break;
  }
  case CommMethod::AllToAll: {
    Value localCounts = b.create<npu::HistogramOp>(
        loc, tensorType({physical}, b.getI64Type()), ids, physical);
    Value globalCounts = allGather(loc, localCounts, npu::Group::EP);
    auto splits = b.create<npu::AllToAllSplitsOp>(
        loc, splitVector, splitVector, countsType, indexVector, localCounts,
        globalCounts, local, npu::Group::EP);
    auto permute = b.create<npu::MoeTokenPermuteOp>(loc, rowsType, indexVector,
                                                    hidden, ids);
    rows = b.create<npu::AllToAllVOp>(loc, rowsType, permute.getPermuted(),
                                      splits.getInputSplits(),
                                      splits.getOutputSplits(),
                                      npu::Group::EP);
    if (local > 1) {
      auto byExpert = b.create<npu::MoeTokenPermuteOp>(
          loc, rowsType, indexVector, rows, splits.getRecvExpertIds());
      rows = byExpert.getPermuted();
      info.localSorted = byExpert.getSortedIndices();
    }
    counts = splits.getTokensPerExpert();
    info.inSplits = splits.getInputSplits();
    info.outSplits = splits.getOutputSplits();
    info.sorted = permute.getSortedIndices();
    break;
  }
  case CommMethod::MC2: {
    // mc2 hands grouped matmuls cumulative group lists (group_list_type 0)
    // unless another user needs the counts of moe.dispatch.
    bool onlyExperts = llvm::all_of(op.getCounts().getUsers(), [](Operation *u) {
      return isa<ExpertsOp>(u);
    });
    listType = onlyExperts ? npu::GroupListType::Cumsum
                           : npu::GroupListType::Count;
    info.mask = masks.lookup(hidden);
    auto dispatch = b.create<npu::MoeDistributeDispatchOp>(
        loc, rowsType, indexVector, countsType,
        tensorType({local * ep}, b.getI32Type()), /*dynamic_scales=*/Type(),
        hidden, ids, info.mask, ep, physical, /*quant_mode=*/0, mc2Capacity(),
        listType);
    rows = dispatch.getExpandX();
    counts = dispatch.getExpertTokenNums();
    info.expandIdx = dispatch.getExpandIdx();
    info.recvCounts = dispatch.getEpRecvCounts();
    break;
  }
  case CommMethod::FusedMC2:
  case CommMethod::Unset:
    llvm_unreachable("handled above");
  }
  op.getRows().replaceAllUsesWith(rows);
  op.getCounts().replaceAllUsesWith(counts);
  groupListTypes[counts] = listType;
  dispatched[op.getCtx()] = info;
  pendingErase.push_back(op);
  return success();
}

LogicalResult Expander::expandCombine(CombineOp op) {
  auto it = dispatched.find(op.getCtx());
  if (it == dispatched.end())
    return op.emitOpError() << "cannot be expanded: its context does not come "
                               "from a moe.dispatch of this function";
  const DispatchedLayer &info = it->second;
  Location loc = op.getLoc();
  Value y = op.getExpertOut();
  Type resultType = op.getResult().getType();
  Type rowsType = dynamicRows(y.getType());
  Value out;
  switch (info.method) {
  case CommMethod::AllGather:
    out = b.create<npu::MoeTokenUnpermuteOp>(loc, resultType, y, info.rowIdx,
                                             info.weights);
    break;
  case CommMethod::AllToAll: {
    Value back = y;
    if (info.localSorted)
      back = b.create<npu::MoeTokenUnpermuteOp>(loc, rowsType, y,
                                                info.localSorted, Value());
    Value returned =
        b.create<npu::AllToAllVOp>(loc, rowsType, back, info.outSplits,
                                   info.inSplits, npu::Group::EP);
    out = b.create<npu::MoeTokenUnpermuteOp>(loc, resultType, returned,
                                             info.sorted, info.weights);
    break;
  }
  case CommMethod::MC2:
    out = b.create<npu::MoeDistributeCombineOp>(
        loc, resultType, y, info.ids, info.expandIdx, info.recvCounts,
        info.weights, info.mask, /*shared_expert_x=*/Value(),
        layout.getEpSize(), info.physicalExperts);
    break;
  case CommMethod::FusedMC2:
  case CommMethod::Unset:
    llvm_unreachable("fused_mc2 combines inside its fused op");
  }
  op.getResult().replaceAllUsesWith(out);
  eraseNow(op);
  return success();
}

LogicalResult Expander::expandFusedMc2(DispatchOp op) {
  // dispatch -> experts -> combine must be one chain to fuse.
  auto fail = [&](const Twine &why) {
    return op.emitOpError() << "cannot become one fused_mc2 kernel: " << why;
  };
  if (!op.getRows().hasOneUse() || !op.getCounts().hasOneUse())
    return fail("its rows and counts must feed exactly one moe.experts");
  auto experts = dyn_cast<ExpertsOp>(*op.getRows().getUsers().begin());
  if (!experts || experts.getRows() != op.getRows() ||
      experts.getCounts() != op.getCounts())
    return fail("its rows and counts must feed exactly one moe.experts");
  if (!experts.getResult().hasOneUse() || !op.getCtx().hasOneUse())
    return fail("the experts' output must feed exactly its moe.combine");
  auto combine = dyn_cast<CombineOp>(*experts.getResult().getUsers().begin());
  if (!combine || combine.getCtx() != op.getCtx())
    return fail("the experts' output must feed exactly its moe.combine");
  QuantScheme scheme = experts.getQuantOrNone().getScheme();
  if (std::string why = fusedMc2QuantObstacle(scheme); !why.empty())
    return fail(why);

  // The weights are available at the experts op; build the fused op there.
  b.setInsertionPoint(experts);
  Value ids = physicalIds(b, op);
  auto fused = b.create<npu::DispatchFfnCombineOp>(
      combine.getLoc(), combine.getResult().getType(), op.getHidden(), ids,
      op.getWeights(), masks.lookup(op.getHidden()), experts.getW13(),
      experts.getW2(), experts.getW13Scale(), experts.getW2Scale(),
      scheme == QuantScheme::None ? npu::MatmulQuant::None
                                  : npu::MatmulQuant::W8A8,
      layout.getEpSize(), op.getNumPhysicalExperts(), mc2Capacity());
  combine.getResult().replaceAllUsesWith(fused.getResult());
  eraseNow(combine);
  eraseNow(experts);
  eraseNow(op);
  return success();
}
