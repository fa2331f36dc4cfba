//===- NpuToRuntime.h - shared pieces of convert-npu-to-runtime -*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_NPUTORUNTIME_NPUTORUNTIME_H
#define MOE_LIB_CONVERSION_NPUTORUNTIME_NPUTORUNTIME_H

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::moe::runtime {

/// Emits runtime calls: declares functions on demand, keeps one global per
/// distinct "op at location" string.
class CallEmitter {
public:
  explicit CallEmitter(ModuleOp module) : module(module) {}

  Type ptrType() const;
  Type i64Type() const;
  Value i64(OpBuilder &b, Location loc, int64_t v) const;
  /// Address of the "npu.op at file:line:col" string naming `op`.
  Value where(OpBuilder &b, Operation *op);
  /// Address of a NUL-terminated constant string (one global per text).
  Value string(OpBuilder &b, Location loc, StringRef text);
  LLVM::LLVMFuncOp declare(OpBuilder &b, StringRef name, ArrayRef<Type> params,
                           Type result);
  /// `name(args...)` returning `result` (null: void).
  Value emitHostCall(OpBuilder &b, Location loc, StringRef name, Type result,
                     ValueRange args);

private:
  mutable ModuleOp module;
  llvm::StringMap<std::string> stringGlobals;
};

/// One pattern per npu op with a call in the generated runtime ABI
/// (RuntimeAbiCalls.cpp).
void populateRuntimeAbiCallPatterns(LLVMTypeConverter &converter,
                                    CallEmitter &emitter,
                                    RewritePatternSet &patterns);

} // namespace mlir::moe::runtime

#endif // MOE_LIB_CONVERSION_NPUTORUNTIME_NPUTORUNTIME_H
