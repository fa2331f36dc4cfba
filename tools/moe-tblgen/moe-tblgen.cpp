//===- moe-tblgen.cpp - moe-mlir's TableGen backends ----------------------===//
//
// mlir-tblgen plus the generators that keep moe-mlir's contracts in one
// place (docs/Architecture.md, "One definition per contract"). Each
// generator lives in its own file of this folder and registers itself with
// mlir::GenRegistration:
//
//   -gen-runtime-abi-*      RuntimeAbiGen.cpp: the C ABI between the
//                           compiled code and the runtime, from NpuOps.td
//   -gen-pipeline-options   PipelineOptionsGen.cpp: moe-compile's options,
//                           from the passes' options in Passes.td
//
//===----------------------------------------------------------------------===//

#include "mlir/Tools/mlir-tblgen/MlirTblgenMain.h"

int main(int argc, char **argv) { return mlir::MlirTblgenMain(argc, argv); }
