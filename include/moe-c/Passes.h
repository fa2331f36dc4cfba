/*===- moe-c/Passes.h - passes and pipelines of moe-mlir ----------*- C -*-===*\
|*                                                                            *|
|* Upstream-style pass C API generated from the passes' ODS                   *|
|* (mlirRegisterMoeTransformsPasses, mlirCreateMoeTransformsSelectCommMethod, *|
|* ...; mlirRegisterNpuTransformsPasses, ...; mlirRegisterMoeConversionPasses,*|
|* ...; mlirRegisterMoePipelinesPasses, ...) plus the named pipelines.        *|
|* After registration, mlirParsePassPipeline / mlirOpPassManagerAddPipeline   *|
|* (mlir-c/Pass.h) accept "moe-compile{policy=fixed method=mc2}",            *|
|* "moe-lower-to-llvm" and every pass by name (docs/MoePasses.md, ...).      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_PASSES_H
#define MOE_C_PASSES_H

#include "mlir-c/Pass.h"
#include "moe-c/Support.h"

#include "moe/Conversion/Passes.capi.h.inc"
#include "moe/Dialect/Moe/Transforms/Passes.capi.h.inc"
#include "moe/Dialect/Npu/Transforms/Passes.capi.h.inc"
#include "moe/Pipelines/Passes.capi.h.inc"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the pipelines moe-compile (select -> expand -> fuse ->
 * schedule -> verify) and moe-lower-to-llvm. Idempotent, thread-safe. */
MOE_CAPI_EXPORTED void mlirMoeRegisterPipelines(void);

/* Registers every moe pass (the four groups above) and both pipelines.
 * Idempotent, thread-safe. */
MOE_CAPI_EXPORTED void mlirMoeRegisterAllPasses(void);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_PASSES_H */
