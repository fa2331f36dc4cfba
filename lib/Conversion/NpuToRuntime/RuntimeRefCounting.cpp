//===- RuntimeRefCounting.cpp - explicit host references ------------------===//
//
// Ownership rules (docs/Runtime.md): every tensor or event result is owned
// by the block of its op; function arguments and values of enclosing
// regions are borrowed. An owned value is released after its last use in
// its block, or handed on by the terminator that returns or yields it.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::moe {
#define GEN_PASS_DEF_RUNTIMEREFCOUNTING
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

static bool isRefCounted(Type type) {
  return isa<RankedTensorType, npu::EventType>(type);
}

/// The op of `block` that is or contains the last use of `value`, or null.
static Operation *lastUserIn(Value value, Block &block) {
  Operation *last = nullptr;
  for (Operation *user : value.getUsers()) {
    Operation *ancestor = block.findAncestorOpInBlock(*user);
    if (ancestor && (!last || last->isBeforeInBlock(ancestor)))
      last = ancestor;
  }
  return last;
}

/// Whether the terminator hands its operands on (to the caller or the
/// parent op) rather than just reading them.
static bool handsOn(Operation *terminator) {
  return terminator->hasTrait<OpTrait::ReturnLike>();
}

static void countBlock(Block &block) {
  Operation *terminator = block.empty() ? nullptr : &block.back();
  OpBuilder b(block.getParentOp()->getContext());

  for (Operation &op : llvm::make_early_inc_range(block)) {
    for (Region &region : op.getRegions())
      for (Block &inner : region)
        countBlock(inner);
    for (Value result : op.getResults()) {
      if (!isRefCounted(result.getType()))
        continue;
      Operation *last = lastUserIn(result, block);
      if (last == terminator && terminator && handsOn(terminator)) {
        // One reference per time it is handed on; it owns one already.
        int64_t times = llvm::count(terminator->getOperands(), result);
        b.setInsertionPoint(terminator);
        for (int64_t i = 1; i < times; ++i)
          b.create<npu::RetainOp>(op.getLoc(), result);
        if (times > 0)
          continue;
      }
      b.setInsertionPointAfter(last ? last : &op);
      b.create<npu::ReleaseOp>(op.getLoc(), result);
    }
  }

  // Borrowed values handed on need a reference of their own.
  if (!terminator || !handsOn(terminator))
    return;
  b.setInsertionPoint(terminator);
  for (Value operand : terminator->getOperands()) {
    if (!isRefCounted(operand.getType()))
      continue;
    Operation *def = operand.getDefiningOp();
    if (!def || def->getBlock() != &block)
      b.create<npu::RetainOp>(terminator->getLoc(), operand);
  }
}

namespace {
struct RuntimeRefCountingPass
    : public mlir::moe::impl::RuntimeRefCountingBase<RuntimeRefCountingPass> {
  void runOnOperation() override {
    for (Block &block : getOperation().getBody())
      countBlock(block);
  }
};
} // namespace
