// RUN: moe-opt %s -split-input-file -moe-merge-step-sync | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-merge-step-sync -moe-merge-step-sync | FileCheck %s

// Two layers' maxima over different groups, a TP uniformity check and a
// request inside a region, all on the token count of %x (taken twice):
// one npu.step_sync right after the function starts, every request reads
// its result for the group; the check becomes uniform_tp.
// CHECK-LABEL: func.func @layers
// CHECK: %[[D:.+]] = tensor.dim %{{[^,]+}}, %{{.+}}
// CHECK-NEXT: %[[Z:.+]] = arith.constant 0 : index
// CHECK-NEXT: %[[W:[^,]+]], %[[TP:[^,]+]], %[[DP:[^,]+]], %[[EP:[^,]+]], %{{[^,]+}}, %{{[^,]+}}, %{{[^ ]+}} = npu.step_sync %[[D]], %[[Z]], %[[Z]] uniform_tp "the tensor-parallel ranks hold the same tokens"
// CHECK-NOT: npu.all_reduce_scalar
// CHECK-NOT: npu.expect_uniform
// CHECK: npu.pad_rows %{{.+}} to %[[DP]]
// CHECK: scf.if
// CHECK: npu.pad_rows %{{.+}} to %[[EP]]
// CHECK: arith.cmpi ugt, %[[W]]
// The sum is not a maximum: it stays.
// CHECK: npu.all_reduce_scalar %{{.+}} sum dp
func.func @layers(%x: tensor<?x8xf32>, %c: i1) -> (tensor<?x8xf32>, index, index) {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x8xf32>
  npu.expect_uniform %t tp "the tensor-parallel ranks hold the same tokens"
  %m = npu.all_reduce_scalar %t max dp
  %p = npu.pad_rows %x to %m : tensor<?x8xf32> -> tensor<?x8xf32>
  %r = scf.if %c -> tensor<?x8xf32> {
    %t2 = tensor.dim %x, %c0 : tensor<?x8xf32>
    %m2 = npu.all_reduce_scalar %t2 max ep
    %q = npu.pad_rows %p to %m2 : tensor<?x8xf32> -> tensor<?x8xf32>
    scf.yield %q : tensor<?x8xf32>
  } else {
    scf.yield %p : tensor<?x8xf32>
  }
  %w = npu.all_reduce_scalar %t max world
  %c4 = arith.constant 4 : index
  %big = arith.cmpi ugt, %w, %c4 : index
  %s = npu.all_reduce_scalar %t sum dp
  %b = arith.index_cast %big : i1 to index
  return %r, %s, %b : tensor<?x8xf32>, index, index
}

// -----

// Counts of different tensors get a sync each; a function without requests
// gets none.
// CHECK-LABEL: func.func @two_counts
// CHECK-COUNT-2: npu.step_sync
// CHECK-LABEL: func.func @none
// CHECK-NOT: npu.step_sync
func.func @two_counts(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> (index, index) {
  %c0 = arith.constant 0 : index
  %a = tensor.dim %x, %c0 : tensor<?x8xf32>
  %b = tensor.dim %y, %c0 : tensor<?x8xf32>
  %ma = npu.all_reduce_scalar %a max dp
  %mb = npu.all_reduce_scalar %b max dp
  return %ma, %mb : index, index
}
func.func @none(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}

// -----

// A maximum of a maximum (allgather with pcp > 1: over PCP of the DP
// maximum) keeps its all-reduce, on the synchronized DP maximum.
// CHECK-LABEL: func.func @max_of_max
// CHECK: %{{[^,]+}}, %{{[^,]+}}, %[[DP:[^,]+]], {{.*}} = npu.step_sync
// CHECK: %[[P:.+]] = npu.all_reduce_scalar %[[DP]] max pcp
// CHECK: return %[[P]]
func.func @max_of_max(%x: tensor<?x8xf32>) -> index {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x8xf32>
  %m1 = npu.all_reduce_scalar %t max dp
  %m2 = npu.all_reduce_scalar %m1 max pcp
  return %m2 : index
}
