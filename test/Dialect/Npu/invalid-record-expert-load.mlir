// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of npu.record_expert_load (dynamic EPLB,
// docs/Eplb.md); the other npu ops: invalid.mlir.

// valid must have one entry per row of ids.
func.func @valid_rows(%ids: tensor<6x2xi32>, %mask: tensor<5xi1>) {
  // expected-error @+1 {{'npu.record_expert_load' op dimension 0 of valid (5) does not match dimension 0 of ids (6)}}
  npu.record_expert_load %ids valid(%mask) experts(8) : tensor<6x2xi32>, tensor<5xi1>
  return
}

// -----

// ids are i32 [N, K] (ODS type constraint).
func.func @ids_type(%ids: tensor<6xi32>) {
  // expected-error @+1 {{'npu.record_expert_load' op operand #0 must be 2D tensor of 32-bit signless integer values}}
  npu.record_expert_load %ids experts(8) : tensor<6xi32>
  return
}

// -----

// At least one expert (ODS attribute constraint).
func.func @no_experts(%ids: tensor<6x2xi32>) {
  // expected-error @+1 {{'npu.record_expert_load' op attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  npu.record_expert_load %ids experts(0) : tensor<6x2xi32>
  return
}
