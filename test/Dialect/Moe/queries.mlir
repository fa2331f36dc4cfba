// RUN: moe-opt %s -split-input-file -test-moe-queries -verify-diagnostics

// The flattening rule of SEMANTICS §1, one case per example of vLLM's
// FusedMoEParallelConfig.make docstring.

// TP = 2, DP = 1, no EP: tensors sharded across 2 devices.
// expected-remark @+3 {{world 2, flat tp 2, ep 1, moe tp 2, use_ep 0, all2all kernels 0}}
// expected-remark @+2 {{device (dp 0, tp 0): tp 2/0 dp 1/0 ep 1/0}}
// expected-remark @+1 {{device (dp 0, tp 1): tp 2/1 dp 1/0 ep 1/0}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 1>} {}

// -----

// TP = 2, DP = 2, no EP: experts sharded across 4 devices.
// expected-remark @+5 {{world 4, flat tp 4, ep 1, moe tp 4, use_ep 0, all2all kernels 0}}
// expected-remark @+4 {{device (dp 0, tp 0): tp 4/0 dp 2/0 ep 1/0}}
// expected-remark @+3 {{device (dp 0, tp 1): tp 4/1 dp 2/0 ep 1/0}}
// expected-remark @+2 {{device (dp 1, tp 0): tp 4/2 dp 2/1 ep 1/0}}
// expected-remark @+1 {{device (dp 1, tp 1): tp 4/3 dp 2/1 ep 1/0}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2>} {}

// -----

// TP = 2, DP = 1, EP: experts split between 2 devices, TP becomes 1.
// expected-remark @+3 {{world 2, flat tp 2, ep 2, moe tp 1, use_ep 1, all2all kernels 0}}
// expected-remark @+2 {{device (dp 0, tp 0): tp 1/0 dp 1/0 ep 2/0}}
// expected-remark @+1 {{device (dp 0, tp 1): tp 1/0 dp 1/0 ep 2/1}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 1, expert_parallel = true>} {}

// -----

// TP = 2, DP = 2, EP: experts split between 4 devices; all2all kernels on.
// expected-remark @+5 {{world 4, flat tp 4, ep 4, moe tp 1, use_ep 1, all2all kernels 1}}
// expected-remark @+4 {{device (dp 0, tp 0): tp 1/0 dp 2/0 ep 4/0}}
// expected-remark @+3 {{device (dp 0, tp 1): tp 1/0 dp 2/0 ep 4/1}}
// expected-remark @+2 {{device (dp 1, tp 0): tp 1/0 dp 2/1 ep 4/2}}
// expected-remark @+1 {{device (dp 1, tp 1): tp 1/0 dp 2/1 ep 4/3}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {}

// -----

// No parallelism: EP requested but a single device does not use it.
// expected-remark @+2 {{world 1, flat tp 1, ep 1, moe tp 1, use_ep 0, all2all kernels 0}}
// expected-remark @+1 {{device (dp 0, tp 0): tp 1/0 dp 1/0 ep 1/0}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 1, expert_parallel = true>} {}

// -----

// The chip table and its overrides.
// expected-remark @+1 {{chip A3: mc2 capacity 512, link 392 GB/s, 10 us, fused mc2 ep 32 (megamoe 64)}}
module attributes {moe.chip = #moe.chip<A3>} {
  // expected-remark @+1 {{chip A2: mc2 capacity 256, link 56 GB/s, 20 us, fused mc2 ep 0 (megamoe 0)}}
  func.func private @a2() attributes {moe.chip = #moe.chip<A2>}
  // expected-remark @+1 {{chip A2: mc2 capacity 128, link 25 GB/s, 3.5 us, fused mc2 ep 0 (megamoe 0)}}
  func.func private @a2_tuned() attributes {moe.chip = #moe.chip<A2, mc2_capacity = 128, link_gbps = 25.0, link_latency_us = 3.5>}
  // expected-remark @+1 {{chip A310P: mc2 capacity 0, link 32 GB/s, 30 us, fused mc2 ep 0 (megamoe 0)}}
  func.func private @p310() attributes {moe.chip = #moe.chip<A310P>}
  // expected-remark @+1 {{chip A5: mc2 capacity 512, link 2000 GB/s, 5 us, fused mc2 ep 0 (megamoe 0)}}
  func.func private @a5() attributes {moe.chip = #moe.chip<A5>}
}

// -----

// Seed 003's FusedMoEQuantConfig queries, one #moe.quant per constructor of
// the seed, with the values the seed's properties give for it.

// fp8_w8a8_moe_quant_config(): make(float8_e4m3fn).
// expected-remark @below {{q: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 1, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) 'fp8_w8a8', config_name(f32) 'fp8_w8a8', scale_shape(8, 300) (1, 1), batched_scale_shape(4, 8, 300) (4, 1, 1)}}
func.func private @fp8_per_tensor() attributes {q = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<fp8_e4m3>, w2 = #moe.qdesc<fp8_e4m3>>}

// fp8_w8a8_moe_quant_config(per_act_token_quant=True, per_out_ch_quant=True).
// expected-remark @below {{q: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 1, per_out_ch 1, per_tensor 0, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 1, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) 'fp8_w8a8', config_name(f32) 'fp8_w8a8', scale_shape(8, 300) (8, 1), batched_scale_shape(4, 8, 300) (4, 8, 1)}}
func.func private @fp8_per_token() attributes {q = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>}

// fp8_w8a8_moe_quant_config(block_shape=[128, 128]): k_tiles = cdiv(300, 128).
// expected-remark @below {{q: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape (128, 128)}}
// expected-remark @below {{q: fp8_w8a8 1, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) 'fp8_w8a8', config_name(f32) 'fp8_w8a8', scale_shape(8, 300) (8, 3), batched_scale_shape(4, 8, 300) (4, 8, 3)}}
func.func private @fp8_block() attributes {q = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>}

// int8_w8a8_moe_quant_config(per_act_token_quant=True): no tuning-file tag
// for int8 w8a8 (only float32 activations get one).
// expected-remark @below {{q: quant_dtype int8, is_quantized 1, per_act_token 1, per_out_ch 0, per_tensor 0, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 1, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) (8, 1), batched_scale_shape(4, 8, 300) (4, 8, 1)}}
func.func private @int8_w8a8() attributes {q = #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>}

// int8_w8a16_moe_quant_config(block_shape=None) and (block_shape=[1, 64]).
// expected-remark @below {{q: quant_dtype None, is_quantized 0, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 1, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) 'int8_w8a16', config_name(f32) 'int8_w8a16', scale_shape(8, 300) None, batched_scale_shape(4, 8, 300) None}}
// expected-remark @below {{g: quant_dtype None, is_quantized 0, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape (1, 64)}}
// expected-remark @below {{g: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 1, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{g: ocp_mx_scheme None, config_name(bf16) 'int8_w8a16', config_name(f32) 'int8_w8a16', scale_shape(8, 300) None, batched_scale_shape(4, 8, 300) None}}
func.func private @int8_w8a16() attributes {q = #moe.quant<w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>, g = #moe.quant<w1 = #moe.qdesc<int8, block [1, 64]>, w2 = #moe.qdesc<int8, block [1, 64]>>}

// int4_w4a16_moe_quant_config(block_shape=[1, 128]).
// expected-remark @below {{q: quant_dtype None, is_quantized 0, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape (1, 128)}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 1, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) 'int4_w4a16', config_name(f32) 'int4_w4a16', scale_shape(8, 300) None, batched_scale_shape(4, 8, 300) None}}
func.func private @int4_w4a16() attributes {q = #moe.quant<w1 = #moe.qdesc<int4, block [1, 128]>, w2 = #moe.qdesc<int4, block [1, 128]>>}

// mxfp4_w4a16_moe_quant_config().
// expected-remark @below {{q: quant_dtype None, is_quantized 0, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 1, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) None, batched_scale_shape(4, 8, 300) None}}
func.func private @mxfp4_w4a16() attributes {q = #moe.quant<w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>}

// ocp_mx_moe_quant_config("mxfp4"): make() gives the activations the
// per-tensor shape.
// expected-remark @below {{q: quant_dtype mxfp4, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 1, nvfp4_w4a4 0}}
// expected-remark @below {{q: ocp_mx_scheme 'w_mxfp4_a_mxfp4', config_name(bf16) None, config_name(f32) None, scale_shape(8, 300) (1, 1), batched_scale_shape(4, 8, 300) (4, 1, 1)}}
func.func private @ocp_mx_fp4() attributes {q = #moe.quant<a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>}

// ocp_mx_moe_quant_config("mxfp6_e3m2", weight_dtype="mxfp4") and
// ocp_mx_moe_quant_config("mxfp6_e2m3").
// expected-remark @below {{a: quant_dtype mxfp6_e3m2, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{a: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{a: ocp_mx_scheme 'w_mxfp4_a_mxfp6_e3m2', config_name(bf16) None, config_name(f32) None, scale_shape(8, 300) (1, 1), batched_scale_shape(4, 8, 300) (4, 1, 1)}}
// expected-remark @below {{b: quant_dtype mxfp6_e2m3, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{b: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{b: ocp_mx_scheme 'w_mxfp6_e2m3_a_mxfp6_e2m3', config_name(bf16) None, config_name(f32) None, scale_shape(8, 300) (1, 1), batched_scale_shape(4, 8, 300) (4, 1, 1)}}
func.func private @ocp_mx_fp6() attributes {a = #moe.quant<a1 = #moe.qdesc<mxfp6_e3m2>, a2 = #moe.qdesc<mxfp6_e3m2>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>, b = #moe.quant<a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>, w1 = #moe.qdesc<mxfp6_e2m3>, w2 = #moe.qdesc<mxfp6_e2m3>>}

// nvfp4_moe_quant_config(): nvfp4 is not an OCP MX dtype.
// expected-remark @below {{q: quant_dtype nvfp4, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{q: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 1}}
// expected-remark @below {{q: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) (1, 1), batched_scale_shape(4, 8, 300) (4, 1, 1)}}
func.func private @nvfp4() attributes {q = #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>}

// biased_moe_quant_config() / FUSED_MOE_UNQUANTIZED_CONFIG, and vllm-ascend's
// two named schemes.
// expected-remark @below {{n: quant_dtype None, is_quantized 0, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape None}}
// expected-remark @below {{n: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{n: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) None, batched_scale_shape(4, 8, 300) None}}
// expected-remark @below {{w8: quant_dtype int8, is_quantized 1, per_act_token 1, per_out_ch 1, per_tensor 0, block_shape None}}
// expected-remark @below {{w8: fp8_w8a8 0, int8_w8a8 1, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{w8: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) (8, 1), batched_scale_shape(4, 8, 300) (4, 8, 1)}}
// expected-remark @below {{w4: quant_dtype int8, is_quantized 1, per_act_token 1, per_out_ch 0, per_tensor 0, block_shape None}}
// expected-remark @below {{w4: fp8_w8a8 0, int8_w8a8 1, int8_w8a16 0, int4_w4a16 0, int4_w4a8 1, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 0}}
// expected-remark @below {{w4: ocp_mx_scheme None, config_name(bf16) None, config_name(f32) 'float32', scale_shape(8, 300) (8, 1), batched_scale_shape(4, 8, 300) (4, 8, 1)}}
func.func private @named() attributes {n = #moe.quant<none>, w8 = #moe.quant<w8a8_dynamic>, w4 = #moe.quant<w4a8_dynamic>}

// -----

// QuantAttr::make, the seed's FusedMoEQuantConfig.make, builds what each
// constructor above spells out.

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<fp8_e4m3>, w2 = #moe.qdesc<fp8_e4m3>>}}
// expected-remark @below {{made: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1, block_shape None}}
// expected-remark @below {{made: fp8_w8a8 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_fp8() attributes {test.make = {quant_dtype = "fp8_e4m3"}}

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>}}
// expected-remark @below {{made: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 1, per_out_ch 1, per_tensor 0, block_shape None}}
// expected-remark @below {{made: fp8_w8a8 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_fp8_channel() attributes {test.make = {quant_dtype = "fp8_e4m3", per_act_token, per_out_ch}}

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>}}
// expected-remark @below {{made: quant_dtype fp8_e4m3, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 0, block_shape (128, 128)}}
// expected-remark @below {{made: fp8_w8a8 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_fp8_block() attributes {test.make = {quant_dtype = "fp8_e4m3", block = array<i64: 128, 128>}}

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>}}
// expected-remark @below {{made: quant_dtype int8, is_quantized 1, per_act_token 1}}
// expected-remark @below {{made: fp8_w8a8 0, int8_w8a8 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_int8() attributes {test.make = {quant_dtype = "int8", per_act_token}}

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<mxfp6_e3m2>, a2 = #moe.qdesc<mxfp6_e3m2>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>}}
// expected-remark @below {{made: quant_dtype mxfp6_e3m2, is_quantized 1, per_act_token 0, per_out_ch 0, per_tensor 1}}
// expected-remark @below {{made: fp8_w8a8 0}}
// expected-remark @below {{made: ocp_mx_scheme 'w_mxfp4_a_mxfp6_e3m2'}}
func.func private @make_ocp_mx() attributes {test.make = {quant_dtype = "mxfp6_e3m2", weight_dtype = "mxfp4"}}

// expected-remark @below {{make: #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>}}
// expected-remark @below {{made: quant_dtype nvfp4}}
// expected-remark @below {{made: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 0, mxfp4_w4a4 0, nvfp4_w4a4 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_nvfp4() attributes {test.make = {quant_dtype = "nvfp4"}}

// make(weight_dtype="mxfp4") without a quant dtype: mxfp4_w4a16.
// expected-remark @below {{make: #moe.quant<w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>}}
// expected-remark @below {{made: quant_dtype None}}
// expected-remark @below {{made: fp8_w8a8 0, int8_w8a8 0, int8_w8a16 0, int4_w4a16 0, int4_w4a8 0, mxfp4_w4a16 1}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_mxfp4_w4a16() attributes {test.make = {weight_dtype = "mxfp4"}}

// make() with nothing: FUSED_MOE_UNQUANTIZED_CONFIG.
// expected-remark @below {{make: #moe.quant<none>}}
// expected-remark @below {{made: quant_dtype None, is_quantized 0}}
// expected-remark @below {{made: fp8_w8a8 0}}
// expected-remark @below {{made: ocp_mx_scheme None}}
func.func private @make_unquantized() attributes {test.make = {}}

// -----

// The seed's assertions in make().

// expected-error @below {{make: a block shape excludes per_act_token_quant and per_out_ch_quant}}
func.func private @make_block_per_token() attributes {test.make = {quant_dtype = "fp8_e4m3", per_act_token, block = array<i64: 128, 128>}}

// -----

// expected-error @below {{make: make() takes int4 only through int4_w4a16's descriptors, not as a quant or weight dtype}}
func.func private @make_int4() attributes {test.make = {weight_dtype = "int4"}}

// -----

// expected-error @below {{make: bf16 is not a quantized dtype (leave the dtype unset for unquantized tensors)}}
func.func private @make_float() attributes {test.make = {quant_dtype = "bf16"}}

// -----

// expected-error @below {{make: mxfp4 carries its own micro-block scales and takes no group shape}}
func.func private @make_mx_per_token() attributes {test.make = {quant_dtype = "mxfp4", per_act_token}}

// -----

// expected-error @below {{make: per_act_token_quant, per_out_ch_quant and block_shape need a quantized dtype on the tensors they shape}}
func.func private @make_shape_without_dtype() attributes {test.make = {per_act_token}}

// -----

// Descriptor rules still apply: nvfp4 activations with int8 weights.
// expected-error @below {{make: int8 weights with nvfp4 activations is not a scheme seed 003 can express}}
func.func private @make_mixed() attributes {test.make = {quant_dtype = "nvfp4", weight_dtype = "int8"}}
