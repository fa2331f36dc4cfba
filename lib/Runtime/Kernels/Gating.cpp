//===- Gating.cpp - npu.moe_gating_top_k ----------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kGating = "npu.moe_gating_top_k";

std::string nonFiniteName(float v) {
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

void checkGating(const Tensor &logits, const Tensor *bias,
                 const GatingParams &p) {
  requireRank(logits, {2}, kGating, "logits");
  requireFloat(logits, kGating, "logits");
  int64_t e = logits.dim(1);
  MOE_REQUIRE(e > 0, kGating,
              "logits need at least one expert, got " + logits.str());
  if (bias) {
    requireRank(*bias, {1}, kGating, "bias");
    requireFloat(*bias, kGating, "bias");
    MOE_REQUIRE(bias->dim(0) == e, kGating,
                "bias has " + num(bias->dim(0)) + " entries for " + num(e) +
                    " experts");
    // NaN would make the selection order undefined, an infinity turns the
    // sum of a group's two best into NaN (inf + -inf).
    std::vector<float> b = toF32(*bias);
    for (int64_t i = 0; i < e; ++i)
      MOE_REQUIRE(std::isfinite(b[i]), kGating,
                  "the correction bias of expert " + num(i) + " is " +
                      nonFiniteName(b[i]) + "; it must be finite");
  }
  MOE_REQUIRE(p.k >= 1 && p.k <= e, kGating,
              "k " + num(p.k) + " must be in [1, " + num(e) + "]");
  MOE_REQUIRE(std::isfinite(p.routedScalingFactor) && p.routedScalingFactor > 0,
              kGating, "routed scaling factor must be positive");
  MOE_REQUIRE(p.groupCount >= 0, kGating,
              "negative group count " + num(p.groupCount));
  MOE_REQUIRE(!p.balanced || p.groupCount > 0, kGating,
              "balanced routing needs expert groups");
  if (p.groupCount == 0)
    return;
  MOE_REQUIRE(e % p.groupCount == 0, kGating,
              num(p.groupCount) + " expert groups do not divide the " + num(e) +
                  " experts");
  MOE_REQUIRE(p.kGroup >= 1 && p.kGroup <= p.groupCount, kGating,
              "k_group " + num(p.kGroup) + " must be in [1, " +
                  num(p.groupCount) + "]");
  int64_t perGroup = e / p.groupCount;
  if (p.balanced) {
    MOE_REQUIRE(p.kGroup == p.groupCount && p.k % p.groupCount == 0, kGating,
                "balanced routing keeps all " + num(p.groupCount) +
                    " groups and takes k / groups experts from each; got k " +
                    num(p.k) + ", k_group " + num(p.kGroup));
    return;
  }
  MOE_REQUIRE(p.k <= p.kGroup * perGroup, kGating,
              "k " + num(p.k) + " exceeds the " + num(p.kGroup * perGroup) +
                  " experts of the kept groups");
  MOE_REQUIRE(
      !bias || perGroup >= 2, kGating,
      "with a bias groups are scored by their two best experts, so each "
      "group needs at least 2 experts");
}

/// The NaN/Inf policy of the gate (docs/Reliability.md): a NaN logit is an
/// error (no order of the experts is right), so is a softmax row that is
/// -inf for every expert (0 / 0); other infinities are fine (gateRow).
void checkLogitRows(const Tensor &logits, Scoring scoring) {
  int64_t t = logits.dim(0), e = logits.dim(1);
  // The first bad row, found in parallel; its message is built only then
  // (a message per element cost more than the gate itself).
  std::atomic<int64_t> firstBad{t};
  parallelFor(t, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> row(e);
    for (int64_t i = begin; i < end && i < firstBad.load(); ++i) {
      loadF32(logits, i * e, e, row.data());
      bool nan = false, anyAboveMinusInf = false;
      for (int64_t j = 0; j < e; ++j) {
        nan |= std::isnan(row[j]);
        anyAboveMinusInf |= row[j] > -INFINITY;
      }
      if (nan || (!anyAboveMinusInf && scoring == Scoring::Softmax)) {
        int64_t seen = firstBad.load();
        while (i < seen && !firstBad.compare_exchange_weak(seen, i)) {
        }
        return;
      }
    }
  });
  int64_t i = firstBad.load();
  if (i == t)
    return;
  std::vector<float> row(e);
  loadF32(logits, i * e, e, row.data());
  for (int64_t j = 0; j < e; ++j)
    MOE_REQUIRE(!std::isnan(row[j]), kGating,
                "logits row " + num(i) + " holds nan (expert " + num(j) +
                    "): the experts of that token cannot be ranked");
  MOE_REQUIRE(false, kGating,
              "logits row " + num(i) +
                  " is -inf for every expert: its softmax is undefined");
}

/// Index order by descending value, ties to the lower index; the first
/// `count` entries of `order` are sorted.
void topIndices(const float *values, std::vector<int64_t> &order,
                int64_t count) {
  std::partial_sort(order.begin(), order.begin() + count, order.end(),
                    [&](int64_t a, int64_t b) {
                      if (values[a] != values[b])
                        return values[a] > values[b];
                      return a < b;
                    });
}

void gateRow(const float *logit, const float *bias, const GatingParams &p,
             int64_t e, float *weights, int32_t *ids) {
  std::vector<float> score(e), select(e);
  if (p.scoring == Scoring::Softmax) {
    float mx = *std::max_element(logit, logit + e);
    if (mx == INFINITY) {
      // The limit of softmax: the +inf experts share probability 1.
      int64_t count = std::count(logit, logit + e, INFINITY);
      for (int64_t i = 0; i < e; ++i)
        score[i] = logit[i] == INFINITY ? 1.0f / count : 0.0f;
    }
    float sum = 0;
    for (int64_t i = 0; mx < INFINITY && i < e; ++i)
      sum += score[i] = std::exp(logit[i] - mx);
    for (int64_t i = 0; mx < INFINITY && i < e; ++i)
      score[i] /= sum;
  } else { // sigmoid(+inf) = 1 and sigmoid(-inf) = 0 as computed
    for (int64_t i = 0; i < e; ++i)
      score[i] = 1.0f / (1.0f + std::exp(-logit[i]));
  }
  for (int64_t i = 0; i < e; ++i)
    select[i] = bias ? score[i] + bias[i] : score[i];

  std::vector<int64_t> order(e);
  std::iota(order.begin(), order.end(), 0);
  if (p.balanced) {
    // The k / G best of every group, group by group (Pangu Pro MoE).
    int64_t per = e / p.groupCount, each = p.k / p.groupCount;
    for (int64_t g = 0; g < p.groupCount; ++g) {
      std::vector<int64_t> members(order.begin() + g * per,
                                   order.begin() + (g + 1) * per);
      topIndices(select.data(), members, each);
      std::copy(members.begin(), members.begin() + each,
                order.begin() + g * each);
    }
  } else if (p.groupCount > 0) {
    int64_t per = e / p.groupCount;
    std::vector<float> groupScore(p.groupCount);
    for (int64_t g = 0; g < p.groupCount; ++g) {
      const float *s = select.data() + g * per;
      if (bias) { // sum of the two best
        float a = -INFINITY, b = -INFINITY;
        for (int64_t i = 0; i < per; ++i) {
          if (s[i] > a) {
            b = a;
            a = s[i];
          } else if (s[i] > b) {
            b = s[i];
          }
        }
        groupScore[g] = a + b;
      } else {
        groupScore[g] = *std::max_element(s, s + per);
      }
    }
    std::vector<int64_t> groups(p.groupCount);
    std::iota(groups.begin(), groups.end(), 0);
    topIndices(groupScore.data(), groups, p.kGroup);
    std::vector<char> kept(p.groupCount, 0);
    for (int64_t i = 0; i < p.kGroup; ++i)
      kept[groups[i]] = 1;
    for (int64_t i = 0; i < e; ++i)
      if (!kept[i / per])
        select[i] = -INFINITY;
  }
  // Masked experts (-inf) can only tie among themselves and never reach
  // the top k: k <= the kept experts.
  if (!p.balanced)
    topIndices(select.data(), order, p.k);
  float sum = 0;
  for (int64_t j = 0; j < p.k; ++j) {
    ids[j] = static_cast<int32_t>(order[j]);
    weights[j] = score[order[j]];
    sum += weights[j];
  }
  for (int64_t j = 0; j < p.k; ++j) {
    if (p.renormalize && sum > 0)
      weights[j] /= sum;
    weights[j] *= p.routedScalingFactor;
  }
}
} // namespace

std::pair<Tensor, Tensor> gatingTopK(const Tensor &logits, const Tensor *bias,
                                     const GatingParams &params) {
  checkGating(logits, bias, params);
  checkLogitRows(logits, params.scoring);
  int64_t t = logits.dim(0), e = logits.dim(1), k = params.k;
  Tensor weights = Tensor::empty(DType::F32, {t, k});
  Tensor ids = Tensor::empty(DType::I32, {t, k});
  std::vector<float> b;
  if (bias)
    b = toF32(*bias);
  parallelFor(t, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> row(e);
    for (int64_t i = begin; i < end; ++i) {
      loadF32(logits, i * e, e, row.data());
      gateRow(row.data(), bias ? b.data() : nullptr, params, e,
              weights.data<float>() + i * k, ids.data<int32_t>() + i * k);
    }
  });
  return {weights, ids};
}

} // namespace moert
