//===- ChromeTrace.h - a Chrome trace-event file of a run -------*- C++ -*-===//
//
// moe-run --trace and the C++ / Python APIs' World::writeTrace: one process per rank, one thread per stream, every task a complete event
// with its bytes, every npu.record -> npu.wait pair a flow arrow
// (docs/Streams.md, "Timeline"). Opens in Perfetto and chrome://tracing.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_EXECUTION_CHROMETRACE_H
#define MOE_EXECUTION_CHROMETRACE_H

#include "moe/Runtime/Executor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace mlir::moe {

/// Writes the traces of `outcomes` (one per rank) to `path`.
llvm::Error writeChromeTrace(llvm::StringRef path,
                             llvm::ArrayRef<moert::RankOutcome> outcomes);

} // namespace mlir::moe

#endif // MOE_EXECUTION_CHROMETRACE_H
