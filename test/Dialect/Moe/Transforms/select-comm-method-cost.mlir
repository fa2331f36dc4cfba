// policy=cost-model (docs/CostModel.md) on a layer whose cost lines are easy
// to derive by hand. A3 with link figures 1 GB/s (1000 bytes/us) and 1 us
// per collective, local bandwidth 1600 GB/s; dp 1 x tp 2 with EP (EP 2);
// H 1000 bf16 (rows of 2000 bytes); 2 experts (one per rank); top-1. Per
// token of T a rank dispatches K/tp = 0.5 pairs, half of which leave it.
// The expert GEMM adds the same g = 0.5 * 6 * 1000 * 8 / 376e6 us per token
// to every method, so it moves no crossing.
//
//   allgather: TP all-reduce 1 + 2 * (1/2) * 2000/1000 T; copies
//              2 * 0.5 * 2000/1.6e6 + 2 * 1 * 2000/1.6e6 T  = 1 + 2.00375 T
//   alltoall:  counts 1 + 1*2*8/1000; rows 1 + 0.25*2000/1000 T; combine the
//              same; TP gather 1 + 0.5*2000/1000 T; copies 2 * 2*0.5*2000/1.6e6
//                                                         = 4.016 + 2.0025 T
//   mc2:       dispatch 1 + 0.5 T; combine 1 + 0.5 T; TP gather 1 + 1 T
//                                                         = 3 + 2 T
//
// With prefill-mc2 the MC2 capacity is min(ceil(8192 / 2), 512) * 2 = 1024.
// allgather = mc2 at T = 2 / 0.00375 = 533.3: allgather up to 533, mc2 from
// 534 up to the capacity 1024; then allgather again until it crosses
// alltoall at T = 3.016 / 0.00125 = 2412.8: alltoall from 2413 on.
//
// DEFINE: %{run} = moe-opt %s -mlir-disable-threading -mlir-print-op-on-diagnostic=false
// RUN: %{run} "-moe-select-comm-method=policy=cost-model prefill-mc2 max-tokens=4096" 2>&1 | FileCheck %s
// RUN: %{run} "-moe-select-comm-method=policy=cost-model prefill-mc2" 2>&1 | FileCheck %s
// RUN: %{run} "-moe-select-comm-method=policy=cost-model prefill-mc2 max-tokens=2000" 2>&1 | FileCheck %s --check-prefix=HORIZON
// RUN: %{run} -moe-select-comm-method=policy=cost-model 2>&1 | FileCheck %s --check-prefix=NOPREFILL

// CHECK: remark: allgather: cost model at 533 tokens: allgather {{[0-9.]+}} us < mc2 {{[0-9.]+}} us < alltoall {{[0-9.]+}} us; fused_mc2 excluded: fused-mc2 is off
// mc2 = 3 + 534 (2 + g) = 1071.034, allgather = 1 + 534 (2.00375 + g) =
// 1071.037, alltoall = 4.016 + 534 (2.0025 + g) = 1073.385.
// CHECK: remark: mc2: cost model at 534 tokens: mc2 1071.0 us < allgather 1071.0 us < alltoall 1073.4 us; fused_mc2 excluded: fused-mc2 is off
// CHECK: remark: run-time choice on the largest token count across ranks (at most 600): allgather up to 533 tokens (cost model at 533 tokens: {{.*}}); mc2 above (cost model at 534 tokens: {{.*}})
// CHECK: remark: run-time choice on the largest token count across ranks:
// CHECK-SAME: allgather up to 533 tokens (cost model at 533 tokens: allgather {{[0-9.]+}} us < mc2 {{[0-9.]+}} us < alltoall {{[0-9.]+}} us; fused_mc2 excluded: fused-mc2 is off);
// CHECK-SAME: mc2 up to 1024 tokens (cost model at 1024 tokens: mc2 {{[0-9.]+}} us < allgather {{[0-9.]+}} us < alltoall {{[0-9.]+}} us; fused_mc2 excluded: fused-mc2 is off);
// CHECK-SAME: allgather up to 2412 tokens (cost model at 2412 tokens: allgather {{[0-9.]+}} us < alltoall {{[0-9.]+}} us; mc2 excluded: 2412 tokens > MC2 capacity 1024; fused_mc2 excluded: fused-mc2 is off);
// CHECK-SAME: alltoall above (cost model at 2413 tokens: alltoall {{[0-9.]+}} us < allgather {{[0-9.]+}} us; mc2 excluded: 2413 tokens > MC2 capacity 1024; fused_mc2 excluded: fused-mc2 is off)

// Quantized rows carry their scales (activationScaleBytes): fp8 rows per
// token send H + 4 = 1004 bytes, per group of 8 columns H + 4 * 125 = 1500.
// At 100 tokens the 0.25 pairs per token that leave the rank move 0.25 *
// 496 = 124 more bytes each: mc2's dispatch and alltoall's scale exchange
// cost 100 * 124 / 1000 = 12.4 us more (alltoall's permute copy adds
// 100 * 2 * 0.5 * 496 / 1.6e6 = 0.03 us); allgather moves float rows and
// stays the same.
// CHECK: remark: mc2: cost model at 100 tokens: mc2 178.1 us < alltoall 180.3 us < allgather 201.4 us; fused_mc2 excluded: fused-mc2 is off
// CHECK: remark: mc2: cost model at 100 tokens: mc2 190.5 us < alltoall 192.7 us < allgather 201.4 us; fused_mc2 excluded: fused-mc2 is off

// CHECK-LABEL: func.func @static533
// CHECK: !moe.prepare_ctx<allgather>
// CHECK-LABEL: func.func @static534
// CHECK: !moe.prepare_ctx<mc2>
// CHECK-LABEL: func.func @bounded600
// CHECK: moe.choose_method %{{.*}} thresholds [533] methods [allgather, mc2]
// CHECK-LABEL: func.func @dynamic
// CHECK: moe.choose_method %{{.*}} thresholds [533, 1024, 2412] methods [allgather, mc2, allgather, alltoall]
// CHECK: scf.index_switch
// CHECK-NEXT: case 0 {
// CHECK: !moe.prepare_ctx<allgather>
// CHECK: case 1 {
// CHECK: !moe.prepare_ctx<mc2>
// CHECK: case 2 {
// CHECK: !moe.prepare_ctx<allgather>
// CHECK: default {
// CHECK: !moe.prepare_ctx<alltoall>

// max-tokens 2000 ends the modelled range before the last crossing: the
// method at 1025 tokens (allgather) stays for every larger count.
// HORIZON: remark: run-time choice on the largest token count across ranks: allgather up to 533 tokens ({{.*}}); mc2 up to 1024 tokens ({{.*}}); allgather above (cost model at 1025 tokens: {{.*}})
// HORIZON: moe.choose_method %{{.*}} thresholds [533, 1024] methods [allgather, mc2, allgather]

// Without prefill MC2 the capacity is min(ceil(256 / 2), 512) * 2 = 256,
// below the first crossing: mc2 never wins.
// NOPREFILL-LABEL: func.func @dynamic
// NOPREFILL: moe.choose_method %{{.*}} thresholds [2412] methods [allgather, alltoall]

module attributes {moe.chip = #moe.chip<A3, link_gbps = 1.0, link_latency_us = 1.0>,
                   moe.layout = #moe.layout<tp = 2, dp = 1, expert_parallel = true>} {
func.func @static533(%x: tensor<533x1000xbf16>, %logits: tensor<533x2xf32>,
    %w13: tensor<1x1000x16xbf16>, %w2: tensor<1x8x1000xbf16>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<533x1000xbf16>, tensor<533x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xbf16>, tensor<1x8x1000xbf16>)
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}

func.func @static534(%x: tensor<534x1000xbf16>, %logits: tensor<534x2xf32>,
    %w13: tensor<1x1000x16xbf16>, %w2: tensor<1x8x1000xbf16>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<534x1000xbf16>, tensor<534x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xbf16>, tensor<1x8x1000xbf16>)
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}

func.func @bounded600(%x: tensor<?x1000xbf16>, %logits: tensor<?x2xf32>,
    %w13: tensor<1x1000x16xbf16>, %w2: tensor<1x8x1000xbf16>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits max_tokens(600) : tensor<?x1000xbf16>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xbf16>, tensor<1x8x1000xbf16>)
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}

func.func @dynamic(%x: tensor<?x1000xbf16>, %logits: tensor<?x2xf32>,
    %w13: tensor<1x1000x16xbf16>, %w2: tensor<1x8x1000xbf16>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x1000xbf16>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xbf16>, tensor<1x8x1000xbf16>)
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}
func.func @fp8_per_token(%x: tensor<100x1000xbf16>, %logits: tensor<100x2xf32>,
    %w13: tensor<1x1000x16xf8E4M3FN>, %w2: tensor<1x8x1000xf8E4M3FN>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<100x1000xbf16>, tensor<100x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xf8E4M3FN>, tensor<1x8x1000xf8E4M3FN>)
      quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>,
             w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}

func.func @fp8_groups_of_8(%x: tensor<100x1000xbf16>, %logits: tensor<100x2xf32>,
    %w13: tensor<1x1000x16xf8E4M3FN>, %w2: tensor<1x8x1000xf8E4M3FN>) -> tensor<?x1000xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<100x1000xbf16>, tensor<100x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1000xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1000x16xf8E4M3FN>, tensor<1x8x1000xf8E4M3FN>)
      quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 8]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 8]>,
             w1 = #moe.qdesc<fp8_e4m3, block [8, 8]>, w2 = #moe.qdesc<fp8_e4m3, block [8, 8]>>
      : tensor<?x1000xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1000xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1000xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1000xbf16>
}
}
