//===- NpuDialect.cpp - the npu dialect -----------------------------------===//

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::npu;

#include "moe/Dialect/Npu/NpuDialect.cpp.inc"
#include "moe/Dialect/Npu/NpuEnums.cpp.inc"
#include "moe/Dialect/Npu/NpuInterfaces.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Npu/NpuTypes.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/Npu/NpuAttrs.cpp.inc"

void NpuDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/Npu/NpuTypes.cpp.inc"
      >();
}

void NpuDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/Npu/NpuAttrs.cpp.inc"
      >();
}

LogicalResult NpuDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  SharedExpertAttrHelper sharedExpert = getSharedExpertAttrHelper();
  if (attribute.getName() != sharedExpert.getName())
    return op->emitError() << "unknown npu attribute '"
                           << attribute.getName().getValue()
                           << "'; the npu dialect defines '"
                           << sharedExpert.getNameStr() << "'";
  if (!isa<SharedExpertStageAttr>(attribute.getValue()))
    return op->emitError() << "'" << attribute.getName().getValue()
                           << "' must be a #npu.shared_expert<stage>, got "
                           << attribute.getValue();
  if (!isa<StreamOpInterface>(op))
    return op->emitError() << "'" << attribute.getName().getValue()
                           << "' marks device ops of the shared experts; '"
                           << op->getName() << "' is not a device op";
  return success();
}

void NpuDialect::initialize() {
  registerTypes();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/Npu/NpuOps.cpp.inc"
      >();
}
