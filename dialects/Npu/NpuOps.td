//===- NpuOps.td - device operators of the npu dialect -----*- tablegen -*-===//
//
// One op per device operator. SEMANTICS §3-§7 of the project says what each
// computes; docs/Dialects/NpuDialect.md is generated from this file.
//
//===----------------------------------------------------------------------===//

#ifndef NPU_OPS_TD
#define NPU_OPS_TD

include "Npu/NpuDialect.td"
include "mlir/IR/CommonAttrConstraints.td"

def Npu_Tensor : Type<AnyRankedTensor.predicate, "ranked tensor", "::mlir::RankedTensorType">;
def Npu_RowTensor : Type<And<[AnyRankedTensor.predicate,
    CPred<"::llvm::cast<::mlir::ShapedType>($_self).getRank() >= 1">]>,
    "ranked tensor of rank >= 1", "::mlir::RankedTensorType">;
def Npu_Matrix : TensorRankOf<[AnyType], [2]>;
// Typed operands: element type and rank are the contract, checked by ODS.
def Npu_FloatMatrix : TensorRankOf<[F32, BF16, F16], [2]>;
def Npu_FloatOrI8Matrix : TensorRankOf<[F32, BF16, F16, I8], [2]>;
def Npu_F32Matrix : TensorRankOf<[F32], [2]>;
def Npu_I8Matrix : TensorRankOf<[I8], [2]>;
def Npu_I32Matrix : TensorRankOf<[I32], [2]>;
/// Expert ids `[T, K]`.
def Npu_Ids : TensorRankOf<[I32], [2]>;
/// Expert ids `[T, K]` or `[T]` (K = 1).
def Npu_IdsOrVector : TensorRankOf<[I32], [1, 2]>;
/// Row indices, id tables, per-(expert, rank) i32 counts.
def Npu_I32Vector : TensorRankOf<[I32], [1]>;
/// Group lists, counts and splits.
def Npu_I64Vector : TensorRankOf<[I64], [1]>;
/// Per-row (per-token) scales.
def Npu_F32Vector : TensorRankOf<[F32], [1]>;
/// Token masks.
def Npu_Mask : TensorRankOf<[I1], [1]>;
/// Matmul weights and their scales.
def Npu_I4 : I<4>;
def Npu_Weight : RankedTensorOf<[F32, BF16, F16, I8, Npu_I4]>;
def Npu_F32Tensor : RankedTensorOf<[F32]>;
def Npu_PositiveI64 : ConfinedAttr<I64Attr, [IntPositive]>;
def Npu_FinitePositiveF32 : ConfinedAttr<F32Attr, [AttrConstraint<
    CPred<"::llvm::cast<::mlir::FloatAttr>($_self).getValue().isFinite() && "
          "::llvm::cast<::mlir::FloatAttr>($_self).getValueAsDouble() > 0.0">,
    "whose value is finite and positive">]>;


//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

def Npu_MoeGatingTopKOp : Npu_DeviceOp<"moe_gating_top_k", [Npu_CannotFail]> {
  let summary = "router scores, grouped top-k and weight normalization";
  let description = [{
    `torch_npu.npu_moe_gating_top_k`: the computation of `moe.gate` in one
    operator (softmax or sigmoid scores, optional correction bias for the
    selection, optional grouped top-k, renormalization, routed scaling).
    `balanced` (with `groups(G, G)`): `k / G` experts from every group, the
    group-balanced top-k of Pangu Pro MoE (`moe.gate ... balanced`).

    ```mlir
    %w, %ids = npu.moe_gating_top_k %logits k(8) softmax renormalize
        : tensor<?x128xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$logits, Optional<Npu_F32Vector>:$bias,
                       Npu_PositiveI64:$k, Npu_Scoring:$scoring,
                       UnitAttr:$renormalize,
                       OptionalAttr<Npu_PositiveI64>:$group_count,
                       OptionalAttr<Npu_PositiveI64>:$k_group,
                       UnitAttr:$balanced,
                       DefaultValuedAttr<Npu_FinitePositiveF32, "1.0f">:$routed_scaling_factor,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_F32Matrix:$weights, Npu_Ids:$ids);
  let assemblyFormat = "$logits (`bias` `(` $bias^ `:` type($bias) `)`)? `k` `(` $k `)` $scoring "
      "(`renormalize` $renormalize^)? (`groups` `(` $group_count^ `,` $k_group `)`)? "
      "(`balanced` $balanced^)? "
      "(`scale` `(` $routed_scaling_factor^ `)`)? (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($logits) `->` type($weights) `,` type($ids)";
  let hasVerifier = 1;
}

def Npu_MapExpertIdsOp : Npu_DeviceOp<"map_expert_ids", [Npu_MayFailAtRunTime,
    AllTypesMatch<["ids", "result"]>]> {
  let summary = "map logical expert ids to physical replicas (EPLB log2phy)";
  let description = [{
    `result[t, k] = table[ids[t, k]]`, vllm-ascend's `log2phy[topk_ids]`. An id
    outside the table is a run-time error.

    ```mlir
    %phys = npu.map_expert_ids %ids through %log2phy : tensor<?x8xi32>, tensor<256xi32>
    ```
  }];
  let arguments = (ins Npu_Ids:$ids, Npu_I32Vector:$table, Npu_StreamAttr:$stream);
  let results = (outs Npu_Ids:$result);
  let assemblyFormat = "$ids `through` $table (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($ids) `,` type($table)";
}

def Npu_MaskWeightsOp : Npu_DeviceOp<"mask_weights", [Npu_MayFailAtRunTime,
    AllTypesMatch<["weights", "result"]>]> {
  let summary = "zero the weights of pairs whose expert is not on this rank";
  let description = [{
    `result = weights * (expert_map[ids] != -1)`, as the all-gather token
    dispatcher does before `npu_moe_init_routing_v2`.

    ```mlir
    %w2 = npu.mask_weights %w, %ids, %expert_map
        : tensor<?x8xf32>, tensor<?x8xi32>, tensor<288xi32>
    ```
  }];
  let arguments = (ins Npu_F32Matrix:$weights, Npu_Ids:$ids,
                       Npu_I32Vector:$expert_map, Npu_StreamAttr:$stream);
  let results = (outs Npu_F32Matrix:$result);
  let assemblyFormat = "$weights `,` $ids `,` $expert_map (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($weights) `,` type($ids) `,` type($expert_map)";
  let hasVerifier = 1;
}

def Npu_RecordExpertLoadOp : Npu_Op<"record_expert_load", [
    Npu_StreamOpInterface, Npu_Synchronizes, Npu_MayFailAtRunTime]> {
  let summary = "add this step's rows per physical expert to the rank's load (dynamic EPLB)";
  let description = [{
    Dynamic EPLB's recording (seed 001, "Record experts distribution during
    forward"; SEMANTICS §9; docs/Eplb.md): adds, for every row `t` of the
    physical expert ids `ids [N, K]` that `valid` marks as a real token (all
    rows without `valid`; padding rows are false), one to the load of expert
    `ids[t, k]` for every `k`, in the rank's load buffer of `num_experts`
    physical experts kept by the world between steps. The commit point
    between steps (moert::eplbCommit) all-gathers the buffers, rebalances and
    clears them.

    Without `gathered`, `ids` are this rank's own tokens (alltoall, mc2,
    fused_mc2: each token is counted once, by the rank that sends it). With
    `gathered`, `ids` are the all-gathered tokens of the token group, which
    every rank maps alike (allgather): the rank counts only the pairs of its
    own `num_experts / ep` experts, so again every pair is counted once in
    the world. An id outside `[0, num_experts)` is a run-time error.

    The op writes the rank's state, so it is never dropped or reordered
    across other device ops.

    ```mlir
    npu.record_expert_load %phys valid(%mask) experts(288) : tensor<?x8xi32>, tensor<?xi1>
    npu.record_expert_load %phys experts(288) gathered : tensor<?x8xi32>
    ```
  }];
  let arguments = (ins Npu_Ids:$ids, Optional<Npu_Mask>:$valid,
                       Npu_PositiveI64:$num_experts, UnitAttr:$gathered,
                       Npu_StreamAttr:$stream);
  let assemblyFormat = "$ids (`valid` `(` $valid^ `)`)? `experts` `(` $num_experts `)` "
      "(`gathered` $gathered^)? (`stream` `(` $stream^ `)`)? attr-dict "
      "`:` type($ids) (`,` type($valid)^)?";
  let hasVerifier = 1;
  let hasRuntimeCall = 1;
}

def Npu_ScaleRowsOp : Npu_DeviceOp<"scale_rows", [Npu_MayFailAtRunTime,
    AllTypesMatch<["x", "result"]>]> {
  let summary = "multiply every row by its token's routing weight";
  let description = [{
    `result[t, :] = x[t, :] * weights[t, 0]`, in the rows' float type: the
    all-gather token dispatcher's `hidden_states * topk_weights` when the
    router weight is applied on the input (seed 002,
    `apply_router_weight_on_input`, top-1 only).

    ```mlir
    %xw = npu.scale_rows %x, %w : tensor<?x7168xbf16>, tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_F32Matrix:$weights,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$x `,` $weights (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($x) `,` type($weights)";
  let hasVerifier = 1;
}

def Npu_SigmoidGateOp : Npu_DeviceOp<"sigmoid_gate", [Npu_MayFailAtRunTime]> {
  let summary = "sigmoid of every row's dot product with a gate vector";
  let description = [{
    `result[t, 0] = sigmoid(sum_h x[t, h] * weight[h, 0])`, accumulated and
    returned in f32: Qwen2-MoE's `F.sigmoid(self.shared_expert_gate(x))`,
    the factor `npu.scale_rows` applies to the shared expert's output
    (`moe.shared_experts gate(...)`).

    ```mlir
    %g = npu.sigmoid_gate %x, %wg : tensor<?x2048xbf16>, tensor<2048x1xbf16> -> tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_FloatMatrix:$weight,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_F32Matrix:$result);
  let assemblyFormat = "$x `,` $weight (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($x) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_OnesLikeOp : Npu_DeviceOp<"ones_like", [Npu_CannotFail,
    AllTypesMatch<["like", "result"]>]> {
  let summary = "a tensor of ones shaped like its operand";
  let description = [{
    `torch.ones_like`: the combine's weights when the router weight was
    already applied on the input (`moe.dispatch router_weight_on_input`), so
    `npu.moe_token_unpermute` sums each token's rows unscaled.

    ```mlir
    %ones = npu.ones_like %w : tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Npu_F32Matrix:$like, Npu_StreamAttr:$stream);
  let results = (outs Npu_F32Matrix:$result);
  let assemblyFormat = "$like (`stream` `(` $stream^ `)`)? attr-dict `:` type($like)";
}

def Npu_MoeInitRoutingOp : Npu_DeviceOp<"moe_init_routing", [Npu_DispatchesRows,
    DeclareOpInterfaceMethods<Npu_QuantFusableDispatchOpInterface>, Npu_MayFailAtRunTime]> {
  let summary = "sort (token, k) pairs by expert and gather their rows";
  let description = [{
    `torch_npu.npu_moe_init_routing_v2` (SEMANTICS §5, all-gather). With
    `expert_idx [T, K]` (or `[T]`, K = 1), the `T * K`
    pairs `j = t * K + k` whose expert lies in `[start, start + L)` are
    stable-sorted by expert; `expanded_x` holds their rows (`x[t]`) in that
    order, `expanded_row_idx[n]` the pair index `j` of row `n`, and
    `expert_tokens [L]` the rows per expert (counts or cumulative ends).

    - `quant_mode(-1)`: rows keep the type of `x`; when `x` is already int8 its
      per-token `scale [T]` travels with it into `expanded_scale [N]`.
    - `quant_mode(1)`: rows are quantized to int8 per row (`scale =
      max|row| / 127`), returned in `expanded_scale`.

    ```mlir
    %rows, %idx, %counts = npu.moe_init_routing %x, %ids range(%start, 32) experts(128)
        quant_mode(-1) count
        : tensor<?x2048xf32>, tensor<?x8xi32> -> tensor<?x2048xf32>, tensor<?xi32>, tensor<32xi64>
    ```
  }];
  let arguments = (ins Npu_FloatOrI8Matrix:$x, Npu_IdsOrVector:$expert_idx,
                       Optional<Npu_F32Vector>:$scale, Index:$active_start,
                       Npu_PositiveI64:$local_experts, Npu_PositiveI64:$expert_num,
                       DefaultValuedAttr<Npu_RoutingQuantMode,
                           "::mlir::npu::RoutingQuantMode::None">:$quant_mode,
                       Npu_GroupListType:$expert_tokens_num_type,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatOrI8Matrix:$expanded_x, Npu_I32Vector:$expanded_row_idx,
                      Npu_I64Vector:$expert_tokens,
                      Optional<Npu_F32Vector>:$expanded_scale);
  let assemblyFormat = "$x `,` $expert_idx (`scale` `(` $scale^ `:` type($scale) `)`)? "
      "`range` `(` $active_start `,` $local_experts `)` `experts` `(` $expert_num `)` "
      "`quant_mode` `(` custom<TorchQuantMode>($quant_mode) `)` $expert_tokens_num_type (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($x) `,` type($expert_idx) `->` type($expanded_x) `,` "
      "type($expanded_row_idx) `,` type($expert_tokens) (`,` type($expanded_scale)^)?";
  let hasVerifier = 1;
}

def Npu_MoeTokenPermuteOp : Npu_DeviceOp<"moe_token_permute", [Npu_DispatchesRows,
    DeclareOpInterfaceMethods<Npu_QuantFusableDispatchOpInterface>, Npu_MayFailAtRunTime]> {
  let summary = "order rows by expert (Megatron-style permute)";
  let description = [{
    `torch_npu.npu_moe_token_permute`: `sorted_indices` is the stable argsort
    of the flattened `indices [T, K]` (or `[T]`, K = 1) and
    `permuted[i] = tokens[sorted_indices[i] / K]`.

    ```mlir
    %perm, %sorted = npu.moe_token_permute %x, %ids
        : tensor<?x2048xf32>, tensor<?x8xi32> -> tensor<?x2048xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Npu_FloatOrI8Matrix:$tokens, Npu_IdsOrVector:$indices,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatOrI8Matrix:$permuted, Npu_I32Vector:$sorted_indices);
  let assemblyFormat = "$tokens `,` $indices (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($tokens) `,` type($indices) `->` type($permuted) `,` "
      "type($sorted_indices)";
  let hasVerifier = 1;
}

def Npu_MoeTokenUnpermuteOp : Npu_DeviceOp<"moe_token_unpermute", [
    DeclareOpInterfaceMethods<Npu_CombineOpInterface, ["combinesExpertOutputs"]>, Npu_MayFailAtRunTime]> {
  let summary = "scatter rows back to their pairs and reduce over k";
  let description = [{
    `torch_npu.npu_moe_token_unpermute`. `sorted_indices[i]` is the pair index
    of row `i`. With `probs [T, K]`:
    `out[t] = sum_k probs[t, k] * permuted[row of pair t * K + k]` (pairs
    without a row contribute nothing); without, `out[sorted_indices[i]] =
    permuted[i]` (K = 1).

    ```mlir
    %out = npu.moe_token_unpermute %y, %idx probs(%w : tensor<?x8xf32>)
        : tensor<?x2048xf32>, tensor<?xi32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$permuted, Npu_I32Vector:$sorted_indices,
                       Optional<Npu_F32Matrix>:$probs, Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$permuted `,` $sorted_indices (`probs` `(` $probs^ `:` type($probs) `)`)? "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($permuted) `,` type($sorted_indices) "
      "`->` type($result)";
  let hasVerifier = 1;
}

def Npu_MogeDispatchOp : Npu_DeviceOp<"moge_dispatch", [Npu_DispatchesRows,
    Npu_MayFailAtRunTime]> {
  let summary = "group-balanced dispatch: sort this rank's pairs by local expert";
  let description = [{
    Seed 002 `TokenDispatcherWithMoge.token_dispatch` (SEMANTICS §5, moge)
    on one rank, after an all-gather prepare. `ids [T, K]` are expert ids of
    a group-balanced routing, `weights [T, K]` their routing weights, and
    this rank owns the experts `[start, start + L)`. Exactly `k_per_rank`
    (`K / ep`) ids of every token lie in that range (a token with another
    count is a run-time error): in k order they are the token's local ids
    (`id - start`) and weights, `[T, k_per_rank]`, as Pangu's router hands
    them to the dispatcher. Then, as the seed, with `N = T * k_per_rank`:
    `sorted_ids [N]` is the stable argsort of the flattened local ids,
    `rows[n] = x[sorted_ids[n] / k_per_rank]`, `group_list [L]` holds the
    rows per local expert (`count`) or their cumulative ends (`cumsum`, the
    seed's group list type 0), and `topk_scales [N, 1]` the local weight of
    pair `sorted_ids[n]`, which the experts multiply into their activations.

    ```mlir
    %rows, %sorted, %groups, %scales = npu.moge_dispatch %x, %ids, %w
        range(%start, 8) k_per_rank(2) cumsum
        : tensor<?x2048xf32>, tensor<?x8xi32>, tensor<?x8xf32>
        -> tensor<?x2048xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_Ids:$ids, Npu_F32Matrix:$weights,
                       Index:$active_start, Npu_PositiveI64:$local_experts,
                       Npu_PositiveI64:$k_per_rank,
                       Npu_GroupListType:$group_list_type,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$rows, Npu_I32Vector:$sorted_ids,
                      Npu_I64Vector:$group_list, Npu_F32Matrix:$topk_scales);
  let assemblyFormat = "$x `,` $ids `,` $weights `range` `(` $active_start `,` "
      "$local_experts `)` `k_per_rank` `(` $k_per_rank `)` $group_list_type "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` type($ids) `,` "
      "type($weights) `->` type($rows) `,` type($sorted_ids) `,` "
      "type($group_list) `,` type($topk_scales)";
  let hasVerifier = 1;
}

def Npu_MogeCombineOp : Npu_DeviceOp<"moge_combine", [Npu_CombineOpInterface,
    Npu_MayFailAtRunTime]> {
  let summary = "undo the moge permutation and sum each token's rows";
  let description = [{
    Seed 002 `TokenDispatcherWithMoge.token_combine`: `rows [N, H]` in the
    order of `sorted_ids` (from `npu.moge_dispatch`) go back to pair order
    through the inverse permutation, are viewed as `[N / k_per_rank,
    k_per_rank, H]` and summed over the middle axis (the weights were
    applied by the experts). `sorted_ids` that are not a permutation of
    `[0, N)`, or `N` not a multiple of `k_per_rank`, are a run-time error.

    ```mlir
    %out = npu.moge_combine %y, %sorted k_per_rank(2)
        : tensor<?x2048xf32>, tensor<?xi32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$rows, Npu_I32Vector:$sorted_ids,
                       Npu_PositiveI64:$k_per_rank, Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$rows `,` $sorted_ids `k_per_rank` `(` $k_per_rank `)` "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($rows) `,` "
      "type($sorted_ids) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_MoeDistributeDispatchOp : Npu_CollectiveOp<"moe_distribute_dispatch", [Npu_DispatchesRows,
    DeclareOpInterfaceMethods<Npu_QuantFusableDispatchOpInterface>,
    AttrSizedOperandSegments, AttrSizedResultSegments]> {
  let summary = "MC2 dispatch: one fused all-to-all to the experts' ranks";
  let description = [{
    `torch_npu.npu_moe_distribute_dispatch` (`v2`:
    `npu_moe_distribute_dispatch_v2`), SEMANTICS §5, mc2, with every
    argument of seed 002's `get_dispatch_mc2_kwargs`. Every pair `(t, k)` of
    an active token (`x_active_mask[t]`, all tokens without a mask) goes to
    rank `S + expert_ids[t, k] / L` of `group_ep`, `L = moe_expert_num /
    (ep_world_size - S)`, `S = shared_expert_rank_num`; with `S > 0` every
    active token of rank `r` also goes to shared-expert rank `r % S`, whose
    rows are all in its local expert 0. Received rows are grouped by local
    expert, then by source rank, then by source pair.

    Arguments (the seed's names; docs/Expansion.md "MC2's operator
    contract" says which chip passes which):
    - `x [T, H]`, `expert_ids [T, K]`;
    - `scales [H]`: smooth-quant scales (`quant_mode(dynamic)` only); `x`
      is multiplied by them before the per-row quantization;
    - `x_active_mask [T]`: only A3 with dispatch v2 (the op needs `v2` and
      the A3 tensor-parallel arguments);
    - `expert_scales [T, K]` f32: only under hierarchical communication
      (A2, `need_expert_scale`); the pair weights travel with the rows and
      come back as `expand_scales`;
    - `group_ep`, `ep_world_size`, `ep_rank_id` (this rank's index in
      `group_ep`, checked at run time);
    - `group_tp`, `tp_world_size`, `tp_rank_id`: together or not at all (A3,
      `need_extra_args`); the seed passes the EP group, 1 and 0, the only
      values the verifier accepts;
    - `expert_shard_type` (0), `shared_expert_rank_num` (the seed's 0: no
      rank is reserved for shared experts; `S > 0`, from the layout's
      `shared_expert_ranks`, must divide `ep_world_size`, leave routed ranks
      and come with the A3 arguments), `moe_expert_num` (physical experts,
      `len(expert_map) + global_redundant_expert_num`), `global_bs` (0: the
      kernel takes `max tokens x ep_world_size`; otherwise the bound every
      rank's token count times `ep_world_size` must stay within and that
      sizes the receive buffers, `global_bs * K` rows);
    - `quant_mode`, `expert_token_nums_type` (cumsum is the seed's 0).

    Results:
    - `expand_x [N, H]`: the rows (int8 with `quant_mode(dynamic)`);
    - `expand_idx [N]` (v1) or `assist_info_for_combine [N]` (`v2`): the
      source pair index of every row, what combine needs to send it back;
      exactly one, as the op is v1 or v2;
    - `expert_token_nums [L]`: rows per local expert (cumsum or counts);
    - `ep_recv_counts [L * ep]`: rows per (local expert, source rank);
    - `dynamic_scales [N]`: with `quant_mode(dynamic)`, per-row scales;
    - `tp_recv_counts [tp_world_size]`: with `group_tp`, rows received per
      TP rank;
    - `expand_scales [N]`: with `expert_scales`, each row's pair weight.

    `capacity(C)` is the most tokens one rank may pass (0: unchecked); more is
    a run-time error, like the kernel's `bs` limit.

    ```mlir
    %rows, %info, %counts, %recv, %tp = npu.moe_distribute_dispatch %x, %ids
        x_active_mask(%mask : tensor<?xi1>) group_ep(ep) ep_world_size(16)
        ep_rank_id(%r) group_tp(ep) tp_world_size(1) tp_rank_id(0)
        expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(256)
        global_bs(0) quant_mode(0) capacity(512) cumsum v2
        : tensor<?x7168xbf16>, tensor<?x8xi32>
        -> tensor<?x7168xbf16>, assist_info_for_combine tensor<?xi32>,
           tensor<16xi64>, tensor<256xi32> tp_recv_counts tensor<1xi32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_Ids:$expert_ids,
                       Optional<Npu_F32Vector>:$scales,
                       Optional<Npu_Mask>:$x_active_mask,
                       Optional<Npu_F32Matrix>:$expert_scales,
                       Index:$ep_rank_id,
                       Npu_Group:$group_ep, Npu_PositiveI64:$ep_world_size,
                       OptionalAttr<Npu_Group>:$group_tp,
                       OptionalAttr<Npu_PositiveI64>:$tp_world_size,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$tp_rank_id,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$expert_shard_type,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$shared_expert_rank_num,
                       Npu_PositiveI64:$moe_expert_num,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$global_bs,
                       DefaultValuedAttr<Npu_DispatchQuantMode,
                           "::mlir::npu::DispatchQuantMode::None">:$quant_mode,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$capacity,
                       Npu_GroupListType:$expert_token_nums_type,
                       UnitAttr:$v2,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatOrI8Matrix:$expand_x,
                      Optional<Npu_I32Vector>:$expand_idx,
                      Optional<Npu_I32Vector>:$assist_info_for_combine,
                      Npu_I64Vector:$expert_token_nums, Npu_I32Vector:$ep_recv_counts,
                      Optional<Npu_F32Vector>:$dynamic_scales,
                      Optional<Npu_I32Vector>:$tp_recv_counts,
                      Optional<Npu_F32Vector>:$expand_scales);
  let assemblyFormat = "$x `,` $expert_ids (`scales` `(` $scales^ `:` type($scales) `)`)? "
      "(`x_active_mask` `(` $x_active_mask^ `:` type($x_active_mask) `)`)? "
      "(`expert_scales` `(` $expert_scales^ `:` type($expert_scales) `)`)? "
      "`group_ep` `(` $group_ep `)` `ep_world_size` `(` $ep_world_size `)` "
      "`ep_rank_id` `(` $ep_rank_id `)` (`group_tp` `(` $group_tp^ `)`)? "
      "(`tp_world_size` `(` $tp_world_size^ `)`)? (`tp_rank_id` `(` $tp_rank_id^ `)`)? "
      "`expert_shard_type` `(` $expert_shard_type `)` "
      "`shared_expert_rank_num` `(` $shared_expert_rank_num `)` "
      "`moe_expert_num` `(` $moe_expert_num `)` `global_bs` `(` $global_bs `)` "
      "`quant_mode` `(` custom<TorchQuantMode>($quant_mode) `)` `capacity` `(` $capacity `)` "
      "$expert_token_nums_type (`v2` $v2^)? "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` type($expert_ids) `->` type($expand_x) "
      "`,` (`expand_idx` type($expand_idx)^)? "
      "(`assist_info_for_combine` type($assist_info_for_combine)^)? "
      "`,` type($expert_token_nums) `,` type($ep_recv_counts) "
      "(`dynamic_scales` type($dynamic_scales)^)? "
      "(`tp_recv_counts` type($tp_recv_counts)^)? "
      "(`expand_scales` type($expand_scales)^)?";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The source pair index of every row: `expand_idx` (v1) or
    /// `assist_info_for_combine` (v2).
    ::mlir::Value getCombineInfo() {
      return getV2() ? getAssistInfoForCombine() : getExpandIdx();
    }
  }];
}

def Npu_MoeDistributeCombineOp : Npu_CollectiveOp<"moe_distribute_combine", [
    Npu_CombineOpInterface, AttrSizedOperandSegments]> {
  let summary = "MC2 combine: send expert outputs back and weight them";
  let description = [{
    `torch_npu.npu_moe_distribute_combine` (`v2`:
    `npu_moe_distribute_combine_v2`) with every argument of seed 002's
    `get_combine_mc_kwargs`: reverses the exchange of the dispatch that
    produced `expand_idx` (v1) or `assist_info_for_combine` (v2) and
    `ep_send_counts` (the dispatch's `ep_recv_counts`), then on the owner
    of every token computes `out[t] = sum_k w(t, k) * row(t, k)` (+
    `shared_expert_x[t]`, the shared-expert hook); inactive tokens get
    zeros. With `shared_expert_rank_num > 0` (which excludes
    `shared_expert_x`) the row of each token's copy comes back from its
    shared-expert rank and is added with weight one. `w(t, k)` is
    `expert_scales[t, k]`, or with `expand_scales`
    (hierarchical communication) the weight the row carried through the
    exchange. `tp_send_counts` (with `group_tp`) is the dispatch's
    `tp_recv_counts`. The group attributes and their rules are the
    dispatch's, and must match it.

    ```mlir
    %out = npu.moe_distribute_combine %y, %ids assist_info_for_combine(%info : tensor<?xi32>)
        ep_send_counts(%recv : tensor<256xi32>) expert_scales(%w : tensor<?x8xf32>)
        tp_send_counts(%tp : tensor<1xi32>) x_active_mask(%mask : tensor<?xi1>)
        group_ep(ep) ep_world_size(16) ep_rank_id(%r) group_tp(ep) tp_world_size(1)
        tp_rank_id(0) expert_shard_type(0) shared_expert_rank_num(0) moe_expert_num(256)
        global_bs(0) v2 : tensor<?x7168xbf16>, tensor<?x8xi32> -> tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$expand_x, Npu_Ids:$expert_ids,
                       Optional<Npu_I32Vector>:$expand_idx,
                       Optional<Npu_I32Vector>:$assist_info_for_combine,
                       Npu_I32Vector:$ep_send_counts,
                       Npu_F32Matrix:$expert_scales,
                       Optional<Npu_I32Vector>:$tp_send_counts,
                       Optional<Npu_Mask>:$x_active_mask,
                       Optional<Npu_F32Vector>:$expand_scales,
                       Optional<Npu_FloatMatrix>:$shared_expert_x,
                       Index:$ep_rank_id,
                       Npu_Group:$group_ep, Npu_PositiveI64:$ep_world_size,
                       OptionalAttr<Npu_Group>:$group_tp,
                       OptionalAttr<Npu_PositiveI64>:$tp_world_size,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$tp_rank_id,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$expert_shard_type,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$shared_expert_rank_num,
                       Npu_PositiveI64:$moe_expert_num,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$global_bs,
                       UnitAttr:$v2,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$expand_x `,` $expert_ids "
      "(`expand_idx` `(` $expand_idx^ `:` type($expand_idx) `)`)? "
      "(`assist_info_for_combine` `(` $assist_info_for_combine^ `:` type($assist_info_for_combine) `)`)? "
      "`ep_send_counts` `(` $ep_send_counts `:` type($ep_send_counts) `)` "
      "`expert_scales` `(` $expert_scales `:` type($expert_scales) `)` "
      "(`tp_send_counts` `(` $tp_send_counts^ `:` type($tp_send_counts) `)`)? "
      "(`x_active_mask` `(` $x_active_mask^ `:` type($x_active_mask) `)`)? "
      "(`expand_scales` `(` $expand_scales^ `:` type($expand_scales) `)`)? "
      "(`shared` `(` $shared_expert_x^ `:` type($shared_expert_x) `)`)? "
      "`group_ep` `(` $group_ep `)` `ep_world_size` `(` $ep_world_size `)` "
      "`ep_rank_id` `(` $ep_rank_id `)` (`group_tp` `(` $group_tp^ `)`)? "
      "(`tp_world_size` `(` $tp_world_size^ `)`)? (`tp_rank_id` `(` $tp_rank_id^ `)`)? "
      "`expert_shard_type` `(` $expert_shard_type `)` "
      "`shared_expert_rank_num` `(` $shared_expert_rank_num `)` "
      "`moe_expert_num` `(` $moe_expert_num `)` `global_bs` `(` $global_bs `)` "
      "(`v2` $v2^)? (`stream` `(` $stream^ `)`)? attr-dict `:` type($expand_x) `,` "
      "type($expert_ids) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `expand_idx` (v1) or `assist_info_for_combine` (v2).
    ::mlir::Value getCombineInfo() {
      return getV2() ? getAssistInfoForCombine() : getExpandIdx();
    }
  }];
}

def Npu_DispatchFfnCombineOp : Npu_CollectiveOp<"dispatch_ffn_combine", [
    Npu_DispatchesRows, Npu_CombineOpInterface, AttrSizedOperandSegments]> {
  let summary = "fused MC2: dispatch, expert MLP and combine in one kernel";
  let description = [{
    vllm-ascend's `dispatch_ffn_combine` (fused_mc2): the result of
    `moe_distribute_dispatch`, the grouped SwiGLU MLP of the local experts
    (`w13 [L, H, 2I]`, `w2 [L, I, H]`; `w8a8` with per-channel scales, or
    unquantized) and `moe_distribute_combine` weighted by `probs`.

    ```mlir
    %out = npu.dispatch_ffn_combine %x, %ids, %w weights(%w13, %w2 : tensor<16x7168x4096xi8>,
        tensor<16x2048x7168xi8>) scales(%s13, %s2 : tensor<16x4096xf32>, tensor<16x7168xf32>)
        w8a8 ep_world_size(16) moe_expert_num(256) capacity(512)
        : tensor<?x7168xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_Ids:$expert_ids, Npu_F32Matrix:$probs,
                       Optional<Npu_Mask>:$x_active_mask,
                       TensorRankOf<[F32, BF16, F16, I8, Npu_I4], [3]>:$w13, TensorRankOf<[F32, BF16, F16, I8, Npu_I4], [3]>:$w2,
                       Optional<Npu_F32Tensor>:$scale1, Optional<Npu_F32Tensor>:$scale2,
                       Npu_MatmulQuant:$quant,
                       Npu_PositiveI64:$ep_world_size, Npu_PositiveI64:$moe_expert_num,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$capacity,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$x `,` $expert_ids `,` $probs (`mask` `(` $x_active_mask^ `:` type($x_active_mask) `)`)? "
      "`weights` `(` $w13 `,` $w2 `:` type($w13) `,` type($w2) `)` "
      "(`scales` `(` $scale1^ `,` $scale2 `:` type($scale1) `,` type($scale2) `)`)? $quant "
      "`ep_world_size` `(` $ep_world_size `)` `moe_expert_num` `(` $moe_expert_num `)` "
      "`capacity` `(` $capacity `)` (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($x) `,` type($expert_ids) `,` type($probs) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

def Npu_DynamicQuantOp : Npu_DeviceOp<"dynamic_quant", [Npu_CannotFail]> {
  let summary = "per-row dynamic int8 quantization";
  let description = [{
    `torch_npu.npu_dynamic_quant`: `scale[m] = max_k |x[m, k]| / 127` and
    `q[m, k] = round_half_even(x[m, k] / scale[m])` clamped to [-127, 127]; an
    all-zero row gets scale 0 and zeros.

    ```mlir
    %q, %s = npu.dynamic_quant %x : tensor<?x2048xf32> -> tensor<?x2048xi8>, tensor<?xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_StreamAttr:$stream);
  let results = (outs Npu_I8Matrix:$q, Npu_F32Vector:$scale);
  let assemblyFormat = "$x (`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `->` type($q) `,` type($scale)";
  let hasVerifier = 1;
}

def Npu_GroupedMatmulOp : Npu_DeviceOp<"grouped_matmul", [Npu_MayFailAtRunTime,
    AttrSizedOperandSegments]> {
  let summary = "one matmul per group of consecutive rows";
  let description = [{
    `torch_npu.npu_grouped_matmul` with `split_item = 3`: rows of `x [M, K]`
    form `G` consecutive groups given by `group_list [G]` (i64, `cumsum` ends
    or `count`s); group `g` is multiplied by `weight[g] [K, N]`.

    - `none`: float inputs, f32 accumulation, result in the result type.
    - `w8a8`: int8 `x` and weights, i32 accumulation; with `scale [G, N]` and
      `per_token_scale [M]` the result is `acc * per_token_scale[m] *
      scale[g, n]` in a float type, without them the raw i32 accumulator.
    - `w4a8`: int8 `x`, i4 weights; `group_scale [G, K / gs, N]` scales every
      block of `gs` reduced rows (i32 accumulation per block), then
      `per_token_scale` and `scale` as for w8a8.
    - `w4a8` with `bias [G, N]` (the NPU kernel's form, the operands
      `npu.w4a8_process_weights` makes; docs/Quantization.md): every block
      accumulates `(x - 8) · w` exactly (the kernel's split of int8 `x` into
      a high and an offset low int4 half), is scaled by the merged
      `group_scale`, the blocks are summed in order, `bias[g, n]` is added
      and the sum multiplied by `per_token_scale`; no `scale`.

    Rows after the last group are zero in the result.

    ```mlir
    %h = npu.grouped_matmul %q, %w13, %counts scale(%s13 : tensor<32x1536xf32>)
        per_token_scale(%s : tensor<?xf32>) w8a8 count
        : tensor<?x2048xi8>, tensor<32x2048x1536xi8>, tensor<32xi64> -> tensor<?x1536xf32>
    ```
  }];
  let arguments = (ins Npu_FloatOrI8Matrix:$x, Npu_Weight:$weight, Npu_I64Vector:$group_list,
                       Optional<Npu_F32Tensor>:$scale, Optional<Npu_F32Vector>:$per_token_scale,
                       Optional<Npu_F32Tensor>:$group_scale, Optional<Npu_F32Tensor>:$bias,
                       Npu_MatmulQuant:$quant, Npu_GroupListType:$group_list_type,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_Matrix:$result);
  let assemblyFormat = "$x `,` $weight `,` $group_list (`scale` `(` $scale^ `:` type($scale) `)`)? "
      "(`per_token_scale` `(` $per_token_scale^ `:` type($per_token_scale) `)`)? "
      "(`group_scale` `(` $group_scale^ `:` type($group_scale) `)`)? "
      "(`bias` `(` $bias^ `:` type($bias) `)`)? $quant $group_list_type "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` type($weight) `,` type($group_list) "
      "`->` type($result)";
  let hasVerifier = 1;
  let passResultDTypes = 1;
}

def Npu_W4A8ProcessWeightsOp : Npu_DeviceOp<"w4a8_process_weights", [Npu_MayFailAtRunTime,
    Npu_RunsAtLoadTime]> {
  let summary = "load-time processing of w4a8 checkpoint weights";
  let description = [{
    Seed 001's `process_weights_after_loading` of the w4a8_dynamic fused-MoE
    method (quant version 0) for one weight stack of `L` experts. The
    checkpoint gives `weight [L, N, K]` (i8 elements holding int4 values),
    the per-channel `scale [L, N, 1]` and the per-group `scale_second
    [L, N, K / gs]` (f32, bf16 or f16, one type). Results, the operands of
    the w4a8 kernel form of `npu.grouped_matmul`:

    - `weight [L, K, N]` i4: transposed, two values per byte, element `2i`
      in the low nibble (`npu_convert_weight_to_int4pack`'s order);
    - `scale [L, K / gs, N]` f32: `process_scale`'s merged scale
      `(scale * scale_second)` computed in the scales' type, rounded to
      float16, back to float32;
    - `bias [L, N]` f32: `8 * sum_k w[k] * scale_second[k / gs] * scale`
      (`w13_scale_bias` / `w2_scale_bias`) in float32.

    `N` must be even (i4 rows are whole bytes); a weight element outside
    [-8, 7] is a run-time error.

    With `scale_bias [L, N, P]` the checkpoint is quant version 1.0.0
    (`new_quant_version`): `weight [L, N/2, K]` already holds two int4
    values per byte along `N` (channel `2j` in the low nibble of byte `j`),
    which the transposition keeps, and the bias is `scale_bias` summed over
    its last dimension (`update_bias`) instead of computed.
    docs/Quantization.md.

    ```mlir
    %w, %s, %b = npu.w4a8_process_weights %w13, %scale, %scale_second
        : tensor<8x256x512xi8>, tensor<8x256x1xf32>, tensor<8x256x4xf32>
        -> tensor<8x512x256xi4>, tensor<8x4x256xf32>, tensor<8x256xf32>
    ```
  }];
  let arguments = (ins TensorRankOf<[I8], [3]>:$weight,
                       TensorRankOf<[F32, BF16, F16], [3]>:$scale,
                       TensorRankOf<[F32, BF16, F16], [3]>:$scale_second,
                       Optional<TensorRankOf<[F32], [3]>>:$scale_bias,
                       Npu_StreamAttr:$stream);
  let results = (outs TensorRankOf<[Npu_I4], [3]>:$processed_weight,
                      TensorRankOf<[F32], [3]>:$merged_scale,
                      TensorRankOf<[F32], [2]>:$bias);
  let assemblyFormat = "$weight `,` $scale `,` $scale_second "
      "(`scale_bias` `(` $scale_bias^ `:` type($scale_bias) `)`)? (`stream` `(` $stream^ `)`)? "
      "attr-dict `:` type($weight) `,` type($scale) `,` type($scale_second) `->` "
      "type($processed_weight) `,` type($merged_scale) `,` type($bias)";
  let hasVerifier = 1;
}

def Npu_PackWeightsOp : Npu_DeviceOp<"pack_weights", [Npu_MayFailAtRunTime,
    Npu_RunsAtLoadTime]> {
  let summary = "load-time repacking of a grouped matmul's f32, int8 or int4 weights";
  let description = [{
    The CPU counterpart of the `npu_format_cast` to a blocked (NZ) layout
    that `process_weights_after_loading` applies to the weights: the same
    `[G, K, N]` f32 (unquantized), int8 (w8a8) or int4 (w4a8) values, in
    the layout the runtime's matmul kernels read without repacking them at
    every step, the same size. On an x86-64 CPU with AVX2 and
    `N % 16 == 0`, f32 becomes 16-column strips over the whole K,
    `[G][N / 16][K][16]`; on a CPU with `vpdpbusd` (AVX-512 VNNI or
    AVX-VNNI) and `K % 4 == 0`, `N % 16 == 0`, int8 becomes 16-column
    strips of 4-row quads, `[G][N / 16][K / 4][16][4]` bytes, and int4
    (`N % 32 == 0`) 32-column strips of quads of nibbles; elsewhere the
    layout stays row-major. The result's encoding `#npu.packed` says only
    that the layout is the runtime's: only `npu.grouped_matmul` takes it,
    as its weight, `none` for f32, `w8a8` for int8 and `w4a8` with groups
    of a multiple of 4 rows for int4.

    `moe-pack-weights` inserts it and `moe-outline-load-time` moves it into
    the load-time function, so it runs once per rank. A driver that donates
    the load-time inputs (docs/Runtime.md, "Packed weights") lets the
    runtime repack the weight in its own storage instead of a copy.

    ```mlir
    %p = npu.pack_weights %w13 : tensor<32x2048x1536xi8> -> tensor<32x2048x1536xi8, #npu.packed>
    ```
  }];
  let arguments = (ins TensorRankOf<[F32, I8, Npu_I4], [3]>:$weight, Npu_StreamAttr:$stream);
  let results = (outs TensorRankOf<[F32, I8, Npu_I4], [3]>:$packed);
  let assemblyFormat = "$weight (`stream` `(` $stream^ `)`)? attr-dict `:` type($weight) `->` "
      "type($packed)";
  let hasVerifier = 1;
}

def Npu_WeightQuantMatmulOp : Npu_DeviceOp<"weight_quant_matmul", [Npu_MayFailAtRunTime,
    AllElementTypesMatch<["x", "result"]>]> {
  let summary = "weight-only matmul: float activations, int4 weights";
  let description = [{
    `torch_npu.npu_weight_quant_batchmatmul(x, weight, antiquant_scale=
    scale.to(x.dtype), antiquant_group_size=gs)`, the apply of seed 001's
    `AscendW4A8DynamicLinearMethod` (the w4a8 shared experts): `x [M, K]`
    stays in its float type; `weight [K, N]` i4 (transposed and packed as
    `process_weights_after_loading` leaves it) is dequantized with the
    per-group `antiquant_scale [K / gs, N]` (f32, the processed
    `weight_scale_second`: `weight_scale * weight_scale_second`), which is
    first rounded to `x`'s type:

    ```
    w[k, n] = round_x(W[k, n] * round_x(antiquant_scale[k / gs, n]))
    y[m, n] = round_x(sum_k x[m, k] * w[k, n])      (f32 accumulation)
    ```

    `round_x` rounds to the element type of `x` (nearest even; the identity
    for f32). The result has `x`'s type. docs/Quantization.md.

    ```mlir
    %h = npu.weight_quant_matmul %x, %w13 antiquant_scale(%s13 : tensor<28x4096xf32>)
        group_size(256) : tensor<?x7168xbf16>, tensor<7168x4096xi4> -> tensor<?x4096xbf16>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, TensorRankOf<[Npu_I4], [2]>:$weight,
                       Npu_F32Matrix:$antiquant_scale, Npu_PositiveI64:$group_size,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$x `,` $weight `antiquant_scale` `(` $antiquant_scale `:` "
      "type($antiquant_scale) `)` `group_size` `(` $group_size `)` "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_MatmulOp : Npu_DeviceOp<"matmul", [Npu_MayFailAtRunTime, AttrSizedOperandSegments]> {
  let summary = "dense (quantized) matmul";
  let description = [{
    `torch.matmul` / `torch_npu.npu_quant_matmul`: `x [M, K] · weight [K, N]`
    with the operand types, scales and bias of `npu.grouped_matmul` for a
    single group (scales and bias drop the group dimension). Shared experts use it
    (w4a8 shared experts, weight-only, use `npu.weight_quant_matmul`).

    ```mlir
    %h = npu.matmul %x, %w13 none : tensor<?x7168xf32>, tensor<7168x4096xf32> -> tensor<?x4096xf32>
    ```
  }];
  let arguments = (ins Npu_FloatOrI8Matrix:$x, Npu_Weight:$weight,
                       Optional<Npu_F32Vector>:$scale, Optional<Npu_F32Vector>:$per_token_scale,
                       Optional<Npu_F32Matrix>:$group_scale, Optional<Npu_F32Vector>:$bias,
                       Npu_MatmulQuant:$quant, Npu_StreamAttr:$stream);
  let results = (outs Npu_Matrix:$result);
  let assemblyFormat = "$x `,` $weight (`scale` `(` $scale^ `:` type($scale) `)`)? "
      "(`per_token_scale` `(` $per_token_scale^ `:` type($per_token_scale) `)`)? "
      "(`group_scale` `(` $group_scale^ `:` type($group_scale) `)`)? "
      "(`bias` `(` $bias^ `:` type($bias) `)`)? $quant "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` type($weight) `->` type($result)";
  let hasVerifier = 1;
  let passResultDTypes = 1;
}

def Npu_SwigluOp : Npu_DeviceOp<"swiglu", [Npu_CannotFail,
    AllElementTypesMatch<["x", "result"]>]> {
  let summary = "SwiGLU activation of gate-up rows";
  let description = [{
    `torch_npu.npu_swiglu`: `out = silu(x[:, :I]) * x[:, I:]` for `x [N, 2I]`.

    ```mlir
    %a = npu.swiglu %h : tensor<?x1536xf32> -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_StreamAttr:$stream);
  let results = (outs Npu_FloatMatrix:$result);
  let assemblyFormat = "$x (`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_DequantSwigluQuantOp : Npu_DeviceOp<"dequant_swiglu_quant", [Npu_MayFailAtRunTime]> {
  let summary = "dequantize i32 gate-up rows, SwiGLU, requantize per row";
  let description = [{
    `torch_npu.npu_dequant_swiglu_quant`: `h[m, n] = x[m, n] *
    activation_scale[m] * weight_scale[g(m), n]` for the group `g(m)` of row
    `m`, then `npu.swiglu`, then `npu.dynamic_quant`.

    ```mlir
    %q, %s = npu.dequant_swiglu_quant %h, %s13, %s1, %counts count
        : tensor<?x1536xi32>, tensor<32x1536xf32>, tensor<?xf32>, tensor<32xi64>
        -> tensor<?x768xi8>, tensor<?xf32>
    ```
  }];
  let arguments = (ins Npu_I32Matrix:$x, Npu_F32Matrix:$weight_scale,
                       Npu_F32Vector:$activation_scale, Npu_I64Vector:$group_list,
                       Npu_GroupListType:$group_list_type, Npu_StreamAttr:$stream);
  let results = (outs Npu_I8Matrix:$q, Npu_F32Vector:$scale);
  let assemblyFormat = "$x `,` $weight_scale `,` $activation_scale `,` $group_list "
      "$group_list_type (`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `,` "
      "type($weight_scale) `,` type($activation_scale) `,` type($group_list) `->` "
      "type($q) `,` type($scale)";
  let hasVerifier = 1;
}

def Npu_AddOp : Npu_DeviceOp<"add", [Npu_MayFailAtRunTime, AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "elementwise addition";
  let description = [{
    Adds the shared experts' output to the routed output.

    ```mlir
    %out = npu.add %routed, %shared : tensor<?x7168xbf16>
    ```
  }];
  let arguments = (ins Npu_Tensor:$lhs, Npu_Tensor:$rhs, Npu_StreamAttr:$stream);
  let results = (outs Npu_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs (`stream` `(` $stream^ `)`)? attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// All-to-all-v bookkeeping
//===----------------------------------------------------------------------===//

def Npu_HistogramOp : Npu_DeviceOp<"histogram", [Npu_CannotFail]> {
  let summary = "count expert ids (torch.histc)";
  let description = [{
    `result[e]` = number of entries of `ids` equal to `e`, for `e < bins`.

    ```mlir
    %counts = npu.histogram %ids bins(128) : tensor<?x8xi32> -> tensor<128xi64>
    ```
  }];
  let arguments = (ins Npu_IdsOrVector:$ids, Npu_PositiveI64:$bins, Npu_StreamAttr:$stream);
  let results = (outs Npu_I64Vector:$result);
  let assemblyFormat = "$ids `bins` `(` $bins `)` (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($ids) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_AllToAllSplitsOp : Npu_DeviceOp<"alltoall_splits", [Npu_MayFailAtRunTime]> {
  let summary = "splits of the all-to-all-v token dispatcher";
  let description = [{
    `TokenDispatcherWithAll2AllV._preprocess` on this rank `r` of `group`
    (size `R`), from its per-expert `local_counts [E]` and the all-gathered
    `global_counts [R * E]` (`L = E / R` local experts):
    - `input_splits[p]` = rows this rank sends to rank `p`;
    - `output_splits[p]` = rows it receives from rank `p`;
    - `tokens_per_expert [L]` = rows per local expert;
    - `recv_expert_ids [N]` = local expert of every received row, in receive
      order (source rank major, then expert).

    ```mlir
    %in, %out, %per, %eids = npu.alltoall_splits %local, %global local_experts(32) ep
        : tensor<128xi64>, tensor<?xi64>
        -> tensor<?xi64>, tensor<?xi64>, tensor<32xi64>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Npu_I64Vector:$local_counts, Npu_I64Vector:$global_counts,
                       Npu_PositiveI64:$local_experts, Npu_Group:$group,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_I64Vector:$input_splits, Npu_I64Vector:$output_splits,
                      Npu_I64Vector:$tokens_per_expert, Npu_I32Vector:$recv_expert_ids);
  let assemblyFormat = "$local_counts `,` $global_counts `local_experts` `(` $local_experts `)` "
      "$group (`stream` `(` $stream^ `)`)? attr-dict `:` type($local_counts) `,` type($global_counts) "
      "`->` type($input_splits) `,` type($output_splits) `,` type($tokens_per_expert) `,` "
      "type($recv_expert_ids)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

def Npu_AllGatherOp : Npu_CollectiveOp<"all_gather", []> {
  let summary = "concatenate every rank's rows in group-rank order";
  let description = [{
    HCCL all-gather along dimension 0. Ranks may contribute different row
    counts (as `dist.all_gather` into a list of split tensors); the other
    dimensions must agree.

    ```mlir
    %g = npu.all_gather %x dp : tensor<?x2048xf32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Npu_Group:$group, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input $group (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_ReduceScatterOp : Npu_CollectiveOp<"reduce_scatter", []> {
  let summary = "sum over the group, each rank keeps its chunk of rows";
  let description = [{
    HCCL reduce-scatter along dimension 0: the row count must be a multiple
    of the group size `R`; rank `i` gets rows `[i * M / R, (i + 1) * M / R)`
    of the sum, added in group-rank order.

    ```mlir
    %r = npu.reduce_scatter %y dp : tensor<?x2048xf32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Npu_Group:$group, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input $group (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_AllReduceOp : Npu_CollectiveOp<"all_reduce", [AllTypesMatch<["input", "result"]>]> {
  let summary = "elementwise sum or max over the group";
  let description = [{
    HCCL all-reduce, combining in group-rank order.

    ```mlir
    %r = npu.all_reduce %y sum tp : tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_Tensor:$input, Npu_ReduceKind:$kind, Npu_Group:$group,
                       Npu_StreamAttr:$stream);
  let results = (outs Npu_Tensor:$result);
  let assemblyFormat = "$input $kind $group (`stream` `(` $stream^ `)`)? attr-dict `:` type($input)";
}

def Npu_AllToAllVOp : Npu_CollectiveOp<"all_to_all_v", [
    DeclareOpInterfaceMethods<Npu_CombineOpInterface, ["combinesExpertOutputs"]>,
    DeclareOpInterfaceMethods<Npu_QuantFusableDispatchOpInterface>]> {
  let summary = "all-to-all with explicit send and receive splits";
  let description = [{
    HCCL all-to-all-v along dimension 0: rank `r` sends rows
    `[sum(send[:p]), sum(send[:p+1]))` to rank `p` and concatenates what it
    receives in source-rank order; `recv_splits[p]` must equal what `p`
    sends to `r` (a run-time error otherwise).

    ```mlir
    %r = npu.all_to_all_v %rows, %in, %out ep
        : tensor<?x2048xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Npu_I64Vector:$send_splits,
                       Npu_I64Vector:$recv_splits, Npu_Group:$group, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input `,` $send_splits `,` $recv_splits $group (`stream` `(` $stream^ `)`)? "
      " attr-dict `:` type($input) `,` type($send_splits) `,` type($recv_splits) `->` "
      "type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Host-side queries and row bookkeeping
//===----------------------------------------------------------------------===//

def Npu_AllReduceScalarOp : Npu_Op<"all_reduce_scalar", [Npu_Synchronizes, Npu_MayFailAtRunTime]> {
  let summary = "host-side all-reduce of an index (e.g. max tokens across DP)";
  let description = [{
    Every rank of `group` contributes `value` and gets the sum or maximum,
    as vllm-ascend's forward context does for `max_tokens_across_dp`. Runs on
    the host, not on a stream.

    ```mlir
    %max = npu.all_reduce_scalar %t max dp
    ```
  }];
  let arguments = (ins Index:$value, Npu_ReduceKind:$kind, Npu_Group:$group);
  let results = (outs Index:$result);
  let assemblyFormat = "$value $kind $group attr-dict";
  let hasRuntimeCall = 1;
}

def Npu_GroupRankOp : Npu_Op<"group_rank", [Pure]> {
  let summary = "this rank's index in a group";
  let description = [{
    ```mlir
    %r = npu.group_rank ep
    ```
  }];
  let arguments = (ins Npu_Group:$group);
  let results = (outs Index:$result);
  let assemblyFormat = "$group attr-dict";
  let hasRuntimeCall = 1;
}

def Npu_StepSyncOp : Npu_Op<"step_sync", [Npu_Synchronizes, Npu_MayFailAtRunTime]> {
  let summary = "the step's one exchange of token counts and flags across ranks";
  let description = [{
    Seed 004: vllm-ascend synchronizes a forward step's metadata across data
    parallel ranks once, with a single all-reduce carrying every rank's
    token count and the step's flags, before any layer runs. Every rank
    contributes `tokens`, `with_prefill` and `enable_dbo` (0 or 1) and one
    host-side exchange over the whole world gives every rank each member's
    values; from them it computes, without further communication:

    - `max_world`, `max_tp`, `max_dp`, `max_ep`, `max_pcp`: the most tokens
      of a rank in its group of each kind (results in `Npu_Group` order),
      what each layer's padding, run-time method guard and capacity check
      read;
    - `any_prefill`: 1 when some rank has prefill tokens; `all_dbo`: 1 when
      every rank enables dual-batch overlap.

    With `uniform_tp`, the tensor-parallel ranks of a DP group must hold the
    same number of tokens; otherwise the run fails naming the contract
    (`uniform_tp`'s text) and the counts, as `npu.expect_uniform` does.
    `moe-merge-step-sync` makes one such op of a function's per-layer
    `npu.all_reduce_scalar ... max` and `npu.expect_uniform` ops.

    ```mlir
    %w, %t, %d, %e, %p, %prefill, %dbo = npu.step_sync %tokens, %c0, %c0
        uniform_tp "the tensor-parallel ranks of a DP group hold the same tokens"
    ```
  }];
  let arguments = (ins Index:$tokens, Index:$with_prefill, Index:$enable_dbo,
                       OptionalAttr<StrAttr>:$uniform_tp);
  let results = (outs Index:$max_world, Index:$max_tp, Index:$max_dp, Index:$max_ep,
                      Index:$max_pcp, Index:$any_prefill, Index:$all_dbo);
  let assemblyFormat = "$tokens `,` $with_prefill `,` $enable_dbo (`uniform_tp` $uniform_tp^)? attr-dict";
  let hasRuntimeCall = 1;
  let extraClassDeclaration = [{
    /// The most tokens of a rank in this rank's `group` (the results come
    /// in Npu_Group order; a static_assert in NpuOps.cpp keeps them so).
    ::mlir::Value getMaxOver(Group group) {
      return getResult(static_cast<unsigned>(group));
    }
  }];
}

def Npu_ExpectUniformOp : Npu_Op<"expect_uniform", [Npu_Synchronizes, Npu_MayFailAtRunTime]> {
  let summary = "fail the run unless every rank of a group holds the same value";
  let description = [{
    A host-side check of a layout contract the compiler relies on, e.g. that
    the tensor-parallel ranks of a DP group hold the same tokens (they do
    after vLLM's attention all-reduce): without it, mismatched inputs would
    give a silently wrong answer. `what` names the contract in the error.

    ```mlir
    npu.expect_uniform %t tp "the tensor-parallel ranks hold the same tokens"
    ```
  }];
  let arguments = (ins Index:$value, Npu_Group:$group, StrAttr:$what);
  let assemblyFormat = "$value $group $what attr-dict";
  let hasRuntimeCall = 1;
}

def Npu_PadRowsOp : Npu_DeviceOp<"pad_rows", [Npu_CannotFail]> {
  let summary = "append zero rows up to a row count";
  let description = [{
    `nn.functional.pad(x, (0, 0, 0, rows - M))` when `rows > M`; `x`
    unchanged otherwise.

    ```mlir
    %p = npu.pad_rows %x to %n : tensor<?x2048xf32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Index:$rows, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input `to` $rows (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_SliceRowsOp : Npu_DeviceOp<"slice_rows", [Npu_MayFailAtRunTime]> {
  let summary = "keep the first rows (drop padding)";
  let description = [{
    `x[:rows]`; `rows` larger than the row count is a run-time error.

    ```mlir
    %s = npu.slice_rows %x to %t : tensor<?x2048xf32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Index:$rows, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input `to` $rows (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_TensorSplitOp : Npu_DeviceOp<"tensor_split", [Npu_CannotFail]> {
  let summary = "this rank's chunk of rows (torch.tensor_split over a group)";
  let description = [{
    `torch.tensor_split(x, R, dim=0)[r]` for this rank `r` of `group` (size
    `R`): the first `M % R` chunks have one row more.

    ```mlir
    %mine = npu.tensor_split %x tp : tensor<?x2048xf32> -> tensor<?x2048xf32>
    ```
  }];
  let arguments = (ins Npu_RowTensor:$input, Npu_Group:$group, Npu_StreamAttr:$stream);
  let results = (outs Npu_RowTensor:$result);
  let assemblyFormat = "$input $group (`stream` `(` $stream^ `)`)? "
                       " attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_Mc2MaskOp : Npu_DeviceOp<"mc2_mask", [Npu_MayFailAtRunTime]> {
  let summary = "which of the padded rows are real tokens";
  let description = [{
    A boolean vector of `rows` entries whose first `valid` are true, as the
    forward context's `mc2_mask`.

    ```mlir
    %mask = npu.mc2_mask %t of %padded : tensor<?xi1>
    ```
  }];
  let arguments = (ins Index:$valid, Index:$rows, Npu_StreamAttr:$stream);
  let results = (outs Npu_Mask:$result);
  let assemblyFormat = "$valid `of` $rows (`stream` `(` $stream^ `)`)? attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

def Npu_RecordOp : Npu_Op<"record", [Npu_Synchronizes]> {
  let summary = "record an event on a stream";
  let description = [{
    `torch.npu.Event.record(stream)`: the event stands for everything issued
    to `stream` before this op.

    ```mlir
    %e = npu.record stream(0)
    ```
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntNonNegative]>:$stream);
  let results = (outs Npu_EventType:$event);
  let assemblyFormat = "`stream` `(` $stream `)` attr-dict";
}

def Npu_WaitOp : Npu_Op<"wait", [Npu_Synchronizes]> {
  let summary = "make a stream wait for an event";
  let description = [{
    `stream.wait_event(event)`: work issued to `stream` after this op starts
    only after the event's work has finished.

    ```mlir
    npu.wait %e stream(1)
    ```
  }];
  let arguments = (ins Npu_EventType:$event, ConfinedAttr<I64Attr, [IntNonNegative]>:$stream);
  let assemblyFormat = "$event `stream` `(` $stream `)` attr-dict";
}

//===----------------------------------------------------------------------===//
// Host reference counting (inserted by moe-runtime-ref-counting)
//===----------------------------------------------------------------------===//

def Npu_RefCounted : AnyTypeOf<[Npu_Tensor, Npu_EventType]>;

def Npu_RetainOp : Npu_Op<"retain", [MemoryEffects<[MemWrite]>]> {
  let summary = "take one more host reference to a runtime tensor or event";
  let description = [{
    The compiled host code owns one reference to every tensor and event it
    creates. `moe-runtime-ref-counting` inserts `npu.retain` where a value is
    handed on more than once (returned twice, or returned while borrowed),
    like upstream's `async.runtime.add_ref`.

    ```mlir
    npu.retain %t : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Npu_RefCounted:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def Npu_ReleaseOp : Npu_Op<"release", [MemoryEffects<[MemWrite]>]> {
  let summary = "drop a host reference to a runtime tensor or event";
  let description = [{
    Inserted by `moe-runtime-ref-counting` after the last use of a value on
    the host, like upstream's `async.runtime.drop_ref`. Tasks already issued
    on streams keep their own references, so the storage lives until they
    have run.

    ```mlir
    npu.release %t : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Npu_RefCounted:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

include "Npu/NpuQuantOps.td"

#endif // NPU_OPS_TD
