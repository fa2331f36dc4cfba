// RUN: moe-opt %s -split-input-file -convert-moe-to-npu | FileCheck %s

// Every method's device-op sequence against seeds 000 / 002 (the sequences
// are listed in docs/Expansion.md).

// allgather, DP 2 x TP 2 with EP: pad to the longest DP rank, gather over DP,
// init-routing of this rank's expert range, unpermute with the weights,
// reduce-scatter over DP, drop padding, all-reduce over TP, add shared.
// CHECK-LABEL: func.func @allgather
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>, %[[LG:.+]]: tensor<?x16xf32>, %[[W13:[^:]+]]: tensor<4x64x32xf32>, %[[W2:[^:]+]]: tensor<4x16x64xf32>, %[[SW13:[^:]+]]: tensor<64x32xf32>, %[[SW2:[^:]+]]: tensor<16x64xf32>)
// CHECK: %[[T:.+]] = tensor.dim %[[X]], %{{.+}}
// CHECK: npu.expect_uniform %[[T]] tp "the tensor-parallel ranks of a DP group hold the same tokens"
// CHECK: %[[MAX:.+]] = npu.all_reduce_scalar %[[T]] max dp
// CHECK: %[[XP:.+]] = npu.pad_rows %[[X]] to %[[MAX]]
// CHECK: %[[XG:.+]] = npu.all_gather %[[XP]] dp
// CHECK: %[[LP:.+]] = npu.pad_rows %[[LG]] to %[[MAX]]
// CHECK: %[[LGG:.+]] = npu.all_gather %[[LP]] dp
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k %[[LGG]] k(2) softmax renormalize
// CHECK: %[[R:.+]] = npu.group_rank ep
// CHECK: %[[START:.+]] = arith.muli %[[R]], %{{.+}}
// CHECK: %[[ROWS:.+]], %[[RIDX:.+]], %[[CNT:.+]] = npu.moe_init_routing %[[XG]], %[[IDS]] range(%[[START]], 4) experts(16) quant_mode(-1) count
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[ROWS]], %[[W13]], %[[CNT]] none count :
// CHECK: %[[A:.+]] = npu.swiglu %[[H]] :
// CHECK: %[[Y:.+]] = npu.grouped_matmul %[[A]], %[[W2]], %[[CNT]] none count :
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute %[[Y]], %[[RIDX]] probs(%[[W]] : tensor<?x2xf32>)
// CHECK: %[[SH:.+]] = npu.matmul %[[X]], %[[SW13]] none {npu.shared_expert = #npu.shared_expert<gate_up>}
// CHECK: %[[SA:.+]] = npu.swiglu %[[SH]] {npu.shared_expert = #npu.shared_expert<activation>}
// CHECK: %[[S:.+]] = npu.matmul %[[SA]], %[[SW2]] none {npu.shared_expert = #npu.shared_expert<down>}
// CHECK: %[[RS:.+]] = npu.reduce_scatter %[[OUT]] dp
// CHECK: %[[SL:.+]] = npu.slice_rows %[[RS]] to %[[T]]
// CHECK: %[[AR:.+]] = npu.all_reduce %[[SL]] sum tp
// CHECK: %[[SUM:.+]] = npu.add %[[AR]], %[[S]]
// CHECK: return %[[SUM]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @allgather(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>,
                     %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xf32>, tensor<16x64xf32>) : tensor<?x64xf32>
  %r = moe.finalize %o, %pctx shared(%s : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// allgather with sequence parallelism: gather and reduce-scatter over EP, no
// TP all-reduce; EPLB maps ids and masks weights with the expert map.
// CHECK-LABEL: func.func @allgather_sp
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[MAX:.+]] = npu.all_reduce_scalar %[[T]] max ep
// CHECK: npu.all_gather %{{.+}} ep
// CHECK: npu.all_gather %{{.+}} ep
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids %[[IDS]] through %{{.+}} : tensor<?x2xi32>, tensor<16xi32>
// CHECK: %[[MW:.+]] = npu.mask_weights %[[W]], %[[PHYS]], %{{.+}} : tensor<?x2xf32>, tensor<?x2xi32>, tensor<20xi32>
// CHECK: npu.moe_init_routing %{{.+}}, %[[PHYS]] range(%{{.+}}, 5) experts(20) quant_mode(-1) count
// CHECK: npu.moe_token_unpermute %{{.+}}, %{{.+}} probs(%[[MW]] : tensor<?x2xf32>)
// CHECK: %[[RS:.+]] = npu.reduce_scatter %{{.+}} ep
// CHECK: %[[SL:.+]] = npu.slice_rows %[[RS]] to %[[T]]
// CHECK-NOT: npu.all_reduce
// CHECK: return %[[SL]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true, sequence_parallel = true>} {
func.func @allgather_sp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>, %map: tensor<20xi32>,
                        %w13: tensor<5x64x32xf32>, %w2: tensor<5x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>) expert_map(%map : tensor<20xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xf32>, tensor<5x16x64xf32>) : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// allgather without EP (experts tensor-sharded over TP 2): the whole expert
// range is local, no DP gather (dp = 1), all-reduce over TP.
// CHECK-LABEL: func.func @allgather_no_ep
// CHECK-NOT: npu.all_gather
// CHECK-NOT: npu.group_rank
// CHECK: npu.moe_init_routing %{{.+}}, %{{.+}} range(%{{.+}}, 8) experts(8) quant_mode(-1) count
// CHECK-NOT: npu.reduce_scatter
// CHECK: npu.all_reduce %{{.+}} sum tp
module attributes {moe.layout = #moe.layout<tp = 2, dp = 1>} {
func.func @allgather_no_ep(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>, %w13: tensor<8x64x32xf32>, %w2: tensor<8x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<8xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xf32>, tensor<8x16x64xf32>) : tensor<?x64xf32>, tensor<8xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// alltoall, TP 2 x DP 2: pad to tp rows (tokens < tp), keep this TP rank's
// chunk, histogram + gathered counts give the splits, permute, exchange,
// permute by local expert; combine reverses it; all-gather over TP, unpad.
// CHECK-LABEL: func.func @alltoall
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[TP:.+]] = arith.constant 2 : index
// CHECK: %[[XP:.+]] = npu.pad_rows %[[X]] to %[[TP]]
// CHECK: %[[XS:.+]] = npu.tensor_split %[[XP]] tp
// CHECK: %[[LP:.+]] = npu.pad_rows %{{.+}} to %[[TP]]
// CHECK: %[[LS:.+]] = npu.tensor_split %[[LP]] tp
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k %[[LS]]
// CHECK: %[[LOC:.+]] = npu.histogram %[[IDS]] bins(16) : tensor<?x2xi32> -> tensor<16xi64>
// CHECK: %[[GLB:.+]] = npu.all_gather %[[LOC]] ep : tensor<16xi64> -> tensor<?xi64>
// CHECK: %[[IN:.+]], %[[OUTS:.+]], %[[PER:.+]], %[[EIDS:.+]] = npu.alltoall_splits %[[LOC]], %[[GLB]] local_experts(4) ep
// CHECK: %[[PERM:.+]], %[[SORTED:.+]] = npu.moe_token_permute %[[XS]], %[[IDS]]
// CHECK: %[[RECV:.+]] = npu.all_to_all_v %[[PERM]], %[[IN]], %[[OUTS]] ep
// CHECK: %[[ROWS:.+]], %[[SORTED2:.+]] = npu.moe_token_permute %[[RECV]], %[[EIDS]]
// CHECK: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[PER]] none count
// CHECK: %[[Y:.+]] = npu.grouped_matmul %{{.+}}, %{{.+}}, %[[PER]] none count
// CHECK: %[[BACK:.+]] = npu.moe_token_unpermute %[[Y]], %[[SORTED2]] :
// CHECK: %[[RET:.+]] = npu.all_to_all_v %[[BACK]], %[[OUTS]], %[[IN]] ep
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute %[[RET]], %[[SORTED]] probs(%[[W]] : tensor<?x2xf32>)
// CHECK: %[[G:.+]] = npu.all_gather %[[OUT]] tp
// CHECK: %[[R:.+]] = npu.slice_rows %[[G]] to %[[T]]
// CHECK: return %[[R]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @alltoall(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xf32>
}
}

// -----

// alltoall with one local expert per rank: no second permute (seed 002
// `num_local_experts <= 1`), TP 1: no padding, no TP gather.
// CHECK-LABEL: func.func @alltoall_one_local
// CHECK-NOT: npu.pad_rows
// CHECK-NOT: npu.tensor_split
// CHECK: %[[PERM:.+]], %[[SORTED:.+]] = npu.moe_token_permute
// CHECK: %[[RECV:.+]] = npu.all_to_all_v %[[PERM]]
// CHECK-NOT: npu.moe_token_permute
// CHECK: npu.grouped_matmul %[[RECV]]
// CHECK: %[[Y:.+]] = npu.grouped_matmul
// CHECK: %[[RET:.+]] = npu.all_to_all_v %[[Y]]
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute %[[RET]], %[[SORTED]] probs
// CHECK-NOT: npu.all_gather %{{.+}} tp
// CHECK: return %[[OUT]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @alltoall_one_local(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>, %w13: tensor<1x64x32xf32>, %w2: tensor<1x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<1xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x64x32xf32>, tensor<1x16x64xf32>) : tensor<?x64xf32>, tensor<1xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xf32>
}
}

// -----

// mc2, TP 2 x DP 2, A3 (capacity 512): pad to ceil(max_dp / tp) * tp, the
// mc2 mask of real rows, TP slices of rows, logits and mask; dispatch with
// cumulative group lists; w8a8 experts; combine; TP gather and unpad.
// CHECK-LABEL: func.func @mc2
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[MAX:.+]] = npu.all_reduce_scalar %[[T]] max dp
// CHECK: %[[TP:.+]] = arith.constant 2 : index
// CHECK: %[[DIV:.+]] = arith.ceildivui %[[MAX]], %[[TP]]
// CHECK: %[[P:.+]] = arith.muli %[[DIV]], %[[TP]]
// CHECK: %[[MASK:.+]] = npu.mc2_mask %[[T]] of %[[P]] : tensor<?xi1>
// CHECK: %[[XP:.+]] = npu.pad_rows %[[X]] to %[[P]]
// CHECK: %[[LP:.+]] = npu.pad_rows %{{.+}} to %[[P]]
// CHECK: %[[XS:.+]] = npu.tensor_split %[[XP]] tp
// CHECK: %[[LS:.+]] = npu.tensor_split %[[LP]] tp
// CHECK: %[[MS:.+]] = npu.tensor_split %[[MASK]] tp
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k %[[LS]]
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %[[ROWS:[^ ,]+]], %[[IDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[RECV:[^ ,]+]], %[[TPC:[^ ,]+]] = npu.moe_distribute_dispatch %[[XS]], %[[IDS]] x_active_mask(%[[MS]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(512) cumsum v2
// CHECK: %[[Q:.+]], %[[QS:.+]] = npu.dynamic_quant %[[ROWS]] : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[Q]], %{{.+}}, %[[CNT]] w8a8 cumsum : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
// CHECK: %[[Q2:.+]], %[[S2:.+]] = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[QS]], %[[CNT]] cumsum
// CHECK: %[[Y:.+]] = npu.grouped_matmul %[[Q2]], %{{.+}}, %[[CNT]] scale(%{{.+}} : tensor<4x64xf32>) per_token_scale(%[[S2]] : tensor<?xf32>) w8a8 cumsum : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xbf16>
// CHECK: %[[OUT:.+]] = npu.moe_distribute_combine %[[Y]], %[[IDS]] assist_info_for_combine(%[[IDX]] : tensor<?xi32>) ep_send_counts(%[[RECV]] : tensor<16xi32>) expert_scales(%[[W]] : tensor<?x2xf32>) tp_send_counts(%[[TPC]] : tensor<1xi32>) x_active_mask(%[[MS]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
// CHECK: %[[G:.+]] = npu.all_gather %[[OUT]] tp
// CHECK: %[[R:.+]] = npu.slice_rows %[[G]] to %[[T]]
// CHECK: return %[[R]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @mc2(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>,
               %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xbf16> {
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

// mc2 with TP 1 and DP 4: the padding to the longest DP rank is dropped even
// without a TP gather; no chip: the capacity is not checked; a user of the
// counts besides the experts keeps them as counts.
// CHECK-LABEL: func.func @mc2_tp1
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[MAX:.+]] = npu.all_reduce_scalar %[[T]] max dp
// CHECK: npu.mc2_mask %[[T]] of %[[MAX]]
// CHECK-NOT: npu.tensor_split
// CHECK: %[[ROWS:.+]], %{{.+}}, %[[CNT:.+]], %{{.+}} = npu.moe_distribute_dispatch {{.+}} capacity(0) count
// CHECK: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] none count
// CHECK: %[[OUT:.+]] = npu.moe_distribute_combine
// CHECK-NOT: npu.all_gather
// CHECK: %[[R:.+]] = npu.slice_rows %[[OUT]] to %[[T]]
// CHECK: return %[[R]], %[[CNT]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @mc2_tp1(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> (tensor<?x64xf32>, tensor<4xi64>) {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r, %counts : tensor<?x64xf32>, tensor<4xi64>
}
}

// -----

// fused_mc2: mc2's prepare and finalize around one dispatch_ffn_combine; the
// shared experts (w8a8) stay separate, each op marked with its stage.
// CHECK-LABEL: func.func @fused_mc2
// CHECK: %[[MS:.+]] = npu.tensor_split %{{.+}} tp : tensor<?xi1> -> tensor<?xi1>
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids %[[IDS]]
// CHECK: %[[OUT:.+]] = npu.dispatch_ffn_combine %{{.+}}, %[[PHYS]], %[[W]] mask(%[[MS]] : tensor<?xi1>) weights(%{{.+}}, %{{.+}} : tensor<5x64x32xi8>, tensor<5x16x64xi8>) scales(%{{.+}}, %{{.+}} : tensor<5x32xf32>, tensor<5x64xf32>) w8a8 ep_world_size(4) moe_expert_num(20) capacity(512)
// CHECK-NOT: npu.moe_distribute
// CHECK: %[[Q:.+]], %[[QS:.+]] = npu.dynamic_quant %{{.+}} {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xf32>
// CHECK: %[[SH:.+]] = npu.matmul %[[Q]], %{{.+}} scale(%{{.+}} : tensor<32xf32>) per_token_scale(%[[QS]] : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
// CHECK: %[[SA:.+]] = npu.swiglu %[[SH]] {npu.shared_expert = #npu.shared_expert<activation>}
// CHECK: %[[Q2:.+]], %[[QS2:.+]] = npu.dynamic_quant %[[SA]] {npu.shared_expert = #npu.shared_expert<activation>}
// CHECK: %[[S:.+]] = npu.matmul %[[Q2]], %{{.+}} scale(%{{.+}} : tensor<64xf32>) per_token_scale(%[[QS2]] : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xf32>
// CHECK: %[[G:.+]] = npu.all_gather %[[OUT]] tp
// CHECK: %[[SL:.+]] = npu.slice_rows %[[G]]
// CHECK: npu.add %[[SL]], %[[S]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @fused_mc2(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                     %w13: tensor<5x64x32xi8>, %w2: tensor<5x16x64xi8>, %s13: tensor<5x32xf32>, %s2: tensor<5x64xf32>,
                     %sw13: tensor<64x32xi8>, %sw2: tensor<16x64xi8>, %ss13: tensor<32xf32>, %ss2: tensor<64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<fused_mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xi8>, tensor<5x16x64xi8>) scales(%s13, %s2 : tensor<5x32xf32>, tensor<5x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xi8>, tensor<16x64xi8>) scales(%ss13, %ss2 : tensor<32xf32>, tensor<64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xf32>
  %r = moe.finalize %o, %pctx shared(%s : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<fused_mc2>
  return %r : tensor<?x64xf32>
}
}

// -----

// w4a8 experts: quantize, gmm1 with group scales to f32, swiglu, requantize,
// gmm2.
// CHECK-LABEL: func.func @w4a8
// CHECK: %[[Q:.+]], %[[QS:.+]] = npu.dynamic_quant %{{.+}} : tensor<?x64xf16> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[Q]], %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<4x32xf32>) per_token_scale(%[[QS]] : tensor<?xf32>) group_scale(%{{.+}} : tensor<4x4x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
// CHECK: %[[A:.+]] = npu.swiglu %[[H]] : tensor<?x32xf32> -> tensor<?x16xf32>
// CHECK: %[[Q2:.+]], %[[QS2:.+]] = npu.dynamic_quant %[[A]]
// CHECK: npu.grouped_matmul %[[Q2]], %{{.+}}, %{{.+}} scale(%{{.+}} : tensor<4x64xf32>) per_token_scale(%[[QS2]] : tensor<?xf32>) group_scale(%{{.+}} : tensor<4x1x64xf32>) w4a8 count : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xf16>
func.func @w4a8(%x: tensor<?x64xf16>, %logits: tensor<?x4xf32>, %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>,
                %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>, %g13: tensor<4x4x32xf32>, %g2: tensor<4x1x64xf32>) -> tensor<?x64xf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf16>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      group_scales(%g13, %g2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf16>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf16>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf16>
}

// -----

// w4a8 from checkpoint tensors: moe.prepare_weights becomes
// npu.w4a8_process_weights, whose results feed the kernel form of the
// grouped matmuls (merged group scales and bias, no per-channel scale).
// CHECK-LABEL: func.func @w4a8_checkpoint
// CHECK: %[[W13:.+]], %[[M13:.+]], %[[B13:.+]] = npu.w4a8_process_weights %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x4xf32> -> tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>
// CHECK: %[[W2:.+]], %[[M2:.+]], %[[B2:.+]] = npu.w4a8_process_weights %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x64x16xi8>, tensor<4x64x1xf32>, tensor<4x64x1xf32> -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
// CHECK: %[[Q:.+]], %[[QS:.+]] = npu.dynamic_quant
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[Q]], %[[W13]], %{{.+}} per_token_scale(%[[QS]] : tensor<?xf32>) group_scale(%[[M13]] : tensor<4x4x32xf32>) bias(%[[B13]] : tensor<4x32xf32>) w4a8 count
// CHECK: %[[A:.+]] = npu.swiglu %[[H]]
// CHECK: %[[Q2:.+]], %[[QS2:.+]] = npu.dynamic_quant %[[A]]
// CHECK: npu.grouped_matmul %[[Q2]], %[[W2]], %{{.+}} per_token_scale(%[[QS2]] : tensor<?xf32>) group_scale(%[[M2]] : tensor<4x1x64xf32>) bias(%[[B2]] : tensor<4x64xf32>) w4a8 count
func.func @w4a8_checkpoint(%x: tensor<?x64xf16>, %logits: tensor<?x4xf32>,
                           %c13: tensor<4x32x64xi8>, %s13: tensor<4x32x1xf32>, %g13: tensor<4x32x4xf32>,
                           %c2: tensor<4x64x16xi8>, %s2: tensor<4x64x1xf32>, %g2: tensor<4x64x1xf32>) -> tensor<?x64xf16> {
  %w13, %m13, %b13 = moe.prepare_weights %c13, %s13, %g13 quant <w4a8_dynamic, group_size = 16>
      : tensor<4x32x64xi8>, tensor<4x32x1xf32>, tensor<4x32x4xf32> -> tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>
  %w2, %m2, %b2 = moe.prepare_weights %c2, %s2, %g2 quant <w4a8_dynamic, group_size = 16>
      : tensor<4x64x16xi8>, tensor<4x64x1xf32>, tensor<4x64x1xf32> -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf16>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>)
      group_scales(%m13, %m2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>) biases(%b13, %b2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf16>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf16>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf16>
}

// -----

// w4a8 shared experts are weight-only (seed 001's linear method,
// npu_weight_quant_batchmatmul): no quantization, the bf16 hidden states
// go straight into npu.weight_quant_matmul with the antiquant scales, the
// SwiGLU stays bf16; every op keeps its npu.shared_expert stage.
// CHECK-LABEL: func.func @w4a8_shared_weight_only
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK-NOT: npu.dynamic_quant {{.*}}npu.shared_expert
// CHECK: %[[SH:.+]] = npu.weight_quant_matmul %[[X]], %{{.+}} antiquant_scale(%{{.+}} : tensor<4x32xf32>) group_size(16) {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xbf16>
// CHECK: %[[SA:.+]] = npu.swiglu %[[SH]] {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
// CHECK-NOT: npu.dynamic_quant
// CHECK: %[[S:.+]] = npu.weight_quant_matmul %[[SA]], %{{.+}} antiquant_scale(%{{.+}} : tensor<1x64xf32>) group_size(16) {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xi4> -> tensor<?x64xbf16>
// CHECK: npu.add %{{.+}}, %[[S]]
func.func @w4a8_shared_weight_only(%x: tensor<?x64xbf16>, %logits: tensor<?x4xf32>,
                                   %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>, %m13: tensor<4x4x32xf32>,
                                   %m2: tensor<4x1x64xf32>, %b13: tensor<4x32xf32>, %b2: tensor<4x64xf32>,
                                   %sw13: tensor<64x32xi4>, %sw2: tensor<16x64xi4>,
                                   %sg13: tensor<4x32xf32>, %sg2: tensor<1x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>)
      group_scales(%m13, %m2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>) biases(%b13, %b2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w4a8_dynamic, group_size = 16> : tensor<?x64xbf16>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<allgather>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xi4>, tensor<16x64xi4>)
      group_scales(%sg13, %sg2 : tensor<4x32xf32>, tensor<1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xbf16>
  %r = moe.finalize %o, %pctx shared(%s : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xbf16>
}

// -----

// A quant version 1.0.0 checkpoint stack: its scale_bias reaches the device
// op (expert parallel: tp 1, 16 partial sums).
// CHECK-LABEL: func.func @w4a8_version1
// CHECK: npu.w4a8_process_weights %{{.+}}, %{{.+}}, %{{.+}} scale_bias(%{{.+}} : tensor<4x64x16xf32>) : tensor<4x32x16xi8>, tensor<4x64x1xf32>, tensor<4x64x1xf32> -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
func.func @w4a8_version1(%c2: tensor<4x32x16xi8>, %s2: tensor<4x64x1xf32>, %g2: tensor<4x64x1xf32>,
                         %b2: tensor<4x64x16xf32>) -> tensor<4x64xf32> {
  %w2, %m2, %b = moe.prepare_weights %c2, %s2, %g2 scale_bias(%b2 : tensor<4x64x16xf32>)
      quant <w4a8_dynamic, group_size = 16>
      : tensor<4x32x16xi8>, tensor<4x64x1xf32>, tensor<4x64x1xf32> -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
  return %b : tensor<4x64xf32>
}
}

// -----

// A single device: prepare and finalize produce nothing; the layer is gate,
// init routing, experts and unpermute. A rank with zero tokens (static 0)
// expands like any other.
// CHECK-LABEL: func.func @empty_rank
// CHECK-SAME: (%[[X:[^:]+]]: tensor<0x64xf32>, %[[LG:[^:]+]]: tensor<0x4xf32>
// CHECK-NOT: npu.pad_rows
// CHECK: %[[XC:.+]] = tensor.cast %[[X]] : tensor<0x64xf32> to tensor<?x64xf32>
// CHECK: %[[LC:.+]] = tensor.cast %[[LG]] : tensor<0x4xf32> to tensor<?x4xf32>
// CHECK: npu.moe_gating_top_k %[[LC]]
// CHECK: npu.moe_init_routing %[[XC]]
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute
// CHECK-NOT: npu.slice_rows
// CHECK: return %[[OUT]]
func.func @empty_rank(%x: tensor<0x64xf32>, %logits: tensor<0x4xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<0x64xf32>, tensor<0x4xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}

// -----

// Two layers in a row: the second layer's token count is the first layer's,
// not a query of a tensor still being computed.
// CHECK-LABEL: func.func @two_layers
// CHECK-COUNT-1: tensor.dim
// CHECK-NOT: tensor.dim
// CHECK: return
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
func.func @two_layers(%x: tensor<?x64xf32>, %l0: tensor<?x4xf32>, %l1: tensor<?x4xf32>, %w13: tensor<2x64x32xf32>, %w2: tensor<2x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %l0 : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xf32>, tensor<2x16x64xf32>) : tensor<?x64xf32>, tensor<2xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %x1 = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  %h1, %m1, %pctx1 = moe.prepare %x1, %l1 : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<alltoall>
  %w1, %ids1 = moe.gate %m1 top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows1, %counts1, %dctx1 = moe.dispatch %h1, %w1, %ids1 experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<alltoall>
  %y1 = moe.experts %rows1, %counts1 weights(%w13, %w2 : tensor<2x64x32xf32>, tensor<2x16x64xf32>) : tensor<?x64xf32>, tensor<2xi64>
  %o1 = moe.combine %y1, %dctx1 : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %x2 = moe.finalize %o1, %pctx1 : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %x2 : tensor<?x64xf32>
}
}

// -----

// The run-time method choice: the maximum token count over the world, and
// the index of the first threshold it does not exceed.
// CHECK-LABEL: func.func @choose
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[M:.+]] = npu.all_reduce_scalar %[[T]] max world
// CHECK: %[[GT0:.+]] = arith.cmpi ugt, %[[M]], %{{.+}} : index
// CHECK: arith.select %[[GT0]]
// CHECK: %[[GT1:.+]] = arith.cmpi ugt, %[[M]], %{{.+}} : index
// CHECK: arith.select %[[GT1]]
// CHECK: %[[I:.+]] = arith.addi
// CHECK: return %[[I]]
func.func @choose(%x: tensor<?x64xf32>) -> index {
  %i = moe.choose_method %x thresholds [16, 512] methods [allgather, mc2, alltoall] : tensor<?x64xf32>
  return %i : index
}

// -----

// mc2 with sequence parallelism: every rank's own tokens, no TP slicing or
// gathering, padding to the longest rank of the EP group.
// CHECK-LABEL: func.func @mc2_sp
// CHECK: %[[T:.+]] = tensor.dim
// CHECK-NOT: npu.expect_uniform
// CHECK: %[[MAX:.+]] = npu.all_reduce_scalar %[[T]] max ep
// CHECK-NOT: arith.ceildivui
// CHECK: npu.mc2_mask %[[T]] of %[[MAX]]
// CHECK-NOT: npu.tensor_split
// CHECK: npu.moe_distribute_dispatch
// CHECK: %[[OUT:.+]] = npu.moe_distribute_combine
// CHECK-NOT: npu.all_gather
// CHECK: npu.slice_rows %[[OUT]] to %[[T]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true, sequence_parallel = true>} {
func.func @mc2_sp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}
}

// -----

// Contexts cross region boundaries: prepare before a run-time method choice,
// the rest of the layer inside the scf.index_switch cases. Each case reads
// the token count and mask prepare made outside the switch.
// CHECK-LABEL: func.func @across_switch
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[MASK:.+]] = npu.mc2_mask %[[T]] of
// CHECK: %[[I:.+]] = arith.addi
// CHECK: scf.index_switch %[[I]]
// CHECK: case 0 {
// CHECK: npu.moe_distribute_dispatch {{.*}} x_active_mask(%[[MASK]] : tensor<?xi1>)
// CHECK: %[[C0:.+]] = npu.moe_distribute_combine {{.*}} x_active_mask(%[[MASK]] : tensor<?xi1>)
// CHECK: %[[R0:.+]] = npu.slice_rows %[[C0]] to %[[T]]
// CHECK: scf.yield %[[R0]]
// CHECK: default {
// CHECK: npu.moe_distribute_dispatch {{.*}} x_active_mask(%[[MASK]] : tensor<?xi1>)
// CHECK-NOT: moe.
// CHECK: return
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @across_switch(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>, %w13: tensor<2x64x32xf32>, %w2: tensor<2x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<mc2>
  %i = moe.choose_method %x thresholds [16] methods [mc2, mc2] : tensor<?x64xf32>
  %r = scf.index_switch %i -> tensor<?x64xf32>
  case 0 {
    %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xf32>, tensor<2x16x64xf32>) : tensor<?x64xf32>, tensor<2xi64>
    %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
    %f = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
    scf.yield %f : tensor<?x64xf32>
  }
  default {
    %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xf32>, tensor<2x16x64xf32>) : tensor<?x64xf32>, tensor<2xi64>
    %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
    %f = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
    scf.yield %f : tensor<?x64xf32>
  }
  return %r : tensor<?x64xf32>
}
}

// -----

// A function without moe ops is left as it is (the pass runs without the
// moe dialect being loaded).
// CHECK-LABEL: func.func @no_layer
// CHECK-NEXT: return %{{.+}} : index
func.func @no_layer(%i: index) -> index {
  return %i : index
}

// -----

// allgather with the router weight on the input (seed 002,
// apply_router_weight_on_input, top-1), EP 2 with an expert map: the weights
// scale the gathered hidden states before init-routing; the combine sums
// each token's rows with weight one (masked like the weights would be).
// CHECK-LABEL: func.func @router_weight_on_input
// CHECK: %[[XG:.+]] = npu.all_gather %{{.+}} dp
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k
// CHECK: %[[XW:.+]] = npu.scale_rows %[[XG]], %[[W]] : tensor<?x64xf32>, tensor<?x1xf32>
// CHECK: %[[ONES:.+]] = npu.ones_like %[[W]] : tensor<?x1xf32>
// CHECK: %[[MASKED:.+]] = npu.mask_weights %[[ONES]], %[[IDS]], %{{.+}}
// CHECK: %{{.+}}, %[[RIDX:.+]], %{{.+}} = npu.moe_init_routing %[[XW]], %[[IDS]]
// CHECK: npu.moe_token_unpermute %{{.+}}, %[[RIDX]] probs(%[[MASKED]] : tensor<?x1xf32>)
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
func.func @router_weight_on_input(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>, %map: tensor<8xi32>,
                                  %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x8xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) expert_map(%map : tensor<8xi32>) router_weight_on_input
      : tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// Seed 000 flags, allgather, DP 2 x TP 2: reduce_results(false) keeps the
// DP reduce-scatter and drops the TP all-reduce (_finalize_with_dp_group);
// the caller adds the shared output and reduces once.
// CHECK-LABEL: func.func @allgather_no_reduce
// CHECK: npu.expect_uniform
// CHECK: npu.all_gather %{{.+}} dp
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute
// CHECK: %[[RS:.+]] = npu.reduce_scatter %[[OUT]] dp
// CHECK: %[[SL:.+]] = npu.slice_rows %[[RS]]
// CHECK-NOT: npu.all_reduce
// CHECK: return %[[SL]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @allgather_no_reduce(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx reduce_results(false) : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// fp8 block scheme (seed 003, DeepSeek style): weights dequantized per
// 128 x 128 block to f32, activations quantized-dequantized per token-group
// of 128, float grouped matmuls with results in the rows' type.
// CHECK-LABEL: func.func @fp8_block_experts
// CHECK-DAG: %[[W13:.+]] = npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x2x2xf32>) fp8_e4m3 block(128, 128) : tensor<2x256x256xf8E4M3FN> -> tensor<2x256x256xf32>
// CHECK-DAG: %[[W2:.+]] = npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x1x2xf32>) fp8_e4m3 block(128, 128) : tensor<2x128x256xf8E4M3FN> -> tensor<2x128x256xf32>
// CHECK: %[[X:.+]] = npu.quant_dequant %{{.+}} fp8_e4m3 group_size(128) : tensor<?x256xbf16> -> tensor<?x256xf32>
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[X]], %[[W13]], %{{.+}} none count : tensor<?x256xf32>, tensor<2x256x256xf32>, tensor<2xi64> -> tensor<?x256xbf16>
// CHECK: %[[A:.+]] = npu.swiglu %[[H]] : tensor<?x256xbf16> -> tensor<?x128xbf16>
// CHECK: %[[A2:.+]] = npu.quant_dequant %[[A]] fp8_e4m3 group_size(128) : tensor<?x128xbf16> -> tensor<?x128xf32>
// CHECK: npu.grouped_matmul %[[A2]], %[[W2]], %{{.+}} none count : tensor<?x128xf32>, tensor<2x128x256xf32>, tensor<2xi64> -> tensor<?x256xbf16>
func.func @fp8_block_experts(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
               %w13: tensor<2x256x256xf8E4M3FN>, %w2: tensor<2x128x256xf8E4M3FN>,
               %s13: tensor<2x2x2xf32>, %s2: tensor<2x1x2xf32>) -> tensor<?x256xbf16> {
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x256x256xf8E4M3FN>, tensor<2x128x256xf8E4M3FN>)
      scales(%s13, %s2 : tensor<2x2x2xf32>, tensor<2x1x2xf32>)
      quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
             w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

// mxfp4 w4a4 (OCP MX): packed weights [L, K / 2, N] with e8m0 bytes per 32
// rows dequantized to f32, rows quantized per block of 32 after the
// dispatch (docs/Quantization.md, "mxfp4 and nvfp4").
// CHECK-LABEL: func.func @mxfp4_experts
// CHECK-DAG: %[[W13:.+]] = npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x8x256xi8>) mxfp4 : tensor<2x128x256xi8> -> tensor<2x256x256xf32>
// CHECK-DAG: %[[W2:.+]] = npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x4x256xi8>) mxfp4 : tensor<2x64x256xi8> -> tensor<2x128x256xf32>
// CHECK: %[[X:.+]] = npu.quant_dequant %{{.+}} mxfp4 group_size(32) : tensor<?x256xbf16> -> tensor<?x256xf32>
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[X]], %[[W13]], %{{.+}} none count : tensor<?x256xf32>, tensor<2x256x256xf32>, tensor<2xi64> -> tensor<?x256xbf16>
// CHECK: %[[A:.+]] = npu.swiglu %[[H]]
// CHECK: %[[A2:.+]] = npu.quant_dequant %[[A]] mxfp4 group_size(32) : tensor<?x128xbf16> -> tensor<?x128xf32>
// CHECK: npu.grouped_matmul %[[A2]], %[[W2]], %{{.+}} none count
func.func @mxfp4_experts(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                         %w13: tensor<2x128x256xi8>, %w2: tensor<2x64x256xi8>,
                         %s13: tensor<2x8x256xi8>, %s2: tensor<2x4x256xi8>) -> tensor<?x256xbf16> {
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x128x256xi8>, tensor<2x64x256xi8>)
      scales(%s13, %s2 : tensor<2x8x256xi8>, tensor<2x4x256xi8>)
      quant <a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

// nvfp4: e4m3 scales per 16 rows and the per-expert global scales
// (group_scales); rows per block of 16. Weight-only mxfp4 (w4a16)
// dequantizes into the rows' type and leaves the rows alone.
// CHECK-LABEL: func.func @nvfp4_experts
// CHECK-DAG: npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x4x64xf8E4M3FN>) global(%{{.+}} : tensor<2xf32>) nvfp4 : tensor<2x32x64xi8> -> tensor<2x64x64xf32>
// CHECK-DAG: npu.dequantize_fp4_weights %{{.+}} scale(%{{.+}} : tensor<2x2x64xf8E4M3FN>) global(%{{.+}} : tensor<2xf32>) nvfp4 : tensor<2x16x64xi8> -> tensor<2x32x64xf32>
// CHECK: npu.quant_dequant %{{.+}} nvfp4 group_size(16) : tensor<?x64xf16> -> tensor<?x64xf32>
// CHECK: npu.quant_dequant %{{.+}} nvfp4 group_size(16) : tensor<?x32xf16> -> tensor<?x32xf32>
// CHECK-LABEL: func.func @mxfp4_w4a16
// CHECK-NOT: npu.quant_dequant
// CHECK: npu.dequantize_fp4_weights %{{.+}} mxfp4 : tensor<2x32x64xi8> -> tensor<2x64x64xf16>
// CHECK-NOT: npu.quant_dequant
// CHECK: npu.grouped_matmul %{{.+}} none count : tensor<?x64xf16>, tensor<2x64x64xf16>
func.func @nvfp4_experts(%rows: tensor<?x64xf16>, %counts: tensor<2xi64>,
                         %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>,
                         %s13: tensor<2x4x64xf8E4M3FN>, %s2: tensor<2x2x64xf8E4M3FN>,
                         %g13: tensor<2xf32>, %g2: tensor<2xf32>) -> tensor<?x64xf16> {
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>)
      scales(%s13, %s2 : tensor<2x4x64xf8E4M3FN>, tensor<2x2x64xf8E4M3FN>)
      group_scales(%g13, %g2 : tensor<2xf32>, tensor<2xf32>)
      quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>
      : tensor<?x64xf16>, tensor<2xi64>
  return %y : tensor<?x64xf16>
}
func.func @mxfp4_w4a16(%rows: tensor<?x64xf16>, %counts: tensor<2xi64>,
                       %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>,
                       %s13: tensor<2x2x64xi8>, %s2: tensor<2x1x64xi8>) -> tensor<?x64xf16> {
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>)
      scales(%s13, %s2 : tensor<2x2x64xi8>, tensor<2x1x64xi8>)
      quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x64xf16>, tensor<2xi64>
  return %y : tensor<?x64xf16>
}

// -----

// moge (seed 002 TokenDispatcherWithMoge), EP 2 with 4 balanced groups
// (top-4, two groups per rank, top_k / ep = 2): the all-gather prepare of
// allgather; npu.moge_dispatch takes this rank's two experts of every token
// from the range [rank * 4, rank * 4 + 4), argsorts them, gathers rows and
// counts a cumulative group list; the experts scale their activations by
// topk_scales before the down projection; npu.moge_combine undoes the
// permutation and sums each token's two rows; finalize reduce-scatters as
// allgather does.
// CHECK-LABEL: func.func @moge
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>, %[[LG:.+]]: tensor<?x8xf32>, %[[W13:[^:]+]]: tensor<4x64x32xf32>, %[[W2:[^:]+]]: tensor<4x16x64xf32>)
// CHECK: %[[XG:.+]] = npu.all_gather %{{.+}} dp
// CHECK: %[[LGG:.+]] = npu.all_gather %{{.+}} dp
// CHECK: %[[W:.+]], %[[IDS:.+]] = npu.moe_gating_top_k %[[LGG]] k(4) softmax groups(4, 4) balanced
// CHECK: %[[RANK:.+]] = npu.group_rank ep
// CHECK: %[[START:.+]] = arith.muli %[[RANK]], %{{.+}} : index
// CHECK: %[[ROWS:.+]], %[[SORTED:.+]], %[[GL:.+]], %[[SCALES:.+]] = npu.moge_dispatch %[[XG]], %[[IDS]], %[[W]] range(%[[START]], 4) k_per_rank(2) cumsum : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>, tensor<?x1xf32>
// CHECK: %[[H:.+]] = npu.grouped_matmul %[[ROWS]], %[[W13]], %[[GL]] none cumsum
// CHECK: %[[A:.+]] = npu.swiglu %[[H]]
// CHECK: %[[AS:.+]] = npu.scale_rows %[[A]], %[[SCALES]] : tensor<?x16xf32>, tensor<?x1xf32>
// CHECK: %[[Y:.+]] = npu.grouped_matmul %[[AS]], %[[W2]], %[[GL]] none cumsum
// CHECK: %[[O:.+]] = npu.moge_combine %[[Y]], %[[SORTED]] k_per_rank(2) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK: npu.reduce_scatter %[[O]] dp
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
func.func @moge(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>,
                %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<moge>
  %w, %ids = moe.gate %l top_k(4) softmax groups(4, 4) balanced : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8)
      : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<moge>
  return %r : tensor<?x64xf32>
}
}

// -----

// allgather with enable_shared_expert_dp, DP 2 x TP 2: prepare still pads
// and gathers over DP; finalize skips the DP reduce-scatter and the unpad
// but, with reduce_results, still all-reduces over TP.
// CHECK-LABEL: func.func @allgather_shared_expert_dp
// CHECK: npu.all_reduce_scalar %{{.+}} max dp
// CHECK: npu.all_gather %{{.+}} dp
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute
// CHECK-NOT: npu.reduce_scatter
// CHECK-NOT: npu.slice_rows
// CHECK: %[[AR:.+]] = npu.all_reduce %[[OUT]] sum tp
// CHECK: return %[[AR]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @allgather_shared_expert_dp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits enable_shared_expert_dp : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// alltoall with replace_allreduce, TP 2 x DP 2 (PrepareAndFinalizeWithAll2All):
// the TP ranks hold distinct tokens, so no uniformity check, no padding to
// tp rows, no TP slice, and no TP gather or unpad in finalize; the shared
// output is still added; reduce_results(false) changes nothing here.
// CHECK-LABEL: func.func @alltoall_replace_allreduce
// CHECK-NOT: npu.expect_uniform
// CHECK-NOT: npu.pad_rows
// CHECK-NOT: npu.tensor_split
// CHECK: npu.moe_gating_top_k
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute %{{.+}}, %{{.+}} probs
// CHECK-NOT: npu.all_gather %{{.+}} tp
// CHECK-NOT: npu.slice_rows
// CHECK-NOT: npu.all_reduce
// CHECK: return %[[OUT]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @alltoall_replace_allreduce(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits replace_allreduce : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %r = moe.finalize %o, %pctx reduce_results(false) : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xf32>
}
}

// -----

// mc2 and fused_mc2 with enable_shared_expert_dp / replace_allreduce, TP 2 x
// DP 2 (PrepareAndFinalizeWithMC2): no padding to padded_num_tokens, no TP
// slices; the mask marks every one of the rank's T rows; finalize gathers
// and unpads nothing.
// CHECK-LABEL: func.func @mc2_shared_expert_dp
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>
// CHECK-NOT: npu.expect_uniform
// CHECK-NOT: npu.all_reduce_scalar
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[MASK:.+]] = npu.mc2_mask %[[T]] of %[[T]] : tensor<?xi1>
// CHECK-NOT: npu.pad_rows
// CHECK-NOT: npu.tensor_split
// CHECK: npu.moe_distribute_dispatch %[[X]], %{{.+}} x_active_mask(%[[MASK]] : tensor<?xi1>)
// CHECK: %[[OUT:.+]] = npu.moe_distribute_combine
// CHECK-NOT: npu.all_gather
// CHECK-NOT: npu.slice_rows
// CHECK: return %[[OUT]]
// CHECK-LABEL: func.func @fused_mc2_replace_allreduce
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[MASK:.+]] = npu.mc2_mask %[[T]] of %[[T]] : tensor<?xi1>
// CHECK-NOT: npu.tensor_split
// CHECK: %[[OUT:.+]] = npu.dispatch_ffn_combine %[[X]], %{{.+}}, %{{.+}} mask(%[[MASK]] : tensor<?xi1>)
// CHECK-NOT: npu.all_gather
// CHECK-NOT: npu.slice_rows
// CHECK: return %[[OUT]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>, moe.chip = #moe.chip<A3>} {
func.func @mc2_shared_expert_dp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits enable_shared_expert_dp : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}
func.func @fused_mc2_replace_allreduce(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits replace_allreduce : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<fused_mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<fused_mc2>
  return %r : tensor<?x64xf32>
}
}

// -----

// Prefill context parallelism, DP 2 x PCP 2 (seed 000
// _prepare_with_dp_group / _finalize_with_dp_group): pad to the longest rank
// of both groups, gather over DP then PCP; finalize reduce-scatters over PCP
// first (undoing the last gather), then DP, and drops the padding.
// CHECK-LABEL: func.func @allgather_pcp
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[LG:[^:]+]]: tensor<?x16xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[M1:.+]] = npu.all_reduce_scalar %[[T]] max dp
// CHECK: %[[M2:.+]] = npu.all_reduce_scalar %[[M1]] max pcp
// CHECK: %[[XP:.+]] = npu.pad_rows %[[X]] to %[[M2]]
// CHECK: %[[XD:.+]] = npu.all_gather %[[XP]] dp
// CHECK: %[[XG:.+]] = npu.all_gather %[[XD]] pcp
// CHECK: %[[LP:.+]] = npu.pad_rows %[[LG]] to %[[M2]]
// CHECK: %[[LD:.+]] = npu.all_gather %[[LP]] dp
// CHECK: %[[LGG:.+]] = npu.all_gather %[[LD]] pcp
// CHECK: npu.moe_gating_top_k %[[LGG]]
// CHECK: npu.moe_init_routing %[[XG]]
// CHECK: %[[OUT:.+]] = npu.moe_token_unpermute
// CHECK: %[[R1:.+]] = npu.reduce_scatter %[[OUT]] pcp
// CHECK: %[[R2:.+]] = npu.reduce_scatter %[[R1]] dp
// CHECK: %[[SL:.+]] = npu.slice_rows %[[R2]] to %[[T]]
// CHECK-NOT: npu.all_reduce
// CHECK: return %[[SL]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true, pcp = 2>} {
func.func @allgather_pcp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// With DP 1 only the PCP group is gathered and reduce-scattered.
// CHECK-LABEL: func.func @allgather_pcp_only
// CHECK-NOT: npu.all_gather %{{.+}} dp
// CHECK: npu.all_reduce_scalar %{{.+}} max pcp
// CHECK: npu.all_gather %{{.+}} pcp
// CHECK: %[[R:.+]] = npu.reduce_scatter %{{.+}} pcp
// CHECK-NOT: npu.reduce_scatter
// CHECK: npu.slice_rows %[[R]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 1, expert_parallel = true, pcp = 4>} {
func.func @allgather_pcp_only(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// moge on one device: every expert local (start 0, top_k / 1 = 2 per token).
// CHECK-LABEL: func.func @moge_one_device
// CHECK-NOT: npu.all_gather
// CHECK: npu.moge_dispatch %{{.+}}, %{{.+}}, %{{.+}} range(%{{.+}}, 4) k_per_rank(2) cumsum
// CHECK: npu.scale_rows
// CHECK: npu.moge_combine %{{.+}}, %{{.+}} k_per_rank(2)
// CHECK-NOT: npu.reduce_scatter
func.func @moge_one_device(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>,
                           %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<moge>
  %w, %ids = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<moge>
  return %r : tensor<?x64xf32>
}

// -----

// int8 w8a16 (weight-only, per output channel): the weights dequantized to
// the rows' type, no activation quantization.
// CHECK-LABEL: func.func @int8_w8a16_experts
// CHECK-DAG: %[[W13:.+]] = npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x1x64xf32>) int8 block(64, 1) : tensor<2x64x64xi8> -> tensor<2x64x64xf16>
// CHECK-DAG: %[[W2:.+]] = npu.dequantize_weights %{{.+}} scale(%{{.+}} : tensor<2x1x64xf32>) int8 block(32, 1) : tensor<2x32x64xi8> -> tensor<2x32x64xf16>
// CHECK-NOT: npu.quant_dequant
// CHECK: %[[H:.+]] = npu.grouped_matmul %{{.+}}, %[[W13]], %{{.+}} none count : tensor<?x64xf16>, tensor<2x64x64xf16>, tensor<2xi64> -> tensor<?x64xf16>
// CHECK: %[[A:.+]] = npu.swiglu %[[H]]
// CHECK: npu.grouped_matmul %[[A]], %[[W2]], %{{.+}} none count : tensor<?x32xf16>, tensor<2x32x64xf16>, tensor<2xi64> -> tensor<?x64xf16>
func.func @int8_w8a16_experts(%rows: tensor<?x64xf16>, %counts: tensor<2xi64>,
               %w13: tensor<2x64x64xi8>, %w2: tensor<2x32x64xi8>,
               %s13: tensor<2x1x64xf32>, %s2: tensor<2x1x64xf32>) -> tensor<?x64xf16> {
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x64x64xi8>, tensor<2x32x64xi8>)
      scales(%s13, %s2 : tensor<2x1x64xf32>, tensor<2x1x64xf32>)
      quant <w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>
      : tensor<?x64xf16>, tensor<2xi64>
  return %y : tensor<?x64xf16>
}

// -----

// Qwen2-MoE's gated shared expert: sigmoid(x . Wg) (a gate-up stage, it
// reads x) scales the shared output (the down stage's last op), which
// finalize adds.
// CHECK-LABEL: func.func @gated_shared_expert
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK-SAME: %[[WG:[^:]+]]: tensor<64x1xbf16>
// CHECK: %[[SH:.+]] = npu.matmul %[[X]], %{{.+}} none {npu.shared_expert = #npu.shared_expert<gate_up>}
// CHECK: %[[SA:.+]] = npu.swiglu %[[SH]] {npu.shared_expert = #npu.shared_expert<activation>}
// CHECK: %[[S:.+]] = npu.matmul %[[SA]], %{{.+}} none {npu.shared_expert = #npu.shared_expert<down>}
// CHECK: %[[G:.+]] = npu.sigmoid_gate %[[X]], %[[WG]] {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x1xbf16> -> tensor<?x1xf32>
// CHECK: %[[GS:.+]] = npu.scale_rows %[[S]], %[[G]] {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x64xbf16>, tensor<?x1xf32>
// CHECK: npu.add %{{.+}}, %[[GS]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
func.func @gated_shared_expert(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>,
                               %sw13: tensor<64x48xbf16>, %sw2: tensor<24x64xbf16>, %wg: tensor<64x1xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<8xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xbf16>, tensor<8x16x64xbf16>) : tensor<?x64xbf16>, tensor<8xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<alltoall>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x48xbf16>, tensor<24x64xbf16>) gate(%wg : tensor<64x1xbf16>) : tensor<?x64xbf16>
  %r = moe.finalize %o, %pctx shared(%s : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xbf16>
}
}

// -----

// Dynamic EPLB (docs/Eplb.md): with log2phy under EP every method records
// its real rows per physical expert. alltoall under TP 2 keeps one TP slice
// of the padded tokens: the mask of real rows is padded and sliced the same
// way.
// CHECK-LABEL: func.func @eplb_alltoall_tp
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids
// CHECK: %[[M:.+]] = npu.mc2_mask %[[T]] of %[[T]] : tensor<?xi1>
// CHECK: %[[MP:.+]] = npu.pad_rows %[[M]] to %{{.+}} : tensor<?xi1> -> tensor<?xi1>
// CHECK: %[[MS:.+]] = npu.tensor_split %[[MP]] tp : tensor<?xi1> -> tensor<?xi1>
// CHECK: npu.record_expert_load %[[PHYS]] valid(%[[MS]]) experts(20) : tensor<?x2xi32>, tensor<?xi1>
// CHECK: npu.histogram %[[PHYS]]
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @eplb_alltoall_tp(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                            %w13: tensor<5x64x32xf32>, %w2: tensor<5x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xf32>, tensor<5x16x64xf32>) : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xf32>
}
}

// -----

// mc2 and fused_mc2 record the rows their mc2 mask marks real (on A3 with
// dispatch v2 the same mask is the dispatch's x_active_mask).
// CHECK-LABEL: func.func @eplb_mc2
// CHECK: %[[M:.+]] = npu.mc2_mask
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids
// CHECK: npu.record_expert_load %[[PHYS]] valid(%[[M]]) experts(20) : tensor<?x2xi32>, tensor<?xi1>
// CHECK: npu.moe_distribute_dispatch %{{.+}}, %[[PHYS]] x_active_mask(%[[M]] : tensor<?xi1>)
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @eplb_mc2(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                    %w13: tensor<5x64x32xf32>, %w2: tensor<5x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xf32>, tensor<5x16x64xf32>) : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}
}

// -----

// CHECK-LABEL: func.func @eplb_fused_mc2
// CHECK: %[[M:.+]] = npu.mc2_mask
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids
// CHECK: npu.record_expert_load %[[PHYS]] valid(%[[M]]) experts(20) : tensor<?x2xi32>, tensor<?xi1>
// CHECK: npu.dispatch_ffn_combine %{{.+}}, %[[PHYS]]
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @eplb_fused_mc2(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                          %w13: tensor<5x64x32xf32>, %w2: tensor<5x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<fused_mc2>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xf32>, tensor<5x16x64xf32>) : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<fused_mc2>
  return %r : tensor<?x64xf32>
}
}

// -----

// allgather's rows are the DP group's gathered tokens: every rank counts its
// own experts (`gathered`), and the padding rows are masked by a mask of
// real rows padded to the longest rank and gathered like the tokens.
// CHECK-LABEL: func.func @eplb_allgather
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[PHYS:.+]] = npu.map_expert_ids
// CHECK: %[[MOST:.+]] = npu.all_reduce_scalar %[[T]] max dp
// CHECK: %[[M:.+]] = npu.mc2_mask %[[T]] of %[[MOST]] : tensor<?xi1>
// CHECK: %[[MG:.+]] = npu.all_gather %[[M]] dp : tensor<?xi1> -> tensor<?xi1>
// CHECK: npu.record_expert_load %[[PHYS]] valid(%[[MG]]) experts(20) gathered : tensor<?x2xi32>, tensor<?xi1>
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
func.func @eplb_allgather(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>, %map: tensor<20xi32>,
                          %w13: tensor<5x64x32xf32>, %w2: tensor<5x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>) expert_map(%map : tensor<20xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<5x64x32xf32>, tensor<5x16x64xf32>) : tensor<?x64xf32>, tensor<5xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}

// -----

// No log2phy, or no expert parallelism: nothing to balance, no record.
// CHECK-LABEL: func.func @eplb_none
// CHECK-NOT: npu.record_expert_load
// CHECK: return
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @eplb_none(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>,
                     %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<alltoall>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  return %r : tensor<?x64xf32>
}
}

// -----

// CHECK-LABEL: func.func @eplb_no_ep
// CHECK-NOT: npu.record_expert_load
// CHECK: return
module attributes {moe.layout = #moe.layout<tp = 2, dp = 1>} {
func.func @eplb_no_ep(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                      %w13: tensor<20x64x32xf32>, %w2: tensor<20x16x64xf32>) -> tensor<?x64xf32> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x16xf32> -> !moe.prepare_ctx<allgather>
  %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16 + 4) log2phy(%l2p : tensor<16xi32>)
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<20xi64>, !moe.dispatch_ctx<allgather>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<20x64x32xf32>, tensor<20x16x64xf32>) : tensor<?x64xf32>, tensor<20xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<allgather>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r : tensor<?x64xf32>
}
}
