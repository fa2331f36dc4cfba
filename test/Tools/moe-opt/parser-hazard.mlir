// MLIR 19's parser crashes (a segmentation fault; upstream mlir-opt-19 too)
// on an operand naming a value defined later inside a region of the same
// op. moe-opt and moe-run report it instead (moe/Support/ParserHazards.h).
// RUN: not moe-opt %s 2>&1 | FileCheck %s
// RUN: not moe-opt %s -split-input-file 2>&1 | FileCheck %s
// RUN: not moe-run %s 2>&1 | FileCheck %s
// RUN: moe-opt %S/Inputs/forward-uses.mlir | FileCheck %s --check-prefix=VALID

// CHECK: parser-hazard.mlir:[[@LINE+4]]:29: error: '%c4' is used before its definition inside a region of the op that uses it; define it before the op (MLIR 19's parser crashes on this input)
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %iv = %c0 to %c4 step %c1 iter_args(%acc = %x) -> tensor<?x8xf32> {
    %c4 = arith.constant 4 : index
    scf.yield %acc : tensor<?x8xf32>
  }
  return %r : tensor<?x8xf32>
}

// VALID-LABEL: func.func @later_block
// VALID-LABEL: func.func @names_reused
