// RUN: moe-opt %s -split-input-file -verify-diagnostics

// MC2's operator contract (seed 002 TokenDispatcherWithMC2
// get_dispatch_mc2_kwargs / get_combine_mc_kwargs): every diagnostic of the
// rules npu.moe_distribute_dispatch and npu.moe_distribute_combine add to the
// shapes of invalid.mlir. `group_tp` marks an A3 call (need_extra_args), `v2`
// npu_moe_distribute_dispatch_v2, `expert_scales` A2 hierarchical
// communication (need_expert_scale).

// -----

// x_active_mask only on A3 with dispatch v2: not without v2.
func.func @mask_needs_v2(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %m: tensor<8xi1>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op x_active_mask is an A3 dispatch-v2 argument: it needs v2 and group_tp}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids x_active_mask(%m : tensor<8xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// x_active_mask only on A3 with dispatch v2: not on A2 (no group_tp).
func.func @mask_needs_a3(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %m: tensor<8xi1>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op x_active_mask is an A3 dispatch-v2 argument: it needs v2 and group_tp}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids x_active_mask(%m : tensor<8xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum v2
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// expert_scales only under A2 hierarchical communication.
func.func @expert_scales_not_a3(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op expert_scales is the A2 hierarchical-communication argument; an A3 call (group_tp) does not take it}}
  %rows, %info, %counts, %recv, %tpc, %es = npu.moe_distribute_dispatch %x, %ids expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32> expand_scales tensor<?xf32>
  return
}

// -----

// A v2 dispatch names its index result assist_info_for_combine.
func.func @v2_result_name(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op a v2 call returns assist_info_for_combine, not expand_idx}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum v2
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// A v1 dispatch names its index result expand_idx.
func.func @v1_result_name(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op a v1 call returns expand_idx, not assist_info_for_combine}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// The A3 TP arguments come together.
func.func @tp_together(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op group_tp, tp_world_size and tp_rank_id come together (the A3 arguments, need_extra_args)}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// The seed passes the MC2 group as group_tp.
func.func @group_tp_is_ep(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op group_tp must be group_ep (ep): the seed passes the MC2 group for both, got tp}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(tp) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// tp_world_size is 1, as the seed passes.
func.func @tp_world_size(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op tp_world_size 2 is not supported: the seed passes 1 (no tensor-parallel split inside the MC2 kernel)}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(2) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<2xi32>
  return
}

// -----

// tp_rank_id lies inside tp_world_size.
func.func @tp_rank_id(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op tp_rank_id 1 is outside tp_world_size 1}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(1) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// An A3 dispatch returns tp_recv_counts.
func.func @tp_recv_needed(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op needs a tp_recv_counts result with group_tp}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// Only an A3 dispatch returns tp_recv_counts.
func.func @tp_recv_only_a3(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op returns tp_recv_counts only with group_tp}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// One tp_recv_count per TP rank.
func.func @tp_recv_size(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op dimension 0 of tp_recv_counts must be 1, got 2}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<2xi32>
  return
}

// -----

// expert_scales come back as expand_scales.
func.func @expand_scales_needed(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op returns expand_scales exactly when it takes expert_scales}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// No expand_scales without expert_scales.
func.func @expand_scales_without(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op returns expand_scales exactly when it takes expert_scales}}
  %rows, %info, %counts, %recv, %es = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> expand_scales tensor<?xf32>
  return
}

// -----

// expert_shard_type is 0.
func.func @shard_type(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op expert_shard_type must be 0 (shared-expert ranks first, the only placement torch_npu supports), got 1}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(1) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// Shared-expert ranks are an A3 argument (A2's kernel has none).
func.func @shared_ranks_need_a3(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op shared_expert_rank_num 2 needs the A3 arguments (group_tp): A2's kernel has no shared-expert ranks}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<8xi64>, tensor<32xi32>
  return
}

// -----

// Shared-expert ranks divide the group and leave ranks for routed experts.
func.func @shared_ranks_divide(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op shared_expert_rank_num 3 must divide ep_world_size 4 and leave ranks for the routed experts}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(3) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<16xi64>, tensor<64xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// With 2 shared-expert ranks of 4, 16 experts make 8 per routed rank.
func.func @shared_ranks_local_experts(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op dimension 0 of expert_token_nums must be 8, got 4}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// 15 experts do not split over the 3 routed-expert ranks of 4 - 1.
func.func @shared_ranks_split(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op 16 experts cannot be split evenly over 3 ranks}}
  %rows, %info, %counts, %recv, %tpc = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(1) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  return
}

// -----

// global_bs is the most tokens of a rank times ep_world_size.
func.func @global_bs(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op global_bs 10 must be 0 or a multiple of ep_world_size 4}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(10)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// Smooth-quant scales only with quant_mode(dynamic).
func.func @smooth_scales_quant(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %s: tensor<64xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op scales (smooth quantization) need quant_mode(dynamic)}}
  %rows, %info, %counts, %recv = npu.moe_distribute_dispatch %x, %ids scales(%s : tensor<64xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  return
}

// -----

// One smooth-quant scale per hidden channel.
func.func @smooth_scales_size(%x: tensor<8x64xbf16>, %ids: tensor<8x4xi32>, %s: tensor<32xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_dispatch' op dimension 0 of scales (32) does not match dimension 1 of x (64)}}
  %rows, %info, %counts, %recv, %ds = npu.moe_distribute_dispatch %x, %ids scales(%s : tensor<32xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(2) capacity(0) cumsum
      : tensor<8x64xbf16>, tensor<8x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
  return
}

// -----

// x_active_mask only on A3 with v2, in combine too.
func.func @combine_mask_needs_v2(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %t: tensor<1xi32>, %m: tensor<8xi1>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op x_active_mask is an A3 dispatch-v2 argument: it needs v2 and group_tp}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%t : tensor<1xi32>) x_active_mask(%m : tensor<8xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// expand_scales only under A2 hierarchical communication.
func.func @combine_expand_scales_not_a3(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %t: tensor<1xi32>, %e: tensor<?xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op expand_scales is the A2 hierarchical-communication argument; an A3 call (group_tp) does not take it}}
  %o = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%t : tensor<1xi32>) expand_scales(%e : tensor<?xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// A v2 combine takes assist_info_for_combine.
func.func @combine_v2_info(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op a v2 call takes assist_info_for_combine, not expand_idx}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// A v1 combine takes expand_idx.
func.func @combine_v1_info(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op a v1 call takes expand_idx, not assist_info_for_combine}}
  %o = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// Not both index tensors.
func.func @combine_both_infos(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op a v1 call takes expand_idx, not assist_info_for_combine}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) assist_info_for_combine(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// An A3 combine takes tp_send_counts.
func.func @combine_tp_send_needed(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op needs tp_send_counts with group_tp}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// Only an A3 combine takes tp_send_counts.
func.func @combine_tp_send_only_a3(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %t: tensor<1xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op takes tp_send_counts only with group_tp}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%t : tensor<1xi32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// One tp_send_count per TP rank.
func.func @combine_tp_send_size(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %t: tensor<3xi32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op dimension 0 of tp_send_counts must be 1, got 3}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%t : tensor<3xi32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// One expand_scale per row of expand_x.
func.func @combine_expand_scales_rows(%y: tensor<6x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<16xi32>, %w: tensor<8x4xf32>, %e: tensor<5xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op dimension 0 of expand_scales (5) does not match dimension 0 of expand_x (6)}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<16xi32>) expert_scales(%w : tensor<8x4xf32>) expand_scales(%e : tensor<5xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<6x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// Combine takes shared_expert_x or shared-expert ranks, not both.
func.func @combine_shared_ranks_and_x(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<32xi32>, %w: tensor<8x4xf32>, %t: tensor<1xi32>, %s: tensor<8x64xbf16>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op takes shared_expert_x or shared-expert ranks (shared_expert_rank_num 2), not both: those ranks return the shared experts' rows themselves}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<32xi32>) expert_scales(%w : tensor<8x4xf32>) tp_send_counts(%t : tensor<1xi32>) shared(%s : tensor<8x64xbf16>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}

// -----

// Shared-expert ranks in combine need the A3 arguments too.
func.func @combine_shared_ranks_need_a3(%y: tensor<?x64xbf16>, %ids: tensor<8x4xi32>, %idx: tensor<?xi32>, %c: tensor<32xi32>, %w: tensor<8x4xf32>) {
  %r = npu.group_rank ep
  // expected-error @+1 {{'npu.moe_distribute_combine' op shared_expert_rank_num 2 needs the A3 arguments (group_tp): A2's kernel has no shared-expert ranks}}
  %o = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>) ep_send_counts(%c : tensor<32xi32>) expert_scales(%w : tensor<8x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0)
      : tensor<?x64xbf16>, tensor<8x4xi32> -> tensor<8x64xbf16>
  return
}
