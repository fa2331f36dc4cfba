//===- MoeDialect.cpp - the moe dialect -----------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Moe/MoeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::moe;

#include "moe/Dialect/Moe/MoeDialect.cpp.inc"

namespace {
/// Prints the layout under the short alias `#layout`, so a module's
/// references to it stay readable.
struct MoeOpAsmInterface : public OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;
  AliasResult getAlias(Attribute attr, raw_ostream &os) const override {
    if (isa<LayoutAttr>(attr)) {
      os << "layout";
      return AliasResult::FinalAlias;
    }
    return AliasResult::NoAlias;
  }
};
} // namespace

void MoeDialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/Moe/MoeOps.cpp.inc"
      >();
  addInterfaces<MoeOpAsmInterface>();
}

LogicalResult MoeDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kLayoutAttrName) {
    auto layout = dyn_cast<LayoutAttr>(attr.getValue());
    if (!layout)
      return op->emitError() << "'" << kLayoutAttrName
                             << "' must be a #moe.layout, got "
                             << attr.getValue();
    // The layers under the op must run in this deployment.
    return verifyDeployment(op, layout, op);
  }
  if (name == kChipAttrName) {
    if (!isa<ChipAttr>(attr.getValue()))
      return op->emitError() << "'" << kChipAttrName
                             << "' must be a #moe.chip, got "
                             << attr.getValue();
    return success();
  }
  return op->emitError() << "unknown moe attribute '" << name
                         << "'; expected '" << kLayoutAttrName << "' or '"
                         << kChipAttrName << "'";
}

LogicalResult MoeDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  if (attr.getName().getValue() != kNameAttrName)
    return op->emitError() << "unknown moe argument attribute '"
                           << attr.getName().getValue() << "'; expected '"
                           << kNameAttrName << "'";
  auto str = dyn_cast<StringAttr>(attr.getValue());
  if (!str || str.getValue().empty())
    return op->emitError() << "'" << kNameAttrName << "' of argument "
                           << argIndex << " must be a non-empty string";
  return success();
}

Type mlir::moe::withDynamicTokens(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getRank() == 0)
    return type;
  SmallVector<int64_t> shape(tensor.getShape());
  shape[0] = ShapedType::kDynamic;
  return RankedTensorType::get(shape, tensor.getElementType(),
                               tensor.getEncoding());
}

LayoutAttr mlir::moe::lookupLayout(Operation *op) {
  for (Operation *cur = op; cur; cur = cur->getParentOp())
    if (auto layout =
            cur->getAttrOfType<LayoutAttr>(MoeDialect::kLayoutAttrName))
      return layout;
  MLIRContext *ctx = op->getContext();
  // IR without moe ops (level 2, or no layer at all) may reach here before
  // the dialect is loaded; attributes of an unloaded dialect cannot be built.
  if (!ctx->getLoadedDialect<MoeDialect>())
    ctx->getOrLoadDialect<MoeDialect>();
  return LayoutAttr::get(ctx, /*tp=*/1, /*dp=*/1, /*pp=*/1,
                         /*expert_parallel=*/false,
                         /*sequence_parallel=*/false, /*pcp=*/1,
                         /*shared_expert_ranks=*/0);
}

ChipAttr mlir::moe::lookupChip(Operation *op) {
  for (Operation *cur = op; cur; cur = cur->getParentOp())
    if (auto chip = cur->getAttrOfType<ChipAttr>(MoeDialect::kChipAttrName))
      return chip;
  return nullptr;
}
