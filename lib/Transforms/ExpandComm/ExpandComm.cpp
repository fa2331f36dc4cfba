//===- ExpandComm.cpp ------------------------------------------------------===//
//
// Placeholder: being implemented.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_EXPANDCOMM
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct ExpandCommPass : public mlir::moe::impl::ExpandCommBase<ExpandCommPass> {
  using ExpandCommBase::ExpandCommBase;
  void runOnOperation() override {
    getOperation()->emitError() << "ExpandComm is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
