// RUN: moe-opt %s | FileCheck %s
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s -canonicalize -cse | FileCheck %s --check-prefix=KEPT

// npu.record_expert_load (dynamic EPLB, docs/Eplb.md) round-trips in all
// its forms, and canonicalization / CSE keep both records although they
// have no results: the op writes the rank's load buffer.

// CHECK-LABEL: func @record
// CHECK: npu.record_expert_load %{{.*}} valid(%{{.*}}) experts(12) : tensor<?x2xi32>, tensor<?xi1>
// CHECK: npu.record_expert_load %{{.*}} experts(12) gathered stream(1) : tensor<?x2xi32>
// KEPT-LABEL: func @record
// KEPT-COUNT-2: npu.record_expert_load
func.func @record(%ids: tensor<?x2xi32>, %mask: tensor<?xi1>) {
  npu.record_expert_load %ids valid(%mask) experts(12) : tensor<?x2xi32>, tensor<?xi1>
  npu.record_expert_load %ids experts(12) gathered stream(1) : tensor<?x2xi32>
  return
}

// The same record twice counts twice: CSE must not merge them.
// KEPT-LABEL: func @twice
// KEPT-COUNT-2: npu.record_expert_load
func.func @twice(%ids: tensor<4x1xi32>) {
  npu.record_expert_load %ids experts(4) : tensor<4x1xi32>
  npu.record_expert_load %ids experts(4) : tensor<4x1xi32>
  return
}
