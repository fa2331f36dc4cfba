//===- DecisionRecorder.h - read back moe-compile's decisions ---*- C++ -*-===//
//
// Internal to lib/Execution: Executable::compile adds a DecisionRecorder to
// the pass manager that runs the pipeline. After moe-select-comm-method it
// records each layer's method (or run-time switch), its `max_tokens` and its
// experts' scheme from the IR the pass left; the pass's remarks are kept by
// location; once the pipeline has run, finish() adds what the level-2 IR
// shows (capacity, quantization placement, streams and events) and the
// remark of each layer. See include/moe/Execution/Decisions.h.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_EXECUTION_DECISIONRECORDER_H
#define MOE_LIB_EXECUTION_DECISIONRECORDER_H

#include "moe/Execution/Decisions.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>
#include <mutex>

namespace mlir::moe {

class DecisionRecorder {
public:
  /// Keeps the remarks `context` reports while the recorder lives (and
  /// passes them on to the other handlers).
  explicit DecisionRecorder(MLIRContext *context);
  ~DecisionRecorder();

  /// The instrumentation to add to the pass manager running the pipeline.
  std::unique_ptr<PassInstrumentation> instrumentation();
  /// Completes the records from `module` at level 2 (after the pipeline,
  /// before the lowering) and returns them in the module's function order.
  std::vector<LayerDecision> finish(ModuleOp module);

private:
  friend class DecisionInstrumentation;
  void recordLayers(Operation *function);

  std::mutex mutex;
  llvm::DenseMap<const void *, std::vector<std::string>> remarks;
  std::vector<std::pair<const void *, LayerDecision>> layers;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
};

} // namespace mlir::moe

#endif // MOE_LIB_EXECUTION_DECISIONRECORDER_H
