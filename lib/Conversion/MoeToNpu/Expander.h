//===- Expander.h - state shared by the moe-expand-comm rewrites -*- C++ -*-===//
//
// moe-expand-comm rewrites a layer stage by stage. Prepare hands finalize,
// and dispatch hands combine, the level-2 values they need; at level 1 these
// travel in !moe.prepare_ctx / !moe.dispatch_ctx values, here they are kept
// per context value while the pass walks the function in program order.
// docs/Expansion.md lists what every stage becomes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_TRANSFORMS_EXPANDCOMM_EXPANDER_H
#define MOE_LIB_TRANSFORMS_EXPANDCOMM_EXPANDER_H

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::moe::expand {

/// What finalize needs from its prepare.
struct PreparedLayer {
  CommMethod method;
  Value tokens;  // the rank's original token count T (index)
  Value mask;    // mc2 / fused_mc2: this rank's slice of the mc2 mask
};

/// What combine (and fused MC2) need from their dispatch.
struct DispatchedLayer {
  CommMethod method;
  int64_t physicalExperts;
  Value weights, ids; // routing weights and (physical) expert ids
  Value mask;         // mc2 mask of the dispatched rows, or null
  // allgather
  Value rowIdx;
  // alltoall
  Value inSplits, outSplits, sorted, localSorted;
  // mc2
  Value expandIdx, recvCounts;
};

class Expander {
public:
  Expander(func::FuncOp function, bool checkMc2Capacity);

  /// Rewrites every moe op of the function; false after a diagnostic.
  LogicalResult run();

private:
  LogicalResult expand(Operation *op);
  LogicalResult expandPrepare(PrepareOp op);
  LogicalResult expandFinalize(FinalizeOp op);
  LogicalResult expandGate(GateOp op);
  LogicalResult expandDispatch(DispatchOp op);
  LogicalResult expandCombine(CombineOp op);
  LogicalResult expandExperts(ExpertsOp op);
  LogicalResult expandFusedMc2(DispatchOp op);
  LogicalResult expandSharedExperts(SharedExpertsOp op);
  LogicalResult expandChooseMethod(ChooseMethodOp op);

  // Helpers (ExpandComm.cpp).
  /// Replaces the results of `op` by `values` (null: keep), casting types.
  void replace(Operation *op, ValueRange values);
  /// Erases `op` now and remembers it so the walk skips it.
  void eraseNow(Operation *op);
  Value tokenCount(Location loc, Value tensor);
  Value constantIndex(Location loc, int64_t v);
  /// `value` as `type`, through a tensor.cast when they differ.
  Value castTo(Location loc, Value value, Type type);
  RankedTensorType dynamicRows(Type type);
  RankedTensorType tensorType(ArrayRef<int64_t> shape, Type elem);

  // Row bookkeeping and collectives (ExpandPrepareFinalize.cpp).
  Value padRows(Location loc, Value x, Value rows);
  Value sliceRows(Location loc, Value x, Value rows);
  Value tensorSplit(Location loc, Value x, npu::Group group);
  Value allGather(Location loc, Value x, npu::Group group);
  Value reduceScatter(Location loc, Value x, npu::Group group);
  Value allReduceScalar(Location loc, Value v, npu::Group group);
  /// The MC2 per-rank capacity given to dispatches (0: unchecked).
  int64_t mc2Capacity() const;
  /// The grouped SwiGLU MLP shared by routed and shared experts.
  struct Mlp {
    Value w13, w2, s13, s2, g13, g2;
    QuantAttr quant;
    Value groupList; // null for shared experts (npu.matmul)
    npu::GroupListType groupListType = npu::GroupListType::Count;
  };
  FailureOr<Value> buildMlp(Operation *op, Value rows, const Mlp &mlp);

  func::FuncOp function;
  OpBuilder b;
  LayoutAttr layout;
  ChipAttr chip;
  bool checkMc2Capacity;
  llvm::DenseMap<Value, PreparedLayer> prepared;
  llvm::DenseMap<Value, DispatchedLayer> dispatched;
  /// Host-side row counts of tensors whose size the runtime would otherwise
  /// have to wait for (outputs of expanded layers).
  llvm::DenseMap<Value, Value> rowCounts;
  /// Group list type of a dispatch's counts result (mc2 gives cumsum).
  llvm::DenseMap<Value, npu::GroupListType> groupListTypes;
  /// MC2 mask of the rows of a prepared hidden-state value.
  llvm::DenseMap<Value, Value> masks;
  /// Ops erased before the walk reached them, and ops erased at the end.
  llvm::DenseSet<Operation *> erased;
  SmallVector<Operation *> pendingErase;
};

} // namespace mlir::moe::expand

#endif // MOE_LIB_TRANSFORMS_EXPANDCOMM_EXPANDER_H
