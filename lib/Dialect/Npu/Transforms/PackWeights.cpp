//===- PackWeights.cpp - expert weights packed once, at load --------------===//
//
// Gives every public function's f32 or int8 weight-stack argument that
// only npu.grouped_matmul ops of quant none (f32) or w8a8 (int8) read as
// their weight (in any region), and every int4 stack (an argument or
// npu.w4a8_process_weights's result) that only w4a8 ones read, one
// npu.pack_weights (Passes.td has the contract; docs/Runtime.md, "Packed
// weights", what the runtime makes of it).
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

/// Whether a grouped matmul reads a packed form of its weight: none with
/// f32, w8a8 with int8, w4a8 with int4 and groups of whole quads of rows.
bool readsPacked(npu::GroupedMatmulOp gmm, Type element) {
  if (gmm.getQuant() == npu::MatmulQuant::None)
    return element.isF32();
  if (gmm.getQuant() == npu::MatmulQuant::W8A8)
    return element.isSignlessInteger(8);
  if (gmm.getQuant() != npu::MatmulQuant::W4A8 ||
      !element.isSignlessInteger(4) || !gmm.getGroupScale())
    return false;
  auto w = cast<RankedTensorType>(gmm.getWeight().getType());
  auto g = cast<RankedTensorType>(gmm.getGroupScale().getType());
  int64_t blocks = g.getDimSize(g.getRank() - 2);
  return blocks > 0 && !ShapedType::isDynamic(blocks) &&
         (w.getDimSize(1) / blocks) % 4 == 0;
}

/// Whether `weight` is a plain f32, i8 or i4 [G, K, N] stack that only
/// npu.grouped_matmul ops read, as their weight, each in a form it can
/// read packed (anywhere in the function: a run-time method choice puts
/// them in the regions of scf.index_switch).
bool onlyPackableReaders(Value weight) {
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!type || type.getRank() != 3 || !type.hasStaticShape() ||
      type.getEncoding() || weight.use_empty())
    return false;
  return llvm::all_of(weight.getUses(), [&](OpOperand &use) {
    auto gmm = dyn_cast<npu::GroupedMatmulOp>(use.getOwner());
    return gmm &&
           use.getOperandNumber() ==
               gmm.getWeightMutable().getOperandNumber() &&
           readsPacked(gmm, type.getElementType());
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
    auto packed = npu::PackedAttr::get(&getContext());
    // The weights: the entry's arguments, and what the load-time w4a8
    // processing makes of its checkpoint arguments.
    SmallVector<Value> weights(entry.getArguments().begin(),
                               entry.getArguments().end());
    for (auto process : entry.getOps<npu::W4A8ProcessWeightsOp>())
      weights.push_back(process.getProcessedWeight());
    Operation *lastArgPack = nullptr; // the argument packs keep their order
    for (Value weight : weights) {
      if (!onlyPackableReaders(weight))
        continue;
      // The stream of the first reader a pre-order walk meets.
      npu::GroupedMatmulOp first;
      fn.walk<WalkOrder::PreOrder>([&](npu::GroupedMatmulOp gmm) {
        if (gmm.getWeight() != weight)
          return WalkResult::advance();
        first = gmm;
        return WalkResult::interrupt();
      });
      if (Operation *producer = weight.getDefiningOp())
        builder.setInsertionPointAfter(producer);
      else if (lastArgPack)
        builder.setInsertionPointAfter(lastArgPack);
      else
        builder.setInsertionPointToStart(&entry);
      auto type = cast<RankedTensorType>(weight.getType());
      auto pack = builder.create<npu::PackWeightsOp>(
          weight.getLoc(),
          RankedTensorType::get(type.getShape(), type.getElementType(),
                                packed),
          weight, first.getStream());
      weight.replaceAllUsesExcept(pack.getPacked(), pack);
      if (!weight.getDefiningOp())
        lastArgPack = pack;
    }
  }
};

} // namespace
