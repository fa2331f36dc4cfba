// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s
// RUN: moe-opt %s -emit-bytecode | moe-opt | FileCheck %s

// Every npu op with every optional part.

// CHECK-LABEL: func.func @routing
func.func @routing(%logits: tensor<?x16xf32>, %bias: tensor<16xf32>, %x: tensor<?x64xf32>,
                   %l2p: tensor<16xi32>, %map: tensor<16xi32>, %start: index)
    -> (tensor<?x64xf32>, tensor<?x64xi8>) {
  // CHECK: npu.moe_gating_top_k %{{.+}} bias(%{{.+}} : tensor<16xf32>) k(4) sigmoid renormalize groups(4, 2) scale(2.500000e+00) stream(1) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %w, %ids = npu.moe_gating_top_k %logits bias(%bias : tensor<16xf32>) k(4) sigmoid renormalize
      groups(4, 2) scale(2.5) stream(1) : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // CHECK: npu.map_expert_ids %{{.+}} through %{{.+}} : tensor<?x4xi32>, tensor<16xi32>
  %phys = npu.map_expert_ids %ids through %l2p : tensor<?x4xi32>, tensor<16xi32>
  // CHECK: npu.mask_weights %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x4xf32>, tensor<?x4xi32>, tensor<16xi32>
  %mw = npu.mask_weights %w, %phys, %map : tensor<?x4xf32>, tensor<?x4xi32>, tensor<16xi32>
  // CHECK: npu.moe_init_routing %{{.+}}, %{{.+}} range(%{{.+}}, 4) experts(16) quant_mode(-1) count : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  %rows, %idx, %counts = npu.moe_init_routing %x, %phys range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  // CHECK: npu.moe_init_routing %{{.+}}, %{{.+}} range(%{{.+}}, 4) experts(16) quant_mode(1) cumsum : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  %qrows, %qidx, %qcounts, %qscale = npu.moe_init_routing %x, %phys range(%start, 4) experts(16) quant_mode(1) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  // CHECK: npu.moe_init_routing %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<?xf32>) range
  %q, %s = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %prows, %pidx, %pcounts, %pscale = npu.moe_init_routing %q, %phys scale(%s : tensor<?xf32>) range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
  // CHECK: npu.moe_token_unpermute %{{.+}}, %{{.+}} probs(%{{.+}} : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %rows, %idx probs(%mw : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %out, %prows : tensor<?x64xf32>, tensor<?x64xi8>
}

// CHECK-LABEL: func.func @moge
func.func @moge(%x: tensor<?x64xf32>, %l: tensor<?x16xf32>, %start: index) -> tensor<?x64xf32> {
  // CHECK: npu.moe_gating_top_k %{{.+}} k(4) softmax groups(4, 4) balanced : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax groups(4, 4) balanced : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // CHECK: npu.moge_dispatch %{{.+}}, %{{.+}}, %{{.+}} range(%{{.+}}, 8) k_per_rank(2) cumsum : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  %rows, %sorted, %groups, %scales = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  // CHECK: npu.moge_combine %{{.+}}, %{{.+}} k_per_rank(2) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %out = npu.moge_combine %rows, %sorted k_per_rank(2) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @alltoall
func.func @alltoall(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>) -> tensor<?x64xf32> {
  // CHECK: npu.histogram %{{.+}} bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %local = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  // CHECK: npu.all_gather %{{.+}} ep : tensor<16xi64> -> tensor<?xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  // CHECK: npu.alltoall_splits %{{.+}}, %{{.+}} local_experts(4) ep : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  // CHECK: npu.moe_token_permute %{{.+}}, %{{.+}} : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  // CHECK: npu.all_to_all_v %{{.+}}, %{{.+}}, %{{.+}} ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  // CHECK: npu.moe_token_permute %{{.+}}, %{{.+}} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  // CHECK: npu.moe_token_unpermute %{{.+}}, %{{.+}} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %back = npu.moe_token_unpermute %rows, %sorted2 : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %sent = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  return %sent : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @mc2
func.func @mc2(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %t: index, %p: index,
               %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>)
    -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  // CHECK: npu.mc2_mask %{{.+}} of %{{.+}} : tensor<?xi1>
  %mask = npu.mc2_mask %t of %p : tensor<?xi1>
  // CHECK: npu.moe_distribute_dispatch %{{.+}}, %{{.+}} x_active_mask(%{{.+}} : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(512) cumsum v2 : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %recv, %tp1 = npu.moe_distribute_dispatch %x, %ids x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(512) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  // CHECK: npu.moe_distribute_dispatch %{{.+}}, %{{.+}} group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(0) count : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
  %epr2 = npu.group_rank ep
  %qrows, %qidx, %qcounts, %qrecv, %qs = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr2) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(2) capacity(0) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
  // CHECK: npu.moe_distribute_combine %{{.+}}, %{{.+}} assist_info_for_combine(%{{.+}} : tensor<?xi32>) ep_send_counts(%{{.+}} : tensor<16xi32>) expert_scales(%{{.+}} : tensor<?x4xf32>) tp_send_counts(%{{.+}} : tensor<1xi32>) x_active_mask(%{{.+}} : tensor<?xi1>) shared(%{{.+}} : tensor<?x64xbf16>) group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2 : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  %out = npu.moe_distribute_combine %rows, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>) shared(%x : tensor<?x64xbf16>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr2) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  // CHECK: npu.dispatch_ffn_combine %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}} : tensor<?xi1>) weights(%{{.+}}, %{{.+}} : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%{{.+}}, %{{.+}} : tensor<4x32xf32>, tensor<4x64xf32>) w8a8 ep_world_size(4) moe_expert_num(16) capacity(512) : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  %fused = npu.dispatch_ffn_combine %x, %ids, %w mask(%mask : tensor<?xi1>)
      weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) w8a8
      ep_world_size(4) moe_expert_num(16) capacity(512)
      : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  return %out, %fused : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// A2 with hierarchical communication, dispatch v1, smooth-quant scales and
// global_bs: expert_scales travel with the rows and come back as
// expand_scales, which the combine takes.
// CHECK-LABEL: func.func @mc2_a2_hierarchical
func.func @mc2_a2_hierarchical(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>,
                               %smooth: tensor<64xf32>, %y: tensor<?x64xbf16>) -> tensor<?x64xbf16> {
  %r = npu.group_rank ep
  // CHECK: npu.moe_distribute_dispatch %{{.+}}, %{{.+}} scales(%{{.+}} : tensor<64xf32>) expert_scales(%{{.+}} : tensor<?x4xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(64) quant_mode(2) capacity(0) cumsum : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32> expand_scales tensor<?xf32>
  %rows, %idx, %counts, %recv, %ds, %es = npu.moe_distribute_dispatch %x, %ids scales(%smooth : tensor<64xf32>)
      expert_scales(%w : tensor<?x4xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%r)
      expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(64)
      quant_mode(2) capacity(0) cumsum
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>,
        tensor<16xi32> dynamic_scales tensor<?xf32> expand_scales tensor<?xf32>
  // CHECK: npu.moe_distribute_combine %{{.+}}, %{{.+}} expand_idx(%{{.+}} : tensor<?xi32>) ep_send_counts(%{{.+}} : tensor<16xi32>) expert_scales(%{{.+}} : tensor<?x4xf32>) expand_scales(%{{.+}} : tensor<?xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(64) : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  %out = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) expand_scales(%es : tensor<?xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0)
      moe_expert_num(16) global_bs(64) : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return %out : tensor<?x64xbf16>
}

// CHECK-LABEL: func.func @experts
func.func @experts(%x: tensor<?x64xf32>, %counts: tensor<4xi64>,
                   %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>,
                   %q13: tensor<4x64x32xi8>, %qw2: tensor<4x16x64xi8>,
                   %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
                   %i13: tensor<4x64x32xi4>, %g13: tensor<4x2x32xf32>,
                   %d13: tensor<64x32xi8>, %ds13: tensor<32xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  // CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %h = npu.grouped_matmul %x, %w13, %counts none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  // CHECK: npu.swiglu %{{.+}} : tensor<?x32xf32> -> tensor<?x16xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<4xi64> -> tensor<?x64xf32>
  // CHECK: npu.dynamic_quant %{{.+}} : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %q, %s = npu.dynamic_quant %x : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  // CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} w8a8 cumsum : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %h32 = npu.grouped_matmul %q, %q13, %counts w8a8 cumsum : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  // CHECK: npu.dequant_swiglu_quant %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} cumsum : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %q2, %s2b = npu.dequant_swiglu_quant %h32, %s13, %s, %counts cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  // CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<4x64xf32>) per_token_scale(%{{.+}} : tensor<?xf32>) w8a8 cumsum : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  %y8 = npu.grouped_matmul %q2, %qw2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 cumsum
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  // CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<4x32xf32>) per_token_scale(%{{.+}} : tensor<?xf32>) group_scale(%{{.+}} : tensor<4x2x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %h4 = npu.grouped_matmul %q, %i13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  // CHECK: npu.matmul %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<32xf32>) per_token_scale(%{{.+}} : tensor<?xf32>) w8a8 stream(2) : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %d = npu.matmul %q, %d13 scale(%ds13 : tensor<32xf32>) per_token_scale(%s : tensor<?xf32>) w8a8 stream(2)
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  // CHECK: npu.add %{{.+}}, %{{.+}} stream(2) : tensor<?x64xf32>
  %sum = npu.add %y, %y8 stream(2) : tensor<?x64xf32>
  return %sum, %y8, %h4, %d : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// CHECK-LABEL: func.func @collectives
func.func @collectives(%x: tensor<?x64xf32>, %t: index) -> (tensor<?x64xf32>, tensor<?x64xf32>, index, index) {
  // CHECK: npu.all_reduce_scalar %{{.+}} max dp
  %m = npu.all_reduce_scalar %t max dp
  // CHECK: npu.group_rank ep
  %r = npu.group_rank ep
  // CHECK: npu.expect_uniform %{{.+}} tp "the tensor-parallel ranks hold the same tokens"
  npu.expect_uniform %t tp "the tensor-parallel ranks hold the same tokens"
  // CHECK: npu.pad_rows %{{.+}} to %{{.+}} : tensor<?x64xf32> -> tensor<?x64xf32>
  %p = npu.pad_rows %x to %m : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.all_gather %{{.+}} dp stream(1) : tensor<?x64xf32> -> tensor<?x64xf32>
  %g = npu.all_gather %p dp stream(1) : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.reduce_scatter %{{.+}} dp : tensor<?x64xf32> -> tensor<?x64xf32>
  %rs = npu.reduce_scatter %g dp : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.all_gather %{{.+}} pcp : tensor<?x64xf32> -> tensor<?x64xf32>
  %gp = npu.all_gather %p pcp : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.reduce_scatter %{{.+}} pcp : tensor<?x64xf32> -> tensor<?x64xf32>
  %rsp = npu.reduce_scatter %gp pcp : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.slice_rows %{{.+}} to %{{.+}} : tensor<?x64xf32> -> tensor<?x64xf32>
  %s = npu.slice_rows %rs to %t : tensor<?x64xf32> -> tensor<?x64xf32>
  // CHECK: npu.all_reduce %{{.+}} sum tp : tensor<?x64xf32>
  %ar = npu.all_reduce %s sum tp : tensor<?x64xf32>
  // CHECK: npu.tensor_split %{{.+}} tp : tensor<?x64xf32> -> tensor<?x64xf32>
  %ts = npu.tensor_split %ar tp : tensor<?x64xf32> -> tensor<?x64xf32>
  return %ar, %ts, %m, %r : tensor<?x64xf32>, tensor<?x64xf32>, index, index
}

// CHECK-LABEL: func.func @events
func.func @events(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // CHECK: %[[E:.+]] = npu.record stream(0)
  %e = npu.record stream(0)
  // CHECK: npu.wait %[[E]] stream(1)
  npu.wait %e stream(1)
  %g = npu.all_gather %x ep stream(1) : tensor<?x64xf32> -> tensor<?x64xf32>
  %e2 = npu.record stream(1)
  npu.wait %e2 stream(0)
  return %g : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @router_weight_on_input
// CHECK: %[[XW:.+]] = npu.scale_rows %{{.+}}, %[[W:[^ ]+]] stream(1) : tensor<?x64xbf16>, tensor<?x1xf32>
// CHECK: npu.ones_like %[[W]] : tensor<?x1xf32>
func.func @router_weight_on_input(%x: tensor<?x64xbf16>, %w: tensor<?x1xf32>) -> (tensor<?x64xbf16>, tensor<?x1xf32>) {
  %xw = npu.scale_rows %x, %w stream(1) : tensor<?x64xbf16>, tensor<?x1xf32>
  %ones = npu.ones_like %w : tensor<?x1xf32>
  return %xw, %ones : tensor<?x64xbf16>, tensor<?x1xf32>
}

// Qwen2-MoE's shared expert gate.
// CHECK-LABEL: func.func @sigmoid_gate
// CHECK: npu.sigmoid_gate %{{.+}}, %{{.+}} stream(1) : tensor<?x64xbf16>, tensor<64x1xbf16> -> tensor<?x1xf32>
func.func @sigmoid_gate(%x: tensor<?x64xbf16>, %wg: tensor<64x1xbf16>) -> tensor<?x1xf32> {
  %g = npu.sigmoid_gate %x, %wg stream(1) : tensor<?x64xbf16>, tensor<64x1xbf16> -> tensor<?x1xf32>
  return %g : tensor<?x1xf32>
}

// The w4a8 load-time processing and the kernel form of the w4a8 matmuls.
// CHECK-LABEL: func.func @w4a8_kernel_form
func.func @w4a8_kernel_form(%ckpt: tensor<4x32x64xi8>, %scale: tensor<4x32x1xbf16>,
                            %second: tensor<4x32x2xbf16>, %q: tensor<?x64xi8>,
                            %s: tensor<?xf32>, %counts: tensor<4xi64>,
                            %d: tensor<64x32xi4>, %dg: tensor<2x32xf32>, %db: tensor<32xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  // CHECK: npu.w4a8_process_weights %{{.+}}, %{{.+}}, %{{.+}} stream(1) : tensor<4x32x64xi8>, tensor<4x32x1xbf16>, tensor<4x32x2xbf16> -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  %w, %g, %b = npu.w4a8_process_weights %ckpt, %scale, %second stream(1)
      : tensor<4x32x64xi8>, tensor<4x32x1xbf16>, tensor<4x32x2xbf16>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  // CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} per_token_scale(%{{.+}} : tensor<?xf32>) group_scale(%{{.+}} : tensor<4x2x32xf32>) bias(%{{.+}} : tensor<4x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %h = npu.grouped_matmul %q, %w, %counts per_token_scale(%s : tensor<?xf32>)
      group_scale(%g : tensor<4x2x32xf32>) bias(%b : tensor<4x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  // CHECK: npu.matmul %{{.+}}, %{{.+}} per_token_scale(%{{.+}} : tensor<?xf32>) group_scale(%{{.+}} : tensor<2x32xf32>) bias(%{{.+}} : tensor<32xf32>) w4a8 : tensor<?x64xi8>, tensor<64x32xi4> -> tensor<?x32xf32>
  %m = npu.matmul %q, %d per_token_scale(%s : tensor<?xf32>) group_scale(%dg : tensor<2x32xf32>)
      bias(%db : tensor<32xf32>) w4a8 : tensor<?x64xi8>, tensor<64x32xi4> -> tensor<?x32xf32>
  return %h, %m : tensor<?x32xf32>, tensor<?x32xf32>
}

// The load-time packing of int8 expert weights and the w8a8 matmul on
// them (the #npu.packed encoding survives every printed form).
// CHECK-LABEL: func.func @packed_weights
func.func @packed_weights(%w: tensor<4x64x32xi8>, %q: tensor<?x64xi8>, %counts: tensor<4xi64>)
    -> tensor<?x32xi32> {
  // CHECK: %[[P:.+]] = npu.pack_weights %{{.+}} stream(1) : tensor<4x64x32xi8> -> tensor<4x64x32xi8, #npu.packed>
  %p = npu.pack_weights %w stream(1) : tensor<4x64x32xi8> -> tensor<4x64x32xi8, #npu.packed>
  // CHECK: npu.grouped_matmul %{{.+}}, %[[P]], %{{.+}} w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8, #npu.packed>, tensor<4xi64> -> tensor<?x32xi32>
  %h = npu.grouped_matmul %q, %p, %counts w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8, #npu.packed>, tensor<4xi64> -> tensor<?x32xi32>
  return %h : tensor<?x32xi32>
}

// A quant version 1.0.0 checkpoint: weights packed along N, bias partials.
// CHECK-LABEL: func.func @w4a8_version1
func.func @w4a8_version1(%ckpt: tensor<4x16x64xi8>, %scale: tensor<4x32x1xf32>,
                         %second: tensor<4x32x2xf32>, %sb: tensor<4x32x8xf32>)
    -> (tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>) {
  // CHECK: npu.w4a8_process_weights %{{.+}}, %{{.+}}, %{{.+}} scale_bias(%{{.+}} : tensor<4x32x8xf32>) : tensor<4x16x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32> -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  %w, %g, %b = npu.w4a8_process_weights %ckpt, %scale, %second scale_bias(%sb : tensor<4x32x8xf32>)
      : tensor<4x16x64xi8>, tensor<4x32x1xf32>, tensor<4x32x2xf32>
      -> tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
  return %w, %g, %b : tensor<4x64x32xi4>, tensor<4x2x32xf32>, tensor<4x32xf32>
}

// CHECK-LABEL: func.func @weight_only
func.func @weight_only(%x: tensor<?x64xbf16>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>)
    -> tensor<?x32xbf16> {
  // CHECK: npu.weight_quant_matmul %{{.+}}, %{{.+}} antiquant_scale(%{{.+}} : tensor<4x32xf32>) group_size(16) stream(2) : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xbf16>
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      stream(2) : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// CHECK-LABEL: func.func @quant_formats
func.func @quant_formats(%x: tensor<?x256xbf16>, %w: tensor<2x256x128xf8E4M3FN>, %s: tensor<2x2x1xf32>,
                         %i: tensor<2x256x128xi8>, %si: tensor<2x16x128xf32>)
    -> (tensor<?x256xf32>, tensor<2x256x128xf32>, tensor<2x256x128xbf16>) {
  // CHECK: npu.quant_dequant %{{.+}} fp8_e4m3 group_size(128) : tensor<?x256xbf16> -> tensor<?x256xf32>
  %a = npu.quant_dequant %x fp8_e4m3 group_size(128) : tensor<?x256xbf16> -> tensor<?x256xf32>
  // CHECK: npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x2x1xf32>) fp8_e4m3 block(128, 128) stream(1) : tensor<2x256x128xf8E4M3FN> -> tensor<2x256x128xf32>
  %d = npu.dequantize_weights %w scale(%s : tensor<2x2x1xf32>) fp8_e4m3 block(128, 128) stream(1) : tensor<2x256x128xf8E4M3FN> -> tensor<2x256x128xf32>
  // CHECK: npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x16x128xf32>) int8 block(16, 1) : tensor<2x256x128xi8> -> tensor<2x256x128xbf16>
  %e = npu.dequantize_weights %i scale(%si : tensor<2x16x128xf32>) int8 block(16, 1) : tensor<2x256x128xi8> -> tensor<2x256x128xbf16>
  return %a, %d, %e : tensor<?x256xf32>, tensor<2x256x128xf32>, tensor<2x256x128xbf16>
}

// CHECK-LABEL: func.func @quant_fp4
func.func @quant_fp4(%x: tensor<?x64xf16>, %w: tensor<2x32x16xi8>, %mx: tensor<2x2x16xi8>,
                     %nv: tensor<2x4x16xf8E4M3FN>, %g: tensor<2xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<2x64x16xbf16>, tensor<2x64x16xf32>) {
  // CHECK: npu.quant_dequant %{{.+}} mxfp4 group_size(32) : tensor<?x64xf16> -> tensor<?x64xf32>
  %a = npu.quant_dequant %x mxfp4 group_size(32) : tensor<?x64xf16> -> tensor<?x64xf32>
  // CHECK: npu.quant_dequant %{{.+}} nvfp4 group_size(16) : tensor<?x64xf16> -> tensor<?x64xf32>
  %b = npu.quant_dequant %x nvfp4 group_size(16) : tensor<?x64xf16> -> tensor<?x64xf32>
  // CHECK: npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x2x16xi8>) mxfp4 stream(1) : tensor<2x32x16xi8> -> tensor<2x64x16xbf16>
  %c = npu.dequantize_fp4_weights %w scale(%mx : tensor<2x2x16xi8>) mxfp4 stream(1)
      : tensor<2x32x16xi8> -> tensor<2x64x16xbf16>
  // CHECK: npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x4x16xf8E4M3FN>) global(%{{.+}} : tensor<2xf32>) nvfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  %d = npu.dequantize_fp4_weights %w scale(%nv : tensor<2x4x16xf8E4M3FN>) global(%g : tensor<2xf32>) nvfp4
      : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return %a, %b, %c, %d : tensor<?x64xf32>, tensor<?x64xf32>, tensor<2x64x16xbf16>, tensor<2x64x16xf32>
}

// CHECK-LABEL: func.func @step_sync
// CHECK: %{{.+}}, %[[DP:[^,]+]], %{{.+}} = npu.step_sync %{{.+}}, %{{.+}}, %{{.+}} uniform_tp "the TP ranks hold the same tokens"
// CHECK: npu.step_sync %{{.+}}, %{{.+}}, %{{[^ ]+}}{{$}}
func.func @step_sync(%t: index, %f: index) -> index {
  %r:7 = npu.step_sync %t, %f, %f uniform_tp "the TP ranks hold the same tokens"
  %s:7 = npu.step_sync %t, %f, %f
  return %r#2 : index
}
