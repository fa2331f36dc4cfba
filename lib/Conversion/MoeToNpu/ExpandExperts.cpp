//===- ExpandExperts.cpp - routed and shared expert MLPs ------------------===//
//
// The grouped SwiGLU MLP of the local experts (grouped matmuls) and of the
// shared experts (dense matmuls), unquantized, w8a8 dynamic and w4a8
// dynamic (seed 001); docs/Expansion.md "experts" and "shared experts".
//
//===----------------------------------------------------------------------===//

#include "Expander.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::expand;

FailureOr<Value> Expander::buildMlp(Operation *op, Value rows, const Mlp &mlp) {
  Location loc = op->getLoc();
  auto rowsType = cast<RankedTensorType>(rows.getType());
  Type elem = rowsType.getElementType();
  int64_t dyn = ShapedType::kDynamic;

  // A (grouped) matmul of `x` and `w` with an `outElem` result.
  auto matmul = [&](Value x, Value w, Type outElem, Value scale,
                    Value perToken, Value groupScale,
                    npu::MatmulQuant quant) -> Value {
    auto wType = cast<RankedTensorType>(w.getType());
    Type resultType = tensorType({dyn, wType.getShape().back()}, outElem);
    if (mlp.groupList)
      return b.create<npu::GroupedMatmulOp>(loc, resultType, x, w,
                                            mlp.groupList, scale, perToken,
                                            groupScale, quant,
                                            mlp.groupListType);
    return b.create<npu::MatmulOp>(loc, resultType, x, w, scale, perToken,
                                   groupScale, quant);
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
    Value h = matmul(rows, mlp.w13, elem, {}, {}, {}, npu::MatmulQuant::None);
    return matmul(swiglu(h), mlp.w2, elem, {}, {}, {}, npu::MatmulQuant::None);
  }
  case QuantScheme::W8A8Dynamic: {
    npu::DynamicQuantOp q = quantize(rows);
    Value q2, s2;
    if (mlp.groupList) {
      // gmm1 keeps the raw i32 accumulator; npu_dequant_swiglu_quant
      // dequantizes, activates and requantizes in one operator.
      Value h = matmul(q.getQ(), mlp.w13, b.getI32Type(), {}, {}, {},
                       npu::MatmulQuant::W8A8);
      auto hType = cast<RankedTensorType>(h.getType());
      auto act = b.create<npu::DequantSwigluQuantOp>(
          loc, tensorType({dyn, hType.getDimSize(1) / 2}, b.getI8Type()),
          tensorType({dyn}, b.getF32Type()), h, mlp.s13, q.getScale(),
          mlp.groupList, mlp.groupListType);
      q2 = act.getQ();
      s2 = act.getScale();
    } else {
      Value h = matmul(q.getQ(), mlp.w13, b.getF32Type(), mlp.s13,
                       q.getScale(), {}, npu::MatmulQuant::W8A8);
      npu::DynamicQuantOp q1 = quantize(swiglu(h));
      q2 = q1.getQ();
      s2 = q1.getScale();
    }
    return matmul(q2, mlp.w2, elem, mlp.s2, s2, {}, npu::MatmulQuant::W8A8);
  }
  case QuantScheme::W4A8Dynamic: {
    npu::DynamicQuantOp q = quantize(rows);
    Value h = matmul(q.getQ(), mlp.w13, b.getF32Type(), mlp.s13, q.getScale(),
                     mlp.g13, npu::MatmulQuant::W4A8);
    npu::DynamicQuantOp q1 = quantize(swiglu(h));
    return matmul(q1.getQ(), mlp.w2, elem, mlp.s2, q1.getScale(), mlp.g2,
                  npu::MatmulQuant::W4A8);
  }
  case QuantScheme::Custom:
    break;
  }
  return op->emitOpError()
         << "cannot be expanded: no device operator runs experts quantized as "
         << mlp.quant << "; supported are none, w8a8_dynamic and "
         << "w4a8_dynamic";
}

LogicalResult Expander::expandExperts(ExpertsOp op) {
  Mlp mlp{op.getW13(),        op.getW2(),         op.getW13Scale(),
          op.getW2Scale(),    op.getW13GroupScale(), op.getW2GroupScale(),
          op.getQuantOrNone(), op.getCounts(),
          groupListTypes.lookup(op.getCounts())};
  if (!groupListTypes.count(op.getCounts()))
    mlp.groupListType = npu::GroupListType::Count;
  FailureOr<Value> y = buildMlp(op, op.getRows(), mlp);
  if (failed(y))
    return failure();
  replace(op, *y);
  eraseNow(op);
  return success();
}

LogicalResult Expander::expandSharedExperts(SharedExpertsOp op) {
  Mlp mlp{op.getW13(),        op.getW2(),         op.getW13Scale(),
          op.getW2Scale(),    op.getW13GroupScale(), op.getW2GroupScale(),
          op.getQuantOrNone(), /*groupList=*/Value()};
  FailureOr<Value> y = buildMlp(op, op.getHidden(), mlp);
  if (failed(y))
    return failure();
  replace(op, *y);
  eraseNow(op);
  return success();
}
