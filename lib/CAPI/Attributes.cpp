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

MlirAttribute mlirMoeLayoutAttrGet(MlirContext context, int64_t tp, int64_t dp,
                                   int64_t pp, bool expertParallel,
                                   bool sequenceParallel) {
  if (!validContext(context))
    return {nullptr};
  return wrap(getChecked<LayoutAttr>(unwrap(context), tp, dp, pp,
                                     expertParallel, sequenceParallel));
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
LAYOUT_QUERY(bool, GetExpertParallel, a.getExpertParallel())
LAYOUT_QUERY(bool, GetSequenceParallel, a.getSequenceParallel())
LAYOUT_QUERY(int64_t, GetWorldSize, a.getWorldSize())
LAYOUT_QUERY(int64_t, GetEpSize, a.getEpSize())
LAYOUT_QUERY(int64_t, GetMoeTpSize, a.getMoeTpSize())
LAYOUT_QUERY(bool, UseEp, a.useEp())
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

MlirAttribute mlirMoeChipAttrGet(MlirContext context, MoeChipKind kind,
                                 int64_t mc2Capacity, double linkGBps,
                                 double linkLatencyUs) {
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
                                   figure(linkLatencyUs)));
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

// The C enum repeats the dialect's values: a new method must be added to both.
static_assert(MOE_COMM_METHOD_FUSED_MC2 == int(CommMethod::FusedMC2) &&
                  MOE_COMM_METHOD_MOGE == int(CommMethod::Moge) &&
                  int(CommMethod::Moge) == getMaxEnumValForCommMethod(),
              "MoeCommMethod and the dialect's CommMethod differ");

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
