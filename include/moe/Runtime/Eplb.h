//===- Eplb.h - dynamic expert load balancing ------------------*- C++ -*-===//
//
// Dynamic EPLB (SEMANTICS §9, seed 001; docs/Eplb.md): compiled layers
// record the rows each physical expert receives (npu.record_expert_load,
// into World's per-rank load buffer); between two steps the commit point
// all-gathers the loads and the current log2phy tables, runs the
// deterministic greedy policy below, moves the expert weights between the
// ranks and swaps every rank's log2phy / expert_map / weight inputs before
// the next step starts, so all ranks change placement at once.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_EPLB_H
#define MOE_RUNTIME_EPLB_H

#include "moe/Runtime/Comm.h"

#include <string>
#include <vector>

namespace moert {

/// npu.record_expert_load's kernel: for every row of `ids [N, K]` (physical
/// expert ids, i32) that `valid` (i1 [N], null: every row) marks, one count
/// per pair whose id is in [first, first + count); ids outside
/// [0, numExperts) throw. Returns the counts of all `numExperts` experts.
std::vector<int64_t> countExpertLoad(const Tensor &ids, const Tensor *valid,
                                     int64_t numExperts, int64_t first,
                                     int64_t count);

/// A placement of E logical experts on `ranks` ranks of `perRank` physical
/// slots each (E + R = ranks * perRank; physical p is slot p % perRank of
/// rank p / perRank, as expert_shard_type 0 places them).
struct EplbPlacement {
  int64_t logical = 0, ranks = 1, perRank = 0;
  std::vector<int64_t> phys2log;             // [ranks * perRank]
  std::vector<std::vector<int32_t>> log2phy; // per rank, [E]

  int64_t physical() const { return ranks * perRank; }
  /// vllm-ascend's expert_map for `rank`: slot of p on the rank, or -1.
  std::vector<int32_t> expertMap(int64_t rank) const;
};

/// The rebalance policy (docs/Eplb.md, "Policy"), deterministic, from
/// `sourceLoad[q][e]`: the rows rank q's tokens sent to logical expert e
/// (with `oneTable` any number of sources, e.g. one row of totals):
/// 1. every logical expert gets one replica; each of the R redundant slots
///    goes to the expert with the largest load per replica (ties: lowest
///    id), at most `ranks` replicas each;
/// 2. replicas are placed hottest first (load per replica; with
///    `oneTable` an expert's first replica carries all its load, the others
///    none), ties by lower expert id then replica index, each on the rank
///    with the least placed load (ties: lowest rank) that has a free slot
///    and no replica of that expert yet (any rank with a free slot if none
///    qualifies);
/// 3. a rank's slots hold its replicas by ascending expert id;
/// 4. log2phy: with `oneTable` (allgather: every rank maps every token)
///    every rank uses each expert's first replica; otherwise the (source
///    rank, expert) loads, heaviest first (ties: lower rank, lower expert),
///    each go to the replica on the rank that serves the fewest rows so far
///    (ties: the source's own replica, then the lowest physical id); an
///    idle pair uses the source's own replica, else replica
///    q mod (replica count).
EplbPlacement planPlacement(const std::vector<std::vector<int64_t>> &sourceLoad,
                            int64_t ranks, int64_t perRank, bool oneTable);

/// Column sums of `sourceLoad`: rows per logical expert.
std::vector<int64_t>
totalLoad(const std::vector<std::vector<int64_t>> &sourceLoad);

/// The rows each rank's slots would receive under `placement` if the
/// sources sent `sourceLoad` again (a source beyond the tables uses rank
/// 0's table).
std::vector<double>
predictRankLoad(const EplbPlacement &placement,
                const std::vector<std::vector<int64_t>> &sourceLoad);

/// max / mean of per-rank loads (1 when every rank is idle).
double imbalance(const std::vector<double> &rankLoad);

/// One weight move: slot `toSlot` of rank `toRank` receives logical expert
/// `logical`'s weights from slot `fromSlot` of rank `fromRank`.
struct EplbMove {
  int64_t toRank, toSlot, logical, fromRank, fromSlot;
};

/// The moves that turn `oldPhys2log` (-1: a slot no table refers to, whose
/// content is unknown) into `next`: every slot whose logical expert changes,
/// from a replica on the receiving rank if it holds one, else from the
/// lowest physical replica of the expert. Throws if an expert has no source.
std::vector<EplbMove> planMoves(const std::vector<int64_t> &oldPhys2log,
                                const EplbPlacement &next);

/// Which entry inputs the commit point rewrites.
struct EplbBinding {
  int log2phy = -1;         // i32 [E]
  int expertMap = -1;       // i32 [E + R]
  std::vector<int> weights; // expert-indexed tensors, [L, ...] each
};

/// What one commit saw and did (identical on every rank, except `error`).
struct EplbReport {
  std::vector<int64_t> logicalLoad; // rows per logical expert this step
  std::vector<double> rankLoad;     // rows per rank this step
  double imbalance = 1;             // max / mean of rankLoad
  double predicted = 1;             // imbalance predicted for the next step
  int64_t moves = 0;                // slots whose weights were replaced
  std::string error;                // non-empty: the rank failed
};

/// The commit point on global rank `rank`, between two steps: takes the
/// rank's recorded load, all-gathers loads and log2phy tables over the EP
/// group (through `world`'s collectives, so it works for every backend),
/// plans, exchanges the moved weights and replaces the bound inputs of
/// `inputs` by new tensors. Every rank of the world must call it. Throws
/// Error (and fails the world) on bad tables or a layer that records no
/// load.
EplbReport eplbCommit(World &world, int rank, std::vector<Tensor> &inputs,
                      const EplbBinding &binding);

/// eplbCommit on every local rank of `world` at once (one thread each);
/// `inputs[i]` are the i-th local rank's. Nothing of the new placement is
/// visible to a step before every local rank has committed.
std::vector<EplbReport> eplbCommitRanks(World &world,
                                        std::vector<std::vector<Tensor>> &inputs,
                                        const EplbBinding &binding);

/// The binding of the entry's inputs by the names the conformance suite and
/// the examples use (`log2phy`, `expert_map`, and the routed experts'
/// `w13`, `w2`, `w13_scale`, `w2_scale`, `w13_group_scale`,
/// `w2_group_scale`, `w13_scale_second`, `w2_scale_second`); empty error
/// when both tables are present.
EplbBinding bindEplbInputs(const std::vector<std::string> &names,
                           std::string &error);

} // namespace moert

#endif // MOE_RUNTIME_EPLB_H
