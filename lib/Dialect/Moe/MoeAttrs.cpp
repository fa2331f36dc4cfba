//===- MoeAttrs.cpp - attributes and types of the moe dialect -------------===//

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::moe;

#include "moe/Dialect/Moe/MoeEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/Moe/MoeAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Moe/MoeTypes.cpp.inc"

void MoeDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/Moe/MoeAttrs.cpp.inc"
      >();
}

void MoeDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/Moe/MoeTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// LayoutAttr
//===----------------------------------------------------------------------===//

LogicalResult LayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t tp, int64_t dp, int64_t pp,
                                 bool expertParallel, bool sequenceParallel,
                                 int64_t pcp, int64_t sharedExpertRanks) {
  if (tp < 1 || dp < 1 || pp < 1)
    return emitError() << "layout sizes must be at least 1, got tp = " << tp
                       << ", dp = " << dp << ", pp = " << pp;
  if (pcp < 1)
    return emitError() << "layout sizes must be at least 1, got pcp = "
                       << pcp;
  // Checked products: every later product of the sizes stays in range.
  int64_t devices = 0;
  if (__builtin_mul_overflow(tp, dp, &devices) ||
      __builtin_mul_overflow(devices, pp, &devices) || devices > kMaxDevices)
    return emitError() << "layout spans more than " << kMaxDevices
                       << " devices (tp * dp * pp with tp = " << tp
                       << ", dp = " << dp << ", pp = " << pp << ")";
  if (__builtin_mul_overflow(devices, pcp, &devices) || devices > kMaxDevices)
    return emitError() << "layout spans more than " << kMaxDevices
                       << " devices (tp * dp * pp * pcp with pcp = " << pcp
                       << ")";
  if (sequenceParallel && !(expertParallel && tp * dp * pcp > 1))
    return emitError() << "sequence_parallel gathers tokens over the expert-"
                          "parallel group and needs expert_parallel with "
                          "dp * tp > 1";
  if (sharedExpertRanks < 0)
    return emitError() << "shared_expert_ranks must be at least 0, got "
                       << sharedExpertRanks;
  if (sharedExpertRanks > 0) {
    int64_t ep = tp * dp * pcp;
    if (!expertParallel || ep == 1)
      return emitError() << "shared_expert_ranks reserves expert-parallel "
                            "ranks and needs expert_parallel with dp * tp * "
                            "pcp > 1";
    if (sharedExpertRanks >= ep || ep % sharedExpertRanks != 0)
      return emitError() << "shared_expert_ranks = " << sharedExpertRanks
                         << " must divide the " << ep
                         << " expert-parallel ranks and leave ranks for the "
                            "routed experts";
  }
  return success();
}

LayoutAttr::RankView LayoutAttr::flatten(int64_t dpRank, int64_t tpRank,
                                         int64_t pcpRank) const {
  // vLLM FusedMoEParallelConfig.make: flatten DP into TP, then either shard
  // experts over the flattened group (no EP) or give each device whole
  // experts (EP), in which case TP becomes 1.
  int64_t flatTp = getFlatTpSize();
  int64_t flatTpRank = (dpRank * getPcp() + pcpRank) * getTp() + tpRank;
  if (!useEp())
    return {flatTp, flatTpRank, getDp(), dpRank, 1, 0, false};
  return {1, 0, getDp(), dpRank, flatTp, flatTpRank, true};
}

//===----------------------------------------------------------------------===//
// ChipAttr
//===----------------------------------------------------------------------===//

namespace {
/// Figures of one chip generation; sources in docs/CostModel.md.
struct ChipFigures {
  int64_t mc2Capacity;   // tokens per rank one MC2 dispatch accepts
  double linkGBps;       // per-device EP bandwidth, GB/s
  double linkLatencyUs;  // one collective step, microseconds
  int64_t fusedEpLimit;  // largest EP of dispatch_ffn_combine
  int64_t megaMoeEpLimit; // largest EP of CANN MegaMoE
  double tflopsBf16, topsInt8;
};
} // namespace

static const ChipFigures &figuresOf(ChipKind kind) {
  static const ChipFigures a2{256, 56.0, 20.0, 0, 0, 313.0, 626.0};
  static const ChipFigures a3{512, 392.0, 10.0, 32, 64, 376.0, 752.0};
  static const ChipFigures a5{512, 2000.0, 5.0, 0, 0, 1000.0, 2000.0};
  static const ChipFigures p310{0, 32.0, 30.0, 0, 0, 70.0, 140.0};
  switch (kind) {
  case ChipKind::A2:
    return a2;
  case ChipKind::A3:
    return a3;
  case ChipKind::A5:
    return a5;
  case ChipKind::A310P:
    return p310;
  }
  llvm_unreachable("unknown chip kind");
}

int64_t ChipAttr::getMc2Capacity() const {
  if (getMc2CapacityOverride() > 0)
    return getMc2CapacityOverride();
  return figuresOf(getKind()).mc2Capacity;
}

double ChipAttr::getLinkGBps() const {
  if (FloatAttr value = getLinkGbpsOverride())
    return value.getValueAsDouble();
  return figuresOf(getKind()).linkGBps;
}

double ChipAttr::getLinkLatencyUs() const {
  if (FloatAttr value = getLinkLatencyUsOverride())
    return value.getValueAsDouble();
  return figuresOf(getKind()).linkLatencyUs;
}

int64_t ChipAttr::getFusedMc2EpLimit(bool megaMoe) const {
  const ChipFigures &f = figuresOf(getKind());
  return megaMoe ? f.megaMoeEpLimit : f.fusedEpLimit;
}

double ChipAttr::getMatmulTflops(bool int8) const {
  const ChipFigures &f = figuresOf(getKind());
  return int8 ? f.topsInt8 : f.tflopsBf16;
}

LogicalResult ChipAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               ChipKind kind, int64_t mc2Capacity,
                               FloatAttr linkGBps, FloatAttr linkLatencyUs,
                               bool, bool hierarchicalComm) {
  if (mc2Capacity < 0)
    return emitError() << "mc2_capacity must be positive, got " << mc2Capacity;
  // `!(v > 0)` also catches NaN; the cost model divides by both figures.
  auto finitePositive = [](FloatAttr v) {
    return v.getValue().isFinite() && v.getValueAsDouble() > 0;
  };
  if (linkGBps && !finitePositive(linkGBps))
    return emitError() << "link_gbps must be positive and finite, got "
                       << linkGBps.getValueAsDouble();
  if (linkLatencyUs && !finitePositive(linkLatencyUs))
    return emitError() << "link_latency_us must be positive and finite, got "
                       << linkLatencyUs.getValueAsDouble();
  // Seed 002: hierarchical communication (need_expert_scale) is the A2
  // HCCL_INTRA_PCIE_ENABLE / HCCL_INTRA_ROCE_ENABLE setting.
  if (hierarchicalComm && kind != ChipKind::A2)
    return emitError() << "hierarchical_comm is an A2 setting, the chip is "
                       << stringifyChipKind(kind);
  return success();
}

Attribute ChipAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef kindName;
  if (parser.parseLess() || parser.parseKeyword(&kindName))
    return {};
  std::optional<ChipKind> kind = symbolizeChipKind(kindName);
  if (!kind) {
    parser.emitError(loc) << "unknown chip '" << kindName
                          << "'; expected A2, A3, A5 or A310P";
    return {};
  }
  int64_t capacity = 0;
  double gbps = 0.0, latency = 0.0;
  bool hasGbps = false, hasLatency = false;
  bool dispatchV2 = true, hierarchicalComm = false;
  llvm::StringSet<> seen;
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return {};
    if (!seen.insert(key).second) {
      parser.emitError(keyLoc) << "chip parameter '" << key
                               << "' given twice";
      return {};
    }
    ParseResult result = failure();
    if (key == "mc2_capacity") {
      result = parser.parseInteger(capacity);
    } else if (key == "link_gbps") {
      result = parser.parseFloat(gbps);
      hasGbps = true;
    } else if (key == "link_latency_us") {
      result = parser.parseFloat(latency);
      hasLatency = true;
    } else if (key == "dispatch_v2" || key == "hierarchical_comm") {
      bool &flag = key == "dispatch_v2" ? dispatchV2 : hierarchicalComm;
      StringRef word;
      SMLoc wordLoc = parser.getCurrentLocation();
      result = parser.parseKeyword(&word);
      if (succeeded(result) && word != "true" && word != "false") {
        parser.emitError(wordLoc)
            << "chip parameter '" << key << "' is true or false, got '"
            << word << "'";
        return {};
      }
      flag = word == "true";
    } else {
      parser.emitError(keyLoc)
          << "unknown chip parameter '" << key
          << "'; expected mc2_capacity, link_gbps, link_latency_us, "
             "dispatch_v2 or hierarchical_comm";
      return {};
    }
    if (failed(result))
      return {};
  }
  if (parser.parseGreater())
    return {};
  Builder b(parser.getContext());
  auto asAttr = [&](bool given, double v) {
    return given ? b.getF64FloatAttr(v) : FloatAttr();
  };
  if (capacity == 0 && seen.contains("mc2_capacity")) {
    parser.emitError(loc) << "mc2_capacity must be positive, got 0";
    return {};
  }
  return ChipAttr::getChecked([&] { return parser.emitError(loc); },
                              parser.getContext(), *kind, capacity,
                              asAttr(hasGbps, gbps),
                              asAttr(hasLatency, latency), dispatchV2,
                              hierarchicalComm);
}

void ChipAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyChipKind(getKind());
  if (getMc2CapacityOverride())
    printer << ", mc2_capacity = " << getMc2CapacityOverride();
  if (FloatAttr gbps = getLinkGbpsOverride()) {
    printer << ", link_gbps = ";
    printer.printFloat(gbps.getValue());
  }
  if (FloatAttr latency = getLinkLatencyUsOverride()) {
    printer << ", link_latency_us = ";
    printer.printFloat(latency.getValue());
  }
  if (!getDispatchV2())
    printer << ", dispatch_v2 = false";
  if (getHierarchicalComm())
    printer << ", hierarchical_comm = true";
  printer << ">";
}

//===----------------------------------------------------------------------===//
// QuantDescAttr
//===----------------------------------------------------------------------===//

bool QuantDescAttr::isQuantized() const {
  switch (getDtype()) {
  case QuantDtype::F32:
  case QuantDtype::BF16:
  case QuantDtype::F16:
    return false;
  default:
    return true;
  }
}

/// The OCP MX types (32 elements per e8m0 scale) and nvfp4 (16 per fp8
/// scale).
int64_t QuantDescAttr::microBlockSize(QuantDtype dtype) {
  switch (dtype) {
  case QuantDtype::MXFP4:
  case QuantDtype::MXFP6E3M2:
  case QuantDtype::MXFP6E2M3:
    return 32;
  case QuantDtype::NVFP4:
    return 16;
  default:
    return 0;
  }
}

bool QuantDescAttr::hasMicroBlocks(QuantDtype dtype) {
  return microBlockSize(dtype) != 0;
}

/// "f32, bf16, ..., a or b": every dtype keyword, from the enum.
static std::string quantDtypeKeywords() {
  std::string list;
  uint64_t last = getMaxEnumValForQuantDtype();
  for (uint64_t v = 0; v <= last; ++v) {
    if (v != 0)
      list += v == last ? " or " : ", ";
    list += stringifyQuantDtype(*symbolizeQuantDtype(uint32_t(v))).str();
  }
  return list;
}

LogicalResult
QuantDescAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      QuantDtype dtype, int64_t rows, int64_t cols) {
  bool quantized = !(dtype == QuantDtype::F32 || dtype == QuantDtype::BF16 ||
                     dtype == QuantDtype::F16);
  bool hasShape = rows != 0 || cols != 0;
  if (!quantized || QuantDescAttr::hasMicroBlocks(dtype)) {
    if (hasShape)
      return emitError() << stringifyQuantDtype(dtype)
                         << (quantized ? " carries its own micro-block scales"
                                       : " is not quantized")
                         << " and takes no group shape";
    return success();
  }
  // No group shape: seed 003's weights "already quantized" (make() without
  // per_out_ch_quant or block_shape leaves w_shape None). QuantAttr::verify
  // requires a shape for activations.
  if (!hasShape)
    return success();
  auto valid = [](int64_t v) { return v == -1 || v >= 1; };
  if (!valid(rows) || !valid(cols))
    return emitError() << "group shape entries must be -1 or positive, got ["
                       << rows << ", " << cols << "]";
  return success();
}

Attribute QuantDescAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef dtypeName;
  if (parser.parseLess() || parser.parseKeyword(&dtypeName))
    return {};
  std::optional<QuantDtype> dtype = symbolizeQuantDtype(dtypeName);
  if (!dtype) {
    parser.emitError(loc) << "unknown quantization dtype '" << dtypeName
                          << "'; expected " << quantDtypeKeywords();
    return {};
  }
  int64_t rows = 0, cols = 0;
  if (succeeded(parser.parseOptionalComma())) {
    SMLoc shapeLoc = parser.getCurrentLocation();
    StringRef shape;
    if (parser.parseKeyword(&shape))
      return {};
    if (shape == "per_tensor") {
      rows = cols = -1;
    } else if (shape == "per_token") {
      rows = 1;
      cols = -1;
    } else if (shape == "per_column") {
      rows = -1;
      cols = 1;
    } else if (shape == "block") {
      if (parser.parseLSquare() || parser.parseInteger(rows) ||
          parser.parseComma() || parser.parseInteger(cols) ||
          parser.parseRSquare())
        return {};
    } else {
      parser.emitError(shapeLoc)
          << "unknown group shape '" << shape
          << "'; expected per_tensor, per_token, per_column or block [r, c]";
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return QuantDescAttr::getChecked([&] { return parser.emitError(loc); },
                                   parser.getContext(), *dtype, rows, cols);
}

void QuantDescAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyQuantDtype(getDtype());
  if (hasGroupShape()) {
    printer << ", ";
    if (isPerTensor())
      printer << "per_tensor";
    else if (isPerToken())
      printer << "per_token";
    else if (isPerColumn())
      printer << "per_column";
    else
      printer << "block [" << getGroupRows() << ", " << getGroupCols() << "]";
  }
  printer << ">";
}

//===----------------------------------------------------------------------===//
// QuantAttr
//===----------------------------------------------------------------------===//

static QuantDescAttr perToken(MLIRContext *ctx, QuantDtype dtype) {
  return QuantDescAttr::get(ctx, dtype, 1, -1);
}

QuantAttr QuantAttr::get(MLIRContext *ctx, QuantScheme scheme,
                         int64_t groupSize) {
  switch (scheme) {
  case QuantScheme::W8A8Dynamic: {
    auto a = perToken(ctx, QuantDtype::Int8);
    return Base::get(ctx, a, a, a, a);
  }
  case QuantScheme::W4A8Dynamic: {
    auto a = perToken(ctx, QuantDtype::Int8);
    auto w = QuantDescAttr::get(ctx, QuantDtype::Int4, 1, groupSize);
    return Base::get(ctx, a, a, w, w);
  }
  case QuantScheme::None:
  case QuantScheme::Custom:
    break;
  }
  return Base::get(ctx, nullptr, nullptr, nullptr, nullptr);
}

QuantScheme QuantAttr::getScheme() const {
  QuantDescAttr a1 = getA1(), a2 = getA2(), w1 = getW1(), w2 = getW2();
  if (!a1 && !a2 && !w1 && !w2)
    return QuantScheme::None;
  if (!a1 || a1 != a2 || !w1 || w1 != w2)
    return QuantScheme::Custom;
  if (a1.getDtype() != QuantDtype::Int8 || !a1.isPerToken())
    return QuantScheme::Custom;
  if (w1.getDtype() == QuantDtype::Int8 && w1.isPerToken())
    return QuantScheme::W8A8Dynamic;
  if (w1.getDtype() == QuantDtype::Int4 && w1.getGroupRows() == 1 &&
      w1.getGroupCols() > 0)
    return QuantScheme::W4A8Dynamic;
  return QuantScheme::Custom;
}

int64_t QuantAttr::getGroupSize() const {
  return getScheme() == QuantScheme::W4A8Dynamic ? getW1().getGroupCols() : 0;
}

static bool isQuantizedDesc(QuantDescAttr d) { return d && d.isQuantized(); }

/// Whether weights of `w` may meet activations of `a` (both quantized):
/// equal dtypes, Ascend's int4 weights with int8 activations, or OCP MX
/// mxfp4 weights with fp8 activations (seed 003 `ocp_mx_moe_quant_config`).
static bool compatibleDtypes(QuantDtype a, QuantDtype w) {
  bool mxfp6 = a == QuantDtype::MXFP6E3M2 || a == QuantDtype::MXFP6E2M3;
  return a == w || (a == QuantDtype::Int8 && w == QuantDtype::Int4) ||
         (w == QuantDtype::MXFP4 && (a == QuantDtype::FP8E4M3 || mxfp6));
}

LogicalResult QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                QuantDescAttr a1, QuantDescAttr a2,
                                QuantDescAttr w1, QuantDescAttr w2) {
  // Seed 003 builds a1/a2 from one quant dtype and one activation shape, and
  // w1/w2 from one weight dtype and shape ("both weights must have the same
  // GroupShape and both activations must share the same GroupShape").
  if (a1 != a2)
    return emitError() << "a1 and a2 must have the same dtype and group "
                          "shape (seed 003 quantizes both activations alike)";
  if (w1 != w2)
    return emitError() << "w1 and w2 must have the same dtype and group "
                          "shape (seed 003 quantizes both weights alike)";
  if (a1 && a1.getDtype() == QuantDtype::Int4)
    return emitError() << "activations cannot be int4: seed 003 quantizes "
                          "activations to int8, fp8_e4m3, mxfp4 or nvfp4";
  // make() gives quantized activations a shape (per tensor by default).
  if (isQuantizedDesc(a1) && !a1.hasGroupShape() &&
      !QuantDescAttr::hasMicroBlocks(a1.getDtype()))
    return emitError() << stringifyQuantDtype(a1.getDtype())
                       << " activations need a group shape (per_tensor, "
                          "per_token or a block [r, c] along K)";
  // "Activations only support per token, per tensor or K-blocked."
  if (a1 && a1.hasGroupShape() && !a1.isPerTensor() && !a1.isPerToken() &&
      !a1.isBlock())
    return emitError() << "activation group shape must be per_tensor, "
                          "per_token or a block [r, c] along K";
  if (isQuantizedDesc(a1) && !isQuantizedDesc(w1))
    return emitError() << "quantized activations need quantized weights";
  if (isQuantizedDesc(a1) && isQuantizedDesc(w1) &&
      !compatibleDtypes(a1.getDtype(), w1.getDtype()))
    return emitError() << stringifyQuantDtype(w1.getDtype())
                       << " weights with "
                       << stringifyQuantDtype(a1.getDtype())
                       << " activations is not a scheme seed 003 can express";
  // make(): a block shape applies to activations and weights alike and rules
  // out per-token activations and per-channel weights.
  if (a1 && a1.isBlock() &&
      !(w1 && w1.isBlock() && w1.getGroupCols() == a1.getGroupCols()))
    return emitError() << "block-quantized activations need weights "
                          "quantized in blocks with the same column size";
  return success();
}

Attribute QuantAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  MLIRContext *ctx = parser.getContext();
  if (parser.parseLess())
    return {};
  StringRef first;
  SMLoc firstLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&first))
    return {};
  if (first == "none" || first == "w8a8_dynamic") {
    if (parser.parseGreater())
      return {};
    return QuantAttr::get(ctx, first == "none" ? QuantScheme::None
                                               : QuantScheme::W8A8Dynamic);
  }
  if (first == "w4a8_dynamic") {
    int64_t groupSize = 256;
    if (succeeded(parser.parseOptionalComma())) {
      SMLoc keyLoc = parser.getCurrentLocation();
      StringRef key;
      if (parser.parseKeyword(&key))
        return {};
      if (key != "group_size") {
        parser.emitError(keyLoc) << "expected 'group_size', got '" << key
                                 << "'";
        return {};
      }
      if (parser.parseEqual() || parser.parseInteger(groupSize))
        return {};
      if (groupSize < 1) {
        parser.emitError(keyLoc) << "group_size must be positive, got "
                                 << groupSize;
        return {};
      }
    }
    if (parser.parseGreater())
      return {};
    return QuantAttr::get(ctx, QuantScheme::W4A8Dynamic, groupSize);
  }
  QuantDescAttr descs[4];
  const char *names[4] = {"a1", "a2", "w1", "w2"};
  StringRef key = first;
  SMLoc keyLoc = firstLoc;
  while (true) {
    int idx = llvm::StringSwitch<int>(key)
                  .Case("a1", 0)
                  .Case("a2", 1)
                  .Case("w1", 2)
                  .Case("w2", 3)
                  .Default(-1);
    if (idx < 0) {
      parser.emitError(keyLoc)
          << "unknown quantization key '" << key
          << "'; expected none, w8a8_dynamic, w4a8_dynamic, a1, a2, w1 or w2";
      return {};
    }
    if (descs[idx]) {
      parser.emitError(keyLoc) << "'" << names[idx] << "' given twice";
      return {};
    }
    if (parser.parseEqual() || parser.parseAttribute(descs[idx]))
      return {};
    if (failed(parser.parseOptionalComma()))
      break;
    keyLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return QuantAttr::getChecked([&] { return parser.emitError(loc); }, ctx,
                               descs[0], descs[1], descs[2], descs[3]);
}

void QuantAttr::print(AsmPrinter &printer) const {
  switch (getScheme()) {
  case QuantScheme::None:
    printer << "<none>";
    return;
  case QuantScheme::W8A8Dynamic:
    printer << "<w8a8_dynamic>";
    return;
  case QuantScheme::W4A8Dynamic:
    printer << "<w4a8_dynamic, group_size = " << getGroupSize() << ">";
    return;
  case QuantScheme::Custom:
    break;
  }
  printer << "<";
  const char *sep = "";
  auto field = [&](const char *name, QuantDescAttr desc) {
    if (!desc)
      return;
    printer << sep << name << " = " << Attribute(desc);
    sep = ", ";
  };
  field("a1", getA1());
  field("a2", getA2());
  field("w1", getW1());
  field("w2", getW2());
  printer << ">";
}
