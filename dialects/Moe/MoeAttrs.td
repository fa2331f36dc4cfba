//===- MoeAttrs.td - attributes of the moe dialect ---------*- tablegen -*-===//

#ifndef MOE_ATTRS_TD
#define MOE_ATTRS_TD

include "Moe/MoeEnums.td"

class Moe_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Moe_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Parallel layout
//===----------------------------------------------------------------------===//

def Moe_LayoutAttr : Moe_Attr<"Layout", "layout"> {
  let summary = "parallel layout of the devices running an MoE layer";
  let description = [{
    The user-facing parallel configuration of a deployment: attention tensor
    parallel size `tp`, data parallel size `dp`, pipeline parallel size `pp`,
    whether expert parallelism is enabled, whether sequence parallelism
    shards tokens across the tensor-parallel ranks, and the prefill context
    parallel size `pcp` (vLLM's `prefill_context_parallel_size`; seed 000
    `pcp_size`): the ranks of a PCP group hold different slices of the
    prefill sequence.

    The MoE layer sees these sizes through the flattening rule of vLLM's
    `FusedMoEParallelConfig.make` (SEMANTICS §1, with vLLM's flattening of
    DP and PCP into TP), available as C++ queries:
    `getFlatTpSize()` = `dp * pcp * tp`; `useEp()` = `getFlatTpSize() > 1 &&
    expert_parallel`; with EP, `getEpSize()` = `getFlatTpSize()` and
    `getMoeTpSize()` = 1; without EP, `getEpSize()` = 1 and experts are
    tensor-sharded over `getMoeTpSize()` = `getFlatTpSize()` ranks;
    `useAll2AllKernels()` = `dp > 1 && useEp()`;
    `flatten(dpRank, tpRank, pcpRank)` gives the per-rank view.

    Global rank `r` of the MoE group is
    `(dp_rank * pcp + pcp_rank) * tp + tp_rank`.

    `shared_expert_ranks = S` (default 0) reserves the first `S` ranks of the
    expert-parallel group for the shared experts, MC2's
    `shared_expert_rank_num` (torch_npu: "shared-expert ranks first"): the
    routed experts are spread over the other `getRoutedEpSize()` = `ep - S`
    ranks, and every token also goes to shared-expert rank `rank % S`, whose
    rows the shared experts compute; combine adds them back. It needs
    expert parallelism, `S` must divide the EP size and leave routed ranks,
    and only `mc2` can run it (docs/Rationale.md).

    Every size is at least 1 and a layout spans at most
    `kMaxDevices` = 65536 devices (`tp * dp * pcp * pp`), so products of the sizes
    never overflow; a driver may refuse smaller worlds it cannot run
    (`moe-run`'s thread world, docs/Reliability.md).

    Example:

    ```mlir
    #moe.layout<tp = 2, dp = 4, expert_parallel = true>
    #moe.layout<tp = 1, dp = 2, expert_parallel = true, pcp = 2>
    #moe.layout<tp = 1, dp = 8, expert_parallel = true, shared_expert_ranks = 2>
    ```
  }];
  let parameters = (ins
    "int64_t":$tp,
    "int64_t":$dp,
    DefaultValuedParameter<"int64_t", "1">:$pp,
    DefaultValuedParameter<"bool", "false">:$expert_parallel,
    DefaultValuedParameter<"bool", "false">:$sequence_parallel,
    DefaultValuedParameter<"int64_t", "1">:$pcp,
    DefaultValuedParameter<"int64_t", "0">:$shared_expert_ranks
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Most devices (`tp * dp * pp`) a layout may span.
    static constexpr int64_t kMaxDevices = 65536;
    /// Per-rank view of the layout after vLLM's flattening rule.
    struct RankView {
      int64_t tpSize, tpRank, dpSize, dpRank, epSize, epRank;
      bool useEp;
    };
    /// Devices in one pipeline stage: `dp * pcp * tp` (the MoE group).
    int64_t getWorldSize() const { return getDp() * getPcp() * getTp(); }
    /// `dp * pcp * tp`: the tensor-parallel size after flattening DP and PCP
    /// into TP.
    int64_t getFlatTpSize() const { return getWorldSize(); }
    bool useEp() const { return getFlatTpSize() > 1 && getExpertParallel(); }
    int64_t getEpSize() const { return useEp() ? getFlatTpSize() : 1; }
    /// EP ranks holding routed experts: the EP size minus the
    /// shared-expert ranks.
    int64_t getRoutedEpSize() const {
      return getEpSize() - getSharedExpertRanks();
    }
    /// Size of the group experts are tensor-sharded over (1 with EP).
    int64_t getMoeTpSize() const { return useEp() ? 1 : getFlatTpSize(); }
    bool useAll2AllKernels() const { return getDp() > 1 && useEp(); }
    /// SEMANTICS §1 for the device with the given DP and TP rank.
    RankView flatten(int64_t dpRank, int64_t tpRank,
                     int64_t pcpRank = 0) const;
  }];
}

//===----------------------------------------------------------------------===//
// Target chip
//===----------------------------------------------------------------------===//

def Moe_ChipAttr : Moe_Attr<"Chip", "chip"> {
  let summary = "target Ascend chip with its MC2 capacity and link figures";
  let description = [{
    The SoC generation the layer is compiled for. Its figures come from a
    table (`docs/CostModel.md` lists them with their sources) and can be
    overridden per deployment:

    - `mc2_capacity`: the most tokens one rank may pass to one MC2 dispatch
      (hardware limit: 512 on A3, 256 on A2);
    - `link_gbps`: per-device bandwidth of the expert-parallel links, GB/s;
    - `link_latency_us`: start-up latency of one collective step, µs;
    - `dispatch_v2` (default `true`): the software stack has
      `torch_npu.npu_moe_distribute_dispatch_v2` (seed 002
      `TokenDispatcherWithMC2.enable_dispatch_v2 = hasattr(torch_npu,
      "npu_moe_distribute_dispatch_v2")`); MC2 then calls the `_v2`
      dispatch/combine, whose index result is `assist_info_for_combine`
      instead of `expand_idx`, and on A3 passes `x_active_mask`;
    - `hierarchical_comm` (default `false`): hierarchical communication is
      enabled (seed 002 `need_expert_scale =
      is_hierarchical_communication_enabled()`, the A2 setting
      `HCCL_INTRA_PCIE_ENABLE=1`, `HCCL_INTRA_ROCE_ENABLE=0`); MC2 dispatch
      then passes `expert_scales` and combine weights rows by the returned
      `expand_scales`. Only an A2 chip may set it.

    Examples:

    ```mlir
    #moe.chip<A3>
    #moe.chip<A2, link_gbps = 25.0, link_latency_us = 10.0>
    #moe.chip<A2, dispatch_v2 = false, hierarchical_comm = true>
    ```
  }];
  let parameters = (ins
    EnumParameter<Moe_ChipKind>:$kind,
    DefaultValuedParameter<"int64_t", "0">:$mc2_capacity_override,
    OptionalParameter<"FloatAttr">:$link_gbps_override,
    OptionalParameter<"FloatAttr">:$link_latency_us_override,
    DefaultValuedParameter<"bool", "true">:$dispatch_v2,
    DefaultValuedParameter<"bool", "false">:$hierarchical_comm
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "ChipKind":$kind), [{
      return $_get($_ctxt, kind, 0, FloatAttr(), FloatAttr(),
                   /*dispatch_v2=*/true, /*hierarchical_comm=*/false);
    }]>
  ];
  let extraClassDeclaration = [{
    /// Most tokens per rank one MC2 dispatch accepts (0: no MC2 on this chip).
    int64_t getMc2Capacity() const;
    /// Per-device bandwidth of the expert-parallel links in GB/s.
    double getLinkGBps() const;
    /// Latency of one collective step in microseconds.
    double getLinkLatencyUs() const;
    /// Largest EP group the fused MC2 kernel supports (0: none on this
    /// chip): dispatch_ffn_combine, or CANN MegaMoE when `megaMoe`.
    int64_t getFusedMc2EpLimit(bool megaMoe) const;
    /// Dense bf16 / int8 matmul throughput per device in TFLOP/s (cost model).
    double getMatmulTflops(bool int8) const;
  }];
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Moe_QuantDescAttr : Moe_Attr<"QuantDesc", "qdesc"> {
  let summary = "quantization of one activation or weight (seed 003 FusedMoEQuantDesc)";
  let description = [{
    A dtype and, for quantized dtypes, a group shape `(rows, cols)` telling
    which elements share a scale; `-1` spans the whole dimension:

    | spelling          | (rows, cols) | meaning                                   |
    |-------------------|--------------|-------------------------------------------|
    | `per_tensor`      | (-1, -1)     | one scale                                 |
    | `per_token`       | (1, -1)      | one scale per row: per token of an        |
    |                   |              | activation, per output channel of a weight|
    | `per_column`      | (-1, 1)      | one scale per column                      |
    | `block [r, c]`    | (r, c)       | one scale per `r x c` block               |

    `cols` runs along the reduced (hidden) dimension. Floating dtypes (`f32`,
    `bf16`, `f16`) take no group shape; `mxfp4` and `nvfp4` carry their own
    fixed micro-blocks and take none either.

    Examples:

    ```mlir
    #moe.qdesc<int8, per_token>
    #moe.qdesc<int4, block [1, 256]>
    #moe.qdesc<fp8_e4m3, block [128, 128]>
    #moe.qdesc<mxfp4>
    ```
  }];
  let parameters = (ins
    EnumParameter<Moe_QuantDtype>:$dtype,
    DefaultValuedParameter<"int64_t", "0">:$group_rows,
    DefaultValuedParameter<"int64_t", "0">:$group_cols
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool hasGroupShape() const { return getGroupRows() != 0; }
    bool isPerTensor() const { return getGroupRows() == -1 && getGroupCols() == -1; }
    bool isPerToken() const { return getGroupRows() == 1 && getGroupCols() == -1; }
    bool isPerColumn() const { return getGroupRows() == -1 && getGroupCols() == 1; }
    bool isBlock() const { return getGroupRows() > 0 && getGroupCols() > 0; }
    /// True for dtypes that need scales (everything but f32/bf16/f16).
    bool isQuantized() const;
    /// The dtypes whose scales are fixed micro-blocks and take no group
    /// shape: the OCP MX types and nvfp4 (seed 003's string dtypes).
    static bool hasMicroBlocks(QuantDtype dtype);
    /// Elements per scale of a micro-block dtype along K: 32 (OCP MX),
    /// 16 (nvfp4); 0 for the others.
    static int64_t microBlockSize(QuantDtype dtype);
  }];
}

def Moe_QuantAttr : Moe_Attr<"Quant", "quant"> {
  let summary = "quantization scheme of an expert MLP (seed 003 FusedMoEQuantConfig)";
  let description = [{
    Four optional descriptors: `a1` (input of the first matmul), `a2` (input
    of the second), `w1` (the gate-up weights W13) and `w2` (the down
    weights). An absent descriptor means "unquantized, as the tensor's type".

    The schemes vllm-ascend runs have short spellings:

    | spelling                             | a1, a2            | w1, w2                  |
    |--------------------------------------|-------------------|-------------------------|
    | `<none>`                             | -                 | -                       |
    | `<w8a8_dynamic>`                     | int8, per_token   | int8, per_token         |
    | `<w4a8_dynamic, group_size = G>`     | int8, per_token   | int4, block [1, G]      |

    Any other combination is spelled out and must be one seed 003 can
    express; the verifier rejects the others (rules listed in
    `docs/Rationale.md`):

    ```mlir
    #moe.quant<w8a8_dynamic>
    #moe.quant<w4a8_dynamic, group_size = 256>
    #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
               a2 = #moe.qdesc<fp8_e4m3, block [1, 128]>,
               w1 = #moe.qdesc<fp8_e4m3, block [128, 128]>,
               w2 = #moe.qdesc<fp8_e4m3, block [128, 128]>>
    ```
  }];
  let parameters = (ins
    OptionalParameter<"QuantDescAttr">:$a1,
    OptionalParameter<"QuantDescAttr">:$a2,
    OptionalParameter<"QuantDescAttr">:$w1,
    OptionalParameter<"QuantDescAttr">:$w2
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "QuantScheme":$scheme, CArg<"int64_t", "256">:$groupSize)>
  ];
  let extraClassDeclaration = [{
    /// Which named scheme this is (`Custom` when none matches).
    QuantScheme getScheme() const;
    /// Group size along the reduced dimension of a w4a8 scheme (0 otherwise).
    int64_t getGroupSize() const;
    bool isNone() const { return getScheme() == QuantScheme::None; }

    //--- Seed 003's constructor and queries (lib/Dialect/Moe/QuantQueries.cpp,
    //--- docs/Quantization.md "Descriptor queries").

    /// `FusedMoEQuantConfig.make`: activations `quantDtype` (none: not
    /// quantized) per tensor, or per token with `perActTokenQuant`; weights
    /// `weightDtype` (default `quantDtype`) without a group shape, or per
    /// output channel with `perOutChQuant`; a `blockShape` [r, c] applies to
    /// both instead. Reports through `emitError` and returns null where the
    /// seed asserts or the descriptor rules reject the result.
    static QuantAttr make(::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
                          ::mlir::MLIRContext *context,
                          ::std::optional<QuantDtype> quantDtype,
                          bool perActTokenQuant, bool perOutChQuant,
                          ::std::optional<::std::array<int64_t, 2>> blockShape,
                          ::std::optional<QuantDtype> weightDtype);

    /// `quant_dtype`: a1's dtype when it is quantized.
    ::std::optional<QuantDtype> getQuantDtype() const;
    bool isQuantized() const { return getQuantDtype().has_value(); }
    bool isPerActToken() const;
    bool isPerOutChQuant() const;
    bool isPerTensor() const;
    /// `block_shape`: a1's block, or w1's when activations are not
    /// quantized (the seed keeps a weight-only scheme's block on a1).
    ::std::optional<::std::array<int64_t, 2>> getBlockShape() const;
    bool isBlockQuantized() const { return getBlockShape().has_value(); }
    bool useFp8W8A8() const;
    bool useInt8W8A8() const;
    bool useInt8W8A16() const;
    bool useInt4W4A16() const;
    /// vllm-ascend's w4a8: int8 activations, int4 weights.
    bool useInt4W4A8() const;
    bool useMxfp4W4A16() const;
    /// OCP MX `w_mxfp4_a_mxfp4`.
    bool useMxfp4W4A4() const;
    bool useNvfp4W4A4() const;
    /// `ocp_mx_scheme`: "w_mxfp4_a_mxfp4", ... or none.
    ::std::optional<::llvm::StringRef> getOcpMxScheme() const;
    /// `config_name(dtype)` for activations of `activationType`: the
    /// tuning-file tag ("fp8_w8a8", "int8_w8a16", "int4_w4a16", "float32")
    /// or none.
    ::std::optional<::llvm::StringRef> getConfigName(::mlir::Type activationType) const;
    /// `scale_shape(max_tokens, hidden_dim)` of the activation scales.
    ::std::optional<::std::array<int64_t, 2>> getScaleShape(int64_t maxTokens,
                                                            int64_t hiddenDim) const;
    /// `batched_scale_shape(num_experts, max_tokens, hidden_dim)`.
    ::std::optional<::std::array<int64_t, 3>>
    getBatchedScaleShape(int64_t numExperts, int64_t maxTokens, int64_t hiddenDim) const;
  }];
}

#endif // MOE_ATTRS_TD
