// RUN: moe-opt %s -mlir-disable-threading -split-input-file -moe-select-comm-method -verify-diagnostics | FileCheck %s

// policy=table (the default) with the default serving configuration:
// max_num_reqs 256, decode query length 1, no captured graphs, so the MC2
// capacity is min(ceil(256 / tp), 512) * tp = 256 for tp 1. A3 with 16 EP
// ranks: mc2 up to 256 tokens, alltoall above (SEMANTICS §2).
//
// The layer: H 64, 32 experts (2 per rank), top-4, intermediate 16.

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {

// A static token count within the capacity: the method is set in the
// context types; every op of the layer carries it.
// CHECK-LABEL: func.func @static_mc2
// CHECK-NOT: moe.choose_method
// CHECK: moe.prepare {{.*}} -> !moe.prepare_ctx<mc2>
// CHECK: moe.dispatch {{.*}} -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
// CHECK: moe.combine {{.*}} : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
// CHECK: moe.finalize {{.*}} : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
// CHECK-NOT: scf.index_switch
func.func @static_mc2(%x: tensor<64x64xbf16>, %logits: tensor<64x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 256}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<64x64xbf16>, tensor<64x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// Above the capacity: alltoall.
// CHECK-LABEL: func.func @static_alltoall
// CHECK: moe.prepare {{.*}} -> !moe.prepare_ctx<alltoall>
// CHECK: moe.dispatch {{.*}} !moe.dispatch_ctx<alltoall>
func.func @static_alltoall(%x: tensor<257x64xbf16>, %logits: tensor<257x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{alltoall: A3, 16 EP ranks, 257 tokens > MC2 capacity 256}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<257x64xbf16>, tensor<257x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// A dynamic token count bounded by max_tokens within the capacity: one
// method fits every count.
// CHECK-LABEL: func.func @bounded_mc2
// CHECK-NOT: moe.choose_method
// CHECK: moe.prepare {{.*}} max_tokens(256) : {{.*}} -> !moe.prepare_ctx<mc2>
// CHECK: !moe.dispatch_ctx<mc2>
func.func @bounded_mc2(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{mc2 for up to 256 tokens (max_tokens): A3, 16 EP ranks, 256 tokens <= MC2 capacity 256}}
  %h, %l, %pctx = moe.prepare %x, %logits max_tokens(256) : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// A bound above the capacity: both methods stay, chosen at run time.
// CHECK-LABEL: func.func @bounded_switch
// CHECK: moe.choose_method %{{.+}} thresholds [256] methods [mc2, alltoall]
// CHECK: scf.index_switch
// CHECK: moe.prepare {{.*}} max_tokens(1024) : {{.*}} -> !moe.prepare_ctx<mc2>
// CHECK: default {
// CHECK: moe.prepare {{.*}} max_tokens(1024) : {{.*}} -> !moe.prepare_ctx<alltoall>
func.func @bounded_switch(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{run-time choice on the largest token count across ranks (at most 1024): mc2 up to 256 tokens (A3, 16 EP ranks, 256 tokens <= MC2 capacity 256); alltoall above (A3, 16 EP ranks, 257 tokens > MC2 capacity 256)}}
  %h, %l, %pctx = moe.prepare %x, %logits max_tokens(1024) : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// A dynamic token count: the whole structure. The shared experts feeding
// only this layer go into every case (so each case can be scheduled as a
// whole layer); an unrelated op placed between the layer's ops stays
// outside the switch; an extra op on the slice (the tensor.cast) is part of
// the layer and cloned; the finalize result's uses take the switch result.
// CHECK-LABEL: func.func @dynamic(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x64xbf16>, %[[L:[^:]+]]: tensor<?x32xf32>, %[[W13:[^:]+]]: tensor<2x64x32xbf16>, %[[W2:[^:]+]]: tensor<2x16x64xbf16>, %[[S13:[^:]+]]: tensor<64x32xbf16>, %[[S2:[^:]+]]: tensor<16x64xbf16>
// CHECK-NEXT: %[[C:.+]] = arith.constant 1 : index
// CHECK-NEXT: %[[D:.+]] = tensor.dim %[[X]], %[[C]]
// CHECK-NEXT: %[[I:.+]] = moe.choose_method %[[X]] thresholds [256] methods [mc2, alltoall] : tensor<?x64xbf16>
// CHECK-NEXT: %[[R:.+]] = scf.index_switch %[[I]] -> tensor<?x64xbf16>
// CHECK-NEXT: case 0 {
// CHECK-NEXT:   %[[S:.+]] = moe.shared_experts %[[X]] weights(%[[S13]], %[[S2]]
// CHECK-NEXT:   %[[H0:.+]], %[[L0:.+]], %[[P0:.+]] = moe.prepare %[[X]], %[[L]] : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<mc2>
// CHECK-NEXT:   %[[W0:.+]], %[[ID0:.+]] = moe.gate %[[L0]] top_k(4) softmax
// CHECK-NEXT:   %[[ROWS0:.+]], %[[CNT0:.+]], %[[DC0:.+]] = moe.dispatch %[[H0]], %[[W0]], %[[ID0]] experts(32) : {{.*}} -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
// CHECK-NEXT:   %[[Y0:.+]] = moe.experts %[[ROWS0]], %[[CNT0]] weights(%[[W13]], %[[W2]]
// CHECK-NEXT:   %[[YC0:.+]] = tensor.cast %[[Y0]]
// CHECK-NEXT:   %[[CB0:.+]] = moe.combine %[[YC0]], %[[DC0]] : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
// CHECK-NEXT:   %[[F0:.+]] = moe.finalize %[[CB0]], %[[P0]] shared(%[[S]] : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
// CHECK-NEXT:   scf.yield %[[F0]] : tensor<?x64xbf16>
// CHECK-NEXT: }
// CHECK-NEXT: default {
// CHECK-NEXT:   %[[S1:.+]] = moe.shared_experts %[[X]] weights(%[[S13]], %[[S2]]
// CHECK-NEXT:   moe.prepare %[[X]], %[[L]] : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<alltoall>
// CHECK-NEXT:   moe.gate
// CHECK-NEXT:   moe.dispatch {{.*}} !moe.dispatch_ctx<alltoall>
// CHECK-NEXT:   moe.experts
// CHECK-NEXT:   tensor.cast
// CHECK-NEXT:   moe.combine {{.*}} !moe.dispatch_ctx<alltoall>
// CHECK-NEXT:   %[[F1:.+]] = moe.finalize {{.*}} shared(%[[S1]] : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<alltoall>
// CHECK-NEXT:   scf.yield %[[F1]] : tensor<?x64xbf16>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[R]], %[[D]] : tensor<?x64xbf16>, index
func.func @dynamic(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>,
    %s13: tensor<64x32xbf16>, %s2: tensor<16x64xbf16>) -> (tensor<?x64xbf16>, index) {
  %c1 = arith.constant 1 : index
  // expected-remark @+1 {{run-time choice on the largest token count across ranks: mc2 up to 256 tokens (A3, 16 EP ranks, 256 tokens <= MC2 capacity 256); alltoall above (A3, 16 EP ranks, 257 tokens > MC2 capacity 256)}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %s = moe.shared_experts %x weights(%s13, %s2 : tensor<64x32xbf16>, tensor<16x64xbf16>) : tensor<?x64xbf16>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %d = tensor.dim %x, %c1 : tensor<?x64xbf16>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %yc = tensor.cast %y : tensor<?x64xbf16> to tensor<?x64xbf16>
  %r = moe.combine %yc, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx shared(%s : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o, %d : tensor<?x64xbf16>, index
}
}

// -----

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {

// Two chained layers: the second layer's choice reads the first switch's
// result. A layer that already has a method is left alone (no remark).
// CHECK-LABEL: func.func @chained(
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x64xbf16>
// CHECK: %[[I1:.+]] = moe.choose_method %[[X]] thresholds [256] methods [mc2, alltoall]
// CHECK: %[[R1:.+]] = scf.index_switch %[[I1]]
// CHECK: %[[I2:.+]] = moe.choose_method %[[R1]] thresholds [256] methods [mc2, alltoall]
// CHECK: %[[R2:.+]] = scf.index_switch %[[I2]]
// CHECK-NOT: scf.index_switch
// CHECK: moe.prepare %[[R2]], {{.*}} -> !moe.prepare_ctx<allgather>
// CHECK: moe.dispatch {{.*}} !moe.dispatch_ctx<allgather>
// CHECK: return
func.func @chained(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{run-time choice}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  // expected-remark @+1 {{run-time choice}}
  %h2, %l2, %pctx2 = moe.prepare %o, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w2_, %ids2 = moe.gate %l2 top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows2, %counts2, %dctx2 = moe.dispatch %h2, %w2_, %ids2 experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y2 = moe.experts %rows2, %counts2 weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r2 = moe.combine %y2, %dctx2 : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o2 = moe.finalize %r2, %pctx2 : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  %h3, %l3, %pctx3 = moe.prepare %o2, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<allgather>
  %w3, %ids3 = moe.gate %l3 top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows3, %counts3, %dctx3 = moe.dispatch %h3, %w3, %ids3 experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<allgather>
  %y3 = moe.experts %rows3, %counts3 weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r3 = moe.combine %y3, %dctx3 : tensor<?x64xbf16>, !moe.dispatch_ctx<allgather>
  %o3 = moe.finalize %r3, %pctx3 : tensor<?x64xbf16>, !moe.prepare_ctx<allgather>
  return %o3 : tensor<?x64xbf16>
}

// A layer inside a region: the switch is built in that region.
// CHECK-LABEL: func.func @in_region(
// CHECK: scf.if
// CHECK-NEXT: moe.choose_method
// CHECK-NEXT: scf.index_switch
// CHECK: } else {
func.func @in_region(%cond: i1, %x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %res = scf.if %cond -> tensor<?x64xbf16> {
    // expected-remark @+1 {{run-time choice}}
    %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
    %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
        : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
        : tensor<?x64xbf16>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
    %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
    scf.yield %o : tensor<?x64xbf16>
  } else {
    scf.yield %x : tensor<?x64xbf16>
  }
  return %res : tensor<?x64xbf16>
}

// A function overriding the layout: no expert parallelism means allgather
// at any token count, so no run-time choice is needed.
// CHECK-LABEL: func.func @no_ep
// CHECK-NOT: moe.choose_method
// CHECK: !moe.prepare_ctx<allgather>
// CHECK: !moe.dispatch_ctx<allgather>
func.func @no_ep(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<32x64x32xbf16>, %w2: tensor<32x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.layout = #moe.layout<tp = 2, dp = 2>} {
  // expected-remark @+1 {{allgather for any token count: expert parallelism is off}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<32xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<32x64x32xbf16>, tensor<32x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<32xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// A function overriding the chip: on A2 with 16 devices and 2 experts per
// device, mc2 up to the capacity and allgather above; redundant experts do
// not enter the A2 rule (32 logical experts / 16 devices = 2).
// CHECK-LABEL: func.func @a2_redundant
// CHECK: moe.choose_method %{{.+}} thresholds [256] methods [mc2, allgather]
func.func @a2_redundant(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<3x64x32xbf16>, %w2: tensor<3x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A2>} {
  // expected-remark @+1 {{run-time choice on the largest token count across ranks: mc2 up to 256 tokens (A2, world dp * tp = 16, 2 experts per device, 256 tokens <= MC2 capacity 256); allgather above (A2, world dp * tp = 16, 2 experts per device, 257 tokens > MC2 capacity 256)}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32 + 16)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<3xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<3x64x32xbf16>, tensor<3x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<3xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

// Layers with their methods already set, and functions without layers, are
// left exactly as they are.
// CHECK-LABEL: func.func @untouched
// CHECK: moe.prepare {{.*}} -> !moe.prepare_ctx<mc2>
// CHECK: !moe.dispatch_ctx<mc2>
// CHECK: moe.finalize {{.*}} !moe.prepare_ctx<mc2>
// CHECK-LABEL: func.func @no_layer
// CHECK-NEXT: return
func.func @untouched(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<mc2>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<mc2>
  return %o : tensor<?x64xbf16>
}
func.func @no_layer() {
  return
}

// -----

// The router weight on the input: only the allgather dispatcher applies it
// (seed 002), so the table picks allgather where it would pick mc2 (A3, 16
// EP ranks, 64 tokens <= MC2 capacity 256) and the cost model never weighs
// another method.

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
// CHECK-LABEL: func.func @router_weight_on_input
// CHECK: moe.prepare {{.*}} -> !moe.prepare_ctx<allgather>
// CHECK: moe.dispatch {{.*}} router_weight_on_input : {{.*}} !moe.dispatch_ctx<allgather>
func.func @router_weight_on_input(%x: tensor<64x64xbf16>, %logits: tensor<64x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{allgather: the router weight on the input}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<64x64xbf16>, tensor<64x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(1) softmax : tensor<?x32xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32) router_weight_on_input
      : tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}

// -----

// Shared-expert ranks: only mc2's dispatch serves them, at every token count
// (its kernel capacity is then checked at run time), whatever the table
// would pick above the capacity.
// CHECK-LABEL: func.func @shared_expert_ranks
// CHECK-NOT: moe.choose_method
// CHECK: moe.dispatch {{.*}} -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
// CHECK-NOT: scf.index_switch
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true, shared_expert_ranks = 8>} {
func.func @shared_expert_ranks(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>,
    %sw13: tensor<64x32xbf16>, %sw2: tensor<16x64xbf16>) -> tensor<?x64xbf16> {
  // expected-remark @+1 {{mc2 for any token count: shared_expert_ranks = 8 (only mc2's dispatch serves them)}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %s = moe.shared_experts %x weights(%sw13, %sw2 : tensor<64x32xbf16>, tensor<16x64xbf16>) : tensor<?x64xbf16>
  %o = moe.finalize %r, %pctx shared(%s : tensor<?x64xbf16>) : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
}
