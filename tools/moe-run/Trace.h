//===- Trace.h - moe-run --trace: a Chrome trace-event file ----*- C++ -*-===//
//
// One process per rank, one thread per stream, every task a complete event
// with its bytes, every npu.record -> npu.wait pair a flow arrow
// (docs/Streams.md, "Timeline"). Opens in Perfetto and chrome://tracing.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUN_TRACE_H
#define MOE_RUN_TRACE_H

#include "moe/Runtime/Executor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace moerun {

/// Writes the traces of `outcomes` (one per rank) to `path`.
llvm::Error writeChromeTrace(llvm::StringRef path,
                             llvm::ArrayRef<moert::RankOutcome> outcomes);

} // namespace moerun

#endif // MOE_RUN_TRACE_H
