// Modules that hold no moe op or attribute (nothing to compile, or IR
// already at level 2) go through both pipelines. They crashed (issue 14):
// the expansion built the default #moe.layout while the moe dialect was not
// loaded, on a pass-manager thread when there were several functions.
// RUN: moe-opt %s -moe-compile | FileCheck %s
// RUN: moe-opt %s -moe-compile -mlir-disable-threading | FileCheck %s
// RUN: moe-opt %s -moe-compile -moe-lower-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: moe-opt %s -moe-compile -moe-lower-to-llvm -mlir-disable-threading | FileCheck %s --check-prefix=LLVM
// Each pass of moe-compile on its own, too.
// RUN: moe-opt %s -moe-select-comm-method | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-npu | FileCheck %s

// The project's own level-2 test inputs: diagnostics where they race on
// purpose, never a crash.
// RUN: moe-opt %moe_src_root/test/Dialect/Npu/Transforms/schedule-multistream.mlir -moe-compile | FileCheck %s --check-prefix=SCHEDULE
// RUN: moe-opt %moe_src_root/test/Dialect/Npu/Transforms/verify-streams.mlir -moe-compile | FileCheck %s --check-prefix=VERIFY
// RUN: not moe-opt %moe_src_root/test/Dialect/Npu/ops.mlir -moe-compile -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPS
// RUN: moe-opt %moe_src_root/test/Conversion/NpuToRuntime/ref-counting.mlir -moe-compile -split-input-file | FileCheck %s --check-prefix=REFS

// CHECK-LABEL: func.func @identity
// CHECK-NEXT: return %{{.+}} : tensor<4x8xf32>
// CHECK-LABEL: func.func @twice
// CHECK-NEXT: npu.add
// CHECK-LABEL: func.func @empty
// LLVM-LABEL: llvm.func @identity
// LLVM-LABEL: llvm.func @twice
// LLVM: llvm.call @moert_npu_add
// LLVM-LABEL: llvm.func @empty
// SCHEDULE: npu.record
// VERIFY: npu.wait
// OPS: error: value produced on stream 1 is used on stream 0 without an event ordering them
// REFS: npu.dynamic_quant
func.func @identity(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  return %x : tensor<4x8xf32>
}

func.func @twice(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = npu.add %x, %x : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

func.func @empty() {
  return
}
