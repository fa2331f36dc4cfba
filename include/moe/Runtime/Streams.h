//===- Streams.h - streams, events and async tensors of a rank --*- C++ -*-===//
//
// Every rank has a host thread (running the compiled function) and one
// worker thread per stream. The host issues device ops as tasks: the task's
// outputs are Handles that are pending until the stream's worker has run
// it. Tasks of one stream run in issue order; streams are ordered only by
// events (record on one stream, wait on another), so overlap is real and a
// missing wait is a real race. The workers keep vector clocks like
// moe-verify-streams does: a task that reads a value of another stream
// without an event ordering it fails deterministically ("race"), whether or
// not the value happens to be ready.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_STREAMS_H
#define MOE_RUNTIME_STREAMS_H

#include "moe/Runtime/Comm.h"
#include "moe/Runtime/HostThreads.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace moert {

class RankRuntime;

/// Per-stream positions already ordered before a point of execution.
using Clock = std::map<int, uint64_t>;

/// A tensor as the compiled host code sees it: reference counted, pending
/// until its producing task has run.
class Handle {
public:
  /// A ready handle owning one reference (inputs made by the host).
  static Handle *ready(Tensor value);
  /// A pending handle owning one reference, produced by task `seq` of
  /// `stream`.
  static Handle *pending(int stream, uint64_t seq);

  void retain();
  void release();

  /// Blocks until the value is ready; throws Error if its task failed.
  const Tensor &wait();
  /// Bytes of the value when it is ready, 0 otherwise (never blocks).
  size_t readyBytes();
  void fulfil(Tensor value);
  void fail();

  int stream() const { return producerStream; }
  uint64_t seq() const { return producerSeq; }

private:
  enum class State { Pending, Ready, Failed };
  std::atomic<int> refs{1};
  std::mutex mutex;
  std::condition_variable changed;
  State state = State::Pending;
  Tensor value;
  int producerStream = -1; // -1: made by the host
  uint64_t producerSeq = 0;
};

/// An event recorded on a stream: the recording stream's clock.
class Event {
public:
  Event();
  /// Unique per process: names the event's flow arrow in a trace.
  uint64_t traceId() const { return id; }
  void retain();
  void release();
  /// Blocks until recorded (or the rank failed) and returns the clock.
  Clock wait(RankRuntime &rank);
  void record(Clock clock);

private:
  std::atomic<int> refs{1};
  std::mutex mutex;
  std::condition_variable changed;
  bool recorded = false;
  Clock clock;
  uint64_t id;
};

/// A unit of work on a stream. `run` reads `inputs`' values and fulfils the
/// `outputs`; the stream retains both until the task has run.
struct Task {
  const char *op = "";  // op and location for messages
  /// The op computes its float results (not only moves values): they are
  /// checked for NaN and infinities when the rank checks finiteness.
  bool computesValues = false;
  std::vector<Handle *> inputs;
  std::vector<Handle *> outputs;
  std::function<void(class Stream &)> run;
  bool control = false; // record/wait: runs even after a failure
  /// The event a record task records (flowStart) or a wait task waits for:
  /// the trace draws an arrow from the one to the other (0: none).
  uint64_t flow = 0;
  bool flowStart = false;
};

/// One task as a trace records it (moe-run --trace; docs/Streams.md).
struct TraceSpan {
  std::string op;        // "npu.grouped_matmul at layer.mlir:3:4"
  int stream = 0;
  double startUs = 0;    // since the process's trace epoch
  double durationUs = 0;
  int64_t bytes = 0;     // operands and results
  uint64_t flow = 0;     // Task::flow
  bool flowStart = false;
};
using Trace = std::vector<TraceSpan>;
/// Time zero of every trace of the process (its first call).
std::chrono::steady_clock::time_point traceEpoch();

class Stream {
public:
  /// A stream and its worker thread (started here, joined by the
  /// destructor). RankRuntime::stream takes one from the process's parked
  /// streams, or makes one, and parks it again when the run ends.
  explicit Stream(int id);
  ~Stream();
  /// Makes `rank` the RankRuntime whose tasks this stream runs (failure,
  /// profile, trace, finite checks), on `kernelThreads` kernel threads.
  /// Only while the stream is drained: at a step's first use of it, and
  /// with null when the step ends. With `onIssuingThread`, enqueue runs
  /// each task itself, on the thread that issues it, before it returns
  /// (RankRuntime::runTasksOnIssuingThread); the worker stays asleep.
  void bind(RankRuntime *rank, int kernelThreads, bool onIssuingThread = false);
  int id() const { return streamId; }
  /// Position the next issued task will have.
  uint64_t nextSeq() const { return issued + 1; }
  void enqueue(Task task);
  /// Waits until every issued task has run.
  void drain();
  /// The clock of the running task (on the thread that runs it).
  Clock &clock() { return current; }
  /// Communicator of `group` on this stream's channel.
  Comm &comm(Group group);

private:
  void work();
  /// Runs `task` (retained by enqueue) and releases its handles.
  void run(Task &task);
  void execute(Task &task);

  RankRuntime *rank = nullptr; // under `mutex`, read by the worker per task
  int kernelThreads = 1;       // likewise
  int streamId;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Task> queue;
  uint64_t issued = 0, done = 0;
  bool stopping = false;
  /// Tasks in `queue` (plus one when stopping), for the worker's spin.
  std::atomic<int64_t> queued{0};
  /// A RankRuntime has the stream (bind): only then does the worker spin.
  std::atomic<bool> bound{false};
  bool onIssuingThread = false; // set by bind
  static constexpr std::chrono::microseconds kTaskSpin{50};
  Clock current;
  std::optional<HostThread> worker; // a reused thread (HostThreads.h)
};

/// Time spent in the tasks of one op kind on one rank.
struct OpProfile {
  int64_t calls = 0;
  double seconds = 0;
};
/// Per op name ("npu.grouped_matmul"), summed over the rank's streams.
using Profile = std::map<std::string, OpProfile>;

/// One rank's host-side state: its streams, its first error, its world.
class RankRuntime {
public:
  RankRuntime(World &world, int rank, int kernelThreads);
  ~RankRuntime();

  World &world() { return worldRef; }
  int rank() const { return rankId; }
  Stream &stream(int id);
  /// For a run whose device ops all use one stream: the thread that issues
  /// a task (the rank's host thread) runs it at once, in issue order,
  /// instead of handing it to the stream's worker. One stream runs its
  /// tasks in issue order either way, so results, failures, profiles and
  /// traces are the same; the step saves the worker's wake-ups and a
  /// hand-off per op. With more streams a task would then wait for the
  /// host to reach it and the streams would no longer overlap: the
  /// executor sets this only for RunOptions::streams == 1. Call before
  /// the first stream().
  void runTasksOnIssuingThread() { tasksOnIssuingThread = true; }
  /// Communicator for host-side collectives.
  Comm &hostComm(Group group);

  /// Records the first error of the rank and fails the world so no other
  /// rank waits for this one.
  void fail(const std::string &message);
  bool failed() const { return hasFailed.load(); }
  std::string error();

  /// Waits until every stream has run all its tasks.
  void synchronize();

  /// Records how long every task takes (off by default).
  void enableProfiling() { profiling = true; }
  bool isProfiling() const { return profiling; }
  void addToProfile(const char *op, double seconds);
  Profile profile();

  /// Records every task as a TraceSpan (off by default); times count from
  /// one epoch per process, so the ranks of a thread world line up.
  void enableTracing() {
    traceEpoch(); // time zero precedes every task of every traced rank
    tracing = true;
  }
  bool isTracing() const { return tracing; }
  void addTraceSpan(TraceSpan span);
  Trace trace();

  /// Fails the rank when a task that computes values (Task::computesValues)
  /// produces a float result holding a NaN or an infinity (docs/Reliability.md, "NaN and Inf"; off by default here, on
  /// by default in the drivers' options).
  void enableFiniteChecks() { finiteChecks = true; }
  bool checksFinite() const { return finiteChecks; }

  /// While the executor runs the load-time function of a driver that
  /// donates its inputs (RunOptions::donateLoadInputs): npu.pack_weights
  /// may then repack a weight in its own storage (docs/Runtime.md, "Packed
  /// weights"). Read on the host thread when an op is issued.
  void setDonatingLoadInputs(bool on) { donating = on; }
  bool donatesLoadInputs() const { return donating; }

  /// The rank driven by the calling thread (set by the executor).
  static RankRuntime *current();
  static void setCurrent(RankRuntime *rank);

private:
  World &worldRef;
  int rankId;
  int kernelThreads;
  bool tasksOnIssuingThread = false;
  std::mutex mutex;
  std::map<int, Stream *> streams; // taken from the parked ones, bound
  std::atomic<bool> hasFailed{false};
  std::string firstError;
  bool profiling = false;
  bool tracing = false;
  bool finiteChecks = false;
  bool donating = false;
  Profile timings;
  Trace spans;
};

/// Channel of host-side collectives (streams use their id).
constexpr int kHostChannel = 1 << 20;

} // namespace moert

#endif // MOE_RUNTIME_STREAMS_H
