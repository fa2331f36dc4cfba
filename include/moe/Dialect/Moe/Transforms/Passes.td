//===- Passes.td - passes on the moe dialect -*- tablegen -*-===//
//
// Passes that transform level-1 (`moe`) IR. docs/MoePasses.md is generated
// from this file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD

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
      allow it (`checkDispatchDeployment`, the rule the `moe.layout`
      verifier applies to every dispatch under it), a static or bounded
      token count must fit its MC2 kernel, and fused_mc2 needs unquantized
      or w8a8_dynamic experts.

    Table and cost model pick a method only where the legality query
    (`moe/Dialect/Moe/CommLegality.h`, shared with convert-moe-to-npu, the
    deployment verifier and the runtime's capacity check) says it can
    run: its layout, chip, quantization and serving options, and the token
    count against its MC2 capacity.

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
    The thresholds are where the decision changes: the MC2 and fused MC2
    capacities for the table, the capacities and the crossings of the cost
    lines (up to `max-tokens`, and past every capacity) for the cost model;
    the last case, which takes every larger count, is never an MC2 method.

    Every decided layer gets a remark with the method and why, e.g.
    `mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 512`. The table and the
    cost model need a `moe.chip`; malformed layers, illegal fixed methods and
    invalid options are reported as errors.
  }];
  let options = [
    Option<"policy", "policy", "::mlir::moe::Policy",
           /*default=*/"::mlir::moe::Policy::Table",
           "How to choose: table, cost-model or fixed",
           [{::mlir::moe::policyOptionValues()}]>,
    Option<"method", "method", "::mlir::moe::CommMethod",
           /*default=*/"::mlir::moe::CommMethod::Unset",
           "The method for policy=fixed: allgather, alltoall, mc2, fused_mc2 or moge",
           [{::mlir::moe::commMethodOptionValues()}]>,
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
  let dependentDialects = ["::mlir::moe::MoeDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
