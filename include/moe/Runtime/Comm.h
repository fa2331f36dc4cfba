//===- Comm.h - collectives of the moe-mlir runtime -------------*- C++ -*-===//
//
// A Comm is one rank's endpoint of a communication group (tp, dp, ep, pcp
// or world of the layout). Every member calls the same sequence of
// collectives; results are deterministic and identical across backends
// (threads in one process, MPI processes): reductions combine in
// group-rank order. A failed or vanished member makes the others' pending
// and later collectives throw instead of hanging.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_COMM_H
#define MOE_RUNTIME_COMM_H

#include "moe/Runtime/Tensor.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace moert {

/// Group and ReduceKind are the npu dialect's (Enums.h).
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

/// The parallel layout (#moe.layout). Global rank
/// r = (dp_rank * pcp + pcp_rank) * tp + tp_rank.
struct Layout {
  int64_t tp = 1, dp = 1;
  bool expertParallel = false;
  bool sequenceParallel = false;
  /// Prefill context parallel size (seed 000 `pcp_size`).
  int64_t pcp = 1;
  int64_t worldSize() const { return tp * dp * pcp; }
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

  /// What a rank keeps between runs: the results of a load-time function
  /// (docs/Runtime.md, "Load time") and the inputs they were computed from.
  struct LoadedValues {
    std::vector<Tensor> inputs;  // shares the inputs' storage
    std::vector<Tensor> results;
  };
  /// The load-time results of executable `id` on `rank` (empty at first).
  /// Each rank's host thread uses its own entries; creating one locks.
  LoadedValues &loaded(int rank, uint64_t id);

  /// Dynamic EPLB (docs/Eplb.md): rows per physical expert that `rank`'s
  /// npu.record_expert_load ops counted since its last commit, and whether
  /// one of them counted gathered tokens (every rank maps them alike, so
  /// the rank's log2phy must stay the same on every rank). Streams of one
  /// rank may add concurrently; a different expert count throws Error.
  void addExpertLoad(int rank, const std::vector<int64_t> &rows,
                     bool gathered);
  struct ExpertLoad {
    std::vector<int64_t> rows; // empty: nothing recorded
    bool gathered = false;
  };
  /// The rank's load since the last call, which clears it.
  ExpertLoad takeExpertLoad(int rank);

protected:
  explicit World(Layout layout) : layout_(layout) {}
  Layout layout_;

private:
  std::mutex loadedMutex;
  std::map<std::pair<int, uint64_t>, LoadedValues> loadedValues;
  std::mutex expertLoadMutex;
  std::map<int, ExpertLoad> expertLoads;
};

/// All ranks of `layout` as threads of this process, exchanging through
/// shared memory. A collective waiting longer than `timeoutSeconds` for the
/// other members fails the run.
std::unique_ptr<World> createThreadWorld(const Layout &layout,
                                         double timeoutSeconds);

//===----------------------------------------------------------------------===//
// The MPI backend (lib/Runtime/World/Mpi*.cpp, library MoeRuntimeMpi;
// docs/ScaleOut.md): one rank per process, global rank = MPI rank.
//===----------------------------------------------------------------------===//

struct MpiProcessInfo {
  int rank = 0;      // in MPI_COMM_WORLD
  int size = 1;      // processes in MPI_COMM_WORLD
  int localSize = 1; // processes on this machine
};

/// Starts MPI in this process (MPI_Init_thread with MPI_THREAD_MULTIPLE,
/// unless the caller already initialized it) and the channel that carries
/// failures between processes. Throws Error when the library provides less
/// than MPI_THREAD_MULTIPLE (stream threads communicate concurrently).
/// Call once, on every process, before anything else communicates.
MpiProcessInfo mpiInit(int *argc, char ***argv);

/// The world of this process's rank: localRanks() = {MPI rank}. Throws when
/// the MPI world size differs from layout.worldSize() or another process
/// passes another layout (every process reaches the same verdict), and when
/// the other processes do not call it within `timeoutSeconds` or failed.
/// Collectives and failures behave as in the thread world with the same
/// messages and bit-identical results; a collective, or the creation of
/// its MPI communicator, waiting longer than `timeoutSeconds` fails the run.
std::unique_ptr<World> createMpiWorld(const Layout &layout,
                                      double timeoutSeconds);

struct MpiOutcome {
  /// Ranks that reported a failure (this one too if it did), ascending,
  /// with their first error.
  std::vector<std::pair<int, std::string>> failed;
  /// Ranks not heard of within the timeout (hung or gone); when not empty
  /// MPI was not finalized and the caller should end the job with
  /// mpiAbortJob.
  std::vector<int> missing;
};

/// Ends this process's part of the run: reports `ok` (and `why`, which is
/// also sent to every other process as this rank's failure when it is the
/// first) to every process, waits at most `timeoutSeconds` to hear from all
/// of them, then finalizes MPI (if mpiInit started it).
MpiOutcome mpiFinish(bool ok, const std::string &why, double timeoutSeconds);

/// The last resort: MPI_Abort on MPI_COMM_WORLD (ends every process).
[[noreturn]] void mpiAbortJob(int code);

} // namespace moert

#endif // MOE_RUNTIME_COMM_H
