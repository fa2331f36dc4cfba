// RUN: moe-opt %s -moe-fuse-quant-into-dispatch | FileCheck %s
// Idempotence: a second run changes nothing.
// RUN: moe-opt %s -moe-fuse-quant-into-dispatch -o %t.once.mlir
// RUN: moe-opt %t.once.mlir -moe-fuse-quant-into-dispatch -o %t.twice.mlir
// RUN: diff %t.once.mlir %t.twice.mlir
// RUN: moe-opt %s -moe-fuse-quant-into-dispatch -moe-fuse-quant-into-dispatch | FileCheck %s

// Hand-written level-2 layers in the shapes of docs/Expansion.md: E' = 16
// physical experts over ep = 4 ranks (L = 4, or L = 1 with E' = 4), K = 4,
// H = 64, I = 16. Refusals and their remarks: fuse-quant-into-dispatch-remarks.mlir.

//===----------------------------------------------------------------------===//
// (a) allgather without sequence parallelism (dp gather), w8a8 experts:
// init-routing quantizes the rows itself; the gather stays float.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @allgather_dp_w8a8
// CHECK: %[[XG:[^ ]+]] = npu.all_gather %{{.+}} dp : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK: %[[W:[^ ,]+]], %[[IDS:[^ ]+]] = npu.moe_gating_top_k
// CHECK: %[[START:[^ ]+]] = arith.muli
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[RIDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[XG]], %[[IDS]] range(%[[START]], 4) experts(16) quant_mode(1) count : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
// CHECK-NEXT: %[[Q2:[^ ,]+]], %[[S2:[^ ]+]] = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[SCALE]], %[[CNT]] count
// CHECK-NEXT: %[[Y:[^ ]+]] = npu.grouped_matmul %[[Q2]], %{{.+}}, %[[CNT]] scale(%{{.+}} : tensor<4x64xf32>) per_token_scale(%[[S2]] : tensor<?xf32>) w8a8 count
// CHECK-NEXT: npu.moe_token_unpermute %[[Y]], %[[RIDX]] probs(%[[W]] : tensor<?x4xf32>)
// CHECK-NOT: npu.dynamic_quant
// CHECK: return
func.func @allgather_dp_w8a8(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>,
                             %w13: tensor<4x64x32xi8>, %s13: tensor<4x32xf32>,
                             %w2: tensor<4x16x64xi8>, %s2: tensor<4x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %maxT = npu.all_reduce_scalar %t max dp
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xf32> -> tensor<?x64xf32>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg = npu.all_gather %xp dp : tensor<?x64xf32> -> tensor<?x64xf32>
  %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %c4 = arith.constant 4 : index
  %start = arith.muli %r, %c4 : index
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %rs = npu.reduce_scatter %out dp : tensor<?x64xf32> -> tensor<?x64xf32>
  %o = npu.slice_rows %rs to %t : tensor<?x64xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// (a) with EPLB and masked weights, w4a8 experts on bf16 rows: the
// quantization after the SwiGLU is not fed by a dispatch and stays.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @allgather_w4a8_eplb
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK: %[[IDS:[^ ]+]] = npu.map_expert_ids
// CHECK: %[[MW:[^ ]+]] = npu.mask_weights
// CHECK: %[[ROWS:[^ ,]+]], %[[RIDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[X]], %[[IDS]] range(%{{.+}}, 4) experts(16) quant_mode(1) count : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] scale(%{{.+}} : tensor<4x32xf32>) per_token_scale(%[[SCALE]] : tensor<?xf32>) group_scale(%{{.+}} : tensor<4x2x32xf32>) w4a8 count
// CHECK-NEXT: %[[A:[^ ]+]] = npu.swiglu %[[H]]
// CHECK-NEXT: %[[Q2:[^ ,]+]], %[[S2:[^ ]+]] = npu.dynamic_quant %[[A]] : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
// CHECK-NEXT: %[[Y:[^ ]+]] = npu.grouped_matmul %[[Q2]], %{{.+}}, %[[CNT]] scale(%{{.+}}) per_token_scale(%[[S2]] : tensor<?xf32>) group_scale(%{{.+}}) w4a8 count
// CHECK-NEXT: npu.moe_token_unpermute %[[Y]], %[[RIDX]] probs(%[[MW]] : tensor<?x4xf32>)
func.func @allgather_w4a8_eplb(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>, %l2p: tensor<16xi32>,
                               %map: tensor<16xi32>, %start: index,
                               %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>,
                               %w2: tensor<4x16x64xi4>, %s2: tensor<4x64xf32>, %g2: tensor<4x1x64xf32>)
    -> tensor<?x64xbf16> {
  %w, %lids = npu.moe_gating_top_k %logits k(4) sigmoid renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %ids = npu.map_expert_ids %lids through %l2p : tensor<?x4xi32>, tensor<16xi32>
  %mw = npu.mask_weights %w, %ids, %map : tensor<?x4xf32>, tensor<?x4xi32>, tensor<16xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<4xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %sa = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>)
      group_scale(%g2 : tensor<4x1x64xf32>) w4a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%mw : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  return %out : tensor<?x64xbf16>
}

//===----------------------------------------------------------------------===//
// (d) allgather with sequence parallelism (gather over ep), w8a8: quantize
// the local rows, gather int8 rows and scales, init-routing carries the
// scales (quant_mode(-1)). The logits gather is untouched.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @allgather_sp_w8a8
// CHECK: %[[XP:[^ ]+]] = npu.pad_rows %{{.+}} : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK-NEXT: %[[LP:[^ ]+]] = npu.pad_rows
// CHECK-NEXT: %[[QL:[^ ,]+]], %[[SL:[^ ]+]] = npu.dynamic_quant %[[XP]] : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK-NEXT: %[[QG:[^ ]+]] = npu.all_gather %[[QL]] ep : tensor<?x64xi8> -> tensor<?x64xi8>
// CHECK-NEXT: %[[SG:[^ ]+]] = npu.all_gather %[[SL]] ep : tensor<?xf32> -> tensor<?xf32>
// CHECK-NEXT: %[[LG:[^ ]+]] = npu.all_gather %[[LP]] ep : tensor<?x16xf32> -> tensor<?x16xf32>
// CHECK-NEXT: %[[W:[^ ,]+]], %[[IDS:[^ ]+]] = npu.moe_gating_top_k %[[LG]]
// CHECK: %[[START:[^ ]+]] = arith.muli
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[RIDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[QG]], %[[IDS]] scale(%[[SG]] : tensor<?xf32>) range(%[[START]], 4) experts(16) quant_mode(-1) count : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] w8a8 count
// CHECK-NEXT: %[[Q2:[^ ,]+]], %{{[^ ]+}} = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[SCALE]], %[[CNT]] count
// CHECK: npu.moe_token_unpermute %{{.+}}, %[[RIDX]] probs(%[[W]] : tensor<?x4xf32>)
// CHECK-NEXT: npu.reduce_scatter %{{.+}} ep
// CHECK-NOT: npu.dynamic_quant
// CHECK: return
func.func @allgather_sp_w8a8(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>,
                             %w13: tensor<4x64x32xi8>, %s13: tensor<4x32xf32>,
                             %w2: tensor<4x16x64xi8>, %s2: tensor<4x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %maxT = npu.all_reduce_scalar %t max ep
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xf32> -> tensor<?x64xf32>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg = npu.all_gather %xp ep : tensor<?x64xf32> -> tensor<?x64xf32>
  %lg = npu.all_gather %lp ep : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %c4 = arith.constant 4 : index
  %start = arith.muli %r, %c4 : index
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %rs = npu.reduce_scatter %out ep : tensor<?x64xf32> -> tensor<?x64xf32>
  %o = npu.slice_rows %rs to %t : tensor<?x64xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// (d) with w4a8 experts, on static row counts: the types of the gathered
// scales follow the gathered rows.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @allgather_sp_w4a8_static
// CHECK-SAME: (%[[X:[^:]+]]: tensor<8x64xf32>
// CHECK-NEXT: %[[QL:[^ ,]+]], %[[SL:[^ ]+]] = npu.dynamic_quant %[[X]] : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<8xf32>
// CHECK-NEXT: %[[QG:[^ ]+]] = npu.all_gather %[[QL]] ep : tensor<8x64xi8> -> tensor<32x64xi8>
// CHECK-NEXT: %[[SG:[^ ]+]] = npu.all_gather %[[SL]] ep : tensor<8xf32> -> tensor<32xf32>
// CHECK: %[[ROWS:[^ ,]+]], %[[RIDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[QG]], %{{.+}} scale(%[[SG]] : tensor<32xf32>) range(%{{.+}}, 4) experts(16) quant_mode(-1) count : tensor<32x64xi8>, tensor<32x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
// CHECK-NEXT: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] scale(%{{.+}}) per_token_scale(%[[SCALE]] : tensor<?xf32>) group_scale(%{{.+}}) w4a8 count
func.func @allgather_sp_w4a8_static(%x: tensor<8x64xf32>, %lg: tensor<32x16xf32>, %start: index,
                                    %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>,
                                    %w2: tensor<4x16x64xi4>, %s2: tensor<4x64xf32>, %g2: tensor<4x1x64xf32>)
    -> tensor<8x64xf32> {
  %xg = npu.all_gather %x ep : tensor<8x64xf32> -> tensor<32x64xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax : tensor<32x16xf32> -> tensor<32x4xf32>, tensor<32x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<32x64xf32>, tensor<32x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %sa = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>)
      group_scale(%g2 : tensor<4x1x64xf32>) w4a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<32x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<32x64xf32>
  %rs = npu.reduce_scatter %out ep : tensor<32x64xf32> -> tensor<8x64xf32>
  return %rs : tensor<8x64xf32>
}

//===----------------------------------------------------------------------===//
// (b) mc2 (dp = 2, tp = 1) with w8a8 experts and w8a8 shared experts: the
// dispatch quantizes (quant_mode(2), dynamic_scales last); the shared
// experts' quantization of x is not fed by a dispatch and stays.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mc2_w8a8_shared
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK: %[[MASK:[^ ]+]] = npu.mc2_mask
// CHECK-NEXT: %[[XP:[^ ]+]] = npu.pad_rows %[[X]]
// CHECK: %[[W:[^ ,]+]], %[[IDS:[^ ]+]] = npu.moe_gating_top_k
// CHECK-NEXT: %[[RANK:[^ ]+]] = npu.group_rank ep
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[IDX:[^ ,]+]], %[[CNT:[^ ,]+]], %[[RECV:[^ ,]+]], %[[SCALE:[^ ,]+]], %[[TP:[^ ]+]] = npu.moe_distribute_dispatch %[[XP]], %[[IDS]] x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(512) cumsum v2 : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xi8>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32> tp_recv_counts tensor<1xi32>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] w8a8 cumsum
// CHECK-NEXT: %[[Q2:[^ ,]+]], %[[S2:[^ ]+]] = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[SCALE]], %[[CNT]] cumsum
// CHECK-NEXT: %[[Y:[^ ]+]] = npu.grouped_matmul %[[Q2]], %{{.+}}, %[[CNT]] scale(%{{.+}}) per_token_scale(%[[S2]] : tensor<?xf32>) w8a8 cumsum
// CHECK-NEXT: %[[OUT:[^ ]+]] = npu.moe_distribute_combine %[[Y]], %[[IDS]] assist_info_for_combine(%[[IDX]] : tensor<?xi32>) ep_send_counts(%[[RECV]] : tensor<16xi32>) expert_scales(%[[W]] : tensor<?x4xf32>) tp_send_counts(%[[TP]] : tensor<1xi32>) x_active_mask(%[[MASK]] : tensor<?xi1>) group_ep(ep) ep_world_size(4) ep_rank_id(%[[RANK]]) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
// CHECK-NEXT: %[[O:[^ ]+]] = npu.slice_rows %[[OUT]]
// CHECK-NEXT: %[[SQ:[^ ,]+]], %[[SQS:[^ ]+]] = npu.dynamic_quant %[[X]] : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK-NEXT: npu.matmul %[[SQ]], %{{.+}} scale(%{{.+}}) per_token_scale(%[[SQS]] : tensor<?xf32>) w8a8
func.func @mc2_w8a8_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
                           %w13: tensor<4x64x32xi8>, %s13: tensor<4x32xf32>,
                           %w2: tensor<4x16x64xi8>, %s2: tensor<4x64xf32>,
                           %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>,
                           %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %t max dp
  %mask = npu.mc2_mask %t of %maxT : tensor<?xi1>
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lp k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %recv, %tp1 = npu.moe_distribute_dispatch %xp, %ids x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(512) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %counts cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 cumsum
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xbf16>
  %out = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  %o = npu.slice_rows %out to %t : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %sq, %sqs = npu.dynamic_quant %x : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %sa2 = npu.swiglu %sh : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa2 : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %sy = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8
      : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %res = npu.add %o, %sy : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

//===----------------------------------------------------------------------===//
// (b) mc2 with shared-expert ranks (shared_expert_rank_num(2)): one
// quantization of the rows feeds both branches, the shared experts' dense
// int8 matmul on ranks 0 and 1 and the routed experts' grouped matmul on the
// others; it moves into the dispatch.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mc2_shared_expert_ranks
// CHECK: %[[ROWS:[^ ,]+]], %{{[^ ,]+}}, %[[CNT:[^ ,]+]], %{{[^ ,]+}}, %[[SCALE:[^ ,]+]], %{{[^ ]+}} = npu.moe_distribute_dispatch {{.+}} shared_expert_rank_num(2) {{.+}} quant_mode(2)
// CHECK-NOT: npu.dynamic_quant
// CHECK: scf.if
// CHECK-NEXT: npu.matmul %[[ROWS]], %{{.+}} per_token_scale(%[[SCALE]] : tensor<?xf32>) w8a8
// CHECK: } else {
// CHECK-NEXT: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] w8a8 cumsum
// CHECK-NEXT: npu.dequant_swiglu_quant %{{.+}}, %{{.+}}, %[[SCALE]], %[[CNT]] cumsum
func.func @mc2_shared_expert_ranks(%x: tensor<?x64xbf16>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>,
                                   %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>,
                                   %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
                                   %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>,
                                   %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %r = npu.group_rank ep
  %rows, %idx, %counts, %recv, %tp1 = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(512) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<8xi64>, tensor<32xi32> tp_recv_counts tensor<1xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %c2 = arith.constant 2 : index
  %onShared = arith.cmpi ult, %r, %c2 : index
  %y = scf.if %onShared -> (tensor<?x64xbf16>) {
    %sh = npu.matmul %q, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%s : tensor<?xf32>) w8a8
        : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
    %sa = npu.swiglu %sh : tensor<?x32xf32> -> tensor<?x16xf32>
    %sq2, %sqs2 = npu.dynamic_quant %sa : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
    %sy = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8
        : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
    scf.yield %sy : tensor<?x64xbf16>
  } else {
    %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum
        : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
    %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %counts cumsum
        : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
    %ry = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 cumsum
        : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
    scf.yield %ry : tensor<?x64xbf16>
  }
  %out = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<32xi32>) expert_scales(%w : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(2) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  return %out : tensor<?x64xbf16>
}

//===----------------------------------------------------------------------===//
// (b) mc2 without a mask, w4a8 experts, everything on stream 1: the rebuilt
// dispatch keeps every attribute, the stream included.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mc2_w4a8_stream
// CHECK: %[[ROWS:[^ ,]+]], %{{[^ ,]+}}, %[[CNT:[^ ,]+]], %{{[^ ,]+}}, %[[SCALE:[^ ]+]] = npu.moe_distribute_dispatch %{{.+}}, %{{.+}} group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(2) capacity(0) count stream(1) : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xi8>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32> dynamic_scales tensor<?xf32>
// CHECK-NEXT: npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[CNT]] scale(%{{.+}}) per_token_scale(%[[SCALE]] : tensor<?xf32>) group_scale(%{{.+}}) w4a8 count
func.func @mc2_w4a8_stream(%xs: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>,
                           %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>,
                           %w2: tensor<4x16x64xi4>, %s2: tensor<4x64xf32>, %g2: tensor<4x1x64xf32>)
    -> tensor<?x64xf32> {
  %epr3 = npu.group_rank ep
  %rows, %idx, %counts, %recv = npu.moe_distribute_dispatch %xs, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr3) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) count stream(1)
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  %q, %s = npu.dynamic_quant %rows stream(1) : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count stream(1)
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h stream(1) : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %sa = npu.dynamic_quant %a stream(1) : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>)
      group_scale(%g2 : tensor<4x1x64xf32>) w4a8 count stream(1)
      : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xf32>
  %out = npu.moe_distribute_combine %y, %ids expand_idx(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr3) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) stream(1)
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// (c) alltoall with L = 4 local experts, w8a8: quantize the locally permuted
// rows, exchange scales then rows, init-routing by local expert with the
// scales; the combine's unpermute takes init-routing's expanded_row_idx and
// the grouped matmuls keep the splits' tokens_per_expert.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @alltoall_l4_w8a8
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>
// CHECK: %[[W:[^ ,]+]], %[[IDS:[^ ]+]] = npu.moe_gating_top_k
// CHECK: %[[IN:[^ ,]+]], %[[OUTS:[^ ,]+]], %[[PER:[^ ,]+]], %[[EIDS:[^ ]+]] = npu.alltoall_splits
// CHECK-NEXT: %[[PERM:[^ ,]+]], %[[SORTED:[^ ]+]] = npu.moe_token_permute %[[X]], %[[IDS]]
// CHECK-NEXT: %[[Q0:[^ ,]+]], %[[S0:[^ ]+]] = npu.dynamic_quant %[[PERM]] : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK-NEXT: %[[SR:[^ ]+]] = npu.all_to_all_v %[[S0]], %[[IN]], %[[OUTS]] ep : tensor<?xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?xf32>
// CHECK-NEXT: %[[QR:[^ ]+]] = npu.all_to_all_v %[[Q0]], %[[IN]], %[[OUTS]] ep : tensor<?x64xi8>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xi8>
// CHECK-NEXT: %[[C0:[^ ]+]] = arith.constant 0 : index
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[IDX2:[^ ,]+]], %{{[^ ,]+}}, %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[QR]], %[[EIDS]] scale(%[[SR]] : tensor<?xf32>) range(%[[C0]], 4) experts(4) quant_mode(-1) count : tensor<?x64xi8>, tensor<?xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<4xi64>, tensor<?xf32>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[PER]] w8a8 count
// CHECK-NEXT: %[[Q2:[^ ,]+]], %[[S2:[^ ]+]] = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[SCALE]], %[[PER]] count
// CHECK-NEXT: %[[Y:[^ ]+]] = npu.grouped_matmul %[[Q2]], %{{.+}}, %[[PER]] scale(%{{.+}}) per_token_scale(%[[S2]] : tensor<?xf32>) w8a8 count
// CHECK-NEXT: %[[BACK:[^ ]+]] = npu.moe_token_unpermute %[[Y]], %[[IDX2]] : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK-NEXT: %[[RET:[^ ]+]] = npu.all_to_all_v %[[BACK]], %[[OUTS]], %[[IN]] ep
// CHECK-NEXT: npu.moe_token_unpermute %[[RET]], %[[SORTED]] probs(%[[W]] : tensor<?x4xf32>)
// CHECK-NOT: npu.moe_token_permute
// CHECK-NOT: npu.dynamic_quant
// CHECK: return
func.func @alltoall_l4_w8a8(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>,
                            %w13: tensor<4x64x32xi8>, %s13: tensor<4x32xf32>,
                            %w2: tensor<4x16x64xi8>, %s2: tensor<4x64xf32>) -> tensor<?x64xf32> {
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %local = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %per count
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %per scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  %back = npu.moe_token_unpermute %y, %sorted2 : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %ret = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// (c) alltoall with TP slicing (tp = 2) and L = 4, w4a8.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @alltoall_l4_w4a8_tp
// CHECK: %[[XS:[^ ]+]] = npu.tensor_split %{{.+}} tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
// CHECK: %[[IN:[^ ,]+]], %[[OUTS:[^ ,]+]], %[[PER:[^ ,]+]], %[[EIDS:[^ ]+]] = npu.alltoall_splits
// CHECK-NEXT: %[[PERM:[^ ,]+]], %[[SORTED:[^ ]+]] = npu.moe_token_permute %[[XS]], %{{.+}}
// CHECK-NEXT: %[[Q0:[^ ,]+]], %[[S0:[^ ]+]] = npu.dynamic_quant %[[PERM]] : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK-NEXT: %[[SR:[^ ]+]] = npu.all_to_all_v %[[S0]], %[[IN]], %[[OUTS]] ep
// CHECK-NEXT: %[[QR:[^ ]+]] = npu.all_to_all_v %[[Q0]], %[[IN]], %[[OUTS]] ep
// CHECK-NEXT: %[[C0:[^ ]+]] = arith.constant 0 : index
// CHECK-NEXT: %[[ROWS:[^ ,]+]], %[[IDX2:[^ ,]+]], %{{[^ ,]+}}, %[[SCALE:[^ ]+]] = npu.moe_init_routing %[[QR]], %[[EIDS]] scale(%[[SR]] : tensor<?xf32>) range(%[[C0]], 4) experts(4) quant_mode(-1) count
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[ROWS]], %{{.+}}, %[[PER]] scale(%{{.+}}) per_token_scale(%[[SCALE]] : tensor<?xf32>) group_scale(%{{.+}}) w4a8 count
// CHECK: npu.moe_token_unpermute %{{.+}}, %[[IDX2]] :
// CHECK: npu.moe_token_unpermute %{{.+}}, %[[SORTED]] probs
func.func @alltoall_l4_w4a8_tp(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
                               %w13: tensor<4x64x32xi4>, %s13: tensor<4x32xf32>, %g13: tensor<4x2x32xf32>,
                               %w2: tensor<4x16x64xi4>, %s2: tensor<4x64xf32>, %g2: tensor<4x1x64xf32>)
    -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %xp = npu.pad_rows %x to %c2 : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %c2 : tensor<?x16xf32> -> tensor<?x16xf32>
  %xs = npu.tensor_split %xp tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %ls = npu.tensor_split %lp tp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %ls k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %local = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %xs, %ids : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per scale(%s13 : tensor<4x32xf32>) per_token_scale(%s : tensor<?xf32>)
      group_scale(%g13 : tensor<4x2x32xf32>) w4a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi4>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %q2, %sa = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %per scale(%s2 : tensor<4x64xf32>) per_token_scale(%sa : tensor<?xf32>)
      group_scale(%g2 : tensor<4x1x64xf32>) w4a8 count
      : tensor<?x16xi8>, tensor<4x16x64xi4>, tensor<4xi64> -> tensor<?x64xbf16>
  %back = npu.moe_token_unpermute %y, %sorted2 : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %ret = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %g = npu.all_gather %out tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %g to %t : tensor<?x64xbf16> -> tensor<?x64xbf16>
  return %o : tensor<?x64xbf16>
}

//===----------------------------------------------------------------------===//
// (c) alltoall with L = 1 (E' = 4 over ep = 4), w8a8: the received int8 rows
// and scales go straight to the experts; no init-routing.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @alltoall_l1_w8a8
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>
// CHECK: %[[IN:[^ ,]+]], %[[OUTS:[^ ,]+]], %[[PER:[^ ,]+]], %{{[^ ]+}} = npu.alltoall_splits
// CHECK-NEXT: %[[PERM:[^ ,]+]], %[[SORTED:[^ ]+]] = npu.moe_token_permute %[[X]]
// CHECK-NEXT: %[[Q0:[^ ,]+]], %[[S0:[^ ]+]] = npu.dynamic_quant %[[PERM]] : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
// CHECK-NEXT: %[[SR:[^ ]+]] = npu.all_to_all_v %[[S0]], %[[IN]], %[[OUTS]] ep : tensor<?xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?xf32>
// CHECK-NEXT: %[[QR:[^ ]+]] = npu.all_to_all_v %[[Q0]], %[[IN]], %[[OUTS]] ep : tensor<?x64xi8>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xi8>
// CHECK-NEXT: %[[H:[^ ]+]] = npu.grouped_matmul %[[QR]], %{{.+}}, %[[PER]] w8a8 count
// CHECK-NEXT: %[[Q2:[^ ,]+]], %{{[^ ]+}} = npu.dequant_swiglu_quant %[[H]], %{{.+}}, %[[SR]], %[[PER]] count
// CHECK-NEXT: %[[Y:[^ ]+]] = npu.grouped_matmul %[[Q2]]
// CHECK-NEXT: %[[RET:[^ ]+]] = npu.all_to_all_v %[[Y]], %[[OUTS]], %[[IN]] ep
// CHECK-NEXT: npu.moe_token_unpermute %[[RET]], %[[SORTED]] probs
// CHECK-NOT: npu.dynamic_quant
func.func @alltoall_l1_w8a8(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>,
                            %w13: tensor<1x64x32xi8>, %s13: tensor<1x32xf32>,
                            %w2: tensor<1x16x64xi8>, %s2: tensor<1x64xf32>) -> tensor<?x64xf32> {
  %w, %ids = npu.moe_gating_top_k %logits k(2) softmax renormalize : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %local = npu.histogram %ids bins(4) : tensor<?x2xi32> -> tensor<4xi64>
  %global = npu.all_gather %local ep : tensor<4xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(1) ep
      : tensor<4xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<1xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x2xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %q, %s = npu.dynamic_quant %recv : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %per w8a8 count
      : tensor<?x64xi8>, tensor<1x64x32xi8>, tensor<1xi64> -> tensor<?x32xi32>
  %q2, %sa = npu.dequant_swiglu_quant %h, %s13, %s, %per count
      : tensor<?x32xi32>, tensor<1x32xf32>, tensor<?xf32>, tensor<1xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %per scale(%s2 : tensor<1x64xf32>) per_token_scale(%sa : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<1x16x64xi8>, tensor<1xi64> -> tensor<?x64xf32>
  %ret = npu.all_to_all_v %y, %outs, %in ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x2xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// Unquantized layers are untouched.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @unquantized
// CHECK: npu.moe_init_routing %{{.+}}, %{{.+}} range(%{{.+}}, 4) experts(16) quant_mode(-1) count : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
// CHECK: npu.moe_distribute_dispatch %{{.+}}, %{{.+}} group_ep(ep) ep_world_size(4) ep_rank_id(%{{.+}}) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) quant_mode(0) capacity(0) cumsum : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
// CHECK: %[[PERM:[^ ,]+]], %{{[^ ]+}} = npu.moe_token_permute
// CHECK-NEXT: %[[RECV:[^ ]+]] = npu.all_to_all_v %[[PERM]]
// CHECK-NEXT: npu.moe_token_permute %[[RECV]]
// CHECK-NOT: npu.dynamic_quant
// CHECK: return
func.func @unquantized(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index,
                       %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>,
                       %in: tensor<?xi64>, %outs: tensor<?xi64>, %eids: tensor<?xi32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<4xi64> -> tensor<?x64xf32>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>

  %epr5 = npu.group_rank ep
  %mrows, %midx, %mcounts, %mrecv = npu.moe_distribute_dispatch %x, %ids
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr5) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, expand_idx tensor<?xi32>, tensor<4xi64>, tensor<16xi32>
  %mh = npu.grouped_matmul %mrows, %w13, %mcounts none cumsum : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %ma = npu.swiglu %mh : tensor<?x32xf32> -> tensor<?x16xf32>
  %my = npu.grouped_matmul %ma, %w2, %mcounts none cumsum : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<4xi64> -> tensor<?x64xf32>
  %mout = npu.moe_distribute_combine %my, %ids expand_idx(%midx : tensor<?xi32>)
      ep_send_counts(%mrecv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr5) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>

  %perm, %sorted = npu.moe_token_permute %x, %ids : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %arows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %ah = npu.grouped_matmul %arows, %w13, %counts none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %aa = npu.swiglu %ah : tensor<?x32xf32> -> tensor<?x16xf32>
  %ay = npu.grouped_matmul %aa, %w2, %counts none count : tensor<?x16xf32>, tensor<4x16x64xf32>, tensor<4xi64> -> tensor<?x64xf32>
  %back = npu.moe_token_unpermute %ay, %sorted2 : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %ret = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %aout = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %out, %mout, %aout : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}
