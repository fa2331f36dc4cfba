// A layer with group-balanced routing (moe.gate ... groups(16, 16)
// balanced: one expert from each of 16 groups, a whole group on each of 16
// EP ranks): moge can run it, but only when asked for (used by
// select-comm-method-fixed.mlir).
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
func.func @balanced(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(16) softmax groups(16, 16) balanced : tensor<?x32xf32> -> tensor<?x16xf32>, tensor<?x16xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x16xf32>, tensor<?x16xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}
