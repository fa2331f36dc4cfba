//===- MpiProcess.h - the MPI state of one process --------------*- C++ -*-===//
//
// What the MPI world needs once per process (MpiProcess.cpp): its
// communicators for failures, handshakes and communicator creation, the
// run's first failure, the polling loop every wait goes through, and a
// watchdog for the few MPI calls that cannot be polled.
//
// Failures: the first failure of this process is sent to every other
// process on the abort communicator (one small message each); every wait
// polls that communicator, so a failure anywhere ends every pending and
// later collective with "<op>: rank <r> failed: <why>" within milliseconds.
// Nothing waits without a deadline: a wait that outlives the timeout fails
// the run itself, and a blocking MPI call that outlives it makes the
// watchdog print why and call MPI_Abort.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_WORLD_MPIPROCESS_H
#define MOE_LIB_RUNTIME_WORLD_MPIPROCESS_H

#include "Collectives.h"
#include "moe/Runtime/Comm.h"

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace moert {
namespace mpi {

/// Throws Error("<what>: <MPI's message>") unless rc is MPI_SUCCESS.
void checkMpi(int rc, const std::string &what);

/// Tags on the control communicator (communicator creation uses larger
/// ones, see MpiWorld.cpp).
constexpr int kLayoutTag = 1;

class Process {
public:
  /// The process state; throws Error when mpiInit was not called.
  static Process &get();

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Point-to-point handshakes (world creation, communicator creation).
  MPI_Comm control() const { return control_; }
  /// Parent of every group communicator (MPI_Comm_create_group).
  MPI_Comm create() const { return create_; }
  int tagUpperBound() const { return tagUb_; }

  /// Whether the run failed (here or, as far as received, anywhere).
  bool failed();
  /// "rank <r> failed: <why>" of the first failure.
  std::string failure();
  /// Records the first failure; when it is this process's own, sends it to
  /// every other process. Later failures are consequences and ignored.
  void fail(int rank, const std::string &why);

  /// Waits until done() returns true. Throws Error("<op>: " + failure())
  /// when the run fails meanwhile; after timeoutSeconds (<= 0 or infinite:
  /// never) fails the run with onTimeout() and throws it. done() may throw.
  void wait(const std::function<bool()> &done, const std::string &op,
            double timeoutSeconds,
            const std::function<std::string()> &onTimeout);

  /// Sends `mine` to every member of `ranks` (ranks in `comm`; `self` is
  /// this process's index there) with `tag` and receives theirs, polled as
  /// wait() does; onTimeout gets the indices not heard of. Returns what
  /// each member sent (this one: `mine`).
  std::vector<std::vector<int64_t>> swap(
      MPI_Comm comm, const std::vector<int> &ranks, size_t self, int tag,
      const std::vector<int64_t> &mine, const std::string &op,
      double timeoutSeconds,
      const std::function<std::string(const std::vector<size_t> &)> &onTimeout);

  /// Keeps requests that will never complete or be waited for, and what
  /// they read or write, until the process ends.
  void park(std::vector<MPI_Request> requests, std::shared_ptr<void> keep);

  /// Runs a blocking MPI call; if it has not returned after timeoutSeconds
  /// the watchdog prints "<what> did not return" and ends the job.
  void guarded(const std::string &what, double timeoutSeconds,
               const std::function<void()> &call);

  MpiOutcome finish(bool ok, const std::string &why, double timeoutSeconds);

private:
  friend MpiProcessInfo moert::mpiInit(int *, char ***);
  Process() = default;
  void init(int *argc, char ***argv);
  void pollAborts();
  void watchdog();

  int rank_ = 0, size_ = 1, localSize_ = 1, tagUb_ = 32767;
  bool ownsMpi_ = false;
  MPI_Comm abort_ = MPI_COMM_NULL, control_ = MPI_COMM_NULL,
           create_ = MPI_COMM_NULL, finish_ = MPI_COMM_NULL;

  coll::FirstFailure failure_;
  std::mutex mu_; // parked requests, watchdog
  std::vector<MPI_Request> parked_;
  std::vector<std::shared_ptr<void>> kept_;
  std::mutex abortMu_; // one thread drains the abort communicator

  struct Guard {
    std::string what;
    double seconds;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<Guard *> guards_; // under mu_
  std::condition_variable guardsChanged_;
  bool watchdogRunning_ = false;
};

} // namespace mpi
} // namespace moert

#endif // MOE_LIB_RUNTIME_WORLD_MPIPROCESS_H
