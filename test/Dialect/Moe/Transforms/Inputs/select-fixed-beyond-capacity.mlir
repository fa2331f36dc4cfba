// Layers a fixed method cannot run (select-comm-method-invalid.mlir): on an
// A3 (512 rows per rank in one MC2 kernel) with 16 EP ranks, @static600 has
// 600 tokens on every rank; @w4a8 has w4a8_dynamic experts, which the fused
// MC2 kernel does not run. Run with -split-input-file.
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
func.func @static600(%x: tensor<600x64xbf16>, %logits: tensor<600x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<600x64xbf16>, tensor<600x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
func.func @w4a8(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xi4>, %w2: tensor<2x16x64xi4>,
    %s13: tensor<2x32xf32>, %s2: tensor<2x64xf32>,
    %g13: tensor<2x4x32xf32>, %g2: tensor<2x1x64xf32>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xi4>, tensor<2x16x64xi4>)
      scales(%s13, %s2 : tensor<2x32xf32>, tensor<2x64xf32>)
      group_scales(%g13, %g2 : tensor<2x4x32xf32>, tensor<2x1x64xf32>)
      quant <w4a8_dynamic, group_size = 16>
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}
