// One MoE layer of DeepSeek-V3 (H 7168, 256 routed experts, top-8,
// intermediate 2048, one shared expert) as deployed on Atlas A3 with 16-way
// expert parallelism (DP 16), W8A8 dynamic quantization and EPLB with 32
// redundant experts: 288 physical experts, 18 per rank.
//
// Routing: sigmoid scores with the e_score_correction_bias, 8 groups of
// which the best 4 stay selectable, top-8, renormalized, scaled by 2.5.
//
// The communication method is unset: moe-select-comm-method chooses it.
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  func.func @deepseek_v3_moe(
      %x: tensor<?x7168xbf16> {moe.name = "x"},
      %logits: tensor<?x256xf32> {moe.name = "logits"},
      %bias: tensor<256xf32> {moe.name = "e_score_correction_bias"},
      %log2phy: tensor<256xi32> {moe.name = "log2phy"},
      %expert_map: tensor<288xi32> {moe.name = "expert_map"},
      %w13: tensor<18x7168x4096xi8> {moe.name = "w13"},
      %w2: tensor<18x2048x7168xi8> {moe.name = "w2"},
      %w13_scale: tensor<18x4096xf32> {moe.name = "w13_scale"},
      %w2_scale: tensor<18x7168xf32> {moe.name = "w2_scale"},
      %shared_w13: tensor<7168x4096xi8> {moe.name = "shared_w13"},
      %shared_w2: tensor<2048x7168xi8> {moe.name = "shared_w2"},
      %shared_w13_scale: tensor<4096xf32> {moe.name = "shared_w13_scale"},
      %shared_w2_scale: tensor<7168xf32> {moe.name = "shared_w2_scale"})
      -> tensor<?x7168xbf16> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x7168xbf16>, tensor<?x256xf32> -> !moe.prepare_ctx<unset>
    %weights, %ids = moe.gate %l bias(%bias : tensor<256xf32>) top_k(8) sigmoid
        renormalize groups(8, 4) scale(2.5)
        : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %weights, %ids experts(256 + 32)
        log2phy(%log2phy : tensor<256xi32>) expert_map(%expert_map : tensor<288xi32>)
        : tensor<?x7168xbf16>, tensor<?x8xf32>, tensor<?x8xi32>
        -> tensor<18xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<18x7168x4096xi8>, tensor<18x2048x7168xi8>)
        scales(%w13_scale, %w2_scale : tensor<18x4096xf32>, tensor<18x7168xf32>)
        quant <w8a8_dynamic> : tensor<?x7168xbf16>, tensor<18xi64>
    %routed = moe.combine %y, %dctx : tensor<?x7168xbf16>, !moe.dispatch_ctx<unset>
    %shared = moe.shared_experts %x
        weights(%shared_w13, %shared_w2 : tensor<7168x4096xi8>, tensor<2048x7168xi8>)
        scales(%shared_w13_scale, %shared_w2_scale : tensor<4096xf32>, tensor<7168xf32>)
        quant <w8a8_dynamic> : tensor<?x7168xbf16>
    %out = moe.finalize %routed, %pctx shared(%shared : tensor<?x7168xbf16>)
        : tensor<?x7168xbf16>, !moe.prepare_ctx<unset>
    return %out : tensor<?x7168xbf16>
  }
}
