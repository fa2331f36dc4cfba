//===- Passes.td - moe-mlir compiler passes ----------------*- tablegen -*-===//
//
// The passes that turn a level-1 MoE layer into scheduled device ops
// (docs/Architecture.md). docs/Passes.md is generated from this file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_PASSES_TD
#define MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SelectCommMethod : Pass<"moe-select-comm-method", "::mlir::func::FuncOp"> {
  let summary = "Choose the communication method of every MoE layer";
  let description = [{
    Sets the method of every layer (`moe.prepare` ... `moe.finalize`) whose
    method is `unset`, from the chip (`moe.chip`), the layout (`moe.layout`),
    the number of experts, top-k, the experts' quantization and the token
    count:

    - `policy=table`: vllm-ascend's rule set (SEMANTICS §2), including the MC2
      token capacity computation (base, divide by tp rounding up, clamp,
      multiply back) and every chip branch;
    - `policy=cost-model`: the legal method with the lowest modelled latency
      (`docs/CostModel.md`);
    - `policy=fixed method=<m>`: the given method everywhere; the layout must
      allow it (the `moe.dispatch` verifier).

    A layer is the `moe.prepare`, the `moe.finalize` consuming its context
    and the ops between them on both slices (gate, dispatch, experts,
    combine); `moe.shared_experts` on the layer's input stays outside. The
    method is set by changing the context types of the prepare and the
    dispatch. Layers that already have a method are left alone.

    When every rank's token count is known (a static token dimension) or
    bounded (`max_tokens` on `moe.prepare`) so that one method is right for
    all of them, the layer gets that method. Otherwise the layer is cloned
    once per candidate method into an `scf.index_switch` on
    `moe.choose_method`, which evaluates the same rule at run time on the
    maximum token count across ranks, so every rank takes the same path.
    The thresholds are where the decision changes: the MC2 capacity for the
    table, the capacity and the crossings of the cost lines (up to
    `max-tokens`) for the cost model.

    Every decided layer gets a remark with the method and why, e.g.
    `mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 512`. The table and the
    cost model need a `moe.chip`; malformed layers, illegal fixed methods and
    invalid options are reported as errors.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"table\"",
           "How to choose: table, cost-model or fixed">,
    Option<"method", "method", "std::string", /*default=*/"\"\"",
           "The method for policy=fixed: allgather, alltoall, mc2 or fused_mc2">,
    Option<"maxNumReqs", "max-num-reqs", "int64_t", /*default=*/"256",
           "Most concurrent requests (vLLM max_num_seqs)">,
    Option<"decodeQueryLen", "decode-query-len", "int64_t", /*default=*/"1",
           "Tokens per request in a decode step (1 + speculative tokens)">,
    Option<"maxGraphSize", "max-graph-size", "int64_t", /*default=*/"0",
           "Largest captured graph batch size; 0 when graphs are not captured">,
    Option<"maxNumBatchedTokens", "max-num-batched-tokens", "int64_t",
           /*default=*/"8192", "vLLM max_num_batched_tokens">,
    Option<"prefillMc2", "prefill-mc2", "bool", /*default=*/"false",
           "enable_prefill_mc2: size the MC2 capacity for prefill batches">,
    Option<"fusedMc2", "fused-mc2", "bool", /*default=*/"false",
           "enable_fused_mc2 = 1: allow fused_mc2 (dispatch_ffn_combine) on A3">,
    Option<"megaMoe", "mega-moe", "bool", /*default=*/"false",
           "Use CANN MegaMoE for fused_mc2 (EP <= 64, 4096 tokens per rank)">,
    Option<"lora", "lora", "bool", /*default=*/"false",
           "The model serves LoRA adapters (forces alltoall with EP)">,
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"0",
           "Largest per-rank token count the cost model considers for a "
           "dynamic token dimension (0: max-num-batched-tokens)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

def ExpandComm : Pass<"moe-expand-comm", "::mlir::func::FuncOp"> {
  let summary = "Rewrite every MoE stage into the device ops of its method";
  let description = [{
    Replaces the `moe` ops of every layer by `npu` device ops following
    vllm-ascend step by step (seeds 000 and 002; SEMANTICS §3-§6):
    allgather with and without sequence parallelism, all-to-all-v, MC2 and
    fused MC2, each with its padding, TP slicing, masks, splits, unpadding
    and final reductions. Quantized experts get an explicit
    `npu.dynamic_quant` after the dispatch, which
    `moe-fuse-quant-into-dispatch` may move into it. The method must be set.
  }];
  let options = [
    Option<"checkMc2Capacity", "check-mc2-capacity", "bool", /*default=*/"true",
           "Give MC2 dispatches the chip's per-rank token capacity, checked at "
           "run time">
  ];
  let dependentDialects = ["::mlir::npu::NpuDialect", "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def FuseQuantIntoDispatch : Pass<"moe-fuse-quant-into-dispatch", "::mlir::func::FuncOp"> {
  let summary = "Quantize before the communication instead of after it";
  let description = [{
    A `npu.dynamic_quant` of dispatched rows becomes part of the dispatch
    (SEMANTICS §7): `npu.moe_distribute_dispatch` with `quant_mode(2)`,
    `npu.moe_init_routing` with `quant_mode(1)`, or, for all-to-all-v, a
    quantization before the exchange that sends int8 rows plus an
    all-to-all of the scales. It fires only where it is legal: the
    quantized rows feed int8 grouped matmuls (per-token activations) and
    nothing else uses the unquantized rows. Otherwise the IR is left alone
    and a remark says why. Per-row quantization commutes with moving rows,
    so the result is bit-identical.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect"];
}

def ScheduleMultistream : Pass<"moe-schedule-multistream", "::mlir::func::FuncOp"> {
  let summary = "Put device ops on streams and insert the events they need";
  let description = [{
    vllm-ascend's multistream overlap (SEMANTICS §8), with one auxiliary
    stream per purpose shared by all layers:

    - gate overlap: the all-gather of the (quantized) hidden states runs on
      the gate stream after it waits for the main stream, while the main
      stream gathers router logits and scales; the main stream waits for the
      gate stream before the experts;
    - shared experts on the shared stream, ordered by events recorded on the
      main stream: quantize during the gate, gate-up matmul during dispatch,
      activation before the second grouped matmul, down projection during
      combine; the main stream waits before adding the shared output.

    Only the events and waits these orderings need are inserted.
  }];
  let options = [
    Option<"gateOverlap", "gate-overlap", "bool", /*default=*/"true",
           "Overlap the hidden-state all-gather with the logits all-gather">,
    Option<"sharedExpertsOverlap", "shared-experts-overlap", "bool",
           /*default=*/"true", "Run shared experts on an auxiliary stream">,
    Option<"gateStream", "gate-stream", "int64_t", /*default=*/"1",
           "Stream of the gate overlap">,
    Option<"sharedStream", "shared-stream", "int64_t", /*default=*/"2",
           "Stream of the shared experts">
  ];
  let dependentDialects = ["::mlir::npu::NpuDialect"];
}

def VerifyStreams : Pass<"moe-verify-streams", "::mlir::func::FuncOp"> {
  let summary = "Prove every cross-stream use is ordered by an event chain";
  let description = [{
    A walk-based analysis with vector clocks: every device op advances its
    stream's clock, `npu.record` captures the recording stream's clock and
    `npu.wait` merges it into the waiting stream's. A value used on another
    stream than the one producing it must be covered by the user's clock;
    otherwise the pass reports a race with both locations and fails. A wait
    that adds nothing to the waiting stream's clock is reported as
    redundant (a warning). `scf.index_switch` cases are analysed separately
    and joined conservatively. The IR is not changed.
  }];
  let options = [
    Option<"warnRedundantWaits", "warn-redundant-waits", "bool", /*default=*/"true",
           "Warn about waits that order nothing new">
  ];
}

#endif // MOE_TRANSFORMS_PASSES_TD
