// tiny_layer.mlir on two ranks (DP 2 with expert parallelism):
// H 2, 2 experts, top-2 softmax without renormalization, I 1.
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @tiny(%x: tensor<?x2xf32> {moe.name = "x"},
                  %logits: tensor<?x2xf32> {moe.name = "logits"},
                  %w13: tensor<1x2x2xf32> {moe.name = "w13"},
                  %w2: tensor<1x1x2xf32> {moe.name = "w2"}) -> tensor<?x2xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x2xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>
    %w, %ids = moe.gate %l top_k(2) softmax : tensor<?x2xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(2)
        : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<1x2x2xf32>, tensor<1x1x2xf32>)
        : tensor<?x2xf32>, tensor<1xi64>
    %o = moe.combine %y, %dctx : tensor<?x2xf32>, !moe.dispatch_ctx<unset>
    %r = moe.finalize %o, %pctx : tensor<?x2xf32>, !moe.prepare_ctx<unset>
    return %r : tensor<?x2xf32>
  }
}
