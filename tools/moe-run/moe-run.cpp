//===- moe-run.cpp - compile an MoE layer and run it on N ranks -----------===//
//
//   moe-run FILE.mlir [--pipeline=...] --world N [--input NAME=PATH]...
//           [--output-dir DIR] [--print] [--timing] [--backend threads|mpi]
//
// Compiles the entry function with the pipeline (moe-compile by default)
// and the lowering, JIT-compiles it and runs it on every rank of the world:
// threads of this process by default. NAME is an argument's `moe.name` or
// its index; a PATH containing `{rank}` gives each rank its own file, one
// containing `{step}` each step (--steps). Outputs go to
// DIR/<result-index>.rank<r>.npy (the last step's; with --outputs-per-step
// also DIR/step<s>/). --eplb runs dynamic EPLB's commit point after every
// step (docs/Eplb.md). --weights DIR_OR_FILE fills the weight arguments of
// an imported layer (moe-import) from its Hugging Face safetensors
// checkpoint (docs/Import.md, "Checkpoint weights").
//
// With --backend mpi (`mpirun -n N moe-run --backend mpi ...`, see
// docs/ScaleOut.md) every process compiles the layer and runs one rank,
// its MPI rank: it loads only that rank's inputs, writes only its outputs
// and prefixes its messages with "rank <r>: ". It exits non-zero when any
// rank failed.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "moe/Execution/ChromeTrace.h"
#include "moe/Execution/Executable.h"
#include "moe/Import/CheckpointWeights.h"
#include "moe/Support/ParserHazards.h"
#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Eplb.h"
#include "moe/Runtime/Executor.h"
#include "moe/Runtime/MatmulEngine.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <thread>
#include <unistd.h>

using namespace mlir;
namespace cl = llvm::cl;

/// moe-run's own options; --help hides LLVM's.
static cl::OptionCategory moeRunCategory("moe-run options");

static cl::opt<std::string> inputFile(cl::Positional, cl::cat(moeRunCategory), cl::desc("<layer.mlir>"),
                                      cl::Required);
static cl::opt<std::string>
    pipeline("pipeline", cl::cat(moeRunCategory),
             cl::desc("Compiler pipeline before the lowering (a module-level "
                      "textual pipeline; empty for IR already lowered to "
                      "npu ops)"),
             cl::init("moe-compile"));
static cl::opt<int> world("world", cl::cat(moeRunCategory), cl::desc("Number of ranks (must equal the "
                                            "layout's tp * dp)"),
                          cl::init(0));
static cl::list<std::string>
    inputs("input", cl::cat(moeRunCategory), cl::desc("NAME=PATH: an entry argument's .npy file; "
                             "{rank} in PATH is replaced by the rank, "
                             "{step} by the step (each step its own file)"));
static cl::opt<std::string> weightsPath(
    "weights", cl::cat(moeRunCategory), cl::value_desc("dir-or-file"),
    cl::desc("Fill the weight arguments (w13, w2, shared_*, "
             "e_score_correction_bias) of a moe-import layer from this "
             "Hugging Face safetensors checkpoint, for every rank"));
static cl::opt<std::string> hfConfig(
    "hf-config", cl::cat(moeRunCategory), cl::value_desc("config.json"),
    cl::desc("The checkpoint's model config (default: config.json next to "
             "the --weights)"));
static cl::opt<std::string> phys2logPath(
    "phys2log", cl::cat(moeRunCategory), cl::value_desc("file.npy"),
    cl::desc("With --weights and redundant experts (EPLB): the logical "
             "expert of every physical one, [E + R] integers"));
static cl::opt<int> layerIndex("layer", cl::cat(moeRunCategory),
                               cl::desc("Decoder layer of the --weights "
                                        "(default: N of the entry @layer_N)"),
                               cl::init(-1));
static cl::opt<std::string> outputDir("output-dir", cl::cat(moeRunCategory),
                                      cl::desc("Write outputs here"));
static cl::opt<bool> print("print", cl::cat(moeRunCategory), cl::desc("Print the outputs"));
static cl::opt<bool> timing("timing", cl::cat(moeRunCategory),
                            cl::desc("Report compile and per-rank run time"));
static cl::opt<std::string> entryName("entry", cl::cat(moeRunCategory),
                                      cl::desc("Function to run (default: "
                                               "the only public function)"));
static cl::opt<double> timeout("timeout", cl::cat(moeRunCategory),
                               cl::desc("Seconds a collective may wait for "
                                        "the other ranks before the run "
                                        "fails"),
                               cl::init(120));
static cl::opt<int> kernelThreads("kernel-threads", cl::cat(moeRunCategory),
                                  cl::desc("Kernel threads per rank (0: "
                                           "cores / ranks)"),
                                  cl::init(0));
static cl::opt<bool> profile("profile", cl::cat(moeRunCategory),
                             cl::desc("Report the time spent per op kind on "
                                      "every rank"));
static cl::opt<std::string>
    tracePath("trace", cl::cat(moeRunCategory), cl::value_desc("file.json"),
              cl::desc("Write a Chrome trace-event timeline of every rank and "
                       "stream (Perfetto, chrome://tracing); with --backend "
                       "mpi the path needs {rank}"));
static cl::opt<int> steps("steps", cl::cat(moeRunCategory),
                          cl::desc("Run the layer this many times on the same "
                                   "inputs (the load-time function once); "
                                   "the outputs are the last step's"),
                          cl::init(1));
static cl::opt<bool> eplb(
    "eplb", cl::cat(moeRunCategory),
    cl::desc("Dynamic EPLB (docs/Eplb.md): after every step all-gather the "
             "expert load the layer recorded, rebalance, move the expert "
             "weights and swap log2phy / expert_map before the next step; "
             "prints each step's rows per rank and imbalance (max / mean)"));
static cl::opt<bool> outputsPerStep(
    "outputs-per-step", cl::cat(moeRunCategory),
    cl::desc("Also write every step's outputs to "
             "<output-dir>/step<s>/<i>.rank<r>.npy"));
static cl::opt<bool> showRemarks("show-remarks", cl::cat(moeRunCategory),
                                 cl::desc("Print the compiler's remarks (e.g. "
                                          "which method each layer uses)"));
static cl::opt<std::string> emitObject("emit-object", cl::cat(moeRunCategory),
                                       cl::desc("Also write the compiled "
                                                "object file here"));

static cl::opt<bool> checkFinite(
    "check-finite", cl::cat(moeRunCategory),
    cl::desc("Fail a rank whose float inputs hold a NaN, or whose ops "
             "compute a NaN or an infinity, naming the tensor and the row "
             "(docs/Reliability.md; --check-finite=false lets them through, "
             "the gate still rejects NaN logits)"),
    cl::init(true));

enum class Backend { Threads, Mpi };
static cl::opt<Backend> backend(
    "backend", cl::cat(moeRunCategory), cl::desc("Where the ranks run"), cl::init(Backend::Threads),
    cl::values(clEnumValN(Backend::Threads, "threads",
                          "every rank as threads of this process"),
               clEnumValN(Backend::Mpi, "mpi",
                          "one rank per MPI process (under mpirun)")));

/// With the MPI backend: this process's rank; its messages name it.
static std::optional<int> mpiRank;
/// This process's first error (sent to the other ranks with MPI).
static std::string firstError;

/// Prints "moe-run: error: <text>" in one write, so the lines of ranks
/// sharing a terminal do not interleave.
static void printError(const std::string &text) {
  llvm::errs() << ("moe-run: error: " + text + "\n");
  llvm::errs().flush();
}

static int fail(const std::string &message) {
  std::string text =
      mpiRank ? "rank " + std::to_string(*mpiRank) + ": " + message : message;
  printError(text);
  if (firstError.empty())
    firstError = text;
  return 1;
}

static std::string withRank(std::string path, int rank) {
  for (size_t at; (at = path.find("{rank}")) != std::string::npos;)
    path.replace(at, 6, std::to_string(rank));
  return path;
}

/// `{step}` in an input path gives every step its own file (e.g. a routing
/// that changes from step to step).
static bool perStep(const std::string &path) {
  return path.find("{step}") != std::string::npos;
}
static std::string withStep(std::string path, int step) {
  for (size_t at; (at = path.find("{step}")) != std::string::npos;)
    path.replace(at, 6, std::to_string(step));
  return path;
}

static void writeOutputs(const std::string &dir,
                         const std::vector<moert::Tensor> &results, int rank) {
  llvm::sys::fs::create_directories(dir);
  for (auto [i, t] : llvm::enumerate(results))
    moerun::writeNpy(dir + "/" + std::to_string(i) + ".rank" +
                         std::to_string(rank) + ".npy",
                     t);
}

/// Per local rank, the arguments read from the --weights checkpoint.
using CheckpointInputs = std::vector<std::vector<std::optional<moert::Tensor>>>;

/// Loads the arguments of `ranks`; shared files are read once. Arguments
/// `weights` holds come from the checkpoint.
static std::vector<std::vector<moert::Tensor>>
loadInputs(const std::vector<moe::TensorSpec> &args,
           const std::map<std::string, std::string> &paths,
           const std::vector<int> &ranks, const CheckpointInputs &weights) {
  std::map<std::string, moert::Tensor> cache;
  std::vector<std::vector<moert::Tensor>> perRank(ranks.size());
  for (auto [i, arg] : llvm::enumerate(args)) {
    auto it = paths.find(arg.name);
    if (it == paths.end())
      it = paths.find(std::to_string(i));
    for (auto [slot, r] : llvm::enumerate(ranks)) {
      if (!weights.empty() && weights[slot][i]) {
        perRank[slot].push_back(*weights[slot][i]);
        continue;
      }
      std::string path = withRank(it->second, r);
      std::string what = "input '" + arg.name + "' (" + path + ")";
      auto cached = cache.find(path);
      moert::Tensor t;
      bool rawBytes = false; // a uint8 .npy read for an i8 argument
      if (cached != cache.end()) {
        t = cached->second;
      } else {
        try {
          moert::Tensor read = moerun::readNpy(path);
          rawBytes = read.dtype == moert::DType::I4 &&
                     arg.dtype == moert::DType::I8;
          t = moerun::convertInput(read, arg.dtype);
        } catch (const moert::Error &e) {
          std::string msg = e.what();
          // readNpy names the file itself.
          if (msg.rfind(path, 0) == 0)
            throw moert::Error("input '" + arg.name + "': " + msg);
          throw moert::Error(what + ": " + msg);
        }
        cache[path] = t;
      }
      moert::check(arg.accepts(t),
                   what + " is " + t.str() + " but the argument is " +
                       arg.type +
                       (rawBytes ? " (a uint8 .npy for an i8 argument holds "
                                   "raw bytes: packed fp4, two per byte "
                                   "along K, or e8m0 scale codes)"
                                 : ""));
      perRank[slot].push_back(t);
    }
  }
  return perRank;
}

/// Reads the --weights arguments of every local rank into `weights`;
/// returns why not (empty on success).
static std::string loadCheckpoint(const std::vector<moe::TensorSpec> &args,
                                  const moert::Layout &layout,
                                  const std::string &entry,
                                  const std::vector<int> &ranks,
                                  CheckpointInputs &weights) {
  int64_t layer = layerIndex;
  if (layer < 0) {
    std::optional<int64_t> fromName = moe::layerOfEntryName(entry);
    if (!fromName)
      return "--weights: the entry @" + entry +
             " is not named layer_N (as moe-import names its functions); "
             "pass --layer N";
    layer = *fromName;
  }
  llvm::Expected<std::unique_ptr<moe::CheckpointWeights>> ckpt =
      moe::CheckpointWeights::open(weightsPath, hfConfig);
  if (!ckpt)
    return llvm::toString(ckpt.takeError());
  std::vector<int64_t> phys2log;
  if (!phys2logPath.empty()) {
    try {
      moert::Tensor t = moerun::readNpy(phys2logPath);
      moert::check(t.rank() == 1 && (t.dtype == moert::DType::I32 ||
                                     t.dtype == moert::DType::I64),
                   "--phys2log " + phys2logPath + " is " + t.str() +
                       ", not a list of int32 or int64 expert ids");
      for (int64_t i = 0; i < t.numel(); ++i)
        phys2log.push_back(t.dtype == moert::DType::I32 ? t.data<int32_t>()[i]
                                                        : t.data<int64_t>()[i]);
    } catch (const moert::Error &e) {
      return e.what();
    }
  }
  std::vector<moe::LayerArgument> layerArgs;
  for (const moe::TensorSpec &arg : args)
    layerArgs.push_back({arg.name, arg.dtype, arg.shape});
  for (int r : ranks) {
    auto loaded = (*ckpt)->load(layer, layerArgs, layout, r, phys2log);
    if (!loaded)
      return llvm::toString(loaded.takeError());
    weights.push_back(std::move(*loaded));
  }
  return "";
}

static void printTensor(const moert::Tensor &value) {
  moert::Tensor t = value;
  if (moert::isFloat(t.dtype))
    t = moert::convertFloat(value, moert::DType::F32);
  int64_t cols = t.rank() ? t.shape.back() : 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % std::max<int64_t>(cols, 1) == 0)
      llvm::outs() << "  ";
    switch (t.dtype) {
    case moert::DType::F32: {
      char buf[32];
      snprintf(buf, sizeof(buf), "%.6g", t.data<float>()[i]);
      llvm::outs() << buf;
      break;
    }
    case moert::DType::I8:
    case moert::DType::I1:
      llvm::outs() << int(t.data<int8_t>()[i]);
      break;
    case moert::DType::I4:
      llvm::outs() << int(moert::getI4(t.bytes(), i));
      break;
    case moert::DType::I32:
      llvm::outs() << t.data<int32_t>()[i];
      break;
    default:
      llvm::outs() << t.data<int64_t>()[i];
    }
    llvm::outs() << ((i + 1) % std::max<int64_t>(cols, 1) == 0 ? "\n" : " ");
  }
}

/// Test-only fault injection (test/MPI): MOE_RUN_FAULT=<rank>:<kind> makes
/// that rank, right before it runs, fail with an error (`throw`), exit
/// without telling anyone (`exit`), die (`kill`) or hang (`hang`).
static void injectFault(int rank) {
  const char *spec = std::getenv("MOE_RUN_FAULT");
  if (!spec)
    return;
  std::string s = spec;
  size_t colon = s.find(':');
  if (colon == std::string::npos || s.substr(0, colon) != std::to_string(rank))
    return;
  std::string kind = s.substr(colon + 1);
  if (kind == "exit")
    std::_Exit(3);
  if (kind == "kill")
    raise(SIGKILL);
  if (kind == "hang")
    for (;;)
      pause();
  throw moert::Error("injected fault (MOE_RUN_FAULT=" + s + ")");
}

/// Compiles and runs the layer on the ranks of this process.
static int runLayer(const moert::MpiProcessInfo *mpi) {
  DialectRegistry registry;
  moe::registerExecutionDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  // Registered after the printer, so it runs first and can swallow remarks.
  context.getDiagEngine().registerHandler([](Diagnostic &d) {
    return success(d.getSeverity() == DiagnosticSeverity::Remark &&
                   !showRemarks);
  });
  if (steps < 1)
    return fail("--steps " + std::to_string(steps) + " must be at least 1");
  if (weightsPath.empty() &&
      (layerIndex >= 0 || !hfConfig.empty() || !phys2logPath.empty()))
    return fail(std::string(layerIndex >= 0      ? "--layer"
                            : !hfConfig.empty() ? "--hf-config"
                                                : "--phys2log") +
                " reads a checkpoint: it needs --weights");
  std::string error;
  auto file = openInputFile(inputFile, &error);
  if (!file)
    return fail(error);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  if (failed(moe::rejectParserHazards(sourceMgr, &context)))
    return mpiRank ? fail("cannot parse " + inputFile) : 1;
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  // Diagnostics were printed; with MPI, also say which rank stopped.
  if (!module)
    return mpiRank ? fail("cannot parse " + inputFile) : 1;

  // The entry's name, before the pipeline: --weights reads layer_N's.
  std::string entry;
  if (FailureOr<func::FuncOp> fn = moe::findEntry(*module, entryName);
      succeeded(fn))
    entry = fn->getName().str();
  FailureOr<std::unique_ptr<moe::Executable>> exe =
      moe::Executable::compile(*module, pipeline, entryName);
  if (failed(exe))
    return mpiRank ? fail("cannot compile " + inputFile) : 1;
  const moert::Layout &layout = (*exe)->layout();
  int ranks = world ? world : static_cast<int>(layout.worldSize());
  if (mpi && world && world != mpi->size)
    return fail("--world " + std::to_string(world) +
                " does not match the MPI world size " +
                std::to_string(mpi->size) + " (mpirun -n)");
  if (ranks != layout.worldSize())
    return fail("--world " + std::to_string(ranks) +
                " does not match the layout's tp * dp = " +
                std::to_string(layout.worldSize()) + " (tp " +
                std::to_string(layout.tp) + ", dp " +
                std::to_string(layout.dp) +
                (layout.pcp > 1 ? ", pcp " + std::to_string(layout.pcp) : "") +
                ")");
  if (mpi && mpi->size > 1 && !tracePath.empty() &&
      tracePath.find("{rank}") == std::string::npos)
    return fail("--trace " + tracePath + ": with --backend mpi every process "
                "writes its own trace; put {rank} in the path");
  if (!emitObject.empty()) {
    std::string why;
    if (failed((*exe)->dumpObject(emitObject, why)))
      return fail("--emit-object: cannot write " + emitObject + ": " + why);
  }

  // Inputs: every argument exactly once, nothing else.
  std::map<std::string, std::string> paths;
  const std::vector<moe::TensorSpec> &args = (*exe)->arguments();
  for (const std::string &spec : inputs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail("--input '" + spec + "' is not NAME=PATH");
    std::string name = spec.substr(0, eq);
    bool known = false;
    for (auto [i, arg] : llvm::enumerate(args))
      known |= arg.name == name || std::to_string(i) == name;
    if (!known) {
      std::string names;
      for (const moe::TensorSpec &arg : args)
        names += (names.empty() ? "" : ", ") + arg.name;
      return fail("unknown input '" + name + "'; the entry takes " + names);
    }
    // A name and an index may denote the same argument.
    for (auto [i, arg] : llvm::enumerate(args)) {
      std::string index = std::to_string(i);
      if (name != arg.name && name != index)
        continue;
      std::string other = name == arg.name ? index : arg.name;
      if (paths.count(name))
        return fail("input '" + name + "' given twice");
      if (paths.count(other))
        return fail("input '" + name + "' names argument " + index + " (" +
                    arg.name + ") given as '" + other + "' already");
    }
    paths.emplace(name, spec.substr(eq + 1));
  }
  auto given = [&](size_t i) {
    return paths.count(args[i].name) || paths.count(std::to_string(i));
  };
  if (!weightsPath.empty())
    for (auto [i, arg] : llvm::enumerate(args))
      if (moe::isCheckpointArgument(arg.name) && given(i))
        return fail("input '" + arg.name + "' is given by --input and by "
                    "--weights " + weightsPath);
  for (auto [i, arg] : llvm::enumerate(args))
    if (!given(i) &&
        (weightsPath.empty() || !moe::isCheckpointArgument(arg.name)))
      return fail("missing input '" + arg.name + "' (argument " +
                  std::to_string(i) + ", " + arg.type + ")");

  // The kernels' instruction set and matmul engine policy (MOE_CPU_ISA and
  // MOE_MATMUL_ENGINE may name bad ones).
  moert::CpuIsa isa;
  moert::MatmulEngine engine;
  try {
    isa = moert::cpuIsa();
    engine = moert::matmulEngine();
  } catch (const moert::Error &e) {
    return fail(e.what());
  }

  // Every rank of a thread world is threads of this process: refuse a
  // world this process cannot start before allocating any of it.
  if (!mpi) {
    int64_t pool = kernelThreads > 0
                       ? int64_t(kernelThreads)
                       : moert::defaultKernelThreads(static_cast<size_t>(ranks));
    std::string why =
        moert::checkWorldThreads(ranks, (*exe)->streamsPerRank(), pool);
    if (!why.empty())
      return fail("cannot run a world of " + std::to_string(ranks) +
                  " ranks as threads: " + why);
  }

  std::unique_ptr<moert::World> ranksWorld;
  try {
    ranksWorld = mpi ? moert::createMpiWorld(layout, timeout)
                     : moert::createThreadWorld(layout, timeout);
  } catch (const moert::Error &e) {
    return fail(e.what());
  }
  // From here on a failure of this process also fails the other ranks.
  // Dynamic EPLB rewrites these inputs between steps.
  moert::EplbBinding eplbBinding;
  if (eplb) {
    std::string why;
    std::vector<std::string> names;
    for (const moe::TensorSpec &arg : args)
      names.push_back(arg.name);
    eplbBinding = moert::bindEplbInputs(names, why);
    if (!why.empty())
      return fail("--eplb: " + why);
    std::vector<int> bound = eplbBinding.weights;
    bound.push_back(eplbBinding.log2phy);
    bound.push_back(eplbBinding.expertMap);
    for (int i : bound) {
      auto it = paths.find(args[i].name);
      if (it == paths.end())
        it = paths.find(std::to_string(i));
      if (it != paths.end() && perStep(it->second))
        return fail("--eplb: input '" + args[i].name +
                    "' cannot change per step ({step}): the commit point "
                    "owns it after the first step");
    }
  }
  auto stepPaths = [&](int step) {
    std::map<std::string, std::string> now;
    for (const auto &[name, path] : paths)
      now.emplace(name, withStep(path, step));
    return now;
  };
  CheckpointInputs weights;
  if (!weightsPath.empty()) {
    std::string why = loadCheckpoint(args, layout, entry,
                                     ranksWorld->localRanks(), weights);
    if (!why.empty()) {
      int status = fail(why);
      ranksWorld->abort(mpi ? mpi->rank : 0, firstError);
      return status;
    }
  }
  std::vector<std::vector<moert::Tensor>> perRank;
  try {
    perRank = loadInputs(args, stepPaths(0), ranksWorld->localRanks(),
                         weights);
    if (mpi)
      injectFault(mpi->rank);
  } catch (const moert::Error &e) {
    int status = fail(e.what());
    ranksWorld->abort(mpi ? mpi->rank : 0, firstError);
    return status;
  }

  moert::RunOptions options;
  options.kernelThreads = kernelThreads;
  options.profile = profile;
  options.trace = !tracePath.empty();
  options.checkFinite = checkFinite;
  for (const moe::TensorSpec &arg : args)
    options.inputNames.push_back(arg.name);
  options.load = (*exe)->loadStage();
  options.streams = (*exe)->streamsPerRank();
  if (mpi && kernelThreads <= 0) // share the machine's cores
    options.kernelThreads = std::max(
        1, static_cast<int>(std::thread::hardware_concurrency()) /
               mpi->localSize);
  // Load time (docs/Runtime.md): the input scan and the load-time function
  // once before the steps, then (with the planner) the matmul calibration
  // for the largest token count of the inputs; a failure is reported as a
  // step's would be.
  std::vector<moert::RankOutcome> outcomes;
  {
    moert::RunOptions load = options;
    load.loadOnly = true;
    // moe-run read the weights itself: npu.pack_weights may repack them in
    // place (docs/Runtime.md, "Packed weights").
    load.donateLoadInputs = true;
    outcomes = moert::runRanks(*ranksWorld, (*exe)->entry(), perRank,
                               (*exe)->results().size(), load);
  }
  bool loaded = llvm::none_of(outcomes, [](const moert::RankOutcome &o) {
    return !o.error.empty();
  });
  if (loaded) {
    int64_t maxTokens = 0;
    for (const std::vector<moert::Tensor> &inputs : perRank)
      for (auto [i, arg] : llvm::enumerate(args))
        if (!arg.shape.empty() && arg.shape[0] < 0 && inputs[i].rank() > 0)
          maxTokens = std::max(maxTokens, inputs[i].dim(0));
    try {
      (*exe)->calibrate(maxTokens, options.kernelThreads);
    } catch (const moert::Error &e) {
      int status = fail(e.what());
      ranksWorld->abort(mpi ? mpi->rank : 0, firstError); // peers stop waiting
      return status;
    }
  }
  for (int step = 0; step < steps && loaded; ++step) {
    if (step > 0 && llvm::any_of(paths, [](const auto &entry) {
          return perStep(entry.second);
        })) {
      // This step's own files for the {step} inputs; the others stay (and
      // keep what the commit point made of them).
      std::vector<std::vector<moert::Tensor>> fresh;
      try {
        fresh = loadInputs(args, stepPaths(step), ranksWorld->localRanks(),
                           weights);
      } catch (const moert::Error &e) {
        int status = fail(e.what());
        ranksWorld->abort(mpi ? mpi->rank : 0, firstError);
        return status;
      }
      for (auto [i, arg] : llvm::enumerate(args)) {
        auto it = paths.find(arg.name);
        if (it == paths.end())
          it = paths.find(std::to_string(i));
        if (it != paths.end() && perStep(it->second)) // end: --weights
          for (size_t slot = 0; slot < perRank.size(); ++slot)
            perRank[slot][i] = fresh[slot][i];
      }
    }
    std::vector<moert::RankOutcome> now =
        moert::runRanks(*ranksWorld, (*exe)->entry(), perRank,
                        (*exe)->results().size(), options);
    // Profiles and traces add up over the load and the steps, times over
    // the steps.
    for (size_t i = 0; i < now.size(); ++i) {
      if (step > 0)
        now[i].seconds += outcomes[i].seconds;
      now[i].trace.insert(now[i].trace.begin(), outcomes[i].trace.begin(),
                          outcomes[i].trace.end());
      for (const auto &[op, p] : outcomes[i].profile) {
        now[i].profile[op].calls += p.calls;
        now[i].profile[op].seconds += p.seconds;
      }
    }
    outcomes = std::move(now);
    if (llvm::any_of(outcomes, [](const moert::RankOutcome &o) {
          return !o.error.empty();
        }))
      break;
    if (outputsPerStep && !outputDir.empty()) {
      try {
        for (const moert::RankOutcome &o : outcomes)
          writeOutputs(outputDir + "/step" + std::to_string(step), o.results,
                       o.rank);
      } catch (const moert::Error &e) {
        return fail(e.what());
      }
    }
    if (!eplb)
      continue;
    // The commit point: every rank takes the new placement before the next
    // step starts.
    std::vector<moert::EplbReport> reports =
        moert::eplbCommitRanks(*ranksWorld, perRank, eplbBinding);
    for (const moert::EplbReport &r : reports)
      if (!r.error.empty()) {
        printError(r.error);
        if (firstError.empty())
          firstError = r.error;
        return 1;
      }
    // The reports agree on every rank; the process of rank 0 prints.
    std::vector<int> local = ranksWorld->localRanks();
    if (!reports.empty() && local.front() == 0) {
      const moert::EplbReport &r = reports.front();
      std::string line = "eplb: step " + std::to_string(step) + ": rows per rank";
      for (double v : r.rankLoad)
        line += " " + std::to_string(static_cast<int64_t>(v));
      llvm::outs() << line
                   << llvm::format(", imbalance %.3f; rebalanced: %lld slots "
                                   "moved, predicted imbalance %.3f\n",
                                   r.imbalance, (long long)r.moves,
                                   r.predicted);
    }
  }

  if (timing) {
    if (mpi)
      llvm::outs() << "rank " << mpi->rank << ": ";
    llvm::outs() << llvm::format("compile: %.3f s\n", (*exe)->compileSeconds());
    llvm::outs() << "kernels: " << moert::cpuIsaName(isa) << "\n";
    for (const moert::RankOutcome &o : outcomes)
      llvm::outs() << llvm::format("rank %d: %.3f ms\n", o.rank,
                                   o.seconds * 1e3);
  }
  if (profile)
    for (const moert::RankOutcome &o : outcomes)
      for (const auto &[op, p] : o.profile)
        llvm::outs() << llvm::format("rank %d: %-28s %6lld calls %10.3f ms\n",
                                     o.rank, op.c_str(), (long long)p.calls,
                                     p.seconds * 1e3);
  // The matmul engine policy and, with the planner, its choice per block
  // shape (this process's ranks).
  if (profile) {
    llvm::outs() << "matmul engines: " << moert::matmulEngineName(engine)
                 << ", kernels " << moert::cpuIsaName(isa) << "\n";
    for (const moert::MatmulPlanEntry &e : moert::matmulPlan())
      llvm::outs() << "matmul plan: " << e.shape << ": " << e.engine << " ("
                   << e.timings << ")\n";
  }
  int status = 0;
  if (!tracePath.empty()) {
    std::string path = tracePath;
    size_t at = path.find("{rank}");
    if (at != std::string::npos)
      path.replace(at, 6, std::to_string(mpi ? mpi->rank : 0));
    if (llvm::Error err = moe::writeChromeTrace(path, outcomes)) {
      printError(llvm::toString(std::move(err)));
      status = 1;
    }
  }
  for (const moert::RankOutcome &o : outcomes) {
    if (!o.error.empty()) {
      // The runtime's messages name the rank already.
      printError(o.error);
      if (firstError.empty())
        firstError = o.error;
      status = 1;
      continue;
    }
    for (auto [i, t] : llvm::enumerate(o.results)) {
      if (!outputDir.empty()) {
        try {
          llvm::sys::fs::create_directories(outputDir);
          moerun::writeNpy(outputDir + "/" + std::to_string(i) + ".rank" +
                               std::to_string(o.rank) + ".npy",
                           t);
        } catch (const moert::Error &e) {
          return fail(e.what());
        }
      }
      if (print) {
        llvm::outs() << "result " << i << " rank " << o.rank << ": "
                     << t.str() << "\n";
        printTensor(t);
      }
    }
  }
  return status;
}

#ifdef MOE_HAVE_MPI
/// What a rank prints when mpirun ends it (SIGTERM): mpirun stops every
/// rank once one exits without finishing (a crash, a kill, an exit).
static char termMessage[256];
static size_t termLength = 0;

static void onTerminate(int signal) {
  ssize_t ignored = write(2, termMessage, termLength);
  (void)ignored;
  _exit(128 + signal);
}

static std::string formatSeconds(double s) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}
#endif

/// One rank per MPI process: every process reports how it ended to every
/// other, so all of them exit non-zero when one failed.
static int runMpi(int argc, char **argv) {
#ifdef MOE_HAVE_MPI
  moert::MpiProcessInfo info;
  try {
    info = moert::mpiInit(&argc, &argv);
  } catch (const moert::Error &e) {
    return fail(e.what());
  }
  mpiRank = info.rank;
  termLength = static_cast<size_t>(std::max(
      0, snprintf(termMessage, sizeof(termMessage),
                  "moe-run: error: rank %d: ended by SIGTERM: mpirun ends "
                  "every rank when one exits without finishing (see its "
                  "message)\n",
                  info.rank)));
  termLength = std::min(termLength, sizeof(termMessage) - 1);
  std::signal(SIGTERM, onTerminate);
  int status = runLayer(&info);
  llvm::outs().flush();
  llvm::errs().flush();
  moert::MpiOutcome end = moert::mpiFinish(
      status == 0, firstError.empty() ? "failed" : firstError, timeout);
  if (!end.missing.empty()) {
    std::string missing;
    for (int r : end.missing)
      missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    fail("no word from rank" + std::string(end.missing.size() > 1 ? "s " : " ") +
         missing + " within " + formatSeconds(timeout) +
         " s after the run; ending the MPI job");
    // One MPI_Abort is enough (several at once make mpirun's report
    // garble): the lowest rank that finished aborts, the others wait for
    // it and abort themselves only if it did not happen.
    int lowest = 0;
    while (std::count(end.missing.begin(), end.missing.end(), lowest))
      ++lowest;
    if (info.rank != lowest)
      sleep(3);
    moert::mpiAbortJob(1);
  }
  if (status == 0 && !end.failed.empty())
    status = fail("rank " + std::to_string(end.failed.front().first) +
                  " failed: " + end.failed.front().second);
  return status;
#else
  (void)argc;
  (void)argv;
  return fail("--backend mpi: this moe-run was built without MPI");
#endif
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(moeRunCategory);
  cl::ParseCommandLineOptions(argc, argv,
                              "moe-run: compile an MoE layer and run it on "
                              "N ranks\n");
  if (backend == Backend::Mpi)
    return runMpi(argc, argv);
  return runLayer(nullptr);
}
