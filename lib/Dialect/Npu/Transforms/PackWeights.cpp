//===- PackWeights.cpp - int8 expert weights packed once, at load ---------===//
//
// Gives every public function's i8 weight-stack argument that only
// npu.grouped_matmul w8a8 ops read as their weight (in any region) one
// npu.pack_weights
// (Passes.td has the contract; docs/Runtime.md, "Packed weights", what the
// runtime makes of it).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Whether `arg` is a plain i8 [G, K, N] stack that only npu.grouped_matmul
/// w8a8 ops read, as their weight (anywhere in the function: a run-time
/// method choice puts them in the regions of scf.index_switch).
bool onlyPackableReaders(BlockArgument arg) {
  auto type = dyn_cast<RankedTensorType>(arg.getType());
  if (!type || type.getRank() != 3 || !type.hasStaticShape() ||
      type.getEncoding() || !type.getElementType().isSignlessInteger(8) ||
      arg.use_empty())
    return false;
  return llvm::all_of(arg.getUses(), [&](OpOperand &use) {
    auto gmm = dyn_cast<npu::GroupedMatmulOp>(use.getOwner());
    return gmm && use.getOperandNumber() ==
                      gmm.getWeightMutable().getOperandNumber() &&
           gmm.getQuant() == npu::MatmulQuant::W8A8;
  });
}

struct PackWeightsPass
    : public mlir::moe::impl::PackWeightsBase<PackWeightsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (!fn.isPublic() || fn.isDeclaration())
      return;
    Block &entry = fn.getBody().front();
    OpBuilder builder(&getContext());
    builder.setInsertionPointToStart(&entry);
    auto packed = npu::PackedAttr::get(&getContext());
    for (BlockArgument arg : entry.getArguments()) {
      if (!onlyPackableReaders(arg))
        continue;
      // The stream of the first reader a pre-order walk meets.
      npu::GroupedMatmulOp first;
      fn.walk<WalkOrder::PreOrder>([&](npu::GroupedMatmulOp gmm) {
        if (gmm.getWeight() != arg)
          return WalkResult::advance();
        first = gmm;
        return WalkResult::interrupt();
      });
      auto type = cast<RankedTensorType>(arg.getType());
      auto pack = builder.create<npu::PackWeightsOp>(
          arg.getLoc(),
          RankedTensorType::get(type.getShape(), type.getElementType(),
                                packed),
          arg, first.getStream());
      arg.replaceAllUsesExcept(pack.getPacked(), pack);
    }
  }
};

} // namespace
