//===- MergeStepSync.cpp - one token-count exchange per step --------------===//
//
// Replaces the per-layer `npu.all_reduce_scalar ... max` and TP
// `npu.expect_uniform` ops on one token count by one `npu.step_sync`
// (Passes.td has the contract; seed 004).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MERGESTEPSYNC
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct Requests {
  SmallVector<npu::AllReduceScalarOp> maxima;
  SmallVector<npu::ExpectUniformOp> tpChecks;
  npu::StepSyncOp existing; // from an earlier run of the pass
};

/// What a token count counts: `tensor.dim %t, <constant>` is the same count
/// wherever it is computed (tensors are immutable), so such counts are keyed
/// by tensor and dimension; any other value by itself.
struct CountKey {
  Value value; // the tensor of a tensor.dim, else the count itself
  int64_t dim = -1;
  bool operator==(const CountKey &o) const {
    return value == o.value && dim == o.dim;
  }
};
} // namespace

namespace llvm {
template <> struct DenseMapInfo<CountKey> {
  static CountKey getEmptyKey() {
    return {DenseMapInfo<mlir::Value>::getEmptyKey(), -1};
  }
  static CountKey getTombstoneKey() {
    return {DenseMapInfo<mlir::Value>::getTombstoneKey(), -1};
  }
  static unsigned getHashValue(const CountKey &k) {
    return hash_combine(mlir::hash_value(k.value), k.dim);
  }
  static bool isEqual(const CountKey &a, const CountKey &b) { return a == b; }
};
} // namespace llvm

namespace {
CountKey keyOf(Value count) {
  if (auto dim = count.getDefiningOp<tensor::DimOp>())
    if (std::optional<int64_t> index = dim.getConstantIndex())
      return {dim.getSource(), *index};
  return {count, -1};
}

struct MergeStepSyncPass
    : public mlir::moe::impl::MergeStepSyncBase<MergeStepSyncPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    llvm::MapVector<CountKey, Requests> byCount;
    fn.walk([&](Operation *op) {
      if (auto reduce = dyn_cast<npu::AllReduceScalarOp>(op)) {
        // A maximum of a maximum (allgather with pcp: over PCP of the DP
        // maximum) stays: its operand is merged, not it.
        Operation *def = reduce.getValue().getDefiningOp();
        if (reduce.getKind() == npu::ReduceKind::Max &&
            !isa_and_nonnull<npu::AllReduceScalarOp, npu::StepSyncOp>(def))
          byCount[keyOf(reduce.getValue())].maxima.push_back(reduce);
      } else if (auto check = dyn_cast<npu::ExpectUniformOp>(op)) {
        if (check.getGroup() == npu::Group::TP)
          byCount[keyOf(check.getValue())].tpChecks.push_back(check);
      } else if (auto sync = dyn_cast<npu::StepSyncOp>(op)) {
        byCount[keyOf(sync.getTokens())].existing = sync;
      }
    });
    for (auto &[key, requests] : byCount) {
      if (requests.maxima.empty() && requests.tpChecks.empty())
        continue;
      npu::StepSyncOp sync = requests.existing;
      if (!sync) {
        // Right after the counted value is known, so it dominates every
        // request; a dimension is taken there again.
        OpBuilder b(&getContext());
        Value anchor = key.value;
        if (Operation *def = anchor.getDefiningOp())
          b.setInsertionPointAfter(def);
        else
          b.setInsertionPointToStart(cast<BlockArgument>(anchor).getOwner());
        Location loc = anchor.getLoc();
        Value tokens = anchor;
        if (key.dim >= 0)
          tokens = b.create<tensor::DimOp>(loc, anchor, key.dim);
        Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
        SmallVector<Type> indices(7, b.getIndexType());
        sync = b.create<npu::StepSyncOp>(loc, indices, tokens, zero, zero,
                                         /*uniform_tp=*/StringAttr());
      }
      for (npu::AllReduceScalarOp reduce : requests.maxima) {
        reduce.replaceAllUsesWith(sync.getMaxOver(reduce.getGroup()));
        reduce.erase();
      }
      for (npu::ExpectUniformOp check : requests.tpChecks) {
        if (!sync.getUniformTpAttr())
          sync.setUniformTpAttr(check.getWhatAttr());
        check.erase();
      }
    }
  }
};
} // namespace
