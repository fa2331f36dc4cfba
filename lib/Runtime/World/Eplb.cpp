//===- Eplb.cpp - dynamic expert load balancing ---------------------------===//
//
// The load buffer npu.record_expert_load fills, the greedy rebalance policy
// and the commit point between steps (moe/Runtime/Eplb.h, docs/Eplb.md).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Eplb.h"
#include "moe/Runtime/Kernels.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <numeric>
#include <thread>

namespace moert {

/// Collectives of the commit point use their own channel, apart from the
/// streams' (their ids) and the host's (kHostChannel, Streams.h).
static constexpr int kEplbChannel = (1 << 20) + 1;

static std::string num(int64_t v) { return std::to_string(v); }

//===----------------------------------------------------------------------===//
// The load buffer
//===----------------------------------------------------------------------===//

void World::addExpertLoad(int rank, const std::vector<int64_t> &rows,
                          bool gathered) {
  std::lock_guard<std::mutex> lock(expertLoadMutex);
  ExpertLoad &load = expertLoads[rank];
  if (load.rows.empty())
    load.rows.assign(rows.size(), 0);
  MOE_CHECK(load.rows.size() == rows.size(),
            "npu.record_expert_load: " + num(int64_t(rows.size())) +
                " experts, but this step recorded " +
                num(int64_t(load.rows.size())) +
                " already (one placement per world: every recording layer must "
                "have the same physical experts)");
  for (size_t p = 0; p < rows.size(); ++p)
    load.rows[p] += rows[p];
  load.gathered |= gathered;
}

World::ExpertLoad World::takeExpertLoad(int rank) {
  std::lock_guard<std::mutex> lock(expertLoadMutex);
  ExpertLoad load = std::move(expertLoads[rank]);
  expertLoads.erase(rank);
  return load;
}

std::vector<int64_t> countExpertLoad(const Tensor &ids, const Tensor *valid,
                                     int64_t numExperts, int64_t first,
                                     int64_t count) {
  const std::string op = "npu.record_expert_load: ";
  MOE_CHECK(ids.dtype == DType::I32 && ids.rank() == 2,
            op + "ids must be i32 [N, K], got " + ids.str());
  MOE_CHECK(numExperts > 0 && first >= 0 && count >= 0 &&
                first + count <= numExperts,
            op + "range [" + num(first) + ", " + num(first + count) +
                ") outside the " + num(numExperts) + " experts");
  int64_t n = ids.dim(0), k = ids.dim(1);
  if (valid)
    MOE_CHECK(valid->dtype == DType::I1 && valid->rank() == 1 &&
                  valid->dim(0) == n,
              op + "valid must be i1 [" + num(n) + "], got " + valid->str());
  std::vector<int64_t> rows(static_cast<size_t>(numExperts), 0);
  const int32_t *id = ids.data<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    if (valid && !valid->data<uint8_t>()[t])
      continue;
    for (int64_t j = 0; j < k; ++j) {
      int64_t e = id[t * k + j];
      if (e < 0 || e >= numExperts) // the message only then: a check per pair
        throw Error(op + "row " + num(t) + " routes to expert " + num(e) +
                    ", outside [0, " + num(numExperts) + ")");
      if (e >= first && e < first + count)
        ++rows[static_cast<size_t>(e)];
    }
  }
  return rows;
}

//===----------------------------------------------------------------------===//
// The policy
//===----------------------------------------------------------------------===//

std::vector<int32_t> EplbPlacement::expertMap(int64_t rank) const {
  std::vector<int32_t> map(static_cast<size_t>(physical()), -1);
  for (int64_t j = 0; j < perRank; ++j)
    map[static_cast<size_t>(rank * perRank + j)] = static_cast<int32_t>(j);
  return map;
}

std::vector<int64_t>
totalLoad(const std::vector<std::vector<int64_t>> &sourceLoad) {
  std::vector<int64_t> total;
  for (const std::vector<int64_t> &row : sourceLoad) {
    total.resize(std::max(total.size(), row.size()), 0);
    for (size_t e = 0; e < row.size(); ++e)
      total[e] += row[e];
  }
  return total;
}

EplbPlacement planPlacement(const std::vector<std::vector<int64_t>> &sourceLoad,
                            int64_t ranks, int64_t perRank, bool oneTable) {
  std::vector<int64_t> logicalLoad = totalLoad(sourceLoad);
  int64_t experts = static_cast<int64_t>(logicalLoad.size());
  for (const std::vector<int64_t> &row : sourceLoad)
    MOE_CHECK(static_cast<int64_t>(row.size()) == experts,
              "eplb: every source's load must cover the " + num(experts) +
                  " experts");
  MOE_CHECK(oneTable || static_cast<int64_t>(sourceLoad.size()) == ranks,
            "eplb: per-rank tables need the load of each of the " + num(ranks) +
                " ranks' tokens, got " + num(int64_t(sourceLoad.size())));
  int64_t slots = ranks * perRank;
  MOE_CHECK(ranks > 0 && perRank > 0 && experts > 0 && slots >= experts &&
                slots <= experts * ranks,
            "eplb: cannot place " + num(experts) + " experts on " + num(ranks) +
                " ranks of " + num(perRank) + " slots");
  for (int64_t load : logicalLoad)
    MOE_CHECK(load >= 0, "eplb: negative expert load");

  // 1. Replica counts: each redundant slot to the hottest expert per replica.
  std::vector<int64_t> replicas(static_cast<size_t>(experts), 1);
  auto perReplicaLess = [&](int64_t a, int64_t b) {
    // load[a] / replicas[a] < load[b] / replicas[b], exactly.
    long double lhs = static_cast<long double>(logicalLoad[a]) * replicas[b];
    long double rhs = static_cast<long double>(logicalLoad[b]) * replicas[a];
    return lhs < rhs;
  };
  for (int64_t s = experts; s < slots; ++s) {
    int64_t best = -1;
    for (int64_t e = 0; e < experts; ++e)
      if (replicas[e] < ranks && (best < 0 || perReplicaLess(best, e)))
        best = e;
    ++replicas[best];
  }

  // 2. Place the replicas, hottest first.
  struct Replica {
    int64_t expert, index;
    double share;
  };
  std::vector<Replica> order;
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t i = 0; i < replicas[e]; ++i) {
      double share = oneTable ? (i == 0 ? double(logicalLoad[e]) : 0.0)
                              : double(logicalLoad[e]) / double(replicas[e]);
      order.push_back({e, i, share});
    }
  std::sort(order.begin(), order.end(),
            [](const Replica &a, const Replica &b) {
                     if (a.share != b.share)
                       return a.share > b.share;
                     if (a.expert != b.expert)
                       return a.expert < b.expert;
                     return a.index < b.index;
                   });
  std::vector<double> rankLoad(static_cast<size_t>(ranks), 0);
  std::vector<int64_t> used(static_cast<size_t>(ranks), 0);
  std::vector<std::vector<int64_t>> held(static_cast<size_t>(ranks));
  // replicaRank[e][i]: where replica i of e went.
  std::vector<std::vector<int64_t>> replicaRank(static_cast<size_t>(experts));
  for (int64_t e = 0; e < experts; ++e)
    replicaRank[e].assign(static_cast<size_t>(replicas[e]), -1);
  for (const Replica &r : order) {
    int64_t pick = -1;
    for (int pass = 0; pass < 2 && pick < 0; ++pass)
      for (int64_t q = 0; q < ranks; ++q) {
        if (used[q] == perRank)
          continue;
        bool holds = std::count(held[q].begin(), held[q].end(), r.expert) > 0;
        if (pass == 0 && holds)
          continue;
        if (pick < 0 || rankLoad[q] < rankLoad[pick])
          pick = q;
      }
    rankLoad[pick] += r.share;
    ++used[pick];
    held[pick].push_back(r.expert);
    replicaRank[r.expert][r.index] = pick;
  }

  // 3. Slots of a rank by ascending expert id (then replica index).
  EplbPlacement out;
  out.logical = experts;
  out.ranks = ranks;
  out.perRank = perRank;
  out.phys2log.assign(static_cast<size_t>(slots), -1);
  std::vector<std::vector<int64_t>> replicaPhys(static_cast<size_t>(experts));
  std::vector<int64_t> next(static_cast<size_t>(ranks), 0);
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t i = 0; i < replicas[e]; ++i) {
      int64_t q = replicaRank[e][i];
      int64_t p = q * perRank + next[q]++;
      out.phys2log[p] = e;
      replicaPhys[e].push_back(p);
    }

  // 4. Each rank's log2phy. One table: every expert's first replica.
  out.log2phy.assign(static_cast<size_t>(ranks),
                     std::vector<int32_t>(static_cast<size_t>(experts), 0));
  if (oneTable) {
    for (int64_t q = 0; q < ranks; ++q)
      for (int64_t e = 0; e < experts; ++e)
        out.log2phy[q][e] = static_cast<int32_t>(replicaPhys[e][0]);
    return out;
  }
  // Per-rank tables: the (source rank, expert) loads, heaviest first (ties:
  // lower rank, then lower expert), each to the replica on the least loaded
  // rank so far (ties: the source's own replica, then the lowest physical
  // id); an idle pair takes the source's own replica, else replica
  // q mod (replica count).
  struct Pair {
    int64_t source, expert, rows;
  };
  std::vector<Pair> pairs;
  for (int64_t q = 0; q < ranks; ++q)
    for (int64_t e = 0; e < experts; ++e)
      pairs.push_back({q, e, sourceLoad[q][e]});
  std::sort(pairs.begin(), pairs.end(), [](const Pair &a, const Pair &b) {
    if (a.rows != b.rows)
      return a.rows > b.rows;
    if (a.source != b.source)
      return a.source < b.source;
    return a.expert < b.expert;
  });
  std::vector<int64_t> served(static_cast<size_t>(ranks), 0);
  for (const Pair &pair : pairs) {
    const std::vector<int64_t> &reps = replicaPhys[pair.expert];
    int64_t own = -1;
    for (int64_t p : reps)
      if (p / perRank == pair.source && own < 0)
        own = p;
    int64_t choice;
    if (pair.rows == 0) {
      choice = own >= 0 ? own : reps[static_cast<size_t>(pair.source) % reps.size()];
    } else {
      choice = reps[0];
      auto better = [&](int64_t p, int64_t than) {
        int64_t a = served[p / perRank], b = served[than / perRank];
        if (a != b)
          return a < b;
        if ((p == own) != (than == own))
          return p == own;
        return p < than;
      };
      for (int64_t p : reps)
        if (better(p, choice))
          choice = p;
      served[choice / perRank] += pair.rows;
    }
    out.log2phy[pair.source][pair.expert] = static_cast<int32_t>(choice);
  }
  return out;
}

std::vector<double>
predictRankLoad(const EplbPlacement &placement,
                const std::vector<std::vector<int64_t>> &sourceLoad) {
  std::vector<double> load(static_cast<size_t>(placement.ranks), 0);
  for (size_t q = 0; q < sourceLoad.size(); ++q) {
    // A source without a table of its own (one table) uses rank 0's.
    const std::vector<int32_t> &table =
        placement.log2phy[std::min<size_t>(q, placement.log2phy.size() - 1)];
    for (int64_t e = 0; e < placement.logical; ++e)
      load[table[e] / placement.perRank] += double(sourceLoad[q][e]);
  }
  return load;
}

double imbalance(const std::vector<double> &rankLoad) {
  if (rankLoad.empty())
    return 1;
  double most = *std::max_element(rankLoad.begin(), rankLoad.end());
  double sum = std::accumulate(rankLoad.begin(), rankLoad.end(), 0.0);
  if (sum <= 0)
    return 1;
  return most / (sum / double(rankLoad.size()));
}

std::vector<EplbMove> planMoves(const std::vector<int64_t> &oldPhys2log,
                                const EplbPlacement &next) {
  MOE_CHECK(static_cast<int64_t>(oldPhys2log.size()) == next.physical(),
            "eplb: the old placement has " + num(int64_t(oldPhys2log.size())) +
                " physical experts, the new one " + num(next.physical()));
  std::vector<EplbMove> moves;
  for (int64_t p = 0; p < next.physical(); ++p) {
    int64_t e = next.phys2log[p];
    if (oldPhys2log[p] == e)
      continue;
    int64_t rank = p / next.perRank, source = -1;
    for (int64_t j = 0; j < next.perRank && source < 0; ++j)
      if (oldPhys2log[rank * next.perRank + j] == e)
        source = rank * next.perRank + j;
    for (int64_t o = 0; o < next.physical() && source < 0; ++o)
      if (oldPhys2log[o] == e)
        source = o;
    MOE_CHECK(source >= 0,
              "eplb: no rank holds the weights of expert " + num(e));
    moves.push_back({rank, p % next.perRank, e, source / next.perRank,
                     source % next.perRank});
  }
  return moves;
}

//===----------------------------------------------------------------------===//
// The commit point
//===----------------------------------------------------------------------===//

static Tensor vectorI32(const std::vector<int32_t> &v) {
  Tensor t = Tensor::empty(DType::I32, {static_cast<int64_t>(v.size())});
  if (!v.empty())
    std::memcpy(t.bytes(), v.data(), v.size() * sizeof(int32_t));
  return t;
}

/// Bytes of one expert's slice of an expert-indexed tensor with `slots`
/// leading entries.
static size_t slotBytes(const Tensor &t, int64_t slots, const std::string &what) {
  MOE_CHECK(t.rank() >= 1 && t.dim(0) == slots,
            "eplb: " + what + " is " + t.str() + ", not indexed by the " +
                num(slots) + " local experts");
  size_t bytes = t.nbytes();
  MOE_CHECK(bytes % static_cast<size_t>(slots) == 0,
            "eplb: " + what + " (" + t.str() +
                ") does not split into whole bytes per expert");
  return bytes / static_cast<size_t>(slots);
}

EplbReport eplbCommit(World &world, int rank, std::vector<Tensor> &inputs,
                      const EplbBinding &binding) {
  const Layout &layout = world.layout();
  auto input = [&](int index, const char *what) -> Tensor & {
    MOE_CHECK(index >= 0 && static_cast<size_t>(index) < inputs.size(),
              std::string("eplb: the entry takes no ") + what + " input");
    return inputs[static_cast<size_t>(index)];
  };
  Tensor &log2phy = input(binding.log2phy, "log2phy");
  Tensor &expertMap = input(binding.expertMap, "expert_map");
  MOE_CHECK(log2phy.dtype == DType::I32 && log2phy.rank() == 1 &&
                expertMap.dtype == DType::I32 && expertMap.rank() == 1,
            "eplb: log2phy and expert_map must be i32 vectors, got " +
                log2phy.str() + " and " + expertMap.str());
  MOE_CHECK(
      layout.useEp(),
      "eplb: dynamic EPLB needs expert parallelism on more than one rank");
  int64_t experts = log2phy.dim(0), physical = expertMap.dim(0);
  int64_t ranks = layout.epSize();
  MOE_CHECK(physical % ranks == 0 && physical >= experts,
            "eplb: " + num(physical) + " physical experts on " + num(ranks) +
                " ranks for " + num(experts) + " logical ones");
  int64_t perRank = physical / ranks;

  // The rank's load and table, all-gathered over the EP group:
  // [gathered, recorded, rows[physical], log2phy[experts]] per rank.
  World::ExpertLoad mine = world.takeExpertLoad(rank);
  MOE_CHECK(mine.rows.empty() ||
                static_cast<int64_t>(mine.rows.size()) == physical,
            "eplb: the layer recorded " + num(int64_t(mine.rows.size())) +
                " experts, expert_map has " + num(physical));
  int64_t width = 2 + physical + experts;
  Tensor row = Tensor::zeros(DType::I64, {1, width});
  int64_t *r = row.data<int64_t>();
  r[0] = mine.gathered;
  r[1] = !mine.rows.empty();
  for (int64_t p = 0; p < static_cast<int64_t>(mine.rows.size()); ++p)
    r[2 + p] = mine.rows[p];
  for (int64_t e = 0; e < experts; ++e)
    r[2 + physical + e] = log2phy.data<int32_t>()[e];
  Comm &comm = world.comm(rank, Group::EP, kEplbChannel);
  Tensor all = comm.allGather(row);
  const int64_t *a = all.data<int64_t>();

  bool oneTable = false, recorded = false;
  std::vector<int64_t> physLoad(static_cast<size_t>(physical), 0);
  std::vector<int64_t> oldPhys2log(static_cast<size_t>(physical), -1);
  for (int64_t q = 0; q < ranks; ++q) {
    const int64_t *rq = a + q * width;
    oneTable |= rq[0] != 0;
    recorded |= rq[1] != 0;
    for (int64_t p = 0; p < physical; ++p)
      physLoad[p] += rq[2 + p];
    for (int64_t e = 0; e < experts; ++e) {
      int64_t p = rq[2 + physical + e];
      MOE_CHECK(p >= 0 && p < physical,
                "eplb: log2phy of rank " + num(q) + " maps expert " + num(e) +
                    " to " + num(p) + ", outside [0, " + num(physical) + ")");
      MOE_CHECK(oldPhys2log[p] < 0 || oldPhys2log[p] == e,
                "eplb: the log2phy tables map experts " + num(oldPhys2log[p]) +
                    " and " + num(e) + " to one physical expert " + num(p));
      oldPhys2log[p] = e;
    }
  }
  MOE_CHECK(recorded, "eplb: no rank recorded expert load; the layer has no "
                      "npu.record_expert_load (it needs log2phy and expert "
                      "parallelism)");
  EplbReport report;
  report.rankLoad.assign(static_cast<size_t>(ranks), 0);
  for (int64_t p = 0; p < physical; ++p) {
    MOE_CHECK(physLoad[p] == 0 || oldPhys2log[p] >= 0,
              "eplb: " + num(physLoad[p]) + " rows went to physical expert " +
                  num(p) + ", which no log2phy names");
    report.rankLoad[p / perRank] += double(physLoad[p]);
  }
  report.imbalance = imbalance(report.rankLoad);
  // Without one table each rank counted its own tokens: the load by source
  // rank. With it each rank counted its own experts: one source.
  std::vector<std::vector<int64_t>> sourceLoad(
      static_cast<size_t>(oneTable ? 1 : ranks),
      std::vector<int64_t>(static_cast<size_t>(experts), 0));
  for (int64_t q = 0; q < ranks; ++q)
    for (int64_t p = 0; p < physical; ++p)
      if (int64_t rows = a[q * width + 2 + p])
        sourceLoad[oneTable ? 0 : q][oldPhys2log[p]] += rows;
  report.logicalLoad = totalLoad(sourceLoad);

  EplbPlacement next = planPlacement(sourceLoad, ranks, perRank, oneTable);
  report.predicted = imbalance(predictRankLoad(next, sourceLoad));
  std::vector<EplbMove> moves = planMoves(oldPhys2log, next);
  report.moves = static_cast<int64_t>(moves.size());

  // Weights: every rank sends the slices its slots supply, in move order.
  std::vector<size_t> bytes;
  for (int index : binding.weights)
    bytes.push_back(slotBytes(input(index, "weight"), perRank,
                              "weight input " + num(index)));
  size_t perExpert = std::accumulate(bytes.begin(), bytes.end(), size_t(0));
  std::vector<std::vector<uint8_t>> toEach(static_cast<size_t>(ranks));
  for (const EplbMove &m : moves) {
    if (m.fromRank != rank)
      continue;
    std::vector<uint8_t> &blob = toEach[static_cast<size_t>(m.toRank)];
    for (size_t w = 0; w < binding.weights.size(); ++w) {
      const Tensor &t = inputs[static_cast<size_t>(binding.weights[w])];
      const uint8_t *from = t.bytes() + static_cast<size_t>(m.fromSlot) * bytes[w];
      blob.insert(blob.end(), from, from + bytes[w]);
    }
  }
  std::vector<std::vector<uint8_t>> received = comm.exchange(toEach);
  std::vector<Tensor> fresh;
  for (int index : binding.weights) {
    const Tensor &old = inputs[static_cast<size_t>(index)];
    Tensor t = Tensor::empty(old.dtype, old.shape);
    std::memcpy(t.bytes(), old.bytes(), old.nbytes());
    // Expert slices packed in place (npu.pack_weights) move as they are;
    // the new stack is packed likewise (and not packed again at load).
    if (packedInPlace(old))
      markPackedInPlace(t);
    fresh.push_back(t);
  }
  std::vector<size_t> cursor(static_cast<size_t>(ranks), 0);
  for (const EplbMove &m : moves) {
    if (m.toRank != rank)
      continue;
    const std::vector<uint8_t> &blob = received[static_cast<size_t>(m.fromRank)];
    size_t &at = cursor[static_cast<size_t>(m.fromRank)];
    MOE_CHECK(at + perExpert <= blob.size(),
              "eplb: rank " + num(m.fromRank) +
                  " sent fewer weights than planned");
    for (size_t w = 0; w < fresh.size(); ++w) {
      std::memcpy(fresh[w].bytes() + static_cast<size_t>(m.toSlot) * bytes[w],
                  blob.data() + at, bytes[w]);
      at += bytes[w];
    }
  }
  for (size_t w = 0; w < fresh.size(); ++w)
    inputs[static_cast<size_t>(binding.weights[w])] = fresh[w];
  log2phy = vectorI32(next.log2phy[static_cast<size_t>(rank)]);
  expertMap = vectorI32(next.expertMap(rank));
  return report;
}

std::vector<EplbReport> eplbCommitRanks(World &world,
                                        std::vector<std::vector<Tensor>> &inputs,
                                        const EplbBinding &binding) {
  std::vector<int> ranks = world.localRanks();
  MOE_CHECK(inputs.size() == ranks.size(),
            "eplb: " + num(int64_t(inputs.size())) + " input sets for " +
                num(int64_t(ranks.size())) + " local ranks");
  // Each rank commits on its own copy, so a failed commit leaves every
  // rank's inputs as they were.
  std::vector<std::vector<Tensor>> next = inputs;
  std::vector<EplbReport> reports(ranks.size());
  auto commit = [&](size_t i) {
    try {
      reports[i] = eplbCommit(world, ranks[i], next[i], binding);
    } catch (const std::exception &e) {
      reports[i].error = "rank " + num(ranks[i]) + ": " + e.what();
      world.abort(ranks[i], reports[i].error);
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < ranks.size(); ++i)
    threads.emplace_back(commit, i);
  if (!ranks.empty())
    commit(0);
  for (std::thread &t : threads)
    t.join();
  bool ok = std::all_of(reports.begin(), reports.end(),
                        [](const EplbReport &r) { return r.error.empty(); });
  if (ok)
    inputs = std::move(next);
  return reports;
}

EplbBinding bindEplbInputs(const std::vector<std::string> &names,
                           std::string &error) {
  static const char *const weightNames[] = {
      "w13",       "w2",        "w13_scale",        "w2_scale",
      "w13_group_scale", "w2_group_scale", "w13_scale_second",
      "w2_scale_second"};
  EplbBinding binding;
  for (size_t i = 0; i < names.size(); ++i) {
    int index = static_cast<int>(i);
    if (names[i] == "log2phy")
      binding.log2phy = index;
    else if (names[i] == "expert_map")
      binding.expertMap = index;
    else if (std::find(std::begin(weightNames), std::end(weightNames),
                       names[i]) != std::end(weightNames))
      binding.weights.push_back(index);
  }
  error.clear();
  if (binding.log2phy < 0 || binding.expertMap < 0)
    error = "dynamic EPLB needs entry arguments named 'log2phy' and "
            "'expert_map'";
  else if (binding.weights.empty())
    error = "dynamic EPLB found no expert weight argument ('w13', 'w2', ...)";
  return binding;
}

} // namespace moert
