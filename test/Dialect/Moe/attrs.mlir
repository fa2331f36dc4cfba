// RUN: moe-opt %s | moe-opt --mlir-print-local-scope | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt --mlir-print-local-scope | FileCheck %s
// RUN: moe-opt %s -emit-bytecode | moe-opt --mlir-print-local-scope | FileCheck %s
// RUN: moe-opt %s | FileCheck %s --check-prefix=ALIAS

// Every attribute and type of the dialect, in every spelling.

// Layouts print under the alias #layout.
// ALIAS: #layout = #moe.layout<tp = 2, dp = 4, expert_parallel = true>
// ALIAS: module attributes {moe.chip = #moe.chip<A3>, moe.layout = #layout}

// CHECK-LABEL: module attributes
// CHECK-SAME: moe.chip = #moe.chip<A3>
// CHECK-SAME: moe.layout = #moe.layout<tp = 2, dp = 4, expert_parallel = true>
module attributes {moe.layout = #moe.layout<tp = 2, dp = 4, expert_parallel = true>,
                   moe.chip = #moe.chip<A3>} {
  // CHECK-LABEL: func.func private @chips
  // CHECK-SAME: a = #moe.chip<A2, link_gbps = 2.500000e+01, link_latency_us = 1.000000e+01>
  // CHECK-SAME: b = #moe.chip<A5, mc2_capacity = 128>
  // CHECK-SAME: c = #moe.chip<A310P>
  // CHECK-SAME: d = #moe.chip<A2, dispatch_v2 = false, hierarchical_comm = true>
  // CHECK-SAME: e = #moe.chip<A3>
  func.func private @chips() attributes {
    a = #moe.chip<A2, link_gbps = 25.0, link_latency_us = 10.0>,
    b = #moe.chip<A5, mc2_capacity = 128>,
    c = #moe.chip<A310P>,
    d = #moe.chip<A2, hierarchical_comm = true, dispatch_v2 = false>,
    e = #moe.chip<A3, dispatch_v2 = true, hierarchical_comm = false>}

  // CHECK-LABEL: func.func private @layouts
  // CHECK-SAME: a = #moe.layout<tp = 1, dp = 1>
  // CHECK-SAME: b = #moe.layout<tp = 1, dp = 8, pp = 2, expert_parallel = true, sequence_parallel = true>
  // CHECK-SAME: c = #moe.layout<tp = 256, dp = 128, pp = 2>
  // CHECK-SAME: d = #moe.layout<tp = 2, dp = 2, expert_parallel = true, pcp = 2>
  // CHECK-SAME: e = #moe.layout<tp = 1, dp = 1>
  // CHECK-SAME: f = #moe.layout<tp = 2, dp = 4, expert_parallel = true, shared_expert_ranks = 2>
  // CHECK-SAME: g = #moe.layout<tp = 1, dp = 2>
  func.func private @layouts() attributes {
    a = #moe.layout<tp = 1, dp = 1, expert_parallel = false>,
    b = #moe.layout<tp = 1, dp = 8, pp = 2, expert_parallel = true, sequence_parallel = true>,
    c = #moe.layout<tp = 256, dp = 128, pp = 2>,
    d = #moe.layout<tp = 2, dp = 2, expert_parallel = true, pcp = 2>,
    e = #moe.layout<tp = 1, dp = 1, pcp = 1>,
    f = #moe.layout<tp = 2, dp = 4, expert_parallel = true, shared_expert_ranks = 2>,
    g = #moe.layout<tp = 1, dp = 2, shared_expert_ranks = 0>}

  // CHECK-LABEL: func.func private @quant
  // CHECK-SAME: a = #moe.quant<none>
  // CHECK-SAME: b = #moe.quant<w8a8_dynamic>
  // CHECK-SAME: c = #moe.quant<w4a8_dynamic, group_size = 256>
  // CHECK-SAME: d = #moe.quant<w4a8_dynamic, group_size = 128>
  // CHECK-SAME: e = #moe.quant<w8a8_dynamic>
  // CHECK-SAME: f = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>, w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
  // CHECK-SAME: g = #moe.quant<w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>
  // CHECK-SAME: h = #moe.quant<w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // CHECK-SAME: i = #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>
  // CHECK-SAME: j = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // Seed 003 constructors whose weights carry no group shape
  // (fp8_w8a8_moe_quant_config, int8_w8a8_moe_quant_config and
  // int8_w8a16_moe_quant_config without per_out_ch_quant / block_shape), and
  // the OCP MX schemes with mxfp6 activations.
  // CHECK-SAME: k = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<fp8_e4m3>, w2 = #moe.qdesc<fp8_e4m3>>
  // CHECK-SAME: l = #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>
  // CHECK-SAME: m = #moe.quant<w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>
  // CHECK-SAME: n = #moe.quant<a1 = #moe.qdesc<mxfp6_e3m2>, a2 = #moe.qdesc<mxfp6_e3m2>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // CHECK-SAME: o = #moe.quant<a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>, w1 = #moe.qdesc<mxfp6_e2m3>, w2 = #moe.qdesc<mxfp6_e2m3>>
  // CHECK-SAME: p = #moe.quant<a1 = #moe.qdesc<fp8_e5m2, per_token>, a2 = #moe.qdesc<fp8_e5m2, per_token>, w1 = #moe.qdesc<fp8_e5m2, per_token>, w2 = #moe.qdesc<fp8_e5m2, per_token>>
  func.func private @quant() attributes {
    a = #moe.quant<none>,
    b = #moe.quant<w8a8_dynamic>,
    c = #moe.quant<w4a8_dynamic>,
    d = #moe.quant<w4a8_dynamic, group_size = 128>,
    // The long spelling of a named scheme prints short.
    e = #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>,
                   w1 = #moe.qdesc<int8, per_token>, w2 = #moe.qdesc<int8, per_token>>,
    f = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
                   w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>, w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>,
    g = #moe.quant<w2 = #moe.qdesc<int8, per_token>, w1 = #moe.qdesc<int8, per_token>>,
    h = #moe.quant<w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>,
    i = #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>,
    j = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>,
                   w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>,
    k = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>,
                   w1 = #moe.qdesc<fp8_e4m3>, w2 = #moe.qdesc<fp8_e4m3>>,
    l = #moe.quant<a1 = #moe.qdesc<int8, per_token>, a2 = #moe.qdesc<int8, per_token>,
                   w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>,
    m = #moe.quant<w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>,
    n = #moe.quant<a1 = #moe.qdesc<mxfp6_e3m2>, a2 = #moe.qdesc<mxfp6_e3m2>,
                   w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>,
    o = #moe.quant<a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>,
                   w1 = #moe.qdesc<mxfp6_e2m3>, w2 = #moe.qdesc<mxfp6_e2m3>>,
    p = #moe.quant<a1 = #moe.qdesc<fp8_e5m2, per_token>, a2 = #moe.qdesc<fp8_e5m2, per_token>,
                   w1 = #moe.qdesc<fp8_e5m2, per_token>, w2 = #moe.qdesc<fp8_e5m2, per_token>>}

  // CHECK-LABEL: func.func private @qdesc
  // CHECK-SAME: a = #moe.qdesc<bf16>
  // CHECK-SAME: b = #moe.qdesc<int8, per_tensor>
  // CHECK-SAME: c = #moe.qdesc<int8, per_column>
  // CHECK-SAME: d = #moe.qdesc<int4, block [1, 64]>
  // CHECK-SAME: e = #moe.qdesc<int8, per_token>
  // CHECK-SAME: f = #moe.qdesc<int8, block [-1, 32]>
  func.func private @qdesc() attributes {
    a = #moe.qdesc<bf16>,
    b = #moe.qdesc<int8, per_tensor>,
    c = #moe.qdesc<int8, per_column>,
    d = #moe.qdesc<int4, block [1, 64]>,
    e = #moe.qdesc<int8, block [1, -1]>,
    f = #moe.qdesc<int8, block [-1, 32]>}

  // CHECK-LABEL: func.func private @types
  // CHECK-SAME: !moe.prepare_ctx<unset>, !moe.prepare_ctx<allgather>, !moe.dispatch_ctx<alltoall>, !moe.dispatch_ctx<mc2>, !moe.dispatch_ctx<fused_mc2>
  func.func private @types(!moe.prepare_ctx<unset>, !moe.prepare_ctx<allgather>,
                           !moe.dispatch_ctx<alltoall>, !moe.dispatch_ctx<mc2>,
                           !moe.dispatch_ctx<fused_mc2>)

  // CHECK-LABEL: func.func private @named
  // CHECK-SAME: moe.name = "x"
  func.func private @named(tensor<?x8xf32> {moe.name = "x"})
}
