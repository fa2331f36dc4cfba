// RUN: moe-opt %s --moe-schedule-multistream | FileCheck %s
// RUN: moe-opt %s --moe-schedule-multistream | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream=gate-overlap=false | FileCheck %s --check-prefix=NOGATE
// RUN: moe-opt %s --moe-schedule-multistream=gate-overlap=false | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream=shared-experts-overlap=false | FileCheck %s --check-prefix=NOSHARED
// RUN: moe-opt %s --moe-schedule-multistream=shared-experts-overlap=false | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream="gate-overlap=false shared-experts-overlap=false" | FileCheck %s --check-prefix=OFF
// RUN: moe-opt %s --moe-schedule-multistream="gate-stream=3 shared-stream=5" | FileCheck %s --check-prefix=STREAMS
// RUN: moe-opt %s --moe-schedule-multistream="gate-stream=3 shared-stream=5" | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream="gate-stream=1 shared-stream=1" | moe-opt --moe-verify-streams --verify-diagnostics
// RUN: moe-opt %s --moe-schedule-multistream | moe-opt --moe-schedule-multistream | FileCheck %s
// RUN: not moe-opt %s --moe-schedule-multistream=gate-stream=0 2>&1 | FileCheck %s --check-prefix=BAD

// Hand-written level-2 layers, op for op as docs/Expansion.md gives them
// (H = 64, E' = 16, K = 4, I = 16), scheduled onto the gate stream (1) and the
// shared stream (2). Every schedule verifies without a diagnostic, and
// scheduling twice changes nothing.

// BAD: error: moe-schedule-multistream: auxiliary streams must be positive (0 is the main stream), got gate-stream=0 shared-stream=2

// OFF-NOT: npu.record
// OFF-NOT: npu.wait
// OFF-NOT: stream(

// allgather, dp = 2 with expert parallelism (ep = 2, L = 8), no shared
// experts: only the hidden-state gather moves; the logits gather stays.

// CHECK-LABEL: func.func @allgather_dp(
// CHECK:      %[[XP:.+]] = npu.pad_rows
// CHECK-NEXT: %[[LP:.+]] = npu.pad_rows
// CHECK-NEXT: %[[READY:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[READY]] stream(1)
// CHECK-NEXT: %[[XG:.+]] = npu.all_gather %[[XP]] dp stream(1)
// CHECK-NEXT: %[[GATHERED:.+]] = npu.record stream(1)
// CHECK-NEXT: %[[LG:.+]] = npu.all_gather %[[LP]] dp :
// CHECK-NEXT: npu.moe_gating_top_k %[[LG]]
// CHECK-NEXT: npu.group_rank ep
// CHECK-NEXT: arith.muli
// CHECK-NEXT: npu.wait %[[GATHERED]] stream(0)
// CHECK-NEXT: npu.moe_init_routing %[[XG]]
// CHECK-NOT:  npu.record
// CHECK-NOT:  npu.wait
// CHECK:      return

// NOGATE-LABEL: func.func @allgather_dp(
// NOGATE-NOT:   npu.record
// NOGATE:       return

// STREAMS-LABEL: func.func @allgather_dp(
// STREAMS:       npu.wait %{{.+}} stream(3)
// STREAMS-NEXT:  npu.all_gather %{{.+}} dp stream(3)
// STREAMS-NEXT:  npu.record stream(3)
func.func @allgather_dp(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
                        %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg = npu.all_gather %xp dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %h = npu.grouped_matmul %rows, %w13, %counts none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %counts none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %rs = npu.reduce_scatter %out dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rs to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  return %o : tensor<?x64xbf16>
}

// allgather with sequence parallelism and a quantized hidden-state gather
// (seed 000 `_prepare_with_ep_group`): the int8 rows go to the gate stream;
// the logits and the per-token scales are gathered on the main stream.

// CHECK-LABEL: func.func @allgather_sp_quantized(
// CHECK:      %[[Q:[^ ,]+]], %[[S:[^ ,]+]] = npu.dynamic_quant
// CHECK-NEXT: %[[READY:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[READY]] stream(1)
// CHECK-NEXT: %[[QG:.+]] = npu.all_gather %[[Q]] ep stream(1)
// CHECK-NEXT: %[[GATHERED:.+]] = npu.record stream(1)
// CHECK-NEXT: %[[LG:.+]] = npu.all_gather %{{.+}} ep :
// CHECK-NEXT: %[[SG:.+]] = npu.all_gather %[[S]] ep :
// CHECK-NEXT: npu.moe_gating_top_k %[[LG]]
// CHECK-NEXT: npu.group_rank
// CHECK-NEXT: arith.muli
// CHECK-NEXT: npu.wait %[[GATHERED]] stream(0)
// CHECK-NEXT: npu.moe_init_routing %[[QG]], %{{.+}} scale(%[[SG]]
// CHECK-NOT:  npu.record
// CHECK-NOT:  npu.wait
// CHECK:      return
func.func @allgather_sp_quantized(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max ep
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %q, %s = npu.dynamic_quant %xp : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %qg = npu.all_gather %q ep : tensor<?x64xi8> -> tensor<?x64xi8>
  %lg = npu.all_gather %lp ep : tensor<?x16xf32> -> tensor<?x16xf32>
  %sg = npu.all_gather %s ep : tensor<?xf32> -> tensor<?xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  %rows, %ridx, %counts, %rs = npu.moe_init_routing %qg, %ids scale(%sg : tensor<?xf32>) range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xi8>, tensor<?x4xi32> -> tensor<?x64xi8>, tensor<?xi32>, tensor<8xi64>, tensor<?xf32>
  %h = npu.grouped_matmul %rows, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %rs, %counts count
      : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %rsc = npu.reduce_scatter %out ep : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rsc to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  return %o : tensor<?x64xbf16>
}

// allgather (dp) with w8a8 experts and w8a8 shared experts: quantize during
// the gate, gate-up during dispatch (after the main stream has waited for the
// gathered rows), activation after the first grouped matmul, down projection
// before the combine (unpermute with probs); the add waits for the shared
// stream.

// CHECK-LABEL: func.func @allgather_dp_w8a8_shared(
// CHECK-SAME:  %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK:      npu.wait %{{.+}} stream(1)
// CHECK-NEXT: %[[XG:.+]] = npu.all_gather %{{.+}} dp stream(1)
// CHECK-NEXT: %[[GATHERED:.+]] = npu.record stream(1)
// CHECK-NEXT: %[[LG:.+]] = npu.all_gather %{{.+}} dp :
// CHECK-NEXT: %[[E1:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E1]] stream(2)
// CHECK-NEXT: %[[SQ:[^ ,]+]], %[[SQS:[^ ,]+]] = npu.dynamic_quant %[[X]] stream(2)
// CHECK-NEXT: npu.moe_gating_top_k %[[LG]]
// CHECK-NEXT: npu.group_rank
// CHECK-NEXT: arith.muli
// CHECK-NEXT: npu.wait %[[GATHERED]] stream(0)
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: %[[SH:.+]] = npu.matmul %[[SQ]], %{{.+}} per_token_scale(%[[SQS]] : tensor<?xf32>) w8a8 stream(2)
// CHECK-NEXT: npu.moe_init_routing %[[XG]]
// CHECK-NEXT: npu.dynamic_quant
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: %[[SA:.+]] = npu.swiglu %[[SH]] stream(2)
// CHECK-NEXT: %[[SQ2:[^ ,]+]], %{{.+}} = npu.dynamic_quant %[[SA]] stream(2)
// CHECK-NEXT: npu.dequant_swiglu_quant
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E4:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E4]] stream(2)
// CHECK-NEXT: %[[SO:.+]] = npu.matmul %[[SQ2]], {{.+}} w8a8 stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: npu.reduce_scatter
// CHECK-NEXT: %[[O:.+]] = npu.slice_rows
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %[[O]], %[[SO]] :
// CHECK-NEXT: return

// NOGATE-LABEL: func.func @allgather_dp_w8a8_shared(
// NOGATE-NOT:   stream(1)
// NOGATE:       npu.all_gather %{{.+}} dp :
// NOGATE-NEXT:  npu.all_gather %{{.+}} dp :
// NOGATE-NEXT:  %[[E1:.+]] = npu.record stream(0)
// NOGATE-NEXT:  npu.wait %[[E1]] stream(2)
// NOGATE-NEXT:  npu.dynamic_quant %{{.+}} stream(2)
// NOGATE-NEXT:  npu.moe_gating_top_k
// NOGATE-NOT:   stream(1)
// NOGATE:       return

// NOSHARED-LABEL: func.func @allgather_dp_w8a8_shared(
// NOSHARED:       npu.all_gather %{{.+}} dp stream(1)
// NOSHARED-NOT:   stream(2)
// NOSHARED:       return

// STREAMS-LABEL: func.func @allgather_dp_w8a8_shared(
// STREAMS:       npu.all_gather %{{.+}} dp stream(3)
// STREAMS:       npu.dynamic_quant %{{.+}} stream(5)
// STREAMS:       %[[DONE:.+]] = npu.record stream(5)
// STREAMS:       npu.wait %[[DONE]] stream(0)
func.func @allgather_dp_w8a8_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %xg = npu.all_gather %xp dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %rs = npu.reduce_scatter %out dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rs to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %sq, %sqs = npu.dynamic_quant %x {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// alltoall (tp = 2, ep = 2, L = 8) with unquantized shared experts: no
// quantize stage, gate-up at the dispatch (the first token permute),
// activation after the first grouped matmul, down projection before the
// all-to-all-v that sends expert outputs back. The gathers of the counts and
// of the finalize are not hidden-state gathers and stay on the main stream.

// CHECK-LABEL: func.func @alltoall_shared(
// CHECK-SAME:  %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK-NOT:   stream(1)
// CHECK:      npu.moe_gating_top_k
// CHECK-NEXT: npu.histogram
// CHECK-NEXT: npu.all_gather %{{.+}} ep :
// CHECK-NEXT: npu.alltoall_splits
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: %[[SH:.+]] = npu.matmul %[[X]], %{{.+}} none stream(2)
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.all_to_all_v
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: %[[SA:.+]] = npu.swiglu %[[SH]] stream(2)
// CHECK-NEXT: npu.swiglu
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: %[[E4:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E4]] stream(2)
// CHECK-NEXT: %[[SO:.+]] = npu.matmul %[[SA]], %{{.+}} none stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.all_to_all_v
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: npu.all_gather %{{.+}} tp :
// CHECK-NEXT: %[[O:.+]] = npu.slice_rows
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %[[O]], %[[SO]] :
func.func @alltoall_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %xp = npu.pad_rows %x to %c2 : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %c2 : tensor<?x16xf32> -> tensor<?x16xf32>
  %xs = npu.tensor_split %xp tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %ls = npu.tensor_split %lp tp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %ls k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %local = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(8) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<8xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %xs, %ids : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %h = npu.grouped_matmul %rows, %w13, %per none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %per none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %back = npu.moe_token_unpermute %y, %sorted2 : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %ret = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xbf16> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.matmul %sa, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xbf16> -> tensor<?x64xbf16>
  %g = npu.all_gather %out tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %g to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// The same with w4a8 shared experts: weight-only (npu.weight_quant_matmul,
// no quantize stage), scheduled exactly like the unquantized chain.

// CHECK-LABEL: func.func @alltoall_w4a8_shared(
// CHECK-SAME:  %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK-NOT:   stream(1)
// CHECK:      npu.moe_gating_top_k
// CHECK-NEXT: npu.histogram
// CHECK-NEXT: npu.all_gather %{{.+}} ep :
// CHECK-NEXT: npu.alltoall_splits
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: %[[SH:.+]] = npu.weight_quant_matmul %[[X]], %{{.+}} antiquant_scale(%{{.+}} : tensor<4x32xf32>) group_size(16) stream(2)
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.all_to_all_v
// CHECK-NEXT: npu.moe_token_permute
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: %[[SA:.+]] = npu.swiglu %[[SH]] stream(2)
// CHECK-NEXT: npu.swiglu
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: %[[E4:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E4]] stream(2)
// CHECK-NEXT: %[[SO:.+]] = npu.weight_quant_matmul %[[SA]], %{{.+}} antiquant_scale(%{{.+}} : tensor<1x64xf32>) group_size(16) stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.all_to_all_v
// CHECK-NEXT: npu.moe_token_unpermute
// CHECK-NEXT: npu.all_gather %{{.+}} tp :
// CHECK-NEXT: %[[O:.+]] = npu.slice_rows
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %[[O]], %[[SO]] :
func.func @alltoall_w4a8_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>,
    %sw13: tensor<64x32xi4>, %sw2: tensor<16x64xi4>, %sg13: tensor<4x32xf32>, %sg2: tensor<1x64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %xp = npu.pad_rows %x to %c2 : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %c2 : tensor<?x16xf32> -> tensor<?x16xf32>
  %xs = npu.tensor_split %xp tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %ls = npu.tensor_split %lp tp : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %ls k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %local = npu.histogram %ids bins(16) : tensor<?x4xi32> -> tensor<16xi64>
  %global = npu.all_gather %local ep : tensor<16xi64> -> tensor<?xi64>
  %in, %outs, %per, %eids = npu.alltoall_splits %local, %global local_experts(8) ep
      : tensor<16xi64>, tensor<?xi64> -> tensor<?xi64>, tensor<?xi64>, tensor<8xi64>, tensor<?xi32>
  %perm, %sorted = npu.moe_token_permute %xs, %ids : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %recv = npu.all_to_all_v %perm, %in, %outs ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %rows, %sorted2 = npu.moe_token_permute %recv, %eids : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>, tensor<?xi32>
  %h = npu.grouped_matmul %rows, %w13, %per none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %a = npu.swiglu %h : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %y = npu.grouped_matmul %a, %w2, %per none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %back = npu.moe_token_unpermute %y, %sorted2 : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %ret = npu.all_to_all_v %back, %outs, %in ep : tensor<?x64xbf16>, tensor<?xi64>, tensor<?xi64> -> tensor<?x64xbf16>
  %out = npu.moe_token_unpermute %ret, %sorted probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %sh = npu.weight_quant_matmul %x, %sw13 antiquant_scale(%sg13 : tensor<4x32xf32>) group_size(16)
      {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xbf16>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %so = npu.weight_quant_matmul %sa, %sw2 antiquant_scale(%sg2 : tensor<1x64xf32>) group_size(16)
      {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xbf16>, tensor<16x64xi4> -> tensor<?x64xbf16>
  %g = npu.all_gather %out tp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %g to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// mc2 with w8a8 experts and w8a8 shared experts: the dispatch and combine
// anchors are npu.moe_distribute_dispatch / npu.moe_distribute_combine.

// CHECK-LABEL: func.func @mc2_w8a8_shared(
// CHECK:      npu.pad_rows
// CHECK-NEXT: npu.pad_rows
// CHECK-NEXT: %[[E1:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E1]] stream(2)
// CHECK-NEXT: npu.dynamic_quant %{{.+}} stream(2)
// CHECK-NEXT: npu.moe_gating_top_k
// CHECK-NEXT: npu.group_rank ep
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: npu.moe_distribute_dispatch
// CHECK-NEXT: npu.dynamic_quant
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E3:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E3]] stream(2)
// CHECK-NEXT: npu.swiglu {{.+}} stream(2)
// CHECK-NEXT: npu.dynamic_quant {{.+}} stream(2)
// CHECK-NEXT: npu.dequant_swiglu_quant
// CHECK-NEXT: npu.grouped_matmul
// CHECK-NEXT: %[[E4:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E4]] stream(2)
// CHECK-NEXT: %[[SO:.+]] = npu.matmul {{.+}} stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.moe_distribute_combine
// CHECK-NEXT: %[[O:.+]] = npu.slice_rows
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %[[O]], %[[SO]] :
func.func @mc2_w8a8_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %mask = npu.mc2_mask %T of %maxT : tensor<?xi1>
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lp k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %epr1 = npu.group_rank ep
  %rows, %idx, %counts, %recv, %tp1 = npu.moe_distribute_dispatch %xp, %ids x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(2) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0)
      quant_mode(0) capacity(512) cumsum v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, assist_info_for_combine tensor<?xi32>, tensor<8xi64>, tensor<16xi32> tp_recv_counts tensor<1xi32>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 cumsum : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts cumsum
      : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 cumsum
      : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
  %out = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%idx : tensor<?xi32>)
      ep_send_counts(%recv : tensor<16xi32>) expert_scales(%w : tensor<?x4xf32>) tp_send_counts(%tp1 : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>)
      group_ep(ep) ep_world_size(2) ep_rank_id(%epr1) group_tp(ep) tp_world_size(1) tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(16) global_bs(0) v2
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>
  %sq, %sqs = npu.dynamic_quant %x {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %o = npu.slice_rows %out to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// fused_mc2: no grouped matmul, so activation falls back to the dispatch
// anchor, and the combine is the fused op itself: gate-up, activation and down
// projection share one event, recorded right before npu.dispatch_ffn_combine.

// CHECK-LABEL: func.func @fused_mc2_shared(
// CHECK:      %[[E1:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E1]] stream(2)
// CHECK-NEXT: npu.dynamic_quant %{{.+}} stream(2)
// CHECK-NEXT: npu.moe_gating_top_k
// CHECK-NEXT: %[[E2:.+]] = npu.record stream(0)
// CHECK-NEXT: npu.wait %[[E2]] stream(2)
// CHECK-NEXT: npu.matmul {{.+}} stream(2)
// CHECK-NEXT: npu.swiglu {{.+}} stream(2)
// CHECK-NEXT: npu.dynamic_quant {{.+}} stream(2)
// CHECK-NEXT: %[[SO:.+]] = npu.matmul {{.+}} stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK-NEXT: npu.dispatch_ffn_combine
// CHECK-NEXT: %[[O:.+]] = npu.slice_rows
// CHECK-NEXT: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %[[O]], %[[SO]] :
func.func @fused_mc2_shared(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %mask = npu.mc2_mask %T of %maxT : tensor<?xi1>
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %ids = npu.moe_gating_top_k %lp k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %out = npu.dispatch_ffn_combine %xp, %ids, %w mask(%mask : tensor<?xi1>)
      weights(%w13, %w2 : tensor<8x64x32xi8>, tensor<8x16x64xi8>) scales(%s13, %s2 : tensor<8x32xf32>, tensor<8x64xf32>) w8a8
      ep_world_size(2) moe_expert_num(16) capacity(512)
      : tensor<?x64xbf16>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xbf16>
  %sq, %sqs = npu.dynamic_quant %x {npu.shared_expert = #npu.shared_expert<quantize>} : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %sa = npu.swiglu %sh {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %o = npu.slice_rows %out to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// Qwen2-MoE's gated shared expert: the gate (a gate-up stage) and the
// scaling (the down stage's last op) move with the chain; the add waits for
// the event recorded after the scaling, not after the down matmul.
// CHECK-LABEL: func.func @gated_shared_expert(
// CHECK: npu.sigmoid_gate %{{.+}}, %{{.+}} stream(2)
// CHECK: %[[SO:.+]] = npu.matmul %{{.+}}, %{{.+}} none stream(2)
// CHECK-NEXT: %[[GS:.+]] = npu.scale_rows %[[SO]], %{{.+}} stream(2)
// CHECK-NEXT: %[[DONE:.+]] = npu.record stream(2)
// CHECK: npu.wait %[[DONE]] stream(0)
// CHECK-NEXT: npu.add %{{.+}}, %[[GS]] :
func.func @gated_shared_expert(%x: tensor<?x64xbf16>, %logits: tensor<?x8xf32>, %w13: tensor<8x64x32xbf16>,
    %w2: tensor<8x16x64xbf16>, %sw13: tensor<64x48xbf16>, %sw2: tensor<24x64xbf16>, %wg: tensor<64x1xbf16>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %weights, %ids = npu.moe_gating_top_k %logits k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %ex, %idx, %tok = npu.moe_init_routing %x, %ids range(%c0, 8) experts(8) quant_mode(-1) count : tensor<?x64xbf16>, tensor<?x2xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %0 = npu.grouped_matmul %ex, %w13, %tok none count : tensor<?x64xbf16>, tensor<8x64x32xbf16>, tensor<8xi64> -> tensor<?x32xbf16>
  %1 = npu.swiglu %0 : tensor<?x32xbf16> -> tensor<?x16xbf16>
  %2 = npu.grouped_matmul %1, %w2, %tok none count : tensor<?x16xbf16>, tensor<8x16x64xbf16>, tensor<8xi64> -> tensor<?x64xbf16>
  %3 = npu.moe_token_unpermute %2, %idx probs(%weights : tensor<?x2xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %4 = npu.matmul %x, %sw13 none {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x48xbf16> -> tensor<?x48xbf16>
  %5 = npu.swiglu %4 {npu.shared_expert = #npu.shared_expert<activation>} : tensor<?x48xbf16> -> tensor<?x24xbf16>
  %6 = npu.matmul %5, %sw2 none {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x24xbf16>, tensor<24x64xbf16> -> tensor<?x64xbf16>
  %7 = npu.sigmoid_gate %x, %wg {npu.shared_expert = #npu.shared_expert<gate_up>} : tensor<?x64xbf16>, tensor<64x1xbf16> -> tensor<?x1xf32>
  %8 = npu.scale_rows %6, %7 {npu.shared_expert = #npu.shared_expert<down>} : tensor<?x64xbf16>, tensor<?x1xf32>
  %9 = npu.add %3, %8 : tensor<?x64xbf16>
  return %9 : tensor<?x64xbf16>
}
