// Upstream's general transforms after -moe-compile keep the schedule: the
// device ops read (and synchronization, collectives and rendezvous write) the
// streams' resource (docs/Streams.md, "Effects"), so cse, canonicalize,
// loop-invariant-code-motion and control-flow-sink cannot merge them across a
// wait, hoist or sink them, and -moe-verify-streams still proves the result.
// Results at run time: moe-compile-upstream-run.test.

// DeepSeek-V3 on A3: a run-time method switch (mc2 / alltoall), shared
// experts on stream 2 in both cases.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile \
// RUN:   -cse -canonicalize -loop-invariant-code-motion -control-flow-sink \
// RUN:   -moe-verify-streams 2>/dev/null | FileCheck %s --check-prefix=DSV3
// DSV3-LABEL: func.func @deepseek_v3_moe
// DSV3: scf.index_switch
// DSV3: case 0 {
// DSV3: npu.dynamic_quant %{{.+}} stream(2)
// DSV3: npu.moe_gating_top_k
// DSV3: npu.matmul {{.+}} w8a8 stream(2)
// DSV3: npu.moe_distribute_dispatch {{.+}} quant_mode(2)
// DSV3: npu.matmul {{.+}} w8a8 stream(2)
// DSV3: %[[E:.+]] = npu.record stream(2)
// DSV3: npu.moe_distribute_combine
// DSV3: npu.wait %[[E]] stream(0)
// DSV3-NEXT: npu.add
// DSV3: default {
// DSV3: npu.all_to_all_v
// DSV3: %[[E2:.+]] = npu.record stream(2)
// DSV3: npu.wait %[[E2]] stream(0)
// DSV3-NEXT: npu.add

// Qwen3 on A2 with DP: the gate overlap's hidden-state gather on stream 1.
// RUN: moe-opt %moe_src_root/examples/qwen3_30b_a3b.mlir -moe-compile \
// RUN:   -cse -canonicalize -loop-invariant-code-motion -control-flow-sink \
// RUN:   -moe-verify-streams 2>/dev/null | FileCheck %s --check-prefix=QWEN
// QWEN: %[[E0:.+]] = npu.record stream(0)
// QWEN: npu.wait %[[E0]] stream(1)
// QWEN: npu.all_gather %{{.+}} dp stream(1)
// QWEN: %[[E1:.+]] = npu.record stream(1)
// QWEN: npu.wait %[[E1]] stream(0)
// QWEN-NEXT: npu.moe_init_routing

// The npu ops, their streams and their order are exactly those of -moe-compile
// alone (host ops such as tensor.dim may be merged).
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile 2>/dev/null \
// RUN:   | sed -n -e 's/.*\(npu\.[a-z_0-9]*\).*\(stream([0-9]*)\).*/\1 \2/p' -e 't' -e 's/.*\(npu\.[a-z_0-9]*\).*/\1/p' > %t.alone
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile \
// RUN:   -cse -canonicalize -loop-invariant-code-motion -control-flow-sink 2>/dev/null \
// RUN:   | sed -n -e 's/.*\(npu\.[a-z_0-9]*\).*\(stream([0-9]*)\).*/\1 \2/p' -e 't' -e 's/.*\(npu\.[a-z_0-9]*\).*/\1/p' > %t.upstream
// RUN: diff %t.alone %t.upstream
// RUN: FileCheck %s --check-prefix=OPS < %t.upstream
// OPS: npu.moe_distribute_dispatch
// OPS: npu.record stream(2)
// RUN: moe-opt %moe_src_root/examples/qwen3_30b_a3b.mlir -moe-compile 2>/dev/null \
// RUN:   | sed -n -e 's/.*\(npu\.[a-z_0-9]*\).*\(stream([0-9]*)\).*/\1 \2/p' -e 't' -e 's/.*\(npu\.[a-z_0-9]*\).*/\1/p' > %t.qalone
// RUN: moe-opt %moe_src_root/examples/qwen3_30b_a3b.mlir -moe-compile \
// RUN:   -cse -canonicalize -loop-invariant-code-motion -control-flow-sink 2>/dev/null \
// RUN:   | sed -n -e 's/.*\(npu\.[a-z_0-9]*\).*\(stream([0-9]*)\).*/\1 \2/p' -e 't' -e 's/.*\(npu\.[a-z_0-9]*\).*/\1/p' > %t.qupstream
// RUN: diff %t.qalone %t.qupstream
