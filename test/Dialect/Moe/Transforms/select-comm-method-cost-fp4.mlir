// policy=cost-model prices the rows fp4 experts would dispatch once the
// quantization runs before the dispatch (activationScaleBytes,
// docs/CostModel.md `send` and `c`): H * 0.5 bytes of packed e2m1 plus the
// scales. Same machine as select-comm-method-cost.mlir (A3, link 1000
// bytes/us, 1 us per collective; dp 1 x tp 2, EP 2; 2 experts, top-1) with
// H = 1024 bf16, I = 32 and T = 100 tokens, so 100 * 0.25 = 25 rows leave
// a rank in mc2's dispatch:
//
//   fp8 per token  send = 1024 + 4                       = 1028 bytes
//   mxfp4          send = 512 + 1024 / 32 (e8m0)         =  544 bytes
//   nvfp4          send = 512 + 1024 / 16 (e4m3) + 4 (global f32) = 580
//
// mc2 moves 25 * (1028 - 544) / 1000 = 12.1 us less for mxfp4 than for
// fp8, and 25 * (580 - 544) / 1000 = 0.9 us more for nvfp4 than mxfp4;
// allgather moves float rows and costs the same for all three.
//
// RUN: moe-opt %s -mlir-disable-threading -mlir-print-op-on-diagnostic=false "-moe-select-comm-method=policy=cost-model" 2>&1 | FileCheck %s

// The fp8 line's mc2 is 182.3 us: mxfp4 12.1 us less, nvfp4 0.9 us more.
// CHECK: remark: mc2: cost model at 100 tokens: mc2 182.3 us < alltoall 184.5 us < allgather 206.2 us
// CHECK: remark: mc2: cost model at 100 tokens: mc2 170.2 us < alltoall 172.4 us < allgather 206.2 us
// CHECK: remark: mc2: cost model at 100 tokens: mc2 171.1 us < alltoall 173.3 us < allgather 206.2 us

module attributes {moe.chip = #moe.chip<A3, link_gbps = 1.0, link_latency_us = 1.0>,
                   moe.layout = #moe.layout<tp = 2, dp = 1, expert_parallel = true>} {
func.func @fp8_per_token(%x: tensor<100x1024xbf16>, %logits: tensor<100x2xf32>,
    %w13: tensor<1x1024x64xf8E4M3FN>, %w2: tensor<1x32x1024xf8E4M3FN>) -> tensor<?x1024xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<100x1024xbf16>, tensor<100x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1024xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x1024x64xf8E4M3FN>, tensor<1x32x1024xf8E4M3FN>)
      quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>
      : tensor<?x1024xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1024xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1024xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1024xbf16>
}

func.func @mxfp4(%x: tensor<100x1024xbf16>, %logits: tensor<100x2xf32>,
    %w13: tensor<1x512x64xi8>, %w2: tensor<1x16x1024xi8>) -> tensor<?x1024xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<100x1024xbf16>, tensor<100x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1024xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x512x64xi8>, tensor<1x16x1024xi8>)
      quant <a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x1024xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1024xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1024xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1024xbf16>
}

func.func @nvfp4(%x: tensor<100x1024xbf16>, %logits: tensor<100x2xf32>,
    %w13: tensor<1x512x64xi8>, %w2: tensor<1x16x1024xi8>) -> tensor<?x1024xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<100x1024xbf16>, tensor<100x2xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
      : tensor<?x1024xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x512x64xi8>, tensor<1x16x1024xi8>)
      quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>
      : tensor<?x1024xbf16>, tensor<1xi64>
  %r = moe.combine %y, %dctx : tensor<?x1024xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x1024xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x1024xbf16>
}
}
