//===- MlirFuzzer.cpp - libFuzzer entry point of the MLIR pipeline --------===//
//
// Parses the bytes as a module with every moe-mlir dialect registered (as
// moe-opt and moe-run do), runs moe-compile and moe-lower-to-llvm, prints
// the result and parses and verifies it again in a fresh context.
// Diagnostics are the expected answer to bad input; a crash, an assertion
// or printed IR that does not verify again (an abort here) is a bug.
//
//===----------------------------------------------------------------------===//

#include "moe/Execution/Executable.h"
#include "moe/Support/ParserHazards.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>

using namespace mlir;

namespace {
DialectRegistry &registry() {
  static DialectRegistry *r = [] {
    auto *reg = new DialectRegistry();
    moe::registerExecutionDialects(*reg);
    moe::registerExecutionPasses();
    return reg;
  }();
  return *r;
}

OwningOpRef<ModuleOp> parse(MLIRContext &context, llvm::StringRef text) {
  // As every driver does: MLIR 19's parser crashes on these.
  if (moe::findForwardUseIntoRegion(text))
    return nullptr;
  // MLIR's lexer stops at the NUL after the buffer; libFuzzer's input has
  // none, so a copy gives it one (without it the lexer read past the input:
  // test/Fuzz/crashers/lexer-overread.mlir).
  std::string owned(text);
  return parseSourceString<ModuleOp>(owned, ParserConfig(&context));
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) {
    return success();
  });
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parse(context, text);
  if (!module)
    return 0;
  PassManager pm(&context);
  if (failed(parsePassPipeline("builtin.module(moe-compile,moe-lower-to-llvm)",
                               pm)))
    std::abort();
  if (failed(pm.run(*module)))
    return 0;
  std::string printed;
  llvm::raw_string_ostream os(printed);
  module->print(os);
  os.flush();

  MLIRContext again(registry(), MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler show(&again, [](Diagnostic &d) {
    llvm::errs() << d << "\n";
    return success();
  });
  OwningOpRef<ModuleOp> reparsed = parse(again, printed);
  if (!reparsed || failed(verify(*reparsed))) {
    std::fprintf(stderr, "moe-fuzz-mlir: the lowered module does not parse "
                         "and verify again:\n%s\n",
                 printed.c_str());
    std::abort();
  }
  return 0;
}
