// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic an attribute or type of the moe dialect can emit.

// expected-error @+1 {{'moe.layout' must be a #moe.layout, got #moe.chip<A3>}}
module attributes {moe.layout = #moe.chip<A3>} {}

// -----

// expected-error @+1 {{'moe.chip' must be a #moe.chip, got 3 : i64}}
module attributes {moe.chip = 3} {}

// -----

// expected-error @+1 {{unknown moe attribute 'moe.layuot'; expected 'moe.layout' or 'moe.chip'}}
module attributes {moe.layuot = #moe.layout<tp = 1, dp = 1>} {}

// -----

// expected-error @+1 {{unknown moe argument attribute 'moe.nmae'; expected 'moe.name'}}
func.func private @f(tensor<4xf32> {moe.nmae = "x"})

// -----

// expected-error @+1 {{'moe.name' of argument 0 must be a non-empty string}}
func.func private @f(tensor<4xf32> {moe.name = ""})

// -----

// expected-error @+1 {{layout sizes must be at least 1, got tp = 0, dp = 4, pp = 1}}
func.func private @f() attributes {a = #moe.layout<tp = 0, dp = 4>}

// -----

// tp * dp wrapped to 2 in 64 bits and verified (issue 14).
// expected-error @+1 {{layout spans more than 65536 devices (tp * dp * pp with tp = 6148914691236517206, dp = 3, pp = 1)}}
func.func private @f() attributes {a = #moe.layout<tp = 6148914691236517206, dp = 3>}

// -----

// expected-error @+1 {{layout spans more than 65536 devices (tp * dp * pp with tp = 256, dp = 128, pp = 4)}}
func.func private @f() attributes {a = #moe.layout<tp = 256, dp = 128, pp = 4>}

// -----

// expected-error @+1 {{layout sizes must be at least 1, got pcp = 0}}
func.func private @f() attributes {a = #moe.layout<tp = 2, dp = 2, pcp = 0>}

// -----

// tp * dp * pp fits, times pcp it does not.
// expected-error @+1 {{layout spans more than 65536 devices (tp * dp * pp * pcp with pcp = 4096)}}
func.func private @f() attributes {a = #moe.layout<tp = 8, dp = 8, pcp = 4096>}

// -----

// expected-error @+1 {{sequence_parallel gathers tokens over the expert-parallel group and needs expert_parallel with dp * tp > 1}}
func.func private @f() attributes {a = #moe.layout<tp = 2, dp = 2, sequence_parallel = true>}

// -----

// expected-error @+1 {{shared_expert_ranks must be at least 0, got -1}}
func.func private @f() attributes {a = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = -1>}

// -----

// expected-error @+1 {{shared_expert_ranks reserves expert-parallel ranks and needs expert_parallel with dp * tp * pcp > 1}}
func.func private @f() attributes {a = #moe.layout<tp = 1, dp = 4, shared_expert_ranks = 2>}

// -----

// expected-error @+1 {{shared_expert_ranks = 3 must divide the 4 expert-parallel ranks and leave ranks for the routed experts}}
func.func private @f() attributes {a = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 3>}

// -----

// expected-error @+1 {{shared_expert_ranks = 4 must divide the 4 expert-parallel ranks and leave ranks for the routed experts}}
func.func private @f() attributes {a = #moe.layout<tp = 2, dp = 2, expert_parallel = true, shared_expert_ranks = 4>}

// -----

// expected-error @+1 {{unknown chip 'A4'; expected A2, A3, A5 or A310P}}
func.func private @f() attributes {a = #moe.chip<A4>}

// -----

// expected-error @+1 {{chip parameter 'link_gbps' given twice}}
func.func private @f() attributes {a = #moe.chip<A2, link_gbps = 1.0, link_gbps = 2.0>}

// -----

// expected-error @+1 {{unknown chip parameter 'bandwidth'; expected mc2_capacity, link_gbps, link_latency_us, dispatch_v2 or hierarchical_comm}}
func.func private @f() attributes {a = #moe.chip<A2, bandwidth = 1.0>}

// -----

// expected-error @+1 {{hierarchical_comm is an A2 setting, the chip is A3}}
func.func private @f() attributes {a = #moe.chip<A3, hierarchical_comm = true>}

// -----

// expected-error @+1 {{chip parameter 'dispatch_v2' is true or false, got 'yes'}}
func.func private @f() attributes {a = #moe.chip<A3, dispatch_v2 = yes>}

// -----

// expected-error @+1 {{mc2_capacity must be positive, got -4}}
func.func private @f() attributes {a = #moe.chip<A3, mc2_capacity = -4>}

// -----

// expected-error @+1 {{mc2_capacity must be positive, got 0}}
func.func private @f() attributes {a = #moe.chip<A3, mc2_capacity = 0>}

// -----

// expected-error @+1 {{link_gbps must be positive and finite, got 0}}
func.func private @f() attributes {a = #moe.chip<A3, link_gbps = 0.0>}

// -----

// expected-error @+1 {{link_latency_us must be positive and finite, got -1}}
func.func private @f() attributes {a = #moe.chip<A3, link_latency_us = -1.0>}

// -----

// NaN compares false with everything and passed `<= 0` (issue 14).
// expected-error @+1 {{link_gbps must be positive and finite, got nan}}
func.func private @f() attributes {a = #moe.chip<A3, link_gbps = 0x7FF8000000000000>}

// -----

// expected-error @+1 {{link_latency_us must be positive and finite, got INF}}
func.func private @f() attributes {a = #moe.chip<A3, link_latency_us = 0x7FF0000000000000>}

// -----

// expected-error @+1 {{unknown quantization dtype 'int2'; expected f32, bf16, f16, fp8_e4m3, int8, int4, mxfp4, nvfp4, fp8_e5m2, mxfp6_e3m2 or mxfp6_e2m3}}
func.func private @f() attributes {a = #moe.qdesc<int2>}

// -----

// expected-error @+1 {{unknown group shape 'per_row'; expected per_tensor, per_token, per_column or block [r, c]}}
func.func private @f() attributes {a = #moe.qdesc<int8, per_row>}

// -----

// expected-error @+1 {{bf16 is not quantized and takes no group shape}}
func.func private @f() attributes {a = #moe.qdesc<bf16, per_token>}

// -----

// expected-error @+1 {{mxfp4 carries its own micro-block scales and takes no group shape}}
func.func private @f() attributes {a = #moe.qdesc<mxfp4, block [1, 32]>}

// -----

// expected-error @+1 {{int8 activations need a group shape (per_tensor, per_token or a block [r, c] along K)}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<int8>, a2 = #moe.qdesc<int8>, w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>}

// -----

// expected-error @+1 {{mxfp6_e2m3 carries its own micro-block scales and takes no group shape}}
func.func private @f() attributes {a = #moe.qdesc<mxfp6_e2m3, per_token>}

// -----

// expected-error @+1 {{int4 weights with mxfp6_e3m2 activations is not a scheme seed 003 can express}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<mxfp6_e3m2>, a2 = #moe.qdesc<mxfp6_e3m2>, w1 = #moe.qdesc<int4, per_token>, w2 = #moe.qdesc<int4, per_token>>}

// -----

// expected-error @+1 {{group shape entries must be -1 or positive, got [0, 128]}}
func.func private @f() attributes {a = #moe.qdesc<int8, block [0, 128]>}

// -----

// expected-error @+1 {{expected 'group_size', got 'groups'}}
func.func private @f() attributes {a = #moe.quant<w4a8_dynamic, groups = 64>}

// -----

// expected-error @+1 {{group_size must be positive, got 0}}
func.func private @f() attributes {a = #moe.quant<w4a8_dynamic, group_size = 0>}

// -----

// expected-error @+1 {{unknown quantization key 'w3'; expected none, w8a8_dynamic, w4a8_dynamic, a1, a2, w1 or w2}}
func.func private @f() attributes {a = #moe.quant<w3 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{'w1' given twice}}
func.func private @f() attributes {a = #moe.quant<w1 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{a1 and a2 must have the same dtype and group shape (seed 003 quantizes both activations alike)}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{w1 and w2 must have the same dtype and group shape (seed 003 quantizes both weights alike)}}
func.func private @f() attributes {a = #moe.quant<w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_tensor>>}

// -----

// expected-error @+1 {{activations cannot be int4: seed 003 quantizes activations to int8, fp8_e4m3, mxfp4 or nvfp4}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<int4, per_token>, a2 = #moe.qdesc<int4, per_token>, w1 = #moe.qdesc<int4, per_token>, w2 = #moe.qdesc<int4, per_token>>}

// -----

// expected-error @+1 {{activation group shape must be per_tensor, per_token or a block [r, c] along K}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<int8, per_column>, a2 = #moe.qdesc<int8, per_column>, w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{quantized activations need quantized weights}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{int8 weights with fp8_e4m3 activations is not a scheme seed 003 can express}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>}

// -----

// expected-error @+1 {{block-quantized activations need weights quantized in blocks with the same column size}}
func.func private @f() attributes {a = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>}

// -----

// expected-error @+1 {{unknown quantization key 'w16a16'}}
func.func private @f() attributes {a = #moe.quant<w16a16>}

// -----

// expected-error @+1 {{expected '='}}
func.func private @f() attributes {a = #moe.quant<a1>}
