//===- Rows.cpp - row padding, slicing, splitting and elementwise add -----===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kPad = "npu.pad_rows";
constexpr const char *kSlice = "npu.slice_rows";
constexpr const char *kSplit = "npu.tensor_split";
constexpr const char *kMask = "npu.mc2_mask";
constexpr const char *kAdd = "npu.add";
constexpr const char *kConcat = "npu.concat_rows";
constexpr const char *kScaleRows = "npu.scale_rows";
constexpr const char *kOnesLike = "npu.ones_like";
constexpr const char *kSigmoidGate = "npu.sigmoid_gate";

void requireRows(const Tensor &x, const char *op) {
  requireRank(x, {1, 2, 3, 4, 5, 6, 7, 8}, op, "input");
}

/// Byte offset of row `row` of `x`; i4 rows must start on a byte.
size_t rowOffset(const Tensor &x, int64_t row, const char *op) {
  int64_t elems = row * x.rowElems();
  MOE_REQUIRE(x.dtype != DType::I4 || elems % 2 == 0, op,
              "row " + num(row) + " of " + x.str() +
                  " does not start on a byte");
  return storageBytes(x.dtype, elems);
}

/// The rows [begin, end) of x as a new tensor.
Tensor copyRows(const Tensor &x, int64_t begin, int64_t end, const char *op) {
  std::vector<int64_t> shape = x.shape;
  shape[0] = end - begin;
  Tensor out = Tensor::empty(x.dtype, shape);
  size_t from = rowOffset(x, begin, op);
  std::memcpy(out.bytes(), x.bytes() + from, out.nbytes());
  return out;
}
} // namespace

Tensor padRows(const Tensor &x, int64_t rows) {
  requireRows(x, kPad);
  MOE_REQUIRE(rows >= 0, kPad, "negative row count " + num(rows));
  if (rows <= x.dim(0))
    return x;
  std::vector<int64_t> shape = x.shape;
  shape[0] = rows;
  Tensor out = Tensor::zeros(x.dtype, shape);
  std::memcpy(out.bytes(), x.bytes(), x.nbytes());
  return out;
}

Tensor sliceRows(const Tensor &x, int64_t rows) {
  requireRows(x, kSlice);
  MOE_REQUIRE(rows >= 0 && rows <= x.dim(0), kSlice,
              "cannot keep " + num(rows) + " rows of " + x.str());
  if (rows == x.dim(0))
    return x;
  return copyRows(x, 0, rows, kSlice);
}

Tensor tensorSplit(const Tensor &x, int64_t parts, int64_t index) {
  requireRows(x, kSplit);
  MOE_REQUIRE(parts > 0, kSplit, "parts must be positive, got " + num(parts));
  MOE_REQUIRE(index >= 0 && index < parts, kSplit,
              "index " + num(index) + " outside " + num(parts) + " parts");
  // torch.tensor_split: the first M % parts chunks have one row more.
  int64_t m = x.dim(0), base = m / parts, extra = m % parts;
  int64_t begin = index * base + std::min(index, extra);
  int64_t end = begin + base + (index < extra ? 1 : 0);
  return copyRows(x, begin, end, kSplit);
}

Tensor mc2Mask(int64_t valid, int64_t rows) {
  MOE_REQUIRE(rows >= 0 && valid >= 0 && valid <= rows, kMask,
              "valid " + num(valid) + " must be in [0, rows " + num(rows) +
                  "]");
  Tensor out = Tensor::zeros(DType::I1, {rows});
  std::memset(out.bytes(), 1, static_cast<size_t>(valid));
  return out;
}

Tensor scaleRows(const Tensor &x, const Tensor &weights) {
  requireRank(x, {2}, kScaleRows, "x");
  requireFloat(x, kScaleRows, "x");
  requireRank(weights, {2}, kScaleRows, "weights");
  requireType(weights, DType::F32, kScaleRows, "weights");
  MOE_REQUIRE(weights.dim(0) == x.dim(0) && weights.dim(1) == 1, kScaleRows,
              "weights must be [" + num(x.dim(0)) + ", 1] for x " + x.str() +
                  ", got " + weights.str());
  int64_t t = x.dim(0), h = x.dim(1);
  Tensor out = Tensor::empty(x.dtype, x.shape);
  const float *w = weights.data<float>();
  parallelFor(t, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> row(h);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * h, h, row.data());
      for (float &v : row)
        v *= w[i];
      storeF32(out, i * h, h, row.data());
    }
  });
  return out;
}

Tensor sigmoidGate(const Tensor &x, const Tensor &weight) {
  requireRank(x, {2}, kSigmoidGate, "x");
  requireFloat(x, kSigmoidGate, "x");
  requireRank(weight, {2}, kSigmoidGate, "weight");
  requireFloat(weight, kSigmoidGate, "weight");
  int64_t t = x.dim(0), h = x.dim(1);
  MOE_REQUIRE(weight.dim(0) == h && weight.dim(1) == 1, kSigmoidGate,
              "weight must be [" + num(h) + ", 1] for x " + x.str() + ", got " +
                  weight.str());
  std::vector<float> w(h);
  loadF32(weight, 0, h, w.data());
  Tensor out = Tensor::empty(DType::F32, {t, 1});
  float *g = out.data<float>();
  parallelFor(t, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> row(h);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(x, i * h, h, row.data());
      // In order, in f32: the result does not depend on the thread count.
      float logit = 0.0f;
      for (int64_t j = 0; j < h; ++j)
        logit += row[j] * w[j];
      g[i] = 1.0f / (1.0f + std::exp(-logit));
    }
  });
  return out;
}

Tensor onesLike(const Tensor &like) {
  requireType(like, DType::F32, kOnesLike, "operand");
  Tensor out = Tensor::empty(DType::F32, like.shape);
  std::fill_n(out.data<float>(), out.numel(), 1.0f);
  return out;
}

Tensor add(const Tensor &lhs, const Tensor &rhs) {
  MOE_REQUIRE(lhs.storage && rhs.storage, kAdd, "operand has no storage");
  MOE_REQUIRE(lhs.shape == rhs.shape && lhs.dtype == rhs.dtype, kAdd,
              "operands differ: " + lhs.str() + " and " + rhs.str());
  Tensor out = Tensor::empty(lhs.dtype, lhs.shape);
  int64_t n = lhs.numel();
  switch (lhs.dtype) {
  case DType::I32:
    for (int64_t i = 0; i < n; ++i)
      out.data<int32_t>()[i] = static_cast<int32_t>(
          static_cast<uint32_t>(lhs.data<int32_t>()[i]) +
          static_cast<uint32_t>(rhs.data<int32_t>()[i]));
    return out;
  case DType::I64:
    for (int64_t i = 0; i < n; ++i)
      out.data<int64_t>()[i] = static_cast<int64_t>(
          static_cast<uint64_t>(lhs.data<int64_t>()[i]) +
          static_cast<uint64_t>(rhs.data<int64_t>()[i]));
    return out;
  case DType::F32:
  case DType::BF16:
  case DType::F16:
    parallelFor(n, 1 << 16, [&](int64_t begin, int64_t end) {
      const int64_t chunk = 1024;
      float a[chunk], b[chunk];
      for (int64_t i = begin; i < end; i += chunk) {
        int64_t c = std::min(chunk, end - i);
        loadF32(lhs, i, c, a);
        loadF32(rhs, i, c, b);
        for (int64_t j = 0; j < c; ++j)
          a[j] += b[j];
        storeF32(out, i, c, a);
      }
    });
    return out;
  default:
    fail(kAdd, std::string("cannot add ") + dtypeName(lhs.dtype) + " values");
  }
}

Tensor concatRows(const std::vector<Tensor> &parts) {
  MOE_REQUIRE(!parts.empty(), kConcat, "needs at least one part");
  const Tensor &first = parts[0];
  requireRows(first, kConcat);
  int64_t rows = 0;
  for (const Tensor &p : parts) {
    requireRows(p, kConcat);
    MOE_REQUIRE(p.dtype == first.dtype && p.rank() == first.rank() &&
                    std::equal(p.shape.begin() + 1, p.shape.end(),
                               first.shape.begin() + 1),
                kConcat,
                "parts differ in type or trailing shape: " + first.str() +
                    " and " + p.str());
    rows += p.dim(0);
  }
  std::vector<int64_t> shape = first.shape;
  shape[0] = rows;
  Tensor out = Tensor::empty(first.dtype, shape);
  int64_t row = 0;
  for (const Tensor &p : parts) {
    std::memcpy(out.bytes() + rowOffset(out, row, kConcat), p.bytes(),
                p.nbytes());
    row += p.dim(0);
  }
  return out;
}

} // namespace moert
