// Every option of the table policy. Default configuration: max_num_reqs
// 256, decode query length 1, no graphs, max_num_batched_tokens 8192; A3,
// tp 1, so the MC2 capacity is 256.
// DEFINE: %{run} = moe-opt %s -mlir-disable-threading -mlir-print-op-on-diagnostic=false -mlir-disable-threading
// RUN: %{run} -moe-select-comm-method 2>&1 | FileCheck %s --check-prefix=DEFAULT
// RUN: %{run} -moe-select-comm-method=fused-mc2 2>&1 | FileCheck %s --check-prefix=FUSED
// RUN: %{run} "-moe-select-comm-method=fused-mc2 mega-moe" 2>&1 | FileCheck %s --check-prefix=MEGA
// RUN: %{run} -moe-select-comm-method=prefill-mc2 2>&1 | FileCheck %s --check-prefix=PREFILL
// RUN: %{run} -moe-select-comm-method=max-graph-size=128 2>&1 | FileCheck %s --check-prefix=GRAPH
// RUN: %{run} "-moe-select-comm-method=max-num-reqs=100 decode-query-len=3" 2>&1 | FileCheck %s --check-prefix=REQS
// RUN: %{run} "-moe-select-comm-method=prefill-mc2 max-num-batched-tokens=400" 2>&1 | FileCheck %s --check-prefix=BATCHED
// RUN: %{run} -moe-select-comm-method=lora 2>&1 | FileCheck %s --check-prefix=LORA

// DEFAULT: remark: mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 256
// DEFAULT: remark: alltoall: A3, 16 EP ranks, 300 tokens > MC2 capacity 256
// DEFAULT: remark: run-time choice on the largest token count across ranks: mc2 up to 256 tokens (A3, 16 EP ranks, 256 tokens <= MC2 capacity 256); alltoall above (A3, 16 EP ranks, 257 tokens > MC2 capacity 256)
// DEFAULT: remark: run-time choice on the largest token count across ranks: mc2 up to 256 tokens (A3, 48 EP ranks, 256 tokens <= MC2 capacity 256); alltoall above (A3, 48 EP ranks, 257 tokens > MC2 capacity 256)
// DEFAULT-LABEL: func.func @static64
// DEFAULT: !moe.prepare_ctx<mc2>
// DEFAULT-LABEL: func.func @static300
// DEFAULT: !moe.prepare_ctx<alltoall>
// DEFAULT-LABEL: func.func @dynamic
// DEFAULT: moe.choose_method %{{.*}} thresholds [256] methods [mc2, alltoall]
// DEFAULT-LABEL: func.func @mega
// DEFAULT: moe.choose_method %{{.*}} thresholds [256] methods [mc2, alltoall]

// dispatch_ffn_combine (EP <= 32) up to its capacity 256, alltoall above
// (300 tokens on a rank were given to it and failed at run time); EP 48
// falls back to plain MC2 against the dispatch_v2 capacity min(256, 512) =
// 256.
// FUSED: remark: fused_mc2: A3, 16 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 64 tokens <= fused MC2 capacity 256
// FUSED: remark: alltoall: A3, 16 EP ranks, no fused_mc2: 300 tokens > fused MC2 capacity 256, 300 tokens > MC2 capacity 256
// FUSED: remark: run-time choice on the largest token count across ranks: fused_mc2 up to 256 tokens (A3, 16 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 256 tokens <= fused MC2 capacity 256); alltoall above (A3, 16 EP ranks, no fused_mc2: 257 tokens > fused MC2 capacity 256, 257 tokens > MC2 capacity 256)
// FUSED: remark: run-time choice on the largest token count across ranks: mc2 up to 256 tokens (A3, 48 EP ranks, no fused_mc2: 48 EP ranks > fused MC2 limit 32, 256 tokens <= MC2 capacity 256); alltoall above (A3, 48 EP ranks, no fused_mc2: 48 EP ranks > fused MC2 limit 32, 257 tokens > MC2 capacity 256)
// FUSED-LABEL: func.func @static64
// FUSED: !moe.prepare_ctx<fused_mc2>
// FUSED: !moe.dispatch_ctx<fused_mc2>
// FUSED-LABEL: func.func @static300
// FUSED: !moe.prepare_ctx<alltoall>
// FUSED-LABEL: func.func @dynamic
// FUSED: moe.choose_method %{{.*}} thresholds [256] methods [fused_mc2, alltoall]
// FUSED-LABEL: func.func @mega
// FUSED: moe.choose_method %{{.*}} thresholds [256] methods [mc2, alltoall]

// MegaMoE runs the w8a8 layer with H 1024 and EP 48 <= 64, sized from
// max_num_batched_tokens but capped by the kernel's 512 rows per rank; the
// H 64 layers cannot use it and run dispatch_ffn_combine.
// MEGA: remark: fused_mc2: A3, 16 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 64 tokens <= fused MC2 capacity 256
// MEGA: remark: alltoall: A3, 16 EP ranks, no fused_mc2: 300 tokens > fused MC2 capacity 256, 300 tokens > MC2 capacity 256
// MEGA: remark: run-time choice on the largest token count across ranks: fused_mc2 up to 256 tokens
// MEGA: remark: run-time choice on the largest token count across ranks: fused_mc2 up to 512 tokens (A3, 48 EP ranks <= 64 of fused MC2 (MegaMoE), 512 tokens <= fused MC2 capacity 512); alltoall above
// MEGA-LABEL: func.func @mega
// MEGA: moe.choose_method %{{.*}} thresholds [512] methods [fused_mc2, alltoall]

// Prefill MC2: capacity min(8192, 512) = 512.
// PREFILL: remark: mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 512
// PREFILL: remark: mc2: A3, 16 EP ranks, 300 tokens <= MC2 capacity 512
// PREFILL: remark: run-time choice on the largest token count across ranks: mc2 up to 512 tokens
// PREFILL-LABEL: func.func @dynamic
// PREFILL: moe.choose_method %{{.*}} thresholds [512] methods [mc2, alltoall]

// A captured graph of 128: capacity 128.
// GRAPH: remark: mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 128
// GRAPH: remark: alltoall: A3, 16 EP ranks, 300 tokens > MC2 capacity 128
// GRAPH-LABEL: func.func @dynamic
// GRAPH: moe.choose_method %{{.*}} thresholds [128] methods [mc2, alltoall]

// 100 requests of 3 tokens (MTP with 2 speculative tokens): capacity 300.
// REQS: remark: mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 300
// REQS: remark: mc2: A3, 16 EP ranks, 300 tokens <= MC2 capacity 300
// REQS-LABEL: func.func @dynamic
// REQS: moe.choose_method %{{.*}} thresholds [300] methods [mc2, alltoall]

// Prefill MC2 with max_num_batched_tokens 400: capacity 400.
// BATCHED: remark: mc2: A3, 16 EP ranks, 300 tokens <= MC2 capacity 400
// BATCHED-LABEL: func.func @dynamic
// BATCHED: moe.choose_method %{{.*}} thresholds [400] methods [mc2, alltoall]

// LoRA with expert parallelism: alltoall everywhere.
// LORA: remark: alltoall: LoRA with expert parallelism
// LORA: remark: alltoall: LoRA with expert parallelism
// LORA: remark: alltoall for any token count: LoRA with expert parallelism
// LORA: remark: alltoall for any token count: LoRA with expert parallelism
// LORA-NOT: moe.choose_method

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
func.func @static64(%x: tensor<64x64xbf16>, %logits: tensor<64x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<64x64xbf16>, tensor<64x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

func.func @static300(%x: tensor<300x64xbf16>, %logits: tensor<300x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<300x64xbf16>, tensor<300x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

func.func @dynamic(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// 48 EP ranks, H 1024 (a multiple of 512), W8A8: MegaMoE can run it.
func.func @mega(%x: tensor<?x1024xbf16>, %logits: tensor<?x96xf32>,
    %w13: tensor<2x1024x256xi8>, %w2: tensor<2x128x1024xi8>,
    %s13: tensor<2x256xf32>, %s2: tensor<2x1024xf32>) -> tensor<?x1024xbf16>
    attributes {moe.layout = #moe.layout<tp = 1, dp = 48, expert_parallel = true>} {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x1024xbf16>, tensor<?x96xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(8) sigmoid renormalize : tensor<?x96xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(96)
      : tensor<?x1024xbf16>, tensor<?x8xf32>, tensor<?x8xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x1024x256xi8>, tensor<2x128x1024xi8>)
      scales(%s13, %s2 : tensor<2x256xf32>, tensor<2x1024xf32>) quant <w8a8_dynamic>
      : tensor<?x1024xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x1024xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1024xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1024xbf16>
}
}
