// RUN: moe-opt %s -split-input-file -moe-fuse-quant-into-dispatch -verify-diagnostics | FileCheck %s

// Where moe-fuse-quant-into-dispatch must not fire it leaves the IR alone and
// says why in a remark on the npu.dynamic_quant, with a note on the op in the
// way. Level-2 IR in the shapes of docs/Expansion.md (H = 64, E' = 16,
// ep = 4, L = 4, K = 4).

// (a) The dispatched float rows have another user.

// CHECK-LABEL: func.func @allgather_rows_also_used
// CHECK: npu.moe_init_routing {{.+}} quant_mode(-1)
// CHECK: npu.dynamic_quant
func.func @allgather_rows_also_used(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %start: index,
                                    %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  // expected-remark @below {{not fused into 'npu.moe_init_routing': the dispatched rows are also used by 'npu.swiglu'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  // expected-note @below {{used here}}
  %a = npu.swiglu %rows : tensor<?x64xf32> -> tensor<?x32xf32>
  %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  return %h, %a : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// (a) The quantized rows leave the layer instead of feeding int8 matmuls.

// CHECK-LABEL: func.func @allgather_rows_escape
// CHECK: npu.moe_init_routing {{.+}} quant_mode(-1)
// CHECK: npu.dynamic_quant
func.func @allgather_rows_escape(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %start: index)
    -> (tensor<?x64xi8>, tensor<?xf32>) {
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  // expected-remark @below {{not fused into 'npu.moe_init_routing': the quantized rows feed 'func.return', not the activations of an int8 grouped matmul}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  // expected-note @below {{consumed here}}
  return %q, %s : tensor<?x64xi8>, tensor<?xf32>
}

// -----

// (b) The row scales leave the layer instead of feeding the grouped matmuls.

// CHECK-LABEL: func.func @mc2_scales_escape
// CHECK: npu.moe_distribute_dispatch {{.+}} quant_mode(0)
// CHECK: npu.dynamic_quant
func.func @mc2_scales_escape(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>,
                             %w13: tensor<4x64x32xi8>) -> (tensor<?x32xi32>, tensor<?xf32>) {
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  // expected-remark @below {{not fused into 'npu.moe_distribute_dispatch': the row scales feed 'func.return', not the per-token scale of an int8 grouped matmul}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  // expected-note @below {{consumed here}}
  return %h, %s : tensor<?x32xi32>, tensor<?xf32>
}

// -----

// (b) The float rows also go to the combine.

// CHECK-LABEL: func.func @mc2_rows_also_used
// CHECK: npu.moe_distribute_dispatch {{.+}} quant_mode(0)
// CHECK: npu.dynamic_quant
func.func @mc2_rows_also_used(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>,
                              %w13: tensor<4x64x32xi8>, %s13: tensor<4x32xf32>)
    -> (tensor<?x16xi8>, tensor<?x64xf32>) {
  %epr2 = npu.group_rank ep
  %rows, %idx, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr2) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  // expected-remark @below {{not fused into 'npu.moe_distribute_dispatch': the dispatched rows are also used by 'npu.moe_distribute_combine'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %s2 = npu.dequant_swiglu_quant %h, %s13, %s, %counts cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  // expected-note @below {{used here}}
  %out = npu.moe_distribute_combine %rows, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr2) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>
  return %q2, %out : tensor<?x16xi8>, tensor<?x64xf32>
}

// -----

// (c) L = 1: the received float rows are also sent back unchanged.

// CHECK-LABEL: func.func @alltoall_l1_rows_also_used
// CHECK: %[[PERM:[^ ,]+]], %{{[^ ]+}} = npu.moe_token_permute
// CHECK-NEXT: %[[RECV:[^ ]+]] = npu.all_to_all_v %[[PERM]]
// CHECK-NEXT: npu.dynamic_quant %[[RECV]]
func.func @alltoall_l1_rows_also_used(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>,
                                      %in: tensor<?xi64>, %outs: tensor<?xi64>, %per: tensor<1xi64>,
                                      %w13: tensor<1x64x32xi8>) -> (tensor<?x32xi32>, tensor<?x64xf32>) {
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x2xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  // expected-remark @below {{not fused into 'npu.all_to_all_v': the dispatched rows are also used by 'npu.all_to_all_v'}}
  %q, %s = npu.dynamic_quant %recv : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<1x64x32xi8>, tensor<1xi64> -> tensor<?x32xi32>
  // expected-note @below {{used here}}
  %ret = npu.all_to_all_v %recv, %outs, %in ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  return %h, %ret : tensor<?x32xi32>, tensor<?x64xf32>
}

// -----

// (c) L = 4: the received rows, before the permute by local expert, have
// another user.

// CHECK-LABEL: func.func @alltoall_received_also_used
// CHECK: %[[RECV:[^ ]+]] = npu.all_to_all_v
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %{{[^ ]+}} = npu.moe_token_permute %[[RECV]]
// CHECK-NEXT: npu.dynamic_quant %[[ROWS]]
func.func @alltoall_received_also_used(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>,
                                       %local: tensor<16xi64>, %global: tensor<?xi64>,
                                       %w13: tensor<4x64x32xi8>) -> (tensor<?x32xi32>, tensor<?x64xf32>) {
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  // expected-remark @below {{not fused into 'npu.all_to_all_v': the received rows are also used by 'func.return'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  // expected-note @below {{used here}}
  return %h, %recv : tensor<?x32xi32>, tensor<?x64xf32>
}

// -----

// (c) The locally permuted float rows have another user.

// CHECK-LABEL: func.func @alltoall_permuted_also_used
// CHECK: %[[PERM:[^ ,]+]], %{{[^ ]+}} = npu.moe_token_permute
// CHECK-NEXT: npu.all_to_all_v %[[PERM]]
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.dynamic_quant
func.func @alltoall_permuted_also_used(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>,
                                       %local: tensor<16xi64>, %global: tensor<?xi64>,
                                       %w13: tensor<4x64x32xi8>) -> (tensor<?x32xi32>, tensor<?x64xf32>) {
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  // expected-remark @below {{not fused into 'npu.all_to_all_v': the permuted rows are also used by 'npu.moe_token_unpermute'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  // expected-note @below {{used here}}
  %local_out = npu.moe_token_unpermute %perm, %sorted : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %h, %local_out : tensor<?x32xi32>, tensor<?x64xf32>
}

// -----

// (c) The permute by local expert does not use the splits' recv_expert_ids,
// so the number of local experts for init-routing is unknown.

// CHECK-LABEL: func.func @alltoall_unknown_local_experts
// CHECK: npu.moe_token_permute
// CHECK-NEXT: npu.all_to_all_v
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.dynamic_quant
func.func @alltoall_unknown_local_experts(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>,
                                          %in: tensor<?xi64>, %outs: tensor<?xi64>, %per: tensor<4xi64>,
                                          %eids: tensor<?xi32>, %w13: tensor<4x64x32xi8>) -> tensor<?x32xi32> {
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  // expected-note @below {{permuted here}}
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  // expected-remark @below {{not fused into 'npu.all_to_all_v': the received rows are permuted by ids that are not the recv_expert_ids of 'npu.alltoall_splits'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  return %h : tensor<?x32xi32>
}

// -----

// (d) falls back to (a): the hidden states gathered over ep also feed the
// shared experts, so the gather stays float while init-routing quantizes.

// CHECK-LABEL: func.func @allgather_sp_gathered_also_used
// CHECK: %[[XG:[^ ]+]] = npu.all_gather %{{.+}} ep : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[RIDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[XG]], %{{.+}} range(%{{.+}}, 4) experts(16) quant_mode(1) count
// CHECK-NEXT: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] scale(%{{.+}}) per_token_scale(%[[SCALE]] : tensor<?xf32>) group_scale(%{{.+}}) w4a8 count
// CHECK-NEXT: npu.matmul %[[XG]]
func.func @allgather_sp_gathered_also_used(%xp: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %start: index,
                                           %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>,
                                           %sw13: tensor<64x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %xg = npu.all_gather %xp ep : tensor<?x64xf32> -> tensor<?x64xf32>
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  // expected-remark @below {{fused into 'npu.moe_init_routing' but not moved before 'npu.all_gather': the gathered rows are also used by 'npu.matmul'}}
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  // expected-note @below {{used here}}
  %sh = npu.matmul %xg, %sw13 none : tensor<?x64xf32>, tensor<64x32xf32> -> tensor<?x32xf32>
  return %h, %sh : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// No remark for quantizations not fed by a dispatch: the layer input, an
// activation, rows exchanged without the local permute of a dispatch.

// CHECK-LABEL: func.func @not_dispatched
// CHECK-COUNT-3: npu.dynamic_quant
func.func @not_dispatched(%x: tensor<?x64xf32>, %in: tensor<?xi64>, %outs: tensor<?xi64>,
                          %d13: tensor<64x32xi8>, %ds13: tensor<32xf32>)
    -> (tensor<?x32xf32>, tensor<?x16xi8>, tensor<?x64xi8>) {
  %q, %s = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %d = npu.matmul %q, %d13 scale(%ds13 : tensor<32xf32>) per_token_scale(%s : tensor<?xf32>) w8a8
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %a = npu.swiglu %d : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %s2 = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %recv = npu.all_to_all_v %x, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %q3, %s3 = npu.dynamic_quant %recv : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  return %d, %q2, %q3 : tensor<?x32xf32>, tensor<?x16xi8>, tensor<?x64xi8>
}

// -----

// fp8 rows (the descriptor schemes, docs/Quantization.md): the dispatch
// operators quantize only to int8 per token, so the quant_dequant stays.
// CHECK-LABEL: func.func @fp8_rows_stay
// CHECK: npu.moe_init_routing
// CHECK: npu.quant_dequant
func.func @fp8_rows_stay(%x: tensor<?x64xbf16>, %ids: tensor<?x2xi32>, %start: index) -> tensor<?x64xf32> {
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<4xi64>
  // expected-remark @+1 {{not fused into 'npu.moe_init_routing': the dispatch operators quantize only to int8 per token, these rows are fp8_e4m3 per group of 32 columns}}
  %q = npu.quant_dequant %rows fp8_e4m3 group_size(32) : tensor<?x64xbf16> -> tensor<?x64xf32>
  return %q : tensor<?x64xf32>
}

// -----

// mxfp4 and nvfp4 rows (docs/Quantization.md, "mxfp4 and nvfp4"): the
// dispatch operators have no fp4 output, so the micro-block quantization
// stays after the dispatch, with the reason.
// CHECK-LABEL: func.func @fp4_rows_stay
// CHECK: npu.moe_distribute_dispatch
// CHECK: npu.quant_dequant %{{.+}} mxfp4 group_size(32)
// CHECK: npu.quant_dequant %{{.+}} nvfp4 group_size(16)
func.func @fp4_rows_stay(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %epr = npu.group_rank ep
  %rows, %idx, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  // expected-remark @+1 {{not fused into 'npu.moe_distribute_dispatch': the dispatch operators quantize only to int8 per token, these rows are mxfp4 (e2m1 in blocks of 32 columns, each with an e8m0 scale)}}
  %a = npu.quant_dequant %rows mxfp4 group_size(32) : tensor<?x64xbf16> -> tensor<?x64xf32>
  // expected-remark @+1 {{not fused into 'npu.moe_distribute_dispatch': the dispatch operators quantize only to int8 per token, these rows are nvfp4 (e2m1 in blocks of 16 columns, each with an e4m3 scale, and a global f32 scale)}}
  %b = npu.quant_dequant %rows nvfp4 group_size(16) : tensor<?x64xbf16> -> tensor<?x64xf32>
  return %a, %b : tensor<?x64xf32>, tensor<?x64xf32>
}
