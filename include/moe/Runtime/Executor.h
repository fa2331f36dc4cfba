//===- Executor.h - run a compiled layer on the ranks of a world -*- C++ -*-===//
//
// Drivers (moe-run, the C and C++ APIs) hand the executor a compiled entry
// point and each rank's input tensors; it runs every local rank of the
// world on its own host thread (with its own stream workers) and returns
// each rank's results or first error.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_EXECUTOR_H
#define MOE_RUNTIME_EXECUTOR_H

#include "moe/Runtime/Comm.h"
#include "moe/Runtime/Streams.h"

#include <string>
#include <vector>

namespace moert {

/// The signature convert-npu-to-runtime gives `_moe_entry_<function>`:
/// `args[i]` is the i-th argument's handle, `results[i]` receives the i-th
/// result's handle (owning one reference).
using EntryFn = void (*)(void **args, void **results);

struct RankOutcome {
  int rank = 0;
  std::vector<Tensor> results; // empty when the rank failed
  std::string error;           // first error of the rank, empty on success
  double seconds = 0;          // wall time of the call, streams drained
  Profile profile;             // time per op kind, when profiling
  Trace trace;                 // every task of every stream, when tracing
};

/// A load-time function (moe-outline-load-time): run once per rank before
/// the first step, its results are passed to every step after the inputs.
struct LoadStage {
  EntryFn entry = nullptr; // null: the executable has none
  uint64_t id = 0;         // unique per compiled executable (the cache key)
  std::vector<size_t> args; // indices of the inputs it takes
  size_t numResults = 0;
};

struct RunOptions {
  /// Kernel threads per rank; 0 picks cores / local ranks (at least 1).
  int kernelThreads = 0;
  /// Record the time of every task (RankOutcome::profile).
  bool profile = false;
  /// Record every task as a span (RankOutcome::trace; moe-run --trace).
  bool trace = false;
  /// The NaN/Inf policy (docs/Reliability.md): a NaN in a float input, or
  /// a NaN or an infinity in a float result of any op, fails the rank,
  /// naming the tensor and the row. Off: they propagate (the gate still
  /// rejects NaN logits).
  bool checkFinite = true;
  /// Names of the inputs for messages (may be empty: "input <i>").
  std::vector<std::string> inputNames;
  /// The executable's load-time function. runRank runs it on the rank's
  /// first run in `world`, and again whenever a tensor it takes is not the
  /// one of that run (other storage, dtype or shape); otherwise the step
  /// reuses the results kept in the world (World::loaded).
  LoadStage load;
  /// Load time only: scan the inputs (checkFinite) and run the load-time
  /// function, then return without running the step (no results). A
  /// driver runs this once after loading the weights, so the first step
  /// does not pay for either (the scan of an input is kept while the same
  /// tensor is passed again, the load-time results likewise).
  bool loadOnly = false;
  /// With loadOnly: then run the step once on the inputs as a warm-up,
  /// discarding its results and the expert load it recorded (EPLB), as
  /// serving engines run a dummy forward pass at startup: the first real
  /// step then finds its activation memory faulted in and every kernel's
  /// state initialized. Its profile and trace are kept with the load's.
  bool warmUp = false;
  /// The inputs the load-time function takes are the driver's to give:
  /// npu.pack_weights repacks such a weight in its own storage instead of
  /// a copy (so the process never holds the weights twice), and the
  /// tensor's storage holds the packed bytes from then on: pass the same
  /// tensor to every step and read it no more (docs/Runtime.md, "Packed
  /// weights"). Only storage the runtime owns is rewritten; a borrowed
  /// buffer (BorrowedStorage) is copied. Off: the packed weight is a copy.
  bool donateLoadInputs = false;
  /// Distinct streams the entry's device ops use (Executable::
  /// streamsPerRank; 0: not known). With 1 the rank's host thread runs
  /// each op as it issues it (RankRuntime::runTasksOnIssuingThread): the
  /// same results, without a worker's wake-up and hand-off per op.
  int64_t streams = 0;
};

/// Runs `entry` once for global rank `rank` of `world` on the calling
/// thread (the rank's host thread; its streams get worker threads of their
/// own) with `options.kernelThreads` kernel threads (0: cores / local
/// ranks); `options.profile` records the time of every task in
/// RankOutcome::profile. A failure of the rank (including a NaN input with
/// `options.checkFinite`) fails the world, so its peers'
/// collectives throw instead of waiting. Drivers that run ranks from
/// threads of their own (the C and C++ APIs) call this once per rank and
/// thread; the calling thread's kernel thread count is restored on return.
RankOutcome runRank(World &world, int rank, EntryFn entry,
                    const std::vector<Tensor> &inputs, size_t numResults,
                    const RunOptions &options);

/// Most threads one process running a world of ranks as threads starts:
/// every local rank's host thread and stream workers, plus the shared
/// kernel pool (docs/Reliability.md, "Size limits").
constexpr int64_t kMaxWorldThreads = 4096;

/// Empty when `ranks` local ranks, each with a host thread and
/// `streamsPerRank` stream workers, plus a kernel pool of `kernelThreads`
/// (the caller's thread included) fit in kMaxWorldThreads and the process's
/// RLIMIT_NPROC; otherwise why not, with the numbers.
std::string checkWorldThreads(int64_t ranks, int64_t streamsPerRank,
                              int64_t kernelThreads);

/// Kernel threads per rank when `localRanks` ranks share this machine:
/// cores / localRanks, at least 1.
int defaultKernelThreads(size_t localRanks);

/// Runs `entry` once on every rank in `world.localRanks()`, the last one on
/// the calling thread and the others on reused host threads; `inputs[i]`
/// are the arguments of the i-th local rank. Returns one outcome per local rank
/// (in localRanks() order). When a host thread cannot be started, the
/// world is aborted (the started ranks fail at their next collective) and
/// the ranks without a thread get that error.
std::vector<RankOutcome> runRanks(World &world, EntryFn entry,
                                  const std::vector<std::vector<Tensor>> &inputs,
                                  size_t numResults,
                                  const RunOptions &options = {});

} // namespace moert

#endif // MOE_RUNTIME_EXECUTOR_H
