//===- Routing.cpp - expert ids, dispatch bookkeeping and permutes --------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"
#include "MatmulKernels.h"

#include <algorithm>
#include <numeric>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kMap = "npu.map_expert_ids";
constexpr const char *kMask = "npu.mask_weights";
constexpr const char *kInit = "npu.moe_init_routing";
constexpr const char *kPermute = "npu.moe_token_permute";
constexpr const char *kUnpermute = "npu.moe_token_unpermute";
constexpr const char *kHistogram = "npu.histogram";
constexpr const char *kSplits = "npu.alltoall_splits";
constexpr const char *kMogeDispatch = "npu.moge_dispatch";
constexpr const char *kMogeCombine = "npu.moge_combine";

/// Checks that every id lies in [0, size).
void checkIds(const int32_t *ids, int64_t n, int64_t size, const char *op,
              const char *what) {
  for (int64_t i = 0; i < n; ++i)
    MOE_REQUIRE(ids[i] >= 0 && ids[i] < size, op,
                std::string(what) + " " + num(ids[i]) + " (entry " + num(i) +
                    ") outside [0, " + num(size) + ")");
}

/// ids [T, K] or [T] (K = 1) of i32 with T rows; returns K.
int64_t checkTopkIds(const Tensor &ids, int64_t tokens, const char *op,
                     const char *what) {
  requireRank(ids, {1, 2}, op, what);
  requireType(ids, DType::I32, op, what);
  MOE_REQUIRE(ids.dim(0) == tokens, op,
              std::string(what) + " has " + num(ids.dim(0)) + " rows, x has " +
                  num(tokens) + ": " + ids.str());
  return ids.rank() == 2 ? ids.dim(1) : 1;
}

/// Copies row `src` of `from` to row `dst` of `to` (same row size).
inline void copyRow(const Tensor &from, int64_t src, const Tensor &to,
                    int64_t dst, size_t bytes) {
  std::memcpy(to.bytes() + dst * bytes, from.bytes() + src * bytes, bytes);
}

/// Runs copy(i) for i in [0, n) over the kernel threads in chunks of at
/// least 64 KiB of `rowBytes`-byte rows (a fresh output's first-touch page
/// faults are then spread over the threads too).
template <typename Copy>
void copyRows(int64_t n, size_t rowBytes, const Copy &copy) {
  int64_t grain = std::max<int64_t>(
      1, static_cast<int64_t>((size_t(64) << 10) / std::max<size_t>(rowBytes, 1)));
  parallelFor(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      copy(i);
  });
}

/// Row copies are byte copies; i4 rows must be whole bytes.
size_t wholeRowBytes(const Tensor &t, const char *op) {
  MOE_REQUIRE(t.dtype != DType::I4 || t.rowElems() % 2 == 0, op,
              "i4 rows of odd length are not byte-aligned: " + t.str());
  return rowBytes(t);
}
} // namespace

Tensor mapExpertIds(const Tensor &ids, const Tensor &table) {
  requireRank(ids, {2}, kMap, "ids");
  requireType(ids, DType::I32, kMap, "ids");
  requireRank(table, {1}, kMap, "table");
  requireType(table, DType::I32, kMap, "table");
  int64_t n = ids.numel();
  checkIds(ids.data<int32_t>(), n, table.dim(0), kMap, "id");
  Tensor out = Tensor::empty(DType::I32, ids.shape);
  for (int64_t i = 0; i < n; ++i)
    out.data<int32_t>()[i] = table.data<int32_t>()[ids.data<int32_t>()[i]];
  return out;
}

Tensor maskWeights(const Tensor &weights, const Tensor &ids,
                   const Tensor &expertMap) {
  requireRank(weights, {2}, kMask, "weights");
  requireFloat(weights, kMask, "weights");
  requireRank(ids, {2}, kMask, "ids");
  requireType(ids, DType::I32, kMask, "ids");
  requireRank(expertMap, {1}, kMask, "expert map");
  requireType(expertMap, DType::I32, kMask, "expert map");
  MOE_REQUIRE(ids.shape == weights.shape, kMask,
              "ids " + ids.str() + " and weights " + weights.str() +
                  " differ in shape");
  int64_t n = ids.numel();
  checkIds(ids.data<int32_t>(), n, expertMap.dim(0), kMask, "id");
  std::vector<float> w = toF32(weights);
  for (int64_t i = 0; i < n; ++i)
    w[i] *= expertMap.data<int32_t>()[ids.data<int32_t>()[i]] != -1 ? 1.0f
                                                                    : 0.0f;
  Tensor out = Tensor::empty(weights.dtype, weights.shape);
  storeF32(out, 0, n, w.data());
  return out;
}

InitRoutingResult initRouting(const Tensor &x, const Tensor &ids,
                              const Tensor *scale, int64_t start,
                              int64_t localExperts, int64_t expertNum,
                              int64_t quantMode, GroupListType type) {
  requireRank(x, {2}, kInit, "x");
  bool isInt8 = x.dtype == DType::I8;
  MOE_REQUIRE(isFloat(x.dtype) || isInt8, kInit,
              "x must be a float type or i8, got " + x.str());
  int64_t t = x.dim(0), h = x.dim(1);
  int64_t k = checkTopkIds(ids, t, kInit, "expert ids");
  MOE_REQUIRE(expertNum > 0 && localExperts > 0, kInit,
              "expert count " + num(expertNum) + " and local experts " +
                  num(localExperts) + " must be positive");
  MOE_REQUIRE(start >= 0 && start + localExperts <= expertNum, kInit,
              "local range [" + num(start) + ", " + num(start + localExperts) +
                  ") outside the " + num(expertNum) + " experts");
  MOE_REQUIRE(quantMode == -1 || quantMode == 1, kInit,
              "quant mode must be -1 or 1, got " + num(quantMode));
  MOE_REQUIRE(!(quantMode == 1 && isInt8), kInit,
              "quant mode 1 quantizes float rows; x is already " + x.str());
  MOE_REQUIRE(isInt8 == (scale != nullptr), kInit,
              isInt8 ? "int8 x needs its per-token scale"
                     : "a scale is only carried with int8 x");
  if (scale) {
    requireRank(*scale, {1}, kInit, "scale");
    requireType(*scale, DType::F32, kInit, "scale");
    MOE_REQUIRE(scale->dim(0) == t, kInit,
                "scale has " + num(scale->dim(0)) + " entries for " + num(t) +
                    " tokens");
  }
  const int32_t *id = ids.data<int32_t>();
  checkIds(id, t * k, expertNum, kInit, "expert id");

  // Counting sort of the local pairs by expert: stable.
  std::vector<int64_t> counts(localExperts, 0);
  for (int64_t j = 0; j < t * k; ++j)
    if (id[j] >= start && id[j] < start + localExperts)
      ++counts[id[j] - start];
  std::vector<int64_t> offset(localExperts + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), offset.begin() + 1);
  int64_t n = offset[localExperts];
  InitRoutingResult r;
  r.expandedRowIdx = Tensor::empty(DType::I32, {n});
  int32_t *rowIdx = r.expandedRowIdx.data<int32_t>();
  for (int64_t j = 0; j < t * k; ++j)
    if (id[j] >= start && id[j] < start + localExperts)
      rowIdx[offset[id[j] - start]++] = static_cast<int32_t>(j);

  r.expertTokens = Tensor::empty(DType::I64, {localExperts});
  int64_t *tokens = r.expertTokens.data<int64_t>();
  for (int64_t e = 0, run = 0; e < localExperts; ++e)
    tokens[e] = type == GroupListType::Count ? counts[e] : (run += counts[e]);

  if (quantMode == 1) {
    r.expandedX = Tensor::empty(DType::I8, {n, h});
    r.expandedScale = Tensor::empty(DType::F32, {n});
    int8_t *q = r.expandedX.data<int8_t>();
    float *qs = r.expandedScale.data<float>();
    // A token's K rows are the same row quantized the same way: each token
    // is quantized once, into its first row, and copied into the others
    // (K times less quantization; bit-identical rows).
    std::vector<int64_t> first(t, -1), quantized;
    for (int64_t i = 0; i < n; ++i)
      if (first[rowIdx[i] / k] < 0) {
        first[rowIdx[i] / k] = i;
        quantized.push_back(i);
      }
    QuantizeRowFn quantizeRow = kernels().quantizeRow;
    parallelFor(static_cast<int64_t>(quantized.size()), 16,
                [&](int64_t begin, int64_t end) {
                  std::vector<float> row(h);
                  for (int64_t j = begin; j < end; ++j) {
                    int64_t i = quantized[j];
                    loadF32(x, (rowIdx[i] / k) * h, h, row.data());
                    qs[i] = quantizeRow(row.data(), h, q + i * h);
                  }
                });
    copyRows(n, static_cast<size_t>(h), [&](int64_t i) {
      int64_t from = first[rowIdx[i] / k];
      if (from != i) {
        std::memcpy(q + i * h, q + from * h, static_cast<size_t>(h));
        qs[i] = qs[from];
      }
    });
    return r;
  }
  r.expandedX = Tensor::empty(x.dtype, {n, h});
  size_t bytes = rowBytes(x);
  copyRows(n, bytes, [&](int64_t i) {
    copyRow(x, rowIdx[i] / k, r.expandedX, i, bytes);
  });
  if (isInt8) {
    r.expandedScale = Tensor::empty(DType::F32, {n});
    for (int64_t i = 0; i < n; ++i)
      r.expandedScale.data<float>()[i] = scale->data<float>()[rowIdx[i] / k];
  }
  return r;
}

MogeDispatchResult mogeDispatch(const Tensor &x, const Tensor &ids,
                                const Tensor &weights, int64_t start,
                                int64_t localExperts, int64_t kPerRank,
                                GroupListType type) {
  requireRank(x, {2}, kMogeDispatch, "x");
  requireFloat(x, kMogeDispatch, "x");
  requireRank(ids, {2}, kMogeDispatch, "ids");
  int64_t t = x.dim(0), h = x.dim(1);
  int64_t k = checkTopkIds(ids, t, kMogeDispatch, "ids");
  requireRank(weights, {2}, kMogeDispatch, "weights");
  requireType(weights, DType::F32, kMogeDispatch, "weights");
  MOE_REQUIRE(weights.shape == ids.shape, kMogeDispatch,
              "weights " + weights.str() + " and ids " + ids.str() +
                  " differ in shape");
  MOE_REQUIRE(localExperts > 0 && start >= 0, kMogeDispatch,
              "local range [" + num(start) + ", " + num(start + localExperts) +
                  ") is empty or negative");
  MOE_REQUIRE(kPerRank >= 1 && kPerRank <= k, kMogeDispatch,
              "k_per_rank " + num(kPerRank) + " must be in [1, " + num(k) +
                  "]");
  // Topk ids and weights of this rank's group (Pangu's router slices them;
  // SEMANTICS §5): exactly kPerRank per token, else the routing is not
  // group-balanced and the seed's reshape [T, K / ep, H] would mix tokens.
  int64_t n = t * kPerRank;
  const int32_t *id = ids.data<int32_t>();
  std::vector<float> w = toF32(weights);
  std::vector<int32_t> localIds(n);
  std::vector<float> localWeights(n);
  for (int64_t i = 0; i < t; ++i) {
    int64_t found = 0;
    for (int64_t j = 0; j < k; ++j) {
      int32_t e = id[i * k + j];
      if (e < start || e >= start + localExperts)
        continue;
      if (found < kPerRank) {
        localIds[i * kPerRank + found] = static_cast<int32_t>(e - start);
        localWeights[i * kPerRank + found] = w[i * k + j];
      }
      ++found;
    }
    MOE_REQUIRE(found == kPerRank, kMogeDispatch,
                "token " + num(i) + " routes " + num(found) +
                    " of its experts to this rank's [" + num(start) + ", " +
                    num(start + localExperts) +
                    "); group-balanced routing gives "
                    "every rank exactly " +
                    num(kPerRank));
  }
  // torch.argsort(flatten_topk_ids): stable here, so equal ids keep their
  // pair order.
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return localIds[a] != localIds[b] ? localIds[a] < localIds[b] : a < b;
  });
  MogeDispatchResult r;
  r.rows = Tensor::empty(x.dtype, {n, h});
  r.sortedIds = Tensor::empty(DType::I32, {n});
  r.topkScales = Tensor::empty(DType::F32, {n, 1});
  size_t bytes = rowBytes(x);
  copyRows(n, bytes, [&](int64_t i) {
    r.sortedIds.data<int32_t>()[i] = order[i];
    copyRow(x, order[i] / kPerRank, r.rows, i, bytes);
    r.topkScales.data<float>()[i] = localWeights[order[i]];
  });
  r.groupList = Tensor::empty(DType::I64, {localExperts});
  int64_t *groups = r.groupList.data<int64_t>();
  std::fill(groups, groups + localExperts, 0);
  for (int64_t i = 0; i < n; ++i)
    ++groups[localIds[i]];
  if (type == GroupListType::Cumsum)
    std::partial_sum(groups, groups + localExperts, groups);
  return r;
}

Tensor mogeCombine(const Tensor &rows, const Tensor &sortedIds,
                   int64_t kPerRank) {
  requireRank(rows, {2}, kMogeCombine, "rows");
  requireFloat(rows, kMogeCombine, "rows");
  requireRank(sortedIds, {1}, kMogeCombine, "sorted ids");
  requireType(sortedIds, DType::I32, kMogeCombine, "sorted ids");
  int64_t n = rows.dim(0), h = rows.dim(1);
  MOE_REQUIRE(sortedIds.dim(0) == n, kMogeCombine,
              "sorted ids have " + num(sortedIds.dim(0)) + " entries for " +
                  num(n) + " rows");
  MOE_REQUIRE(kPerRank >= 1 && n % kPerRank == 0, kMogeCombine,
              num(n) +
                  " rows are not a whole number of tokens with k_per_rank " +
                  num(kPerRank));
  // The inverse permutation (torch.argsort(sorted_topk_ids)).
  const int32_t *sorted = sortedIds.data<int32_t>();
  checkIds(sorted, n, n, kMogeCombine, "sorted id");
  std::vector<int64_t> rowOfPair(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    MOE_REQUIRE(rowOfPair[sorted[i]] < 0, kMogeCombine,
                "pair " + num(sorted[i]) + " has two rows (" +
                    num(rowOfPair[sorted[i]]) + " and " + num(i) + ")");
    rowOfPair[sorted[i]] = i;
  }
  int64_t t = n / kPerRank;
  Tensor out = Tensor::empty(rows.dtype, {t, h});
  parallelFor(t, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(h), row(h);
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < kPerRank; ++j) {
        loadF32(rows, rowOfPair[i * kPerRank + j] * h, h, row.data());
        for (int64_t c = 0; c < h; ++c)
          acc[c] += row[c];
      }
      storeF32(out, i * h, h, acc.data());
    }
  });
  return out;
}

std::pair<Tensor, Tensor> tokenPermute(const Tensor &tokens,
                                       const Tensor &indices) {
  requireRank(tokens, {2}, kPermute, "tokens");
  int64_t t = tokens.dim(0);
  int64_t k = checkTopkIds(indices, t, kPermute, "indices");
  size_t bytes = wholeRowBytes(tokens, kPermute);
  int64_t n = t * k;
  const int32_t *idx = indices.data<int32_t>();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Stable: equal ids keep their pair order.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return idx[a] != idx[b] ? idx[a] < idx[b] : a < b;
  });
  Tensor permuted = Tensor::empty(tokens.dtype, {n, tokens.dim(1)});
  Tensor sorted = Tensor::empty(DType::I32, {n});
  copyRows(n, bytes, [&](int64_t i) {
    sorted.data<int32_t>()[i] = order[i];
    copyRow(tokens, order[i] / k, permuted, i, bytes);
  });
  return {permuted, sorted};
}

Tensor tokenUnpermute(const Tensor &permuted, const Tensor &sortedIndices,
                      const Tensor *probs) {
  requireRank(permuted, {2}, kUnpermute, "permuted");
  requireRank(sortedIndices, {1}, kUnpermute, "sorted indices");
  requireType(sortedIndices, DType::I32, kUnpermute, "sorted indices");
  int64_t n = permuted.dim(0), h = permuted.dim(1);
  MOE_REQUIRE(sortedIndices.dim(0) == n, kUnpermute,
              "sorted indices have " + num(sortedIndices.dim(0)) +
                  " entries for " + num(n) + " rows");
  const int32_t *sorted = sortedIndices.data<int32_t>();
  int64_t pairs = n;
  if (probs) {
    requireRank(*probs, {2}, kUnpermute, "probs");
    requireFloat(*probs, kUnpermute, "probs");
    requireFloat(permuted, kUnpermute, "permuted");
    pairs = probs->numel();
  }
  checkIds(sorted, n, pairs, kUnpermute, "pair index");
  std::vector<int64_t> rowOfPair(pairs, -1);
  for (int64_t i = 0; i < n; ++i) {
    MOE_REQUIRE(rowOfPair[sorted[i]] < 0, kUnpermute,
                "pair " + num(sorted[i]) + " has two rows (" +
                    num(rowOfPair[sorted[i]]) + " and " + num(i) + ")");
    rowOfPair[sorted[i]] = i;
  }
  if (!probs) { // a permutation of the rows
    size_t bytes = wholeRowBytes(permuted, kUnpermute);
    Tensor out = Tensor::empty(permuted.dtype, {n, h});
    copyRows(n, bytes, [&](int64_t i) {
      copyRow(permuted, i, out, sorted[i], bytes);
    });
    return out;
  }
  int64_t t = probs->dim(0), k = probs->dim(1);
  std::vector<float> p = toF32(*probs);
  Tensor out = Tensor::empty(permuted.dtype, {t, h});
  parallelFor(t, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(h), row(h);
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < k; ++j) {
        int64_t r = rowOfPair[i * k + j];
        if (r < 0)
          continue;
        loadF32(permuted, r * h, h, row.data());
        float w = p[i * k + j];
        for (int64_t c = 0; c < h; ++c)
          acc[c] += w * row[c];
      }
      storeF32(out, i * h, h, acc.data());
    }
  });
  return out;
}

Tensor histogram(const Tensor &ids, int64_t bins) {
  MOE_REQUIRE(bins > 0, kHistogram, "bins must be positive, got " + num(bins));
  MOE_REQUIRE(ids.storage != nullptr && ids.rank() >= 1, kHistogram,
              "ids must have rank >= 1, got " + ids.str());
  std::vector<int64_t> v = toI64(ids, kHistogram, "ids");
  Tensor out = Tensor::zeros(DType::I64, {bins});
  for (size_t i = 0; i < v.size(); ++i) {
    MOE_REQUIRE(v[i] >= 0 && v[i] < bins, kHistogram,
                "id " + num(v[i]) + " (entry " + num(i) + ") outside [0, " +
                    num(bins) + ")");
    ++out.data<int64_t>()[v[i]];
  }
  return out;
}

AllToAllSplits alltoallSplits(const Tensor &localCounts,
                              const Tensor &globalCounts, int64_t localExperts,
                              int64_t rank, int64_t ranks) {
  MOE_REQUIRE(ranks > 0 && localExperts > 0, kSplits,
              "group size " + num(ranks) + " and local experts " +
                  num(localExperts) + " must be positive");
  MOE_REQUIRE(rank >= 0 && rank < ranks, kSplits,
              "rank " + num(rank) + " outside a group of " + num(ranks));
  int64_t e = ranks * localExperts, l = localExperts;
  requireRank(localCounts, {1}, kSplits, "local counts");
  requireType(localCounts, DType::I64, kSplits, "local counts");
  requireRank(globalCounts, {1}, kSplits, "global counts");
  requireType(globalCounts, DType::I64, kSplits, "global counts");
  MOE_REQUIRE(localCounts.dim(0) == e, kSplits,
              "local counts have " + num(localCounts.dim(0)) +
                  " entries, need " + num(e) + " (" + num(ranks) + " ranks x " +
                  num(l) + ")");
  MOE_REQUIRE(globalCounts.dim(0) == ranks * e, kSplits,
              "global counts have " + num(globalCounts.dim(0)) +
                  " entries, need " + num(ranks * e));
  const int64_t *local = localCounts.data<int64_t>();
  const int64_t *global = globalCounts.data<int64_t>();
  for (int64_t i = 0; i < ranks * e; ++i)
    MOE_REQUIRE(global[i] >= 0, kSplits,
                "negative count " + num(global[i]) + " at entry " + num(i));
  for (int64_t i = 0; i < e; ++i)
    MOE_REQUIRE(local[i] == global[rank * e + i], kSplits,
                "local count of expert " + num(i) + " (" + num(local[i]) +
                    ") differs from row " + num(rank) +
                    " of the global counts (" + num(global[rank * e + i]) +
                    ")");
  AllToAllSplits s;
  s.inputSplits = Tensor::zeros(DType::I64, {ranks});
  s.outputSplits = Tensor::zeros(DType::I64, {ranks});
  s.tokensPerExpert = Tensor::zeros(DType::I64, {l});
  int64_t received = 0;
  for (int64_t p = 0; p < ranks; ++p) {
    for (int64_t j = 0; j < l; ++j) {
      s.inputSplits.data<int64_t>()[p] += local[p * l + j];
      int64_t c = global[p * e + rank * l + j];
      s.outputSplits.data<int64_t>()[p] += c;
      s.tokensPerExpert.data<int64_t>()[j] += c;
      received += c;
    }
  }
  s.recvExpertIds = Tensor::empty(DType::I32, {received});
  int32_t *out = s.recvExpertIds.data<int32_t>();
  for (int64_t p = 0; p < ranks; ++p)
    for (int64_t j = 0; j < l; ++j)
      out = std::fill_n(out, global[p * e + rank * l + j],
                        static_cast<int32_t>(j));
  return s;
}

} // namespace moert
