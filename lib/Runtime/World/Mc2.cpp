//===- Mc2.cpp - MC2 dispatch and combine over a Comm ---------------------===//
//
// npu.moe_distribute_dispatch and npu.moe_distribute_combine on any Comm
// backend, as two collectives each: an `exchange` of small metadata
// (a status, rows per local expert, the source pair index and the dynamic
// scale of every row) and an `allToAllV` of the rows themselves.
//
// Errors found locally (a bad shape, an id out of range, too many tokens)
// travel in the metadata, so every rank throws the same message naming the
// rank at fault instead of leaving the others waiting.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Mc2.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// The weighted sum of combine must round the same on every backend and in
// the dense reference: no fused multiply-add (also spelled as separate
// statements below, which clang's default -ffp-contract=on never fuses).
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace moert {
namespace {

const char *const kDispatch = "npu.moe_distribute_dispatch";
const char *const kCombine = "npu.moe_distribute_combine";

//===----------------------------------------------------------------------===//
// Metadata blobs
//===----------------------------------------------------------------------===//

struct BlobWriter {
  std::vector<uint8_t> bytes;
  template <typename T> void put(T v) {
    size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &v, sizeof(T));
  }
  template <typename T> void putArray(const std::vector<T> &v) {
    put<uint64_t>(v.size());
    size_t at = bytes.size();
    bytes.resize(at + sizeof(T) * v.size());
    if (!v.empty())
      std::memcpy(bytes.data() + at, v.data(), sizeof(T) * v.size());
  }
  void putString(const std::string &s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
};

struct BlobReader {
  const std::vector<uint8_t> &bytes;
  const char *op;
  size_t pos = 0;
  void need(size_t n) const {
    MOE_CHECK(pos + n <= bytes.size() && pos + n >= pos,
              std::string(op) + ": malformed metadata from a peer");
  }
  template <typename T> T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  template <typename T> std::vector<T> getArray() {
    uint64_t n = get<uint64_t>();
    MOE_CHECK(n <= bytes.size(), std::string(op) + ": malformed metadata");
    need(sizeof(T) * n);
    std::vector<T> v(n);
    if (n)
      std::memcpy(v.data(), bytes.data() + pos, sizeof(T) * n);
    pos += sizeof(T) * n;
    return v;
  }
  std::string getString() {
    uint64_t n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char *>(bytes.data() + pos), n);
    pos += n;
    return s;
  }
};

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

bool isIndex(DType d) { return d == DType::I32 || d == DType::I64; }

std::vector<int64_t> readInts(const Tensor &t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::I32)
    std::copy(t.data<int32_t>(), t.data<int32_t>() + v.size(), v.begin());
  else
    std::copy(t.data<int64_t>(), t.data<int64_t>() + v.size(), v.begin());
  return v;
}

/// Checks of the attributes equal on every rank; returns the local experts
/// of a routed-expert rank: `moe_expert_num` over the ranks after the
/// `shared_expert_rank_num` shared-expert ranks.
int64_t checkContract(const Comm &ep, const Mc2Contract &c,
                      const std::string &op) {
  const int64_t epWorldSize = c.epWorldSize, moeExpertNum = c.moeExpertNum;
  const int64_t shared = c.sharedExpertRankNum;
  MOE_CHECK(epWorldSize == ep.size(), op + ": ep_world_size is " +
                                          std::to_string(epWorldSize) +
                                          " but the ep group has " +
                                          std::to_string(ep.size()) + " ranks");
  MOE_CHECK(c.expertShardType == 0,
            op + ": expert_shard_type " + std::to_string(c.expertShardType) +
                " is not supported (0: shared-expert ranks first)");
  MOE_CHECK(shared >= 0 && shared < epWorldSize &&
                (shared == 0 || epWorldSize % shared == 0),
            op + ": shared_expert_rank_num " + std::to_string(shared) +
                " must be 0 or a divisor of ep_world_size " +
                std::to_string(epWorldSize) + " below it");
  MOE_CHECK(shared == 0 || c.tpWorldSize > 0,
            op + ": shared_expert_rank_num " + std::to_string(shared) +
                " needs the A3 arguments (group_tp): A2's kernel has no "
                "shared-expert ranks");
  const int64_t routedRanks = epWorldSize - shared;
  MOE_CHECK(moeExpertNum > 0 && moeExpertNum % routedRanks == 0,
            op + ": moe_expert_num " + std::to_string(moeExpertNum) +
                " is not a positive multiple of " +
                (shared ? "the " + std::to_string(routedRanks) +
                              " routed-expert ranks (ep_world_size " +
                              std::to_string(epWorldSize) +
                              " - shared_expert_rank_num " +
                              std::to_string(shared) + ")"
                        : "ep_world_size " + std::to_string(epWorldSize)));
  MOE_CHECK(c.tpWorldSize == 0 || (c.tpWorldSize == 1 && c.tpRankId == 0),
            op + ": tp_world_size " + std::to_string(c.tpWorldSize) +
                " / tp_rank_id " + std::to_string(c.tpRankId) +
                " is not supported (the seed passes 1 / 0)");
  MOE_CHECK(c.globalBs >= 0 && c.globalBs % epWorldSize == 0,
            op + ": global_bs " + std::to_string(c.globalBs) +
                " is not 0 or a multiple of ep_world_size " +
                std::to_string(epWorldSize));
  return moeExpertNum / routedRanks;
}

/// Checks of what differs between ranks: this rank's ep_rank_id and its
/// token count against global_bs.
void checkRankArguments(const Comm &ep, const Mc2Contract &c, int64_t tokens,
                        const std::string &op, const std::string &me) {
  MOE_CHECK(c.epRankId == ep.rank(), op + ": " + me + " passes ep_rank_id " +
                                         std::to_string(c.epRankId) +
                                         ", its index in the ep group is " +
                                         std::to_string(ep.rank()));
  if (c.globalBs > 0)
    MOE_CHECK(tokens * c.epWorldSize <= c.globalBs,
              op + ": " + me + " passes " + std::to_string(tokens) +
                  " tokens; times ep_world_size " +
                  std::to_string(c.epWorldSize) + " that exceeds global_bs " +
                  std::to_string(c.globalBs) +
                  " (the most tokens of a rank times ep_world_size)");
}

/// An f32 vector of `n` entries, or an error naming `what`.
void checkF32Vector(const Tensor &t, int64_t n, const std::string &what,
                    const std::string &op, const std::string &me) {
  MOE_CHECK(t.rank() == 1 && t.dim(0) == n && t.dtype == DType::F32,
            op + ": " + me + " passes " + what + " " + t.str() + ", expected " +
                std::to_string(n) + "xf32");
}

/// Routing of this rank's pairs to the slots (rank p, local expert e) at
/// p * L + e: the routed pair (t, k), index t * K + k, of expert id goes to
/// rank S + id / L (the S shared-expert ranks come first); with S > 0 every
/// active token t also sends a copy, index T * K + t, to local slot 0 of
/// shared-expert rank `this rank % S` (torch_npu's placement with one shared
/// expert). Slots list their pairs in ascending index.
struct Routing {
  int64_t tokens = 0, k = 0;
  std::vector<uint8_t> active; // [T]
  std::vector<std::vector<int32_t>> pairs; // [R * L]
  /// The token a pair index stands for.
  int64_t token(int64_t pair) const {
    return pair >= tokens * k ? pair - tokens * k : pair / k;
  }
  /// Whether a pair index is a shared-expert copy.
  bool isShared(int64_t pair) const { return pair >= tokens * k; }
};

/// Validates ids [T, K] (and mask [T]) and routes the active pairs of
/// `rank` over `ranks` ranks, the first `shared` of them shared-expert
/// ranks, the others with `local` routed experts each.
Routing route(const Tensor &expertIds, const Tensor *mask, int64_t tokens,
              int64_t ranks, int64_t shared, int64_t local, int64_t rank,
              const std::string &op, const std::string &me) {
  Routing r;
  r.tokens = tokens;
  MOE_CHECK(expertIds.rank() == 2 && expertIds.dim(0) == tokens &&
                isIndex(expertIds.dtype),
            op + ": " + me + " passes expert ids " + expertIds.str() +
                ", expected " + std::to_string(tokens) + "xK i32");
  r.k = expertIds.dim(1);
  r.active.assign(static_cast<size_t>(tokens), 1);
  if (mask) {
    MOE_CHECK(mask->rank() == 1 && mask->dim(0) == tokens &&
                  (mask->dtype == DType::I1 || mask->dtype == DType::I8),
              op + ": " + me + " passes the mask " + mask->str() + " for " +
                  std::to_string(tokens) + " tokens, expected " +
                  std::to_string(tokens) + "xi1");
    for (int64_t t = 0; t < tokens; ++t)
      r.active[static_cast<size_t>(t)] = mask->bytes()[t] != 0;
  }
  const int64_t experts = (ranks - shared) * local;
  std::vector<int64_t> ids = readInts(expertIds);
  r.pairs.assign(static_cast<size_t>(ranks * local), {});
  MOE_CHECK(tokens * (r.k + 1) <= INT32_MAX, op + ": too many pairs");
  for (int64_t t = 0; t < tokens; ++t) {
    if (!r.active[static_cast<size_t>(t)])
      continue;
    for (int64_t k = 0; k < r.k; ++k) {
      int64_t pair = t * r.k + k, id = ids[static_cast<size_t>(pair)];
      if (id < 0 || id >= experts) // the message only then: a check per pair
        throw Error(op + ": " + me + " routes token " + std::to_string(t) +
                    " to expert " + std::to_string(id) + ", outside [0, " +
                    std::to_string(experts) + ")");
      r.pairs[static_cast<size_t>(shared * local + id)].push_back(
          static_cast<int32_t>(pair));
    }
  }
  if (shared > 0)
    for (int64_t t = 0; t < tokens; ++t)
      if (r.active[static_cast<size_t>(t)])
        r.pairs[static_cast<size_t>((rank % shared) * local)].push_back(
            static_cast<int32_t>(tokens * r.k + t));
  return r;
}

/// Per-row dynamic int8 quantization (npu.dynamic_quant's rule): scale =
/// max|row| / 127, q = round-half-even(x / scale) clamped to [-127, 127];
/// an all-zero row gives scale 0 and zeros.
float quantizeRow(const float *x, int64_t n, int8_t *q) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) {
    std::memset(q, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float scale = amax / 127.0f;
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] / scale); // default mode: ties to even
    q[i] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
  }
  return scale;
}

/// The collectives of MC2, their errors prefixed with the MC2 op.
std::vector<std::vector<uint8_t>>
exchangeFor(const std::string &op, Comm &ep,
            const std::vector<std::vector<uint8_t>> &meta) {
  try {
    return ep.exchange(meta);
  } catch (const Error &e) {
    throw Error(op + ": " + e.what());
  }
}

Tensor allToAllVFor(const std::string &op, Comm &ep, const Tensor &x,
                    const std::vector<int64_t> &send,
                    const std::vector<int64_t> &recv) {
  try {
    return ep.allToAllV(x, send, recv);
  } catch (const Error &e) {
    throw Error(op + ": " + e.what());
  }
}

/// Throws the first problem any rank reported (every rank sees the same).
void throwFirstProblem(const std::vector<std::string> &problems) {
  for (const std::string &p : problems)
    if (!p.empty())
      throw Error(p);
}

} // namespace

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

DistributeDispatchResult
distributeDispatch(Comm &ep, const Tensor &x, const Tensor &expertIds,
                   const Mc2DispatchInputs &inputs, const Mc2Contract &contract,
                   int64_t quantMode, int64_t capacity, GroupListType type) {
  const std::string op = kDispatch;
  const int64_t L = checkContract(ep, contract, op);
  const int64_t R = contract.epWorldSize;
  const int64_t S = contract.sharedExpertRankNum;
  const Tensor *mask = inputs.mask;
  MOE_CHECK(quantMode == 0 || quantMode == 2,
            op + ": quant_mode " + std::to_string(quantMode) +
                " is not supported (0: none, 2: dynamic per-row int8)");
  MOE_CHECK(capacity >= 0, op + ": negative capacity");
  MOE_CHECK(type == GroupListType::Cumsum || type == GroupListType::Count,
            op + ": unknown expert_token_nums_type");
  const std::string me = "rank " + std::to_string(ep.rank());
  const bool quant = quantMode == 2;

  // Local checks and routing; a problem is reported through the metadata.
  std::string problem;
  Routing routing;
  int64_t H = 0;
  try {
    MOE_CHECK(x.rank() == 2, op + ": " + me + " passes x " + x.str() +
                                 ", expected a 2-D tensor");
    H = x.dim(1);
    MOE_CHECK(capacity == 0 || x.dim(0) <= capacity,
              op + ": " + me + " passes " + std::to_string(x.dim(0)) +
                  " tokens, more than the MC2 capacity of " +
                  std::to_string(capacity));
    MOE_CHECK(!quant || isFloat(x.dtype), op +
                                              ": quant_mode 2 needs float x, " +
                                              me + " passes " + x.str());
    MOE_CHECK(x.dtype != DType::I4 || H % 2 == 0,
              op + ": rows of " + x.str() + " do not fill whole bytes");
    checkRankArguments(ep, contract, x.dim(0), op, me);
    if (inputs.scales) {
      MOE_CHECK(quant, op + ": scales (smooth quantization) need quant_mode 2");
      checkF32Vector(*inputs.scales, H, "scales", op, me);
    }
    routing = route(expertIds, mask, x.dim(0), R, S, L, ep.rank(), op, me);
    MOE_CHECK(!inputs.expertScales || S == 0,
              op + ": expert_scales (hierarchical communication, A2) and "
                   "shared-expert ranks (A3) do not go together");
    if (const Tensor *w = inputs.expertScales)
      MOE_CHECK(w->rank() == 2 && w->dim(0) == routing.tokens &&
                    w->dim(1) == routing.k && w->dtype == DType::F32,
                op + ": " + me + " passes expert_scales " + w->str() +
                    " for expert ids " + expertIds.str());
  } catch (const Error &e) {
    problem = e.what();
  }

  // Rows to send, by destination rank, local expert, pair index.
  const DType rowType = quant ? DType::I8 : x.dtype;
  std::vector<int64_t> sendSplits(static_cast<size_t>(R), 0);
  std::vector<std::vector<uint8_t>> meta(static_cast<size_t>(R));
  Tensor send;
  if (problem.empty()) {
    const int64_t T = routing.tokens;
    // Quantize every active token once: per-row quantization commutes with
    // moving rows.
    Tensor q;
    std::vector<float> scales;
    if (quant) {
      q = Tensor::empty(DType::I8, {T, H});
      scales.assign(static_cast<size_t>(T), 0.0f);
      std::vector<float> row(static_cast<size_t>(H)), smooth;
      if (inputs.scales) {
        smooth.resize(static_cast<size_t>(H));
        loadF32(*inputs.scales, 0, H, smooth.data());
      }
      for (int64_t t = 0; t < T; ++t) {
        if (!routing.active[static_cast<size_t>(t)])
          continue;
        loadF32(x, t * H, H, row.data());
        for (size_t h = 0; h < smooth.size(); ++h)
          row[h] *= smooth[h];
        scales[static_cast<size_t>(t)] =
            quantizeRow(row.data(), H, q.data<int8_t>() + t * H);
      }
    }
    const Tensor &src = quant ? q : x;
    std::vector<float> pairWeights;
    if (inputs.expertScales) {
      pairWeights.resize(static_cast<size_t>(T * routing.k));
      if (!pairWeights.empty())
        loadF32(*inputs.expertScales, 0, T * routing.k, pairWeights.data());
    }
    int64_t total = 0;
    for (const auto &pairs : routing.pairs)
      total += static_cast<int64_t>(pairs.size());
    send = Tensor::empty(rowType, {total, H});
    const size_t rb = storageBytes(rowType, H);
    int64_t row = 0;
    for (int64_t p = 0; p < R; ++p) {
      BlobWriter w;
      w.putString("");
      std::vector<int64_t> counts(static_cast<size_t>(L));
      std::vector<int32_t> idx;
      std::vector<float> rowScales, rowWeights;
      for (int64_t e = 0; e < L; ++e) {
        const auto &pairs = routing.pairs[static_cast<size_t>(p * L + e)];
        counts[static_cast<size_t>(e)] = static_cast<int64_t>(pairs.size());
        for (int32_t pair : pairs) {
          int64_t t = routing.token(pair);
          if (rb)
            std::memcpy(send.bytes() + rb * row, src.bytes() + rb * t, rb);
          ++row;
          idx.push_back(pair);
          if (quant)
            rowScales.push_back(scales[static_cast<size_t>(t)]);
          if (!pairWeights.empty())
            rowWeights.push_back(routing.isShared(pair)
                                     ? 1.0f
                                     : pairWeights[static_cast<size_t>(pair)]);
        }
        sendSplits[static_cast<size_t>(p)] += counts[static_cast<size_t>(e)];
      }
      w.putArray(counts);
      w.putArray(idx);
      w.putArray(rowScales);
      w.putArray(rowWeights);
      meta[static_cast<size_t>(p)] = std::move(w.bytes);
    }
  } else {
    for (auto &m : meta) {
      BlobWriter w;
      w.putString(problem);
      m = std::move(w.bytes);
    }
  }

  std::vector<std::vector<uint8_t>> got = exchangeFor(op, ep, meta);

  // Every rank reads every rank's verdict; the first problem wins.
  std::vector<std::string> problems(static_cast<size_t>(R));
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(R));
  std::vector<std::vector<int32_t>> idx(static_cast<size_t>(R));
  std::vector<std::vector<float>> scales(static_cast<size_t>(R));
  std::vector<std::vector<float>> weights(static_cast<size_t>(R));
  for (int64_t s = 0; s < R; ++s) {
    BlobReader r{got[static_cast<size_t>(s)], kDispatch};
    problems[static_cast<size_t>(s)] = r.getString();
    if (!problems[static_cast<size_t>(s)].empty())
      continue;
    counts[static_cast<size_t>(s)] = r.getArray<int64_t>();
    idx[static_cast<size_t>(s)] = r.getArray<int32_t>();
    scales[static_cast<size_t>(s)] = r.getArray<float>();
    weights[static_cast<size_t>(s)] = r.getArray<float>();
  }
  throwFirstProblem(problems);

  std::vector<int64_t> recvSplits(static_cast<size_t>(R), 0);
  for (int64_t s = 0; s < R; ++s) {
    const auto &c = counts[static_cast<size_t>(s)];
    MOE_CHECK(static_cast<int64_t>(c.size()) == L, op + ": malformed metadata");
    for (int64_t n : c)
      recvSplits[static_cast<size_t>(s)] += n;
    MOE_CHECK(static_cast<int64_t>(idx[static_cast<size_t>(s)].size()) ==
                  recvSplits[static_cast<size_t>(s)],
              op + ": malformed metadata");
    MOE_CHECK(
        !inputs.expertScales ||
            static_cast<int64_t>(weights[static_cast<size_t>(s)].size()) ==
                recvSplits[static_cast<size_t>(s)],
        op + ": malformed metadata");
  }
  Tensor recv = allToAllVFor(op, ep, send, sendSplits, recvSplits);

  // Regroup from (source, expert, pair) to (expert, source, pair).
  int64_t N = recv.rows();
  // global_bs sizes the kernel's receive buffer: globalBs * min(K, L) rows
  // on a routed-expert rank (a token sends at most min(K, L) rows to one
  // rank), globalBs / S on a shared-expert rank (one copy of the tokens of
  // ep_world_size / S ranks). The per-rank check above keeps every rank
  // within it.
  if (contract.globalBs > 0) {
    const int64_t buffer = ep.rank() < S ? contract.globalBs / S
                                         : contract.globalBs *
                                               std::min(routing.k, L);
    MOE_CHECK(N <= buffer, op + ": rank " + std::to_string(ep.rank()) +
                               " receives " + std::to_string(N) +
                               " rows, more than the global_bs buffer of " +
                               std::to_string(buffer));
  }
  DistributeDispatchResult res;
  res.expandIdx = Tensor::empty(DType::I32, {N});
  res.expertTokenNums = Tensor::empty(DType::I64, {L});
  res.epRecvCounts = Tensor::empty(DType::I32, {L * R});
  if (quant)
    res.dynamicScales = Tensor::empty(DType::F32, {N});
  if (inputs.expertScales)
    res.expandScales = Tensor::empty(DType::F32, {N});
  if (contract.tpWorldSize > 0) {
    // tp_world_size 1: the one TP rank received every row.
    res.tpRecvCounts = Tensor::empty(DType::I32, {contract.tpWorldSize});
    res.tpRecvCounts.data<int32_t>()[0] = static_cast<int32_t>(N);
  }
  res.expandX = L == 1 ? recv : Tensor::empty(rowType, {N, H});
  const size_t rb = storageBytes(rowType, H);
  std::vector<int64_t> srcBase(static_cast<size_t>(R), 0);
  for (int64_t s = 1; s < R; ++s)
    srcBase[static_cast<size_t>(s)] =
        srcBase[static_cast<size_t>(s - 1)] + recvSplits[static_cast<size_t>(s - 1)];
  std::vector<int64_t> within(static_cast<size_t>(R), 0); // offset in block
  int64_t out = 0, running = 0;
  for (int64_t e = 0; e < L; ++e) {
    int64_t perExpert = 0;
    for (int64_t s = 0; s < R; ++s) {
      const size_t si = static_cast<size_t>(s);
      const int64_t n = counts[si][static_cast<size_t>(e)];
      const int64_t from = srcBase[si] + within[si];
      if (L != 1 && n && rb)
        std::memcpy(res.expandX.bytes() + rb * out, recv.bytes() + rb * from,
                    rb * n);
      for (int64_t j = 0; j < n; ++j) {
        res.expandIdx.data<int32_t>()[out + j] =
            idx[si][static_cast<size_t>(within[si] + j)];
        if (quant)
          res.dynamicScales.data<float>()[out + j] =
              scales[si][static_cast<size_t>(within[si] + j)];
        if (inputs.expertScales)
          res.expandScales.data<float>()[out + j] =
              weights[si][static_cast<size_t>(within[si] + j)];
      }
      res.epRecvCounts.data<int32_t>()[e * R + s] = static_cast<int32_t>(n);
      within[si] += n;
      out += n;
      perExpert += n;
    }
    running += perExpert;
    res.expertTokenNums.data<int64_t>()[e] =
        type == GroupListType::Cumsum ? running : perExpert;
  }
  return res;
}

//===----------------------------------------------------------------------===//
// Combine
//===----------------------------------------------------------------------===//

Tensor distributeCombine(Comm &ep, const Tensor &expandX,
                         const Tensor &expertIds, const Tensor &expandIdx,
                         const Tensor &epSendCounts,
                         const Tensor &expertScales,
                         const Mc2CombineInputs &inputs,
                         const Mc2Contract &contract) {
  const std::string op = kCombine;
  const int64_t L = checkContract(ep, contract, op);
  const int64_t R = contract.epWorldSize;
  const int64_t S = contract.sharedExpertRankNum;
  const Tensor *mask = inputs.mask, *sharedX = inputs.sharedX;
  const std::string me = "rank " + std::to_string(ep.rank());

  std::string problem;
  Routing routing;
  int64_t N = 0, H = 0, T = 0;
  std::vector<int64_t> blockCounts, rowIdx;
  try {
    MOE_CHECK(expandX.rank() == 2 && isFloat(expandX.dtype),
              op + ": " + me + " passes expand_x " + expandX.str() +
                  ", expected a 2-D float tensor");
    N = expandX.dim(0);
    H = expandX.dim(1);
    MOE_CHECK(expandIdx.rank() == 1 && expandIdx.dim(0) == N &&
                  isIndex(expandIdx.dtype),
              op + ": " + me + " passes expand_idx " + expandIdx.str() +
                  " for " + std::to_string(N) + " rows");
    MOE_CHECK(epSendCounts.rank() == 1 && epSendCounts.dim(0) == L * R &&
                  isIndex(epSendCounts.dtype),
              op + ": " + me + " passes ep_send_counts " + epSendCounts.str() +
                  ", expected " + std::to_string(L * R) +
                  " (local experts x ep) "
                  "counts");
    blockCounts = readInts(epSendCounts);
    int64_t sum = 0;
    for (int64_t c : blockCounts) {
      MOE_CHECK(c >= 0, op + ": " + me + " passes a negative ep_send_count");
      sum += c;
    }
    MOE_CHECK(sum == N, op + ": " + me + "'s ep_send_counts add up to " +
                            std::to_string(sum) + " rows, expand_x has " +
                            std::to_string(N));
    rowIdx = readInts(expandIdx);
    MOE_CHECK(bool(inputs.tpSendCounts) == (contract.tpWorldSize > 0),
              op + ": " + me +
                  (inputs.tpSendCounts
                       ? " passes tp_send_counts without the TP "
                         "arguments"
                       : " passes no tp_send_counts with the TP "
                         "arguments"));
    if (const Tensor *tp = inputs.tpSendCounts) {
      MOE_CHECK(tp->rank() == 1 && tp->dim(0) == contract.tpWorldSize &&
                    isIndex(tp->dtype),
                op + ": " + me + " passes tp_send_counts " + tp->str() +
                    ", expected " + std::to_string(contract.tpWorldSize) +
                    "xi32");
      MOE_CHECK(readInts(*tp)[0] == N,
                op + ": " + me + "'s tp_send_counts say " +
                    std::to_string(readInts(*tp)[0]) + " rows, expand_x has " +
                    std::to_string(N) +
                    " (pass the dispatch's tp_recv_counts)");
    }
    if (inputs.expandScales)
      checkF32Vector(*inputs.expandScales, N, "expand_scales", op, me);
    MOE_CHECK(expertIds.rank() == 2, op + ": " + me + " passes expert ids " +
                                         expertIds.str() + ", expected TxK");
    T = expertIds.dim(0);
    checkRankArguments(ep, contract, T, op, me);
    routing = route(expertIds, mask, T, R, S, L, ep.rank(), op, me);
    MOE_CHECK(expertScales.rank() == 2 && expertScales.dim(0) == T &&
                  expertScales.dim(1) == routing.k &&
                  isFloat(expertScales.dtype),
              op + ": " + me + " passes expert_scales " + expertScales.str() +
                  " for expert ids " + expertIds.str());
    MOE_CHECK(!(sharedX || inputs.expandScales) || S == 0,
              op + ": " + me + " passes " +
                  (sharedX ? "shared_expert_x" : "expand_scales") +
                  " with shared-expert ranks (shared_expert_rank_num " +
                  std::to_string(S) +
                  "), which return the shared experts' "
                  "rows themselves");
    if (sharedX)
      MOE_CHECK(sharedX->rank() == 2 && sharedX->dim(0) == T &&
                    sharedX->dim(1) == H && isFloat(sharedX->dtype),
                op + ": " + me + " passes shared_expert_x " + sharedX->str() +
                    ", expected " + std::to_string(T) + "x" +
                    std::to_string(H));
  } catch (const Error &e) {
    problem = e.what();
  }

  // Rows back to every source s: blocks (e, s) of expand_x in e order.
  std::vector<int64_t> sendSplits(static_cast<size_t>(R), 0);
  std::vector<std::vector<uint8_t>> meta(static_cast<size_t>(R));
  Tensor send;
  if (problem.empty()) {
    std::vector<int64_t> blockStart(static_cast<size_t>(L * R), 0);
    for (int64_t b = 1; b < L * R; ++b)
      blockStart[static_cast<size_t>(b)] =
          blockStart[static_cast<size_t>(b - 1)] +
          blockCounts[static_cast<size_t>(b - 1)];
    send = Tensor::empty(expandX.dtype, {N, H});
    const size_t rb = storageBytes(expandX.dtype, H);
    std::vector<float> rowWeights;
    if (inputs.expandScales && N > 0) {
      rowWeights.resize(static_cast<size_t>(N));
      loadF32(*inputs.expandScales, 0, N, rowWeights.data());
    }
    int64_t row = 0;
    for (int64_t s = 0; s < R; ++s) {
      std::vector<int64_t> counts(static_cast<size_t>(L));
      std::vector<int32_t> idx;
      std::vector<float> back; // expand_scales of the rows, in send order
      for (int64_t e = 0; e < L; ++e) {
        const size_t b = static_cast<size_t>(e * R + s);
        const int64_t n = blockCounts[b];
        counts[static_cast<size_t>(e)] = n;
        if (n && rb)
          std::memcpy(send.bytes() + rb * row,
                      expandX.bytes() + rb * blockStart[b], rb * n);
        for (int64_t j = 0; j < n; ++j) {
          idx.push_back(static_cast<int32_t>(
              rowIdx[static_cast<size_t>(blockStart[b] + j)]));
          if (!rowWeights.empty())
            back.push_back(
                rowWeights[static_cast<size_t>(blockStart[b] + j)]);
        }
        row += n;
        sendSplits[static_cast<size_t>(s)] += n;
      }
      BlobWriter w;
      w.putString("");
      w.putArray(counts);
      w.putArray(idx);
      w.putArray(back);
      meta[static_cast<size_t>(s)] = std::move(w.bytes);
    }
  } else {
    for (auto &m : meta) {
      BlobWriter w;
      w.putString(problem);
      m = std::move(w.bytes);
    }
  }

  std::vector<std::vector<uint8_t>> got = exchangeFor(op, ep, meta);
  std::vector<std::string> problems(static_cast<size_t>(R));
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(R));
  std::vector<std::vector<int32_t>> idx(static_cast<size_t>(R));
  std::vector<std::vector<float>> carried(static_cast<size_t>(R));
  for (int64_t p = 0; p < R; ++p) {
    BlobReader r{got[static_cast<size_t>(p)], kCombine};
    problems[static_cast<size_t>(p)] = r.getString();
    if (!problems[static_cast<size_t>(p)].empty())
      continue;
    counts[static_cast<size_t>(p)] = r.getArray<int64_t>();
    idx[static_cast<size_t>(p)] = r.getArray<int32_t>();
    carried[static_cast<size_t>(p)] = r.getArray<float>();
  }
  throwFirstProblem(problems);

  // What comes back must be what this rank dispatched: the same pairs per
  // (rank, local expert) in the same order. A mismatch is reported after
  // the exchange of rows so no peer is left waiting.
  std::string mismatch;
  std::vector<int64_t> recvSplits(static_cast<size_t>(R), 0);
  for (int64_t p = 0; p < R; ++p) {
    const size_t pi = static_cast<size_t>(p);
    MOE_CHECK(static_cast<int64_t>(counts[pi].size()) == L,
              op + ": malformed metadata");
    int64_t rows = 0;
    for (int64_t n : counts[pi])
      rows += n;
    MOE_CHECK(static_cast<int64_t>(idx[pi].size()) == rows,
              op + ": malformed metadata");
    // With expand_scales every peer returns the weights the rows carried
    // (reported after the exchange of rows, like a mismatch).
    if (mismatch.empty() && inputs.expandScales &&
        static_cast<int64_t>(carried[pi].size()) != rows)
      mismatch = op + ": rank " + std::to_string(p) +
                 " returns rows without their expand_scales to " + me;
    int64_t j = 0;
    for (int64_t e = 0; e < L; ++e) {
      const auto &expected = routing.pairs[static_cast<size_t>(p * L + e)];
      const int64_t n = counts[pi][static_cast<size_t>(e)];
      recvSplits[pi] += n;
      if (!mismatch.empty())
        continue;
      if (n != static_cast<int64_t>(expected.size())) {
        mismatch = op + ": rank " + std::to_string(p) + " returns " +
                   std::to_string(n) + " rows of its local expert " +
                   std::to_string(e) + " to " + me + ", which dispatched " +
                   std::to_string(expected.size());
        continue;
      }
      for (int64_t i = 0; i < n && mismatch.empty(); ++i)
        if (idx[pi][static_cast<size_t>(j + i)] !=
            expected[static_cast<size_t>(i)])
          mismatch = op + ": rank " + std::to_string(p) + " returns pair " +
                     std::to_string(idx[pi][static_cast<size_t>(j + i)]) +
                     " where " + me + " dispatched pair " +
                     std::to_string(expected[static_cast<size_t>(i)]) +
                     " (expand_idx does not match the dispatch)";
      j += n;
    }
  }
  Tensor recv = allToAllVFor(op, ep, send, sendSplits, recvSplits);
  MOE_CHECK(mismatch.empty(), mismatch);

  // Row of every dispatched pair, then the weighted sum in k order.
  const int64_t K = routing.k;
  // (Shared-expert copies, with S > 0, are the pairs T * K + t.)
  std::vector<int64_t> rowOfPair(static_cast<size_t>(T * K + (S ? T : 0)),
                                 -1);
  int64_t row = 0;
  for (int64_t p = 0; p < R; ++p)
    for (int32_t pair : idx[static_cast<size_t>(p)])
      rowOfPair[static_cast<size_t>(pair)] = row++;
  std::vector<float> weights(static_cast<size_t>(T * K));
  if (T > 0 && K > 0)
    loadF32(expertScales, 0, T * K, weights.data());
  // Hierarchical communication: the weight of a pair is the one its row
  // carried through dispatch and back (expand_scales), not expert_scales.
  if (inputs.expandScales)
    for (int64_t p = 0; p < R; ++p) {
      const auto &pairs = idx[static_cast<size_t>(p)];
      for (size_t j = 0; j < pairs.size(); ++j)
        weights[static_cast<size_t>(pairs[j])] =
            carried[static_cast<size_t>(p)][j];
    }
  Tensor out = Tensor::zeros(expandX.dtype, {T, H});
  std::vector<float> acc(static_cast<size_t>(H)), buf(static_cast<size_t>(H));
  for (int64_t t = 0; t < T; ++t) {
    if (!routing.active[static_cast<size_t>(t)])
      continue;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = rowOfPair[static_cast<size_t>(t * K + k)];
      const float w = weights[static_cast<size_t>(t * K + k)];
      loadF32(recv, r * H, H, buf.data());
      for (int64_t h = 0; h < H; ++h) {
        // Separate statements: no fused multiply-add, so every backend
        // and the dense reference round the same way.
        const float term = w * buf[static_cast<size_t>(h)];
        acc[static_cast<size_t>(h)] += term;
      }
    }
    if (S > 0) {
      // The shared experts' row of t, from shared-expert rank `rank % S`,
      // with weight one (as shared_expert_x).
      loadF32(recv, rowOfPair[static_cast<size_t>(T * K + t)] * H, H,
              buf.data());
      for (int64_t h = 0; h < H; ++h)
        acc[static_cast<size_t>(h)] += buf[static_cast<size_t>(h)];
    }
    if (sharedX) {
      loadF32(*sharedX, t * H, H, buf.data());
      for (int64_t h = 0; h < H; ++h)
        acc[static_cast<size_t>(h)] += buf[static_cast<size_t>(h)];
    }
    storeF32(out, t * H, H, acc.data());
  }
  return out;
}

//===----------------------------------------------------------------------===//
// The v1 A2 forms
//===----------------------------------------------------------------------===//

namespace {
/// The contract of a v1 A2 call: the EP group alone, this rank's id in it.
Mc2Contract v1Contract(Comm &ep, int64_t epWorldSize, int64_t moeExpertNum) {
  Mc2Contract contract;
  contract.epWorldSize = epWorldSize;
  contract.epRankId = ep.rank();
  contract.moeExpertNum = moeExpertNum;
  return contract;
}
} // namespace

DistributeDispatchResult
distributeDispatch(Comm &ep, const Tensor &x, const Tensor &expertIds,
                   const Tensor *mask, int64_t epWorldSize,
                   int64_t moeExpertNum, int64_t quantMode, int64_t capacity,
                   GroupListType type) {
  Mc2Contract contract = v1Contract(ep, epWorldSize, moeExpertNum);
  Mc2DispatchInputs inputs;
  inputs.mask = mask;
  return distributeDispatch(ep, x, expertIds, inputs, contract, quantMode,
                            capacity, type);
}

Tensor distributeCombine(Comm &ep, const Tensor &expandX,
                         const Tensor &expertIds, const Tensor &expandIdx,
                         const Tensor &epSendCounts,
                         const Tensor &expertScales, const Tensor *mask,
                         const Tensor *sharedX, int64_t epWorldSize,
                         int64_t moeExpertNum) {
  Mc2Contract contract = v1Contract(ep, epWorldSize, moeExpertNum);
  Mc2CombineInputs inputs;
  inputs.mask = mask;
  inputs.sharedX = sharedX;
  return distributeCombine(ep, expandX, expertIds, expandIdx, epSendCounts,
                           expertScales, inputs, contract);
}

} // namespace moert
