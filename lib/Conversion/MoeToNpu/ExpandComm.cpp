//===- ExpandComm.cpp - the moe-expand-comm pass --------------------------===//
//
// Walks a function in program order and rewrites every moe op into the npu
// device ops of its communication method (docs/Expansion.md). The stages
// live in ExpandPrepareFinalize.cpp, ExpandDispatchCombine.cpp and
// ExpandExperts.cpp; this file has the driver, the helpers they share, and
// the gate and run-time method choice.
//
//===----------------------------------------------------------------------===//

#include "Expander.h"

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::moe {
#define GEN_PASS_DEF_EXPANDCOMM
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::expand;

Expander::Expander(func::FuncOp function, bool checkMc2Capacity)
    : function(function), b(function.getContext()),
      layout(lookupLayout(function)), chip(lookupChip(function)),
      checkMc2Capacity(checkMc2Capacity) {}

LogicalResult Expander::run() {
  SmallVector<Operation *> ops;
  function.walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (isa<MoeDialect>(op->getDialect()))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    if (erased.contains(op))
      continue;
    b.setInsertionPoint(op);
    if (failed(expand(op)))
      return failure();
  }
  // Prepare and dispatch go last: their contexts are used until finalize and
  // combine have been expanded.
  for (Operation *op : llvm::reverse(pendingErase)) {
    for (Value result : op->getResults())
      if (!result.use_empty())
        return op->emitOpError()
               << "cannot be expanded: its result is used by '"
               << (*result.getUsers().begin())->getName()
               << "', which is not a stage of its layer";
    op->erase();
  }
  return success();
}

LogicalResult Expander::expand(Operation *op) {
  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](PrepareOp o) { return expandPrepare(o); })
      .Case([&](FinalizeOp o) { return expandFinalize(o); })
      .Case([&](GateOp o) { return expandGate(o); })
      .Case([&](DispatchOp o) { return expandDispatch(o); })
      .Case([&](CombineOp o) { return expandCombine(o); })
      .Case([&](ExpertsOp o) { return expandExperts(o); })
      .Case([&](SharedExpertsOp o) { return expandSharedExperts(o); })
      .Case([&](ChooseMethodOp o) { return expandChooseMethod(o); })
      .Default([](Operation *) -> LogicalResult {
        llvm_unreachable("every moe op has an expansion");
      });
}

void Expander::replace(Operation *op, ValueRange values) {
  for (auto [from, to] : llvm::zip(op->getResults(), values))
    if (to)
      from.replaceAllUsesWith(castTo(op->getLoc(), to, from.getType()));
}

void Expander::eraseNow(Operation *op) {
  erased.insert(op);
  op->erase();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Value Expander::tokenCount(Location loc, Value tensor) {
  if (Value known = rowCounts.lookup(tensor))
    return known;
  return b.create<tensor::DimOp>(loc, tensor, 0);
}

Value Expander::constantIndex(Location loc, int64_t v) {
  return b.create<arith::ConstantIndexOp>(loc, v);
}

Value Expander::castTo(Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return b.create<tensor::CastOp>(loc, type, value);
}

RankedTensorType Expander::dynamicRows(Type type) {
  return cast<RankedTensorType>(withDynamicTokens(type));
}

RankedTensorType Expander::tensorType(ArrayRef<int64_t> shape, Type elem) {
  return RankedTensorType::get(shape, elem);
}

//===----------------------------------------------------------------------===//
// gate and run-time method choice
//===----------------------------------------------------------------------===//

LogicalResult Expander::expandGate(GateOp op) {
  auto gate = b.create<npu::MoeGatingTopKOp>(
      op.getLoc(), op.getWeights().getType(), op.getIds().getType(),
      op.getLogits(), op.getBias(), op.getTopKAttr(),
      npu::ScoringAttr::get(b.getContext(),
                            static_cast<npu::Scoring>(op.getScoring())),
      op.getRenormalizeAttr(), op.getNumExpertGroupAttr(),
      op.getTopkGroupAttr(), op.getRoutedScalingFactorAttr(),
      b.getI64IntegerAttr(0));
  replace(op, gate.getResults());
  eraseNow(op);
  return success();
}

LogicalResult Expander::expandChooseMethod(ChooseMethodOp op) {
  Location loc = op.getLoc();
  Value tokens = tokenCount(loc, op.getHidden());
  Value most = b.create<npu::AllReduceScalarOp>(
      loc, b.getIndexType(), tokens, npu::ReduceKind::Max, npu::Group::World);
  // Index of the first threshold the maximum does not exceed.
  Value index = constantIndex(loc, 0);
  Value one = constantIndex(loc, 1), zero = constantIndex(loc, 0);
  for (int64_t threshold : op.getThresholds()) {
    Value above = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ugt, most,
                                          constantIndex(loc, threshold));
    Value step = b.create<arith::SelectOp>(loc, above, one, zero);
    index = b.create<arith::AddIOp>(loc, index, step);
  }
  op.getResult().replaceAllUsesWith(index);
  eraseNow(op);
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct ExpandCommPass
    : public mlir::moe::impl::ExpandCommBase<ExpandCommPass> {
  using ExpandCommBase::ExpandCommBase;
  void runOnOperation() override {
    Expander expander(getOperation(), checkMc2Capacity);
    if (failed(expander.run()))
      signalPassFailure();
  }
};
} // namespace
