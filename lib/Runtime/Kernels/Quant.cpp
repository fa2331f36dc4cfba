//===- Quant.cpp - dynamic quantization and SwiGLU ------------------------===//
//
// Operand checks and row loops; the rows themselves are the kernel
// table's swigluRow and quantizeRow (QuantRows.cpp, QuantAvx2.cpp).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"
#include "MatmulKernels.h"

#include <algorithm>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kQuant = "npu.dynamic_quant";
constexpr const char *kSwiglu = "npu.swiglu";
constexpr const char *kDsq = "npu.dequant_swiglu_quant";

void requireGateUp(const Tensor &x, const char *op) {
  requireRank(x, {2}, op, "x");
  MOE_REQUIRE(x.dim(1) % 2 == 0, op,
              "x needs an even number of columns (gate and up halves), got " +
                  x.str());
}
} // namespace

std::pair<Tensor, Tensor> dynamicQuant(const Tensor &x) {
  requireRank(x, {2}, kQuant, "x");
  requireFloat(x, kQuant, "x");
  int64_t m = x.dim(0), k = x.dim(1);
  Tensor q = Tensor::empty(DType::I8, {m, k});
  Tensor scale = Tensor::empty(DType::F32, {m});
  const KernelTable &kt = kernels();
  parallelFor(m, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(k);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * k, k, row.data());
      scale.data<float>()[i] =
          kt.quantizeRow(row.data(), k, q.data<int8_t>() + i * k);
    }
  });
  return {q, scale};
}

Tensor swiglu(const Tensor &x) {
  requireGateUp(x, kSwiglu);
  requireFloat(x, kSwiglu, "x");
  int64_t m = x.dim(0), n = x.dim(1) / 2;
  Tensor out = Tensor::empty(x.dtype, {m, n});
  const KernelTable &kt = kernels();
  parallelFor(m, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> row(2 * n), a(n);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * 2 * n, 2 * n, row.data());
      kt.swigluRow(row.data(), n, a.data());
      storeF32(out, i * n, n, a.data());
    }
  });
  return out;
}

std::pair<Tensor, Tensor> dequantSwigluQuant(const Tensor &x,
                                             const Tensor &weightScale,
                                             const Tensor &activationScale,
                                             const Tensor &groupList,
                                             GroupListType type) {
  requireGateUp(x, kDsq);
  requireType(x, DType::I32, kDsq, "x");
  requireRank(weightScale, {2}, kDsq, "weight scale");
  requireType(weightScale, DType::F32, kDsq, "weight scale");
  requireRank(activationScale, {1}, kDsq, "activation scale");
  requireType(activationScale, DType::F32, kDsq, "activation scale");
  int64_t m = x.dim(0), n2 = x.dim(1), n = n2 / 2;
  MOE_REQUIRE(activationScale.dim(0) == m, kDsq,
              "activation scale has " + num(activationScale.dim(0)) +
                  " entries for " + num(m) + " rows");
  MOE_REQUIRE(weightScale.dim(1) == n2, kDsq,
              "weight scale " + weightScale.str() + " needs " + num(n2) +
                  " columns like x " + x.str());
  std::vector<int64_t> ends = groupEnds(groupList, type, m, kDsq);
  MOE_REQUIRE(static_cast<int64_t>(ends.size()) == weightScale.dim(0), kDsq,
              "group list has " + num(ends.size()) + " groups, weight scale " +
                  num(weightScale.dim(0)));
  // Group of every row; -1 past the last group.
  std::vector<int32_t> groupOf(m, -1);
  for (size_t g = 0, r = 0; g < ends.size(); ++g)
    for (; static_cast<int64_t>(r) < ends[g]; ++r)
      groupOf[r] = static_cast<int32_t>(g);
  Tensor q = Tensor::zeros(DType::I8, {m, n});
  Tensor scale = Tensor::zeros(DType::F32, {m});
  const KernelTable &kt = kernels();
  parallelFor(m, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> h(n2), a(n);
    for (int64_t i = begin; i < end; ++i) {
      if (groupOf[i] < 0)
        continue;
      const int32_t *xi = x.data<int32_t>() + i * n2;
      const float *ws = weightScale.data<float>() + groupOf[i] * n2;
      float as = activationScale.data<float>()[i];
      for (int64_t c = 0; c < n2; ++c)
        h[c] = static_cast<float>(xi[c]) * as * ws[c];
      kt.swigluRow(h.data(), n, a.data());
      scale.data<float>()[i] =
          kt.quantizeRow(a.data(), n, q.data<int8_t>() + i * n);
    }
  });
  return {q, scale};
}

} // namespace moert
