/*===- moe-c/Dialects.h - registering the moe-mlir dialects -------*- C -*-===*\
|*                                                                            *|
|* Dialect handles in upstream MLIR's style (mlirGetDialectHandle__moe__()   *|
|* with mlirDialectHandleRegisterDialect / ...InsertDialect / ...Load-       *|
|* Dialect from mlir-c/IR.h) and one call that registers everything a       *|
|* moe-mlir module can contain, from level 1 down to the LLVM dialect.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_DIALECTS_H
#define MOE_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "moe-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Level 1: the stages of an MoE layer. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Moe, moe);
/* Level 2: device ops, collectives, streams and events. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Npu, npu);

/* Inserts every dialect a moe-mlir module uses (moe, npu, arith, cf, func,
 * llvm, scf, tensor) and the translations to LLVM IR the JIT needs into
 * `registry`. */
MOE_CAPI_EXPORTED void moeRegisterAllDialects(MlirDialectRegistry registry);

/* Appends the registry above to `context` and loads the moe and npu
 * dialects. */
MOE_CAPI_EXPORTED void moeContextRegisterAllDialects(MlirContext context);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_DIALECTS_H */
