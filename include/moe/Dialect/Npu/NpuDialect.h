//===- NpuDialect.h - the npu device-op dialect -----------------*- C++ -*-===//
//
// Level 2 of moe-mlir: device operators, collectives, streams and events.
// See dialects/Npu/*.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_NPU_NPUDIALECT_H
#define MOE_DIALECT_NPU_NPUDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/Npu/NpuDialect.h.inc"
#include "moe/Dialect/Npu/NpuEnums.h.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Npu/NpuTypes.h.inc"

#include "moe/Dialect/Npu/NpuInterfaces.h.inc"

#define GET_OP_CLASSES
#include "moe/Dialect/Npu/NpuOps.h.inc"

#endif // MOE_DIALECT_NPU_NPUDIALECT_H
