// Input of the option tests in select-comm-method-invalid.mlir: two layers
// without expert parallelism (tp 2 x dp 2), one on an A3, one without chip.
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2>} {
  func.func @with_chip(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
      %w13: tensor<32x64x32xbf16>, %w2: tensor<32x16x64xbf16>) -> tensor<?x64xbf16>
      attributes {moe.chip = #moe.chip<A3>} {
    %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
    %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
        : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<32xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<32x64x32xbf16>, tensor<32x16x64xbf16>)
        : tensor<?x64xbf16>, tensor<32xi64>
    %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
    %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
    return %o : tensor<?x64xbf16>
  }
  func.func @without_chip(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
      %w13: tensor<32x64x32xbf16>, %w2: tensor<32x16x64xbf16>) -> tensor<?x64xbf16> {
    %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
    %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
        : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<32xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<32x64x32xbf16>, tensor<32x16x64xbf16>)
        : tensor<?x64xbf16>, tensor<32xi64>
    %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
    %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
    return %o : tensor<?x64xbf16>
  }
}
