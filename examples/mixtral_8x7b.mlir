// One MoE layer of Mixtral-8x7B (H 4096, 8 experts, top-2, intermediate
// 14336) on Atlas A2 with TP 2 and no expert parallelism: every device holds
// all 8 experts, each tensor-sharded to half its intermediate size (7168).
//
// Routing: softmax scores, top-2, renormalized.
module attributes {moe.chip = #moe.chip<A2>,
                   moe.layout = #moe.layout<tp = 2, dp = 1>} {
  func.func @mixtral_moe(
      %x: tensor<?x4096xbf16> {moe.name = "x"},
      %logits: tensor<?x8xf32> {moe.name = "logits"},
      %w13: tensor<8x4096x14336xbf16> {moe.name = "w13"},
      %w2: tensor<8x7168x4096xbf16> {moe.name = "w2"})
      -> tensor<?x4096xbf16> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x4096xbf16>, tensor<?x8xf32> -> !moe.prepare_ctx<unset>
    %weights, %ids = moe.gate %l top_k(2) softmax renormalize
        : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %weights, %ids experts(8)
        : tensor<?x4096xbf16>, tensor<?x2xf32>, tensor<?x2xi32>
        -> tensor<8xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<8x4096x14336xbf16>, tensor<8x7168x4096xbf16>)
        : tensor<?x4096xbf16>, tensor<8xi64>
    %routed = moe.combine %y, %dctx : tensor<?x4096xbf16>, !moe.dispatch_ctx<unset>
    %out = moe.finalize %routed, %pctx : tensor<?x4096xbf16>, !moe.prepare_ctx<unset>
    return %out : tensor<?x4096xbf16>
  }
}
