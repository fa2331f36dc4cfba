// One MoE layer of Qwen3-30B-A3B (H 2048, 128 experts, top-8, intermediate
// 768, no shared expert) on Atlas A2 with TP 2 x DP 2 and expert
// parallelism: the 4 devices own 32 experts each. BF16 weights.
//
// Routing: softmax scores, top-8, renormalized (norm_topk_prob).
module attributes {moe.chip = #moe.chip<A2>,
                   moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
  func.func @qwen3_moe(
      %x: tensor<?x2048xbf16> {moe.name = "x"},
      %logits: tensor<?x128xf32> {moe.name = "logits"},
      %w13: tensor<32x2048x1536xbf16> {moe.name = "w13"},
      %w2: tensor<32x768x2048xbf16> {moe.name = "w2"})
      -> tensor<?x2048xbf16> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x2048xbf16>, tensor<?x128xf32> -> !moe.prepare_ctx<unset>
    %weights, %ids = moe.gate %l top_k(8) softmax renormalize
        : tensor<?x128xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %weights, %ids experts(128)
        : tensor<?x2048xbf16>, tensor<?x8xf32>, tensor<?x8xi32>
        -> tensor<32xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<32x2048x1536xbf16>, tensor<32x768x2048xbf16>)
        : tensor<?x2048xbf16>, tensor<32xi64>
    %routed = moe.combine %y, %dctx : tensor<?x2048xbf16>, !moe.dispatch_ctx<unset>
    %out = moe.finalize %routed, %pctx : tensor<?x2048xbf16>, !moe.prepare_ctx<unset>
    return %out : tensor<?x2048xbf16>
  }
}
