//===- MoeOps.cpp - verifiers and canonicalizations of moe ops ------------===//

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Moe/CommLegality.h"
#include "moe/Support/GateRules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static int64_t dim(Type type, unsigned i) {
  return cast<RankedTensorType>(type).getDimSize(i);
}

/// Whether two (possibly dynamic) sizes can be equal.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string sizeStr(int64_t v) {
  return ShapedType::isDynamic(v) ? std::string("?") : std::to_string(v);
}

Operation *MoeDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  if (auto intAttr = dyn_cast<IntegerAttr>(value); intAttr && type.isIndex())
    return builder.create<arith::ConstantIndexOp>(loc, intAttr.getInt());
  return nullptr;
}

/// Replaces every use of `from` by `to`, casting when the types differ (a
/// static token dimension becoming a dynamic one or back).
static void replaceWithCast(PatternRewriter &rewriter, Location loc,
                            Value from, Value to) {
  if (from.getType() != to.getType())
    to = rewriter.create<tensor::CastOp>(loc, from.getType(), to);
  rewriter.replaceAllUsesWith(from, to);
}

//===----------------------------------------------------------------------===//
// prepare / finalize
//===----------------------------------------------------------------------===//

LogicalResult PrepareOp::verify() {
  int64_t tokens = dim(getHidden().getType(), 0);
  int64_t logitTokens = dim(getLogits().getType(), 0);
  if (!compatible(tokens, logitTokens))
    return emitOpError() << "hidden states have " << tokens
                         << " tokens but the router logits have "
                         << logitTokens;
  if (auto bound = getMaxTokens(); bound && !ShapedType::isDynamic(tokens) &&
                                   tokens > static_cast<int64_t>(*bound))
    return emitOpError() << "has " << tokens
                         << " tokens, more than its max_tokens bound "
                         << *bound;
  return success();
}

namespace {
/// On a single device prepare pads, gathers and slices nothing.
struct SingleDevicePrepare : public OpRewritePattern<PrepareOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(PrepareOp op,
                                PatternRewriter &rewriter) const override {
    if (lookupLayout(op).getWorldSize() != 1)
      return failure();
    if (op.getPreparedHidden().use_empty() &&
        op.getPreparedLogits().use_empty())
      return failure();
    replaceWithCast(rewriter, op.getLoc(), op.getPreparedHidden(),
                    op.getHidden());
    replaceWithCast(rewriter, op.getLoc(), op.getPreparedLogits(),
                    op.getLogits());
    return success();
  }
};

/// On a single device finalize reduces, gathers and unpads nothing.
struct SingleDeviceFinalize : public OpRewritePattern<FinalizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FinalizeOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getShared() || lookupLayout(op).getWorldSize() != 1)
      return failure();
    replaceWithCast(rewriter, op.getLoc(), op.getResult(), op.getRouted());
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void PrepareOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<SingleDevicePrepare>(context);
}

void FinalizeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<SingleDeviceFinalize>(context);
}

LogicalResult FinalizeOp::verify() {
  // Against its prepare: verifyDeployment (MoeDeployment.cpp).
  Type elem = getRouted().getType().getElementType();
  int64_t hidden = dim(getRouted().getType(), 1);
  // Rows in dispatch order (one per routed token and expert) are not the
  // layer's tokens: they must be combined first.
  if (Operation *producer = getRouted().getDefiningOp();
      producer && isa<ExpertsOp, DispatchOp>(producer))
    return emitOpError() << "finalizes the dispatched rows of '"
                         << producer->getName()
                         << "'; combine them with moe.combine first";
  if (Value shared = getShared()) {
    // Seed 000: reduce_results=False leaves the sum to the model, which adds
    // the shared experts' output first and reduces once.
    if (!getReduceResults())
      return emitOpError()
             << "adds the shared experts' output but does not reduce its "
                "result (reduce_results(false)); add the shared output to "
                "the partial result before the one reduction instead";
    auto type = cast<RankedTensorType>(shared.getType());
    if (type.getDimSize(1) != hidden || type.getElementType() != elem)
      return emitOpError() << "shared experts output " << type
                           << " does not match the routed output "
                           << getRouted().getType();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// gate
//===----------------------------------------------------------------------===//

LogicalResult GateOp::verify() {
  auto logits = getLogits().getType();
  int64_t tokens = logits.getDimSize(0), experts = logits.getDimSize(1);
  int64_t k = getTopK();
  auto groups = getNumExpertGroup();
  auto keep = getTopkGroup();
  auto asOptional = [](std::optional<uint64_t> v) -> std::optional<int64_t> {
    if (v)
      return static_cast<int64_t>(*v);
    return std::nullopt;
  };
  if (k > experts)
    return emitOpError() << checkGateConfig(experts, k, std::nullopt,
                                            std::nullopt, false);
  for (Type type : {getWeights().getType(), getIds().getType()}) {
    if (!compatible(dim(type, 0), tokens) || dim(type, 1) != k)
      return emitOpError() << "result " << type << " must be ["
                           << sizeStr(tokens) << ", " << k
                           << "] (tokens x top_k)";
  }
  if (Value bias = getBias()) {
    auto type = cast<RankedTensorType>(bias.getType());
    if (type.getRank() != 1 || type.getDimSize(0) != experts ||
        !type.getElementType().isF32())
      return emitOpError() << "correction bias must be tensor<" << experts
                           << "xf32>, got " << type;
  }
  std::string error = checkGateConfig(experts, k, asOptional(groups),
                                      asOptional(keep), bool(getBias()),
                                      getBalanced());
  if (!error.empty())
    return emitOpError() << error;
  return success();
}

//===----------------------------------------------------------------------===//
// dispatch / combine
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::verify() {
  int64_t tokens = dim(getHidden().getType(), 0);
  int64_t k = dim(getIds().getType(), 1);
  if (!compatible(tokens, dim(getWeights().getType(), 0)) ||
      !compatible(tokens, dim(getIds().getType(), 0)) ||
      dim(getWeights().getType(), 1) != k)
    return emitOpError() << "weights " << getWeights().getType() << " and ids "
                         << getIds().getType() << " must both be ["
                         << sizeStr(tokens) << ", K] for hidden states "
                         << getHidden().getType();
  int64_t logical = getNumExperts();
  if (k > logical)
    return emitOpError() << "routes each token to " << k
                         << " experts but there are only " << logical;
  // The router scores one logit per logical expert.
  if (auto gate = getIds().getDefiningOp<GateOp>()) {
    int64_t scored = gate.getLogits().getType().getDimSize(1);
    if (scored != logical)
      return emitOpError() << "dispatches to " << logical
                           << " experts but its gate scores " << scored
                           << " (router logits " << gate.getLogits().getType()
                           << ")";
  }
  // vllm's apply_router_weight_on_input asserts top-1 (seed 002); only the
  // allgather dispatcher applies it.
  if (getRouterWeightOnInput()) {
    if (k != 1)
      return emitOpError() << "router_weight_on_input needs top-1 routing "
                              "(seed 002 asserts topk == 1), got top-"
                           << k;
    if (getMethod() != CommMethod::Unset &&
        getMethod() != CommMethod::AllGather)
      return emitOpError()
             << "router_weight_on_input runs with allgather only (seed 002: "
                "the other dispatchers ignore it), not "
             << stringifyCommMethod(getMethod());
  }
  // The method and the expert split depend on the deployment: checked
  // against the enclosing moe.layout by verifyDeployment (MoeDeployment.cpp).
  int64_t physical = getNumPhysicalExperts();
  if (Value log2phy = getLog2phy(); log2phy && dim(log2phy.getType(), 0) !=
                                                   logical)
    return emitOpError() << "log2phy must map the " << logical
                         << " logical experts, got " << log2phy.getType();
  if (Value map = getExpertMap(); map && dim(map.getType(), 0) != physical)
    return emitOpError() << "expert_map must cover the " << physical
                         << " physical experts, got " << map.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// experts / shared_experts
//===----------------------------------------------------------------------===//

namespace {
/// The operands of a SwiGLU MLP, with or without a leading expert dimension.
struct MlpOperands {
  Operation *op;
  int64_t hidden;
  std::optional<int64_t> experts; // L, absent for shared experts
  Value w13, w2, s13, s2, g13, g2;
  QuantAttr quant;
  Value b13 = {}, b2 = {}; // w4a8 kernel form (moe.experts only)
};
} // namespace

/// Element type a weight of the given descriptor must have.
static Type weightElementType(MLIRContext *ctx, QuantDtype dtype) {
  Builder b(ctx);
  switch (dtype) {
  case QuantDtype::F32:
    return b.getF32Type();
  case QuantDtype::BF16:
    return b.getBF16Type();
  case QuantDtype::F16:
    return b.getF16Type();
  case QuantDtype::FP8E4M3:
    return b.getFloat8E4M3FNType();
  case QuantDtype::FP8E5M2:
    return b.getFloat8E5M2Type();
  case QuantDtype::MXFP6E3M2: // one value per byte, in the low six bits
  case QuantDtype::MXFP6E2M3:
  case QuantDtype::Int8:
  case QuantDtype::MXFP4: // two e2m1 values per byte
  case QuantDtype::NVFP4:
    return b.getIntegerType(8);
  case QuantDtype::Int4:
    return b.getIntegerType(4);
  }
  llvm_unreachable("unknown dtype");
}

std::pair<int64_t, int64_t> mlir::moe::weightScaleBlock(QuantDescAttr desc,
                                                        int64_t k, int64_t n) {
  int64_t rows = desc.getGroupRows(), cols = desc.getGroupCols();
  return {cols > 0 ? cols : k, rows > 0 ? rows : n};
}

bool mlir::moe::isPackedFp4WeightDesc(QuantDescAttr desc) {
  return desc && (desc.getDtype() == QuantDtype::MXFP4 ||
                  desc.getDtype() == QuantDtype::NVFP4);
}

bool mlir::moe::isScaledWeightDesc(QuantDescAttr desc) {
  if (!desc)
    return false;
  QuantDtype d = desc.getDtype();
  return d == QuantDtype::Int8 || d == QuantDtype::FP8E4M3 ||
         d == QuantDtype::FP8E5M2;
}

static LogicalResult verifyMlp(const MlpOperands &m) {
  Operation *op = m.op;
  unsigned lead = m.experts ? 1 : 0;
  auto w13 = cast<RankedTensorType>(m.w13.getType());
  auto w2 = cast<RankedTensorType>(m.w2.getType());
  const char *w13Shape = m.experts ? "[L, H, 2I]" : "[H, 2I]";
  const char *w2Shape = m.experts ? "[L, I, H]" : "[I, H]";
  if (w13.getRank() != 2 + lead)
    return op->emitOpError() << "w13 must be " << w13Shape << ", got " << w13;
  if (w2.getRank() != 2 + lead)
    return op->emitOpError() << "w2 must be " << w2Shape << ", got " << w2;
  if (m.experts && (w13.getDimSize(0) != *m.experts ||
                    w2.getDimSize(0) != *m.experts))
    return op->emitOpError() << "weights hold " << w13.getDimSize(0) << " and "
                             << w2.getDimSize(0) << " experts but counts has "
                             << *m.experts;
  QuantScheme scheme = m.quant.getScheme();
  QuantDescAttr w1Desc = m.quant.getW1();
  // fp4 weights store two values per byte along the reduced dimension K
  // (as checkpoints ship them): [L, K / 2, N] bytes.
  bool packed = isPackedFp4WeightDesc(w1Desc);
  int64_t unpack = packed ? 2 : 1;
  const char *packedNote = packed ? " (two fp4 values per byte)" : "";
  if (w13.getDimSize(lead) * unpack != m.hidden)
    return op->emitOpError() << "w13 reduces over "
                             << w13.getDimSize(lead) * unpack << packedNote
                             << " but the hidden size is " << m.hidden;
  int64_t n13 = w13.getDimSize(lead + 1);
  if (n13 % 2 != 0)
    return op->emitOpError() << "w13 output size " << n13
                             << " must be even (gate and up halves)";
  int64_t inter = n13 / 2;
  if (w2.getDimSize(lead) * unpack != inter)
    return op->emitOpError() << "w2 reduces over "
                             << w2.getDimSize(lead) * unpack << packedNote
                             << " but the intermediate size is " << inter;
  if (w2.getDimSize(lead + 1) != m.hidden)
    return op->emitOpError() << "w2 produces " << w2.getDimSize(lead + 1)
                             << " values but the hidden size is " << m.hidden;

  // Expected shape of a scale tensor: optional [L] then `dims`.
  auto expectScale = [&](Value v, const char *name,
                         ArrayRef<int64_t> dims) -> LogicalResult {
    SmallVector<int64_t> shape;
    if (m.experts)
      shape.push_back(*m.experts);
    shape.append(dims.begin(), dims.end());
    auto want = RankedTensorType::get(shape, Builder(op).getF32Type());
    if (v.getType() != want)
      return op->emitOpError() << name << " must be " << want << ", got "
                               << v.getType();
    return success();
  };
  Type w13Elem = w13.getElementType();
  if (w13Elem != w2.getElementType())
    return op->emitOpError() << "w13 and w2 element types differ: " << w13Elem
                             << " vs " << w2.getElementType();

  switch (scheme) {
  case QuantScheme::None:
    if (!isa<FloatType>(w13Elem))
      return op->emitOpError() << "unquantized weights must be floating "
                                  "point, got "
                               << w13Elem << " (missing quant?)";
    if (m.s13 || m.g13 || m.b13)
      return op->emitOpError() << "unquantized experts take no scales";
    return success();
  case QuantScheme::W8A8Dynamic:
  case QuantScheme::W4A8Dynamic: {
    bool w4 = scheme == QuantScheme::W4A8Dynamic;
    const char *name = w4 ? "w4a8_dynamic" : "w8a8_dynamic";
    unsigned bits = w4 ? 4 : 8;
    if (!w13Elem.isSignlessInteger(bits))
      return op->emitOpError() << name << " needs i" << bits
                               << " weights, got " << w13Elem;
    if (m.b13 && !w4)
      return op->emitOpError() << name << " takes no biases";
    if (w4 && !m.experts) {
      // Shared experts: the weight-only path of seed 001's linear method;
      // the group scales are the processed antiquant scales.
      if (m.s13)
        return op->emitOpError()
               << "w4a8_dynamic shared experts are weight-only: they take "
                  "the processed per-group antiquant scales as group_scales "
                  "and no per-channel scales";
    } else if (m.b13) {
      // The kernel form: merged group scales and the biases.
      if (m.s13)
        return op->emitOpError() << "w4a8_dynamic with biases takes merged "
                                    "group scales and no per-channel scales";
      if (failed(expectScale(m.b13, "w13 bias", {n13})) ||
          failed(expectScale(m.b2, "w2 bias", {m.hidden})))
        return failure();
    } else {
      if (!m.s13)
        return op->emitOpError() << name << " needs per-channel scales";
      if (failed(expectScale(m.s13, "w13 scale", {n13})) ||
          failed(expectScale(m.s2, "w2 scale", {m.hidden})))
        return failure();
    }
    if (!w4) {
      if (m.g13)
        return op->emitOpError() << name << " takes no group scales";
      return success();
    }
    int64_t group = m.quant.getGroupSize();
    if (m.hidden % group != 0)
      return op->emitOpError() << "group size " << group
                               << " does not divide the hidden size "
                               << m.hidden;
    if (inter % group != 0)
      return op->emitOpError() << "group size " << group
                               << " does not divide the intermediate size "
                               << inter;
    if (!m.g13)
      return op->emitOpError() << name << " needs group scales";
    if (failed(expectScale(m.g13, "w13 group scale",
                           {m.hidden / group, n13})) ||
        failed(expectScale(m.g2, "w2 group scale", {inter / group, m.hidden})))
      return failure();
    return success();
  }
  case QuantScheme::Custom:
    break;
  }
  // A spelled-out descriptor: element types follow the dtypes, blocks tile
  // the matrices they quantize.
  if (w1Desc) {
    Type want = weightElementType(op->getContext(), w1Desc.getDtype());
    if (w13Elem != want)
      return op->emitOpError() << "weights quantized as "
                               << stringifyQuantDtype(w1Desc.getDtype())
                               << " must have element type " << want
                               << ", got " << w13Elem;
  } else if (!isa<FloatType>(w13Elem)) {
    return op->emitOpError() << "weights without a w1 descriptor must be "
                                "floating point, got "
                             << w13Elem;
  }
  auto checkBlock = [&](QuantDescAttr desc, const char *name, int64_t rows,
                        int64_t cols, bool isWeight) -> LogicalResult {
    if (!desc || !desc.isBlock())
      return success();
    if (cols % desc.getGroupCols() != 0)
      return op->emitOpError()
             << name << " block of " << desc.getGroupCols()
             << " columns does not divide the reduced dimension " << cols;
    if (isWeight && rows % desc.getGroupRows() != 0)
      return op->emitOpError()
             << name << " block of " << desc.getGroupRows()
             << " rows does not divide the output dimension " << rows;
    return success();
  };
  if (failed(checkBlock(m.quant.getA1(), "a1", 0, m.hidden, false)) ||
      failed(checkBlock(m.quant.getA2(), "a2", 0, inter, false)) ||
      failed(checkBlock(w1Desc, "w1", n13, m.hidden, true)) ||
      failed(checkBlock(m.quant.getW2(), "w2", m.hidden, inter, true)))
    return failure();
  // mxfp4: one e8m0 byte (i8) per 32 rows along K, [L?, K / 32, N];
  // nvfp4: one e4m3 per 16 rows and a global f32 per expert in
  // group_scales, [L?] (docs/Quantization.md, "mxfp4 and nvfp4").
  if (packed) {
    bool nv = w1Desc.getDtype() == QuantDtype::NVFP4;
    int64_t block = QuantDescAttr::microBlockSize(w1Desc.getDtype());
    const char *name = nv ? "nvfp4" : "mxfp4";
    if (m.hidden % block != 0 || inter % block != 0)
      return op->emitOpError()
             << name << " blocks of " << block
             << " must divide the hidden size " << m.hidden
             << " and the intermediate size " << inter;
    if (m.b13)
      return op->emitOpError() << name << " weights take no biases";
    if (!nv && m.g13)
      return op->emitOpError()
             << "mxfp4 weights take their e8m0 scales in scales(...) and no "
                "group scales";
    Builder b(op->getContext());
    Type scaleElem = nv ? Type(b.getFloat8E4M3FNType()) : b.getIntegerType(8);
    auto expectFp4Scale = [&](Value v, const char *what, int64_t k,
                              int64_t n) -> LogicalResult {
      SmallVector<int64_t> shape;
      if (m.experts)
        shape.push_back(*m.experts);
      shape.append({k / block, n});
      auto want = RankedTensorType::get(shape, scaleElem);
      if (v.getType() != want)
        return op->emitOpError()
               << what << " must be " << want << " (one "
               << (nv ? "e4m3" : "e8m0 byte") << " per " << block
               << " values along K), got " << v.getType();
      return success();
    };
    if (m.s13 && (failed(expectFp4Scale(m.s13, "w13 scale", m.hidden, n13)) ||
                  failed(expectFp4Scale(m.s2, "w2 scale", inter, m.hidden))))
      return failure();
    if (nv && m.g13) {
      if (failed(expectScale(m.g13, "w13 global scale", {})) ||
          failed(expectScale(m.g2, "w2 global scale", {})))
        return failure();
    }
    return success();
  }
  // int8 / fp8 weights: one f32 scale per block, [L?, K / bk, N / bn]
  // (given as `scales`; the expansion requires them).
  if (isScaledWeightDesc(w1Desc)) {
    if (m.g13 || m.b13)
      return op->emitOpError()
             << "weights quantized as " << stringifyQuantDtype(w1Desc.getDtype())
             << " take one scale per block in scales(...), no group scales "
                "or biases";
    if (m.s13) {
      auto [k13, bn13] = weightScaleBlock(w1Desc, m.hidden, n13);
      auto [k2, bn2] = weightScaleBlock(m.quant.getW2(), inter, m.hidden);
      if (failed(expectScale(m.s13, "w13 scale",
                             {m.hidden / k13, n13 / bn13})) ||
          failed(expectScale(m.s2, "w2 scale", {inter / k2, m.hidden / bn2})))
        return failure();
    }
  }
  return success();
}

static QuantAttr quantOrNone(MLIRContext *ctx, std::optional<QuantAttr> q) {
  if (q && *q)
    return *q;
  return QuantAttr::get(ctx, QuantScheme::None);
}

QuantAttr ExpertsOp::getQuantOrNone() {
  return quantOrNone(getContext(), getQuant());
}

QuantAttr SharedExpertsOp::getQuantOrNone() {
  return quantOrNone(getContext(), getQuant());
}

/// ODS guarantees the scale operands come in pairs only through the custom
/// form; the generic form can give one of a pair.
static LogicalResult verifyPairs(Operation *op, Value s13, Value s2, Value g13,
                                 Value g2) {
  if (bool(s13) != bool(s2))
    return op->emitOpError() << "w13 and w2 scales go together";
  if (bool(g13) != bool(g2))
    return op->emitOpError() << "w13 and w2 group scales go together";
  return success();
}

LogicalResult ExpertsOp::verify() {
  if (failed(verifyPairs(*this, getW13Scale(), getW2Scale(),
                         getW13GroupScale(), getW2GroupScale())))
    return failure();
  if (bool(getW13Bias()) != bool(getW2Bias()))
    return emitOpError() << "w13 and w2 biases go together";
  return verifyMlp({*this, dim(getRows().getType(), 1),
                    getCounts().getType().getDimSize(0), getW13(), getW2(),
                    getW13Scale(), getW2Scale(), getW13GroupScale(),
                    getW2GroupScale(), getQuantOrNone(), getW13Bias(),
                    getW2Bias()});
}

LogicalResult PrepareWeightsOp::verify() {
  if (getQuant().getScheme() != QuantScheme::W4A8Dynamic)
    return emitOpError() << "prepares w4a8_dynamic weights only, got "
                         << getQuant();
  auto w = cast<RankedTensorType>(getWeight().getType());
  auto s = cast<RankedTensorType>(getScale().getType());
  auto ss = cast<RankedTensorType>(getScaleSecond().getType());
  if (w.getRank() != 3 || !w.getElementType().isSignlessInteger(8))
    return emitOpError() << "weight must be [L, N, K] i8 (int4 values as "
                            "the checkpoint stores them), got "
                         << w;
  Type scaleElem = s.getElementType();
  if (!scaleElem.isF32() && !scaleElem.isBF16() && !scaleElem.isF16())
    return emitOpError() << "scales must be f32, bf16 or f16, got " << s;
  if (ss.getElementType() != scaleElem)
    return emitOpError() << "scale and scale_second must have one element "
                            "type, got "
                         << scaleElem << " and " << ss.getElementType();
  // Quant version 1.0.0 (with scale_bias) packs two channels per byte.
  int64_t packing = getScaleBias() ? 2 : 1;
  int64_t l = w.getDimSize(0), n = w.getDimSize(1) * packing,
          k = w.getDimSize(2);
  int64_t group = getQuant().getGroupSize();
  if (Value sb = getScaleBias()) {
    auto b = cast<RankedTensorType>(sb.getType());
    if (b.getRank() != 3 || !b.getElementType().isF32() ||
        b.getDimSize(0) != l || b.getDimSize(1) != n || b.getDimSize(2) < 1)
      return emitOpError() << "scale_bias must be [" << l << "x" << n
                           << "xP] f32 (P >= 1 partial sums per channel of "
                              "the packed weight), got "
                           << b;
  }
  if (k % group != 0)
    return emitOpError() << "group size " << group
                         << " does not divide the reduced dimension " << k;
  if (n % 2 != 0)
    return emitOpError() << "the i4 weight packs rows of N = " << n
                         << " output channels two per byte: N must be even";
  Builder b(getContext());
  auto expect = [&](Value v, const char *name,
                    RankedTensorType want) -> LogicalResult {
    if (v.getType() != want)
      return emitOpError() << name << " must be " << want << ", got "
                           << v.getType();
    return success();
  };
  if (failed(expect(getScale(), "scale",
                    RankedTensorType::get({l, n, 1}, scaleElem))) ||
      failed(expect(getScaleSecond(), "scale_second",
                    RankedTensorType::get({l, n, k / group}, scaleElem))) ||
      failed(expect(getProcessedWeight(), "processed_weight",
                    RankedTensorType::get({l, k, n}, b.getIntegerType(4)))) ||
      failed(expect(getMergedScale(), "merged_scale",
                    RankedTensorType::get({l, k / group, n}, b.getF32Type()))) ||
      failed(expect(getBias(), "bias",
                    RankedTensorType::get({l, n}, b.getF32Type()))))
    return failure();
  return success();
}

LogicalResult SharedExpertsOp::verify() {
  if (failed(verifyPairs(*this, getW13Scale(), getW2Scale(),
                         getW13GroupScale(), getW2GroupScale())))
    return failure();
  if (Value gate = getGate()) {
    auto type = cast<RankedTensorType>(gate.getType());
    int64_t h = dim(getHidden().getType(), 1);
    if (type.getRank() != 2 || type.getDimSize(0) != h ||
        type.getDimSize(1) != 1 ||
        !isa<Float32Type, BFloat16Type, Float16Type>(type.getElementType()))
      return emitOpError() << "gate must be a [" << h
                           << ", 1] f32, bf16 or f16 tensor (the hidden "
                              "size by one), got "
                           << type;
  }
  return verifyMlp({*this, dim(getHidden().getType(), 1), std::nullopt,
                    getW13(), getW2(), getW13Scale(), getW2Scale(),
                    getW13GroupScale(), getW2GroupScale(), getQuantOrNone()});
}

//===----------------------------------------------------------------------===//
// choose_method
//===----------------------------------------------------------------------===//

static ParseResult parseMethodList(OpAsmParser &parser, ArrayAttr &methods) {
  SmallVector<Attribute> list;
  auto parseOne = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    StringRef name;
    if (parser.parseKeyword(&name))
      return failure();
    std::optional<CommMethod> method = symbolizeCommMethod(name);
    if (!method)
      return parser.emitError(loc)
             << "unknown communication method '" << name
             << "'; expected allgather, alltoall, mc2 or fused_mc2";
    list.push_back(CommMethodAttr::get(parser.getContext(), *method));
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, parseOne))
    return failure();
  methods = ArrayAttr::get(parser.getContext(), list);
  return success();
}

static void printMethodList(OpAsmPrinter &printer, Operation *,
                            ArrayAttr methods) {
  printer << "[";
  llvm::interleaveComma(methods, printer, [&](Attribute attr) {
    printer << stringifyCommMethod(cast<CommMethodAttr>(attr).getValue());
  });
  printer << "]";
}

LogicalResult ChooseMethodOp::verify() {
  ArrayRef<int64_t> thresholds = getThresholds();
  for (auto [i, t] : llvm::enumerate(thresholds)) {
    if (t < 0)
      return emitOpError() << "thresholds must be non-negative, got " << t;
    if (i > 0 && t <= thresholds[i - 1])
      return emitOpError() << "thresholds must increase strictly, got "
                           << thresholds[i - 1] << " then " << t;
  }
  if (getMethods().size() != thresholds.size() + 1)
    return emitOpError() << getMethods().size() << " methods for "
                         << thresholds.size()
                         << " thresholds; expected one more method than "
                            "thresholds";
  for (Attribute attr : getMethods())
    if (cast<CommMethodAttr>(attr).getValue() == CommMethod::Unset)
      return emitOpError() << "cannot choose the unset method";
  return success();
}

OpFoldResult ChooseMethodOp::fold(FoldAdaptor) {
  if (getThresholds().empty())
    return IntegerAttr::get(IndexType::get(getContext()), 0);
  return {};
}

#define GET_OP_CLASSES
#include "moe/Dialect/Moe/MoeOps.cpp.inc"
