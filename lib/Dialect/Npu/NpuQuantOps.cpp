//===- NpuQuantOps.cpp - verifiers of the quantized-format ops ------------===//
//
// npu.quant_dequant and npu.dequantize_weights (dialects/Npu/
// NpuQuantOps.td): shapes, block tiling and the element type each format
// is stored in.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::npu;

/// The element type weights of `format` are stored in.
static Type storageType(MLIRContext *ctx, QuantFormat format) {
  Builder b(ctx);
  switch (format) {
  case QuantFormat::Int8:
    return b.getIntegerType(8);
  case QuantFormat::Fp8E4M3:
    return b.getFloat8E4M3FNType();
  case QuantFormat::Fp8E5M2:
    return b.getFloat8E5M2Type();
  case QuantFormat::Mxfp4:
  case QuantFormat::Nvfp4:
    return {}; // packed: npu.dequantize_fp4_weights
  }
  llvm_unreachable("unknown quant format");
}

LogicalResult QuantDequantOp::verify() {
  auto x = cast<RankedTensorType>(getX().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (x.getShape() != result.getShape())
    return emitOpError() << "result must have x's shape " << x << ", got "
                         << result;
  if (getFormat() == QuantFormat::Int8)
    return emitOpError() << "int8 activations are quantized by "
                            "npu.dynamic_quant; quant_dequant takes fp8 "
                            "and fp4 formats";
  int64_t k = x.getDimSize(1);
  int64_t group = static_cast<int64_t>(getGroupSize());
  bool fp4 = getFormat() == QuantFormat::Mxfp4 ||
             getFormat() == QuantFormat::Nvfp4;
  int64_t block = getFormat() == QuantFormat::Mxfp4 ? 32 : 16;
  if (fp4 && group != block)
    return emitOpError() << stringifyQuantFormat(getFormat())
                         << " quantizes blocks of " << block
                         << " columns: group_size must be " << block
                         << ", got " << group;
  if (group != 0) {
    if (ShapedType::isDynamic(k))
      return emitOpError() << "a group_size needs a static row length, got "
                           << x;
    if (k % group != 0)
      return emitOpError() << "group_size " << group
                           << " does not divide the row length " << k;
  }
  return success();
}

LogicalResult DequantizeWeightsOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  auto s = cast<RankedTensorType>(getScale().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  Type want = storageType(getContext(), getFormat());
  if (!want)
    return emitOpError() << "packed " << stringifyQuantFormat(getFormat())
                         << " weights are dequantized by "
                            "npu.dequantize_fp4_weights";
  if (w.getElementType() != want)
    return emitOpError() << stringifyQuantFormat(getFormat())
                         << " weights are stored as " << want << ", got "
                         << w.getElementType();
  if (w.getRank() != 3 || !w.hasStaticShape())
    return emitOpError() << "weight must be a static [L, K, N], got " << w;
  if (result.getShape() != w.getShape())
    return emitOpError() << "result must have the weight's shape, got "
                         << result;
  int64_t l = w.getDimSize(0), k = w.getDimSize(1), n = w.getDimSize(2);
  int64_t bk = static_cast<int64_t>(getBlockK());
  int64_t bn = static_cast<int64_t>(getBlockN());
  if (k % bk != 0 || n % bn != 0)
    return emitOpError() << "block (" << bk << ", " << bn
                         << ") does not tile the weight's [K, N] = [" << k
                         << ", " << n << "]";
  SmallVector<int64_t> scaleShape{l, k / bk, n / bn};
  if (s.getShape() != ArrayRef<int64_t>(scaleShape))
    return emitOpError() << "scale must be ["
                         << l << "x" << k / bk << "x" << n / bn
                         << "] (one per block), got " << s;
  return success();
}

LogicalResult DequantizeFp4WeightsOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  auto s = cast<RankedTensorType>(getScale().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  QuantFormat format = getFormat();
  if (format != QuantFormat::Mxfp4 && format != QuantFormat::Nvfp4)
    return emitOpError() << "takes mxfp4 or nvfp4, got "
                         << stringifyQuantFormat(format)
                         << " (npu.dequantize_weights reads it)";
  bool nv = format == QuantFormat::Nvfp4;
  int64_t block = nv ? 16 : 32;
  if (w.getRank() != 3 || !w.hasStaticShape())
    return emitOpError() << "weight must be a static packed [L, K / 2, N], got "
                         << w;
  int64_t l = w.getDimSize(0), k = 2 * w.getDimSize(1), n = w.getDimSize(2);
  SmallVector<int64_t> full{l, k, n};
  if (result.getShape() != ArrayRef<int64_t>(full))
    return emitOpError() << "result must be [L, K, N] = [" << l << "x" << k
                         << "x" << n << "] (two elements per weight byte), got "
                         << result;
  if (k % block != 0)
    return emitOpError() << stringifyQuantFormat(format) << " blocks of "
                         << block << " do not divide K = " << k;
  Builder b(getContext());
  Type scaleElem = nv ? Type(b.getFloat8E4M3FNType()) : b.getIntegerType(8);
  auto wantScale = RankedTensorType::get({l, k / block, n}, scaleElem);
  if (s != wantScale)
    return emitOpError() << stringifyQuantFormat(format) << " scale must be "
                         << wantScale << " (one "
                         << (nv ? "e4m3" : "e8m0 byte") << " per " << block
                         << " rows), got " << s;
  if (!nv && getGlobalScale())
    return emitOpError() << "mxfp4 takes no global scale";
  if (nv) {
    auto want = RankedTensorType::get({l}, b.getF32Type());
    if (!getGlobalScale())
      return emitOpError() << "nvfp4 needs a global scale " << want;
    if (getGlobalScale().getType() != want)
      return emitOpError() << "nvfp4 global scale must be " << want
                           << " (one per expert), got "
                           << getGlobalScale().getType();
  }
  return success();
}
