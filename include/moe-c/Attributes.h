/*===- moe-c/Attributes.h - attributes and types of the moe dialect -*- C -*-=*\
|*                                                                            *|
|* Builders and queries for the deployment attributes #moe.layout and        *|
|* #moe.chip, the communication method (#moe.method and the                  *|
|* !moe.prepare_ctx / !moe.dispatch_ctx types that carry it) and the         *|
|* quantization scheme #moe.quant. Semantics: docs/Rationale.md and          *|
|* docs/Dialects/MoeDialect.md.                                              *|
|*                                                                            *|
|* Builders verify their parameters: on invalid ones they return a null      *|
|* attribute/type (mlirAttributeIsNull) and moeGetLastError() holds the      *|
|* verifier's message. Queries on an attribute of another kind return 0      *|
|* (or false) and set the last error; they never abort.                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_ATTRIBUTES_H
#define MOE_C_ATTRIBUTES_H

#include "mlir-c/IR.h"
#include "moe-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * #moe.layout<tp, dp, pp, expert_parallel, sequence_parallel>
 *===----------------------------------------------------------------------===*/

MOE_CAPI_EXPORTED MlirAttribute mlirMoeLayoutAttrGet(MlirContext context,
                                                     int64_t tp, int64_t dp,
                                                     int64_t pp,
                                                     bool expertParallel,
                                                     bool sequenceParallel);
/* The same with prefill context parallelism over `pcp` ranks (seed 000
 * `pcp_size`; mlirMoeLayoutAttrGet means pcp = 1). */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeLayoutAttrGetWithPcp(
    MlirContext context, int64_t tp, int64_t dp, int64_t pp, int64_t pcp,
    bool expertParallel, bool sequenceParallel);
/* `layout` with its first `sharedExpertRanks` EP ranks reserved for the
 * shared experts (MC2's shared_expert_rank_num, docs/Rationale.md); null
 * with the verifier's message as the last error when it is invalid. */
MOE_CAPI_EXPORTED MlirAttribute
mlirMoeLayoutAttrWithSharedExpertRanks(MlirAttribute layout,
                                       int64_t sharedExpertRanks);
MOE_CAPI_EXPORTED bool mlirAttributeIsAMoeLayout(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetTp(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetPcp(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetDp(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetPp(MlirAttribute attr);
MOE_CAPI_EXPORTED bool mlirMoeLayoutAttrGetExpertParallel(MlirAttribute attr);
MOE_CAPI_EXPORTED bool mlirMoeLayoutAttrGetSequenceParallel(MlirAttribute attr);
/* Devices of one pipeline stage, dp * tp: the ranks of a world. */
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetWorldSize(MlirAttribute attr);
/* dp * tp with expert parallelism (and dp * tp > 1), else 1. */
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetEpSize(MlirAttribute attr);
/* Ranks experts are tensor-sharded over: 1 with EP, else dp * tp. */
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetMoeTpSize(MlirAttribute attr);
MOE_CAPI_EXPORTED bool mlirMoeLayoutAttrUseEp(MlirAttribute attr);
/* EP ranks reserved for the shared experts (0: none), and the others. */
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetSharedExpertRanks(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeLayoutAttrGetRoutedEpSize(MlirAttribute attr);

/* "moe.layout": the discardable attribute name on the module (or a
 * function) that carries the layout; set it with
 * mlirOperationSetDiscardableAttributeByName. */
MOE_CAPI_EXPORTED MlirStringRef mlirMoeLayoutAttrGetName(void);
/* The layout of the nearest ancestor of `op` (including `op`) that carries
 * one; a single-device layout when there is none. */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeLookupLayout(MlirOperation op);

/*===----------------------------------------------------------------------===
 * #moe.chip<kind, mc2_capacity, link_gbps, link_latency_us>
 *===----------------------------------------------------------------------===*/

/* Values equal the dialect's ChipKind. */
typedef enum MoeChipKind {
  MOE_CHIP_A2 = 0,
  MOE_CHIP_A3 = 1,
  MOE_CHIP_A5 = 2,
  MOE_CHIP_A310P = 3,
} MoeChipKind;

/* `mc2Capacity`, `linkGBps`, `linkLatencyUs`: overrides of the chip's table
 * figures; 0 keeps the table value. */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeChipAttrGet(MlirContext context,
                                                   MoeChipKind kind,
                                                   int64_t mc2Capacity,
                                                   double linkGBps,
                                                   double linkLatencyUs);
MOE_CAPI_EXPORTED bool mlirAttributeIsAMoeChip(MlirAttribute attr);
MOE_CAPI_EXPORTED MoeChipKind mlirMoeChipAttrGetKind(MlirAttribute attr);
/* Most tokens one rank may pass to one MC2 dispatch (0: no MC2). */
MOE_CAPI_EXPORTED int64_t mlirMoeChipAttrGetMc2Capacity(MlirAttribute attr);
/* Per-device bandwidth of the expert-parallel links, GB/s. */
MOE_CAPI_EXPORTED double mlirMoeChipAttrGetLinkGBps(MlirAttribute attr);
/* Start-up latency of one collective step, microseconds. */
MOE_CAPI_EXPORTED double mlirMoeChipAttrGetLinkLatencyUs(MlirAttribute attr);
/* Largest EP group of the fused MC2 kernel (CANN MegaMoE when `megaMoe`);
 * 0 when the chip has none. */
MOE_CAPI_EXPORTED int64_t mlirMoeChipAttrGetFusedMc2EpLimit(MlirAttribute attr,
                                                            bool megaMoe);
/* "moe.chip", and the chip of the nearest ancestor (null when none). */
/* A chip with the MC2 operator-contract settings of seed 002: `dispatchV2`
 * (torch_npu has npu_moe_distribute_dispatch_v2) and `hierarchicalComm`
 * (A2 hierarchical communication, need_expert_scale; A2 only). */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeChipAttrGetWithMc2Options(
    MlirContext context, MoeChipKind kind, int64_t mc2Capacity,
    double linkGBps, double linkLatencyUs, bool dispatchV2,
    bool hierarchicalComm);
MOE_CAPI_EXPORTED bool mlirMoeChipAttrGetDispatchV2(MlirAttribute attr);
MOE_CAPI_EXPORTED bool mlirMoeChipAttrGetHierarchicalComm(MlirAttribute attr);
MOE_CAPI_EXPORTED MlirStringRef mlirMoeChipAttrGetName(void);
MOE_CAPI_EXPORTED MlirAttribute mlirMoeLookupChip(MlirOperation op);

/*===----------------------------------------------------------------------===
 * Communication method: #moe.method<m>, !moe.prepare_ctx<m>,
 * !moe.dispatch_ctx<m>
 *===----------------------------------------------------------------------===*/

/* Values equal the dialect's CommMethod. */
typedef enum MoeCommMethod {
  MOE_COMM_METHOD_UNSET = 0,
  MOE_COMM_METHOD_ALLGATHER = 1,
  MOE_COMM_METHOD_ALLTOALL = 2,
  MOE_COMM_METHOD_MC2 = 3,
  MOE_COMM_METHOD_FUSED_MC2 = 4,
  MOE_COMM_METHOD_MOGE = 5,
} MoeCommMethod;

/* The IR spelling ("mc2"), or NULL for a value outside the enum. */
MOE_CAPI_EXPORTED const char *moeCommMethodGetName(MoeCommMethod method);

MOE_CAPI_EXPORTED MlirAttribute mlirMoeCommMethodAttrGet(MlirContext context,
                                                         MoeCommMethod method);
MOE_CAPI_EXPORTED bool mlirAttributeIsAMoeCommMethod(MlirAttribute attr);
MOE_CAPI_EXPORTED MoeCommMethod
mlirMoeCommMethodAttrGetValue(MlirAttribute attr);

MOE_CAPI_EXPORTED MlirType mlirMoePrepareCtxTypeGet(MlirContext context,
                                                    MoeCommMethod method);
MOE_CAPI_EXPORTED bool mlirTypeIsAMoePrepareCtx(MlirType type);
MOE_CAPI_EXPORTED MoeCommMethod mlirMoePrepareCtxTypeGetMethod(MlirType type);
MOE_CAPI_EXPORTED MlirType mlirMoeDispatchCtxTypeGet(MlirContext context,
                                                     MoeCommMethod method);
MOE_CAPI_EXPORTED bool mlirTypeIsAMoeDispatchCtx(MlirType type);
MOE_CAPI_EXPORTED MoeCommMethod mlirMoeDispatchCtxTypeGetMethod(MlirType type);

/*===----------------------------------------------------------------------===
 * Quantization: #moe.quant<...> and its descriptors #moe.qdesc<...>
 *===----------------------------------------------------------------------===*/

/* Values equal the dialect's QuantScheme and QuantDtype. */
typedef enum MoeQuantScheme {
  MOE_QUANT_NONE = 0,
  MOE_QUANT_W8A8_DYNAMIC = 1,
  MOE_QUANT_W4A8_DYNAMIC = 2,
  MOE_QUANT_CUSTOM = 3,
} MoeQuantScheme;

typedef enum MoeQuantDtype {
  MOE_QUANT_DTYPE_UNSET = -1, /* seed 003's None: not quantized */
  MOE_QUANT_DTYPE_F32 = 0,
  MOE_QUANT_DTYPE_BF16 = 1,
  MOE_QUANT_DTYPE_F16 = 2,
  MOE_QUANT_DTYPE_FP8_E4M3 = 3,
  MOE_QUANT_DTYPE_INT8 = 4,
  MOE_QUANT_DTYPE_INT4 = 5,
  MOE_QUANT_DTYPE_MXFP4 = 6,
  MOE_QUANT_DTYPE_NVFP4 = 7,
  MOE_QUANT_DTYPE_FP8_E5M2 = 8,
  MOE_QUANT_DTYPE_MXFP6_E3M2 = 9,
  MOE_QUANT_DTYPE_MXFP6_E2M3 = 10,
} MoeQuantDtype;

/* A named scheme: none, w8a8_dynamic, or w4a8_dynamic with `groupSize`
 * (ignored by the others). MOE_QUANT_CUSTOM is an error: build custom
 * schemes with mlirMoeQuantAttrGetCustom. */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeQuantAttrGet(MlirContext context,
                                                    MoeQuantScheme scheme,
                                                    int64_t groupSize);
/* Four descriptors (null attribute: absent); checked against the rules of
 * docs/Rationale.md. */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeQuantAttrGetCustom(MlirContext context,
                                                          MlirAttribute a1,
                                                          MlirAttribute a2,
                                                          MlirAttribute w1,
                                                          MlirAttribute w2);
MOE_CAPI_EXPORTED bool mlirAttributeIsAMoeQuant(MlirAttribute attr);
MOE_CAPI_EXPORTED MoeQuantScheme mlirMoeQuantAttrGetScheme(MlirAttribute attr);
/* The w4a8 group size along the reduced dimension (0 for other schemes). */
MOE_CAPI_EXPORTED int64_t mlirMoeQuantAttrGetGroupSize(MlirAttribute attr);
/* Descriptor 0..3 = a1, a2, w1, w2 (null when absent). */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeQuantAttrGetDesc(MlirAttribute attr,
                                                        int32_t index);

/* #moe.qdesc<dtype, group shape>: (rows, cols), -1 spans a dimension, 0 for
 * no group shape (float dtypes, mxfp4, nvfp4). */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeQuantDescAttrGet(MlirContext context,
                                                        MoeQuantDtype dtype,
                                                        int64_t groupRows,
                                                        int64_t groupCols);
MOE_CAPI_EXPORTED bool mlirAttributeIsAMoeQuantDesc(MlirAttribute attr);
MOE_CAPI_EXPORTED MoeQuantDtype
mlirMoeQuantDescAttrGetDtype(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeQuantDescAttrGetGroupRows(MlirAttribute attr);
MOE_CAPI_EXPORTED int64_t mlirMoeQuantDescAttrGetGroupCols(MlirAttribute attr);

/*===----------------------------------------------------------------------===
 * Seed 003's FusedMoEQuantConfig: its constructor and queries on #moe.quant
 * (docs/Quantization.md, "Descriptor queries").
 *===----------------------------------------------------------------------===*/

/* FusedMoEQuantConfig.make: activations `quantDtype` (UNSET: not quantized)
 * per tensor, or per token with `perActTokenQuant`; weights `weightDtype`
 * (UNSET: as `quantDtype`) without a group shape, or per output channel with
 * `perOutChQuant`; `blockShape` (2 values, or NULL) shapes both instead.
 * Null attribute and MOE_STATUS_INVALID_ARGUMENT (moeGetLastError) where the
 * seed asserts or the descriptor rules reject the result. */
MOE_CAPI_EXPORTED MlirAttribute mlirMoeQuantAttrMake(
    MlirContext context, MoeQuantDtype quantDtype, bool perActTokenQuant,
    bool perOutChQuant, const int64_t *blockShape, MoeQuantDtype weightDtype);

/* The config's boolean properties, named as the seed names them. */
typedef enum MoeQuantProperty {
  MOE_QUANT_IS_QUANTIZED = 0,      /* is_quantized */
  MOE_QUANT_PER_ACT_TOKEN = 1,     /* per_act_token_quant */
  MOE_QUANT_PER_OUT_CH = 2,        /* per_out_ch_quant */
  MOE_QUANT_IS_PER_TENSOR = 3,     /* is_per_tensor */
  MOE_QUANT_IS_BLOCK_QUANTIZED = 4, /* is_block_quantized */
  MOE_QUANT_USE_FP8_W8A8 = 5,      /* use_fp8_w8a8 */
  MOE_QUANT_USE_INT8_W8A8 = 6,     /* use_int8_w8a8 */
  MOE_QUANT_USE_INT8_W8A16 = 7,    /* use_int8_w8a16 */
  MOE_QUANT_USE_INT4_W4A16 = 8,    /* use_int4_w4a16 */
  MOE_QUANT_USE_INT4_W4A8 = 9,     /* use_int4_w4a8 (vllm-ascend's w4a8) */
  MOE_QUANT_USE_MXFP4_W4A16 = 10,  /* use_mxfp4_w4a16 */
  MOE_QUANT_USE_MXFP4_W4A4 = 11,   /* use_mxfp4_w4a4 (OCP MX w_mxfp4_a_mxfp4) */
  MOE_QUANT_USE_NVFP4_W4A4 = 12,   /* use_nvfp4_w4a4 */
  MOE_QUANT_PROPERTY_COUNT = 13
} MoeQuantProperty;

/* The seed's name of `property` ("use_fp8_w8a8"); NULL when out of range. */
MOE_CAPI_EXPORTED const char *moeQuantPropertyGetName(MoeQuantProperty property);
/* Whether the #moe.quant `attr` has `property`. */
MOE_CAPI_EXPORTED bool mlirMoeQuantAttrHas(MlirAttribute attr,
                                           MoeQuantProperty property);
/* quant_dtype: the activations' quantized dtype, or UNSET. */
MOE_CAPI_EXPORTED MoeQuantDtype mlirMoeQuantAttrGetQuantDtype(MlirAttribute attr);
/* block_shape into out[2]; false (out untouched) when not block quantized. */
MOE_CAPI_EXPORTED bool mlirMoeQuantAttrGetBlockShape(MlirAttribute attr,
                                                     int64_t *out);
/* ocp_mx_scheme ("w_mxfp4_a_mxfp4", ...); an empty string when None. */
MOE_CAPI_EXPORTED MlirStringRef mlirMoeQuantAttrGetOcpMxScheme(MlirAttribute attr);
/* config_name(dtype) for activations of `activationType` ("fp8_w8a8",
 * "int8_w8a16", "int4_w4a16", "float32"); an empty string when None. */
MOE_CAPI_EXPORTED MlirStringRef
mlirMoeQuantAttrGetConfigName(MlirAttribute attr, MlirType activationType);
/* scale_shape(max_tokens, hidden_dim) into out[2] and
 * batched_scale_shape(num_experts, ...) into out[3]; false when None. */
MOE_CAPI_EXPORTED bool mlirMoeQuantAttrGetScaleShape(MlirAttribute attr,
                                                     int64_t maxTokens,
                                                     int64_t hiddenDim,
                                                     int64_t *out);
MOE_CAPI_EXPORTED bool
mlirMoeQuantAttrGetBatchedScaleShape(MlirAttribute attr, int64_t numExperts,
                                     int64_t maxTokens, int64_t hiddenDim,
                                     int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_ATTRIBUTES_H */
