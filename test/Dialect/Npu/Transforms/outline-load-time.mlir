// RUN: moe-opt %s -split-input-file -moe-outline-load-time | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-outline-load-time -moe-outline-load-time | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-outline-load-time | moe-opt -split-input-file | FileCheck %s

// Both weight stacks' processing moves into @layer__load, which takes the
// six checkpoint arguments (indices 2..7) and returns the six processed
// tensors; @layer takes them as trailing arguments. The user's arguments
// and their names stay; the checkpoint arguments are unused by the step.
// CHECK-LABEL: func.func @layer__load
// CHECK-SAME: (%[[C13:.+]]: tensor<4x32x64xi8> {moe.name = "w13"}, %[[S13:.+]]: tensor<4x32x1xf32>, %[[G13:.+]]: tensor<4x32x4xf32>, %[[C2:.+]]: tensor<4x64x16xi8>, %[[S2:.+]]: tensor<4x64x1xf32>, %[[G2:.+]]: tensor<4x64x1xf32>)
// CHECK-SAME: -> (tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>, tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>)
// CHECK: %[[A0:.+]], %[[A1:.+]], %[[A2:.+]] = npu.w4a8_process_weights %[[C13]], %[[S13]], %[[G13]]
// CHECK: %[[B0:.+]], %[[B1:.+]], %[[B2:.+]] = npu.w4a8_process_weights %[[C2]], %[[S2]], %[[G2]]
// CHECK: return %[[A0]], %[[A1]], %[[A2]], %[[B0]], %[[B1]], %[[B2]] :
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32> {moe.name = "x"}, %{{.+}}: tensor<4xi64>, %{{.+}}: tensor<4x32x64xi8> {moe.name = "w13"}, %{{.+}}: tensor<4x32x1xf32>, %{{.+}}: tensor<4x32x4xf32>, %{{.+}}: tensor<4x64x16xi8>, %{{.+}}: tensor<4x64x1xf32>, %{{.+}}: tensor<4x64x1xf32>,
// CHECK-SAME: %[[W13:[^:]+]]: tensor<4x64x32xi4>, %[[M13:[^:]+]]: tensor<4x4x32xf32>, %[[B13:[^:]+]]: tensor<4x32xf32>, %[[W2:[^:]+]]: tensor<4x16x64xi4>, %[[M2:[^:]+]]: tensor<4x1x64xf32>, %[[B2:[^:]+]]: tensor<4x64xf32>)
// CHECK-SAME: attributes {npu.load_args = array<i64: 2, 3, 4, 5, 6, 7>, npu.load_function = @layer__load}
// CHECK-NOT: npu.w4a8_process_weights
// CHECK: npu.grouped_matmul %{{.+}}, %[[W13]], %{{.+}} per_token_scale(%{{.+}} : tensor<?xf32>) group_scale(%[[M13]] : tensor<4x4x32xf32>) bias(%[[B13]] : tensor<4x32xf32>)
// CHECK: npu.grouped_matmul %{{.+}}, %[[W2]], %{{.+}} per_token_scale(%{{.+}} : tensor<?xf32>) group_scale(%[[M2]] : tensor<4x1x64xf32>) bias(%[[B2]] : tensor<4x64xf32>)
func.func @layer(%x: tensor<?x64xf32> {moe.name = "x"}, %g: tensor<4xi64>,
                 %c13: tensor<4x32x64xi8> {moe.name = "w13"}, %s13: tensor<4x32x1xf32>, %g13: tensor<4x32x4xf32>,
                 %c2: tensor<4x64x16xi8>, %s2: tensor<4x64x1xf32>, %g2: tensor<4x64x1xf32>) -> tensor<?x64xf32> {
  %w13, %m13, %b13 = npu.w4a8_process_weights %c13, %s13, %g13
      : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x4xf32> -> tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>
  %w2, %m2, %b2 = npu.w4a8_process_weights %c2, %s2, %g2
      : tensor<4x64x16xi8>, tensor<4x64x1xf32>, tensor<4x64x1xf32> -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
  %q, %qs = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %g per_token_scale(%qs : tensor<?xf32>) group_scale(%m13 : tensor<4x4x32xf32>)
      bias(%b13 : tensor<4x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %qs2 = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %g per_token_scale(%qs2 : tensor<?xf32>) group_scale(%m2 : tensor<4x1x64xf32>)
      bias(%b2 : tensor<4x64xf32>) w4a8 count : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Processing whose input is computed in the step stays in the step;
// private functions and functions without load-time ops are left alone.
// CHECK-LABEL: func.func @computed_input
// CHECK-NOT: npu.load_function
// CHECK: npu.w4a8_process_weights
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: npu.load_function
// CHECK: npu.w4a8_process_weights
// CHECK-LABEL: func.func @no_weights(%{{.+}}: tensor<?x8xf32>) -> tensor<?x8xf32> {
func.func @computed_input(%c: tensor<2x8x4xi8>, %s: tensor<2x8x1xf32>, %g: tensor<2x8x1xf32>) -> tensor<2x8xf32> {
  %sum = npu.add %s, %s : tensor<2x8x1xf32>
  %w, %m, %b = npu.w4a8_process_weights %c, %sum, %g
      : tensor<2x8x4xi8>, tensor<2x8x1xf32>, tensor<2x8x1xf32> -> tensor<2x4x8xi4>, tensor<2x1x8xf32>, tensor<2x8xf32>
  return %b : tensor<2x8xf32>
}
func.func private @helper(%c: tensor<2x8x4xi8>, %s: tensor<2x8x1xf32>, %g: tensor<2x8x1xf32>) -> tensor<2x8xf32> {
  %w, %m, %b = npu.w4a8_process_weights %c, %s, %g
      : tensor<2x8x4xi8>, tensor<2x8x1xf32>, tensor<2x8x1xf32> -> tensor<2x4x8xi4>, tensor<2x1x8xf32>, tensor<2x8xf32>
  return %b : tensor<2x8xf32>
}
func.func @no_weights(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}

// -----

// Only the results read by the step are returned; a taken name is not
// reused.
// CHECK: func.func private @f__load()
// CHECK: func.func @f__load_0(%{{.+}}: tensor<2x8x4xi8>, %{{.+}}: tensor<2x8x1xf32>, %{{.+}}: tensor<2x8x1xf32>) -> tensor<2x8xf32>
// CHECK: func.func @f(%{{.+}}: tensor<2x8x4xi8>, %{{.+}}: tensor<2x8x1xf32>, %{{.+}}: tensor<2x8x1xf32>, %[[B:.+]]: tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-SAME: npu.load_args = array<i64: 0, 1, 2>, npu.load_function = @f__load_0
// CHECK-NEXT: return %[[B]]
func.func private @f__load()
func.func @f(%c: tensor<2x8x4xi8>, %s: tensor<2x8x1xf32>, %g: tensor<2x8x1xf32>) -> tensor<2x8xf32> {
  %w, %m, %b = npu.w4a8_process_weights %c, %s, %g
      : tensor<2x8x4xi8>, tensor<2x8x1xf32>, tensor<2x8x1xf32> -> tensor<2x4x8xi4>, tensor<2x1x8xf32>, tensor<2x8xf32>
  return %b : tensor<2x8xf32>
}
