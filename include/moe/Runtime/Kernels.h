//===- Kernels.h - local kernels of the npu device ops ----------*- C++ -*-===//
//
// One function per npu op (or per local part of one): the CPU semantics of
// the device operator it stands for (docs/Dialects/NpuDialect.md, SEMANTICS
// §3-§7). Kernels are pure: they read their inputs, return new tensors and
// throw moert::Error naming the op on bad input. Communication lives in
// Comm.h; streams and the C ABI elsewhere.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_KERNELS_H
#define MOE_RUNTIME_KERNELS_H

#include "moe/Runtime/Tensor.h"

#include <utility>

namespace moert {

// Scoring, GroupListType and MatmulQuant are the npu dialect's (Enums.h).

//===----------------------------------------------------------------------===//
// Routing (Routing.cpp, Gating.cpp)
//===----------------------------------------------------------------------===//

struct GatingParams {
  int64_t k = 1;
  Scoring scoring = Scoring::Softmax;
  bool renormalize = false;
  int64_t groupCount = 0; // 0: no grouped top-k
  int64_t kGroup = 0;
  /// k / groupCount experts from every group (kGroup == groupCount).
  bool balanced = false;
  float routedScalingFactor = 1.0f;
};
/// npu.moe_gating_top_k: logits [T, E] (f32/bf16/f16), bias [E] f32 or
/// null -> {weights [T, K] f32, ids [T, K] i32}. Scores are computed in f32;
/// the bias only steers the selection; with groups a group scores by its best
/// score, or with a bias by the sum of its two best biased scores; ties go
/// to the lower expert id; renormalize, then scale.
std::pair<Tensor, Tensor> gatingTopK(const Tensor &logits, const Tensor *bias,
                                     const GatingParams &params);

/// npu.map_expert_ids: table[ids]; an id outside the table is an error.
Tensor mapExpertIds(const Tensor &ids, const Tensor &table);

/// npu.mask_weights: weights * (expert_map[ids] != -1).
Tensor maskWeights(const Tensor &weights, const Tensor &ids,
                   const Tensor &expertMap);

struct InitRoutingResult {
  Tensor expandedX;      // [N, H]: x's type, or i8 with quantMode 1
  Tensor expandedRowIdx; // [N] i32: pair index t * K + k of every row
  Tensor expertTokens;   // [L] i64: counts or cumulative ends
  Tensor expandedScale;  // [N] f32 when x is int8 (carried) or quantMode 1;
                         // an empty Tensor (no storage) otherwise
};
/// npu.moe_init_routing: ids [T, K] or [T] i32; pairs with expert in
/// [start, start + L) stable-sorted by expert; scale [T] f32 required iff x
/// is i8; quantMode -1 (none) or 1 (dynamic per-row int8, as dynamicQuant).
InitRoutingResult initRouting(const Tensor &x, const Tensor &ids,
                              const Tensor *scale, int64_t start,
                              int64_t localExperts, int64_t expertNum,
                              int64_t quantMode, GroupListType type);

struct MogeDispatchResult {
  Tensor rows;       // [N, H], N = T * kPerRank: x[sortedIds[n] / kPerRank]
  Tensor sortedIds;  // [N] i32: stable argsort of the flat local ids
  Tensor groupList;  // [L] i64: counts or cumulative ends per local expert
  Tensor topkScales; // [N, 1] f32: the local weight of pair sortedIds[n]
};
/// npu.moge_dispatch (seed 002 TokenDispatcherWithMoge.token_dispatch):
/// ids [T, K] i32 and weights [T, K] f32; of every token exactly kPerRank
/// ids lie in [start, start + L) (else an error naming the token); in k
/// order they are its local ids (id - start) and weights [T, kPerRank].
MogeDispatchResult mogeDispatch(const Tensor &x, const Tensor &ids,
                                const Tensor &weights, int64_t start,
                                int64_t localExperts, int64_t kPerRank,
                                GroupListType type);

/// npu.moge_combine (TokenDispatcherWithMoge.token_combine): rows [N, H]
/// in the order of sortedIds [N] (a permutation of [0, N), N a multiple of
/// kPerRank) -> out [N / kPerRank, H], out[t] = sum over j = 0..kPerRank-1
/// (in that order, f32) of rows[n] with sortedIds[n] = t * kPerRank + j.
Tensor mogeCombine(const Tensor &rows, const Tensor &sortedIds,
                   int64_t kPerRank);

/// npu.moe_token_permute: indices [T, K] or [T] i32 -> {permuted [T*K, H],
/// sorted_indices [T*K] i32} with sorted = stable argsort of the flat
/// indices and permuted[i] = tokens[sorted[i] / K].
std::pair<Tensor, Tensor> tokenPermute(const Tensor &tokens,
                                       const Tensor &indices);

/// npu.moe_token_unpermute: sorted[i] is the pair index of row i. With
/// probs [T, K]: out [T, H], out[t] = sum over k = 0..K-1 (in that order)
/// of probs[t, k] * permuted[row of pair t*K+k] (pairs without a row add
/// nothing). Without probs: out [N, H], out[sorted[i]] = permuted[i].
/// Accumulates in f32; the result has permuted's type.
Tensor tokenUnpermute(const Tensor &permuted, const Tensor &sortedIndices,
                      const Tensor *probs);

/// npu.histogram: counts [bins] i64 of ids equal to 0..bins-1; other ids
/// are an error.
Tensor histogram(const Tensor &ids, int64_t bins);

struct AllToAllSplits {
  Tensor inputSplits;     // [R] i64: rows this rank sends to each rank
  Tensor outputSplits;    // [R] i64: rows it receives from each rank
  Tensor tokensPerExpert; // [L] i64: received rows per local expert
  Tensor recvExpertIds;   // [N] i32: local expert of every received row
};
/// npu.alltoall_splits on member `rank` of a group of `ranks`: localCounts
/// [E] i64, globalCounts [R * E] i64 (row p = member p's local counts),
/// L = localExperts, E = R * L. Received rows come ordered by source rank,
/// then local expert.
AllToAllSplits alltoallSplits(const Tensor &localCounts,
                              const Tensor &globalCounts, int64_t localExperts,
                              int64_t rank, int64_t ranks);

//===----------------------------------------------------------------------===//
// Quantization and activations (Quant.cpp)
//===----------------------------------------------------------------------===//

/// npu.dynamic_quant: x [M, K] float -> {q [M, K] i8, scale [M] f32} with
/// scale = max|row| / 127, q = round-half-even(x / scale) clamped to
/// [-127, 127]; an all-zero row gives scale 0 and zeros.
std::pair<Tensor, Tensor> dynamicQuant(const Tensor &x);

/// npu.swiglu: x [M, 2I] -> [M, I] = silu(x[:, :I]) * x[:, I:], computed in
/// f32, result in x's type.
Tensor swiglu(const Tensor &x);

/// npu.dequant_swiglu_quant: x [M, 2I] i32, weightScale [G, 2I] f32,
/// activationScale [M] f32, groupList [G] i64 -> dynamicQuant(swiglu(
/// x * activationScale[m] * weightScale[g(m)])). Rows past the groups are
/// zero.
std::pair<Tensor, Tensor> dequantSwigluQuant(const Tensor &x,
                                             const Tensor &weightScale,
                                             const Tensor &activationScale,
                                             const Tensor &groupList,
                                             GroupListType type);

/// npu.quant_dequant (QuantFormats.cpp): x [M, K] float -> [M, K] f32, each
/// group of `groupSize` columns of a row (0: the whole row) quantized to
/// `format` with scale = max|group| / formatMax(format) and dequantized:
/// out = roundToFormat(x / scale, format) * scale (f32); a zero group stays
/// zero, a group with a NaN becomes NaN. docs/Quantization.md.
Tensor quantDequant(const Tensor &x, QuantFormat format, int64_t groupSize);

/// npu.dequantize_weights (QuantFormats.cpp): weight [L, K, N] (i8 for
/// Int8, f8e4m3fn / f8e5m2 bit patterns for the fp8 formats), scale
/// [L, K / blockK, N / blockN] f32 -> [L, K, N] of float type `out`:
/// value(w[l, k, n]) * scale[l, k / blockK, n / blockN] in f32, rounded to
/// `out` (nearest even).
Tensor dequantizeWeights(const Tensor &weight, const Tensor &scale,
                         QuantFormat format, int64_t blockK, int64_t blockN,
                         DType out);

/// npu.quant_dequant with mxfp4 / nvfp4 (QuantFp4.cpp): x [M, K] float ->
/// [M, K] f32. mxfp4 (groupSize 32): per block of 32 columns the OCP MX
/// shared scale X = 2^(floor(log2 amax) - 2) (E8M0), out = e2m1(x / X) * X.
/// nvfp4 (groupSize 16): the row's global scale g = amax_row / 2688, per
/// block of 16 sf = e4m3((amax_b / 6) / g), out = (e2m1(x / (sf * g)) * sf)
/// * g. All in f32; docs/Quantization.md, "mxfp4 and nvfp4".
Tensor quantDequantFp4(const Tensor &x, QuantFormat format, int64_t groupSize);

/// npu.dequantize_fp4_weights (QuantFp4.cpp): packed e2m1 weight
/// [L, K / 2, N] (i8 bytes, row 2j in the low nibble of byte j), scale
/// [L, K / 32, N] E8M0 codes (i8, mxfp4) or [L, K / 16, N] f8e4m3fn
/// (nvfp4), globalScale [L] f32 (nvfp4 only, else null) -> [L, K, N] of
/// float type `out`: mxfp4 e2m1 * 2^(s - 127); nvfp4 (e2m1 * e4m3) *
/// global, in f32, rounded to `out`.
Tensor dequantizeFp4Weights(const Tensor &weight, const Tensor &scale,
                            const Tensor *globalScale, QuantFormat format,
                            DType out);

//===----------------------------------------------------------------------===//
// Matmuls (Matmul.cpp)
//===----------------------------------------------------------------------===//

/// Operands of a matmul beyond x and the weight (null when absent).
struct MatmulScales {
  const Tensor *scale = nullptr;         // [G?, N] f32 per output channel
  const Tensor *perTokenScale = nullptr; // [M] f32
  const Tensor *groupScale = nullptr;    // [G?, K / gs, N] f32 (w4a8)
  const Tensor *bias = nullptr;          // [G?, N] f32 (w4a8, kernel form)
};

/// npu.grouped_matmul: x [M, K], weight [G, K, N], groupList [G] i64 ->
/// [M, N] of `out` type; rows after the last group are zero.
/// None: float x/weight, f32 accumulation. W8A8: i8 x and weight, i32
/// accumulation, raw (out = I32) or * perToken[m] * scale[g, n] (float
/// out). W4A8: i8 x, i4 weight, i32 accumulation per block of gs rows of K
/// scaled by groupScale[g, block, n], then * perToken[m] * scale[g, n].
/// W4A8 with a bias (the NPU kernel's form, docs/Quantization.md): the
/// blocks accumulate (x - 8) . w exactly, are scaled by groupScale (the
/// merged scale), summed in block order, + bias[g, n], then * perToken[m];
/// no per-channel scale.
Tensor groupedMatmul(const Tensor &x, const Tensor &weight,
                     const Tensor &groupList, const MatmulScales &scales,
                     MatmulQuant quant, GroupListType type, DType out);

/// What npu.w4a8_process_weights makes of one checkpoint weight stack.
struct W4A8Weights {
  Tensor weight; // [L, K, N] i4, packed two per byte
  Tensor scale;  // [L, K / gs, N] f32: fp16(scale * scale_second)
  Tensor bias;   // [L, N] f32: 8 * sum_k w * scale_second * scale
};

/// npu.w4a8_process_weights (seed 001, process_weights_after_loading of
/// the w4a8_dynamic fused-MoE method): weight [L, N, K] i8 holding int4
/// values, scale [L, N, 1] and scale_second [L, N, K / gs] (f32, bf16 or
/// f16, one dtype) -> the operands of the w4a8 kernel form of
/// groupedMatmul. With `scaleBias [L, N, P]` f32 (quant version 1.0.0) the
/// weight is [L, N / 2, K], two values per byte along N (channel 2j in the
/// low nibble), and the bias is scaleBias summed over P.
/// docs/Quantization.md.
W4A8Weights w4a8ProcessWeights(const Tensor &weight, const Tensor &scale,
                               const Tensor &scaleSecond,
                               const Tensor *scaleBias = nullptr);

/// npu.pack_weights (PackWeights.cpp): the f32, int8 (w8a8) or int4
/// (w4a8) weight stack [G, K, N] in the layout its packed kernel reads
/// (packedLayout; MatmulKernels.h): f32 as 16-column strips over the whole
/// K when the process's kernels have gemmF32Packed (x86-64 variants) and
/// N % 16 == 0; int8 and int4 as k-quads when they have the vpdpbusd
/// kernels and K % 4 == 0, N % 16 (int8) or 32 (int4) == 0; int8 as
/// k-pairs (StorageLayout::PackedPairs) when they have gemmI8Packed
/// instead (AVX2, AVX-512 without VNNI) and K % 2 == 0, N % 16 == 0.
/// Otherwise `weight` itself, row-major; an f32 stack also when it
/// cannot be packed in place (a packed copy would hold it twice).
/// `inPlace` (the driver donated its load-time inputs) repacks the
/// weight's own storage (when the runtime owns it: never a borrowed
/// buffer, Tensor.h's BorrowedStorage), one group at a time, instead of a
/// copy: the tensor's storage then holds the packed bytes. A storage packed
/// in place before is not packed again (ranks may share one weight); a
/// plain matmul then refuses it (checkNotPackedInPlace).
/// docs/Runtime.md, "Packed weights".
Tensor packWeights(const Tensor &weight, bool inPlace);
/// Whether packWeights packs a [G, k, n] stack of `dtype` with this
/// process's kernels (the rule in one place: the planner's calibration
/// skips the shapes it packs).
bool packsWeights(DType dtype, int64_t k, int64_t n);
/// The layout packWeights gives a [G, k, n] stack of `dtype` with this
/// process's kernels (RowMajor when it does not pack it); a packed weight
/// in any other layout is refused by npu.grouped_matmul.
StorageLayout packedLayout(DType dtype, int64_t k, int64_t n);
/// Whether `weight`'s storage was packed in place by packWeights.
bool packedInPlace(const Tensor &weight);
/// Says that `weight`'s storage holds packed bytes as if packed in place
/// (EPLB copies whole packed expert slices into a new weight stack).
void markPackedInPlace(const Tensor &weight);
/// Throws Error naming `op` when `weight`'s storage was packed in place
/// but `weight` reads it row-major (the caller passed a donated weight to
/// an executable that does not pack it).
void checkNotPackedInPlace(const Tensor &weight, const char *op);

/// npu.weight_quant_matmul (seed 001's AscendW4A8DynamicLinearMethod, the
/// w4a8 shared experts): x [M, K] float, weight [K, N] i4, antiquantScale
/// [K / groupSize, N] f32 -> [M, N] of x's type: w = round_x(W *
/// round_x(antiquantScale)), f32 accumulation of x . w, rounded to x's
/// type (round_x: to x's type, nearest even). docs/Quantization.md.
Tensor weightQuantMatmul(const Tensor &x, const Tensor &weight,
                         const Tensor &antiquantScale, int64_t groupSize);

/// npu.matmul: x [M, K] . weight [K, N], scales without the G dimension.
Tensor matmul(const Tensor &x, const Tensor &weight,
              const MatmulScales &scales, MatmulQuant quant, DType out);

/// Row ends of the groups of a group list (both types), checked against
/// the `rows` available: "npu.<op>: group list needs N rows, x has M".
std::vector<int64_t> groupEnds(const Tensor &groupList, GroupListType type,
                               int64_t rows, const char *op);

//===----------------------------------------------------------------------===//
// Rows and elementwise (Rows.cpp)
//===----------------------------------------------------------------------===//

/// npu.pad_rows: zero rows appended up to `rows` (unchanged when larger).
Tensor padRows(const Tensor &x, int64_t rows);
/// npu.slice_rows: the first `rows` rows (more than available is an error).
Tensor sliceRows(const Tensor &x, int64_t rows);
/// npu.tensor_split: torch.tensor_split(x, parts)[index] along rows.
Tensor tensorSplit(const Tensor &x, int64_t parts, int64_t index);
/// npu.mc2_mask: [rows] i1, the first `valid` true.
Tensor mc2Mask(int64_t valid, int64_t rows);
/// npu.add: elementwise, same shape and type.
Tensor add(const Tensor &lhs, const Tensor &rhs);
/// npu.scale_rows: x[t, :] * weights[t, 0] (x float, weights [T, 1] f32).
Tensor scaleRows(const Tensor &x, const Tensor &weights);
/// npu.sigmoid_gate: [T, 1] f32 sigmoid(x[t, :] . weight[:, 0]), the dot
/// product accumulated in f32 in order (x, weight float).
Tensor sigmoidGate(const Tensor &x, const Tensor &weight);
/// npu.ones_like: f32 ones of `like`'s shape.
Tensor onesLike(const Tensor &like);
/// Rows of `x` concatenated (all with equal trailing shape and type).
Tensor concatRows(const std::vector<Tensor> &parts);

} // namespace moert

#endif // MOE_RUNTIME_KERNELS_H
