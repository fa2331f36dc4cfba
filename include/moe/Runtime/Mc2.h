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
  Tensor expandIdx;       // [N] i32: source pair index t * K + k
  Tensor expertTokenNums; // [L] i64: rows per local expert (cumsum/count)
  Tensor epRecvCounts;    // [L * R] i32: rows per (local expert, source)
  Tensor dynamicScales;   // [N] f32 with quant mode 2, else empty
};

/// Rows are grouped by local expert, then source rank, then source pair.
/// Only active tokens (mask[t], all without a mask) send rows. More than
/// `capacity` tokens on a rank (capacity > 0) is an error, as is an
/// `epWorldSize` different from the group's size or an id outside
/// [0, moeExpertNum).
DistributeDispatchResult
distributeDispatch(Comm &ep, const Tensor &x, const Tensor &expertIds,
                   const Tensor *mask, int64_t epWorldSize,
                   int64_t moeExpertNum, int64_t quantMode, int64_t capacity,
                   GroupListType type);

/// Sends rows back and computes out[t] = sum_k scales[t, k] * row(t, k)
/// (k in order, f32 accumulation) + sharedX[t]; inactive tokens are zero.
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
