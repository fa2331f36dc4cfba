//===- moe-import.cpp - MoE layers of a Hugging Face model ----------------===//
//
//   moe-import config.json [--layers 3,5] [--chip A3] [--tp 2 --dp 4 --ep]
//              [--redundant-experts R] [--shared-expert-ranks S]
//              [--quant checkpoint|none|...]
//              [--set key=value ...] -o out.mlir
//
// Writes one func.func @layer_N per MoE layer of the model (docs/Import.md).
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HfConfig.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<config.json>"));
static cl::opt<std::string> outputPath("o", cl::init("-"),
                                       cl::desc("output .mlir (default stdout)"));
static cl::list<int64_t> layers("layers", cl::CommaSeparated,
                                cl::desc("decoder layers to import (default: "
                                         "every MoE layer)"));
static cl::opt<std::string> chip("chip", cl::init("A3"),
                                 cl::desc("target chip: A2, A3, A5, A310P"));
static cl::opt<int64_t> tp("tp", cl::init(1), cl::desc("tensor parallel size"));
static cl::opt<int64_t> dp("dp", cl::init(1), cl::desc("data parallel size"));
static cl::opt<bool> ep("ep", cl::init(false),
                        cl::desc("enable expert parallelism"));
static cl::opt<int64_t> redundant("redundant-experts", cl::init(0),
                                  cl::desc("EPLB redundant experts"));
static cl::opt<int64_t> sharedRanks(
    "shared-expert-ranks", cl::init(0),
    cl::desc("EP ranks reserved for the shared experts (MC2's "
             "shared_expert_rank_num, #moe.layout shared_expert_ranks)"));
static cl::opt<std::string>
    quant("quant", cl::init("checkpoint"),
          cl::desc("experts' scheme: checkpoint (quantization_config), none, "
                   "w8a8_dynamic, w4a8_dynamic"));
static cl::opt<int64_t> groupSize("group-size", cl::init(256),
                                  cl::desc("w4a8 group size"));
static cl::list<std::string>
    overrides("set", cl::ZeroOrMore,
              cl::desc("key=value: replace a key of config.json before it is "
                       "read (repeatable), e.g. --set hidden_size=256"),
              cl::value_desc("key=value"));
static cl::opt<bool> summary("summary", cl::init(false),
                             cl::desc("print the model's MoE structure to "
                                      "stderr"));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "MoE layers of a Hugging Face config.json\n");
  auto fail = [](Error err) {
    errs() << "moe-import: " << toString(std::move(err)) << "\n";
    return 1;
  };
  Expected<mlir::moe::ModelSpec> spec = mlir::moe::parseHfConfigFile(
      inputPath, std::vector<std::string>(overrides.begin(), overrides.end()));
  if (!spec)
    return fail(spec.takeError());
  Expected<std::optional<mlir::moe::ImportQuant>> q =
      mlir::moe::parseImportQuant(quant);
  if (!q)
    return fail(q.takeError());
  if (redundant < 0 || groupSize < 1)
    return fail(createStringError(inconvertibleErrorCode(),
                                  "--redundant-experts must be >= 0 and "
                                  "--group-size >= 1"));
  mlir::moe::ImportOptions options;
  options.chip = chip;
  options.tp = tp;
  options.dp = dp;
  options.expertParallel = ep;
  options.redundantExperts = redundant;
  options.sharedExpertRanks = sharedRanks;
  options.quant = *q;
  options.groupSize = groupSize;
  options.layers.assign(layers.begin(), layers.end());
  if (summary) {
    errs() << spec->modelType << ": " << spec->moeLayers.size() << " of "
           << spec->numHiddenLayers << " layers are MoE (first "
           << spec->moeLayers.front() << "), " << spec->experts
           << " experts, top-" << spec->topK << ", intermediate "
           << spec->intermediate << ", shared " << spec->sharedIntermediate
           << "\n";
  }
  mlir::MLIRContext context;
  Expected<mlir::OwningOpRef<mlir::ModuleOp>> module =
      mlir::moe::buildModelModule(context, *spec, options);
  if (!module)
    return fail(module.takeError());
  std::string error;
  auto out = mlir::openOutputFile(outputPath, &error);
  if (!out) {
    errs() << "moe-import: " << error << "\n";
    return 1;
  }
  (**module)->print(out->os());
  out->os() << "\n";
  out->keep();
  return 0;
}
