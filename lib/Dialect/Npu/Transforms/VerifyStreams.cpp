//===- VerifyStreams.cpp - every cross-stream use ordered by events -------===//
//
// Reports what StreamOrderAnalysis finds: races (errors, with the use and the
// producer), redundant waits (warnings) and constructs it cannot analyse
// (errors). The IR is not changed. See docs/Streams.md.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/StreamOrderAnalysis.h"

namespace mlir::moe {
#define GEN_PASS_DEF_VERIFYSTREAMS
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct VerifyStreamsPass
    : public mlir::moe::impl::VerifyStreamsBase<VerifyStreamsPass> {
  using VerifyStreamsBase::VerifyStreamsBase;

  void runOnOperation() override {
    auto &analysis = getAnalysis<StreamOrderAnalysis>();
    markAllAnalysesPreserved();

    for (const UnsupportedStreamOp &unsupported :
         analysis.getUnsupportedOps()) {
      switch (unsupported.reason) {
      case UnsupportedStreamOp::Reason::MultiBlockRegion:
        unsupported.op->emitError()
            << "cannot order streams in a region with several blocks";
        break;
      case UnsupportedStreamOp::Reason::StreamOpsInRegion:
        unsupported.op->emitError()
            << "cannot order streams inside '" << unsupported.op->getName()
            << "': device ops, records and waits are only analysed in "
               "scf.index_switch and scf.if regions";
        break;
      }
    }

    for (const StreamRace &race : analysis.getRaces()) {
      InFlightDiagnostic diag = race.user->emitError()
                                << "value produced on stream "
                                << race.producerStream << " is used on stream "
                                << race.userStream
                                << " without an event ordering them";
      diag.attachNote(race.producer->getLoc()) << "produced here";
    }

    if (warnRedundantWaits)
      for (npu::WaitOp wait : analysis.getRedundantWaits())
        mlir::emitWarning(wait.getLoc())
            << "redundant wait: stream " << wait.getStream()
            << " already waited for this event";

    if (!analysis.getRaces().empty() || !analysis.getUnsupportedOps().empty())
      signalPassFailure();
  }
};
} // namespace
