// RUN: moe-opt %s -split-input-file -convert-moe-to-npu -moe-fuse-quant-into-dispatch | FileCheck %s

// MC2's operator contract: the compiled IR of one mc2 layer (ep = 4, 16
// experts, top-2) on A2 and A3, with and without dispatch v2 and
// hierarchical communication, quantized (w8a8: the dynamic quantization
// fused into the dispatch, quant_mode 2) and not. Each dispatch and combine
// reads like seed 002's call: TokenDispatcherWithMC2.get_dispatch_mc2_kwargs
// and get_combine_mc_kwargs, argument for argument (docs/Expansion.md,
// "MC2's operator contract").

// -----

// A2, torch_npu without npu_moe_distribute_dispatch_v2, unquantized: the v1
// call (expand_idx), no TP arguments, no x_active_mask, no expert_scales.
// CHECK-LABEL: func.func @a2_v1(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %expand_idx, %expert_token_nums, %ep_recv_counts =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(256) cumsum : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids expand_idx(%expand_idx : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A2, dispatch_v2 = false>} {
func.func @a2_v1(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A2 with dispatch v2, w8a8: quant_mode 2 (`2 if self.with_quant else 0`);
// v2 names the index result assist_info_for_combine; still no
// x_active_mask (A3 only).
// CHECK-LABEL: func.func @a2_v2_w8a8(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %assist_info_for_combine, %expert_token_nums, %ep_recv_counts, %dynamic_scales =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(256) cumsum v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xi8>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids assist_info_for_combine(%assist_info_for_combine : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A2>} {
func.func @a2_v2_w8a8(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A2 with hierarchical communication (need_expert_scale), v1, w8a8: dispatch
// passes expert_scales = topk_weights and combine the returned expand_scales.
// CHECK-LABEL: func.func @a2_hierarchical_v1_w8a8(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %expand_idx, %expert_token_nums, %ep_recv_counts, %dynamic_scales, %expand_scales =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids expert_scales(%weights : tensor<?x2xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(256) cumsum : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32> expand_scales tensor<?xf32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids expand_idx(%expand_idx : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) expand_scales(%expand_scales : tensor<?xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A2, dispatch_v2 = false, hierarchical_comm = true>} {
func.func @a2_hierarchical_v1_w8a8(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A2 with hierarchical communication and dispatch v2, unquantized.
// CHECK-LABEL: func.func @a2_hierarchical_v2(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %assist_info_for_combine, %expert_token_nums, %ep_recv_counts, %expand_scales =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids expert_scales(%weights : tensor<?x2xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(256) cumsum v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> expand_scales tensor<?xf32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids assist_info_for_combine(%assist_info_for_combine : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) expand_scales(%expand_scales : tensor<?xf32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A2, hierarchical_comm = true>} {
func.func @a2_hierarchical_v2(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A3 without dispatch v2, unquantized: need_extra_args adds group_tp,
// tp_world_size 1, tp_rank_id 0 (and tp_send_counts to combine), but
// x_active_mask needs v2 too.
// CHECK-LABEL: func.func @a3_v1(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %expand_idx, %expert_token_nums, %ep_recv_counts, %tp_recv_counts =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(512) cumsum : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids expand_idx(%expand_idx : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) tp_send_counts(%tp_recv_counts : tensor<1xi32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A3, dispatch_v2 = false>} {
func.func @a3_v1(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A3 without dispatch v2, w8a8.
// CHECK-LABEL: func.func @a3_v1_w8a8(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %expand_idx, %expert_token_nums, %ep_recv_counts, %dynamic_scales, %tp_recv_counts =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(512) cumsum : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32> tp_recv_counts tensor<1xi32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids expand_idx(%expand_idx : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) tp_send_counts(%tp_recv_counts : tensor<1xi32>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A3, dispatch_v2 = false>} {
func.func @a3_v1_w8a8(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A3 with dispatch v2, unquantized: every A3 argument and x_active_mask
// (`a3_need_extra_args and enable_dispatch_v2`).
// CHECK-LABEL: func.func @a3_v2(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %assist_info_for_combine, %expert_token_nums, %ep_recv_counts, %tp_recv_counts =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(512) cumsum v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids assist_info_for_combine(%assist_info_for_combine : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) tp_send_counts(%tp_recv_counts : tensor<1xi32>) x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @a3_v2(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A3 with dispatch v2, w8a8.
// CHECK-LABEL: func.func @a3_v2_w8a8(
// CHECK: %[[MASK:.+]] = npu.mc2_mask
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %assist_info_for_combine, %expert_token_nums, %ep_recv_counts, %dynamic_scales, %tp_recv_counts =
// CHECK-SAME: npu.moe_distribute_dispatch %{{.+}}, %ids x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(512) cumsum v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xi8>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32> tp_recv_counts tensor<1xi32>
// CHECK: npu.moe_distribute_combine
// CHECK-SAME: %{{.+}}, %ids assist_info_for_combine(%assist_info_for_combine : tensor<?xi32>) ep_send_counts(%ep_recv_counts : tensor<16xi32>) expert_scales(%weights : tensor<?x2xf32>) tp_send_counts(%tp_recv_counts : tensor<1xi32>) x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @a3_v2_w8a8(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xbf16>
}
}

// -----

// A3 with shared-expert ranks (#moe.layout shared_expert_ranks = 2, MC2's
// shared_expert_rank_num): 16 routed experts over ranks 2 and 3 (L = 8);
// ranks 0 and 1 run the shared experts on the rows they receive, the same
// fused quantization feeding both branches; combine returns the shared rows
// and the finalize adds nothing.
// CHECK-LABEL: func.func @a3_v2_shared_expert_ranks(
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %expand_x, %assist_info_for_combine, %expert_token_nums, %ep_recv_counts, %dynamic_scales, %tp_recv_counts = npu.moe_distribute_dispatch {{.+}} group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(512) cumsum v2 : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xi8>, assist_info_for_combine tensor<?xi32>, tensor<8xi64>, tensor<32xi32> dynamic_scales tensor<?xf32> tp_recv_counts tensor<1xi32>
// CHECK-NEXT: %[[S:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[ON:.+]] = arith.cmpi ult, %[[RANK]], %[[S]] : index
// CHECK-NEXT: %[[Y:.+]] = scf.if %[[ON]] -> (tensor<?x64xbf16>) {
// CHECK-NEXT: npu.matmul %expand_x, %arg6 scale(%arg8 : tensor<32xf32>) per_token_scale(%dynamic_scales : tensor<?xf32>) w8a8
// CHECK: } else {
// CHECK-NEXT: npu.grouped_matmul %expand_x, %arg2, %expert_token_nums w8a8 cumsum
// CHECK: %[[OUT:.+]] = npu.moe_distribute_combine %[[Y]], %ids assist_info_for_combine({{.+}}) {{.+}} shared_expert_rank_num(2) moe_expert_num(16) global_bs(0) v2
// CHECK-NEXT: %[[R:.+]] = npu.slice_rows %[[OUT]]
// CHECK-NEXT: return %[[R]]
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @a3_v2_shared_expert_ranks(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %w2: tensor<8x16x64xi8>, %s13: tensor<8x32xf32>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %sw2: tensor<16x64xi8>, %ss13: tensor<32xf32>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<8xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xi8>, tensor<8x16x64xi8>)
      scales(%s13, %s2 : tensor<8x32xf32>, tensor<8x64xf32>) quant <w8a8_dynamic> : tensor<?x64xbf16>, tensor<8xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xi8>, tensor<16x64xi8>)
      scales(%ss13, %ss2 : tensor<32xf32>, tensor<64xf32>) quant <w8a8_dynamic> : tensor<?x64xbf16>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xbf16>
}
}
