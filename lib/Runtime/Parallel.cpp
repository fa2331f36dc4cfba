//===- Parallel.cpp - the kernels' process-wide thread pool ---------------===//
//
// parallelFor splits [0, n) into c <= kernelThreads() chunks. The caller
// runs chunk 0 and then claims any chunk no pool worker has started, so a
// call never waits for a worker that is busy with another rank's call (no
// deadlock when rank threads share the pool, or when a chunk itself calls
// parallelFor). Workers are persistent, created on demand up to the
// largest kernelThreads() - 1 requested; between jobs a worker spins
// (yielding) for up to kWorkerSpin before it sleeps on a condition
// variable, so the next op's parallelFor, microseconds later, finds it
// awake instead of paying a futex wake-up (a step at T = 1 runs tens of
// them). wakeKernelThreads, called when a step begins, gets sleeping
// workers spinning while the step's first small ops run: a virtual CPU
// left idle for a while can take hundreds of microseconds to wake.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Parallel.h"
#include "moe/Runtime/Tensor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace moert {
namespace {

struct Job {
  const std::function<void(int64_t, int64_t)> *body;
  int64_t n;
  int64_t chunks;
  std::atomic<int64_t> next{1}; // chunk 0 belongs to the caller
  std::atomic<int64_t> done{0};
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr error;

  void runChunk(int64_t c) {
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    try {
      (*body)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error)
        error = std::current_exception();
    }
    if (done.fetch_add(1) + 1 == chunks) {
      std::lock_guard<std::mutex> lock(mutex);
      finished.notify_all();
    }
  }
  /// Runs unclaimed chunks until none is left.
  void drain() {
    for (int64_t c; (c = next.fetch_add(1)) < chunks;)
      runChunk(c);
  }
};

class Pool {
public:
  static Pool &get() {
    // Leaked on purpose: workers may outlive static destruction order.
    static Pool *pool = new Pool;
    return *pool;
  }

  void wake() {
    if (sleeping.load() == 0)
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++wakeups;
    }
    ready.notify_all();
  }

  void submit(const std::shared_ptr<Job> &job, int64_t copies) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      while (static_cast<int64_t>(workers) < copies) {
        std::thread(&Pool::work, this).detach();
        ++workers;
      }
      for (int64_t i = 0; i < copies; ++i)
        queue.push_back(job);
      queued.fetch_add(copies);
    }
    if (copies == 1)
      ready.notify_one();
    else
      ready.notify_all();
  }

private:
  void work() {
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kWorkerSpin;
      while (queued.load() == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        uint64_t seen = wakeups;
        sleeping.fetch_add(1);
        ready.wait(lock, [&] { return !queue.empty() || wakeups != seen; });
        sleeping.fetch_sub(1);
        if (queue.empty())
          continue; // woken for the next step: spin again
        job = std::move(queue.front());
        queue.pop_front();
        queued.fetch_sub(1);
      }
      job->drain();
    }
  }
  static constexpr std::chrono::microseconds kWorkerSpin{1000};
  std::atomic<int64_t> queued{0};
  std::atomic<int> sleeping{0}; // workers waiting on `ready`
  uint64_t wakeups = 0;         // wake() calls, under `mutex`

  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::shared_ptr<Job>> queue;
  size_t workers = 0;
};

} // namespace

void wakeKernelThreads() { Pool::get().wake(); }

void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t begin, int64_t end)> &body) {
  if (n <= 0)
    return;
  if (grain < 1)
    grain = 1;
  int64_t chunks = std::min<int64_t>(kernelThreads(), n / grain);
  if (chunks <= 1) {
    body(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->body = &body;
  job->n = n;
  job->chunks = chunks;
  Pool::get().submit(job, chunks - 1);
  job->runChunk(0);
  job->drain();
  // Spin briefly (workers usually finish within microseconds of the
  // caller), then sleep.
  for (int spin = 0; spin < 2000 && job->done.load() < chunks; ++spin)
    std::this_thread::yield();
  {
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->done.load() == chunks; });
  }
  // Take the error out of the job: a worker may drop the last reference to
  // the job after this call returns, and the exception must not be freed
  // there while the caller still reads it (its reference count lives in
  // libstdc++, which ThreadSanitizer cannot see).
  std::exception_ptr error = std::move(job->error);
  if (error)
    std::rethrow_exception(error);
}

} // namespace moert
