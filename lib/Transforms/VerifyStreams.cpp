//===- VerifyStreams.cpp ------------------------------------------------------===//
//
// Placeholder: being implemented.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_VERIFYSTREAMS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct VerifyStreamsPass : public mlir::moe::impl::VerifyStreamsBase<VerifyStreamsPass> {
  using VerifyStreamsBase::VerifyStreamsBase;
  void runOnOperation() override {
    getOperation()->emitError() << "VerifyStreams is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
