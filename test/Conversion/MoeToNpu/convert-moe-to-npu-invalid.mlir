// RUN: moe-opt %s -split-input-file -convert-moe-to-npu -verify-diagnostics

// One case per error of convert-moe-to-npu.

func.func @unset(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.prepare' op has no communication method; run moe-select-comm-method first or give the method in its context type}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  %r = moe.finalize %h, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<unset>
  return %r : tensor<?x64xf32>
}

// -----

func.func @unset_dispatch(%h: tensor<?x64xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) -> tensor<4xi64> {
  // expected-error @+1 {{'moe.dispatch' op has no communication method; run moe-select-comm-method first or give the method in its context type}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return %counts : tensor<4xi64>
}

// -----

func.func @finalize_orphan(%y: tensor<?x64xf32>, %pctx: !moe.prepare_ctx<mc2>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.finalize' op cannot be expanded: its context does not come from a moe.prepare of this function}}
  %r = moe.finalize %y, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}

// -----

func.func @combine_orphan(%y: tensor<?x64xf32>, %dctx: !moe.dispatch_ctx<mc2>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.combine' op cannot be expanded: its context does not come from a moe.dispatch of this function}}
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  return %r : tensor<?x64xf32>
}

// -----

func.func @escaping_ctx(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>) -> !moe.prepare_ctx<alltoall> {
  // expected-error @+1 {{'moe.prepare' op cannot be expanded: its result is used by 'func.return', which is not a stage of its layer}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<alltoall>
  return %pctx : !moe.prepare_ctx<alltoall>
}

// -----

func.func @fused_two_users(%h: tensor<?x64xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>,
                           %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  // expected-error @+1 {{'moe.dispatch' op cannot become one fused_mc2 kernel: its rows and counts must feed exactly one moe.experts}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  return %o, %rows : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

func.func @fused_experts_escape(%h: tensor<?x64xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>,
                                %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  // expected-error @+1 {{'moe.dispatch' op cannot become one fused_mc2 kernel: the experts' output must feed exactly its moe.combine}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  return %o, %y : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

func.func @fused_w4a8(%h: tensor<?x64xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>,
                      %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
                      %g13: tensor<4x4x32xf32>, %g2: tensor<4x1x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.dispatch' op cannot become one fused_mc2 kernel: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not w4a8_dynamic}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<fused_mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      group_scales(%g13, %g2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<fused_mc2>
  return %o : tensor<?x64xf32>
}

// -----

func.func @fp8_experts(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                       %w13: tensor<2x256x256xf8E4M3FN>, %w2: tensor<2x128x256xf8E4M3FN>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: fp8_e4m3 weights need their scales, scales(w13_scale, w2_scale), one per block}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x256x256xf8E4M3FN>, tensor<2x128x256xf8E4M3FN>)
      quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
             w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

// Per-tensor dynamic activation scales depend on the rows a rank holds.
func.func @fp8_per_tensor_activations(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                       %w13: tensor<2x256x256xf8E4M3FN>, %w2: tensor<2x128x256xf8E4M3FN>,
                       %s13: tensor<2x1x1xf32>, %s2: tensor<2x1x1xf32>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: no device operator runs experts quantized as #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<fp8_e4m3, per_tensor>, w2 = #moe.qdesc<fp8_e4m3, per_tensor>>: per_tensor activation scales are dynamic over whatever rows a rank holds, which differs between methods and world sizes; static scales are not supported yet: use per_token or block [1, G]; supported are none, w8a8_dynamic, w4a8_dynamic and the int8 / fp8 / mxfp4 / nvfp4 schemes of docs/Quantization.md}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x256x256xf8E4M3FN>, tensor<2x128x256xf8E4M3FN>)
      scales(%s13, %s2 : tensor<2x1x1xf32>, tensor<2x1x1xf32>)
      quant <a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>,
             w1 = #moe.qdesc<fp8_e4m3, per_tensor>, w2 = #moe.qdesc<fp8_e4m3, per_tensor>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

func.func @mxfp6_experts(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                         %w13: tensor<2x256x256xi8>, %w2: tensor<2x128x256xi8>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: no device operator runs experts quantized as #moe.quant<a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>, w1 = #moe.qdesc<mxfp6_e2m3>, w2 = #moe.qdesc<mxfp6_e2m3>>: mxfp6_e2m3 weights have no device format yet (int8, fp8, mxfp4 and nvfp4 do); supported are none, w8a8_dynamic, w4a8_dynamic and the int8 / fp8 / mxfp4 / nvfp4 schemes of docs/Quantization.md}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x256x256xi8>, tensor<2x128x256xi8>)
      quant <a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>, w1 = #moe.qdesc<mxfp6_e2m3>, w2 = #moe.qdesc<mxfp6_e2m3>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

// mxfp4 weights with fp8 activations (OCP MX w_mxfp4_a_fp8) are a valid
// descriptor without an expansion.
func.func @mxfp4_fp8_rows(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                          %w13: tensor<2x128x256xi8>, %w2: tensor<2x64x256xi8>,
                          %s13: tensor<2x8x256xi8>, %s2: tensor<2x4x256xi8>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: no device operator runs experts quantized as #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>: mxfp4 weights run with float activations or mxfp4 activations, not fp8_e4m3}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x128x256xi8>, tensor<2x64x256xi8>)
      scales(%s13, %s2 : tensor<2x8x256xi8>, tensor<2x4x256xi8>)
      quant <a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

func.func @mxfp4_no_scales(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                           %w13: tensor<2x128x256xi8>, %w2: tensor<2x64x256xi8>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: mxfp4 weights need their micro-block scales, scales(w13_scale, w2_scale)}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x128x256xi8>, tensor<2x64x256xi8>)
      quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

func.func @nvfp4_no_global(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                           %w13: tensor<2x128x256xi8>, %w2: tensor<2x64x256xi8>,
                           %s13: tensor<2x16x256xf8E4M3FN>, %s2: tensor<2x8x256xf8E4M3FN>) -> tensor<?x256xbf16> {
  // expected-error @+1 {{'moe.experts' op cannot be expanded: nvfp4 weights need their per-expert global scales, group_scales(w13_global, w2_global)}}
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x128x256xi8>, tensor<2x64x256xi8>)
      scales(%s13, %s2 : tensor<2x16x256xf8E4M3FN>, tensor<2x8x256xf8E4M3FN>)
      quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y : tensor<?x256xbf16>
}

// -----

// A quant version 1.0.0 w4a8 checkpoint splits w2's bias into 16 / tp
// partial sums: seed 001 rejects experts tensor-sharded over more than 16.
module attributes {moe.layout = #moe.layout<tp = 32, dp = 1>} {
func.func @w4a8_v1_tp32(%w: tensor<2x4x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>, %sb: tensor<2x8x1xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'moe.prepare_weights' op cannot be expanded: a quant version 1.0.0 w4a8 checkpoint supports experts tensor-sharded over at most 16 ranks, this layout shards them over 32}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss scale_bias(%sb : tensor<2x8x1xf32>) quant <w4a8_dynamic, group_size = 8>
      : tensor<2x4x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}
}

// -----

// The partial sums are 1 (w13) or 16 / tp (w2).
module attributes {moe.layout = #moe.layout<tp = 4, dp = 1>} {
func.func @w4a8_v1_parts(%w: tensor<2x4x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>, %sb: tensor<2x8x3xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'moe.prepare_weights' op cannot be expanded: scale_bias holds 3 partial sums per channel; a quant version 1.0.0 checkpoint has 1 (w13) or 16 / tp = 4 (w2)}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss scale_bias(%sb : tensor<2x8x3xf32>) quant <w4a8_dynamic, group_size = 8>
      : tensor<2x4x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}
}

// -----

// moge: the experts apply topk_scales, so the dispatch's rows must reach
// one moe.experts and nothing else.
func.func @moge_rows_escape(%h: tensor<?x64xf32>, %l: tensor<?x4xf32>,
                            %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %w, %ids = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot run as moge: its rows and counts must feed exactly one moe.experts}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  return %o, %rows : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// moge: vllm-ascend's quantized MLP does not apply topk_scales.
func.func @moge_w8a8(%h: tensor<?x64xf32>, %l: tensor<?x4xf32>,
                     %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>) -> tensor<?x64xf32> {
  %w, %ids = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot run as moge: moge's experts scale unquantized activations by topk_scales, not w8a8_dynamic ones}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) quant <w8a8_dynamic> : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  return %o : tensor<?x64xf32>
}

// -----

// moge: the experts' output must reach the moge combine only.
func.func @moge_experts_escape(%h: tensor<?x64xf32>, %l: tensor<?x4xf32>,
                               %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %w, %ids = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot run as moge: the experts' output must feed exactly its moe.combine}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(4) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  return %o, %y : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// The descriptor schemes run routed experts; shared experts are refused.
func.func @fp8_shared_experts(%x: tensor<?x64xbf16>, %w13: tensor<64x32xf8E4M3FN>, %w2: tensor<16x64xf8E4M3FN>,
                              %s13: tensor<1x32xf32>, %s2: tensor<1x64xf32>) -> tensor<?x64xbf16> {
  // expected-error @+1 {{'moe.shared_experts' op cannot be expanded: shared experts quantized as #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>> have no device expansion yet (routed experts do; docs/Quantization.md)}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<64x32xf8E4M3FN>, tensor<16x64xf8E4M3FN>)
      scales(%s13, %s2 : tensor<1x32xf32>, tensor<1x64xf32>)
      quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>,
             w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>
      : tensor<?x64xbf16>
  return %s : tensor<?x64xbf16>
}

// -----

// Shared-expert ranks compute the layer's shared experts: it needs some.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_no_shared(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> (tensor<?x64xf32>) {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the layer's moe.finalize must add a moe.shared_experts to the combined rows: the shared-expert ranks compute the shared experts and nothing else}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %out = moe.finalize %r, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xf32>
}
}

// -----

// The shared output comes back inside the combined rows: no other use.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_shared_escapes(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the shared experts' output must only be added by the finalize: on shared-expert ranks it comes back inside the combined rows}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xf32>, tensor<16x64xf32>) : tensor<?x64xf32>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out, %sh : tensor<?x64xf32>, tensor<?x64xf32>
}
}

// -----

// No gate on shared experts hosted by shared-expert ranks.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_gate(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>, %g: tensor<64x1xf32>) -> (tensor<?x64xf32>) {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the shared experts take no gate (sigmoid(x . Wg) needs the unquantized rows on the shared-expert ranks)}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xf32>, tensor<16x64xf32>) gate(%g : tensor<64x1xf32>) : tensor<?x64xf32>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xf32>
}
}

// -----

// Routed and shared experts quantized alike.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_quant_mismatch(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> (tensor<?x64xf32>) {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 routed and shared experts must share a quantization scheme (the rows of both come from one dispatch), got w8a8_dynamic and none}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi8>, tensor<4x16x64xi8>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>) quant <w8a8_dynamic> : tensor<?x64xf32>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xf32>, tensor<16x64xf32>) : tensor<?x64xf32>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xf32>
}
}

// -----

// The shared weights exist where the routed experts run.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_late_weights(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xf32>, %w2: tensor<4x16x64xf32>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> (tensor<?x64xf32>) {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the shared experts' weights must be defined before the routed experts (their MLP runs in its place on the shared-expert ranks)}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xf32>, tensor<4x16x64xf32>) : tensor<?x64xf32>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %sw2b = arith.addf %sw2, %sw2 : tensor<16x64xf32>
  %sh = moe.shared_experts %x weights(%sw13, %sw2b : tensor<64x32xf32>, tensor<16x64xf32>) : tensor<?x64xf32>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xf32>
}
}

// -----

// Shared-expert ranks run MC2's quant modes: unquantized or w8a8_dynamic.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_w4a8(%x: tensor<?x64xbf16>, %l: tensor<?x8xf32>,
    %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>, %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
    %g13: tensor<4x4x32xf32>, %g2: tensor<4x1x64xf32>,
    %sw13: tensor<64x32xi4>, %sw2: tensor<16x64xi4>, %sg13: tensor<4x32xf32>, %sg2: tensor<1x64xf32>) -> tensor<?x64xbf16> {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xbf16>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the experts must be unquantized or w8a8_dynamic (MC2's quant modes), not w4a8_dynamic}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>) scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      group_scales(%g13, %g2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xbf16>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xi4>, tensor<16x64xi4>)
      group_scales(%sg13, %sg2 : tensor<4x32xf32>, tensor<1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xbf16>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xbf16>
}
}

// -----

// On the other ranks the routed experts run: the rows must reach them.
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
func.func @shared_ranks_no_experts(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>,
    %sw13: tensor<64x32xf32>, %sw2: tensor<16x64xf32>) -> tensor<?x64xf32> {
  %h, %lp, %pctx = moe.prepare %x, %l : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %lp top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op cannot be expanded: with shared_expert_ranks = 2 the dispatched rows must reach a moe.experts}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
  %r = moe.combine %rows, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %sh = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xf32>, tensor<16x64xf32>) : tensor<?x64xf32>
  %out = moe.finalize %r, %pctx shared(%sh : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %out : tensor<?x64xf32>
}
}
