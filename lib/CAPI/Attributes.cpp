//===- Attributes.cpp - attributes and types of the moe dialect from C ----===//

#include "moe-c/Attributes.h"

#include "Internal.h"

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Support.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using ::moe::capi::clearError;
using ::moe::capi::FirstError;

// The C enums repeat the dialect's enums (a C header cannot include ODS
// output); these fail the build when the two drift: every C value equals the
// dialect's, and the last C value is the dialect's largest.
#define MOE_SAME_ENUM(C, Dialect)                                              \
  static_assert(int(C) == int(Dialect), #C " differs from " #Dialect)
MOE_SAME_ENUM(MOE_CHIP_A2, ChipKind::A2);
MOE_SAME_ENUM(MOE_CHIP_A3, ChipKind::A3);
MOE_SAME_ENUM(MOE_CHIP_A5, ChipKind::A5);
MOE_SAME_ENUM(MOE_CHIP_A310P, ChipKind::A310P);
MOE_SAME_ENUM(MOE_CHIP_A310P, getMaxEnumValForChipKind());
MOE_SAME_ENUM(MOE_COMM_METHOD_UNSET, CommMethod::Unset);
MOE_SAME_ENUM(MOE_COMM_METHOD_ALLGATHER, CommMethod::AllGather);
MOE_SAME_ENUM(MOE_COMM_METHOD_ALLTOALL, CommMethod::AllToAll);
MOE_SAME_ENUM(MOE_COMM_METHOD_MC2, CommMethod::MC2);
MOE_SAME_ENUM(MOE_COMM_METHOD_FUSED_MC2, CommMethod::FusedMC2);
MOE_SAME_ENUM(MOE_COMM_METHOD_MOGE, CommMethod::Moge);
MOE_SAME_ENUM(MOE_COMM_METHOD_MOGE, getMaxEnumValForCommMethod());
MOE_SAME_ENUM(MOE_QUANT_NONE, QuantScheme::None);
MOE_SAME_ENUM(MOE_QUANT_W8A8_DYNAMIC, QuantScheme::W8A8Dynamic);
MOE_SAME_ENUM(MOE_QUANT_W4A8_DYNAMIC, QuantScheme::W4A8Dynamic);
MOE_SAME_ENUM(MOE_QUANT_CUSTOM, QuantScheme::Custom);
MOE_SAME_ENUM(MOE_QUANT_CUSTOM, getMaxEnumValForQuantScheme());
MOE_SAME_ENUM(MOE_QUANT_DTYPE_F32, QuantDtype::F32);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_BF16, QuantDtype::BF16);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_F16, QuantDtype::F16);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_FP8_E4M3, QuantDtype::FP8E4M3);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_INT8, QuantDtype::Int8);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_INT4, QuantDtype::Int4);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_MXFP4, QuantDtype::MXFP4);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_NVFP4, QuantDtype::NVFP4);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_FP8_E5M2, QuantDtype::FP8E5M2);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_MXFP6_E3M2, QuantDtype::MXFP6E3M2);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_MXFP6_E2M3, QuantDtype::MXFP6E2M3);
MOE_SAME_ENUM(MOE_QUANT_DTYPE_MXFP6_E2M3, getMaxEnumValForQuantDtype());
#undef MOE_SAME_ENUM
using ::moe::capi::setError;

/// `attr` as an `AttrT`, or null with the last error set.
template <typename AttrT>
static AttrT as(MlirAttribute attr, const char *kind) {
  clearError();
  if (auto a = llvm::dyn_cast_or_null<AttrT>(unwrap(attr)))
    return a;
  setError(MOE_STATUS_INVALID_ARGUMENT,
           std::string("expected a ") + kind + " attribute");
  return nullptr;
}

template <typename TypeT> static TypeT as(MlirType type, const char *kind) {
  clearError();
  if (auto t = llvm::dyn_cast_or_null<TypeT>(unwrap(type)))
    return t;
  setError(MOE_STATUS_INVALID_ARGUMENT,
           std::string("expected a ") + kind + " type");
  return nullptr;
}

/// AttrT::getChecked with the verifier's message as the last error.
template <typename AttrT, typename... Args>
static AttrT getChecked(MLIRContext *ctx, Args... args) {
  FirstError error(ctx);
  auto attr = AttrT::getChecked(
      [ctx] { return mlir::emitError(UnknownLoc::get(ctx)); }, ctx, args...);
  if (!attr)
    error.fail("invalid attribute parameters");
  return attr;
}

static bool validContext(MlirContext context) {
  clearError();
  if (mlirContextIsNull(context)) {
    setError(MOE_STATUS_INVALID_ARGUMENT, "null MlirContext");
    return false;
  }
  // The attribute and type uniquers need the dialect loaded.
  unwrap(context)->getOrLoadDialect<MoeDialect>();
  return true;
}

static std::optional<CommMethod> method(MoeCommMethod m) {
  std::optional<CommMethod> value = symbolizeCommMethod(uint32_t(m));
  if (!value)
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "invalid communication method " + std::to_string(int(m)));
  return value;
}

template <typename TypeT>
static MlirType ctxType(MlirContext context, MoeCommMethod m) {
  if (!validContext(context))
    return {nullptr};
  std::optional<CommMethod> value = method(m);
  return value ? wrap(TypeT::get(unwrap(context), *value)) : MlirType{nullptr};
}

extern "C" {

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

MlirAttribute mlirMoeLayoutAttrGetWithPcp(MlirContext context, int64_t tp,
                                          int64_t dp, int64_t pp, int64_t pcp,
                                          bool expertParallel,
                                          bool sequenceParallel) {
  if (!validContext(context))
    return {nullptr};
  return wrap(getChecked<LayoutAttr>(unwrap(context), tp, dp, pp,
                                     expertParallel, sequenceParallel, pcp,
                                     /*shared_expert_ranks=*/int64_t(0)));
}

MlirAttribute mlirMoeLayoutAttrWithSharedExpertRanks(MlirAttribute layout,
                                                     int64_t sharedExpertRanks) {
  LayoutAttr a = as<LayoutAttr>(layout, "#moe.layout");
  if (!a)
    return {nullptr};
  return wrap(getChecked<LayoutAttr>(
      a.getContext(), a.getTp(), a.getDp(), a.getPp(), a.getExpertParallel(),
      a.getSequenceParallel(), a.getPcp(), sharedExpertRanks));
}

MlirAttribute mlirMoeLayoutAttrGet(MlirContext context, int64_t tp, int64_t dp,
                                   int64_t pp, bool expertParallel,
                                   bool sequenceParallel) {
  return mlirMoeLayoutAttrGetWithPcp(context, tp, dp, pp, /*pcp=*/1,
                                     expertParallel, sequenceParallel);
}

bool mlirAttributeIsAMoeLayout(MlirAttribute attr) {
  return llvm::isa_and_nonnull<LayoutAttr>(unwrap(attr));
}

#define LAYOUT_QUERY(type, name, expr)                                         \
  type mlirMoeLayoutAttr##name(MlirAttribute attr) {                           \
    LayoutAttr a = as<LayoutAttr>(attr, "#moe.layout");                        \
    return a ? type(expr) : type(0);                                           \
  }
LAYOUT_QUERY(int64_t, GetTp, a.getTp())
LAYOUT_QUERY(int64_t, GetDp, a.getDp())
LAYOUT_QUERY(int64_t, GetPp, a.getPp())
LAYOUT_QUERY(int64_t, GetPcp, a.getPcp())
LAYOUT_QUERY(bool, GetExpertParallel, a.getExpertParallel())
LAYOUT_QUERY(bool, GetSequenceParallel, a.getSequenceParallel())
LAYOUT_QUERY(int64_t, GetWorldSize, a.getWorldSize())
LAYOUT_QUERY(int64_t, GetEpSize, a.getEpSize())
LAYOUT_QUERY(int64_t, GetMoeTpSize, a.getMoeTpSize())
LAYOUT_QUERY(bool, UseEp, a.useEp())
LAYOUT_QUERY(int64_t, GetSharedExpertRanks, a.getSharedExpertRanks())
LAYOUT_QUERY(int64_t, GetRoutedEpSize, a.getRoutedEpSize())
#undef LAYOUT_QUERY

MlirStringRef mlirMoeLayoutAttrGetName(void) {
  return wrap(MoeDialect::kLayoutAttrName);
}

MlirAttribute mlirMoeLookupLayout(MlirOperation op) {
  clearError();
  if (mlirOperationIsNull(op)) {
    setError(MOE_STATUS_INVALID_ARGUMENT, "null MlirOperation");
    return {nullptr};
  }
  return wrap(lookupLayout(unwrap(op)));
}

//===----------------------------------------------------------------------===//
// Chip
//===----------------------------------------------------------------------===//

MlirAttribute mlirMoeChipAttrGetWithMc2Options(
    MlirContext context, MoeChipKind kind, int64_t mc2Capacity,
    double linkGBps, double linkLatencyUs, bool dispatchV2,
    bool hierarchicalComm) {
  if (!validContext(context))
    return {nullptr};
  std::optional<ChipKind> chip = symbolizeChipKind(uint32_t(kind));
  if (!chip) {
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "invalid chip kind " + std::to_string(int(kind)));
    return {nullptr};
  }
  MLIRContext *ctx = unwrap(context);
  auto figure = [ctx](double v) {
    // 0 keeps the table value; anything else goes to the verifier.
    return v == 0 ? FloatAttr() : FloatAttr::get(Float64Type::get(ctx), v);
  };
  return wrap(getChecked<ChipAttr>(ctx, *chip, mc2Capacity, figure(linkGBps),
                                   figure(linkLatencyUs), dispatchV2,
                                   hierarchicalComm));
}

MlirAttribute mlirMoeChipAttrGet(MlirContext context, MoeChipKind kind,
                                 int64_t mc2Capacity, double linkGBps,
                                 double linkLatencyUs) {
  return mlirMoeChipAttrGetWithMc2Options(context, kind, mc2Capacity, linkGBps,
                                          linkLatencyUs, /*dispatchV2=*/true,
                                          /*hierarchicalComm=*/false);
}

bool mlirAttributeIsAMoeChip(MlirAttribute attr) {
  return llvm::isa_and_nonnull<ChipAttr>(unwrap(attr));
}

MoeChipKind mlirMoeChipAttrGetKind(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a ? MoeChipKind(a.getKind()) : MOE_CHIP_A2;
}
int64_t mlirMoeChipAttrGetMc2Capacity(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a ? a.getMc2Capacity() : 0;
}
double mlirMoeChipAttrGetLinkGBps(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a ? a.getLinkGBps() : 0;
}
double mlirMoeChipAttrGetLinkLatencyUs(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a ? a.getLinkLatencyUs() : 0;
}
int64_t mlirMoeChipAttrGetFusedMc2EpLimit(MlirAttribute attr, bool megaMoe) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a ? a.getFusedMc2EpLimit(megaMoe) : 0;
}

bool mlirMoeChipAttrGetDispatchV2(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a && a.getDispatchV2();
}
bool mlirMoeChipAttrGetHierarchicalComm(MlirAttribute attr) {
  ChipAttr a = as<ChipAttr>(attr, "#moe.chip");
  return a && a.getHierarchicalComm();
}

MlirStringRef mlirMoeChipAttrGetName(void) {
  return wrap(MoeDialect::kChipAttrName);
}

MlirAttribute mlirMoeLookupChip(MlirOperation op) {
  clearError();
  if (mlirOperationIsNull(op)) {
    setError(MOE_STATUS_INVALID_ARGUMENT, "null MlirOperation");
    return {nullptr};
  }
  return wrap(lookupChip(unwrap(op)));
}

//===----------------------------------------------------------------------===//
// Communication method
//===----------------------------------------------------------------------===//

const char *moeCommMethodGetName(MoeCommMethod m) {
  std::optional<CommMethod> value = symbolizeCommMethod(uint32_t(m));
  // Enum spellings are string literals of the generated code.
  return value ? stringifyCommMethod(*value).data() : nullptr;
}

MlirAttribute mlirMoeCommMethodAttrGet(MlirContext context, MoeCommMethod m) {
  if (!validContext(context))
    return {nullptr};
  std::optional<CommMethod> value = method(m);
  return value ? wrap(CommMethodAttr::get(unwrap(context), *value))
               : MlirAttribute{nullptr};
}

bool mlirAttributeIsAMoeCommMethod(MlirAttribute attr) {
  return llvm::isa_and_nonnull<CommMethodAttr>(unwrap(attr));
}

MoeCommMethod mlirMoeCommMethodAttrGetValue(MlirAttribute attr) {
  CommMethodAttr a = as<CommMethodAttr>(attr, "#moe.method");
  return a ? MoeCommMethod(a.getValue()) : MOE_COMM_METHOD_UNSET;
}

MlirType mlirMoePrepareCtxTypeGet(MlirContext context, MoeCommMethod m) {
  return ctxType<PrepareCtxType>(context, m);
}
bool mlirTypeIsAMoePrepareCtx(MlirType type) {
  return llvm::isa_and_nonnull<PrepareCtxType>(unwrap(type));
}
MoeCommMethod mlirMoePrepareCtxTypeGetMethod(MlirType type) {
  PrepareCtxType t = as<PrepareCtxType>(type, "!moe.prepare_ctx");
  return t ? MoeCommMethod(t.getMethod()) : MOE_COMM_METHOD_UNSET;
}

MlirType mlirMoeDispatchCtxTypeGet(MlirContext context, MoeCommMethod m) {
  return ctxType<DispatchCtxType>(context, m);
}
bool mlirTypeIsAMoeDispatchCtx(MlirType type) {
  return llvm::isa_and_nonnull<DispatchCtxType>(unwrap(type));
}
MoeCommMethod mlirMoeDispatchCtxTypeGetMethod(MlirType type) {
  DispatchCtxType t = as<DispatchCtxType>(type, "!moe.dispatch_ctx");
  return t ? MoeCommMethod(t.getMethod()) : MOE_COMM_METHOD_UNSET;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

MlirAttribute mlirMoeQuantAttrGet(MlirContext context, MoeQuantScheme scheme,
                                  int64_t groupSize) {
  if (!validContext(context))
    return {nullptr};
  MLIRContext *ctx = unwrap(context);
  switch (int(scheme)) { // int: the caller may pass any value
  case MOE_QUANT_NONE:
  case MOE_QUANT_W8A8_DYNAMIC:
    break;
  case MOE_QUANT_W4A8_DYNAMIC:
    // The int4 weight descriptor carries the group size: verify it first.
    if (!getChecked<QuantDescAttr>(ctx, QuantDtype::Int4, int64_t(1),
                                   groupSize))
      return {nullptr};
    break;
  case MOE_QUANT_CUSTOM:
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "a custom scheme has no single builder; use "
             "mlirMoeQuantAttrGetCustom");
    return {nullptr};
  default:
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "invalid quantization scheme " + std::to_string(int(scheme)));
    return {nullptr};
  }
  return wrap(QuantAttr::get(ctx, QuantScheme(scheme), groupSize));
}

MlirAttribute mlirMoeQuantAttrGetCustom(MlirContext context, MlirAttribute a1,
                                        MlirAttribute a2, MlirAttribute w1,
                                        MlirAttribute w2) {
  if (!validContext(context))
    return {nullptr};
  QuantDescAttr descs[4];
  MlirAttribute given[4] = {a1, a2, w1, w2};
  for (int i = 0; i < 4; ++i) {
    if (mlirAttributeIsNull(given[i]))
      continue;
    descs[i] = llvm::dyn_cast<QuantDescAttr>(unwrap(given[i]));
    if (!descs[i]) {
      setError(MOE_STATUS_INVALID_ARGUMENT, "quantization descriptor " +
                                                std::to_string(i) +
                                                " is not a #moe.qdesc");
      return {nullptr};
    }
  }
  return wrap(getChecked<QuantAttr>(unwrap(context), descs[0], descs[1],
                                    descs[2], descs[3]));
}

bool mlirAttributeIsAMoeQuant(MlirAttribute attr) {
  return llvm::isa_and_nonnull<QuantAttr>(unwrap(attr));
}
MoeQuantScheme mlirMoeQuantAttrGetScheme(MlirAttribute attr) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return a ? MoeQuantScheme(a.getScheme()) : MOE_QUANT_NONE;
}
int64_t mlirMoeQuantAttrGetGroupSize(MlirAttribute attr) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return a ? a.getGroupSize() : 0;
}
MlirAttribute mlirMoeQuantAttrGetDesc(MlirAttribute attr, int32_t index) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  if (!a)
    return {nullptr};
  switch (index) {
  case 0:
    return wrap(a.getA1());
  case 1:
    return wrap(a.getA2());
  case 2:
    return wrap(a.getW1());
  case 3:
    return wrap(a.getW2());
  }
  setError(MOE_STATUS_INVALID_ARGUMENT,
           "descriptor index " + std::to_string(index) + " is not in 0..3");
  return {nullptr};
}

MlirAttribute mlirMoeQuantDescAttrGet(MlirContext context, MoeQuantDtype dtype,
                                      int64_t groupRows, int64_t groupCols) {
  if (!validContext(context))
    return {nullptr};
  std::optional<QuantDtype> value = symbolizeQuantDtype(uint32_t(dtype));
  if (!value) {
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "invalid quantization dtype " + std::to_string(int(dtype)));
    return {nullptr};
  }
  return wrap(
      getChecked<QuantDescAttr>(unwrap(context), *value, groupRows, groupCols));
}

bool mlirAttributeIsAMoeQuantDesc(MlirAttribute attr) {
  return llvm::isa_and_nonnull<QuantDescAttr>(unwrap(attr));
}
MoeQuantDtype mlirMoeQuantDescAttrGetDtype(MlirAttribute attr) {
  QuantDescAttr a = as<QuantDescAttr>(attr, "#moe.qdesc");
  return a ? MoeQuantDtype(a.getDtype()) : MOE_QUANT_DTYPE_F32;
}
int64_t mlirMoeQuantDescAttrGetGroupRows(MlirAttribute attr) {
  QuantDescAttr a = as<QuantDescAttr>(attr, "#moe.qdesc");
  return a ? a.getGroupRows() : 0;
}
int64_t mlirMoeQuantDescAttrGetGroupCols(MlirAttribute attr) {
  QuantDescAttr a = as<QuantDescAttr>(attr, "#moe.qdesc");
  return a ? a.getGroupCols() : 0;
}

} // extern "C"

//===----------------------------------------------------------------------===//
// Seed 003's FusedMoEQuantConfig: make() and the queries
//===----------------------------------------------------------------------===//

static std::optional<std::optional<QuantDtype>> quantDtype(MoeQuantDtype d) {
  if (d == MOE_QUANT_DTYPE_UNSET)
    return std::optional<QuantDtype>();
  std::optional<QuantDtype> value = symbolizeQuantDtype(uint32_t(d));
  if (!value) {
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "invalid quantization dtype " + std::to_string(int(d)));
    return std::nullopt;
  }
  return value;
}

MlirAttribute mlirMoeQuantAttrMake(MlirContext context,
                                   MoeQuantDtype quantDtypeC,
                                   bool perActTokenQuant, bool perOutChQuant,
                                   const int64_t *blockShape,
                                   MoeQuantDtype weightDtypeC) {
  if (!validContext(context))
    return {nullptr};
  auto q = quantDtype(quantDtypeC), w = quantDtype(weightDtypeC);
  if (!q || !w)
    return {nullptr};
  std::optional<std::array<int64_t, 2>> block;
  if (blockShape)
    block = std::array<int64_t, 2>{blockShape[0], blockShape[1]};
  MLIRContext *ctx = unwrap(context);
  FirstError error(ctx);
  QuantAttr attr = QuantAttr::make(
      [ctx] { return mlir::emitError(UnknownLoc::get(ctx)); }, ctx, *q,
      perActTokenQuant, perOutChQuant, block, *w);
  if (!attr)
    error.fail("invalid quantization config");
  return wrap(attr);
}

namespace {
/// One row per MoeQuantProperty, in its order: the seed's name and the query.
struct QuantProperty {
  MoeQuantProperty property;
  const char *name;
  bool (QuantAttr::*query)() const;
};
} // namespace

static constexpr QuantProperty kQuantProperties[] = {
    {MOE_QUANT_IS_QUANTIZED, "is_quantized", &QuantAttr::isQuantized},
    {MOE_QUANT_PER_ACT_TOKEN, "per_act_token_quant", &QuantAttr::isPerActToken},
    {MOE_QUANT_PER_OUT_CH, "per_out_ch_quant", &QuantAttr::isPerOutChQuant},
    {MOE_QUANT_IS_PER_TENSOR, "is_per_tensor", &QuantAttr::isPerTensor},
    {MOE_QUANT_IS_BLOCK_QUANTIZED, "is_block_quantized",
     &QuantAttr::isBlockQuantized},
    {MOE_QUANT_USE_FP8_W8A8, "use_fp8_w8a8", &QuantAttr::useFp8W8A8},
    {MOE_QUANT_USE_INT8_W8A8, "use_int8_w8a8", &QuantAttr::useInt8W8A8},
    {MOE_QUANT_USE_INT8_W8A16, "use_int8_w8a16", &QuantAttr::useInt8W8A16},
    {MOE_QUANT_USE_INT4_W4A16, "use_int4_w4a16", &QuantAttr::useInt4W4A16},
    {MOE_QUANT_USE_INT4_W4A8, "use_int4_w4a8", &QuantAttr::useInt4W4A8},
    {MOE_QUANT_USE_MXFP4_W4A16, "use_mxfp4_w4a16", &QuantAttr::useMxfp4W4A16},
    {MOE_QUANT_USE_MXFP4_W4A4, "use_mxfp4_w4a4", &QuantAttr::useMxfp4W4A4},
    {MOE_QUANT_USE_NVFP4_W4A4, "use_nvfp4_w4a4", &QuantAttr::useNvfp4W4A4},
};

// The table and the C enum cannot drift: one row per property, in order.
static constexpr bool quantPropertiesInOrder() {
  for (size_t i = 0; i < std::size(kQuantProperties); ++i)
    if (kQuantProperties[i].property != MoeQuantProperty(i))
      return false;
  return std::size(kQuantProperties) == MOE_QUANT_PROPERTY_COUNT;
}
static_assert(quantPropertiesInOrder(),
              "kQuantProperties must list every MoeQuantProperty in order");

static const QuantProperty *quantProperty(MoeQuantProperty property) {
  if (int(property) < 0 || int(property) >= MOE_QUANT_PROPERTY_COUNT) {
    setError(MOE_STATUS_INVALID_ARGUMENT,
             "quantization property " + std::to_string(int(property)) +
                 " is not in 0.." +
                 std::to_string(MOE_QUANT_PROPERTY_COUNT - 1));
    return nullptr;
  }
  return &kQuantProperties[property];
}

const char *moeQuantPropertyGetName(MoeQuantProperty property) {
  clearError();
  const QuantProperty *p = quantProperty(property);
  return p ? p->name : nullptr;
}

bool mlirMoeQuantAttrHas(MlirAttribute attr, MoeQuantProperty property) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  const QuantProperty *p = a ? quantProperty(property) : nullptr;
  return p && (a.*(p->query))();
}

MoeQuantDtype mlirMoeQuantAttrGetQuantDtype(MlirAttribute attr) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  std::optional<QuantDtype> d = a ? a.getQuantDtype() : std::nullopt;
  return d ? MoeQuantDtype(*d) : MOE_QUANT_DTYPE_UNSET;
}

/// Copies `dims` to `out` when present.
template <size_t N>
static bool copyDims(const std::optional<std::array<int64_t, N>> &dims,
                     int64_t *out) {
  if (!dims)
    return false;
  if (!out) {
    setError(MOE_STATUS_INVALID_ARGUMENT, "null output array");
    return false;
  }
  std::copy(dims->begin(), dims->end(), out);
  return true;
}

bool mlirMoeQuantAttrGetBlockShape(MlirAttribute attr, int64_t *out) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return a && copyDims(a.getBlockShape(), out);
}

static MlirStringRef optionalString(std::optional<StringRef> s) {
  StringRef v = s.value_or("");
  return mlirStringRefCreate(v.data(), v.size());
}

MlirStringRef mlirMoeQuantAttrGetOcpMxScheme(MlirAttribute attr) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return optionalString(a ? a.getOcpMxScheme() : std::nullopt);
}

MlirStringRef mlirMoeQuantAttrGetConfigName(MlirAttribute attr,
                                            MlirType activationType) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return optionalString(a ? a.getConfigName(unwrap(activationType))
                          : std::nullopt);
}

bool mlirMoeQuantAttrGetScaleShape(MlirAttribute attr, int64_t maxTokens,
                                   int64_t hiddenDim, int64_t *out) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return a && copyDims(a.getScaleShape(maxTokens, hiddenDim), out);
}

bool mlirMoeQuantAttrGetBatchedScaleShape(MlirAttribute attr,
                                          int64_t numExperts,
                                          int64_t maxTokens, int64_t hiddenDim,
                                          int64_t *out) {
  QuantAttr a = as<QuantAttr>(attr, "#moe.quant");
  return a &&
         copyDims(a.getBatchedScaleShape(numExperts, maxTokens, hiddenDim), out);
}
