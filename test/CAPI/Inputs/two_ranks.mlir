// A two-rank layer (expert parallel over dp = 2): ctypes.test and the
// consumer of test/Install run it.
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @layer(%x: tensor<?x8xf32> {moe.name = "x"},
                   %logits: tensor<?x4xf32> {moe.name = "logits"},
                   %w13: tensor<2x8x8xf32> {moe.name = "w13"},
                   %w2: tensor<2x4x8xf32> {moe.name = "w2"}) -> tensor<?x8xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
    %wt, %ids = moe.gate %l top_k(2) softmax renormalize
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(4)
        : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>
        -> tensor<2xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x8xf32>)
        : tensor<?x8xf32>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x8xf32>, !moe.dispatch_ctx<unset>
    %out = moe.finalize %r, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<unset>
    return %out : tensor<?x8xf32>
  }
}
