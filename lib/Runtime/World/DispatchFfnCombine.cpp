//===- DispatchFfnCombine.cpp - fused MC2 ---------------------------------===//
//
// npu.dispatch_ffn_combine: what vllm-ascend's dispatch_ffn_combine kernel
// does in one launch, as the MC2 dispatch, the local experts' grouped MLP
// (the sequence convert-moe-to-npu emits for mc2, docs/Expansion.md) and the
// MC2 combine.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Mc2.h"

namespace moert {

Tensor dispatchFfnCombine(Comm &ep, const Tensor &x, const Tensor &expertIds,
                          const Tensor &probs, const Tensor *mask,
                          const Tensor &w13, const Tensor &w2,
                          const Tensor *scale1, const Tensor *scale2,
                          MatmulQuant quant, int64_t epWorldSize,
                          int64_t moeExpertNum, int64_t capacity) {
  const char *op = "npu.dispatch_ffn_combine";
  MOE_CHECK(quant == MatmulQuant::None || quant == MatmulQuant::W8A8,
            std::string(op) + ": runs unquantized or w8a8 experts");
  bool w8a8 = quant == MatmulQuant::W8A8;
  MOE_CHECK(!w8a8 || (scale1 && scale2),
            std::string(op) + ": w8a8 experts need both weight scales");
  // Quantized experts take int8 rows: quantize during the dispatch.
  DistributeDispatchResult d = distributeDispatch(
      ep, x, expertIds, mask, epWorldSize, moeExpertNum, w8a8 ? 2 : 0,
      capacity, GroupListType::Count);
  const Tensor &counts = d.expertTokenNums;
  Tensor y;
  if (!w8a8) {
    Tensor h = groupedMatmul(d.expandX, w13, counts, {}, MatmulQuant::None,
                             GroupListType::Count, x.dtype);
    y = groupedMatmul(swiglu(h), w2, counts, {}, MatmulQuant::None,
                      GroupListType::Count, x.dtype);
  } else {
    Tensor h = groupedMatmul(d.expandX, w13, counts, {}, MatmulQuant::W8A8,
                             GroupListType::Count, DType::I32);
    auto [q, s] = dequantSwigluQuant(h, *scale1, d.dynamicScales, counts,
                                     GroupListType::Count);
    MatmulScales scales{scale2, &s, nullptr};
    y = groupedMatmul(q, w2, counts, scales, MatmulQuant::W8A8,
                      GroupListType::Count, x.dtype);
  }
  return distributeCombine(ep, y, expertIds, d.expandIdx, d.epRecvCounts,
                           probs, mask, /*sharedX=*/nullptr, epWorldSize,
                           moeExpertNum);
}

} // namespace moert
