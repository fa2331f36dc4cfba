//===- Executable.h - compile an MoE module and JIT it ----------*- C++ -*-===//
//
// The compile-and-load half of every driver (moe-run, the C and C++ APIs):
// run the compiler pipeline and the lowering on a module, JIT it with
// MLIR's ExecutionEngine and hand out the entry point the runtime's
// executor calls.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_EXECUTION_EXECUTABLE_H
#define MOE_EXECUTION_EXECUTABLE_H

#include "moe/Execution/Decisions.h"
#include "moe/Runtime/Comm.h"
#include "moe/Runtime/Executor.h"
#include "moe/Runtime/MatmulEngine.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::moe {

/// One argument or result of an entry function, as drivers see it.
struct TensorSpec {
  std::string name;              // moe.name, or "arg<i>" / "result<i>"
  moert::DType dtype = moert::DType::F32;
  std::vector<int64_t> shape;    // -1 for a dynamic dimension
  std::string type;              // "tensor<?x64xf32>" for messages

  /// Whether `value` may be passed for this argument: same element type and
  /// rank, equal static sizes (any size for a dynamic dimension).
  bool accepts(const moert::Tensor &value) const;
};

/// Registers every dialect and translation a driver needs to parse, compile
/// and JIT modules of the project.
void registerExecutionDialects(DialectRegistry &registry);

/// Registers every moe pass and the moe-compile / moe-lower-to-llvm
/// pipelines so textual pipelines resolve, and initializes the native
/// target for the JIT. Idempotent and thread-safe (runs once per process).
void registerExecutionPasses();

/// The module's entry function: `name`, or the only public function.
FailureOr<func::FuncOp> findEntry(ModuleOp module, StringRef name);

/// The runtime element type of an MLIR element type.
FailureOr<moert::DType> runtimeDType(Type elementType);

class Executable {
public:
  ~Executable();

  /// Compiles `module` in place through `pipeline` (a module-level textual
  /// pipeline such as "moe-compile{policy=fixed method=mc2}"; empty for IR
  /// already at level 2) followed by moe-lower-to-llvm, and JITs it.
  /// Diagnostics go to the module's context.
  static FailureOr<std::unique_ptr<Executable>>
  compile(ModuleOp module, StringRef pipeline, StringRef entry);

  const std::vector<TensorSpec> &arguments() const { return args; }
  const std::vector<TensorSpec> &results() const { return outs; }
  const moert::Layout &layout() const { return parallel; }
  moert::EntryFn entry() const { return fn; }
  /// The load-time function moe-outline-load-time made of the entry (its
  /// `entry` is null when there is none); pass it in moert::RunOptions.
  const moert::LoadStage &loadStage() const { return load; }
  double compileSeconds() const { return seconds; }
  /// Distinct streams the compiled device ops run on (at least 1): each is
  /// a worker thread per rank.
  int64_t streamsPerRank() const { return streams; }
  /// What the pipeline decided for each MoE layer (Decisions.h), in module
  /// order; empty when no pipeline ran.
  const std::vector<LayerDecision> &decisions() const {
    return layerDecisions;
  }

  /// The distinct operand shapes of the module's npu.grouped_matmul and
  /// npu.matmul ops (the expert and shared-expert matmuls).
  const std::vector<moert::MatmulShape> &matmulShapes() const {
    return matmuls;
  }
  /// Load-time calibration of the matmul planner (moert::calibrateMatmul)
  /// for every matmul of the module, for steps of up to
  /// `maxTokensPerRank` tokens on each rank with `kernelThreads` kernel
  /// threads per rank (0: moert::defaultKernelThreads of the layout's
  /// ranks in one process). A no-op unless the engine policy is Auto;
  /// returns the number of block shapes planned.
  int calibrate(int64_t maxTokensPerRank, int kernelThreads = 0) const;

  /// Writes the JIT-compiled object file (ahead-of-time use); on failure
  /// `error` says why and `path` is left as it was.
  LogicalResult dumpObject(StringRef path, std::string &error) const;

private:
  Executable() = default;
  std::unique_ptr<ExecutionEngine> engine;
  std::vector<TensorSpec> args, outs;
  moert::Layout parallel;
  moert::EntryFn fn = nullptr;
  moert::LoadStage load;
  double seconds = 0;
  int64_t streams = 1;
  std::vector<LayerDecision> layerDecisions;
  std::vector<moert::MatmulShape> matmuls;
};

} // namespace mlir::moe

#endif // MOE_EXECUTION_EXECUTABLE_H
