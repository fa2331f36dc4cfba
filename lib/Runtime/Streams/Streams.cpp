//===- Streams.cpp - streams, events and async tensors of a rank ----------===//

#include "moe/Runtime/Streams.h"

#include "moe/Runtime/Finite.h"

#include <chrono>
#include <thread>

namespace moert {

std::chrono::steady_clock::time_point traceEpoch() {
  static const std::chrono::steady_clock::time_point epoch =
      std::chrono::steady_clock::now();
  return epoch;
}

//===----------------------------------------------------------------------===//
// Handle
//===----------------------------------------------------------------------===//

Handle *Handle::ready(Tensor value) {
  auto *h = new Handle();
  h->value = std::move(value);
  h->state = State::Ready;
  return h;
}

Handle *Handle::pending(int stream, uint64_t seq) {
  auto *h = new Handle();
  h->producerStream = stream;
  h->producerSeq = seq;
  return h;
}

void Handle::retain() { refs.fetch_add(1, std::memory_order_relaxed); }

void Handle::release() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete this;
}

const Tensor &Handle::wait() {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return state != State::Pending; });
  if (state == State::Failed)
    throw Error("reads the result of an op that failed");
  return value;
}

size_t Handle::readyBytes() {
  std::lock_guard<std::mutex> lock(mutex);
  return state == State::Ready ? value.nbytes() : 0;
}

void Handle::fulfil(Tensor result) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    value = std::move(result);
    state = State::Ready;
  }
  changed.notify_all();
}

void Handle::fail() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    state = State::Failed;
  }
  changed.notify_all();
}

//===----------------------------------------------------------------------===//
// Event
//===----------------------------------------------------------------------===//

Event::Event() {
  static std::atomic<uint64_t> next{0};
  id = ++next;
}

void Event::retain() { refs.fetch_add(1, std::memory_order_relaxed); }

void Event::release() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete this;
}

Clock Event::wait(RankRuntime &rank) {
  std::unique_lock<std::mutex> lock(mutex);
  // Poll the rank's failure so a wait never outlives a failed run.
  while (!recorded) {
    if (rank.failed() || rank.world().aborted())
      throw Error("npu.wait: the run failed before the event was recorded");
    changed.wait_for(lock, std::chrono::milliseconds(50));
  }
  return clock;
}

void Event::record(Clock at) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    clock = std::move(at);
    recorded = true;
  }
  changed.notify_all();
}

//===----------------------------------------------------------------------===//
// Stream
//===----------------------------------------------------------------------===//

Stream::Stream(int id) : streamId(id) {
  worker.emplace([this] { work(); }, id + 1);
}

void Stream::bind(RankRuntime *runtime, int threads, bool onIssuing) {
  std::lock_guard<std::mutex> lock(mutex);
  check(done == issued, "a stream is bound while it still has tasks");
  rank = runtime;
  kernelThreads = threads;
  onIssuingThread = onIssuing;
  bound.store(runtime != nullptr, std::memory_order_relaxed);
  // What this stream knew of other streams' positions came from the
  // previous run, maybe another rank's streams: a run starts knowing
  // nothing of them (its inputs are ready, not produced on a stream).
  Clock own;
  if (current.count(streamId))
    own[streamId] = current[streamId];
  current = std::move(own);
}

Stream::~Stream() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    queued.fetch_add(1, std::memory_order_release); // ends a spinning wait
  }
  changed.notify_all();
  worker->join();
}

void Stream::enqueue(Task task) {
  for (Handle *h : task.inputs)
    if (h)
      h->retain();
  for (Handle *h : task.outputs)
    h->retain();
  if (onIssuingThread) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++issued;
    }
    // The task's kernel threads, as on the worker; the issuing thread's
    // own count comes back after it (run() catches what the task throws).
    int own = moert::kernelThreads();
    setKernelThreads(kernelThreads);
    run(task);
    setKernelThreads(own);
    std::lock_guard<std::mutex> lock(mutex);
    ++done;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(task));
    ++issued;
    queued.fetch_add(1, std::memory_order_release);
  }
  changed.notify_all();
}

void Stream::drain() {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return done == issued; });
}

Comm &Stream::comm(Group group) {
  return rank->world().comm(rank->rank(), group, streamId);
}

void Stream::work() {
  while (true) {
    Task task;
    // The host issues a step's ops one after another while the first run:
    // spin a while for the next one (kTaskSpin) before sleeping, or every
    // op the host issues after the stream caught up pays a futex wake-up
    // (5-30 us on a virtual CPU; a decode step's first ops take 2-7 us).
    // Only while a run has the stream: between runs it sleeps at once, or
    // it would take CPU time from whatever runs next (another world's
    // step, the host's work between steps).
    auto until = std::chrono::steady_clock::now() + kTaskSpin;
    while (queued.load(std::memory_order_acquire) == 0 &&
           bound.load(std::memory_order_relaxed) &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty())
        return;
      task = std::move(queue.front());
      queue.pop_front();
      queued.fetch_sub(1, std::memory_order_relaxed);
      setKernelThreads(kernelThreads);
    }
    run(task);
    bool drained;
    {
      std::lock_guard<std::mutex> lock(mutex);
      drained = ++done == issued;
    }
    // Only drain() waits for `done`, and only for done == issued: waking
    // it after every task would let the woken host thread preempt this
    // worker between tasks on a busy machine.
    if (drained)
      changed.notify_all();
  }
}

void Stream::run(Task &task) {
  RankRuntime &rank = *this->rank;
  current[streamId] = done + 1;
  if (rank.failed() && !task.control) {
    for (Handle *h : task.outputs)
      h->fail();
  } else {
    try {
      execute(task);
    } catch (const std::exception &e) {
      rank.fail("rank " + std::to_string(rank.rank()) + ": " + e.what() + " (" +
                task.op + ")");
      for (Handle *h : task.outputs)
        h->fail();
    }
  }
  for (Handle *h : task.inputs)
    if (h)
      h->release();
  for (Handle *h : task.outputs)
    h->release();
}

void Stream::execute(Task &task) {
  RankRuntime &rank = *this->rank;
  // The happens-before check of moe-verify-streams, on what actually ran.
  for (Handle *in : task.inputs) {
    if (!in || in->stream() < 0 || in->stream() == streamId)
      continue;
    auto it = current.find(in->stream());
    uint64_t ordered = it == current.end() ? 0 : it->second;
    if (ordered < in->seq())
      throw Error("race: stream " + std::to_string(streamId) +
                  " reads a value produced on stream " +
                  std::to_string(in->stream()) +
                  " with no event ordering the producer first (a missing "
                  "npu.wait)");
  }
  if (!rank.isProfiling() && !rank.isTracing()) {
    task.run(*this);
  } else {
    auto start = std::chrono::steady_clock::now();
    task.run(*this);
    auto end = std::chrono::steady_clock::now();
    if (rank.isProfiling())
      rank.addToProfile(task.op,
                        std::chrono::duration<double>(end - start).count());
    if (rank.isTracing()) {
      TraceSpan span;
      span.op = task.op;
      span.stream = streamId;
      span.startUs = std::chrono::duration<double, std::micro>(
                         start - traceEpoch())
                         .count();
      span.durationUs =
          std::chrono::duration<double, std::micro>(end - start).count();
      for (Handle *h : task.inputs)
        span.bytes += h ? static_cast<int64_t>(h->readyBytes()) : 0;
      for (Handle *h : task.outputs)
        span.bytes += static_cast<int64_t>(h->readyBytes());
      span.flow = task.flow;
      span.flowStart = task.flowStart;
      rank.addTraceSpan(std::move(span));
    }
  }
  if (task.computesValues && rank.checksFinite())
    for (size_t i = 0; i < task.outputs.size(); ++i)
      requireFinite(task.outputs[i]->wait(), "result " + std::to_string(i));
}

//===----------------------------------------------------------------------===//
// RankRuntime
//===----------------------------------------------------------------------===//

namespace {
thread_local RankRuntime *currentRank = nullptr;
} // namespace

namespace {
/// Streams between runs, by id: a run takes the last one parked (the one
/// whose worker ran most recently, as HostThreads.h does with its threads)
/// and parks it again when it ends. Never destroyed: parked workers sleep
/// until the process exits.
struct ParkedStreams {
  std::mutex mutex;
  std::map<int, std::vector<std::unique_ptr<Stream>>> byId;
};
ParkedStreams &parkedStreams() {
  static ParkedStreams *parked = new ParkedStreams;
  return *parked;
}
} // namespace

RankRuntime::RankRuntime(World &world, int rank, int kernelThreads)
    : worldRef(world), rankId(rank), kernelThreads(kernelThreads) {}

RankRuntime::~RankRuntime() {
  synchronize();
  // Parked for the next run (of any rank or world), their workers asleep.
  ParkedStreams &parked = parkedStreams();
  std::lock_guard<std::mutex> lock(parked.mutex);
  for (auto &[id, s] : streams) {
    s->bind(nullptr, 1);
    parked.byId[id].emplace_back(s);
  }
}

Stream &RankRuntime::stream(int id) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = streams.find(id);
  if (it == streams.end()) {
    std::unique_ptr<Stream> s;
    {
      ParkedStreams &parked = parkedStreams();
      std::lock_guard<std::mutex> parkedLock(parked.mutex);
      std::vector<std::unique_ptr<Stream>> &free = parked.byId[id];
      if (!free.empty()) {
        s = std::move(free.back());
        free.pop_back();
      }
    }
    if (!s)
      s = std::make_unique<Stream>(id); // may throw: nothing taken yet
    s->bind(this, kernelThreads, tasksOnIssuingThread);
    it = streams.emplace(id, s.release()).first;
  }
  return *it->second;
}

Comm &RankRuntime::hostComm(Group group) {
  return worldRef.comm(rankId, group, kHostChannel);
}

void RankRuntime::fail(const std::string &message) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (hasFailed.load())
      return;
    firstError = message;
    hasFailed.store(true);
  }
  worldRef.abort(rankId, message);
}

std::string RankRuntime::error() {
  std::lock_guard<std::mutex> lock(mutex);
  return firstError;
}

void RankRuntime::synchronize() {
  std::vector<Stream *> all;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[id, s] : streams)
      all.push_back(s);
  }
  for (Stream *s : all)
    s->drain();
}

void RankRuntime::addToProfile(const char *op, double seconds) {
  // "npu.grouped_matmul at layer.mlir:3:4" -> "npu.grouped_matmul"
  std::string name(op);
  name = name.substr(0, name.find(" at "));
  std::lock_guard<std::mutex> lock(mutex);
  OpProfile &p = timings[name];
  ++p.calls;
  p.seconds += seconds;
}

void RankRuntime::addTraceSpan(TraceSpan span) {
  std::lock_guard<std::mutex> lock(mutex);
  spans.push_back(std::move(span));
}

Trace RankRuntime::trace() {
  std::lock_guard<std::mutex> lock(mutex);
  Trace out = spans;
  std::sort(out.begin(), out.end(), [](const TraceSpan &a, const TraceSpan &b) {
    return a.startUs < b.startUs;
  });
  return out;
}

Profile RankRuntime::profile() {
  std::lock_guard<std::mutex> lock(mutex);
  return timings;
}

RankRuntime *RankRuntime::current() { return currentRank; }
void RankRuntime::setCurrent(RankRuntime *rank) { currentRank = rank; }

} // namespace moert
