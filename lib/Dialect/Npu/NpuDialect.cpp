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

void NpuDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/Npu/NpuTypes.cpp.inc"
      >();
}

void NpuDialect::initialize() {
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/Npu/NpuOps.cpp.inc"
      >();
}
