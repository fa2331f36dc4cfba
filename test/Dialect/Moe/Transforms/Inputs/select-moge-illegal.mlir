// Layers moge cannot run (used by select-comm-method-invalid.mlir with
// policy=fixed method=moge): routing that is not group-balanced, balanced
// groups split over EP ranks, quantized experts, EPLB tables.
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @unbalanced(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax groups(4, 2) : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<8xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xbf16>, tensor<8x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<8xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @split_groups(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x32xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<8xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xbf16>, tensor<8x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<8xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @quantized(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<8x64x32xi8>, %w2: tensor<8x16x64xi8>,
    %s13: tensor<8x32xf32>, %s2: tensor<8x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax groups(4, 4) balanced : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<8xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xi8>, tensor<8x16x64xi8>)
      scales(%s13, %s2 : tensor<8x32xf32>, tensor<8x64xf32>) quant <w8a8_dynamic>
      : tensor<?x64xbf16>, tensor<8xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
func.func @eplb(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>, %l2p: tensor<32xi32>,
    %w13: tensor<8x64x32xbf16>, %w2: tensor<8x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax groups(4, 4) balanced : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32) log2phy(%l2p : tensor<32xi32>)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<8xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<8x64x32xbf16>, tensor<8x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<8xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}
