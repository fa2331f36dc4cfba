//===- FuseQuantIntoDispatch.cpp ------------------------------------------------------===//
//
// Placeholder: being implemented.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_FUSEQUANTINTODISPATCH
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct FuseQuantIntoDispatchPass : public mlir::moe::impl::FuseQuantIntoDispatchBase<FuseQuantIntoDispatchPass> {
  using FuseQuantIntoDispatchBase::FuseQuantIntoDispatchBase;
  void runOnOperation() override {
    getOperation()->emitError() << "FuseQuantIntoDispatch is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
