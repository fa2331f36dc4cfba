//===- Executor.cpp - run a compiled layer on the ranks of a world --------===//

#include "moe/Runtime/Executor.h"

#include "moe/Runtime/Finite.h"
#include "moe/Runtime/HostThreads.h"
#include "moe/Runtime/Parallel.h"
#include "moe/Runtime/Streams.h"

#include <algorithm>
#include <chrono>
#include <sys/resource.h>
#include <system_error>
#include <thread>

namespace moert {

/// The first float input holding a NaN fails the rank. Infinities are
/// judged by what they produce (the gate takes their limits; any op result
/// holding one fails the rank): -inf logits are a common way to mask an
/// expert.
static bool sameTensor(const Tensor &a, const Tensor &b);

/// The World::loaded entry holding the inputs a rank's last run found
/// finite (not an executable's load stage: those ids count up from 0).
constexpr uint64_t kFiniteInputsId = ~uint64_t(0);

static void failOnNonFiniteInput(World &world, RankRuntime &runtime,
                                 const std::vector<Tensor> &inputs,
                                 const std::vector<std::string> &names) {
  // Each input is scanned once: a tensor of the rank's previous run (same
  // storage, dtype and shape) was finite then, and a NaN written into it in
  // place since fails the op that reads it (every op result is checked).
  // Scanning the expert weights on every step cost more than the step.
  World::LoadedValues &checked = world.loaded(runtime.rank(), kFiniteInputsId);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (std::any_of(checked.inputs.begin(), checked.inputs.end(),
                    [&](const Tensor &t) { return sameTensor(inputs[i], t); }))
      continue;
    int64_t bad = firstNonFinite(inputs[i], /*infinities=*/false);
    if (bad < 0)
      continue;
    std::string name = "input " + std::to_string(i);
    if (i < names.size() && !names[i].empty())
      name += " '" + names[i] + "'";
    runtime.fail("rank " + std::to_string(runtime.rank()) + ": " + name + " (" +
                 inputs[i].str() +
                 "): " + describeNonFinite(inputs[i], bad));
    checked = {};
    return;
  }
  checked.inputs = inputs;
}

/// The values of an entry point's result handles, waiting for their
/// producers; a missing value or a failed producer fails the rank (and
/// gives what was collected so far).
static std::vector<Tensor> waitForResults(RankRuntime &runtime, int rank,
                                          const std::vector<void *> &results,
                                          const char *function) {
  std::vector<Tensor> values;
  if (runtime.failed())
    return values;
  try {
    for (void *h : results) {
      MOE_CHECK(h != nullptr,
                std::string("the ") + function + " returned no value");
      values.push_back(static_cast<Handle *>(h)->wait());
    }
  } catch (const std::exception &e) {
    runtime.fail("rank " + std::to_string(rank) + ": " + e.what());
  }
  return values;
}

/// Drops the references an entry call's argument and result handles hold.
static void releaseHandles(const std::vector<void *> &handles) {
  for (void *h : handles)
    if (h)
      static_cast<Handle *>(h)->release();
}

/// Whether `a` and `b` are the same tensor (storage, dtype and shape).
static bool sameTensor(const Tensor &a, const Tensor &b) {
  return a.storage == b.storage && a.dtype == b.dtype && a.shape == b.shape;
}

/// The load-time results for this run: kept from an earlier run of `rank`
/// with the same tensors, or computed now by the load-time function on
/// `runtime`. Null when it failed (the runtime holds the error).
static const std::vector<Tensor> *runLoadStage(World &world, int rank,
                                               RankRuntime &runtime,
                                               const LoadStage &load,
                                               const std::vector<Tensor> &inputs,
                                               bool donate) {
  World::LoadedValues &kept = world.loaded(rank, load.id);
  std::vector<Tensor> taken;
  for (size_t index : load.args) {
    if (index >= inputs.size()) {
      runtime.fail("rank " + std::to_string(rank) +
                   ": the load-time function takes input " +
                   std::to_string(index) + " of " +
                   std::to_string(inputs.size()));
      return nullptr;
    }
    taken.push_back(inputs[index]);
  }
  bool same = kept.results.size() == load.numResults &&
              kept.inputs.size() == taken.size() &&
              std::equal(taken.begin(), taken.end(), kept.inputs.begin(),
                         sameTensor);
  if (same)
    return &kept.results;
  kept = {};
  std::vector<void *> args, results(load.numResults, nullptr);
  for (const Tensor &t : taken)
    args.push_back(Handle::ready(t));
  // npu.pack_weights reads the flag when it is issued, below.
  runtime.setDonatingLoadInputs(donate);
  load.entry(args.data(), results.data());
  runtime.setDonatingLoadInputs(false);
  std::vector<Tensor> values =
      waitForResults(runtime, rank, results, "load-time function");
  releaseHandles(results);
  releaseHandles(args);
  if (runtime.failed())
    return nullptr;
  kept.inputs = std::move(taken);
  kept.results = std::move(values);
  return &kept.results;
}

RankOutcome runRank(World &world, int rank, EntryFn entry,
                    const std::vector<Tensor> &inputs, size_t numResults,
                    const RunOptions &options) {
  RankOutcome outcome;
  outcome.rank = rank;
  std::vector<int> local = world.localRanks();
  if (std::find(local.begin(), local.end(), rank) == local.end()) {
    outcome.error = "rank " + std::to_string(rank) +
                    " is not a rank of this process's world (" +
                    std::to_string(world.layout().worldSize()) + " ranks)";
    return outcome;
  }
  int kernelThreads = options.kernelThreads > 0
                          ? options.kernelThreads
                          : defaultKernelThreads(local.size());
  // The calling thread's own count comes back when the rank returns (a
  // driver's thread, or runRanks' caller, runs the rank).
  struct RestoreThreads {
    int threads = moert::kernelThreads();
    ~RestoreThreads() { setKernelThreads(threads); }
  } restoreThreads;
  setKernelThreads(kernelThreads);
  // The step's first ops (gate, routing) are serial: the pool's workers
  // wake meanwhile, ready for its first parallel kernel (when the rank
  // runs its kernels on more than one thread).
  if (kernelThreads > 1)
    wakeKernelThreads();
  std::vector<void *> args, results(numResults, nullptr);
  for (const Tensor &t : inputs)
    args.push_back(Handle::ready(t));
  auto start = std::chrono::steady_clock::now();
  {
    RankRuntime runtime(world, rank, kernelThreads);
    if (options.streams == 1)
      runtime.runTasksOnIssuingThread();
    if (options.profile)
      runtime.enableProfiling();
    if (options.trace)
      runtime.enableTracing();
    if (options.checkFinite) {
      runtime.enableFiniteChecks();
      failOnNonFiniteInput(world, runtime, inputs, options.inputNames);
    }
    RankRuntime::setCurrent(&runtime);
    if (options.load.entry && !runtime.failed()) {
      const std::vector<Tensor> *loaded =
          runLoadStage(world, rank, runtime, options.load, inputs,
                       options.donateLoadInputs);
      if (loaded)
        for (const Tensor &t : *loaded)
          args.push_back(Handle::ready(t));
    }
    if (!runtime.failed() && (!options.loadOnly || options.warmUp))
      entry(args.data(), results.data());
    if (options.loadOnly) {
      // A warm-up step's results are dropped with the handles below, and
      // the expert load it recorded here, once its tasks have run.
      runtime.synchronize();
      if (options.warmUp)
        world.takeExpertLoad(rank);
      // The load completes on every rank or fails on all of them, as a
      // step does: a rank whose peer failed learns it here ("rank R
      // failed: ...").
      if (!runtime.failed()) {
        try {
          runtime.hostComm(Group::World).allReduceScalar(0, ReduceKind::Max);
        } catch (const std::exception &e) {
          runtime.fail("rank " + std::to_string(rank) + ": " + e.what());
        }
      }
    }
    runtime.synchronize();
    outcome.seconds = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    if (!options.loadOnly)
      outcome.results =
          waitForResults(runtime, rank, results, "compiled function");
    if (runtime.failed()) {
      outcome.error = runtime.error();
      outcome.results.clear();
    }
    outcome.profile = runtime.profile();
    outcome.trace = runtime.trace();
    RankRuntime::setCurrent(nullptr);
  }
  releaseHandles(results);
  releaseHandles(args);
  return outcome;
}

std::string checkWorldThreads(int64_t ranks, int64_t streamsPerRank,
                              int64_t kernelThreads) {
  // Each factor is small (ranks <= 65536 by the layout verifier), but the
  // inputs come from callers: saturate instead of wrapping.
  int64_t perRank = 0, threads = 0;
  if (ranks < 0 || streamsPerRank < 0 || kernelThreads < 0 ||
      __builtin_add_overflow(streamsPerRank, int64_t(1), &perRank) ||
      __builtin_mul_overflow(ranks, perRank, &threads) ||
      __builtin_add_overflow(threads, std::max<int64_t>(kernelThreads - 1, 0),
                             &threads))
    threads = INT64_MAX;
  int64_t limit = kMaxWorldThreads;
  std::string source = "the runtime's limit for one process";
  struct rlimit nproc;
  if (getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY &&
      nproc.rlim_cur < static_cast<rlim_t>(limit)) {
    limit = static_cast<int64_t>(nproc.rlim_cur);
    source = "RLIMIT_NPROC (ulimit -u)";
  }
  if (threads <= limit)
    return "";
  return std::to_string(ranks) + " ranks in one process need " +
         (threads == INT64_MAX ? std::string("more than 2^63") 
                               : std::to_string(threads)) +
         " threads (per rank a host thread and " +
         std::to_string(streamsPerRank) + " stream worker" +
         (streamsPerRank == 1 ? "" : "s") + ", and " +
         std::to_string(std::max<int64_t>(kernelThreads - 1, 0)) +
         " kernel pool threads), more than " + std::to_string(limit) + " (" +
         source + "); run fewer ranks per process (e.g. --backend mpi)";
}

int defaultKernelThreads(size_t localRanks) {
  // Read once: hardware_concurrency() reads /sys on every call (~6 us, on
  // every step of every rank).
  static const int cores =
      static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, static_cast<int>(localRanks)));
}

std::vector<RankOutcome>
runRanks(World &world, EntryFn entry,
         const std::vector<std::vector<Tensor>> &inputs, size_t numResults,
         const RunOptions &options) {
  std::vector<int> ranks = world.localRanks();
  MOE_CHECK(inputs.size() == ranks.size(),
            "runRanks: " + std::to_string(inputs.size()) + " input sets for " +
                std::to_string(ranks.size()) + " local ranks");
  RunOptions rankOptions = options;
  rankOptions.kernelThreads = options.kernelThreads > 0
                                  ? options.kernelThreads
                                  : defaultKernelThreads(ranks.size());
  std::vector<RankOutcome> outcomes(ranks.size());
  if (ranks.empty())
    return outcomes;
  // The last local rank runs on the calling thread, which would only wait
  // for it: two thread hand-offs fewer per step (a decode step at T = 1
  // takes a few hundred microseconds, and each hand-off to a sleeping
  // thread costs 5-30 us on a virtual CPU).
  size_t onCaller = ranks.size() - 1;
  std::vector<HostThread> hosts; // reused threads (HostThreads.h)
  hosts.reserve(onCaller);
  for (size_t i = 0; i < onCaller; ++i) {
    try {
      hosts.emplace_back([&, i] {
        outcomes[i] =
            runRank(world, ranks[i], entry, inputs[i], numResults, rankOptions);
      });
    } catch (const std::system_error &e) {
      // Out of threads: fail the world so the started ranks stop waiting
      // for this one, and report it for every rank that did not start.
      std::string why = "rank " + std::to_string(ranks[i]) +
                        ": cannot start its host thread: " + e.what();
      world.abort(ranks[i], why);
      for (size_t j = i; j < ranks.size(); ++j) {
        outcomes[j].rank = ranks[j];
        outcomes[j].error = j == i ? why
                                   : "rank " + std::to_string(ranks[j]) +
                                         ": not started: " + why;
      }
      onCaller = ranks.size(); // the world failed: nothing more to run
      break;
    }
  }
  if (onCaller < ranks.size())
    outcomes[onCaller] = runRank(world, ranks[onCaller], entry,
                                 inputs[onCaller], numResults, rankOptions);
  for (HostThread &t : hosts)
    t.join();
  return outcomes;
}

} // namespace moert
