//===- Passes.cpp - passes and pipelines of moe-mlir from C ---------------===//

#include "moe-c/Passes.h"

#include "moe/Conversion/Passes.h"
#include "moe/Execution/Executable.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/CAPI/Pass.h"
#include "mlir/Pass/Pass.h"

using namespace mlir;
using namespace mlir::moe;

// The generated definitions call the C++ registration and creation
// functions of the pass groups.
extern "C" {
#include "moe/Conversion/Passes.capi.cpp.inc"
#include "moe/Dialect/Moe/Transforms/Passes.capi.cpp.inc"
#include "moe/Dialect/Npu/Transforms/Passes.capi.cpp.inc"
#include "moe/Pipelines/Passes.capi.cpp.inc"

void mlirMoeRegisterPipelines(void) {
  // Registers the pipelines exactly once per process, with the passes.
  registerExecutionPasses();
}

void mlirMoeRegisterAllPasses(void) { registerExecutionPasses(); }
} // extern "C"
