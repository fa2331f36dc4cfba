// RUN: moe-opt %s --moe-schedule-multistream | FileCheck %s
// RUN: moe-opt %s --moe-schedule-multistream | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream=gate-overlap=false | FileCheck %s --check-prefix=NOGATE
// RUN: moe-opt %s --moe-schedule-multistream=gate-overlap=false | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream=shared-experts-overlap=false | FileCheck %s --check-prefix=NOSHARED
// RUN: moe-opt %s --moe-schedule-multistream=shared-experts-overlap=false | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream="gate-stream=1 shared-stream=1" | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream | moe-opt --moe-schedule-multistream | FileCheck %s
// RUN: moe-opt %s --moe-verify-streams --moe-schedule-multistream | FileCheck %s
// RUN: moe-opt %s --moe-verify-streams --moe-schedule-multistream | moe-opt --moe-verify-streams --verify-diagnostics

// Several layers in one function, run-time method choice, anchor fallbacks
// and chains the pass leaves alone (see schedule-multistream.mlir for one
// layer per method). Every schedule verifies without a diagnostic.

// Two layers (allgather with sequence parallelism, unquantized shared
// experts), the second on the output of the first: both use the same gate
// stream and the same shared stream (SEMANTICS §8), and the anchors of the
// second layer are its own ops, not those of the first.

// CHECK-LABEL: func.func @two_layers(
// CHECK-SAME:  %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK:      npu.all_gather %{{.+}} ep stream(1)
// CHECK:      npu.wait %{{.+}} stream(0)
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: npu.matmul %[[X]], %{{.+}} none stream(2)
// CHECK-NEXT: npu.moe_init_routing
// CHECK:      %[[DONE:.+]] = npu.record stream(2)
// CHECK:      npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: %[[X2:.+]] = npu.add
// CHECK-NEXT: %[[XP2:.+]] = npu.pad_rows %[[X2]]
// CHECK-NEXT: npu.pad_rows
// CHECK-NEXT: %[[READY:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[READY]] stream(1)
// CHECK-NEXT: npu.all_gather %[[XP2]] ep stream(1)
// CHECK-NEXT: %[[GATHERED:.+]] = npu.record stream(1)
// CHECK-NEXT: npu.all_gather %{{.+}} ep :
// CHECK-NEXT: npu.moe_gating_top_k
// CHECK-NEXT: npu.wait %[[GATHERED]] stream(0)
// CHECK-NEXT: %[[E22:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E22]] stream(2)
// CHECK-NEXT: npu.matmul %[[X2]], %{{.+}} none stream(2)
// CHECK-NEXT: npu.moe_init_routing
// CHECK:      %[[DONE2:.+]] = npu.record stream(2)
// CHECK:      npu.wait %[[DONE2]] stream(0)
// CHECK-NEXT: npu.add
// CHECK-NOT:  stream(3)
// CHECK:      return

// NOGATE-LABEL: func.func @two_layers(
// NOGATE-NOT:   stream(1)
// NOGATE:       npu.matmul %{{.+}} none stream(2)
// NOGATE-NOT:   stream(1)
// NOGATE:       return

// NOSHARED-LABEL: func.func @two_layers(
// NOSHARED-NOT:   stream(2)
// NOSHARED:       npu.all_gather %{{.+}} ep stream(1)
// NOSHARED-NOT:   stream(2)
// NOSHARED:       npu.all_gather %{{.+}} ep stream(1)
// NOSHARED-NOT:   stream(2)
// NOSHARED:       return
func.func @two_layers(%x: tensor<?x64xbf16>, %l1: tensor<?x16xf32>, %l2: tensor<?x16xf32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max ep
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  // layer 1
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %l1 to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg = npu.all_gather %xp ep : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lg = npu.all_gather %lp ep : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %rs = npu.reduce_scatter %out ep : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rs to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %x2 = npu.add %o, %so : tensor<?x64xbf16>
  // layer 2, on the output of layer 1
  %xp2 = npu.pad_rows %x2 to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp2 = npu.pad_rows %l2 to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg2 = npu.all_gather %xp2 ep : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lg2 = npu.all_gather %lp2 ep : tensor<?x16xf32> -> tensor<?x16xf32>
  %w_2, %ids2 = npu.moe_gating_top_k %lg2 k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows2, %ridx2, %counts2 = npu.moe_init_routing %xg2, %ids2 range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %h2 = npu.grouped_matmul %rows2, %w13, %counts2 none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a2 = npu.swiglu %h2 : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y2 = npu.grouped_matmul %a2, %w2, %counts2 none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %out2 = npu.moe_token_unpermute %y2, %ridx2 probs(%w_2 : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh2 = npu.matmul %x2, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa2 = npu.swiglu %sh2 {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so2 = npu.matmul %sa2, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %rs2 = npu.reduce_scatter %out2 ep : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o2 = npu.slice_rows %rs2 to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o2, %so2 : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// One device: the gate is the first device op, so an event recorded before it
// would order nothing; the quantization runs on the shared stream without a
// wait (its input is a function argument).

// CHECK-LABEL: func.func @single_device_w8a8_shared(
// CHECK-NEXT: arith.constant
// CHECK-NEXT: npu.dynamic_quant %{{.+}} stream(2)
// CHECK-NEXT: npu.moe_gating_top_k
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: npu.moe_init_routing
func.func @single_device_w8a8_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xi8>, %s13: tensor<16x32xf32>, %w2: tensor<16x16x64xi8>, %s2: tensor<16x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<16x64x32xi8>, tensor<16xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<16x32xf32>, tensor<?xf32>, tensor<16xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<16x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<16x16x64xi8>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sq, %sqs = npu.dynamic_quant %x {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// No gate in the layer (weights and ids come in): the first stage falls back
// to the dispatch anchor.

// CHECK-LABEL: func.func @mc2_without_gate(
// CHECK:      npu.pad_rows
// CHECK-NEXT: npu.group_rank ep
// CHECK-NEXT: %[[E:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: npu.moe_distribute_dispatch
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: npu.swiglu {{.+}} stream(2)
func.func @mc2_without_gate(%x: tensor<?x64xbf16>, %w: tensor<?x4xf32>, %ids: tensor<?x4xi32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %mask = npu.mc2_mask %T of %maxT : tensor<?xi1>
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %recv, %tp1 = npu.moe_distribute_dispatch %xp, %ids x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(2) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(512) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<8xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  %h = npu.grouped_matmul %rows, %w13, %counts none cumsum : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none cumsum : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(2) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %out to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// A run-time method choice: every case is scheduled on its own.

// CHECK-LABEL: func.func @method_switch(
// CHECK:      scf.index_switch
// CHECK:      case 0 {
// CHECK:        npu.all_gather %{{.+}} dp stream(1)
// CHECK:        npu.matmul {{.+}} stream(2)
// CHECK:        npu.wait %{{.+}} stream(0)
// CHECK-NEXT:   npu.add
// CHECK-NEXT:   scf.yield
// CHECK:      default {
// CHECK-NOT:    stream(1)
// CHECK:        %[[E:.+]] = npu.record stream(0)
// CHECK-NEXT:   npu.wait %[[E]] stream(2)
// CHECK-NEXT:   npu.matmul {{.+}} stream(2)
// CHECK-NEXT:   npu.swiglu {{.+}} stream(2)
// CHECK-NEXT:   npu.matmul {{.+}} stream(2)
// CHECK-NEXT:   %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT:   npu.dispatch_ffn_combine
// CHECK-NEXT:   npu.slice_rows
// CHECK-NEXT:   npu.wait %[[DONE]] stream(0)
// CHECK-NEXT:   npu.add
// CHECK-NEXT:   scf.yield
func.func @method_switch(%i: index, %x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %res = scf.index_switch %i -> tensor<?x64xbf16>
  case 0 {
    %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
    %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
    %q, %s = npu.dynamic_quant %xp : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
    %qg = npu.all_gather %q dp : tensor<?x64xi8> -> tensor<?x64xi8>
    %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
    %sg = npu.all_gather %s dp : tensor<?xf32> -> tensor<?xf32>
    %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    %r = npu.group_rank ep
    %c8 = arith.constant 8 : index
    %start = arith.muli %r, %c8 : index
    %rows, %ridx, %counts, %rs = npu.moe_init_routing %qg, %ids scale(%sg : tensor<?xf32>) range(%start, 8) experts(16) quant_mode(-1) count
        : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<8xi64>, tensor<?xf32>
    %h = npu.grouped_matmul %rows, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
    %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %rs, %counts count
        : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
    %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
        : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
    %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
    %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
    %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
    %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
    %rsc = npu.reduce_scatter %out dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
    %o = npu.slice_rows %rsc to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
    %sum = npu.add %o, %so : tensor<?x64xbf16>
    scf.yield %sum : tensor<?x64xbf16>
  }
  default {
    %mask = npu.mc2_mask %T of %maxT : tensor<?xi1>
    %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
    %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
    %w, %ids = npu.moe_gating_top_k %lp k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    %out = npu.dispatch_ffn_combine %xp, %ids, %w mask(%mask : tensor<?xi1>)
        weights(%w13, %w2 : tensor<8x64x32xi8>, tensor<8x16x64xi8>) scales(%s13, %s2 : tensor<8x32xf32>, tensor<8x64xf32>) w8a8
        ep_world_size(2) moe_expert_num(16) capacity(512)
        : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
    %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
    %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
    %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
    %o = npu.slice_rows %out to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
    %sum = npu.add %o, %so : tensor<?x64xbf16>
    scf.yield %sum : tensor<?x64xbf16>
  }
  %next = npu.pad_rows %res to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  return %next : tensor<?x64xbf16>
}

// Not a shared-expert chain the pass may move: its output is also returned.

// CHECK-LABEL: func.func @shared_output_used_twice(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @shared_output_used_twice(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res, %so : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// A dense MLP added to a residual: matmul-swiglu-matmul, but no routed path
// to overlap with.

// CHECK-LABEL: func.func @dense_mlp(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @dense_mlp(%x: tensor<?x64xbf16>, %residual: tensor<?x64xbf16>,
    %w13: tensor<64x32xbf16>, %w2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %h = npu.matmul %x, %w13 none : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %m = npu.matmul %a, %w2 none : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %residual, %m : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// The shared chain written in the middle of the routed experts: the
// activation anchor is the first routed op after the first grouped matmul.

// CHECK-LABEL: func.func @shared_chain_inside_experts(
// CHECK:      npu.moe_gating_top_k
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: npu.moe_init_routing
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: npu.swiglu {{.+}} stream(2)
// CHECK-NEXT: npu.swiglu {{.+}} :
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E4:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E4]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add
func.func @shared_chain_inside_experts(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// The gate-up weights are computed after the dispatch: the chain cannot move
// to its anchors and stays on the main stream.

// CHECK-LABEL: func.func @shared_weights_computed_late(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @shared_weights_computed_late(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sw13b = npu.add %sw13, %sw13 : tensor<64x32xbf16>
  %sh = npu.matmul %x, %sw13b none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// The pass reads roles, not shapes: the same layer as
// @shared_chain_inside_experts with the shared chain unmarked (no
// npu.shared_expert) stays on the main stream.

// CHECK-LABEL: func.func @unmarked_shared_chain(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @unmarked_shared_chain(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %h1 = npu.matmul %x, %sw13 none : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %a1 = npu.swiglu %h1 : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %o1 = npu.matmul %a1, %sw2 none : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %o1 : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// Marked shared experts that a marked op reads out of stage order (a `down`
// op feeding a `gate_up` op), or whose gate-up result is also returned, are
// not a chain the pass can move: they stay on the main stream.

// CHECK-LABEL: func.func @marks_out_of_order(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @marks_out_of_order(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>, %sw0: tensor<64x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %pre = npu.matmul %x, %sw0 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x64xbf16>, tensor<64x64xbf16> -> tensor<?x64xbf16>
  %sh = npu.matmul %pre, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// CHECK-LABEL: func.func @chain_read_outside(
// CHECK-NOT:   stream(
// CHECK-NOT:   npu.record
// CHECK:       return
func.func @chain_read_outside(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xbf16>, %w2: tensor<16x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> (tensor<?x64xbf16>, tensor<?x32xbf16>) {
  %c0 = arith.constant 0 : index
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts = npu.moe_init_routing %x, %ids range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<16xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<16x64x32xbf16>, tensor<16xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<16x16x64xbf16>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res, %sh : tensor<?x64xbf16>, tensor<?x32xbf16>
}

// The input quantization is marked but the routed path reads it too (the
// rows init-routing gathers): it stays on the main stream; gate-up,
// activation and down move, gate-up anchored at the dispatch.

// CHECK-LABEL: func.func @quantization_shared_with_routed_path(
// CHECK:      %[[Q:[^ ,]+]], %[[S:[^ ,]+]] = npu.dynamic_quant {{.+}} {npu.shared_expert = #npu.shared_expert<quantize>} :
// CHECK-NEXT: npu.moe_gating_top_k
// CHECK-NEXT: %[[E:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E]] stream(2)
// CHECK-NEXT: npu.matmul %[[Q]], {{.+}} stream(2)
// CHECK-NEXT: npu.moe_init_routing %[[Q]]
// CHECK:      npu.swiglu {{.+}} stream(2)
// CHECK:      npu.matmul {{.+}} stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK:      npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add
func.func @quantization_shared_with_routed_path(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<16x64x32xi8>, %s13: tensor<16x32xf32>, %w2: tensor<16x16x64xi8>, %s2: tensor<16x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %q, %s = npu.dynamic_quant %x {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %w, %ids = npu.moe_gating_top_k %logits k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %ridx, %counts, %rs = npu.moe_init_routing %q, %ids scale(%s : tensor<?xf32>) range(%c0, 16) experts(16) quant_mode(-1) count
      : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<16xi64>, tensor<?xf32>
  %h = npu.grouped_matmul %rows, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<16x64x32xi8>, tensor<16xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %rs, %counts count
      : tensor<?x32xi32>, tensor<16x32xf32>, tensor<?xf32>, tensor<16xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<16x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<16x16x64xi8>, tensor<16xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %q, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%s : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %out, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}
