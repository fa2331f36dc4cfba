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

// -----

// Returning a value twice, and returning a borrowed argument, need one more
// reference each.
// CHECK-LABEL: func.func @handed_on_twice
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>
// CHECK: %[[A:.+]] = npu.add %[[X]], %[[X]]
// CHECK-NEXT: npu.retain %[[A]] : tensor<?x8xf32>
// CHECK-NEXT: npu.retain %[[X]] : tensor<?x8xf32>
// CHECK-NEXT: return %[[A]], %[[A]], %[[X]]
func.func @handed_on_twice(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %a = npu.add %x, %x : tensor<?x8xf32>
  return %a, %a, %x : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A value used inside the cases of an index_switch is borrowed there and
// released after the switch; values made in a case are yielded (handed on)
// or released in the case; a yielded outer value is retained.
// CHECK-LABEL: func.func @switch
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>, %[[I:.+]]: index)
// CHECK: %[[A:.+]] = npu.add %[[X]], %[[X]]
// CHECK: %[[R:.+]] = scf.index_switch %[[I]]
// CHECK: case 0 {
// CHECK-NEXT: %[[B:.+]] = npu.add %[[A]], %[[A]]
// CHECK-NEXT: %[[C:.+]] = npu.add %[[B]], %[[A]]
// CHECK-NEXT: npu.release %[[B]]
// CHECK-NEXT: scf.yield %[[C]]
// CHECK: default {
// CHECK-NEXT: npu.retain %[[A]]
// CHECK-NEXT: scf.yield %[[A]]
// CHECK: npu.release %[[A]]
// CHECK-NEXT: return %[[R]]
func.func @switch(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    %b = npu.add %a, %a : tensor<?x8xf32>
    %c = npu.add %b, %a : tensor<?x8xf32>
    scf.yield %c : tensor<?x8xf32>
  }
  default {
    scf.yield %a : tensor<?x8xf32>
  }
  return %r : tensor<?x8xf32>
}

// -----

// Unused results and events are released too; casts own a reference.
// CHECK-LABEL: func.func @unused
// CHECK: %[[Q:.+]], %[[S:.+]] = npu.dynamic_quant
// CHECK-NEXT: npu.release %[[S]] : tensor<?xf32>
// CHECK: %[[E:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E]] stream(1)
// CHECK-NEXT: npu.release %[[E]] : !npu.event
// CHECK: %[[C:.+]] = tensor.cast %[[Q]]
// CHECK-NEXT: npu.release %[[Q]]
// CHECK-NEXT: return %[[C]]
func.func @unused(%x: tensor<4x8xf32>) -> tensor<?x8xi8> {
  %q, %s = npu.dynamic_quant %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<?xf32>
  %e = npu.record stream(0)
  npu.wait %e stream(1)
  %c = tensor.cast %q : tensor<4x8xi8> to tensor<?x8xi8>
  return %c : tensor<?x8xi8>
}
