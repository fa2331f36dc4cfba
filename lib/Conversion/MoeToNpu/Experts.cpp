//===- Experts.cpp - routed and shared expert MLPs ------------------------===//
//
// The grouped SwiGLU MLP of the local experts (grouped matmuls) and of the
// shared experts (dense matmuls), unquantized, w8a8 dynamic and w4a8
// dynamic (seed 001; the shared experts weight-only, as its linear
// method), the int8 weight-only and fp8 descriptor schemes (seed 003),
// and the load-time processing of w4a8 checkpoint weights;
// docs/Expansion.md "experts" and "shared experts", docs/Quantization.md.
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

/// The format npu.quant_dequant / npu.dequantize_weights give `dtype`.
static std::optional<npu::QuantFormat> formatOf(QuantDtype dtype) {
  switch (dtype) {
  case QuantDtype::Int8:
    return npu::QuantFormat::Int8;
  case QuantDtype::FP8E4M3:
    return npu::QuantFormat::Fp8E4M3;
  case QuantDtype::FP8E5M2:
    return npu::QuantFormat::Fp8E5M2;
  case QuantDtype::MXFP4:
    return npu::QuantFormat::Mxfp4;
  case QuantDtype::NVFP4:
    return npu::QuantFormat::Nvfp4;
  default:
    return std::nullopt;
  }
}

/// Whether a spelled-out descriptor has a device expansion (the int8
/// weight-only and fp8 schemes of docs/Quantization.md); otherwise the
/// reason.
static bool descriptorExpansion(QuantAttr quant, std::string &why) {
  QuantDescAttr w = quant.getW1(), a = quant.getA1();
  if (isPackedFp4WeightDesc(w)) {
    // mxfp4 / nvfp4 weights: float rows (w4a16) or rows quantized to the
    // weights' own micro-block format (w4a4).
    if (!a || !a.isQuantized() || a.getDtype() == w.getDtype())
      return true;
    why = std::string(stringifyQuantDtype(w.getDtype())) + " weights run "
          "with float activations or " +
          stringifyQuantDtype(w.getDtype()).str() + " activations, not " +
          stringifyQuantDtype(a.getDtype()).str();
    return false;
  }
  if (!isScaledWeightDesc(w)) {
    why = w ? std::string(stringifyQuantDtype(w.getDtype())) +
                  " weights have no device format yet (int8, fp8, mxfp4 "
                  "and nvfp4 do)"
            : "float weights with quantized activations";
    return false;
  }
  if (!a || !a.isQuantized())
    return true; // weight-only (int8 w8a16, or fp8 weights, float rows)
  if (a.getDtype() == QuantDtype::Int8) {
    why = "int8 activations are expanded only as w8a8_dynamic (per_token "
          "activations and weights)";
    return false;
  }
  if (a.isPerTensor()) {
    why = "per_tensor activation scales are dynamic over whatever rows a "
          "rank holds, which differs between methods and world sizes; "
          "static scales are not supported yet: use per_token or block "
          "[1, G]";
    return false;
  }
  if (a.isBlock() && a.getGroupRows() != 1) {
    why = "activation blocks span one token (block [1, G])";
    return false;
  }
  return true;
}

bool to_npu::hasExpertsExpansion(QuantAttr quant, std::string *why) {
  switch (quant.getScheme()) {
  case QuantScheme::None:
  case QuantScheme::W8A8Dynamic:
  case QuantScheme::W4A8Dynamic:
    return true;
  case QuantScheme::Custom: {
    std::string reason;
    bool ok = descriptorExpansion(quant, reason);
    if (why)
      *why = reason;
    return ok;
  }
  }
  llvm_unreachable("unknown quantization scheme");
}

namespace {

/// The grouped SwiGLU MLP shared by routed and shared experts.
struct Mlp {
  Value w13, w2, s13, s2, g13, g2;
  QuantAttr quant;
  Value groupList; // null for shared experts (npu.matmul)
  npu::GroupListType groupListType = npu::GroupListType::Count;
  // w4a8 in the kernel's form (moe.prepare_weights): g13/g2 are the merged
  // scales, s13/s2 absent.
  Value b13 = {}, b2 = {};
  // moge: topk_scales [N, 1] the activations are multiplied by.
  Value rowScales = {};
  // w8a8: the rows already quantized (shared-expert ranks quantize once
  // for both branches), else quantized here.
  Value rowsQ = {}, rowsScale = {};
  // Whether a dense (shared) MLP marks its ops as shared-expert stages for
  // moe-schedule-multistream: not on MC2's shared-expert ranks.
  bool markStages = true;
};

Value buildMlp(OpBuilder &b, Location loc, Value rows, const Mlp &mlp) {
  auto rowsType = cast<RankedTensorType>(rows.getType());
  Type elem = rowsType.getElementType();
  int64_t dyn = ShapedType::kDynamic;
  // The ops of the shared experts say which stage of the MLP they are
  // (`npu.shared_expert`, for moe-schedule-multistream); `value`'s op is
  // marked with `stage`.
  bool shared = !mlp.groupList && mlp.markStages;
  auto *dialect = b.getContext()->getLoadedDialect<npu::NpuDialect>();
  auto mark = [&](Value value, npu::SharedExpertStage stage) {
    if (shared)
      dialect->getSharedExpertAttrHelper().setAttr(
          value.getDefiningOp(),
          npu::SharedExpertStageAttr::get(b.getContext(), stage));
    return value;
  };
  using Stage = npu::SharedExpertStage;

  // A (grouped) matmul of `x` and `w` with an `outElem` result.
  auto matmul = [&](Value x, Value w, Type outElem, Value scale,
                    Value perToken, Value groupScale, npu::MatmulQuant quant,
                    Value bias = {}) -> Value {
    auto wType = cast<RankedTensorType>(w.getType());
    Type resultType = tensorType({dyn, wType.getShape().back()}, outElem);
    if (mlp.groupList)
      return b.create<npu::GroupedMatmulOp>(loc, resultType, x, w,
                                            mlp.groupList, scale, perToken,
                                            groupScale, bias, quant,
                                            mlp.groupListType);
    return b.create<npu::MatmulOp>(loc, resultType, x, w, scale, perToken,
                                   groupScale, bias, quant);
  };
  auto swiglu = [&](Value h) -> Value {
    auto hType = cast<RankedTensorType>(h.getType());
    return b.create<npu::SwigluOp>(
        loc, tensorType({dyn, hType.getDimSize(1) / 2}, hType.getElementType()),
        h);
  };
  auto quantize = [&](Value x) -> npu::DynamicQuantOp {
    auto xType = cast<RankedTensorType>(x.getType());
    return b.create<npu::DynamicQuantOp>(
        loc, tensorType({dyn, xType.getDimSize(1)}, b.getI8Type()),
        tensorType({dyn}, b.getF32Type()), x);
  };

  switch (mlp.quant.getScheme()) {
  case QuantScheme::None: {
    Value h =
        mark(matmul(rows, mlp.w13, elem, {}, {}, {}, npu::MatmulQuant::None),
             Stage::GateUp);
    Value act = mark(swiglu(h), Stage::Activation);
    // Seed 002 (moge): `gate_up_out *= topk_scales` before the down
    // projection.
    if (mlp.rowScales)
      act = b.create<npu::ScaleRowsOp>(loc, act.getType(), act, mlp.rowScales);
    return mark(matmul(act, mlp.w2, elem, {}, {}, {}, npu::MatmulQuant::None),
                Stage::Down);
  }
  case QuantScheme::W8A8Dynamic: {
    Value q0 = mlp.rowsQ, scale0 = mlp.rowsScale;
    if (!q0) {
      npu::DynamicQuantOp q = quantize(rows);
      q0 = mark(q.getQ(), Stage::Quantize);
      scale0 = q.getScale();
    }
    Value q2, s2;
    if (mlp.groupList) {
      // gmm1 keeps the raw i32 accumulator; npu_dequant_swiglu_quant
      // dequantizes, activates and requantizes in one operator.
      Value h = matmul(q0, mlp.w13, b.getI32Type(), {}, {}, {},
                       npu::MatmulQuant::W8A8);
      auto hType = cast<RankedTensorType>(h.getType());
      auto act = b.create<npu::DequantSwigluQuantOp>(
          loc, tensorType({dyn, hType.getDimSize(1) / 2}, b.getI8Type()),
          tensorType({dyn}, b.getF32Type()), h, mlp.s13, scale0,
          mlp.groupList, mlp.groupListType);
      q2 = act.getQ();
      s2 = act.getScale();
    } else {
      Value h = mark(matmul(q0, mlp.w13, b.getF32Type(), mlp.s13,
                            scale0, {}, npu::MatmulQuant::W8A8),
                     Stage::GateUp);
      npu::DynamicQuantOp q1 = quantize(mark(swiglu(h), Stage::Activation));
      q2 = mark(q1.getQ(), Stage::Activation);
      s2 = q1.getScale();
    }
    return mark(
        matmul(q2, mlp.w2, elem, mlp.s2, s2, {}, npu::MatmulQuant::W8A8),
        Stage::Down);
  }
  case QuantScheme::W4A8Dynamic: {
    if (shared) {
      // Weight-only (seed 001's linear method): the rows stay in their
      // float type; g13/g2 are the processed antiquant scales.
      auto weightOnly = [&](Value x, Value w, Value antiquant) -> Value {
        auto wType = cast<RankedTensorType>(w.getType());
        return b.create<npu::WeightQuantMatmulOp>(
            loc, tensorType({dyn, wType.getDimSize(1)}, elem), x, w,
            antiquant, mlp.quant.getGroupSize());
      };
      Value h = mark(weightOnly(rows, mlp.w13, mlp.g13), Stage::GateUp);
      return mark(weightOnly(mark(swiglu(h), Stage::Activation), mlp.w2,
                             mlp.g2),
                  Stage::Down);
    }
    // With biases (the kernel form) s13/s2 are absent and g13/g2 merged.
    npu::DynamicQuantOp q = quantize(rows);
    mark(q.getQ(), Stage::Quantize);
    Value h = mark(matmul(q.getQ(), mlp.w13, b.getF32Type(), mlp.s13,
                          q.getScale(), mlp.g13, npu::MatmulQuant::W4A8,
                          mlp.b13),
                   Stage::GateUp);
    npu::DynamicQuantOp q1 = quantize(mark(swiglu(h), Stage::Activation));
    mark(q1.getQ(), Stage::Activation);
    return mark(matmul(q1.getQ(), mlp.w2, elem, mlp.s2, q1.getScale(), mlp.g2,
                       npu::MatmulQuant::W4A8, mlp.b2),
                Stage::Down);
  }
  case QuantScheme::Custom: {
    // int8 / fp8 weights dequantized per block of scales, packed fp4
    // weights per micro-block; fp8 / fp4 activations quantized and
    // dequantized per row, group of columns or micro-block
    // (docs/Quantization.md, "fp8 and int8 weight-only schemes", "mxfp4
    // and nvfp4").
    QuantDescAttr a = mlp.quant.getA1();
    bool quantizedRows = a && a.isQuantized();
    // Weight-only: weights in the rows' type; fp8 w8a8: f32, as the
    // dequantized activations.
    Type weightElem = quantizedRows ? b.getF32Type() : elem;
    auto dequantize = [&](Value w, Value scale, QuantDescAttr desc,
                          Value global) -> Value {
      auto wType = cast<RankedTensorType>(w.getType());
      auto shape = wType.getShape();
      if (isPackedFp4WeightDesc(desc)) {
        // [L, K / 2, N] bytes -> [L, K, N].
        SmallVector<int64_t> full(shape.begin(), shape.end());
        full[full.size() - 2] *= 2;
        return b.create<npu::DequantizeFp4WeightsOp>(
            loc, RankedTensorType::get(full, weightElem), w, scale, global,
            *formatOf(desc.getDtype()));
      }
      int64_t k = shape[shape.size() - 2], n = shape.back();
      auto [bk, bn] = weightScaleBlock(desc, k, n);
      return b.create<npu::DequantizeWeightsOp>(
          loc, RankedTensorType::get(shape, weightElem), w, scale,
          *formatOf(desc.getDtype()), bk, bn);
    };
    auto activation = [&](Value x, QuantDescAttr desc) -> Value {
      if (!quantizedRows)
        return x;
      auto xType = cast<RankedTensorType>(x.getType());
      int64_t group = desc.isBlock() ? desc.getGroupCols() : 0;
      // fp4 rows: their micro-blocks (OCP MX 32, nvfp4 16 columns).
      if (int64_t block = QuantDescAttr::microBlockSize(desc.getDtype()))
        group = block;
      return b.create<npu::QuantDequantOp>(
          loc, tensorType({dyn, xType.getDimSize(1)}, b.getF32Type()), x,
          *formatOf(desc.getDtype()), group);
    };
    // nvfp4: group_scales carry the per-expert global scales.
    Value w13 = dequantize(mlp.w13, mlp.s13, mlp.quant.getW1(), mlp.g13);
    Value w2 = dequantize(mlp.w2, mlp.s2, mlp.quant.getW2(), mlp.g2);
    Value x1 = activation(rows, mlp.quant.getA1());
    if (x1 != rows)
      mark(x1, Stage::Quantize);
    Value h = mark(matmul(x1, w13, elem, {}, {}, {}, npu::MatmulQuant::None),
                   Stage::GateUp);
    Value act = mark(swiglu(h), Stage::Activation);
    Value x2 = activation(act, mlp.quant.getA2());
    if (x2 != act)
      mark(x2, Stage::Activation);
    return mark(matmul(x2, w2, elem, {}, {}, {}, npu::MatmulQuant::None),
                Stage::Down);
  }
  }
  llvm_unreachable("unknown quantization scheme");
}

struct ExpertsPattern : StagePattern<ExpertsOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(ExpertsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QuantAttr quant = op.getQuantOrNone();
    if (!hasExpertsExpansion(quant))
      return rewriter.notifyMatchFailure(op, "no device expansion");
    // The group list type is the one the expansion of the dispatch gave the
    // counts.
    npu::GroupListType listType = npu::GroupListType::Count;
    Value rowScales;
    if (auto dispatch = op.getCounts().getDefiningOp<DispatchOp>()) {
      if (dispatch.getMethod() == CommMethod::FusedMC2)
        return rewriter.notifyMatchFailure(op, "part of a fused_mc2 kernel");
      listType = groupListTypeOf(dispatch);
      // moge: the experts apply the dispatch's topk_scales
      // (checkMogeChain made sure its rows come here).
      if (dispatch.getMethod() == CommMethod::Moge) {
        FailureOr<DispatchedParts> parts = DispatchedParts::unpack(
            rewriter.getRemappedValue(dispatch.getCtx()));
        if (failed(parts))
          return rewriter.notifyMatchFailure(op, "moge dispatch not expanded");
        rowScales = parts->topkScales;
      }
    }
    Mlp mlp{adaptor.getW13(),       adaptor.getW2(),
            adaptor.getW13Scale(),  adaptor.getW2Scale(),
            adaptor.getW13GroupScale(), adaptor.getW2GroupScale(),
            quant,                  adaptor.getCounts(),
            listType,               adaptor.getW13Bias(),
            adaptor.getW2Bias(),    rowScales};
    Location loc = op.getLoc();
    Type resultType = op.getResult().getType();
    auto dispatch = op.getCounts().getDefiningOp<DispatchOp>();
    SharedExpertsOp shared =
        dispatch ? hostedSharedExperts(dispatch, deployment) : SharedExpertsOp();
    if (!shared) {
      Value y = buildMlp(rewriter, loc, adaptor.getRows(), mlp);
      rewriter.replaceOp(op, castTo(rewriter, loc, y, resultType));
      return success();
    }
    // The rank test reads the dispatch's ep_rank_id.
    FailureOr<DispatchedParts> parts =
        DispatchedParts::unpack(rewriter.getRemappedValue(dispatch.getCtx()));
    auto npuDispatch =
        succeeded(parts) && parts->expandIdx
            ? parts->expandIdx.getDefiningOp<npu::MoeDistributeDispatchOp>()
            : npu::MoeDistributeDispatchOp();
    if (!npuDispatch)
      return rewriter.notifyMatchFailure(op, "mc2 dispatch not expanded");
    rewriter.replaceOp(op, buildOnSharedExpertRanks(
                               rewriter, loc, op, shared, adaptor.getRows(),
                               npuDispatch.getEpRankId(), mlp));
    return success();
  }

  /// MC2 with shared-expert ranks: `scf.if (ep_rank_id < S)` runs the shared
  /// experts' dense MLP on the received rows, else the routed experts'
  /// grouped MLP. w8a8 rows are quantized once before the branch, so
  /// moe-fuse-quant-into-dispatch can move the quantization into the
  /// dispatch for both.
  Value buildOnSharedExpertRanks(ConversionPatternRewriter &rewriter,
                                 Location loc, ExpertsOp op,
                                 SharedExpertsOp shared, Value rows,
                                 Value epRankId, Mlp routed) const {
    OpBuilder &b = rewriter;
    Type resultType = op.getResult().getType();
    auto remapped = [&](Value v) {
      return v ? rewriter.getRemappedValue(v) : Value();
    };
    Mlp sharedMlp{remapped(shared.getW13()),       remapped(shared.getW2()),
                  remapped(shared.getW13Scale()),  remapped(shared.getW2Scale()),
                  remapped(shared.getW13GroupScale()),
                  remapped(shared.getW2GroupScale()),
                  shared.getQuantOrNone(),         /*groupList=*/Value()};
    sharedMlp.markStages = false;
    if (routed.quant.getScheme() == QuantScheme::W8A8Dynamic) {
      int64_t dyn = ShapedType::kDynamic;
      auto rowsType = cast<RankedTensorType>(rows.getType());
      auto q = b.create<npu::DynamicQuantOp>(
          loc, tensorType({dyn, rowsType.getDimSize(1)}, b.getI8Type()),
          tensorType({dyn}, b.getF32Type()), rows);
      routed.rowsQ = sharedMlp.rowsQ = q.getQ();
      routed.rowsScale = sharedMlp.rowsScale = q.getScale();
    }
    Value onShared = b.create<arith::CmpIOp>(
        loc, arith::CmpIPredicate::ult, epRankId,
        constantIndex(b, loc, deployment.layout.getSharedExpertRanks()));
    auto ifOp = b.create<scf::IfOp>(
        loc, onShared,
        [&](OpBuilder &inner, Location l) {
          Value y = buildMlp(inner, l, rows, sharedMlp);
          inner.create<scf::YieldOp>(l, castTo(inner, l, y, resultType));
        },
        [&](OpBuilder &inner, Location l) {
          Value y = buildMlp(inner, l, rows, routed);
          inner.create<scf::YieldOp>(l, castTo(inner, l, y, resultType));
        });
    return ifOp.getResult(0);
  }
};

struct SharedExpertsPattern : StagePattern<SharedExpertsOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(SharedExpertsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QuantAttr quant = op.getQuantOrNone();
    if (!hasExpertsExpansion(quant))
      return rewriter.notifyMatchFailure(op, "no device expansion");
    // On MC2's shared-expert ranks the routed experts' expansion runs them.
    if (isHosted(op, deployment)) {
      rewriter.eraseOp(op);
      return success();
    }
    Mlp mlp{adaptor.getW13(),       adaptor.getW2(),
            adaptor.getW13Scale(),  adaptor.getW2Scale(),
            adaptor.getW13GroupScale(), adaptor.getW2GroupScale(),
            quant,                  /*groupList=*/Value()};
    Location loc = op.getLoc();
    Value x = adaptor.getHidden();
    Value y = castTo(rewriter, loc, buildMlp(rewriter, loc, x, mlp),
                     op.getResult().getType());
    // Qwen2-MoE's gate: y * sigmoid(x . Wg), the gate a stage of the chain
    // beside gate-up (it reads x), the scaling part of the down projection.
    if (Value gate = adaptor.getGate()) {
      auto *dialect = rewriter.getContext()->getLoadedDialect<npu::NpuDialect>();
      auto mark = [&](Operation *markOp, npu::SharedExpertStage stage) {
        dialect->getSharedExpertAttrHelper().setAttr(
            markOp, npu::SharedExpertStageAttr::get(rewriter.getContext(), stage));
      };
      auto factor = rewriter.create<npu::SigmoidGateOp>(
          loc, tensorType({ShapedType::kDynamic, 1}, rewriter.getF32Type()), x,
          gate);
      mark(factor, npu::SharedExpertStage::GateUp);
      auto scaled = rewriter.create<npu::ScaleRowsOp>(loc, y.getType(), y,
                                                      factor.getResult());
      mark(scaled, npu::SharedExpertStage::Down);
      y = scaled.getResult();
    }
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// moe.prepare_weights -> npu.w4a8_process_weights (the verifier has
/// checked the scheme and every shape). A quant version 1.0.0 checkpoint
/// (with scale_bias) holds its bias as 16 / tp partial sums per channel, so
/// the deployment's expert tensor parallelism must not exceed 16 (seed 001:
/// "The current weight does not support moe part tp>16").
struct PrepareWeightsPattern : StagePattern<PrepareWeightsOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(PrepareWeightsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<npu::W4A8ProcessWeightsOp>(
        op, op.getResultTypes(), adaptor.getWeight(), adaptor.getScale(),
        adaptor.getScaleSecond(), adaptor.getScaleBias());
    return success();
  }
};

} // namespace

void to_npu::populateExpertsPatterns(RewritePatternSet &patterns,
                                     const Deployment &deployment) {
  patterns.add<ExpertsPattern, SharedExpertsPattern, PrepareWeightsPattern>(
      patterns.getContext(), deployment);
}
