// RUN: moe-opt %s -split-input-file -moe-runtime-ref-counting | FileCheck %s

// A chain: every owned value is released right after its last use; the
// returned value is handed to the caller; arguments are borrowed.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>, %[[N:.+]]: index)
// CHECK: %[[P:.+]] = npu.pad_rows %[[X]] to %[[N]]
// CHECK-NEXT: %[[Q:.+]], %[[S:.+]] = npu.dynamic_quant %[[P]]
// CHECK-NEXT: npu.release %[[S]] : tensor<?xf32>
// CHECK-NEXT: npu.release %[[P]] : tensor<?x8xf32>
// CHECK-NEXT: %[[G:.+]] = npu.all_gather %[[Q]] ep
// CHECK-NEXT: npu.release %[[Q]] : tensor<?x8xi8>
// CHECK-NEXT: return %[[G]]
// CHECK-NOT: npu.release %[[X]]
func.func @chain(%x: tensor<?x8xf32>, %n: index) -> tensor<?x8xi8> {
  %p = npu.pad_rows %x to %n : tensor<?x8xf32> -> tensor<?x8xf32>
  %q, %s = npu.dynamic_quant %p : tensor<?x8xf32> -> tensor<?x8xi8>, tensor<?xf32>
  %g = npu.all_gather %q ep : tensor<?x8xi8> -> tensor<?x8xi8>
  return %g : tensor<?x8xi8>
}
