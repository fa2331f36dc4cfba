//===- MoeOps.h - operations of the moe dialect -----------------*- C++ -*-===//

#ifndef MOE_DIALECT_MOE_MOEOPS_H
#define MOE_DIALECT_MOE_MOEOPS_H

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "moe/Dialect/Moe/MoeOps.h.inc"

#endif // MOE_DIALECT_MOE_MOEOPS_H
