//===- RejectNestedModules.cpp - the pipelines compile one module ---------===//
//
// The first pass of moe-compile and moe-lower-to-llvm: their function
// passes are nested on the functions of the top module only, so a module
// inside it would pass through unexpanded and unverified. See
// docs/Pipelines.md.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_REJECTNESTEDMODULES
#include "moe/Pipelines/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct RejectNestedModulesPass
    : public mlir::moe::impl::RejectNestedModulesBase<RejectNestedModulesPass> {
  void runOnOperation() override {
    ModuleOp top = getOperation();
    bool found = false;
    top.walk<WalkOrder::PreOrder>([&](ModuleOp nested) {
      if (nested == top)
        return WalkResult::advance();
      nested.emitError()
          << "nested '" << ModuleOp::getOperationName()
          << "' is not supported: moe-compile and moe-lower-to-llvm compile "
             "the functions of the top-level module only; compile each "
             "module on its own";
      found = true;
      return WalkResult::skip();
    });
    if (found)
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace
