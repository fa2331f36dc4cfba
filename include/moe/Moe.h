//===- Moe.h - the moe-mlir C++ embedding API -------------------*- C++ -*-===//
//
// Compile an MoE layer and run it on the ranks of a thread world from a
// C++ program: the flow of moe-run as three RAII classes.
//
//   moe::api::Compiler   parses and compiles layers (owns or borrows an
//                        MLIRContext; one thread at a time)
//   moe::api::Executable a JIT-compiled layer: argument/result specs, run
//                        (immutable, cheap to copy; concurrent runs of
//                        different ranks are fine)
//   moe::api::World      the ranks of one deployment as threads of this
//                        process; each rank is run by a thread of the caller
//
//   moe::api::Compiler compiler;
//   moe::api::Executable exe = compiler.compile(text, options);
//   moe::api::World world(exe, /*numRanks=*/2);
//   // on the thread of rank r:
//   std::vector<moe::api::Tensor> out = exe.run(world, r, inputs);
//
// Errors are thrown as moe::api::Error with the compiler's diagnostics or
// the rank's run-time error. Tensors are the runtime's moert::Tensor
// (moe/Runtime/Tensor.h): a dtype, a shape and shared row-major storage.
// This header needs no MLIR header; the overloads taking MLIR objects are
// for embedders that build modules themselves. Guide: docs/Embedding.md.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_MOE_H
#define MOE_MOE_H

#include "moe-c/Support.h"
#include "moe/Execution/Decisions.h"
#include "moe/Runtime/Comm.h"
#include "moe/Runtime/Eplb.h"
#include "moe/Runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlir {
class DialectRegistry;
class MLIRContext;
class ModuleOp;
} // namespace mlir

namespace moe::api {

using DType = moert::DType;
using Tensor = moert::Tensor;
using Layout = moert::Layout;
/// What moe-compile decided for one layer (moe/Execution/Decisions.h):
/// method or run-time switch, the reason, capacity, fused quantization and
/// stream plan.
using LayerDecision = mlir::moe::LayerDecision;
using MethodCandidate = mlir::moe::MethodCandidate;
using QuantDecision = mlir::moe::QuantDecision;
using StreamUse = mlir::moe::StreamUse;
using StreamEvent = mlir::moe::StreamEvent;

/// The embedding API's version (the C API's MOE_C_API_VERSION numbers; the
/// C++ API promises source compatibility within a major version only).
constexpr uint32_t kVersion = MOE_C_API_VERSION;
uint32_t apiVersion();

/// What every failing call throws. Kinds have the values of the C API's
/// MoeStatus codes.
class Error : public std::runtime_error {
public:
  enum Kind {
    InvalidArgument = 1, // bad call: rank, input count/dtype/shape, layout
    Compile = 2,         // parse, verification, pipeline or JIT failure
    Run = 3,             // the layer failed on this rank or a peer rank
  };
  Error(Kind kind, const std::string &message)
      : std::runtime_error(message), errorKind(kind) {}
  Kind kind() const { return errorKind; }

private:
  Kind errorKind;
};

/// A tensor over caller memory, without a copy. Keep `data` alive and
/// unchanged while a run reading it is in progress. Results never alias
/// borrowed memory.
Tensor borrow(const void *data, DType dtype, std::vector<int64_t> shape);
/// A tensor with its own storage holding a copy of `data`.
Tensor copyOf(const void *data, DType dtype, std::vector<int64_t> shape);
/// A tensor of `dtype` and `shape` sharing `owner`'s storage (the
/// runtime's, so a donating load may repack it in place), when `data` is
/// where that storage starts and it holds the shape's bytes; none
/// otherwise (then borrow). The C API's and Python's inputs that name
/// runtime storage.
std::optional<Tensor> shareStorage(const Tensor &owner, const void *data,
                                   DType dtype, std::vector<int64_t> shape);

/// One argument or result of a compiled entry function.
struct TensorInfo {
  std::string name; // moe.name, or "arg<i>" / "result <i>"
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // -1 for a dynamic dimension
  std::string type;           // "tensor<?x64xf32>"
};

/// One option of the moe-compile pipeline (docs/Pipelines.md). The list is
/// generated from the passes' TableGen declarations, so it is every option
/// `moe-opt -moe-compile=...` accepts.
struct CompileOptionInfo {
  std::string name;         // "max-num-reqs"
  std::string pass;         // the pass it reaches; "" for a pipeline switch
  std::string type;         // C++ type as declared: "int64_t", "bool", ...
  std::string defaultValue; // textual: "256", "true", "table"
  std::string description;
  std::vector<std::string> allowed; // the values of an enum option
};

/// Every option of moe-compile, in declaration order.
std::vector<CompileOptionInfo> compileOptionInfos();

/// How to compile: moe-compile with options, or a whole textual pipeline.
///
///   CompileOptions options;
///   options.set("policy", "fixed").set("method", "mc2").set("lora", "true");
struct CompileOptions {
  /// When set: the module-level pipeline to run before the lowering ("" for
  /// a module already at level 2); the options set() below are ignored.
  std::optional<std::string> pipeline;
  /// Function to compile; empty: the module's only public function.
  std::string entry;

  /// Sets option `name` of moe-compile to `value` (textual, as in
  /// `moe-compile{name=value}`; "" for a flag alone, i.e. true). Checked
  /// right away by the pipeline's own option parser: an unknown option or a
  /// bad value throws Error(InvalidArgument) with the parser's message
  /// (what moe-opt prints). Setting an option again replaces its value.
  CompileOptions &set(const std::string &name, const std::string &value);
  /// The options set, as name/value pairs in the order first set.
  const std::vector<std::pair<std::string, std::string>> &values() const {
    return settings;
  }

  /// The textual pipeline these options stand for: `pipeline` when set,
  /// else "moe-compile{name=value ...}" with the options set.
  std::string pipelineText() const;
  /// The passes it runs with every pass option spelled out, as
  /// `moe-opt -dump-pass-pipeline` prints them, e.g.
  /// "builtin.module(func.func(moe-select-comm-method{... policy=fixed
  /// ...},...))". Throws Error(Compile) for an invalid `pipeline`.
  std::string passPipeline() const;

private:
  std::vector<std::pair<std::string, std::string>> settings;
};

/// Inserts every dialect and LLVM IR translation moe-mlir modules use.
void registerDialects(mlir::DialectRegistry &registry);
/// Registers every moe pass and pipeline (idempotent, thread-safe).
void registerPasses();

class Executable;
class World;

class Compiler {
public:
  /// A compiler with its own context holding every moe-mlir dialect.
  Compiler();
  /// A compiler on the caller's context (the moe-mlir dialects are added
  /// to it). During compile calls it captures the context's diagnostics.
  explicit Compiler(mlir::MLIRContext &context);
  ~Compiler();
  Compiler(Compiler &&) noexcept;
  Compiler &operator=(Compiler &&) noexcept;

  mlir::MLIRContext &context();

  /// Parses `source` (diagnostics name it "<source>") and compiles it.
  Executable compile(std::string_view source,
                     const CompileOptions &options = {});
  Executable compileFile(const std::string &path,
                         const CompileOptions &options = {});
  /// Compiles a copy of `module`; the module itself is not changed.
  Executable compile(mlir::ModuleOp module, const CompileOptions &options = {});

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

class Executable {
public:
  const std::vector<TensorInfo> &arguments() const;
  const std::vector<TensorInfo> &results() const;
  /// The entry function's name.
  const std::string &entryName() const;
  /// The layout it was compiled for; worlds running it must have it.
  const Layout &layout() const;
  double compileSeconds() const;
  /// What the pipeline decided for each MoE layer, in module order, read
  /// from the IR before the lowering (empty for a module compiled with an
  /// empty pipeline).
  const std::vector<LayerDecision> &decisions() const;
  /// decisions() as JSON text (docs/Embedding.md, "Decisions").
  std::string decisionsJson() const;

  /// Runs the layer as rank `rank` of `world` on the calling thread. Every
  /// rank of the world must be run (each from its own thread) with the same
  /// sequence of executables. An invalid call (input count, dtype, shape)
  /// or a failure of the layer fails the world, so the peers' runs throw
  /// instead of waiting.
  std::vector<Tensor> run(World &world, int rank,
                          const std::vector<Tensor> &inputs) const;

  /// Load time, once per rank after the weights are in `inputs` (any
  /// activations will do): the work the first run would otherwise do, so
  /// that it costs what a steady one does (docs/Runtime.md, "Load time").
  /// Scans the inputs for NaNs (with checkFinite; a tensor passed again
  /// later is not scanned again), runs the load-time function (w4a8
  /// weight processing), keeping its results for the runs that pass the
  /// same tensors, then runs one warm-up step on the inputs whose results
  /// and recorded expert load are discarded (so its activation memory is
  /// faulted in). Errors as run's; called like run (a thread per rank).
  /// With `donateWeights`, the weights in `inputs` are given to the
  /// runtime: the load-time f32/int8/int4 weight packing (moe-pack-weights)
  /// repacks the tensors it owns (copyOf, loadCheckpointWeights) in their
  /// own storage instead of copies, so the process holds the weights once;
  /// those tensors then hold the packed bytes (pass the same tensors to
  /// every run and read them no more). A borrowed buffer is never
  /// rewritten: it is copied. docs/Runtime.md, "Packed weights".
  void load(World &world, int rank, const std::vector<Tensor> &inputs,
            bool donateWeights = false) const;

  /// Load time, once per process: calibrates the expert-matmul planner
  /// (MatmulEngine.h) for this layer's matmuls and steps of up to
  /// `maxTokensPerRank` tokens per rank with the world's kernel threads.
  /// A no-op unless the engine policy is auto. Returns the number of block
  /// shapes planned.
  int calibrate(const World &world, int64_t maxTokensPerRank) const;

private:
  struct Impl;
  friend class Compiler;
  explicit Executable(std::shared_ptr<const Impl> impl);
  std::vector<Tensor> runOrLoad(World &world, int rank,
                                const std::vector<Tensor> &inputs,
                                bool loadOnly, bool donate = false) const;
  std::shared_ptr<const Impl> impl;
};

/// Where loadCheckpointWeights finds the model and the layer.
struct CheckpointOptions {
  /// The model's config.json; empty: config.json next to the checkpoint.
  std::string config;
  /// The decoder layer; -1: N of the entry function's name layer_N (as
  /// moe-import names them).
  int64_t layer = -1;
  /// With redundant experts (EPLB): the logical expert of every physical
  /// one, whose weights it holds.
  std::vector<int64_t> phys2log;
};

/// The inputs of `executable` (a layer moe-import built) that a Hugging
/// Face safetensors checkpoint holds, for rank `rank`: one entry per
/// argument, the weight arguments (w13, w2, shared_*, the correction bias)
/// filled, the others (x, logits, log2phy, expert_map) std::nullopt.
/// `checkpoint` is a .safetensors file or a directory (sharded with
/// model.safetensors.index.json, or *.safetensors). docs/Import.md,
/// "Checkpoint weights". Throws Error(InvalidArgument) naming the file,
/// the Hugging Face tensor and what was expected of it.
std::vector<std::optional<Tensor>>
loadCheckpointWeights(const Executable &executable, int rank,
                      const std::string &checkpoint,
                      const CheckpointOptions &options = {});

struct WorldOptions {
  /// Seconds a collective waits for the other ranks (<= 0: forever).
  double timeoutSeconds = 120;
  /// Kernel threads per rank; 0: cores / ranks, at least 1.
  int kernelThreads = 0;
  /// The NaN/Inf policy (docs/Reliability.md, "NaN and Inf"): a NaN or an
  /// infinity in a float input or produced by any op fails the run with an
  /// Error naming the rank, the tensor and the row. False lets them
  /// propagate (NaN logits still fail the gate).
  bool checkFinite = true;
  /// Record every task of every rank's runs as a span, for writeTrace.
  bool trace = false;
};

class World {
public:
  explicit World(const Layout &layout, const WorldOptions &options = {});
  /// A world for `executable`'s layout; throws unless `numRanks` equals its
  /// tp * dp.
  World(const Executable &executable, int numRanks,
        const WorldOptions &options = {});
  ~World();
  World(World &&) noexcept;
  World &operator=(World &&) noexcept;

  int numRanks() const;
  const Layout &layout() const;
  /// True once a rank failed; later runs fail too (make a new world).
  bool failed() const;
  /// Fails the world on behalf of `rank`: the other ranks' pending and
  /// later collectives throw "... rank <rank> failed: <why>".
  void fail(int rank, const std::string &why);
  /// Turns WorldOptions::checkFinite on or off for later runs.
  void setCheckFinite(bool check);
  /// With WorldOptions::trace: writes the runs so far as a Chrome
  /// trace-event file (moe-run --trace's format, docs/Streams.md
  /// "Timeline"): a process per rank, a thread per stream, every op a span
  /// with its bytes, event records to waits as flow arrows. Throws
  /// Error(InvalidArgument) without tracing or when the file cannot be
  /// written.
  void writeTrace(const std::string &path) const;

  /// Convenience: runs `executable` on every rank, one new thread per rank
  /// (`inputs[r]` for rank r), and returns every rank's results. Throws the
  /// error of the lowest failing rank.
  std::vector<std::vector<Tensor>>
  runAll(const Executable &executable,
         const std::vector<std::vector<Tensor>> &inputs);

  /// Convenience: when `maxTokensPerRank` > 0, Executable::calibrate,
  /// then Executable::load on every rank (a thread each, `donateWeights`
  /// as there). Throws the error of the lowest failing rank.
  void loadAll(const Executable &executable,
               const std::vector<std::vector<Tensor>> &inputs,
               int64_t maxTokensPerRank = 0, bool donateWeights = false);

  /// Dynamic EPLB's commit point (docs/Eplb.md), between two steps of
  /// `executable` (whose layer has log2phy and expert_map under expert
  /// parallelism): on every rank at once, all-gathers the expert load the
  /// last steps recorded, rebalances the redundant experts, moves the
  /// routed experts' weights and replaces `inputs[r]`'s log2phy,
  /// expert_map and expert weights (found by the argument names, as
  /// moe-run --eplb) by new tensors for the next step. Returns the report
  /// (the same for every rank). Throws Error(Run) and fails the world when
  /// the commit fails; `inputs` are then unchanged.
  moert::EplbReport
  rebalanceExperts(const Executable &executable,
                   std::vector<std::vector<Tensor>> &inputs);

private:
  struct Impl;
  friend class Executable;
  std::unique_ptr<Impl> impl;
};

} // namespace moe::api

#endif // MOE_MOE_H
