//===- moe-opt.cpp - the moe-mlir optimizer driver ------------------------===//
//
// mlir-opt for moe-mlir: parses, verifies, transforms and prints modules in
// the moe dialect and the upstream dialects the project uses.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Npu/NpuDialect.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Support/ParserHazards.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/Extensions/InlinerExtension.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/ToolOutputFile.h"

namespace mlir::moe::test {
void registerTestMoeQueries();
void registerTestCommMethodRules();
void registerTestMoeSetLayout();
} // namespace mlir::moe::test

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::moe::MoeDialect, mlir::npu::NpuDialect,
                  mlir::arith::ArithDialect,
                  mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::LLVM::LLVMDialect, mlir::scf::SCFDialect,
                  mlir::tensor::TensorDialect>();
  // What -inline needs to inline func.call, as in mlir-opt.
  mlir::func::registerInlinerExtension(registry);
  // Upstream's general transforms, as in mlir-opt: cse, canonicalize,
  // loop-invariant-code-motion, sccp, control-flow-sink, inline, symbol-dce...
  mlir::registerTransformsPasses();
  // The upstream passes of the lowering pipelines.
  mlir::registerPass([] { return mlir::createConvertSCFToCFPass(); });
  mlir::registerPass([] { return mlir::createReconcileUnrealizedCastsPass(); });
  mlir::moe::registerMoeTransformsPasses();
  mlir::moe::registerNpuTransformsPasses();
  mlir::moe::registerMoeConversionPasses();
  mlir::moe::registerMoePipelines();
  mlir::moe::test::registerTestMoeQueries();
  mlir::moe::test::registerTestCommMethodRules();
  mlir::moe::test::registerTestMoeSetLayout();
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "moe-mlir optimizer driver\n", registry);
  // Input MLIR 19's parser would crash on is an error instead
  // (moe/Support/ParserHazards.h). The input is read once (stdin too) and
  // handed to MlirOptMain; listing dialects reads none.
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  if (!config.shouldShowDialects()) {
    std::string error;
    std::unique_ptr<llvm::MemoryBuffer> file =
        mlir::openInputFile(inputFilename, &error);
    if (!file) {
      llvm::errs() << error << "\n";
      return 1;
    }
    llvm::StringRef text = file->getBuffer();
    if (auto hazard = mlir::moe::findForwardUseIntoRegion(text)) {
      llvm::SourceMgr sourceMgr;
      sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
      sourceMgr.PrintMessage(
          llvm::errs(),
          llvm::SMLoc::getFromPointer(text.data() + hazard->offset),
          llvm::SourceMgr::DK_Error, hazard->message);
      return 1;
    }
    auto output = mlir::openOutputFile(outputFilename, &error);
    if (!output) {
      llvm::errs() << error << "\n";
      return 1;
    }
    if (mlir::failed(mlir::MlirOptMain(output->os(), std::move(file), registry,
                                       config)))
      return 1;
    output->keep();
    return 0;
  }
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, inputFilename, outputFilename, registry));
}
