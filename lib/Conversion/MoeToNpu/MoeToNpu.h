//===- MoeToNpu.h - patterns of convert-moe-to-npu --------------*- C++ -*-===//
//
// convert-moe-to-npu is a DialectConversion with one pattern per stage of a
// layer (docs/Expansion.md lists what each stage becomes):
//   PrepareFinalize.cpp   moe.prepare, moe.finalize, the row bookkeeping and
//                         collectives they share, mc2Capacity()
//   DispatchCombine.cpp   moe.dispatch, moe.combine, and dispatch + experts +
//                         combine as one fused_mc2 kernel, checkFusedMc2Quant()
//   Experts.cpp           moe.experts, moe.shared_experts (the SwiGLU MLP)
//   SharedExpertRanks.cpp the shared experts an mc2 dispatch hosts on the
//                         layout's shared_expert_ranks
//   ConvertMoeToNpu.cpp   moe.gate, moe.choose_method, the context parts, the
//                         checks run before the conversion, and the pass
//
// The `!moe.prepare_ctx` / `!moe.dispatch_ctx` results become their
// device-level parts (see PreparedParts / DispatchedParts): the pattern of
// the producing stage replaces the context by an N:1
// `unrealized_conversion_cast` of its parts, and the pattern of the
// consuming stage reads them back from its remapped operand. Static facts
// (method, physical experts, group-list type, whether a part exists) come
// from the context type, the layout, and the producing op's attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETONPU_MOETONPU_H
#define MOE_LIB_CONVERSION_MOETONPU_MOETONPU_H

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe::to_npu {

/// What every pattern of one run reads: the deployment and the pass option.
struct Deployment {
  LayoutAttr layout;
  ChipAttr chip; // null: no chip known
  bool checkMc2Capacity;

  /// With sequence parallelism every rank holds tokens of its own: nothing
  /// is sliced by TP rank, and padding follows the longest rank of the EP
  /// group rather than of the DP group.
  bool sequenceParallel() const { return layout.getSequenceParallel(); }
  int64_t tokenTp() const { return sequenceParallel() ? 1 : layout.getTp(); }
  npu::Group tokenGroup() const {
    return sequenceParallel() ? npu::Group::EP : npu::Group::DP;
  }
  int64_t tokenGroupSize() const {
    return sequenceParallel() ? layout.getEpSize() : layout.getDp();
  }
  /// The prefill-context-parallel group allgather gathers after the DP
  /// group (seed 000 `_prepare_with_dp_group`); with sequence parallelism
  /// the EP group already spans it.
  int64_t pcpGatherSize() const {
    return sequenceParallel() ? 1 : layout.getPcp();
  }
};

//===----------------------------------------------------------------------===//
// Context parts (ConvertMoeToNpu.cpp)
//===----------------------------------------------------------------------===//

/// The device-level parts of a `!moe.prepare_ctx<method>`: what finalize
/// needs to undo prepare.
struct PreparedParts {
  Value tokens; // the rank's original token count T (index)
  Value mask;   // mc2 / fused_mc2 on several ranks: this rank's mc2 mask

  /// The part types of a context of `type` (the 1:N type mapping; the
  /// actual values refine their shapes, trailing optional parts may be
  /// absent: the mask exists only on more than one rank).
  static SmallVector<Type> partTypes(PrepareCtxType type);
  /// Replaces a context by its parts.
  Value pack(OpBuilder &b, Location loc, PrepareCtxType type) const;
  /// The parts of a context value `ctx` was remapped to; failure if it is
  /// not the parts of a converted moe.prepare.
  static FailureOr<PreparedParts> unpack(Value ctx);
};

/// The device-level parts of a `!moe.dispatch_ctx<method>`: what combine
/// needs to bring expert outputs back.
struct DispatchedParts {
  Value weights; // routing weights [T, K] (masked by the expert map)
  // allgather
  Value rowIdx;
  // alltoall
  Value inSplits, outSplits, sorted;
  Value localSorted; // only with more than one local expert
  // mc2
  Value ids, expandIdx, recvCounts;
  Value mask; // only when the dispatched rows come with an mc2 mask
  // moge
  Value sortedIds, topkScales;

  static SmallVector<Type> partTypes(DispatchCtxType type);
  Value pack(OpBuilder &b, Location loc, DispatchCtxType type) const;
  static FailureOr<DispatchedParts> unpack(Value ctx);
};

//===----------------------------------------------------------------------===//
// Helpers (ConvertMoeToNpu.cpp, PrepareFinalize.cpp)
//===----------------------------------------------------------------------===//

/// `type` with a dynamic token (first) dimension.
RankedTensorType dynamicRows(Type type);
RankedTensorType tensorType(ArrayRef<int64_t> shape, Type elem);
Value constantIndex(OpBuilder &b, Location loc, int64_t v);
/// `value` as `type`, through a tensor.cast when they differ.
Value castTo(OpBuilder &b, Location loc, Value value, Type type);
/// The token count of `original` (an operand before conversion) whose
/// converted value is `converted`: the count a finalize computed its result
/// for, else a tensor.dim.
Value tokenCount(ConversionPatternRewriter &rewriter, Location loc,
                 Value original, Value converted);

Value padRows(OpBuilder &b, Location loc, Value x, Value rows);
Value sliceRows(OpBuilder &b, Location loc, Value x, Value rows);
Value tensorSplit(OpBuilder &b, Location loc, Value x, npu::Group group);
Value allGather(OpBuilder &b, Location loc, Value x, npu::Group group);
Value reduceScatter(OpBuilder &b, Location loc, Value x, npu::Group group);
Value allReduceMax(OpBuilder &b, Location loc, Value v, npu::Group group);

/// Dynamic EPLB (ExpertLoad.cpp, docs/Eplb.md): when `op` has log2phy
/// under expert parallelism, an npu.record_expert_load of the real rows of
/// its physical `ids`; `mc2Mask` is the mask mc2 / fused_mc2 send with.
void recordExpertLoad(ConversionPatternRewriter &rewriter, Location loc,
                      DispatchOp op, Value ids, Value mc2Mask,
                      const Deployment &deployment);

/// The MC2 per-rank token capacity given to MC2 dispatches and fused MC2
/// kernels (0: unchecked).
int64_t mc2Capacity(const Deployment &deployment);

//===----------------------------------------------------------------------===//
// Decisions shared by the checks and the patterns
//===----------------------------------------------------------------------===//

/// Why `dispatch` (fused_mc2) cannot become one dispatch_ffn_combine with
/// `experts` because of their quantization; empty when it can.
std::string checkFusedMc2Quant(DispatchOp dispatch, ExpertsOp experts);
/// The moe.experts and moe.combine a fused_mc2 dispatch fuses with, or a
/// reason why there are none.
struct FusedChain {
  ExpertsOp experts;
  CombineOp combine;
  std::string error;
};
FusedChain matchFusedChain(DispatchOp dispatch);
/// Why `dispatch` (moge) cannot run as moge: its rows must reach one
/// unquantized moe.experts, which applies topk_scales, and that experts'
/// output its moe.combine; empty when it can.
std::string checkMogeChain(DispatchOp dispatch);
/// With `shared_expert_ranks` in the layout: the moe.shared_experts whose
/// rows an mc2 `dispatch` carries to the shared-expert ranks (the one its
/// layer's finalize adds), else null.
SharedExpertsOp hostedSharedExperts(DispatchOp dispatch,
                                    const Deployment &deployment);
/// Whether an mc2 dispatch hosts `shared` on the shared-expert ranks.
bool isHosted(SharedExpertsOp shared, const Deployment &deployment);
/// Why the layer of an mc2 `dispatch` cannot run its shared experts on the
/// layout's shared-expert ranks; empty when it can (or has none to).
std::string checkSharedExpertRanks(DispatchOp dispatch,
                                   const Deployment &deployment);
/// Experts of each token a moge dispatch sends to each rank: top_k / ep.
int64_t mogeExpertsPerRank(DispatchOp dispatch, LayoutAttr layout);
/// Whether experts quantized as `quant` have a device expansion; when not,
/// `why` (if given) says what is missing.
bool hasExpertsExpansion(QuantAttr quant, std::string *why = nullptr);
/// The group-list type the expansion of `dispatch` gives its counts: mc2
/// and moge hand grouped matmuls cumulative lists unless another user needs
/// counts.
npu::GroupListType groupListTypeOf(DispatchOp dispatch);

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

void populatePrepareFinalizePatterns(RewritePatternSet &patterns,
                                     const Deployment &deployment);
void populateDispatchCombinePatterns(RewritePatternSet &patterns,
                                     const Deployment &deployment);
void populateExpertsPatterns(RewritePatternSet &patterns,
                             const Deployment &deployment);
void populateGatePatterns(RewritePatternSet &patterns,
                          const Deployment &deployment);

/// A pattern of one stage, with the deployment of the run.
template <typename SourceOp>
struct StagePattern : OpConversionPattern<SourceOp> {
  StagePattern(MLIRContext *context, const Deployment &deployment)
      : OpConversionPattern<SourceOp>(context), deployment(deployment) {}
  Deployment deployment;
};

} // namespace mlir::moe::to_npu

#endif // MOE_LIB_CONVERSION_MOETONPU_MOETONPU_H
