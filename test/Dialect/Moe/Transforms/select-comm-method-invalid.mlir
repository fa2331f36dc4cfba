// RUN: moe-opt %s -mlir-disable-threading -split-input-file -moe-select-comm-method -verify-diagnostics
//
// Errors that depend on the options run on Inputs/select-one-layer.mlir: two
// layers without expert parallelism, @with_chip on an A3, @without_chip.
// DEFINE: %{select} = not moe-opt %S/Inputs/select-one-layer.mlir -mlir-disable-threading -mlir-print-op-on-diagnostic=false
// RUN: %{select} -moe-select-comm-method=policy=foo 2>&1 | FileCheck %s --check-prefix=POLICY
// RUN: %{select} -moe-select-comm-method=policy=fixed 2>&1 | FileCheck %s --check-prefix=NO-METHOD
// RUN: %{select} -moe-select-comm-method=method=mc2 2>&1 | FileCheck %s --check-prefix=METHOD-POLICY
// RUN: %{select} "-moe-select-comm-method=policy=fixed method=foo" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: %{select} -moe-select-comm-method=max-num-reqs=0 2>&1 | FileCheck %s --check-prefix=REQS
// RUN: %{select} -moe-select-comm-method=decode-query-len=0 2>&1 | FileCheck %s --check-prefix=QLEN
// RUN: %{select} -moe-select-comm-method=max-graph-size=-1 2>&1 | FileCheck %s --check-prefix=GRAPH
// RUN: %{select} -moe-select-comm-method=max-num-batched-tokens=0 2>&1 | FileCheck %s --check-prefix=BATCHED
// RUN: %{select} -moe-select-comm-method=max-tokens=-1 2>&1 | FileCheck %s --check-prefix=MAXTOKENS
// RUN: %{select} -moe-select-comm-method=mega-moe 2>&1 | FileCheck %s --check-prefix=MEGA
// RUN: moe-opt %S/Inputs/select-one-layer.mlir -mlir-disable-threading -mlir-print-op-on-diagnostic=false -moe-select-comm-method=policy=cost-model 2>&1 | FileCheck %s --check-prefix=COST-CHIP
// RUN: %{select} "-moe-select-comm-method=policy=fixed method=mc2" 2>&1 | FileCheck %s --check-prefix=FIXED
// A fixed method held to the legality query (moe/Dialect/Moe/CommLegality.h):
// more tokens than its kernel accepts, or experts it does not run.
// DEFINE: %{beyond} = not moe-opt %S/Inputs/select-fixed-beyond-capacity.mlir -split-input-file -mlir-disable-threading -mlir-print-op-on-diagnostic=false
// RUN: %{beyond} "-moe-select-comm-method=policy=fixed method=mc2" 2>&1 | FileCheck %s --check-prefix=FIXED-MC2
// RUN: %{beyond} "-moe-select-comm-method=policy=fixed method=fused_mc2" 2>&1 | FileCheck %s --check-prefix=FIXED-FUSED
// A fixed method other than allgather for a layer whose router weight
// scales the input.
// RUN: not moe-opt %S/Inputs/select-weight-on-input.mlir -mlir-disable-threading -mlir-print-op-on-diagnostic=false "-moe-select-comm-method=policy=fixed method=mc2" 2>&1 | FileCheck %s --check-prefix=FIXED-WOI
// FIXED-WOI: select-weight-on-input.mlir:7:{{[0-9]+}}: error: method mc2 cannot run this layer: the router weight on the input needs allgather
// RUN: not moe-opt %S/Inputs/select-weight-on-input.mlir -mlir-disable-threading -mlir-print-op-on-diagnostic=false -moe-select-comm-method=lora 2>&1 | FileCheck %s --check-prefix=WOI-LORA
// WOI-LORA: select-weight-on-input.mlir:9:{{[0-9]+}}: error: no method runs this layer: the router weight on the input needs allgather, LoRA with expert parallelism needs alltoall
// moge asked for where its dispatcher would compute a wrong result
// (CommLegality.h mogeRoutingObstacle, mogeQuantObstacle).
// RUN: not moe-opt %S/Inputs/select-moge-illegal.mlir -split-input-file -mlir-disable-threading -mlir-print-op-on-diagnostic=false "-moe-select-comm-method=policy=fixed method=moge" 2>&1 | FileCheck %s --check-prefix=FIXED-MOGE
// FIXED-MOGE: select-moge-illegal.mlir:1 offset :8:19: error: method moge cannot run this layer: moge needs group-balanced routing (moe.gate ... groups(G, G) balanced) so that each of the 4 expert-parallel ranks receives top_k / 4 of every token's 4 experts
// FIXED-MOGE: offset :7:19: error: method moge cannot run this layer: moge needs whole expert groups on every rank: the 2 balanced groups do not split over 4 expert-parallel ranks
// FIXED-MOGE: offset :8:19: error: method moge cannot run this layer: moge's experts scale unquantized activations by topk_scales, not w8a8_dynamic ones
// FIXED-MOGE: offset :7:19: error: method moge cannot run this layer: moge keeps every expert group on its rank: no redundant experts, log2phy or expert_map (EPLB)

// policy and method are enum options: their parser rejects unknown names.
// POLICY: for the --policy option: Cannot find option named 'foo'!
// NO-METHOD: error: policy=fixed needs method=<allgather, alltoall, mc2, fused_mc2 or moge>
// METHOD-POLICY: error: method=mc2 is only used with policy=fixed, not policy=table
// METHOD: for the --method option: Cannot find option named 'foo'!
// REQS: error: option max-num-reqs must be at least 1, got 0
// QLEN: error: option decode-query-len must be at least 1, got 0
// GRAPH: error: option max-graph-size must be at least 0, got -1
// BATCHED: error: option max-num-batched-tokens must be at least 1, got 0
// MAXTOKENS: error: option max-tokens must be at least 0, got -1
// MEGA: error: option mega-moe selects the kernel of fused MC2 and needs fused-mc2

// Without expert parallelism every policy gives allgather, so the layer
// without a chip is decided too (a layer with expert parallelism and no
// chip is an error, below).
// COST-CHIP-DAG: select-one-layer.mlir:7:{{[0-9]+}}: remark: allgather for any token count: cost model at 8192 tokens: allgather
// COST-CHIP-DAG: select-one-layer.mlir:19:{{[0-9]+}}: remark: allgather for any token count: expert parallelism is off

// A fixed method the layout cannot run, in the words of the moe.dispatch
// verifier (the one place the rule lives).
// FIXED: select-one-layer.mlir:7:{{[0-9]+}}: error: method mc2 is not legal for this layer: 'moe.dispatch' op method mc2 sends tokens to the rank owning their expert and needs expert_parallel in the layout

// FIXED-MC2: select-fixed-beyond-capacity.mlir:1 offset :9:19: error: method mc2 cannot run this layer: 600 tokens > MC2 kernel capacity 512
// FIXED-MC2: remark: mc2 for any token count: fixed by policy
// FIXED-FUSED: select-fixed-beyond-capacity.mlir:1 offset :9:19: error: method fused_mc2 cannot run this layer: 600 tokens > MC2 kernel capacity 512
// FIXED-FUSED: offset :9:19: error: method fused_mc2 cannot run this layer: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not w4a8_dynamic
// FIXED: select-one-layer.mlir:9:{{[0-9]+}}: note: moe.dispatch here

// The table needs a chip.
func.func @no_chip(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{policy=table needs the target chip: put a moe.chip attribute (e.g. #moe.chip<A3>) on an enclosing op}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// A context nobody finalizes.
func.func @ctx_unused(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>)
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{the context of this moe.prepare has 0 uses; a layer needs exactly one, by its moe.finalize}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

// Two finalizes of one context.
func.func @ctx_twice(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{the context of this moe.prepare has 2 uses; a layer needs exactly one, by its moe.finalize}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %o = moe.finalize %h, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  %o2 = moe.finalize %h, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o, %o2 : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// A context consumed by something else than a finalize.
func.func @ctx_returned(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> !moe.prepare_ctx<unset>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{the context of this moe.prepare is consumed by 'func.return', not by a moe.finalize}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  // expected-note @+1 {{consumed here}}
  return %pctx : !moe.prepare_ctx<unset>
}

// -----

// A finalize in a nested block.
func.func @finalize_nested(%c: i1, %x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{the moe.finalize of this layer is in another block than its moe.prepare}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %r = scf.if %c -> tensor<?x64xbf16> {
    // expected-note @+1 {{moe.finalize here}}
    %o = moe.finalize %h, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
    scf.yield %o : tensor<?x64xbf16>
  } else {
    scf.yield %x : tensor<?x64xbf16>
  }
  return %r : tensor<?x64xbf16>
}

// -----

// No dispatch between prepare and finalize.
func.func @no_dispatch(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{this MoE layer has 0 moe.dispatch ops between its moe.prepare and moe.finalize; expected one}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  // expected-note @+1 {{moe.finalize here}}
  %o = moe.finalize %h, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// Two dispatches in one layer.
func.func @two_dispatches(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{this MoE layer has 2 moe.dispatch ops between its moe.prepare and moe.finalize; expected one}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %r = moe.combine %rows, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  // expected-note @+1 {{second moe.dispatch here}}
  %rows2, %counts2, %dctx2 = moe.dispatch %r, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %r2 = moe.combine %rows2, %dctx2 : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r2, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// Two expert MLPs in one layer.
func.func @two_experts(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{this MoE layer has 2 moe.experts ops; expected at most one}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  // expected-note @+1 {{second moe.experts here}}
  %y2 = moe.experts %y, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y2, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// The dispatch already has a method, the prepare does not.
func.func @half_set(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-note @+1 {{moe.prepare here}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // expected-error @+1 {{this moe.dispatch already uses method mc2 but its layer's moe.prepare is unset}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<mc2>
  %r = moe.combine %rows, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<mc2>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// A layer nested in another (the inner prepare reads the outer prepared
// hidden states): the outer one is rejected, the inner one decided.
func.func @nested_layer(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-error @+1 {{this MoE layer contains another layer's 'moe.prepare'}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  // expected-note @+2 {{nested here}}
  // expected-remark @+1 {{run-time choice}}
  %h2, %l2, %pctx2 = moe.prepare %h, %l : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l2 top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h2, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %r = moe.combine %rows, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o2 = moe.finalize %r, %pctx2 : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  %o = moe.finalize %o2, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// A value of the layer used after it: the layer cannot be duplicated for a
// run-time choice.
func.func @escaping_value(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>) -> (tensor<?x64xbf16>, tensor<?x4xi32>)
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  // expected-error @+1 {{result #1 of this 'moe.gate' is used outside its MoE layer, which is duplicated per candidate method; only the moe.finalize result may leave it}}
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %r = moe.combine %rows, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  // expected-note @+1 {{used here}}
  return %o, %ids : tensor<?x64xbf16>, tensor<?x4xi32>
}

// -----

// The same layer with a static token count needs no duplication: its
// method is set, the extra use is fine.
func.func @escaping_value_static(%x: tensor<8x64xbf16>, %logits: tensor<8x32xf32>) -> (tensor<?x64xbf16>, tensor<?x4xi32>)
    attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-remark @+1 {{mc2: A3, 16 EP ranks, 8 tokens <= MC2 capacity 256}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<8x64xbf16>, tensor<8x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %r = moe.combine %rows, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o, %ids : tensor<?x64xbf16>, tensor<?x4xi32>
}

// -----

// Without a moe.layout anywhere the single-device default applies; no
// attribute verifier checked the layer against it, so the pass does.
func.func @default_layout(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16> {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // expected-error @+1 {{'moe.dispatch' op counts has 2 local experts but 32 physical experts over 1 expert-parallel ranks give 32}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// Shared-expert ranks need mc2, which A2's kernel cannot do with them.
func.func @shared_ranks_a2(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A2>,
                moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true, shared_expert_ranks = 8>} {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // expected-error @+1 {{no method runs this layer: shared_expert_ranks = 8 needs mc2 (shared_expert_rank_num), which cannot: shared_expert_ranks need A3's MC2 arguments (group_tp); A2's kernel has no shared-expert ranks}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// ... and a chip that says so.
func.func @shared_ranks_no_chip(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<4x64x32xbf16>, %w2: tensor<4x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true, shared_expert_ranks = 8>} {
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  // expected-error @+1 {{no method runs this layer: shared_expert_ranks = 8 needs mc2 (shared_expert_rank_num), which cannot: shared_expert_ranks need an A3 chip (#moe.chip<A3>)}}
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<4x64x32xbf16>, tensor<4x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<4xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
