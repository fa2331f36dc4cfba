//===- MoeOps.td - operations of the moe dialect -----------*- tablegen -*-===//
//
// One op per stage of an MoE layer (SEMANTICS §3-§6). Results whose type
// follows from an operand are inferred, so the custom form only spells the
// types that carry information.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_OPS_TD
#define MOE_OPS_TD

include "Moe/MoeTypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

//===----------------------------------------------------------------------===//
// Constraints
//===----------------------------------------------------------------------===//

class Moe_Rank2Of<list<Type> elts, string what>
    : Type<And<[TensorRankOf<elts, [2]>.predicate,
                CPred<"!::llvm::cast<::mlir::ShapedType>($_self).isDynamicDim(1)">]>,
           "2-D tensor of " # what # " with a static second dimension",
           "::mlir::RankedTensorType">;

def Moe_HiddenTensor : Moe_Rank2Of<[F32, BF16, F16], "f32, bf16 or f16 values">;
def Moe_LogitsTensor : Moe_Rank2Of<[F32, BF16, F16], "router logits">;
def Moe_TopkWeights : Moe_Rank2Of<[F32], "f32 routing weights">;
def Moe_TopkIds : Moe_Rank2Of<[I32], "i32 expert ids">;

def Moe_StaticTensor : Type<And<[AnyRankedTensor.predicate,
    CPred<"::llvm::cast<::mlir::ShapedType>($_self).hasStaticShape()">]>,
    "statically shaped tensor", "::mlir::RankedTensorType">;
def Moe_I32Vector : Type<And<[TensorRankOf<[I32], [1]>.predicate,
    CPred<"::llvm::cast<::mlir::ShapedType>($_self).hasStaticShape()">]>,
    "statically shaped 1-D tensor of i32", "::mlir::RankedTensorType">;
def Moe_CountVector : Type<And<[TensorRankOf<[I64], [1]>.predicate,
    CPred<"::llvm::cast<::mlir::ShapedType>($_self).hasStaticShape()">]>,
    "statically shaped 1-D tensor of i64 counts", "::mlir::RankedTensorType">;

def Moe_FinitePositiveF32Attr : ConfinedAttr<F32Attr, [AttrConstraint<
    CPred<"::llvm::cast<::mlir::FloatAttr>($_self).getValue().isFinite() && "
          "::llvm::cast<::mlir::FloatAttr>($_self).getValueAsDouble() > 0.0">,
    "whose value is finite and positive">]>;
def Moe_PositiveI64Attr : ConfinedAttr<I64Attr, [IntPositive]>;

class Moe_DynamicTokens<string from, string to>
    : TypesMatchWith<to # " has the type of " # from # " with a dynamic token dimension",
                     from, to, "::mlir::moe::withDynamicTokens($_self)">;

def Moe_MethodListAttr : TypedArrayAttrBase<Moe_CommMethodAttr,
                                            "list of communication methods">;

//===----------------------------------------------------------------------===//
// prepare / finalize
//===----------------------------------------------------------------------===//

def Moe_PrepareOp : Moe_Op<"prepare", [Pure,
    Moe_DynamicTokens<"hidden", "prepared_hidden">,
    Moe_DynamicTokens<"logits", "prepared_logits">]> {
  let summary = "bring a rank's tokens into the form its MoE stage works on";
  let description = [{
    Vllm-ascend's `PrepareAndFinalize.prepare`. Depending on the method in the
    result context type it pads the rank's `T` tokens, all-gathers them over
    the DP (or, with sequence parallelism, EP) group, or slices them by TP
    rank, together with the router logits (SEMANTICS §3). With the method
    `unset` it only states that a layer starts here.

    `max_tokens`, when given, bounds the token count of every rank; the
    communication-method selection uses it when the token dimension is
    dynamic.

    The two flags of seed 000's `prepare` (docs/Expansion.md lists their
    effect per method) state that the tensor-parallel ranks of a DP group
    already hold distinct tokens, so nothing is padded or sliced by TP rank
    and finalize gathers nothing back over TP:

    - `replace_allreduce`: the attention output was reduce-scattered instead
      of all-reduced (alltoall, mc2 and fused_mc2 skip padding and slicing;
      allgather ignores it, as `PrepareAndFinalizeWithAllGather` does);
    - `enable_shared_expert_dp`: the shared experts run data-parallel
      (alltoall, mc2 and fused_mc2 as above; with allgather, finalize keeps
      the DP group's gathered rows instead of reduce-scattering them).

    With prefill context parallelism (`pcp > 1` in the layout) allgather
    also gathers the prefill-context-parallel group's tokens.

    Example:

    ```mlir
    %h, %l, %ctx = moe.prepare %x, %logits max_tokens(256)
        : tensor<?x7168xbf16>, tensor<?x256xf32> -> !moe.prepare_ctx<mc2>
    %h2, %l2, %ctx2 = moe.prepare %x, %logits replace_allreduce
        : tensor<?x7168xbf16>, tensor<?x256xf32> -> !moe.prepare_ctx<alltoall>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$hidden, Moe_LogitsTensor:$logits,
                       OptionalAttr<Moe_PositiveI64Attr>:$max_tokens,
                       UnitAttr:$replace_allreduce,
                       UnitAttr:$enable_shared_expert_dp);
  let results = (outs Moe_HiddenTensor:$prepared_hidden,
                      Moe_LogitsTensor:$prepared_logits,
                      Moe_PrepareCtxType:$ctx);
  let assemblyFormat = [{
    $hidden `,` $logits (`max_tokens` `(` $max_tokens^ `)`)?
    (`replace_allreduce` $replace_allreduce^)?
    (`enable_shared_expert_dp` $enable_shared_expert_dp^)? attr-dict
    `:` type($hidden) `,` type($logits) `->` qualified(type($ctx))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    CommMethod getMethod() { return getCtx().getType().getMethod(); }
    /// Whether the TP ranks of a DP group hold distinct tokens here, so
    /// that alltoall, mc2 and fused_mc2 pad and slice nothing (seed 000).
    bool skipsTpSlicing() {
      return getReplaceAllreduce() || getEnableSharedExpertDp();
    }
  }];
}

def Moe_FinalizeOp : Moe_Op<"finalize", [Pure,
    Moe_DynamicTokens<"routed", "result">]> {
  let summary = "undo prepare and add the shared experts' output";
  let description = [{
    Vllm-ascend's `PrepareAndFinalize.finalize`: reduce-scatter, all-gather
    or all-reduce the routed experts' output back to the rank's original `T`
    tokens, drop padding, and add `shared` (the output of
    `moe.shared_experts` on the rank's original tokens) when given. The
    result is the layer's output for the rank's tokens: SEMANTICS §0.

    `reduce_results(false)` (seed 000 `finalize(reduce_results=False)`)
    skips the all-reduce over the TP group that allgather's finalize ends
    with when `tp > 1`: the result is then this rank's partial sum, and the
    model adds the shared experts' (equally partial) output before reducing
    once itself, so `shared` must be absent. The other methods, and
    allgather with sequence parallelism, return complete sums either way,
    as in the seed.

    Example:

    ```mlir
    %out = moe.finalize %y, %ctx shared(%s : tensor<?x7168xbf16>)
        : tensor<?x7168xbf16>, !moe.prepare_ctx<mc2>
    %partial = moe.finalize %y2, %ctx2 reduce_results(false)
        : tensor<?x7168xbf16>, !moe.prepare_ctx<allgather>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$routed, Moe_PrepareCtxType:$ctx,
                       Optional<Moe_HiddenTensor>:$shared,
                       DefaultValuedAttr<BoolAttr, "true">:$reduce_results);
  let results = (outs Moe_HiddenTensor:$result);
  let assemblyFormat = [{
    $routed `,` $ctx (`shared` `(` $shared^ `:` type($shared) `)`)?
    (`reduce_results` `(` $reduce_results^ `)`)? attr-dict
    `:` type($routed) `,` qualified(type($ctx))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// gate
//===----------------------------------------------------------------------===//

def Moe_GateOp : Moe_Op<"gate", [Pure]> {
  let summary = "select the top-k experts of every token";
  let description = [{
    SEMANTICS §4. Scores are `softmax` or `sigmoid` of the logits `[T, E]`.
    The optional correction `bias` `[E]` is added to the scores for the
    selection only. With `groups(G, keep)` the experts form `G` equal groups,
    each group is scored by its best score (with a bias: by the sum of its
    two best biased scores, as DeepSeek-V3 does), and only the best `keep`
    groups stay selectable. With `groups(G, G) balanced` every token takes
    the `top_k / G` best experts of each of the `G` groups (group-balanced
    routing, as Pangu Pro MoE's router does, SEMANTICS §5 "moge"): the
    routing the `moge` communication method relies on. The `top_k` best
    experts give
    `ids [T, K]` (i32) and their unbiased scores `weights [T, K]` (f32);
    `renormalize` divides the weights by their sum, and `scale(s)` multiplies
    them by the routed scaling factor `s`. Ties go to the lower expert id.

    Example (DeepSeek-V3):

    ```mlir
    %w, %ids = moe.gate %logits bias(%b : tensor<256xf32>) top_k(8) sigmoid
        renormalize groups(8, 4) scale(2.5)
        : tensor<?x256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```

    Example (Pangu Pro MoE: one expert from each of 8 groups):

    ```mlir
    %w, %ids = moe.gate %logits top_k(8) softmax groups(8, 8) balanced
        : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = (ins Moe_LogitsTensor:$logits,
                       Optional<Moe_StaticTensor>:$bias,
                       Moe_PositiveI64Attr:$top_k,
                       Moe_ScoringFunc:$scoring,
                       UnitAttr:$renormalize,
                       OptionalAttr<Moe_PositiveI64Attr>:$num_expert_group,
                       OptionalAttr<Moe_PositiveI64Attr>:$topk_group,
                       UnitAttr:$balanced,
                       DefaultValuedAttr<Moe_FinitePositiveF32Attr, "1.0f">:$routed_scaling_factor);
  let results = (outs Moe_TopkWeights:$weights, Moe_TopkIds:$ids);
  let assemblyFormat = [{
    $logits (`bias` `(` $bias^ `:` type($bias) `)`)? `top_k` `(` $top_k `)`
    $scoring (`renormalize` $renormalize^)?
    (`groups` `(` $num_expert_group^ `,` $topk_group `)`)?
    (`balanced` $balanced^)?
    (`scale` `(` $routed_scaling_factor^ `)`)? attr-dict
    `:` type($logits) `->` type($weights) `,` type($ids)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// dispatch / combine
//===----------------------------------------------------------------------===//

def Moe_DispatchOp : Moe_Op<"dispatch", [Pure, AttrSizedOperandSegments,
    Moe_DynamicTokens<"hidden", "rows">]> {
  let summary = "send every (token, k) pair to the rank owning its expert";
  let description = [{
    Vllm-ascend's `MoETokenDispatcher.token_dispatch` (SEMANTICS §5). The
    result `rows` holds, on each rank, one row per (token, k) pair routed to
    one of its `L` local experts, grouped by local expert; `counts [L]` (i64)
    are the per-expert row counts (group list type 1). The context carries
    what combine needs; its type names the communication method.

    `experts(E + R)` gives the number of logical experts `E` and of redundant
    physical replicas `R`. With expert parallelism each rank owns `L = (E +
    R) / ep` contiguous physical experts; without it, `L = E + R` and the
    experts are tensor-sharded. With EPLB, `log2phy [E]` maps logical ids to
    physical ones and `expert_map [E + R]` gives the local index of each
    physical expert on this rank, or -1.

    `router_weight_on_input` (vllm's `apply_router_weight_on_input`, seed
    002): the routing weight multiplies each token's hidden state before the
    experts, `out[t] = Expert_id[t](w[t] * x[t])`, and the combine does not
    apply it again. Top-1 routing only, and only the allgather dispatcher
    applies it (the others ignore the flag in vllm-ascend), so the method is
    allgather.

    Example:

    ```mlir
    %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(256 + 32)
        log2phy(%l2p : tensor<256xi32>) expert_map(%map : tensor<288xi32>)
        : tensor<?x7168xbf16>, tensor<?x8xf32>, tensor<?x8xi32>
        -> tensor<18xi64>, !moe.dispatch_ctx<mc2>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$hidden, Moe_TopkWeights:$weights,
                       Moe_TopkIds:$ids,
                       Optional<Moe_I32Vector>:$log2phy,
                       Optional<Moe_I32Vector>:$expert_map,
                       Moe_PositiveI64Attr:$num_experts,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>,
                                         "0">:$redundant_experts,
                       UnitAttr:$router_weight_on_input);
  let results = (outs Moe_HiddenTensor:$rows, Moe_CountVector:$counts,
                      Moe_DispatchCtxType:$ctx);
  let assemblyFormat = [{
    $hidden `,` $weights `,` $ids `experts` `(` $num_experts
    (`+` $redundant_experts^)? `)`
    (`log2phy` `(` $log2phy^ `:` type($log2phy) `)`)?
    (`expert_map` `(` $expert_map^ `:` type($expert_map) `)`)?
    (`router_weight_on_input` $router_weight_on_input^)? attr-dict
    `:` type($hidden) `,` type($weights) `,` type($ids)
    `->` type($counts) `,` qualified(type($ctx))
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    CommMethod getMethod() { return getCtx().getType().getMethod(); }
    /// Physical experts: logical experts plus redundant replicas.
    int64_t getNumPhysicalExperts() {
      return getNumExperts() + getRedundantExperts();
    }
    int64_t getNumLocalExperts() { return getCounts().getType().getDimSize(0); }
  }];
}

def Moe_CombineOp : Moe_Op<"combine", [Pure,
    Moe_DynamicTokens<"expert_out", "result">]> {
  let summary = "bring expert outputs back to their tokens and weight them";
  let description = [{
    Vllm-ascend's `MoETokenDispatcher.token_combine` (SEMANTICS §5): send
    every expert output row back to the rank that dispatched its (token, k)
    pair and compute `out[t] = sum_k w[t, k] * row(t, k)` over the rows of
    the dispatch's input tokens.

    Example:

    ```mlir
    %out = moe.combine %y, %dctx : tensor<?x7168xbf16>, !moe.dispatch_ctx<mc2>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$expert_out, Moe_DispatchCtxType:$ctx);
  let results = (outs Moe_HiddenTensor:$result);
  let assemblyFormat = [{
    $expert_out `,` $ctx attr-dict `:` type($expert_out) `,` qualified(type($ctx))
  }];
}

//===----------------------------------------------------------------------===//
// experts
//===----------------------------------------------------------------------===//

def Moe_ExpertsOp : Moe_Op<"experts", [Pure, AttrSizedOperandSegments,
    AllTypesMatch<["rows", "result"]>]> {
  let summary = "grouped SwiGLU MLP of the rank's local experts";
  let description = [{
    SEMANTICS §6. Rows come grouped by local expert with `counts [L]` rows
    each. For expert `e` and its rows `x`:
    `h = x · W13[e]` with `W13 [L, H, 2I]`, `a = silu(h[:, :I]) * h[:, I:]`,
    `y = a · W2[e]` with `W2 [L, I, H]`.

    `quant` selects the scheme (SEMANTICS §6):
    - `w8a8_dynamic`: `W13`, `W2` are i8 with per-output-channel f32
      `scales(W13_scale [L, 2I], W2_scale [L, H])`; activations are quantized
      per row to int8 with scale `max|x| / 127`, matmuls accumulate in i32.
    - `w4a8_dynamic, group_size = G`: `W13`, `W2` are i4 with the same
      per-channel scales and `group_scales(G13 [L, H/G, 2I], G2 [L, I/G, H])`
      along the reduced dimension; the two scales multiply in float32.
    - `w4a8_dynamic` in the NPU kernel's form (what `moe.prepare_weights`
      makes of checkpoint tensors; docs/Quantization.md): no `scales`,
      `group_scales` hold the merged float16-rounded scales and
      `biases(B13 [L, 2I], B2 [L, H])` the terms `8 * sum(W * scale)`.

    Example:

    ```mlir
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<32x2048x1536xi8>, tensor<32x768x2048xi8>)
        scales(%s13, %s2 : tensor<32x1536xf32>, tensor<32x2048xf32>)
        quant <w8a8_dynamic> : tensor<?x2048xbf16>, tensor<32xi64>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$rows, Moe_CountVector:$counts,
                       Moe_StaticTensor:$w13, Moe_StaticTensor:$w2,
                       Optional<Moe_StaticTensor>:$w13_scale,
                       Optional<Moe_StaticTensor>:$w2_scale,
                       Optional<Moe_StaticTensor>:$w13_group_scale,
                       Optional<Moe_StaticTensor>:$w2_group_scale,
                       Optional<Moe_StaticTensor>:$w13_bias,
                       Optional<Moe_StaticTensor>:$w2_bias,
                       OptionalAttr<Moe_QuantAttr>:$quant);
  let results = (outs Moe_HiddenTensor:$result);
  let assemblyFormat = [{
    $rows `,` $counts `weights` `(` $w13 `,` $w2 `:` type($w13) `,` type($w2) `)`
    (`scales` `(` $w13_scale^ `,` $w2_scale `:` type($w13_scale) `,` type($w2_scale) `)`)?
    (`group_scales` `(` $w13_group_scale^ `,` $w2_group_scale `:`
      type($w13_group_scale) `,` type($w2_group_scale) `)`)?
    (`biases` `(` $w13_bias^ `,` $w2_bias `:` type($w13_bias) `,` type($w2_bias) `)`)?
    (`quant` $quant^)? attr-dict `:` type($rows) `,` type($counts)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The quantization scheme, `none` when the attribute is absent.
    QuantAttr getQuantOrNone();
  }];
}

def Moe_PrepareWeightsOp : Moe_Op<"prepare_weights", [Pure]> {
  let summary = "load-time processing of one w4a8 checkpoint weight stack";
  let description = [{
    What vllm-ascend's `process_weights_after_loading` of the w4a8_dynamic
    fused-MoE method (seed 001, quant version 0) does to `w13` or `w2` of
    the local experts: the checkpoint's `weight [L, N, K]` (i8 elements
    holding int4 values, output channels first), per-channel `scale
    [L, N, 1]` and per-group `scale_second [L, N, K/G]` become the operands
    of the kernel form of `moe.experts`: the transposed i4 weight
    `[L, K, N]` (packed two per byte), the merged scale `[L, K/G, N]`
    (`scale * scale_second` rounded to float16) and the bias `[L, N]`
    (`8 * sum_k W * scale_second * scale`). Lowers to
    `npu.w4a8_process_weights`; docs/Quantization.md.

    A quant version 1.0.0 checkpoint (`new_quant_version`) gives
    `scale_bias(B [L, N, P])`: its `weight [L, N/2, K]` already packs two
    int4 values per byte along `N` and the bias is `B` summed over `P` (1
    for `w13`, `16 / tp` for `w2`). Such checkpoints do not support experts
    tensor-sharded over more than 16 ranks (the expansion rejects it, as
    vllm-ascend does).

    ```mlir
    %w13, %g13, %b13 = moe.prepare_weights %ckpt13, %scale13, %second13
        quant <w4a8_dynamic, group_size = 128>
        : tensor<8x256x512xi8>, tensor<8x256x1xbf16>, tensor<8x256x4xbf16>
        -> tensor<8x512x256xi4>, tensor<8x4x256xf32>, tensor<8x256xf32>
    ```
  }];
  let arguments = (ins Moe_StaticTensor:$weight, Moe_StaticTensor:$scale,
                       Moe_StaticTensor:$scale_second,
                       Optional<Moe_StaticTensor>:$scale_bias, Moe_QuantAttr:$quant);
  let results = (outs Moe_StaticTensor:$processed_weight,
                      Moe_StaticTensor:$merged_scale, Moe_StaticTensor:$bias);
  let assemblyFormat = [{
    $weight `,` $scale `,` $scale_second
    (`scale_bias` `(` $scale_bias^ `:` type($scale_bias) `)`)? `quant` $quant attr-dict `:`
    type($weight) `,` type($scale) `,` type($scale_second) `->`
    type($processed_weight) `,` type($merged_scale) `,` type($bias)
  }];
  let hasVerifier = 1;
}

def Moe_SharedExpertsOp : Moe_Op<"shared_experts", [Pure,
    AttrSizedOperandSegments, AllTypesMatch<["hidden", "result"]>]> {
  let summary = "SwiGLU MLP every token passes through";
  let description = [{
    The shared experts of DeepSeek-style models, run on the rank's original
    tokens: `W13 [H, 2S]`, `W2 [S, H]` (`S` is the summed intermediate size
    of all shared experts). Quantization as for `moe.experts`, with the
    leading expert dimension dropped from every weight and scale, except
    `w4a8_dynamic`: the shared experts are then weight-only, as seed 001's
    `AscendW4A8DynamicLinearMethod` runs them (activations stay in the
    layer's float type). They take what that method's
    `process_weights_after_loading` leaves: i4 `W13 [H, 2S]`, `W2 [S, H]`
    and as `group_scales` the processed per-group antiquant scales
    `weight_scale * weight_scale_second` (f32, `[H / gs, 2S]` and
    `[S / gs, H]`), no `scales`; docs/Quantization.md. Its result is added
    by `moe.finalize`.

    With `gate(Wg [H, 1])` the output of every token is scaled by
    `sigmoid(x · Wg)`, Qwen2-MoE's `shared_expert_gate` (a float weight in
    any scheme; the logit is accumulated in f32).

    Example:

    ```mlir
    %s = moe.shared_experts %x
        weights(%w13, %w2 : tensor<7168x4096xbf16>, tensor<2048x7168xbf16>)
        : tensor<?x7168xbf16>
    ```

    Example (Qwen1.5-MoE-A2.7B, gated):

    ```mlir
    %s = moe.shared_experts %x
        weights(%w13, %w2 : tensor<2048x11264xbf16>, tensor<5632x2048xbf16>)
        gate(%wg : tensor<2048x1xbf16>) : tensor<?x2048xbf16>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$hidden,
                       Moe_StaticTensor:$w13, Moe_StaticTensor:$w2,
                       Optional<Moe_StaticTensor>:$w13_scale,
                       Optional<Moe_StaticTensor>:$w2_scale,
                       Optional<Moe_StaticTensor>:$w13_group_scale,
                       Optional<Moe_StaticTensor>:$w2_group_scale,
                       Optional<Moe_StaticTensor>:$gate,
                       OptionalAttr<Moe_QuantAttr>:$quant);
  let results = (outs Moe_HiddenTensor:$result);
  let assemblyFormat = [{
    $hidden `weights` `(` $w13 `,` $w2 `:` type($w13) `,` type($w2) `)`
    (`scales` `(` $w13_scale^ `,` $w2_scale `:` type($w13_scale) `,` type($w2_scale) `)`)?
    (`group_scales` `(` $w13_group_scale^ `,` $w2_group_scale `:`
      type($w13_group_scale) `,` type($w2_group_scale) `)`)?
    (`gate` `(` $gate^ `:` type($gate) `)`)?
    (`quant` $quant^)? attr-dict `:` type($hidden)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    QuantAttr getQuantOrNone();
  }];
}

//===----------------------------------------------------------------------===//
// run-time method choice
//===----------------------------------------------------------------------===//

def Moe_ChooseMethodOp : Moe_Op<"choose_method", [Pure]> {
  let summary = "pick a communication method from the step's token count";
  let description = [{
    Evaluated by every rank of the layer's group: `M` is the maximum of the
    token dimension of `hidden` over all ranks of the MoE group (so every rank
    picks the same), and the result is the index `i` of the first threshold
    with `M <= thresholds[i]`, or the number of thresholds when there is
    none. `methods[i]` names the method case `i` of the `scf.index_switch`
    consuming the result runs. `moe-select-comm-method` creates it when the
    token count is not known at compile time.

    Example (A3, MC2 capacity 512):

    ```mlir
    %i = moe.choose_method %x thresholds [512] methods [mc2, alltoall]
        : tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins Moe_HiddenTensor:$hidden, DenseI64ArrayAttr:$thresholds,
                       Moe_MethodListAttr:$methods);
  let results = (outs Index:$index);
  let assemblyFormat = [{
    $hidden `thresholds` $thresholds `methods` custom<MethodList>($methods)
    attr-dict `:` type($hidden)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // MOE_OPS_TD
