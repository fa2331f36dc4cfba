//===- HostThreads.h - reused threads for hosts and stream workers -*- C++ -*-===//
//
// Every run of a rank used to start and join a host thread per local rank
// and a worker thread per stream: ~0.1 ms of a decode step that takes
// 1-4 ms. A HostThread runs its function on a parked thread of a
// process-wide set instead, starting a new one only when none is parked.
// Not the kernel pool (Parallel.h): these threads block on events and
// collectives, the kernel pool's never do.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_HOSTTHREADS_H
#define MOE_RUNTIME_HOSTTHREADS_H

#include <functional>

namespace moert {

class HostThread {
public:
  /// Runs `fn` on a thread parked in set `role`, or on a new one (which
  /// throws std::system_error when the system has no thread to give). `fn`
  /// must not throw. Thread-local state persists from one use to the next,
  /// so a role keeps its threads: the host threads are role 0, the worker
  /// threads of stream s role s + 1 (their kernels' per-thread buffers,
  /// oneDNN's among them, stay sized for what that role runs).
  explicit HostThread(std::function<void()> fn, int role = 0);
  /// Waits until `fn` has returned; the thread is parked for the next use.
  void join();
  /// Joins when join() was not called.
  ~HostThread();
  HostThread(HostThread &&other) noexcept;
  HostThread(const HostThread &) = delete;
  HostThread &operator=(const HostThread &) = delete;
  HostThread &operator=(HostThread &&) = delete;

  struct Slot;

private:
  Slot *slot;
  int role;
};

} // namespace moert

#endif // MOE_RUNTIME_HOSTTHREADS_H
