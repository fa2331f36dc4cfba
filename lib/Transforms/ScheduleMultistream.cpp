//===- ScheduleMultistream.cpp ------------------------------------------------------===//
//
// Placeholder: being implemented.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_SCHEDULEMULTISTREAM
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct ScheduleMultistreamPass : public mlir::moe::impl::ScheduleMultistreamBase<ScheduleMultistreamPass> {
  using ScheduleMultistreamBase::ScheduleMultistreamBase;
  void runOnOperation() override {
    getOperation()->emitError() << "ScheduleMultistream is not implemented yet";
    signalPassFailure();
  }
};
} // namespace
