// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic an npu op verifier or parser can emit
// (lib/Dialect/Npu/NpuOps.cpp), plus the ODS constraints of NpuOps.td and
// NpuDialect.td that replaced C++ checks (typed operands and results:
// element type and rank; positive and non-negative attributes, the event
// type, AllTypesMatch, AllElementTypesMatch, the quant_mode enums). Every
// case is valid but for the one part named in its comment.

//===----------------------------------------------------------------------===//
// npu.moe_gating_top_k
//===----------------------------------------------------------------------===//

// logits must be a float matrix.
func.func @gating_logits_type(%l: tensor<?x16xi32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op operand #0 must be 2D tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<?x16xi32>'}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<?x16xi32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// The weights are f32 whatever the logits' type.
func.func @gating_weights_type(%l: tensor<?x16xbf16>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op result #0 must be 2D tensor of 32-bit float values, but got 'tensor<?x4xbf16>'}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<?x16xbf16> -> tensor<?x4xbf16>, tensor<?x4xi32>
  return
}

// -----

// The expert ids are i32.
func.func @gating_ids_type(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op result #1 must be 2D tensor of 32-bit signless integer values, but got 'tensor<?x4xi64>'}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi64>
  return
}

// -----

// The number of experts (logits dimension 1) must be static.
func.func @gating_dynamic_experts(%l: tensor<?x?xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op needs a static number of experts}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<?x?xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// The results have one row per token.
func.func @gating_rows(%l: tensor<8x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op dimension 0 of logits (8) does not match dimension 0 of results (6)}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<8x16xf32> -> tensor<6x4xf32>, tensor<6x4xi32>
  return
}

// -----

// The results have k columns.
func.func @gating_k_columns(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op dimension 1 of results must be 4, got 2}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// The correction bias has one entry per expert.
func.func @gating_bias_size(%l: tensor<?x16xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op dimension 0 of bias must be 16, got 8}}
  %w, %ids = npu.moe_gating_top_k %l bias(%b : tensor<8xf32>) k(4) sigmoid : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// k is at most the number of experts (GateRules).
func.func @gating_k_too_large(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op top_k 8 exceeds the 4 experts}}
  %w, %ids = npu.moe_gating_top_k %l k(8) softmax : tensor<?x4xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// group_count and k_group come together; the custom syntax cannot split
// them, the attribute dictionary can.
func.func @gating_groups_together(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op num_expert_group and topk_group go together}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax {group_count = 4 : i64} : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// The expert groups split the experts evenly.
func.func @gating_groups_divide(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op 3 expert groups do not divide the 16 experts}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax groups(3, 1) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// At most group_count groups are kept.
func.func @gating_keep_groups(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op keeps 5 of only 4 expert groups}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax groups(4, 5) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// k is at most the number of experts in the kept groups.
func.func @gating_k_kept_groups(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op top_k 8 exceeds the 4 experts of the 1 kept groups}}
  %w, %ids = npu.moe_gating_top_k %l k(8) softmax groups(4, 1) : tensor<?x16xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// With a correction bias every group needs two experts.
func.func @gating_bias_group_size(%l: tensor<?x16xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op with a correction bias groups are scored by their two best experts, so each group needs at least 2 experts}}
  %w, %ids = npu.moe_gating_top_k %l bias(%b : tensor<16xf32>) k(4) sigmoid groups(16, 8) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// ODS: k is positive (Npu_PositiveI64).
func.func @gating_k_positive(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %ids = npu.moe_gating_top_k %l k(0) softmax : tensor<?x16xf32> -> tensor<?x0xf32>, tensor<?x0xi32>
  return
}

// -----

// ODS: the routed scaling factor is positive (Npu_FinitePositiveF32).
func.func @gating_scale_positive(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op attribute 'routed_scaling_factor' failed to satisfy constraint: 32-bit float attribute whose value is finite and positive}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax scale(0.0) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// ... and finite.
func.func @gating_scale_finite(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op attribute 'routed_scaling_factor' failed to satisfy constraint: 32-bit float attribute whose value is finite and positive}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax scale(0x7F800000) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// ODS: a device op's stream is non-negative (Npu_StreamAttr).
func.func @gating_stream(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op attribute 'stream' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax stream(-1) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

//===----------------------------------------------------------------------===//
// npu.map_expert_ids, npu.mask_weights
//===----------------------------------------------------------------------===//

// -----

// The log2phy table holds i32 ids.
func.func @map_table_type(%ids: tensor<?x4xi32>, %t: tensor<16xi64>) {
  // expected-error @+1 {{'npu.map_expert_ids' op operand #1 must be 1D tensor of 32-bit signless integer values, but got 'tensor<16xi64>'}}
  %p = npu.map_expert_ids %ids through %t : tensor<?x4xi32>, tensor<16xi64>
  return
}

// -----

// ODS: ids is an i32 matrix (Npu_Ids).
func.func @map_ids_rank(%ids: tensor<4xi32>, %t: tensor<16xi32>) {
  // expected-error @+1 {{'npu.map_expert_ids' op operand #0 must be 2D tensor of 32-bit signless integer values, but got 'tensor<4xi32>'}}
  %p = npu.map_expert_ids %ids through %t : tensor<4xi32>, tensor<16xi32>
  return
}

// -----

// ODS: the result has the type of ids (AllTypesMatch; generic form only).
func.func @map_result_type(%ids: tensor<?x4xi32>, %t: tensor<16xi32>) {
  // expected-error @+1 {{'npu.map_expert_ids' op failed to verify that all of {ids, result} have same type}}
  %p = "npu.map_expert_ids"(%ids, %t) : (tensor<?x4xi32>, tensor<16xi32>) -> tensor<?x8xi32>
  return
}

// -----

// weights and ids have the same shape.
func.func @mask_shape(%w: tensor<?x4xf32>, %ids: tensor<?x8xi32>, %m: tensor<16xi32>) {
  // expected-error @+1 {{'npu.mask_weights' op dimension 1 of weights (4) does not match dimension 1 of ids (8)}}
  %r = npu.mask_weights %w, %ids, %m : tensor<?x4xf32>, tensor<?x8xi32>, tensor<16xi32>
  return
}

// -----

// The expert map holds i32 entries.
func.func @mask_map_type(%w: tensor<?x4xf32>, %ids: tensor<?x4xi32>, %m: tensor<16xi64>) {
  // expected-error @+1 {{'npu.mask_weights' op operand #2 must be 1D tensor of 32-bit signless integer values, but got 'tensor<16xi64>'}}
  %r = npu.mask_weights %w, %ids, %m : tensor<?x4xf32>, tensor<?x4xi32>, tensor<16xi64>
  return
}

//===----------------------------------------------------------------------===//
// npu.moe_init_routing
//===----------------------------------------------------------------------===//

// -----

// expert_idx is [T, K] or [T].
func.func @init_idx_rank(%x: tensor<?x64xf32>, %ids: tensor<?x4x2xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op operand #1 must be 1D/2D tensor of 32-bit signless integer values, but got 'tensor<?x4x2xi32>'}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4x2xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// x holds float or int8 rows.
func.func @init_x_type(%x: tensor<?x64xi32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op operand #0 must be 2D tensor of 32-bit float or bfloat16 type or 16-bit float or 8-bit signless integer values, but got 'tensor<?x64xi32>'}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xi32>, tensor<?x4xi32> -> tensor<?x64xi32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// x and a 1-D expert_idx have one row per token.
func.func @init_rows(%x: tensor<8x64xf32>, %ids: tensor<6xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op dimension 0 of x (8) does not match dimension 0 of expert_idx (6)}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<8x64xf32>, tensor<6xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// The per-expert counts are i64.
func.func @init_counts_type(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op result #2 must be 1D tensor of 64-bit signless integer values, but got 'tensor<4xi32>'}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi32>
  return
}

// -----

// One count per expert of the range.
func.func @init_counts_size(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op dimension 0 of expert_tokens must be 4, got 8}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>
  return
}

// -----

// The expanded rows keep the hidden size.
func.func @init_hidden(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op dimension 1 of expanded_x (32) does not match dimension 1 of x (64)}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x32xf32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// The active range is no larger than the experts.
func.func @init_range(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op range of 32 experts exceeds the 16 experts}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 32) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<32xi64>
  return
}

// -----

// quant_mode is -1 or 1.
func.func @init_quant_mode(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{custom op 'npu.moe_init_routing' quant_mode must be -1 (none) or 1 (dynamic), got 0}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(0) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// The per-token scale of int8 rows has one entry per token.
func.func @init_scale_rows(%x: tensor<8x64xi8>, %ids: tensor<8x4xi32>, %sc: tensor<6xf32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op dimension 0 of scale (6) does not match dimension 0 of x (8)}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids scale(%sc : tensor<6xf32>) range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<8x64xi8>, tensor<8x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  return
}

// -----

// int8 rows carry their per-token scale.
func.func @init_int8_needs_scale(%x: tensor<?x64xi8>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op int8 rows need their per-token scale and quant_mode(-1)}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  return
}

// -----

// int8 rows are not quantized again.
func.func @init_int8_requant(%x: tensor<?x64xi8>, %ids: tensor<?x4xi32>, %sc: tensor<?xf32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op int8 rows need their per-token scale and quant_mode(-1)}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids scale(%sc : tensor<?xf32>) range(%s, 4) experts(16) quant_mode(1) count
      : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  return
}

// -----

// Float rows have no scale.
func.func @init_float_scale(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %sc: tensor<?xf32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op only int8 rows carry a scale}}
  %r, %i, %c = npu.moe_init_routing %x, %ids scale(%sc : tensor<?xf32>) range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// quant_mode(1) produces int8 rows.
func.func @init_quant_rows(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op expanded_x must have element type 'i8', got 'f32'}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  return
}

// -----

// quant_mode(1) returns the row scales.
func.func @init_needs_expanded_scale(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op needs expanded_scale result}}
  %r, %i, %c = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>
  return
}

// -----

// Float rows without quantization have no row scales.
func.func @init_takes_no_expanded_scale(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op takes no expanded_scale result}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  return
}

// -----

// The row scales are f32.
func.func @init_expanded_scale_type(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %s: index) {
  // expected-error @+1 {{'npu.moe_init_routing' op result #3 must be 1D tensor of 32-bit float values, but got 'tensor<?xf16>'}}
  %r, %i, %c, %es = npu.moe_init_routing %x, %ids range(%s, 4) experts(16) quant_mode(1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf16>
  return
}

//===----------------------------------------------------------------------===//
// npu.moe_token_permute, npu.moe_token_unpermute
//===----------------------------------------------------------------------===//

// -----

// indices is [T, K] or [T].
func.func @permute_indices_rank(%x: tensor<?x64xf32>, %ids: tensor<?x4x2xi32>) {
  // expected-error @+1 {{'npu.moe_token_permute' op operand #1 must be 1D/2D tensor of 32-bit signless integer values, but got 'tensor<?x4x2xi32>'}}
  %p, %s = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4x2xi32> -> tensor<?x64xf32>, tensor<?xi32>
  return
}

// -----

// The permuted rows keep the type and hidden size of the tokens.
func.func @permute_rows_like(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>) {
  // expected-error @+1 {{'npu.moe_token_permute' op result 'tensor<?x64xbf16>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %p, %s = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  return
}

// -----

// One sorted index per permuted row.
func.func @unpermute_rows(%y: tensor<8x64xf32>, %idx: tensor<6xi32>) {
  // expected-error @+1 {{'npu.moe_token_unpermute' op dimension 0 of permuted (8) does not match dimension 0 of sorted_indices (6)}}
  %o = npu.moe_token_unpermute %y, %idx : tensor<8x64xf32>, tensor<6xi32> -> tensor<?x64xf32>
  return
}

// -----

// The routing probabilities are f32.
func.func @unpermute_probs_type(%y: tensor<?x64xf32>, %idx: tensor<?xi32>, %w: tensor<?x4xbf16>) {
  // expected-error @+1 {{'npu.moe_token_unpermute' op operand #2 must be 2D tensor of 32-bit float values, but got 'tensor<?x4xbf16>'}}
  %o = npu.moe_token_unpermute %y, %idx probs(%w : tensor<?x4xbf16>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return
}

// -----

// With probs, one result row per token (row of probs).
func.func @unpermute_result_rows(%y: tensor<?x64xf32>, %idx: tensor<?xi32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{'npu.moe_token_unpermute' op dimension 0 of result (5) does not match dimension 0 of probs (8)}}
  %o = npu.moe_token_unpermute %y, %idx probs(%w : tensor<8x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<5x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// npu.moe_distribute_dispatch
//===----------------------------------------------------------------------===//

// -----

// The experts split evenly over the EP ranks.
func.func @dispatch_split(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op 15 experts cannot be split evenly over 4 ranks}}
  %epr1 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(15) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// One token count per local expert.
func.func @dispatch_counts_size(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op dimension 0 of expert_token_nums must be 4, got 8}}
  %epr2 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr2) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<8xi64>, tensor<16xi32>
  return
}

// -----

// One receive count per (local expert, source rank).
func.func @dispatch_recv_size(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op dimension 0 of ep_recv_counts must be 16, got 8}}
  %epr3 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr3) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<8xi32>
  return
}

// -----

// The active mask is a boolean vector.
func.func @dispatch_mask_type(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %m: tensor<?xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op operand #2 must be 1D tensor of 1-bit signless integer values, but got 'tensor<?xi32>'}}
  %epr4 = npu.group_rank ep
  %r, %i, %c, %v, %tp4 = npu.moe_distribute_dispatch %x, %ids x_active_mask(%m : tensor<?xi32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr4) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// One mask entry per token.
func.func @dispatch_mask_size(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %m: tensor<6xi1>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op dimension 0 of x_active_mask (6) does not match dimension 0 of x (8)}}
  %epr5 = npu.group_rank ep
  %r, %i, %c, %v, %tp5 = npu.moe_distribute_dispatch %x, %ids x_active_mask(%m : tensor<6xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr5) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum v2
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// quant_mode is 0 or 2.
func.func @dispatch_quant_mode(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+4 {{custom op 'npu.moe_distribute_dispatch' quant_mode must be 0 (none) or 2 (dynamic), got 1}}
  %epr6 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr6) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(1) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// quant_mode(2) sends int8 rows.
func.func @dispatch_quant_rows(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op expand_x must have element type 'i8', got 'bf16'}}
  %epr7 = npu.group_rank ep
  %r, %i, %c, %v, %q = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr7) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(2) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
  return
}

// -----

// quant_mode(2) returns the row scales.
func.func @dispatch_needs_scales(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op needs dynamic_scales result}}
  %epr8 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr8) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(2) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// quant_mode(0) has no row scales.
func.func @dispatch_takes_no_scales(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op takes no dynamic_scales result}}
  %epr9 = npu.group_rank ep
  %r, %i, %c, %v, %q = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr9) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
  return
}

// -----

// The row scales are f32.
func.func @dispatch_scales_type(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op result #4 must be 1D tensor of 32-bit float values, but got 'tensor<?xbf16>'}}
  %epr10 = npu.group_rank ep
  %r, %i, %c, %v, %q = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr10) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(2) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xbf16>
  return
}

// -----

// ODS: capacity is non-negative.
func.func @dispatch_capacity(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_dispatch' op attribute 'capacity' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %epr11 = npu.group_rank ep
  %r, %i, %c, %v = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr11) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(-1) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

//===----------------------------------------------------------------------===//
// npu.moe_distribute_combine
//===----------------------------------------------------------------------===//

// -----

// The experts split evenly over the EP ranks.
func.func @combine_split(%y: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<?x4xf32>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op 10 experts cannot be split evenly over 4 ranks}}
  %epr12 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr12) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(10) global_bs(0)
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return
}

// -----

// One send count per (local expert, rank).
func.func @combine_send_size(%y: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %idx: tensor<?xi32>, %c: tensor<8xi32>, %w: tensor<?x4xf32>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op dimension 0 of ep_send_counts must be 16, got 8}}
  %epr13 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<8xi32>) expert_scales(%w : tensor<?x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr13) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return
}

// -----

// The expert scales have the shape of the expert ids.
func.func @combine_scales_shape(%y: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op dimension 1 of expert_scales (2) does not match dimension 1 of expert_ids (4)}}
  %epr14 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<?x2xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr14) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return
}

// -----

// One mask entry per token.
func.func @combine_mask_size(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %m: tensor<6xi1>, %tp5: tensor<1xi32>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op dimension 0 of x_active_mask (6) does not match dimension 0 of expert_ids (8)}}
  %epr15 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%tp5 : tensor<1xi32>) x_active_mask(%m : tensor<6xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr15) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>
  return
}

// -----

// The shared experts' output has the hidden size of the result.
func.func @combine_shared(%y: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<?x4xf32>, %sh: tensor<?x32xbf16>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op result 'tensor<?x64xbf16>' must keep the element type and trailing dimensions of 'tensor<?x32xbf16>'}}
  %epr16 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) shared(%sh : tensor<?x32xbf16>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr16) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return
}

// -----

// One combined row per token (row of expert_ids).
func.func @combine_result_rows(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op dimension 0 of result (5) does not match dimension 0 of expert_ids (8)}}
  %epr17 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr17) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<5x64xbf16>
  return
}

// -----

// The shared experts' output has one row per token.
func.func @combine_shared_rows(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %sh: tensor<3x64xbf16>) {
  // expected-error @+2 {{'npu.moe_distribute_combine' op dimension 0 of shared_expert_x (3) does not match dimension 0 of expert_ids (8)}}
  %epr18 = npu.group_rank ep
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) shared(%sh : tensor<3x64xbf16>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr18) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>
  return
}

//===----------------------------------------------------------------------===//
// npu.grouped_matmul
//===----------------------------------------------------------------------===//

// -----

// The group list is i64.
func.func @gmm_group_list_type(%x: tensor<?x64xf32>, %w: tensor<4x64x32xf32>, %g: tensor<4xi32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op operand #2 must be 1D tensor of 64-bit signless integer values, but got 'tensor<4xi32>'}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi32> -> tensor<?x32xf32>
  return
}

// -----

// One group list entry per weight group.
func.func @gmm_groups(%x: tensor<?x64xf32>, %w: tensor<4x64x32xf32>, %g: tensor<8xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op dimension 0 of group_list (8) does not match dimension 0 of weight (4)}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<8xi64> -> tensor<?x32xf32>
  return
}

// -----

// A grouped weight is [G, K, N].
func.func @gmm_weight_rank(%x: tensor<?x64xf32>, %w: tensor<64x32xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op weight must be [G, K, N], got 'tensor<64x32xf32>'}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// Weights are float, i8 or i4.
func.func @gmm_weight_type(%x: tensor<?x64xf32>, %w: tensor<4x64x32xi32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op operand #1 must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float or 8-bit signless integer or 4-bit signless integer values, but got 'tensor<4x64x32xi32>'}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xi32>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// x and the weights share the reduced dimension.
func.func @gmm_reduced_dim(%x: tensor<?x32xf32>, %w: tensor<4x64x32xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op dimension 1 of x (32) does not match dimension 1 of weight (64)}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x32xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The result has the rows of x.
func.func @gmm_result_rows(%x: tensor<8x64xf32>, %w: tensor<4x64x32xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op dimension 0 of result (6) does not match dimension 0 of x (8)}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<8x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<6x32xf32>
  return
}

// -----

// The result has the columns of the weights.
func.func @gmm_result_cols(%x: tensor<?x64xf32>, %w: tensor<4x64x32xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op dimension 1 of result (16) does not match dimension 2 of weight (32)}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x16xf32>
  return
}

// -----

// quant `none` multiplies floats.
func.func @gmm_none_types(%x: tensor<?x64xf32>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op unquantized matmul needs float x, weight and result, got 'f32', 'i8', 'f32'}}
  %h = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// quant `none` has no scales.
func.func @gmm_none_scales(%x: tensor<?x64xf32>, %w: tensor<4x64x32xf32>, %g: tensor<4xi64>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op unquantized matmul takes no scales}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// w8a8 multiplies int8 rows by int8 weights.
func.func @gmm_w8a8_types(%x: tensor<?x64xf32>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w8a8 needs i8 x and weight, got 'f32' and 'i8'}}
  %h = npu.grouped_matmul %x, %w, %g w8a8 count : tensor<?x64xf32>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  return
}

// -----

// w8a8 has no group scale.
func.func @gmm_w8a8_group_scale(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %gs: tensor<4x2x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w8a8 takes no group scale}}
  %h = npu.grouped_matmul %x, %w, %g group_scale(%gs : tensor<4x2x32xf32>) w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  return
}

// -----

// An i32 w8a8 result is the raw accumulator: no scales.
func.func @gmm_w8a8_i32_scales(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op an i32 result is the raw accumulator and takes no scales}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  return
}

// -----

// A w8a8 result is i32 or float.
func.func @gmm_w8a8_result(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w8a8 result must be i32 or float, got 'i8'}}
  %h = npu.grouped_matmul %x, %w, %g w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi8>
  return
}

// -----

// A float w8a8 result is dequantized with both scales.
func.func @gmm_w8a8_float_scales(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op a float w8a8 result needs scale and per_token_scale}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The per-channel scale is [G, N] f32.
func.func @gmm_scale_shape(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %s: tensor<4x16xf32>, %t: tensor<?xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op scale must be 'tensor<4x32xf32>', got 'tensor<4x16xf32>'}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x16xf32>) per_token_scale(%t : tensor<?xf32>) w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The per-token scale is f32.
func.func @gmm_per_token_type(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %s: tensor<4x32xf32>, %t: tensor<?xf16>) {
  // expected-error @+1 {{'npu.grouped_matmul' op operand #4 must be 1D tensor of 32-bit float values, but got 'tensor<?xf16>'}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf16>) w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// One per-token scale per row of x.
func.func @gmm_per_token_rows(%x: tensor<8x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>, %s: tensor<4x32xf32>, %t: tensor<6xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op dimension 0 of per_token_scale (6) does not match dimension 0 of x (8)}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<6xf32>) w8a8 count
      : tensor<8x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<8x32xf32>
  return
}

// -----

// w4a8 multiplies int8 rows by int4 weights.
func.func @gmm_w4a8_types(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>,
                          %s: tensor<4x32xf32>, %t: tensor<?xf32>, %gs: tensor<4x2x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w4a8 needs i8 x and i4 weight, got 'i8' and 'i8'}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>)
      group_scale(%gs : tensor<4x2x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// A w4a8 result is float.
func.func @gmm_w4a8_result(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w4a8 result must be float, got 'i32'}}
  %h = npu.grouped_matmul %x, %w, %g w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xi32>
  return
}

// -----

// w4a8 needs all three scales.
func.func @gmm_w4a8_scales(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                           %s: tensor<4x32xf32>, %t: tensor<?xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w4a8 needs scale, per_token_scale and group_scale}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The group scale splits K into equal blocks.
func.func @gmm_w4a8_blocks(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                           %s: tensor<4x32xf32>, %t: tensor<?xf32>, %gs: tensor<4x3x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op group_scale 'tensor<4x3x32xf32>' must split the reduced dimension 64 into equal groups}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>)
      group_scale(%gs : tensor<4x3x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The group scale is [G, K / gs, N] f32.
func.func @gmm_w4a8_group_scale_shape(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                                      %s: tensor<4x32xf32>, %t: tensor<?xf32>, %gs: tensor<4x2x16xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op group_scale must be 'tensor<4x2x32xf32>', got 'tensor<4x2x16xf32>'}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>)
      group_scale(%gs : tensor<4x2x16xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// npu.matmul
//===----------------------------------------------------------------------===//

// -----

// x is float or int8.
func.func @mm_x_type(%x: tensor<?x64xi32>, %w: tensor<64x32xi8>) {
  // expected-error @+1 {{'npu.matmul' op operand #0 must be 2D tensor of 32-bit float or bfloat16 type or 16-bit float or 8-bit signless integer values, but got 'tensor<?x64xi32>'}}
  %h = npu.matmul %x, %w w8a8 : tensor<?x64xi32>, tensor<64x32xi8> -> tensor<?x32xi32>
  return
}

// -----

// ODS: a dense weight is a matrix (so "weight must be [K, N]" is unreachable).
func.func @mm_weight_rank(%x: tensor<?x64xf32>, %w: tensor<4x64x32xf32>) {
  // expected-error @+1 {{'npu.matmul' op weight must be [K, N], got 'tensor<4x64x32xf32>'}}
  %h = npu.matmul %x, %w none : tensor<?x64xf32>, tensor<4x64x32xf32> -> tensor<?x32xf32>
  return
}

// -----

// A dense per-channel scale is [N] f32.
func.func @mm_scale_shape(%x: tensor<?x64xi8>, %w: tensor<64x32xi8>, %s: tensor<16xf32>, %t: tensor<?xf32>) {
  // expected-error @+1 {{'npu.matmul' op scale must be 'tensor<32xf32>', got 'tensor<16xf32>'}}
  %h = npu.matmul %x, %w scale(%s : tensor<16xf32>) per_token_scale(%t : tensor<?xf32>) w8a8
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// npu.dispatch_ffn_combine
//===----------------------------------------------------------------------===//

// -----

// The experts split evenly over the EP ranks.
func.func @ffn_split(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                     %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op 6 experts cannot be split evenly over 4 ranks}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(6) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// probs has the shape of the expert ids.
func.func @ffn_probs(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x2xf32>,
                     %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 1 of probs (2) does not match dimension 1 of expert_ids (4)}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x2xf32> -> tensor<?x64xbf16>
  return
}

// -----

// The result keeps the type and hidden size of x.
func.func @ffn_result(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                      %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op result 'tensor<?x64xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xbf16>'}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>
  return
}

// -----

// One result row per token of x.
func.func @ffn_result_rows(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %p: tensor<8x4xf32>,
                           %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 0 of result (6) does not match dimension 0 of x (8)}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<8x64xbf16>, tensor<8x4xi32>, tensor<8x4xf32> -> tensor<6x64xbf16>
  return
}

// -----

// One row of probs per token.
func.func @ffn_probs_rows(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %p: tensor<5x4xf32>,
                          %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 0 of probs (5) does not match dimension 0 of expert_ids (8)}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<8x64xbf16>, tensor<8x4xi32>, tensor<5x4xf32> -> tensor<8x64xbf16>
  return
}

// -----

// One mask bit per token.
func.func @ffn_mask_rows(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %p: tensor<8x4xf32>, %m: tensor<3xi1>,
                         %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 0 of x_active_mask (3) does not match dimension 0 of x (8)}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p mask(%m : tensor<3xi1>) weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<8x64xbf16>, tensor<8x4xi32>, tensor<8x4xf32> -> tensor<8x64xbf16>
  return
}

// -----

// One weight group per local expert.
func.func @ffn_local_experts(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                             %w13: tensor<8x64x32xbf16>, %w2: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 0 of w13 must be 4, got 8}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<8x64x32xbf16>, tensor<4x16x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// w2 maps back to the hidden size.
func.func @ffn_w2_hidden(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                         %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x32xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dimension 2 of w2 (32) does not match dimension 1 of x (64)}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x32xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// w13 [L, H, 2I] and w2 [L, I, H] share I.
func.func @ffn_intermediate(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                            %w13: tensor<4x64x32xbf16>, %w2: tensor<4x8x64xbf16>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op w13 'tensor<4x64x32xbf16>' and w2 'tensor<4x8x64xbf16>' do not share an intermediate size}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x8x64xbf16>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// Unquantized experts have float weights.
func.func @ffn_none_weights(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                            %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op unquantized weights must be float and take no scales}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// Unquantized experts have no scales.
func.func @ffn_none_scales(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                           %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op unquantized weights must be float and take no scales}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// w8a8 experts have per-channel scales.
func.func @ffn_w8a8_scales(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                           %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op w8a8 needs i8 weights and per-channel scales}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) w8a8
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// w8a8 scales are [L, 2I] and [L, H] f32.
func.func @ffn_w8a8_scale_shapes(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                                 %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op scales must be 'tensor<4x32xf32>' and 'tensor<4x64xf32>'}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x32xf32>) w8a8
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// Unquantized experts have float weights: w2 too.
func.func @ffn_none_w2(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                       %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xi8>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op unquantized weights must be float and take no scales}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xi8>) none
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// w8a8 experts have int8 weights: w2 too.
func.func @ffn_w8a8_w2(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                       %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xbf16>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op w8a8 needs i8 weights and per-channel scales}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xbf16>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) w8a8
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

// -----

// scale1 and scale2 come together; the custom syntax cannot split them, the
// generic form can (a lone scale1 with w8a8 used to crash the verifier).
func.func @ffn_scales_together(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                               %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op takes scale1 and scale2 together}}
  %o = "npu.dispatch_ffn_combine"(%x, %ids, %p, %w13, %w2, %s13) <{capacity = 0 : i64, ep_world_size = 4 : i64,
      moe_expert_num = 16 : i64, quant = 1 : i32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1, 1, 0>}>
      : (tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32>, tensor<4x64x32xi8>, tensor<4x16x64xi8>, tensor<4x32xf32>) -> tensor<?x64xbf16>
  return
}

// -----

// The fused kernel has no w4a8 variant.
func.func @ffn_w4a8(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %p: tensor<?x4xf32>,
                    %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>) {
  // expected-error @+1 {{'npu.dispatch_ffn_combine' op dispatch_ffn_combine runs unquantized or w8a8 experts}}
  %o = npu.dispatch_ffn_combine %x, %ids, %p weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>) w4a8
      ep_world_size(4) moe_expert_num(16) capacity(0) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return
}

//===----------------------------------------------------------------------===//
// npu.dynamic_quant, npu.swiglu, npu.dequant_swiglu_quant
//===----------------------------------------------------------------------===//

// -----

// Quantized rows are i8.
func.func @dq_q_type(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'npu.dynamic_quant' op result #0 must be 2D tensor of 8-bit signless integer values, but got 'tensor<?x64xi32>'}}
  %q, %s = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x64xi32>, tensor<?xf32>
  return
}

// -----

// Quantized rows have the shape of x.
func.func @dq_q_shape(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'npu.dynamic_quant' op dimension 1 of q (32) does not match dimension 1 of x (64)}}
  %q, %s = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x32xi8>, tensor<?xf32>
  return
}

// -----

// SwiGLU halves the columns.
func.func @swiglu_half(%x: tensor<?x32xf32>) {
  // expected-error @+1 {{'npu.swiglu' op maps [N, 2I] to [N, I], got 'tensor<?x32xf32>' to 'tensor<?x32xf32>'}}
  %a = npu.swiglu %x : tensor<?x32xf32> -> tensor<?x32xf32>
  return
}

// -----

// SwiGLU keeps the rows.
func.func @swiglu_rows(%x: tensor<8x32xf32>) {
  // expected-error @+1 {{'npu.swiglu' op dimension 0 of result (6) does not match dimension 0 of x (8)}}
  %a = npu.swiglu %x : tensor<8x32xf32> -> tensor<6x16xf32>
  return
}

// -----

// SwiGLU keeps the element type.
func.func @swiglu_type(%x: tensor<?x32xf32>) {
  // expected-error @+1 {{'npu.swiglu' op failed to verify that all of {x, result} have same element type}}
  %a = npu.swiglu %x : tensor<?x32xf32> -> tensor<?x16xbf16>
  return
}

// -----

// The fused dequantization takes the i32 accumulator.
func.func @dsq_x_type(%x: tensor<?x32xf32>, %ws: tensor<4x32xf32>, %as: tensor<?xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.dequant_swiglu_quant' op operand #0 must be 2D tensor of 32-bit signless integer values, but got 'tensor<?x32xf32>'}}
  %q, %s = npu.dequant_swiglu_quant %x, %ws, %as, %g cumsum
      : tensor<?x32xf32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  return
}

// -----

// The result halves the columns.
func.func @dsq_half(%x: tensor<?x32xi32>, %ws: tensor<4x32xf32>, %as: tensor<?xf32>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.dequant_swiglu_quant' op maps [N, 2I] to [N, I], got 'tensor<?x32xi32>' to 'tensor<?x32xi8>'}}
  %q, %s = npu.dequant_swiglu_quant %x, %ws, %as, %g cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x32xi8>, tensor<?xf32>
  return
}

// -----

// One weight scale row per group.
func.func @dsq_groups(%x: tensor<?x32xi32>, %ws: tensor<4x32xf32>, %as: tensor<?xf32>, %g: tensor<8xi64>) {
  // expected-error @+1 {{'npu.dequant_swiglu_quant' op dimension 0 of weight_scale (4) does not match dimension 0 of group_list (8)}}
  %q, %s = npu.dequant_swiglu_quant %x, %ws, %as, %g cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  return
}

//===----------------------------------------------------------------------===//
// npu.histogram, npu.alltoall_splits
//===----------------------------------------------------------------------===//

// -----

// One count per bin.
func.func @histogram_bins(%ids: tensor<?x4xi32>) {
  // expected-error @+1 {{'npu.histogram' op dimension 0 of result must be 16, got 8}}
  %c = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<8xi64>
  return
}

// -----

// Expert ids are i32.
func.func @histogram_ids(%ids: tensor<?x4xi64>) {
  // expected-error @+1 {{'npu.histogram' op operand #0 must be 1D/2D tensor of 32-bit signless integer values, but got 'tensor<?x4xi64>'}}
  %c = npu.histogram %ids bins(16) : tensor<?x4xi64> -> tensor<16xi64>
  return
}

// -----

// The local experts divide the experts.
func.func @splits_divide(%l: tensor<16xi64>, %g: tensor<?xi64>) {
  // expected-error @+1 {{'npu.alltoall_splits' op 3 local experts do not divide the 16 experts}}
  %in, %out, %per, %e = npu.alltoall_splits %l, %g local_experts(3) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<3xi64>, tensor<?xi32>
  return
}

// -----

// One row count per local expert.
func.func @splits_per_expert(%l: tensor<16xi64>, %g: tensor<?xi64>) {
  // expected-error @+1 {{'npu.alltoall_splits' op dimension 0 of tokens_per_expert must be 4, got 8}}
  %in, %out, %per, %e = npu.alltoall_splits %l, %g local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<8xi64>, tensor<?xi32>
  return
}

//===----------------------------------------------------------------------===//
// Collectives and rows
//===----------------------------------------------------------------------===//

// -----

// All-gather keeps the trailing dimensions.
func.func @all_gather_rows_like(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'npu.all_gather' op result 'tensor<?x32xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %g = npu.all_gather %x dp : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}

// -----

// ODS: collectives take tensors of rank >= 1 (Npu_RowTensor).
func.func @all_gather_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{'npu.all_gather' op operand #0 must be ranked tensor of rank >= 1, but got 'tensor<f32>'}}
  %g = npu.all_gather %x dp : tensor<f32> -> tensor<?xf32>
  return
}

// -----

// Reduce-scatter sums floats.
func.func @reduce_scatter_int(%x: tensor<?x64xi32>) {
  // expected-error @+1 {{'npu.reduce_scatter' op reduces float tensors, got 'tensor<?x64xi32>'}}
  %r = npu.reduce_scatter %x dp : tensor<?x64xi32> -> tensor<?x64xi32>
  return
}

// -----

// Reduce-scatter keeps the element type.
func.func @reduce_scatter_rows_like(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'npu.reduce_scatter' op result 'tensor<?x64xbf16>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %r = npu.reduce_scatter %x dp : tensor<?x64xf32> -> tensor<?x64xbf16>
  return
}

// -----

// All-to-all-v splits are i64.
func.func @all_to_all_v_splits(%x: tensor<?x64xf32>, %s: tensor<?xi32>, %r: tensor<?xi64>) {
  // expected-error @+1 {{'npu.all_to_all_v' op operand #1 must be 1D tensor of 64-bit signless integer values, but got 'tensor<?xi32>'}}
  %o = npu.all_to_all_v %x, %s, %r ep : tensor<?x64xf32>, tensor<?xi32>, tensor<?xi64> -> tensor<?x64xf32>
  return
}

// -----

// All-to-all-v keeps the trailing dimensions.
func.func @all_to_all_v_rows_like(%x: tensor<?x64xf32>, %s: tensor<?xi64>, %r: tensor<?xi64>) {
  // expected-error @+1 {{'npu.all_to_all_v' op result 'tensor<?x64x1xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %o = npu.all_to_all_v %x, %s, %r ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64x1xf32>
  return
}

// -----

// Padding keeps the trailing dimensions.
func.func @pad_rows_like(%x: tensor<?x64xf32>, %n: index) {
  // expected-error @+1 {{'npu.pad_rows' op result 'tensor<?x32xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %p = npu.pad_rows %x to %n : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}

// -----

// Slicing keeps the element type.
func.func @slice_rows_like(%x: tensor<?x64xf32>, %n: index) {
  // expected-error @+1 {{'npu.slice_rows' op result 'tensor<?x64xf16>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %s = npu.slice_rows %x to %n : tensor<?x64xf32> -> tensor<?x64xf16>
  return
}

// -----

// tensor_split keeps the trailing dimensions.
func.func @tensor_split_rows_like(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'npu.tensor_split' op result 'tensor<?x64x2xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %s = npu.tensor_split %x tp : tensor<?x64xf32> -> tensor<?x64x2xf32>
  return
}

// -----

// The MC2 mask is a boolean vector.
func.func @mc2_mask_type(%t: index, %p: index) {
  // expected-error @+1 {{'npu.mc2_mask' op result #0 must be 1D tensor of 1-bit signless integer values, but got 'tensor<?xi8>'}}
  %m = npu.mc2_mask %t of %p : tensor<?xi8>
  return
}

//===----------------------------------------------------------------------===//
// Streams, events, reference counting
//===----------------------------------------------------------------------===//

// -----

// ODS: npu.record's stream is non-negative.
func.func @record_stream() {
  // expected-error @+1 {{'npu.record' op attribute 'stream' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %e = npu.record stream(-1)
  return
}

// -----

// ODS: npu.wait's stream is non-negative.
func.func @wait_stream() {
  %e = npu.record stream(0)
  // expected-error @+1 {{'npu.wait' op attribute 'stream' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  npu.wait %e stream(-1)
  return
}

// -----

// ODS: npu.wait waits for an !npu.event (generic form only).
func.func @wait_operand(%x: tensor<?xf32>) {
  // expected-error @+1 {{'npu.wait' op operand #0 must be a point in one stream's work, recorded by npu.record, but got 'tensor<?xf32>'}}
  "npu.wait"(%x) <{stream = 1 : i64}> : (tensor<?xf32>) -> ()
  return
}

// -----

// ODS: npu.record returns an !npu.event (generic form only).
func.func @record_result() {
  // expected-error @+1 {{'npu.record' op result #0 must be a point in one stream's work, recorded by npu.record, but got 'index'}}
  %e = "npu.record"() <{stream = 0 : i64}> : () -> index
  return
}

// -----

// ODS: only tensors and events are reference counted.
func.func @retain_index(%i: index) {
  // expected-error @+1 {{'npu.retain' op operand #0 must be ranked tensor or a point in one stream's work, recorded by npu.record, but got 'index'}}
  npu.retain %i : index
  return
}

// -----

// ODS: collective groups are world, tp, dp or ep.
func.func @group_keyword(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'group' [world, tp, dp, ep, pcp]}}
  %g = npu.all_gather %x xp : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @unknown_npu_attribute(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{unknown npu attribute 'npu.stage'; the npu dialect defines 'npu.shared_expert', 'npu.load_function' and 'npu.load_args'}}
  %y = npu.swiglu %x {npu.stage = 1 : i64} : tensor<?x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @shared_expert_not_a_stage(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{'npu.shared_expert' must be a #npu.shared_expert<stage>, got 1 : i64}}
  %y = npu.swiglu %x {npu.shared_expert = 1 : i64} : tensor<?x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @shared_expert_on_host_op() -> index {
  // expected-error @+1 {{'npu.shared_expert' marks device ops of the shared experts; 'arith.constant' is not a device op}}
  %c = arith.constant {npu.shared_expert = #npu.shared_expert<down>} 0 : index
  return %c : index
}

// -----

func.func @shared_expert_unknown_stage(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  // expected-error @+2 {{expected ::mlir::npu::SharedExpertStage to be one of: quantize, gate_up, activation, down}}
  // expected-error @+1 {{failed to parse Npu_SharedExpertStageAttr parameter 'value'}}
  %y = npu.swiglu %x {npu.shared_expert = #npu.shared_expert<up>} : tensor<?x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @scale_rows_weights_not_one_column(%x: tensor<?x64xf32>, %w: tensor<?x2xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'npu.scale_rows' op dimension 1 of weights must be 1, got 2}}
  %y = npu.scale_rows %x, %w : tensor<?x64xf32>, tensor<?x2xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @scale_rows_token_mismatch(%x: tensor<4x64xf32>, %w: tensor<5x1xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'npu.scale_rows' op}}
  %y = npu.scale_rows %x, %w : tensor<4x64xf32>, tensor<5x1xf32>
  return %y : tensor<4x64xf32>
}

// -----

func.func @scale_rows_int_rows(%x: tensor<?x64xi8>, %w: tensor<?x1xf32>) -> tensor<?x64xi8> {
  // expected-error @+1 {{'npu.scale_rows' op operand #0 must be 2D tensor of 32-bit float or bfloat16 type or 16-bit float values}}
  %y = npu.scale_rows %x, %w : tensor<?x64xi8>, tensor<?x1xf32>
  return %y : tensor<?x64xi8>
}

// -----

// Only w4a8 takes a bias.
func.func @gmm_w8a8_bias(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>,
                         %s: tensor<4x32xf32>, %t: tensor<?xf32>, %b: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op only w4a8 takes a bias}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>)
      bias(%b : tensor<4x32xf32>) w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// An unquantized matmul takes no bias either.
func.func @mm_none_bias(%x: tensor<?x64xf32>, %w: tensor<64x32xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{'npu.matmul' op unquantized matmul takes no scales}}
  %h = npu.matmul %x, %w bias(%b : tensor<32xf32>) none : tensor<?x64xf32>, tensor<64x32xf32> -> tensor<?x32xf32>
  return
}

// -----

// The kernel form has merged group scales: no per-channel scale.
func.func @gmm_w4a8_bias_scale(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                               %s: tensor<4x32xf32>, %t: tensor<?xf32>, %gs: tensor<4x2x32xf32>,
                               %b: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w4a8 with a bias takes merged group scales and no per-channel scale}}
  %h = npu.grouped_matmul %x, %w, %g scale(%s : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>)
      group_scale(%gs : tensor<4x2x32xf32>) bias(%b : tensor<4x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// The kernel form needs the per-token and the merged group scales.
func.func @gmm_w4a8_bias_group(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                               %t: tensor<?xf32>, %b: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op w4a8 with a bias needs per_token_scale and group_scale}}
  %h = npu.grouped_matmul %x, %w, %g per_token_scale(%t : tensor<?xf32>) bias(%b : tensor<4x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// One bias per group and output channel.
func.func @gmm_w4a8_bias_shape(%x: tensor<?x64xi8>, %w: tensor<4x64x32xi4>, %g: tensor<4xi64>,
                               %t: tensor<?xf32>, %gs: tensor<4x2x32xf32>, %b: tensor<4x16xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op bias must be 'tensor<4x32xf32>', got 'tensor<4x16xf32>'}}
  %h = npu.grouped_matmul %x, %w, %g per_token_scale(%t : tensor<?xf32>) group_scale(%gs : tensor<4x2x32xf32>)
      bias(%b : tensor<4x16xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// Both checkpoint scales have one element type.
func.func @process_scale_types(%w: tensor<4x32x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xbf16>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op scale and scale_second must have one element type, got 'f32' and 'bf16'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xbf16>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

// Weights load with static shapes.
func.func @process_dynamic(%w: tensor<4x?x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op weight and scale_second need static shapes}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x?x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

// One per-channel scale per output channel.
func.func @process_scale_shape(%w: tensor<4x32x64xi8>, %s: tensor<4x32xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op operand #1 must be 3D tensor of 32-bit float or bfloat16 type or 16-bit float values}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

func.func @process_scale_dims(%w: tensor<4x32x64xi8>, %s: tensor<4x16x1xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op scale must be [4x32x1] (one per output channel), got 'tensor<4x16x1xf32>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x16x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

// The group scales split K into equal groups.
func.func @process_groups(%w: tensor<4x32x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x3xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op scale_second must be [4x32xB] with B groups dividing K = 64, got 'tensor<4x32x3xf32>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x3xf32>
      -> tensor<4x64x32xi4>, tensor<4x3x32xf32>, tensor<4x32xf32>
  return
}

// -----

// i4 rows are whole bytes.
func.func @process_odd(%w: tensor<4x31x64xi8>, %s: tensor<4x31x1xf32>, %ss: tensor<4x31x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op the i4 result packs rows of N = 31 output channels two per byte: N must be even}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x31x64xi8>, tensor<4x31x1xf32>, tensor<4x31x2xf32>
      -> tensor<4x64x31xi4>, tensor<4x2x31xf32>, tensor<4x31xf32>
  return
}

// -----

// The results are the transposed weight, the merged scale and the bias.
func.func @process_weight_result(%w: tensor<4x32x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op processed_weight must be 'tensor<4x64x32xi4>', got 'tensor<4x32x64xi4>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x32x64xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

func.func @process_scale_result(%w: tensor<4x32x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op merged_scale must be 'tensor<4x2x32xf32>', got 'tensor<4x32x2xf32>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x32x2xf32>, tensor<4x32xf32>
  return
}

// -----

func.func @process_bias_result(%w: tensor<4x32x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op bias must be 'tensor<4x32xf32>', got 'tensor<4x64xf32>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x64xf32>
  return
}

// -----

// A quant version 1.0.0 checkpoint packs N: scale_bias has the unpacked N.
func.func @process_scale_bias(%w: tensor<4x16x64xi8>, %s: tensor<4x32x1xf32>, %ss: tensor<4x32x2xf32>,
                              %sb: tensor<4x16x2xf32>) {
  // expected-error @+1 {{'npu.w4a8_process_weights' op scale_bias must be [4x32xP] (P >= 1 partial sums per channel of the packed weight), got 'tensor<4x16x2xf32>'}}
  %a, %b, %c = npu.w4a8_process_weights %w, %s, %ss scale_bias(%sb : tensor<4x16x2xf32>)
      : tensor<4x16x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return
}

// -----

// npu.load_function / npu.load_args (moe-outline-load-time).

func.func @f(%x: tensor<?x1xf32>) {
  // expected-error @+1 {{'npu.load_function' belongs on a func.func, not 'npu.ones_like'}}
  %0 = npu.ones_like %x {npu.load_function = @g} : tensor<?x1xf32>
  return
}

// -----

// expected-error @+1 {{'npu.load_function' and 'npu.load_args' go together (a flat symbol reference and an array<i64>)}}
func.func @f() attributes {npu.load_function = @g} {
  return
}

// -----

// expected-error @+1 {{'npu.load_function' must be a flat symbol reference and 'npu.load_args' an array<i64>}}
func.func @f() attributes {npu.load_function = "g", npu.load_args = array<i64>} {
  return
}

// -----

// expected-error @+1 {{load-time function @g is not a function of the module}}
func.func @f() attributes {npu.load_function = @g, npu.load_args = array<i64>} {
  return
}

// -----

func.func @g(%a: tensor<2xf32>) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
// expected-error @+1 {{load-time function @g takes 1 arguments but 'npu.load_args' lists 2}}
func.func @f(%a: tensor<2xf32>, %b: tensor<2xf32>, %l: tensor<2xf32>) attributes {npu.load_function = @g, npu.load_args = array<i64: 0, 1>} {
  return
}

// -----

func.func @g(%a: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  return %a, %a : tensor<2xf32>, tensor<2xf32>
}
// expected-error @+1 {{load-time function @g returns 2 values but the function takes 1 arguments}}
func.func @f(%a: tensor<2xf32>) attributes {npu.load_function = @g, npu.load_args = array<i64: 0>} {
  return
}

// -----

func.func @g(%a: tensor<2xf32>) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
// expected-error @+1 {{'npu.load_args' entry 1 is not one of the function's 1 step arguments}}
func.func @f(%a: tensor<2xf32>, %l: tensor<2xf32>) attributes {npu.load_function = @g, npu.load_args = array<i64: 1>} {
  return
}

// -----

func.func @g(%a: tensor<2xf32>) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
// expected-error @+1 {{argument 0 has type 'tensor<2xi8>' but @g takes 'tensor<2xf32>'}}
func.func @f(%a: tensor<2xi8>, %l: tensor<2xf32>) attributes {npu.load_function = @g, npu.load_args = array<i64: 0>} {
  return
}

// -----

func.func @g(%a: tensor<2xf32>) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
// expected-error @+1 {{argument 1 has type 'tensor<4xf32>' but @g returns 'tensor<2xf32>'}}
func.func @f(%a: tensor<2xf32>, %l: tensor<4xf32>) attributes {npu.load_function = @g, npu.load_args = array<i64: 0>} {
  return
}

// -----

func.func @sigmoid_gate_hidden_mismatch(%x: tensor<?x64xf32>, %w: tensor<32x1xf32>) -> tensor<?x1xf32> {
  // expected-error @+1 {{'npu.sigmoid_gate' op dimension 0 of weight (32) does not match dimension 1 of x (64)}}
  %g = npu.sigmoid_gate %x, %w : tensor<?x64xf32>, tensor<32x1xf32> -> tensor<?x1xf32>
  return %g : tensor<?x1xf32>
}

// -----

func.func @sigmoid_gate_weight_columns(%x: tensor<?x64xf32>, %w: tensor<64x2xf32>) -> tensor<?x1xf32> {
  // expected-error @+1 {{'npu.sigmoid_gate' op dimension 1 of weight must be 1, got 2}}
  %g = npu.sigmoid_gate %x, %w : tensor<?x64xf32>, tensor<64x2xf32> -> tensor<?x1xf32>
  return %g : tensor<?x1xf32>
}

// -----

func.func @sigmoid_gate_rows(%x: tensor<4x64xf32>, %w: tensor<64x1xf32>) -> tensor<5x1xf32> {
  // expected-error @+1 {{'npu.sigmoid_gate' op dimension 0 of result (5) does not match dimension 0 of x (4)}}
  %g = npu.sigmoid_gate %x, %w : tensor<4x64xf32>, tensor<64x1xf32> -> tensor<5x1xf32>
  return %g : tensor<5x1xf32>
}

// -----

func.func @sigmoid_gate_result_columns(%x: tensor<?x64xf32>, %w: tensor<64x1xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{'npu.sigmoid_gate' op dimension 1 of result must be 1, got 2}}
  %g = npu.sigmoid_gate %x, %w : tensor<?x64xf32>, tensor<64x1xf32> -> tensor<?x2xf32>
  return %g : tensor<?x2xf32>
}

// -----

func.func @sigmoid_gate_bf16_result(%x: tensor<?x64xf32>, %w: tensor<64x1xf32>) -> tensor<?x1xbf16> {
  // expected-error @+1 {{'npu.sigmoid_gate' op result #0 must be 2D tensor of 32-bit float values}}
  %g = npu.sigmoid_gate %x, %w : tensor<?x64xf32>, tensor<64x1xf32> -> tensor<?x1xbf16>
  return %g : tensor<?x1xbf16>
}
