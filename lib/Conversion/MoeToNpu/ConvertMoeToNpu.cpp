//===- ConvertMoeToNpu.cpp - the convert-moe-to-npu pass ------------------===//
//
// The pass: the checks that give a layer that cannot be converted a precise
// diagnostic, the context parts, the helpers the stage patterns share, the
// gate and run-time method choice patterns, and the DialectConversion that
// applies them all (MoeToNpu.h lists the files of the other stages).
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETONPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

//===----------------------------------------------------------------------===//
// Context parts
//===----------------------------------------------------------------------===//

static bool isMc2Like(CommMethod method) {
  return method == CommMethod::MC2 || method == CommMethod::FusedMC2;
}

/// `parts` as one value of the context type `type`; `partTypes` are the
/// part types of `type` (trailing ones may be absent).
static Value packParts(OpBuilder &b, Location loc, Type type,
                       ArrayRef<Value> parts, ArrayRef<Type> partTypes) {
  assert(parts.size() <= partTypes.size() && "more parts than the context has");
  for (auto [part, partType] : llvm::zip(parts, partTypes)) {
    (void)part;
    (void)partType;
    assert((part.getType() == partType ||
            tensor::CastOp::areCastCompatible(part.getType(), partType)) &&
           "a context part of the wrong type");
  }
  return b.create<UnrealizedConversionCastOp>(loc, type, parts).getResult(0);
}

/// The parts `ctx` (a remapped context operand) holds, or failure.
static FailureOr<ValueRange> partsOf(Value ctx) {
  auto cast = ctx.getDefiningOp<UnrealizedConversionCastOp>();
  if (!cast || cast->getNumResults() != 1)
    return failure();
  return ValueRange(cast.getInputs());
}

SmallVector<Type> PreparedParts::partTypes(PrepareCtxType type) {
  MLIRContext *context = type.getContext();
  SmallVector<Type> types{IndexType::get(context)};
  if (isMc2Like(type.getMethod()))
    types.push_back(
        tensorType({ShapedType::kDynamic}, IntegerType::get(context, 1)));
  return types;
}

Value PreparedParts::pack(OpBuilder &b, Location loc,
                          PrepareCtxType type) const {
  SmallVector<Value> parts{tokens};
  if (mask)
    parts.push_back(mask);
  return packParts(b, loc, type, parts, partTypes(type));
}

FailureOr<PreparedParts> PreparedParts::unpack(Value ctx) {
  auto type = dyn_cast<PrepareCtxType>(ctx.getType());
  FailureOr<ValueRange> parts = partsOf(ctx);
  if (!type || failed(parts) || parts->empty() || parts->size() > 2)
    return failure();
  PreparedParts result;
  result.tokens = (*parts)[0];
  if (parts->size() > 1)
    result.mask = (*parts)[1];
  return result;
}

SmallVector<Type> DispatchedParts::partTypes(DispatchCtxType type) {
  MLIRContext *context = type.getContext();
  int64_t dyn = ShapedType::kDynamic;
  Type f32 = Float32Type::get(context);
  Type i32 = IntegerType::get(context, 32), i64 = IntegerType::get(context, 64);
  Type weights = tensorType({dyn, dyn}, f32);
  Type index = tensorType({dyn}, i32), splits = tensorType({dyn}, i64);
  switch (type.getMethod()) {
  case CommMethod::AllGather:
    return {weights, index};
  case CommMethod::AllToAll:
    return {weights, splits, splits, index, index};
  case CommMethod::MC2:
    return {weights, tensorType({dyn, dyn}, i32), index, index,
            tensorType({dyn}, IntegerType::get(context, 1))};
  case CommMethod::Moge:
    return {weights, index, weights};
  case CommMethod::FusedMC2: // dispatch, experts and combine become one op
  case CommMethod::Unset:
    return {};
  }
  llvm_unreachable("unknown method");
}

Value DispatchedParts::pack(OpBuilder &b, Location loc,
                            DispatchCtxType type) const {
  SmallVector<Value> parts{weights};
  switch (type.getMethod()) {
  case CommMethod::AllGather:
    parts.push_back(rowIdx);
    break;
  case CommMethod::AllToAll:
    parts.append({inSplits, outSplits, sorted});
    if (localSorted)
      parts.push_back(localSorted);
    break;
  case CommMethod::MC2:
    parts.append({ids, expandIdx, recvCounts});
    if (mask)
      parts.push_back(mask);
    break;
  case CommMethod::Moge:
    parts.append({sortedIds, topkScales});
    break;
  case CommMethod::FusedMC2:
  case CommMethod::Unset:
    llvm_unreachable("no parts");
  }
  return packParts(b, loc, type, parts, partTypes(type));
}

FailureOr<DispatchedParts> DispatchedParts::unpack(Value ctx) {
  auto type = dyn_cast<DispatchCtxType>(ctx.getType());
  FailureOr<ValueRange> parts = partsOf(ctx);
  if (!type || failed(parts) || parts->empty())
    return failure();
  ValueRange p = *parts;
  DispatchedParts result;
  result.weights = p[0];
  switch (type.getMethod()) {
  case CommMethod::AllGather:
    if (p.size() != 2)
      return failure();
    result.rowIdx = p[1];
    break;
  case CommMethod::AllToAll:
    if (p.size() != 4 && p.size() != 5)
      return failure();
    result.inSplits = p[1];
    result.outSplits = p[2];
    result.sorted = p[3];
    if (p.size() == 5)
      result.localSorted = p[4];
    break;
  case CommMethod::MC2:
    if (p.size() != 4 && p.size() != 5)
      return failure();
    result.ids = p[1];
    result.expandIdx = p[2];
    result.recvCounts = p[3];
    if (p.size() == 5)
      result.mask = p[4];
    break;
  case CommMethod::Moge:
    if (p.size() != 3)
      return failure();
    result.sortedIds = p[1];
    result.topkScales = p[2];
    break;
  case CommMethod::FusedMC2:
  case CommMethod::Unset:
    return failure();
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

RankedTensorType to_npu::dynamicRows(Type type) {
  return cast<RankedTensorType>(withDynamicTokens(type));
}

RankedTensorType to_npu::tensorType(ArrayRef<int64_t> shape, Type elem) {
  return RankedTensorType::get(shape, elem);
}

Value to_npu::constantIndex(OpBuilder &b, Location loc, int64_t v) {
  return b.create<arith::ConstantIndexOp>(loc, v);
}

Value to_npu::castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return b.create<tensor::CastOp>(loc, type, value);
}

/// The earliest value whose rows a layer input `v` has: a layer's output
/// has the rows of that layer's input (not with enable_shared_expert_dp,
/// whose allgather finalize keeps gathered rows), and a region op's result
/// the rows its branches all yield. `memo` keeps the answers of this walk
/// (a run-time method choice has two branches per layer).
static Value rowsRoot(Value v, llvm::DenseMap<Value, Value> &memo) {
  auto known = memo.find(v);
  if (known != memo.end())
    return known->second;
  Value root = v;
  if (auto finalize = v.getDefiningOp<FinalizeOp>()) {
    auto prepare = finalize.getCtx().getDefiningOp<PrepareOp>();
    if (prepare && !prepare.getEnableSharedExpertDp())
      root = rowsRoot(prepare.getHidden(), memo);
  } else if (auto result = dyn_cast<OpResult>(v);
             result && isa<RegionBranchOpInterface>(result.getOwner()) &&
             result.getOwner()->getNumRegions() > 0) {
    Value common;
    bool same = true;
    for (Region &region : result.getOwner()->getRegions()) {
      Operation *yield = region.hasOneBlock() ? region.front().getTerminator()
                                              : nullptr;
      if (!yield || yield->getNumOperands() <= result.getResultNumber()) {
        same = false;
        break;
      }
      Value branchRoot =
          rowsRoot(yield->getOperand(result.getResultNumber()), memo);
      if (common && branchRoot != common) {
        same = false;
        break;
      }
      common = branchRoot;
    }
    if (same && common)
      root = common;
  }
  memo[v] = root;
  return root;
}

Value to_npu::tokenCount(ConversionPatternRewriter &rewriter, Location loc,
                         Value original, Value converted) {
  // Every layer's token count is that of the first input it derives from,
  // known on the host without waiting for the tensor, and one value for
  // moe-merge-step-sync to synchronize once per step.
  // The previous layer's count when this is its output: one value.
  if (auto finalize = original.getDefiningOp<FinalizeOp>()) {
    auto prepare = finalize.getCtx().getDefiningOp<PrepareOp>();
    FailureOr<PreparedParts> parts =
        PreparedParts::unpack(rewriter.getRemappedValue(finalize.getCtx()));
    if (prepare && !prepare.getEnableSharedExpertDp() && succeeded(parts))
      return parts->tokens;
  }
  llvm::DenseMap<Value, Value> memo;
  Value root = rowsRoot(original, memo);
  if (root != original)
    converted = rewriter.getRemappedValue(root);
  return rewriter.create<tensor::DimOp>(loc, converted, 0);
}

//===----------------------------------------------------------------------===//
// gate and run-time method choice
//===----------------------------------------------------------------------===//

namespace {

struct GatePattern : StagePattern<GateOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(GateOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto gate = rewriter.create<npu::MoeGatingTopKOp>(
        op.getLoc(), op.getWeights().getType(), op.getIds().getType(),
        adaptor.getLogits(), adaptor.getBias(), op.getTopKAttr(),
        npu::ScoringAttr::get(getContext(),
                              static_cast<npu::Scoring>(op.getScoring())),
        op.getRenormalizeAttr(), op.getNumExpertGroupAttr(),
        op.getTopkGroupAttr(), op.getBalancedAttr(),
        op.getRoutedScalingFactorAttr(),
        rewriter.getI64IntegerAttr(0));
    rewriter.replaceOp(op, gate.getResults());
    return success();
  }
};

struct ChooseMethodPattern : StagePattern<ChooseMethodOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(ChooseMethodOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value tokens =
        tokenCount(rewriter, loc, op.getHidden(), adaptor.getHidden());
    Value most = rewriter.create<npu::AllReduceScalarOp>(
        loc, rewriter.getIndexType(), tokens, npu::ReduceKind::Max,
        npu::Group::World);
    // Index of the first threshold the maximum does not exceed.
    Value index = constantIndex(rewriter, loc, 0);
    Value one = constantIndex(rewriter, loc, 1);
    Value zero = constantIndex(rewriter, loc, 0);
    for (int64_t threshold : op.getThresholds()) {
      Value above = rewriter.create<arith::CmpIOp>(
          loc, arith::CmpIPredicate::ugt, most,
          constantIndex(rewriter, loc, threshold));
      Value step = rewriter.create<arith::SelectOp>(loc, above, one, zero);
      index = rewriter.create<arith::AddIOp>(loc, index, step);
    }
    rewriter.replaceOp(op, index);
    return success();
  }
};

} // namespace

void to_npu::populateGatePatterns(RewritePatternSet &patterns,
                                  const Deployment &deployment) {
  patterns.add<GatePattern, ChooseMethodPattern>(patterns.getContext(),
                                                 deployment);
}

//===----------------------------------------------------------------------===//
// Checks before the conversion
//===----------------------------------------------------------------------===//

/// A quant version 1.0.0 w4a8 checkpoint (moe.prepare_weights with
/// scale_bias) splits each channel's bias into 16 / tp partial sums, tp the
/// ranks the experts are tensor-sharded over (1 with expert parallelism):
/// seed 001 rejects tp > 16, and the partial sums must be 1 (w13) or
/// 16 / tp (w2).
static LogicalResult checkQuantVersion(PrepareWeightsOp op) {
  Value scaleBias = op.getScaleBias();
  if (!scaleBias)
    return success();
  LayoutAttr layout = lookupLayout(op);
  int64_t tp = layout.getMoeTpSize();
  if (tp > 16)
    return op.emitOpError()
           << "cannot be expanded: a quant version 1.0.0 w4a8 checkpoint "
              "supports experts tensor-sharded over at most 16 ranks, this "
              "layout shards them over "
           << tp;
  int64_t parts = cast<RankedTensorType>(scaleBias.getType()).getDimSize(2);
  if (parts != 1 && parts != 16 / tp)
    return op.emitOpError()
           << "cannot be expanded: scale_bias holds " << parts
           << " partial sums per channel; a quant version 1.0.0 checkpoint "
              "has 1 (w13) or 16 / tp = "
           << 16 / tp << " (w2)";
  return success();
}

/// A diagnostic for every layer the patterns cannot convert; the first one
/// stops the pass (the conversion would otherwise fail on that op with a
/// generic message).
static LogicalResult checkConvertible(func::FuncOp function,
                                      const Deployment &deployment) {
  auto noMethod = [](Operation *op) {
    return op->emitOpError()
           << "has no communication method; run moe-select-comm-method "
              "first or give the method in its context type";
  };
  // The context of a prepare or dispatch reaches only its finalize or
  // combine.
  auto checkCtxUsers = [](Operation *op, Value ctx, auto stage) {
    for (Operation *user : ctx.getUsers())
      if (!isa<decltype(stage)>(user))
        return LogicalResult(
            op->emitOpError()
            << "cannot be expanded: its result is used by '"
            << user->getName() << "', which is not a stage of its layer");
    return success();
  };
  auto checkQuant = [](Operation *op, QuantAttr quant, Value w13Scale,
                       Value w13GroupScale) -> LogicalResult {
    std::string why;
    if (!hasExpertsExpansion(quant, &why))
      return op->emitOpError()
             << "cannot be expanded: no device operator runs experts "
                "quantized as "
             << quant << ": " << why
             << "; supported are none, w8a8_dynamic, w4a8_dynamic and the "
                "int8 / fp8 / mxfp4 / nvfp4 schemes of docs/Quantization.md";
    if (quant.getScheme() == QuantScheme::Custom &&
        isa<SharedExpertsOp>(op))
      return op->emitOpError()
             << "cannot be expanded: shared experts quantized as " << quant
             << " have no device expansion yet (routed experts do; "
                "docs/Quantization.md)";
    if (quant.getScheme() == QuantScheme::Custom &&
        isScaledWeightDesc(quant.getW1()) && !w13Scale)
      return op->emitOpError()
             << "cannot be expanded: "
             << stringifyQuantDtype(quant.getW1().getDtype())
             << " weights need their scales, scales(w13_scale, w2_scale), "
                "one per block";
    if (quant.getScheme() == QuantScheme::Custom &&
        isPackedFp4WeightDesc(quant.getW1()) && !w13Scale)
      return op->emitOpError()
             << "cannot be expanded: "
             << stringifyQuantDtype(quant.getW1().getDtype())
             << " weights need their micro-block scales, scales(w13_scale, "
                "w2_scale)";
    if (quant.getScheme() == QuantScheme::Custom && quant.getW1() &&
        quant.getW1().getDtype() == QuantDtype::NVFP4 && !w13GroupScale)
      return op->emitOpError()
             << "cannot be expanded: nvfp4 weights need their per-expert "
                "global scales, group_scales(w13_global, w2_global)";
    return success();
  };

  WalkResult result = function.walk([&](Operation *op) -> WalkResult {
    LogicalResult ok =
        TypeSwitch<Operation *, LogicalResult>(op)
            .Case([&](PrepareOp prepare) -> LogicalResult {
              if (prepare.getMethod() == CommMethod::Unset)
                return noMethod(op);
              return checkCtxUsers(op, prepare.getCtx(), FinalizeOp());
            })
            .Case([&](DispatchOp dispatch) -> LogicalResult {
              if (dispatch.getMethod() == CommMethod::Unset)
                return noMethod(op);
              if (dispatch.getMethod() == CommMethod::Moge)
                if (std::string why = checkMogeChain(dispatch); !why.empty())
                  return op->emitOpError() << "cannot run as moge: " << why;
              if (std::string why = checkSharedExpertRanks(dispatch, deployment);
                  !why.empty())
                return op->emitOpError() << "cannot be expanded: " << why;
              if (dispatch.getMethod() != CommMethod::FusedMC2)
                return checkCtxUsers(op, dispatch.getCtx(), CombineOp());
              FusedChain chain = matchFusedChain(dispatch);
              std::string why = chain.error;
              if (why.empty())
                why = checkFusedMc2Quant(dispatch, chain.experts);
              if (why.empty())
                return success();
              return op->emitOpError()
                     << "cannot become one fused_mc2 kernel: " << why;
            })
            .Case([&](FinalizeOp finalize) -> LogicalResult {
              if (finalize.getCtx().getDefiningOp<PrepareOp>())
                return success();
              return op->emitOpError()
                     << "cannot be expanded: its context does not come from "
                        "a moe.prepare of this function";
            })
            .Case([&](CombineOp combine) -> LogicalResult {
              if (combine.getCtx().getDefiningOp<DispatchOp>())
                return success();
              return op->emitOpError()
                     << "cannot be expanded: its context does not come from "
                        "a moe.dispatch of this function";
            })
            .Case([&](ExpertsOp experts) {
              return checkQuant(op, experts.getQuantOrNone(), experts.getW13Scale(),
                                experts.getW13GroupScale());
            })
            .Case([&](SharedExpertsOp shared) {
              return checkQuant(op, shared.getQuantOrNone(), shared.getW13Scale(),
                                shared.getW13GroupScale());
            })
            .Case([&](PrepareWeightsOp prepare) {
              return checkQuantVersion(prepare);
            })
            .Default([](Operation *) { return success(); });
    return failed(ok) ? WalkResult::interrupt() : WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct ConvertMoeToNpuPass
    : public mlir::moe::impl::ConvertMoeToNpuBase<ConvertMoeToNpuPass> {
  using ConvertMoeToNpuBase::ConvertMoeToNpuBase;
  void runOnOperation() override {
    func::FuncOp function = getOperation();
    Deployment deployment{lookupLayout(function), lookupChip(function),
                          checkMc2Capacity};
    if (failed(checkConvertible(function, deployment)))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populatePrepareFinalizePatterns(patterns, deployment);
    populateGatePatterns(patterns, deployment);
    populateDispatchCombinePatterns(patterns, deployment);
    populateExpertsPatterns(patterns, deployment);

    ConversionTarget target(getContext());
    target.addIllegalDialect<MoeDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(function, target, std::move(patterns))))
      return signalPassFailure();

    // The contexts' consumers have been converted: the casts that held
    // their parts have no users left.
    function.walk([](UnrealizedConversionCastOp cast) {
      if (cast->getNumResults() == 1 && cast->use_empty() &&
          isa<PrepareCtxType, DispatchCtxType>(cast.getResult(0).getType()))
        cast->erase();
    });
  }
};
} // namespace
