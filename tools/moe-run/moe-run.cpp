//===- moe-run.cpp - compile an MoE layer and run it on N ranks -----------===//
//
//   moe-run FILE.mlir [--pipeline=...] --world N [--input NAME=PATH]...
//           [--output-dir DIR] [--print] [--timing]
//
// Compiles the entry function with the pipeline (moe-compile by default)
// and the lowering, JIT-compiles it and runs it on every rank of the world:
// threads of this process by default. NAME is an argument's `moe.name` or
// its index; a PATH containing `{rank}` gives each rank its own file.
// Outputs go to DIR/<result-index>.rank<r>.npy.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "moe/Execution/Executable.h"
#include "moe/Runtime/Executor.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<layer.mlir>"),
                                      cl::Required);
static cl::opt<std::string>
    pipeline("pipeline",
             cl::desc("Compiler pipeline before the lowering (a module-level "
                      "textual pipeline; empty for IR already lowered to "
                      "npu ops)"),
             cl::init("moe-compile"));
static cl::opt<int> world("world", cl::desc("Number of ranks (must equal the "
                                            "layout's tp * dp)"),
                          cl::init(0));
static cl::list<std::string>
    inputs("input", cl::desc("NAME=PATH: an entry argument's .npy file; "
                             "{rank} in PATH is replaced by the rank"));
static cl::opt<std::string> outputDir("output-dir",
                                      cl::desc("Write outputs here"));
static cl::opt<bool> print("print", cl::desc("Print the outputs"));
static cl::opt<bool> timing("timing",
                            cl::desc("Report compile and per-rank run time"));
static cl::opt<std::string> entryName("entry",
                                      cl::desc("Function to run (default: "
                                               "the only public function)"));
static cl::opt<double> timeout("timeout",
                               cl::desc("Seconds a collective may wait for "
                                        "the other ranks before the run "
                                        "fails"),
                               cl::init(120));
static cl::opt<int> kernelThreads("kernel-threads",
                                  cl::desc("Kernel threads per rank (0: "
                                           "cores / ranks)"),
                                  cl::init(0));
static cl::opt<bool> showRemarks("show-remarks",
                                 cl::desc("Print the compiler's remarks (e.g. "
                                          "which method each layer uses)"));
static cl::opt<std::string> emitObject("emit-object",
                                       cl::desc("Also write the compiled "
                                                "object file here"));

static int fail(const std::string &message) {
  llvm::errs() << "moe-run: error: " << message << "\n";
  return 1;
}

static std::string withRank(std::string path, int rank) {
  for (size_t at; (at = path.find("{rank}")) != std::string::npos;)
    path.replace(at, 6, std::to_string(rank));
  return path;
}

/// Loads every rank's arguments; shared files are read once.
static std::vector<std::vector<moert::Tensor>>
loadInputs(const std::vector<moe::TensorSpec> &args,
           const std::map<std::string, std::string> &paths, int ranks) {
  std::map<std::string, moert::Tensor> cache;
  std::vector<std::vector<moert::Tensor>> perRank(ranks);
  for (auto [i, arg] : llvm::enumerate(args)) {
    auto it = paths.find(arg.name);
    if (it == paths.end())
      it = paths.find(std::to_string(i));
    for (int r = 0; r < ranks; ++r) {
      std::string path = withRank(it->second, r);
      std::string what = "input '" + arg.name + "' (" + path + ")";
      auto cached = cache.find(path);
      moert::Tensor t;
      if (cached != cache.end()) {
        t = cached->second;
      } else {
        try {
          t = moerun::convertInput(moerun::readNpy(path), arg.dtype);
        } catch (const moert::Error &e) {
          std::string msg = e.what();
          throw moert::Error(msg.rfind(path, 0) == 0 ? msg
                                                     : what + ": " + msg);
        }
        cache[path] = t;
      }
      moert::check(arg.accepts(t), what + " is " + t.str() +
                                       " but the argument is " + arg.type);
      perRank[r].push_back(t);
    }
  }
  return perRank;
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

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "moe-run: compile an MoE layer and run it on "
                              "N ranks\n");
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
  std::string error;
  auto file = openInputFile(inputFile, &error);
  if (!file)
    return fail(error);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  FailureOr<std::unique_ptr<moe::Executable>> exe =
      moe::Executable::compile(*module, pipeline, entryName);
  if (failed(exe))
    return 1;
  const moert::Layout &layout = (*exe)->layout();
  int ranks = world ? world : static_cast<int>(layout.worldSize());
  if (ranks != layout.worldSize())
    return fail("--world " + std::to_string(ranks) +
                " does not match the layout's tp * dp = " +
                std::to_string(layout.worldSize()) + " (tp " +
                std::to_string(layout.tp) + ", dp " +
                std::to_string(layout.dp) + ")");
  if (!emitObject.empty() && failed((*exe)->dumpObject(emitObject)))
    return fail("cannot write " + emitObject);

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
    if (!paths.emplace(name, spec.substr(eq + 1)).second)
      return fail("input '" + name + "' given twice");
  }
  for (auto [i, arg] : llvm::enumerate(args))
    if (!paths.count(arg.name) && !paths.count(std::to_string(i)))
      return fail("missing input '" + arg.name + "' (argument " +
                  std::to_string(i) + ", " + arg.type + ")");
  std::vector<std::vector<moert::Tensor>> perRank;
  try {
    perRank = loadInputs(args, paths, ranks);
  } catch (const moert::Error &e) {
    return fail(e.what());
  }

  std::unique_ptr<moert::World> threads =
      moert::createThreadWorld(layout, timeout);
  moert::RunOptions options;
  options.kernelThreads = kernelThreads;
  std::vector<moert::RankOutcome> outcomes = moert::runRanks(
      *threads, (*exe)->entry(), perRank, (*exe)->results().size(), options);

  if (timing) {
    llvm::outs() << llvm::format("compile: %.3f s\n", (*exe)->compileSeconds());
    for (const moert::RankOutcome &o : outcomes)
      llvm::outs() << llvm::format("rank %d: %.3f ms\n", o.rank,
                                   o.seconds * 1e3);
  }
  int status = 0;
  for (const moert::RankOutcome &o : outcomes) {
    if (!o.error.empty()) {
      llvm::errs() << "moe-run: error: " << o.error << "\n";
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
