// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s
// RUN: moe-opt %s -emit-bytecode | moe-opt | FileCheck %s

// Every op of the moe dialect with every optional part, round-tripped
// through the custom form, the generic form and bytecode.

module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>,
                   moe.chip = #moe.chip<A3>} {

// CHECK-LABEL: func.func @layer
func.func @layer(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
                 %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>,
                 %sw13: tensor<64x48xbf16>, %sw2: tensor<24x64xbf16>)
    -> tensor<?x64xbf16> {
  // CHECK: %[[H:.+]], %[[L:.+]], %[[PC:.+]] = moe.prepare %{{.+}}, %{{.+}} : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  %h, %l, %pctx = moe.prepare %x, %logits
      : tensor<?x64xbf16>, tensor<?x16xf32> -> !moe.prepare_ctx<alltoall>
  // CHECK: %[[W:.+]], %[[IDS:.+]] = moe.gate %[[L]] top_k(2) softmax renormalize : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w, %ids = moe.gate %l top_k(2) softmax renormalize
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // CHECK: %[[ROWS:.+]], %[[COUNTS:.+]], %[[DC:.+]] = moe.dispatch %[[H]], %[[W]], %[[IDS]] experts(16) : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16)
      : tensor<?x64xbf16>, tensor<?x2xf32>, tensor<?x2xi32>
      -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  // CHECK: %[[Y:.+]] = moe.experts %[[ROWS]], %[[COUNTS]] weights(%{{.+}}, %{{.+}} : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>) : tensor<?x64xbf16>, tensor<4xi64>
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<4xi64>
  // CHECK: %[[O:.+]] = moe.combine %[[Y]], %[[DC]] : tensor<?x64xbf16>, !moe.dispatch_ctx<alltoall>
  %o = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<alltoall>
  // CHECK: %[[S:.+]] = moe.shared_experts %{{.+}} weights(%{{.+}}, %{{.+}} : tensor<64x48xbf16>, tensor<24x64xbf16>) : tensor<?x64xbf16>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x48xbf16>, tensor<24x64xbf16>)
      : tensor<?x64xbf16>
  // CHECK: %[[R:.+]] = moe.finalize %[[O]], %[[PC]] shared(%[[S]] : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<alltoall>
  %r = moe.finalize %o, %pctx shared(%s : tensor<?x64xbf16>)
      : tensor<?x64xbf16>, !moe.prepare_ctx<alltoall>
  // CHECK: return %[[R]]
  return %r : tensor<?x64xbf16>
}

// DeepSeek-style gate, EPLB dispatch and w8a8 experts; static token counts.
// CHECK-LABEL: func.func @deepseek_style
func.func @deepseek_style(%x: tensor<6x64xf32>, %logits: tensor<6x32xf32>,
                          %bias: tensor<32xf32>, %l2p: tensor<32xi32>,
                          %map: tensor<40xi32>,
                          %w13: tensor<10x64x32xi8>, %w2: tensor<10x16x64xi8>,
                          %s13: tensor<10x32xf32>, %s2: tensor<10x64xf32>)
    -> tensor<?x64xf32> {
  // CHECK: moe.prepare %{{.+}}, %{{.+}} max_tokens(8) : tensor<6x64xf32>, tensor<6x32xf32> -> !moe.prepare_ctx<mc2>
  %h, %l, %pctx = moe.prepare %x, %logits max_tokens(8)
      : tensor<6x64xf32>, tensor<6x32xf32> -> !moe.prepare_ctx<mc2>
  // CHECK: moe.gate %{{.+}} bias(%{{.+}} : tensor<32xf32>) top_k(4) sigmoid renormalize groups(8, 4) scale(2.500000e+00) : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %w, %ids = moe.gate %l bias(%bias : tensor<32xf32>) top_k(4) sigmoid renormalize
      groups(8, 4) scale(2.5)
      : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // CHECK: moe.dispatch %{{.+}}, %{{.+}}, %{{.+}} experts(32 + 8) log2phy(%{{.+}} : tensor<32xi32>) expert_map(%{{.+}} : tensor<40xi32>) : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<10xi64>, !moe.dispatch_ctx<mc2>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32 + 8)
      log2phy(%l2p : tensor<32xi32>) expert_map(%map : tensor<40xi32>)
      : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xi32>
      -> tensor<10xi64>, !moe.dispatch_ctx<mc2>
  // CHECK: moe.experts %{{.+}}, %{{.+}} weights(%{{.+}}, %{{.+}} : tensor<10x64x32xi8>, tensor<10x16x64xi8>) scales(%{{.+}}, %{{.+}} : tensor<10x32xf32>, tensor<10x64xf32>) quant <w8a8_dynamic> : tensor<?x64xf32>, tensor<10xi64>
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<10x64x32xi8>, tensor<10x16x64xi8>)
      scales(%s13, %s2 : tensor<10x32xf32>, tensor<10x64xf32>)
      quant <w8a8_dynamic> : tensor<?x64xf32>, tensor<10xi64>
  %o = moe.combine %y, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<mc2>
  %r = moe.finalize %o, %pctx : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  return %r : tensor<?x64xf32>
}

// w4a8 experts and shared experts with group scales.
// CHECK-LABEL: func.func @w4a8
func.func @w4a8(%rows: tensor<?x64xf16>, %counts: tensor<4xi64>,
                %w13: tensor<4x64x32xi4>, %w2: tensor<4x16x64xi4>,
                %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>,
                %g13: tensor<4x4x32xf32>, %g2: tensor<4x1x64xf32>,
                %sw13: tensor<64x32xi4>, %sw2: tensor<16x64xi4>,
                %ss13: tensor<32xf32>, %ss2: tensor<64xf32>,
                %sg13: tensor<4x32xf32>, %sg2: tensor<1x64xf32>)
    -> (tensor<?x64xf16>, tensor<?x64xf16>) {
  // CHECK: moe.experts %{{.+}}, %{{.+}} weights({{.+}}) scales({{.+}}) group_scales(%{{.+}}, %{{.+}} : tensor<4x4x32xf32>, tensor<4x1x64xf32>) quant <w4a8_dynamic, group_size = 16>
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>)
      scales(%s13, %s2 : tensor<4x32xf32>, tensor<4x64xf32>)
      group_scales(%g13, %g2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>)
      quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>, tensor<4xi64>
  // Shared experts are weight-only: the group scales are the processed
  // antiquant scales, no per-channel scales.
  // CHECK: moe.shared_experts %{{.+}} weights({{.+}}) group_scales(%{{.+}}, %{{.+}} : tensor<4x32xf32>, tensor<1x64xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>
  %s = moe.shared_experts %rows
      weights(%sw13, %sw2 : tensor<64x32xi4>, tensor<16x64xi4>)
      group_scales(%sg13, %sg2 : tensor<4x32xf32>, tensor<1x64xf32>)
      quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>
  return %y, %s : tensor<?x64xf16>, tensor<?x64xf16>
}

// w4a8 checkpoint tensors processed at load time, then experts in the
// kernel form (merged group scales and biases, no per-channel scales).
// CHECK-LABEL: func.func @w4a8_kernel_form
func.func @w4a8_kernel_form(%rows: tensor<?x64xf16>, %counts: tensor<4xi64>,
                            %c13: tensor<4x32x64xi8>, %s13: tensor<4x32x1xbf16>, %g13: tensor<4x32x4xbf16>,
                            %c2: tensor<4x64x16xi8>, %s2: tensor<4x64x1xbf16>, %g2: tensor<4x64x1xbf16>)
    -> tensor<?x64xf16> {
  // CHECK: moe.prepare_weights %{{.+}}, %{{.+}}, %{{.+}} quant <w4a8_dynamic, group_size = 16> : tensor<4x32x64xi8>, tensor<4x32x1xbf16>, tensor<4x32x4xbf16> -> tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>
  %w13, %m13, %b13 = moe.prepare_weights %c13, %s13, %g13 quant <w4a8_dynamic, group_size = 16>
      : tensor<4x32x64xi8>, tensor<4x32x1xbf16>, tensor<4x32x4xbf16>
      -> tensor<4x64x32xi4>, tensor<4x4x32xf32>, tensor<4x32xf32>
  %w2, %m2, %b2 = moe.prepare_weights %c2, %s2, %g2 quant <w4a8_dynamic, group_size = 16>
      : tensor<4x64x16xi8>, tensor<4x64x1xbf16>, tensor<4x64x1xbf16>
      -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
  // CHECK: moe.experts %{{.+}}, %{{.+}} weights({{.+}}) group_scales({{.+}}) biases(%{{.+}}, %{{.+}} : tensor<4x32xf32>, tensor<4x64xf32>) quant <w4a8_dynamic, group_size = 16>
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<4x64x32xi4>, tensor<4x16x64xi4>)
      group_scales(%m13, %m2 : tensor<4x4x32xf32>, tensor<4x1x64xf32>)
      biases(%b13, %b2 : tensor<4x32xf32>, tensor<4x64xf32>)
      quant <w4a8_dynamic, group_size = 16> : tensor<?x64xf16>, tensor<4xi64>
  return %y : tensor<?x64xf16>
}

// A quant version 1.0.0 checkpoint stack: packed along N, bias partials.
// CHECK-LABEL: func.func @w4a8_version1
func.func @w4a8_version1(%c2: tensor<4x32x16xi8>, %s2: tensor<4x64x1xbf16>, %g2: tensor<4x64x1xbf16>,
                         %b2: tensor<4x64x16xf32>) -> tensor<4x64xf32> {
  // CHECK: moe.prepare_weights %{{.+}}, %{{.+}}, %{{.+}} scale_bias(%{{.+}} : tensor<4x64x16xf32>) quant <w4a8_dynamic, group_size = 16>
  %w2, %m2, %b = moe.prepare_weights %c2, %s2, %g2 scale_bias(%b2 : tensor<4x64x16xf32>)
      quant <w4a8_dynamic, group_size = 16>
      : tensor<4x32x16xi8>, tensor<4x64x1xbf16>, tensor<4x64x1xbf16>
      -> tensor<4x16x64xi4>, tensor<4x1x64xf32>, tensor<4x64xf32>
  return %b : tensor<4x64xf32>
}

// A spelled-out fp8 block scheme and mxfp4 weights (two values per byte
// along K: w13 [L, H / 2, 2I], w2 [L, I / 2, H]).
// CHECK-LABEL: func.func @custom_quant
func.func @custom_quant(%rows: tensor<?x256xbf16>, %counts: tensor<2xi64>,
                        %w13: tensor<2x256x256xf8E4M3FN>, %w2: tensor<2x128x256xf8E4M3FN>,
                        %m13: tensor<2x128x256xi8>, %m2: tensor<2x64x256xi8>)
    -> (tensor<?x256xbf16>, tensor<?x256xbf16>) {
  // CHECK: quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>, w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
  %y = moe.experts %rows, %counts
      weights(%w13, %w2 : tensor<2x256x256xf8E4M3FN>, tensor<2x128x256xf8E4M3FN>)
      quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
             w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
      : tensor<?x256xbf16>, tensor<2xi64>
  // CHECK: quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  %z = moe.experts %rows, %counts
      weights(%m13, %m2 : tensor<2x128x256xi8>, tensor<2x64x256xi8>)
      quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
      : tensor<?x256xbf16>, tensor<2xi64>
  return %y, %z : tensor<?x256xbf16>, tensor<?x256xbf16>
}

// CHECK-LABEL: func.func @choose
func.func @choose(%x: tensor<?x64xf32>) -> (index, index) {
  // CHECK: moe.choose_method %{{.+}} thresholds [512] methods [mc2, alltoall] : tensor<?x64xf32>
  %a = moe.choose_method %x thresholds [512] methods [mc2, alltoall] : tensor<?x64xf32>
  // CHECK: moe.choose_method %{{.+}} thresholds [16, 256] methods [allgather, mc2, alltoall] : tensor<?x64xf32>
  %b = moe.choose_method %x thresholds [16, 256] methods [allgather, mc2, alltoall]
      : tensor<?x64xf32>
  return %a, %b : index, index
}

}

// The router weight applied on the input (top-1, allgather).
// CHECK-LABEL: func.func @router_weight_on_input
// CHECK: moe.dispatch %{{.+}}, %{{.+}}, %{{.+}} experts(8) router_weight_on_input : tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<8xi64>, !moe.dispatch_ctx<allgather>
func.func @router_weight_on_input(%h: tensor<?x64xf32>, %w: tensor<?x1xf32>, %ids: tensor<?x1xi32>) -> tensor<8xi64> {
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(8) router_weight_on_input
      : tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<8xi64>, !moe.dispatch_ctx<allgather>
  return %counts : tensor<8xi64>
}

// Seed 000's prepare / finalize flags: replace_allreduce,
// enable_shared_expert_dp, reduce_results(false); reduce_results(true) is
// the default and prints as nothing.
// CHECK-LABEL: func.func @prepare_finalize_flags
// CHECK: %{{.+}}, %{{.+}}, %[[C1:.+]] = moe.prepare %{{.+}}, %{{.+}} replace_allreduce : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<alltoall>
// CHECK: %{{.+}}, %{{.+}}, %[[C2:.+]] = moe.prepare %{{.+}}, %{{.+}} max_tokens(16) replace_allreduce enable_shared_expert_dp : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
// CHECK: %{{.+}}, %{{.+}}, %[[C3:.+]] = moe.prepare %{{.+}}, %{{.+}} enable_shared_expert_dp : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<allgather>
// CHECK: moe.finalize %{{.+}}, %[[C1]] reduce_results(false) : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
// CHECK: moe.finalize %{{.+}}, %[[C2]] : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
// CHECK: moe.finalize %{{.+}}, %[[C3]] shared(%{{.+}} : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
func.func @prepare_finalize_flags(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>, %y: tensor<?x64xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %h1, %l1, %c1 = moe.prepare %x, %logits replace_allreduce
      : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<alltoall>
  %h2, %l2, %c2 = moe.prepare %x, %logits max_tokens(16) replace_allreduce enable_shared_expert_dp
      : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<mc2>
  %h3, %l3, %c3 = moe.prepare %x, %logits enable_shared_expert_dp
      : tensor<?x64xf32>, tensor<?x8xf32> -> !moe.prepare_ctx<allgather>
  %r1 = moe.finalize %y, %c1 reduce_results(false) : tensor<?x64xf32>, !moe.prepare_ctx<alltoall>
  %r2 = moe.finalize %y, %c2 reduce_results(true) : tensor<?x64xf32>, !moe.prepare_ctx<mc2>
  %r3 = moe.finalize %y, %c3 shared(%x : tensor<?x64xf32>) : tensor<?x64xf32>, !moe.prepare_ctx<allgather>
  return %r1, %r2, %r3 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// moge: a group-balanced gate (one expert from each of 4 groups) and a
// moge dispatch and combine.
// CHECK-LABEL: func.func @moge
// CHECK: moe.gate %{{.+}} top_k(4) softmax groups(4, 4) balanced : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
// CHECK: moe.dispatch %{{.+}}, %{{.+}}, %{{.+}} experts(16) : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<16xi64>, !moe.dispatch_ctx<moge>
// CHECK: moe.combine %{{.+}}, %{{.+}} : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
func.func @moge(%h: tensor<?x64xf32>, %l: tensor<?x16xf32>) -> tensor<?x64xf32> {
  %w, %ids = moe.gate %l top_k(4) softmax groups(4, 4) balanced
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(16)
      : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<16xi64>, !moe.dispatch_ctx<moge>
  %o = moe.combine %rows, %dctx : tensor<?x64xf32>, !moe.dispatch_ctx<moge>
  return %o : tensor<?x64xf32>
}

// Qwen2-MoE's gated shared expert, unquantized and with w8a8 (the gate
// stays a float weight).
// CHECK-LABEL: func.func @gated_shared_expert
// CHECK: moe.shared_experts %{{.+}} weights(%{{.+}}, %{{.+}} : tensor<64x48xbf16>, tensor<24x64xbf16>) gate(%{{.+}} : tensor<64x1xbf16>) : tensor<?x64xbf16>
// CHECK: moe.shared_experts %{{.+}} weights(%{{.+}}, %{{.+}} : tensor<64x48xi8>, tensor<24x64xi8>) scales(%{{.+}}, %{{.+}} : tensor<48xf32>, tensor<64xf32>) gate(%{{.+}} : tensor<64x1xf32>) quant <w8a8_dynamic> : tensor<?x64xbf16>
func.func @gated_shared_expert(%x: tensor<?x64xbf16>, %w13: tensor<64x48xbf16>, %w2: tensor<24x64xbf16>,
                               %g: tensor<64x1xbf16>, %q13: tensor<64x48xi8>, %q2: tensor<24x64xi8>,
                               %s13: tensor<48xf32>, %s2: tensor<64xf32>, %g32: tensor<64x1xf32>)
    -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %a = moe.shared_experts %x weights(%w13, %w2 : tensor<64x48xbf16>, tensor<24x64xbf16>)
      gate(%g : tensor<64x1xbf16>) : tensor<?x64xbf16>
  %b = moe.shared_experts %x weights(%q13, %q2 : tensor<64x48xi8>, tensor<24x64xi8>)
      scales(%s13, %s2 : tensor<48xf32>, tensor<64xf32>) gate(%g32 : tensor<64x1xf32>)
      quant <w8a8_dynamic> : tensor<?x64xbf16>
  return %a, %b : tensor<?x64xbf16>, tensor<?x64xbf16>
}
