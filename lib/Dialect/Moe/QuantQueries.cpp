//===- QuantQueries.cpp - seed 003's FusedMoEQuantConfig on #moe.quant ----===//
//
// `FusedMoEQuantConfig.make` and the config's queries (use_fp8_w8a8,
// ocp_mx_scheme, config_name, scale_shape, ...), computed from the four
// descriptors of a #moe.quant the way seed 003 computes them from its four
// FusedMoEQuantDesc. Where our descriptors cannot hold what the seed's can
// (a group shape on an unquantized activation), docs/Quantization.md says
// how the answer is kept the same.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"

using namespace mlir;
using namespace mlir::moe;

static bool isFloatDtype(QuantDtype dtype) {
  return dtype == QuantDtype::F32 || dtype == QuantDtype::BF16 ||
         dtype == QuantDtype::F16;
}

QuantAttr QuantAttr::make(function_ref<InFlightDiagnostic()> emitError,
                          MLIRContext *context,
                          std::optional<QuantDtype> quantDtype,
                          bool perActTokenQuant, bool perOutChQuant,
                          std::optional<std::array<int64_t, 2>> blockShape,
                          std::optional<QuantDtype> weightDtype) {
  // Attributes of an unloaded dialect cannot be built.
  context->getOrLoadDialect<MoeDialect>();
  // make()'s assertions: string dtypes are the OCP MX types and nvfp4
  // (int4 is a string the seed does not accept here); a block shape rules
  // out per-token activations and per-channel weights.
  for (std::optional<QuantDtype> dtype : {quantDtype, weightDtype}) {
    if (!dtype)
      continue;
    if (*dtype == QuantDtype::Int4) {
      emitError() << "make() takes int4 only through int4_w4a16's "
                     "descriptors, not as a quant or weight dtype";
      return {};
    }
    if (isFloatDtype(*dtype)) {
      emitError() << stringifyQuantDtype(*dtype)
                  << " is not a quantized dtype (leave the dtype unset for "
                     "unquantized tensors)";
      return {};
    }
  }
  if (blockShape && (perActTokenQuant || perOutChQuant)) {
    emitError() << "a block shape excludes per_act_token_quant and "
                   "per_out_ch_quant";
    return {};
  }
  if (!weightDtype)
    weightDtype = quantDtype;
  // _quant_flags_to_group_shape, with (rows, cols) as in #moe.qdesc.
  std::optional<std::array<int64_t, 2>> aShape, wShape;
  if (blockShape) {
    aShape = wShape = blockShape;
  } else {
    if (quantDtype)
      aShape = std::array<int64_t, 2>{-1, -1};
    if (perActTokenQuant)
      aShape = std::array<int64_t, 2>{1, -1};
    if (perOutChQuant)
      wShape = std::array<int64_t, 2>{1, -1};
  }
  // Our descriptors keep a shape only on a quantized dtype (the shape of an
  // unset dtype is dropped, and the checks below catch what that loses), and
  // micro-block dtypes carry none: the seed's default per-tensor shape on
  // them is implied (isPerTensor() reports it).
  auto desc = [&](std::optional<QuantDtype> dtype,
                  std::optional<std::array<int64_t, 2>> shape) {
    if (!dtype)
      return QuantDescAttr();
    if (QuantDescAttr::hasMicroBlocks(*dtype) && shape && (*shape)[0] == -1 &&
        (*shape)[1] == -1)
      shape.reset();
    int64_t rows = shape ? (*shape)[0] : 0, cols = shape ? (*shape)[1] : 0;
    return QuantDescAttr::getChecked(emitError, context, *dtype, rows, cols);
  };
  QuantDescAttr a = desc(quantDtype, aShape), w = desc(weightDtype, wShape);
  if ((quantDtype && !a) || (weightDtype && !w))
    return {};
  QuantAttr config = QuantAttr::getChecked(emitError, context, a, a, w, w);
  if (!config)
    return {};
  // make()'s closing assertions: the config reports the flags it was made
  // from.
  if (config.isPerActToken() != perActTokenQuant ||
      config.isPerOutChQuant() != perOutChQuant ||
      config.getBlockShape() != blockShape) {
    emitError() << "per_act_token_quant, per_out_ch_quant and block_shape "
                   "need a quantized dtype on the tensors they shape";
    return {};
  }
  return config;
}

std::optional<QuantDtype> QuantAttr::getQuantDtype() const {
  QuantDescAttr a1 = getA1();
  if (!a1 || !a1.isQuantized())
    return std::nullopt;
  return a1.getDtype();
}

static bool isQuantizedDesc(QuantDescAttr d) { return d && d.isQuantized(); }

bool QuantAttr::isPerActToken() const {
  return isQuantizedDesc(getA1()) && getA1().isPerToken();
}

bool QuantAttr::isPerOutChQuant() const {
  return isQuantizedDesc(getW1()) && getW1().isPerToken();
}

bool QuantAttr::isPerTensor() const {
  QuantDescAttr a1 = getA1();
  if (!isQuantizedDesc(a1))
    return false;
  // make() gives micro-block activations the per-tensor shape.
  return a1.isPerTensor() ||
         (QuantDescAttr::hasMicroBlocks(a1.getDtype()) && !a1.hasGroupShape());
}

std::optional<std::array<int64_t, 2>> QuantAttr::getBlockShape() const {
  QuantDescAttr a1 = getA1(), w1 = getW1();
  // int8_w8a16 / int4_w4a16 put the block on the unquantized a1, which our
  // descriptors cannot hold: read it from the weights.
  QuantDescAttr d = isQuantizedDesc(a1) ? a1 : (a1 ? QuantDescAttr() : w1);
  if (!d || !d.isBlock())
    return std::nullopt;
  return std::array<int64_t, 2>{d.getGroupRows(), d.getGroupCols()};
}

static bool weightIs(QuantDescAttr w1, QuantDtype dtype) {
  return w1 && w1.getDtype() == dtype;
}

bool QuantAttr::useFp8W8A8() const {
  return getQuantDtype() == QuantDtype::FP8E4M3;
}
bool QuantAttr::useInt8W8A8() const {
  return getQuantDtype() == QuantDtype::Int8;
}
bool QuantAttr::useInt8W8A16() const {
  return !isQuantized() && weightIs(getW1(), QuantDtype::Int8);
}
bool QuantAttr::useInt4W4A16() const {
  return !isQuantized() && weightIs(getW1(), QuantDtype::Int4);
}
bool QuantAttr::useInt4W4A8() const {
  return getQuantDtype() == QuantDtype::Int8 &&
         weightIs(getW1(), QuantDtype::Int4);
}
bool QuantAttr::useMxfp4W4A16() const {
  return !isQuantized() && weightIs(getW1(), QuantDtype::MXFP4);
}
bool QuantAttr::useMxfp4W4A4() const {
  return getOcpMxScheme() == StringRef("w_mxfp4_a_mxfp4");
}
bool QuantAttr::useNvfp4W4A4() const {
  return getQuantDtype() == QuantDtype::NVFP4;
}

std::optional<StringRef> QuantAttr::getOcpMxScheme() const {
  // OCP_MX_Scheme.from_quant_dtype(a1.dtype, w1.dtype): both must be OCP MX
  // dtypes; five pairs have a name.
  std::optional<QuantDtype> a = getQuantDtype();
  QuantDescAttr w1 = getW1();
  if (!a || !w1)
    return std::nullopt;
  QuantDtype w = w1.getDtype();
  if (w == QuantDtype::MXFP4) {
    switch (*a) {
    case QuantDtype::MXFP4:
      return StringRef("w_mxfp4_a_mxfp4");
    case QuantDtype::MXFP6E3M2:
      return StringRef("w_mxfp4_a_mxfp6_e3m2");
    case QuantDtype::MXFP6E2M3:
      return StringRef("w_mxfp4_a_mxfp6_e2m3");
    default:
      return std::nullopt;
    }
  }
  if (w == *a && w == QuantDtype::MXFP6E3M2)
    return StringRef("w_mxfp6_e3m2_a_mxfp6_e3m2");
  if (w == *a && w == QuantDtype::MXFP6E2M3)
    return StringRef("w_mxfp6_e2m3_a_mxfp6_e2m3");
  return std::nullopt;
}

std::optional<StringRef> QuantAttr::getConfigName(Type activationType) const {
  // _get_config_dtype_str, in its order.
  if (useFp8W8A8())
    return StringRef("fp8_w8a8");
  if (useInt8W8A16())
    return StringRef("int8_w8a16");
  if (useInt4W4A16())
    return StringRef("int4_w4a16");
  if (getOcpMxScheme())
    return std::nullopt;
  if (activationType && activationType.isF32())
    return StringRef("float32");
  return std::nullopt;
}

std::optional<std::array<int64_t, 2>>
QuantAttr::getScaleShape(int64_t maxTokens, int64_t hiddenDim) const {
  if (!isQuantized())
    return std::nullopt;
  if (std::optional<std::array<int64_t, 2>> block = getBlockShape()) {
    int64_t blockK = (*block)[1] > 0 ? (*block)[1] : hiddenDim;
    int64_t kTiles = blockK > 0 ? (hiddenDim + blockK - 1) / blockK : 0;
    return std::array<int64_t, 2>{maxTokens, kTiles};
  }
  if (isPerActToken())
    return std::array<int64_t, 2>{maxTokens, 1};
  return std::array<int64_t, 2>{1, 1};
}

std::optional<std::array<int64_t, 3>>
QuantAttr::getBatchedScaleShape(int64_t numExperts, int64_t maxTokens,
                                int64_t hiddenDim) const {
  std::optional<std::array<int64_t, 2>> s = getScaleShape(maxTokens, hiddenDim);
  if (!s)
    return std::nullopt;
  return std::array<int64_t, 3>{numExperts, (*s)[0], (*s)[1]};
}
