// RUN: moe-opt %s -split-input-file -canonicalize | FileCheck %s

// On a single device prepare and finalize are identities.
// CHECK-LABEL: func.func @single_device
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf32>, %[[L:.+]]: tensor<?x4xf32>
// CHECK-NOT: moe.prepare
// CHECK: %[[W:.+]], %{{.+}} = moe.gate %[[L]]
// CHECK: moe.dispatch %[[X]], %[[W]]
// CHECK-NOT: moe.finalize
// CHECK: %[[O:.+]] = moe.combine
// CHECK: return %[[O]]
func.func @single_device(%x: tensor<?x8xf32>, %logits: tensor<?x4xf32>,
                         %w13: tensor<4x8x8xf32>, %w2: tensor<4x4x8xf32>) -> tensor<?x8xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4)
      : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x8x8xf32>, tensor<4x4x8xf32>)
      : tensor<?x8xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x8xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x8xf32>
}

// -----

// A static token count is preserved through casts.
// CHECK-LABEL: func.func @static_tokens
// CHECK-SAME: (%[[X:.+]]: tensor<3x8xf32>, %[[L:.+]]: tensor<3x4xf32>)
// CHECK-DAG: %[[XC:.+]] = tensor.cast %[[X]] : tensor<3x8xf32> to tensor<?x8xf32>
// CHECK-DAG: %[[LC:.+]] = tensor.cast %[[L]] : tensor<3x4xf32> to tensor<?x4xf32>
// CHECK: return %[[XC]], %[[LC]]
func.func @static_tokens(%x: tensor<3x8xf32>, %logits: tensor<3x4xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>) {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<3x8xf32>, tensor<3x4xf32> -> !moe.prepare_ctx<mc2>
  return %h, %l : tensor<?x8xf32>, tensor<?x4xf32>
}

// -----

// With more than one device both stay.
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  // CHECK-LABEL: func.func @two_devices
  // CHECK: moe.prepare
  // CHECK: moe.finalize
  func.func @two_devices(%x: tensor<?x8xf32>, %logits: tensor<?x4xf32>) -> tensor<?x8xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
    %r = moe.finalize %h, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
    return %r : tensor<?x8xf32>
  }
}

// -----

// Finalize adding shared experts stays (the addition is real work).
// CHECK-LABEL: func.func @keeps_shared
// CHECK: moe.finalize %{{.+}}, %{{.+}} shared
func.func @keeps_shared(%x: tensor<?x8xf32>, %logits: tensor<?x4xf32>, %s: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
  %r = moe.finalize %h, %pctx shared(%s : tensor<?x8xf32>) : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x8xf32>
}

// -----

// A choice between one method folds to its only case.
// CHECK-LABEL: func.func @choose_one
// CHECK: %[[C:.+]] = arith.constant 0 : index
// CHECK: return %[[C]]
func.func @choose_one(%x: tensor<?x8xf32>) -> index {
  %i = moe.choose_method %x thresholds [] methods [alltoall] : tensor<?x8xf32>
  return %i : index
}
