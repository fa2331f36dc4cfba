//===- Dialects.cpp - registering the moe-mlir dialects from C ------------===//

#include "moe-c/Dialects.h"

#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Npu/NpuDialect.h"
#include "moe/Execution/Executable.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Moe, moe, mlir::moe::MoeDialect)
MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Npu, npu, mlir::npu::NpuDialect)

void moeRegisterAllDialects(MlirDialectRegistry registry) {
  mlir::moe::registerExecutionDialects(*unwrap(registry));
}

void moeContextRegisterAllDialects(MlirContext context) {
  mlir::DialectRegistry registry;
  mlir::moe::registerExecutionDialects(registry);
  mlir::MLIRContext *ctx = unwrap(context);
  ctx->appendDialectRegistry(registry);
  ctx->getOrLoadDialect<mlir::moe::MoeDialect>();
  ctx->getOrLoadDialect<mlir::npu::NpuDialect>();
}
