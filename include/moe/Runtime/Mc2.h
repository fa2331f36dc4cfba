//===- Mc2.h - MC2 dispatch and combine -------------------------*- C++ -*-===//
//
// npu.moe_distribute_dispatch / npu.moe_distribute_combine /
// npu.dispatch_ffn_combine: one fused all-to-all that sends every (token, k)
// pair to the rank owning its expert, and its reverse.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MC2_H
#define MOE_RUNTIME_MC2_H

#include "moe/Runtime/Comm.h"
#include "moe/Runtime/Kernels.h"

namespace moert {

struct DistributeDispatchResult {
  Tensor expandX;         // [N, H]: x's type, or i8 with quant mode 2
  Tensor expandIdx;       // [N] i32: source pair index t * K + k (v1's
                          // expand_idx, v2's assist_info_for_combine)
  Tensor expertTokenNums; // [L] i64: rows per local expert (cumsum/count)
  Tensor epRecvCounts;    // [L * R] i32: rows per (local expert, source)
  Tensor dynamicScales;   // [N] f32 with quant mode 2, else empty
  Tensor tpRecvCounts;    // [tp_world_size] i32 with the TP arguments
  Tensor expandScales;    // [N] f32: each row's pair weight, with
                          // expert_scales (hierarchical communication)
};

/// The group arguments of npu_moe_distribute_dispatch / _combine (seed 002
/// get_dispatch_mc2_kwargs / get_combine_mc_kwargs), equal on every rank
/// except `epRankId`. `tpWorldSize` 0: the call has no TP arguments (not
/// A3).
struct Mc2Contract {
  int64_t epWorldSize = 1;
  int64_t epRankId = 0;
  int64_t tpWorldSize = 0;
  int64_t tpRankId = 0;
  int64_t expertShardType = 0;
  int64_t sharedExpertRankNum = 0;
  int64_t moeExpertNum = 1;
  int64_t globalBs = 0;
};

/// The optional tensors of a dispatch (null: absent).
struct Mc2DispatchInputs {
  const Tensor *scales = nullptr;       // [H] f32 smooth-quant scales
  const Tensor *mask = nullptr;         // [T] x_active_mask
  const Tensor *expertScales = nullptr; // [T, K] f32 pair weights
};

/// Rows are grouped by local expert, then source rank, then source pair.
/// Only active tokens (mask[t], all without a mask) send rows. With
/// `sharedExpertRankNum` S > 0 the first S ranks of the group are
/// shared-expert ranks: routed expert id lives on rank S + id / L (L =
/// moeExpertNum / (epWorldSize - S)), and every active token of rank r also
/// sends one copy (pair index T * K + t) to rank r % S, whose rows are all
/// in its local expert 0 (torch_npu's placement with one shared expert;
/// docs/Rationale.md). Errors, reported on every rank: more than `capacity`
/// tokens on a rank (capacity > 0), more than `globalBs / epWorldSize`
/// tokens (globalBs > 0; it bounds the receive buffer to globalBs * min(K,
/// L) rows, globalBs / S on a shared-expert rank), an `epWorldSize`
/// different from the group's size, an `epRankId` that is not the rank's
/// index in it, an id outside [0, moeExpertNum), a TP domain other than
/// tpWorldSize 1 / tpRankId 0, expertShardType != 0, an S that is not a
/// divisor of epWorldSize below it, S > 0 without the A3 arguments or with
/// `expertScales`. With `scales` (quant mode 2 only) rows are multiplied by
/// them before the per-row quantization; with `expertScales` each row
/// carries its pair's weight back as `expandScales`.
DistributeDispatchResult
distributeDispatch(Comm &ep, const Tensor &x, const Tensor &expertIds,
                   const Mc2DispatchInputs &inputs, const Mc2Contract &contract,
                   int64_t quantMode, int64_t capacity, GroupListType type);

/// The optional tensors of a combine (null: absent).
struct Mc2CombineInputs {
  const Tensor *tpSendCounts = nullptr; // [tp_world_size] i32
  const Tensor *mask = nullptr;         // [T] x_active_mask
  const Tensor *expandScales = nullptr; // [N] f32, the dispatch's
  const Tensor *sharedX = nullptr;      // [T, H] shared-expert output
};

/// Sends rows back and computes out[t] = sum_k w(t, k) * row(t, k) (k in
/// order, f32 accumulation) + shared(t) + sharedX[t]; inactive tokens are
/// zero. shared(t) is the row of t's copy back from its shared-expert rank
/// (S > 0, which excludes sharedX and expandScales).
/// w(t, k) is expertScales[t, k], or with `expandScales` the weight the
/// row of (t, k) carried (checked against nothing else: it is what the
/// dispatch returned). `tpSendCounts` must hold the rows of expand_x.
Tensor distributeCombine(Comm &ep, const Tensor &expandX,
                         const Tensor &expertIds, const Tensor &expandIdx,
                         const Tensor &epSendCounts,
                         const Tensor &expertScales,
                         const Mc2CombineInputs &inputs,
                         const Mc2Contract &contract);

/// The v1 A2 forms (no TP arguments, ep_rank_id = this rank).
DistributeDispatchResult
distributeDispatch(Comm &ep, const Tensor &x, const Tensor &expertIds,
                   const Tensor *mask, int64_t epWorldSize,
                   int64_t moeExpertNum, int64_t quantMode, int64_t capacity,
                   GroupListType type);
Tensor distributeCombine(Comm &ep, const Tensor &expandX,
                         const Tensor &expertIds, const Tensor &expandIdx,
                         const Tensor &epSendCounts,
                         const Tensor &expertScales, const Tensor *mask,
                         const Tensor *sharedX, int64_t epWorldSize,
                         int64_t moeExpertNum);

/// Dispatch, the local experts' SwiGLU MLP (none or w8a8), combine.
Tensor dispatchFfnCombine(Comm &ep, const Tensor &x, const Tensor &expertIds,
                          const Tensor &probs, const Tensor *mask,
                          const Tensor &w13, const Tensor &w2,
                          const Tensor *scale1, const Tensor *scale2,
                          MatmulQuant quant, int64_t epWorldSize,
                          int64_t moeExpertNum, int64_t capacity);

} // namespace moert

#endif // MOE_RUNTIME_MC2_H
