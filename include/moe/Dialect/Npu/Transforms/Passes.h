//===- Passes.h - passes on the npu dialect -*- C++ -*-===//

#ifndef MOE_DIALECT_NPU_TRANSFORMS_PASSES_H
#define MOE_DIALECT_NPU_TRANSFORMS_PASSES_H

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moe {

#define GEN_PASS_DECL
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"

} // namespace mlir::moe

#endif // MOE_DIALECT_NPU_TRANSFORMS_PASSES_H
