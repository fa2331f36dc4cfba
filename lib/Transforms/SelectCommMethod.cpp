//===- SelectCommMethod.cpp ------------------------------------------------------===//
//
// Placeholder: being implemented.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_SELECTCOMMMETHOD
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct SelectCommMethodPass : public mlir::moe::impl::SelectCommMethodBase<SelectCommMethodPass> {
  using SelectCommMethodBase::SelectCommMethodBase;
  void runOnOperation() override {
    getOperation()->emitError() << "SelectCommMethod is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
