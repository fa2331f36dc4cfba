// A layer whose router weight scales the input (top-1): only allgather can
// run it (used by select-comm-method-invalid.mlir).
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
func.func @router_weight_on_input(%x: tensor<64x64xbf16>, %logits: tensor<64x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<64x64xbf16>, tensor<64x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x32xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32) router_weight_on_input
      : tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}
