// RUN: moe-opt %s -split-input-file -convert-npu-to-runtime | FileCheck %s

// Device ops become calls of the generated ABI (moe/Runtime/RuntimeAbi.h,
// docs/RuntimeAbi.md), declared once: where, stream, then one typed operand
// per ODS argument in ODS order (tensor handles, null for an absent
// optional operand; index operands and i64 attributes as i64; enums as
// i32), then one result slot per result (null for an absent optional
// result), loaded after the call.
// CHECK-DAG: llvm.func @moert_npu_moe_init_routing(!llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i32, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr)
// CHECK-DAG: llvm.mlir.global internal constant @[[WHERE:moert_str_[0-9]+]]("npu.moe_init_routing at {{.*}}convert-npu-to-runtime.mlir{{.*}}:{{[0-9]+}}:{{[0-9]+}}\00")
// CHECK-LABEL: llvm.func @routing
// CHECK-SAME: (%[[X:.+]]: !llvm.ptr, %[[IDS:.+]]: !llvm.ptr, %[[START:.+]]: i64)
// CHECK: %[[W:.+]] = llvm.mlir.addressof @[[WHERE]]
// CHECK: %[[STREAM:.+]] = llvm.mlir.constant(2 : i64) : i64
// CHECK: %[[NOSCALE:.+]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[LOCAL:.+]] = llvm.mlir.constant(4 : i64) : i64
// CHECK: %[[EXPERTS:.+]] = llvm.mlir.constant(16 : i64) : i64
// quant_mode(-1) is RoutingQuantMode::None, the C enum value 0 (the runtime maps it to torch_npu's -1).
// CHECK: %[[QUANT:.+]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: %[[COUNT:.+]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: %[[O0:.+]] = llvm.alloca %{{.+}} x !llvm.ptr
// CHECK: %[[O1:.+]] = llvm.alloca %{{.+}} x !llvm.ptr
// CHECK: %[[O2:.+]] = llvm.alloca %{{.+}} x !llvm.ptr
// CHECK: %[[NOOUT:.+]] = llvm.mlir.zero : !llvm.ptr
// CHECK: llvm.call @moert_npu_moe_init_routing(%[[W]], %[[STREAM]], %[[X]], %[[IDS]], %[[NOSCALE]], %[[START]], %[[LOCAL]], %[[EXPERTS]], %[[QUANT]], %[[COUNT]], %[[O0]], %[[O1]], %[[O2]], %[[NOOUT]])
// CHECK: %[[ROWS:.+]] = llvm.load %[[O0]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.return %[[ROWS]]
func.func @routing(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %start: index) -> tensor<?x8xf32> {
  %rows, %idx, %counts = npu.moe_init_routing %x, %ids range(%start, 4) experts(16) quant_mode(-1) count stream(2)
      : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<4xi64>
  return %rows : tensor<?x8xf32>
}

// The entry point loads the argument handles and stores the result handle.
// CHECK-LABEL: llvm.func @_moe_entry_routing(
// CHECK-SAME: !llvm.ptr, %{{.+}}: !llvm.ptr)
// CHECK: %[[A0:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A1:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[P2:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A2:.+]] = llvm.load %[[P2]] : !llvm.ptr -> i64
// CHECK: %[[R:.+]] = llvm.call @routing(%[[A0]], %[[A1]], %[[A2]])
// CHECK: llvm.store %[[R]], %{{.+}} : !llvm.ptr, !llvm.ptr

// -----

// Host-side ops, events and reference counting; strings become one
// global each.
// CHECK-DAG: llvm.mlir.global internal constant @{{moert_str_[0-9]+}}("the ranks agree\00")
// CHECK-LABEL: llvm.func @host
// CHECK: llvm.call @moert_dim(%{{.+}}, %{{.+}}, %{{.+}}) : (!llvm.ptr, !llvm.ptr, i64) -> i64
// Host-side npu ops have no stream; an index result comes back through an
// i64 slot.
// CHECK: %[[MAX:.+]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: %[[DP:.+]] = llvm.mlir.constant(2 : i32) : i32
// CHECK: %[[M:.+]] = llvm.alloca %{{.+}} x i64
// CHECK: llvm.call @moert_npu_all_reduce_scalar(%{{.+}}, %{{.+}}, %[[MAX]], %[[DP]], %[[M]]) : (!llvm.ptr, i64, i32, i32, !llvm.ptr) -> ()
// CHECK: llvm.load %[[M]] : !llvm.ptr -> i64
// CHECK: %[[EP:.+]] = llvm.mlir.constant(3 : i32) : i32
// CHECK: llvm.call @moert_npu_group_rank(%{{.+}}, %[[EP]], %{{.+}}) : (!llvm.ptr, i32, !llvm.ptr) -> ()
// CHECK: llvm.call @moert_npu_expect_uniform(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) : (!llvm.ptr, i64, i32, !llvm.ptr) -> ()
// CHECK: %[[E:.+]] = llvm.call @moert_record(%{{.+}}, %{{.+}}) : (!llvm.ptr, i64) -> !llvm.ptr
// CHECK: llvm.call @moert_wait(%{{.+}}, %[[E]], %{{.+}}) : (!llvm.ptr, !llvm.ptr, i64) -> ()
// CHECK: llvm.call @moert_release_event(%[[E]])
// CHECK: llvm.call @moert_retain(%{{.+}}) : (!llvm.ptr) -> ()
// CHECK: llvm.call @moert_release(%{{.+}}) : (!llvm.ptr) -> ()
func.func @host(%x: tensor<?x8xf32>) -> (index, index) {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x8xf32>
  %m = npu.all_reduce_scalar %t max dp
  %r = npu.group_rank ep
  npu.expect_uniform %t tp "the ranks agree"
  %e = npu.record stream(0)
  npu.wait %e stream(1)
  npu.release %e : !npu.event
  npu.retain %x : tensor<?x8xf32>
  npu.release %x : tensor<?x8xf32>
  return %m, %r : index, index
}

// -----

// Multi-block control flow (after convert-scf-to-cf) keeps its handles as
// block arguments; a cast retains the same handle; several results come
// back in a struct that the entry point unpacks.
// CHECK-LABEL: llvm.func @branches
// CHECK: llvm.switch
// CHECK: ^bb{{[0-9]+}}(%{{.+}}: !llvm.ptr):
// CHECK: llvm.call @moert_retain
// CHECK: llvm.return %{{.+}} : !llvm.struct<(ptr, ptr)>
// CHECK-LABEL: llvm.func @_moe_entry_branches
// CHECK: llvm.extractvalue %{{.+}}[0]
// CHECK: llvm.extractvalue %{{.+}}[1]
func.func @branches(%x: tensor<4x8xf32>, %index: index) -> (tensor<?x8xf32>, tensor<4x8xf32>) {
  %i = arith.index_cast %index : index to i32
  cf.switch %i : i32, [
    default: ^bb1(%x : tensor<4x8xf32>),
    0: ^bb2
  ]
^bb1(%a: tensor<4x8xf32>):
  %c = tensor.cast %a : tensor<4x8xf32> to tensor<?x8xf32>
  return %c, %a : tensor<?x8xf32>, tensor<4x8xf32>
^bb2:
  %d = npu.add %x, %x : tensor<4x8xf32>
  %e = tensor.cast %d : tensor<4x8xf32> to tensor<?x8xf32>
  return %e, %d : tensor<?x8xf32>, tensor<4x8xf32>
}

// -----

// Every device op has a call.
// CHECK-LABEL: llvm.func @all_ops
// Unit attributes are i32 flags, an absent optional attribute 0, f32
// attributes f32 (gating: k, softmax, renormalize, no groups, scale 1.0);
// ops with passResultDTypes pass each result's element type (i32: 5).
// CHECK-DAG: llvm.call @moert_npu_moe_gating_top_k({{.+}}) : (!llvm.ptr, i64, !llvm.ptr, !llvm.ptr, i64, i32, i32, i64, i64, i32, f32, !llvm.ptr, !llvm.ptr) -> ()
// CHECK-DAG: llvm.mlir.constant(1.000000e+00 : f32) : f32
// CHECK-DAG: %[[I32:.+]] = llvm.mlir.constant(5 : i32) : i32
// CHECK-DAG: llvm.call @moert_npu_grouped_matmul({{.+}}, %[[I32]], %{{.+}}) : (!llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, i32, i32, !llvm.ptr) -> ()
// CHECK-DAG: llvm.call @moert_npu_map_expert_ids
// CHECK-DAG: llvm.call @moert_npu_mask_weights
// CHECK-DAG: llvm.call @moert_npu_moe_token_permute
// CHECK-DAG: llvm.call @moert_npu_moe_token_unpermute
// CHECK-DAG: llvm.call @moert_npu_histogram
// CHECK-DAG: llvm.call @moert_npu_alltoall_splits
// CHECK-DAG: llvm.call @moert_npu_all_to_all_v
// CHECK-DAG: llvm.call @moert_npu_moe_distribute_dispatch
// CHECK-DAG: llvm.call @moert_npu_moe_distribute_combine
// CHECK-DAG: llvm.call @moert_npu_dispatch_ffn_combine
// CHECK-DAG: llvm.call @moert_npu_dynamic_quant
// CHECK-DAG: llvm.call @moert_npu_grouped_matmul
// CHECK-DAG: llvm.call @moert_npu_matmul
// CHECK-DAG: llvm.call @moert_npu_w4a8_process_weights({{.+}}) : (!llvm.ptr, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK-DAG: llvm.call @moert_npu_swiglu
// CHECK-DAG: llvm.call @moert_npu_dequant_swiglu_quant
// CHECK-DAG: llvm.call @moert_npu_add
// CHECK-DAG: llvm.call @moert_npu_all_gather
// CHECK-DAG: llvm.call @moert_npu_reduce_scatter
// CHECK-DAG: llvm.call @moert_npu_all_reduce
// CHECK-DAG: llvm.call @moert_npu_pad_rows
// CHECK-DAG: llvm.call @moert_npu_slice_rows
// CHECK-DAG: llvm.call @moert_npu_tensor_split
// CHECK-DAG: llvm.call @moert_npu_mc2_mask
func.func @all_ops(%logits: tensor<?x16xf32>, %x: tensor<?x64xf32>, %l2p: tensor<16xi32>, %t: index,
                   %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
                   %d13: tensor<64x32xf32>, %ck: tensor<4x64x1xf32>, %cs: tensor<4x64x2xf32>) -> tensor<?x64xf32> {
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %pw, %pm, %pb = npu.w4a8_process_weights %w13, %ck, %cs
      : tensor<4x64x32xi8>, tensor<4x64x1xf32>, tensor<4x64x2xf32> -> tensor<4x32x64xi4>, tensor<4x2x64xf32>, tensor<4x64xf32>
  %phys = npu.map_expert_ids %ids through %l2p : tensor<?x4xi32>, tensor<16xi32>
  %mw = npu.mask_weights %w, %phys, %l2p : tensor<?x4xf32>, tensor<?x4xi32>, tensor<16xi32>
  %local = npu.histogram %phys bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(4) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<4xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %x, %phys : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xf32>
  %un = npu.moe_token_unpermute %recv, %sorted probs(%mw : tensor<?x4xf32>) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %mask = npu.mc2_mask %t of %t : tensor<?xi1>
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %rc, %tp1 = npu.moe_distribute_dispatch %x, %phys x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(0) cumsum v2
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>, assist_info_for_combine tensor<?xi32>, tensor<4xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xf32> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts cumsum
      : tensor<?x32xi32>, tensor<4x32xf32>, tensor<?xf32>, tensor<4xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<4x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 cumsum
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  %c = npu.moe_distribute_combine %y, %phys assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%rc : tensor<16xi32>) expert_scales(%mw : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(4) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xf32>, tensor<?x4xi32> -> tensor<?x64xf32>
  %f = npu.dispatch_ffn_combine %x, %phys, %mw weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) w8a8 ep_world_size(4) moe_expert_num(16) capacity(0)
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>
  %m = npu.matmul %x, %d13 none : tensor<?x64xf32>, tensor<64x32xf32> -> tensor<?x32xf32>
  %a = npu.swiglu %m : tensor<?x32xf32> -> tensor<?x16xf32>
  %sum = npu.add %c, %f : tensor<?x64xf32>
  %rs = npu.reduce_scatter %sum dp : tensor<?x64xf32> -> tensor<?x64xf32>
  %ar = npu.all_reduce %rs sum tp : tensor<?x64xf32>
  %p = npu.pad_rows %ar to %t : tensor<?x64xf32> -> tensor<?x64xf32>
  %sl = npu.slice_rows %p to %t : tensor<?x64xf32> -> tensor<?x64xf32>
  %ts = npu.tensor_split %sl tp : tensor<?x64xf32> -> tensor<?x64xf32>
  %un2 = npu.add %ts, %un : tensor<?x64xf32>
  return %un2 : tensor<?x64xf32>
}
