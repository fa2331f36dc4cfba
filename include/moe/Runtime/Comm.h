//===- Comm.h - collectives of the moe-mlir runtime -------------*- C++ -*-===//
//
// A Comm is one rank's endpoint of a communication group (tp, dp, ep or
// world of the layout). Every member calls the same sequence of
// collectives; results are deterministic and identical across backends
// (threads in one process, MPI processes): reductions combine in
// group-rank order. A failed or vanished member makes the others' pending
// and later collectives throw instead of hanging.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_COMM_H
#define MOE_RUNTIME_COMM_H

#include "moe/Runtime/Tensor.h"

#include <memory>
#include <string>
#include <vector>

namespace moert {

/// Numbers shared with the npu dialect's enums.
enum class ReduceKind : int32_t { Sum = 0, Max = 1 };
enum class Group : int32_t { World = 0, TP = 1, DP = 2, EP = 3 };
const char *groupName(Group group);

class Comm {
public:
  virtual ~Comm();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Rows of every member concatenated in rank order (row counts may
  /// differ; trailing shape and type must agree).
  virtual Tensor allGather(const Tensor &x) = 0;
  /// Float sum in rank order; rows divisible by size(); member i keeps
  /// chunk i.
  virtual Tensor reduceScatter(const Tensor &x) = 0;
  /// Elementwise sum or max in rank order; shapes must agree.
  virtual Tensor allReduce(const Tensor &x, ReduceKind kind) = 0;
  /// Sends send[p] consecutive rows to member p; recv[p] must equal what p
  /// sends here. Received rows are concatenated in source-rank order.
  virtual Tensor allToAllV(const Tensor &x, const std::vector<int64_t> &send,
                           const std::vector<int64_t> &recv) = 0;
  virtual int64_t allReduceScalar(int64_t value, ReduceKind kind) = 0;
  /// All-to-all of byte blobs: result[p] is what member p passed for us.
  virtual std::vector<std::vector<uint8_t>>
  exchange(const std::vector<std::vector<uint8_t>> &toEach) = 0;
};

/// The parallel layout (#moe.layout). Global rank r = dp_rank * tp + tp_rank.
struct Layout {
  int64_t tp = 1, dp = 1;
  bool expertParallel = false;
  bool sequenceParallel = false;
  int64_t worldSize() const { return tp * dp; }
  bool useEp() const { return worldSize() > 1 && expertParallel; }
  int64_t epSize() const { return useEp() ? worldSize() : 1; }
  /// Global ranks of the group of `group` that `rank` belongs to, in group
  /// rank order.
  std::vector<int> members(Group group, int rank) const;
};

/// The ranks of one run. The thread backend holds every rank of the layout
/// in one process; the MPI backend one rank per process.
class World {
public:
  virtual ~World();
  const Layout &layout() const { return layout_; }
  /// Ranks driven by this process.
  virtual std::vector<int> localRanks() const = 0;
  /// The communicator of `group` for global rank `rank` on `channel`
  /// (every stream uses its own channel, so collectives of different
  /// streams never pair with each other).
  virtual Comm &comm(int rank, Group group, int channel) = 0;
  /// Fails the run: pending and later collectives of every rank throw
  /// Error("... rank <rank> failed: <why>").
  virtual void abort(int rank, const std::string &why) = 0;
  virtual bool aborted() const = 0;

protected:
  explicit World(Layout layout) : layout_(layout) {}
  Layout layout_;
};

/// All ranks of `layout` as threads of this process, exchanging through
/// shared memory. A collective waiting longer than `timeoutSeconds` for the
/// other members fails the run.
std::unique_ptr<World> createThreadWorld(const Layout &layout,
                                         double timeoutSeconds);

} // namespace moert

#endif // MOE_RUNTIME_COMM_H
