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
