//===- MpiProcess.cpp - the MPI state of one process ----------------------===//
//
// mpiInit, mpiFinish, mpiAbortJob and the per-process machinery of the MPI
// world (MpiProcess.h): the failure channel, the polling wait, parked
// requests and the watchdog. docs/ScaleOut.md describes the protocol.
//
//===----------------------------------------------------------------------===//

#include "MpiProcess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>
#include <unistd.h>

namespace moert {
namespace mpi {

using Clock = std::chrono::steady_clock;

namespace {

Process *instance = nullptr; // leaked: the watchdog may outlive main

/// Failure texts travel in one message; keep them short of any eager
/// limit.
constexpr size_t kMaxText = 3000;

/// Sleeps a little longer the longer nothing happens: a polling loop must
/// not starve the other processes sharing the cores.
struct Backoff {
  unsigned idle = 0;
  void operator()() {
    if (++idle < 64) {
      std::this_thread::yield();
      return;
    }
    unsigned us = std::min(200u, 5u * (idle - 63));
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
};

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s));
}

bool bounded(double timeoutSeconds) {
  return std::isfinite(timeoutSeconds) && timeoutSeconds > 0;
}

} // namespace

void checkMpi(int rc, const std::string &what) {
  if (rc == MPI_SUCCESS)
    return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
    len = 0;
  throw Error(what + ": " +
              (len ? std::string(text, static_cast<size_t>(len))
                   : "MPI error " + std::to_string(rc)));
}

Process &Process::get() {
  MOE_CHECK(instance != nullptr, "the MPI world needs mpiInit first");
  return *instance;
}

void Process::init(int *argc, char ***argv) {
  int initialized = 0;
  checkMpi(MPI_Initialized(&initialized), "MPI_Initialized");
  if (!initialized) {
    int provided = 0;
    checkMpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided),
             "MPI_Init_thread");
    ownsMpi_ = true;
  }
  int provided = 0;
  checkMpi(MPI_Query_thread(&provided), "MPI_Query_thread");
  MOE_CHECK(provided >= MPI_THREAD_MULTIPLE,
            "mpiInit: the MPI library provides thread level " +
                std::to_string(provided) +
                ", not MPI_THREAD_MULTIPLE: the MPI world needs it because "
                "every stream of a rank communicates from its own thread");
  checkMpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  checkMpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  // Every process is here (start-up), so blocking collectives are safe.
  for (MPI_Comm *c : {&abort_, &control_, &create_, &finish_}) {
    checkMpi(MPI_Comm_dup(MPI_COMM_WORLD, c), "MPI_Comm_dup");
    checkMpi(MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN),
             "MPI_Comm_set_errhandler");
  }
  MPI_Comm local;
  checkMpi(MPI_Comm_split_type(control_, MPI_COMM_TYPE_SHARED, rank_,
                               MPI_INFO_NULL, &local),
           "MPI_Comm_split_type");
  checkMpi(MPI_Comm_size(local, &localSize_), "MPI_Comm_size");
  MPI_Comm_free(&local);
  void *ub = nullptr;
  int flag = 0;
  if (MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag) ==
          MPI_SUCCESS &&
      flag)
    tagUb_ = *static_cast<int *>(ub);
}

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

bool Process::failed() {
  if (!failure_.failed())
    pollAborts();
  return failure_.failed();
}

std::string Process::failure() { return failure_.message(); }

void Process::fail(int rank, const std::string &why) {
  if (!failure_.record(rank, why) || rank != rank_)
    return;
  // Tell everyone. The sends are small (eager): they complete whether or
  // not the receiver still listens; they are never waited for.
  auto text = std::make_shared<std::string>(why.substr(0, kMaxText));
  std::vector<MPI_Request> sends;
  for (int p = 0; p < size_; ++p) {
    if (p == rank_)
      continue;
    MPI_Request r;
    if (MPI_Isend(text->data(), static_cast<int>(text->size()), MPI_CHAR, p, 0,
                  abort_, &r) == MPI_SUCCESS)
      sends.push_back(r);
  }
  park(std::move(sends), text);
}

void Process::pollAborts() {
  std::unique_lock<std::mutex> lock(abortMu_, std::try_to_lock);
  if (!lock.owns_lock())
    return; // another thread drains
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, 0, abort_, &flag, &msg, &st) !=
            MPI_SUCCESS ||
        !flag)
      return;
    int count = 0;
    MPI_Get_count(&st, MPI_CHAR, &count);
    std::string text(static_cast<size_t>(std::max(count, 0)), '\0');
    if (MPI_Mrecv(text.data(), count, MPI_CHAR, &msg, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS)
      text = "(its message was lost)";
    fail(st.MPI_SOURCE, text);
  }
}

void Process::wait(const std::function<bool()> &done, const std::string &op,
                   double timeoutSeconds,
                   const std::function<std::string()> &onTimeout) {
  const bool timed = bounded(timeoutSeconds);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      timed ? start + seconds(timeoutSeconds) : Clock::time_point::max();
  Clock::time_point nextPoll = start;
  Backoff backoff;
  while (!done()) {
    if (failure_.failed())
      throw Error(op + ": " + failure());
    const Clock::time_point now = Clock::now();
    if (now >= nextPoll) {
      pollAborts();
      nextPoll = now + std::chrono::milliseconds(1);
      continue;
    }
    if (now >= deadline) {
      std::string why = onTimeout();
      fail(rank_, why);
      throw Error(op + ": " + why);
    }
    backoff();
  }
}

std::vector<std::vector<int64_t>> Process::swap(
    MPI_Comm comm, const std::vector<int> &ranks, size_t self, int tag,
    const std::vector<int64_t> &mine, const std::string &op,
    double timeoutSeconds,
    const std::function<std::string(const std::vector<size_t> &)> &onTimeout) {
  const size_t n = ranks.size();
  auto sent = std::make_shared<std::vector<int64_t>>(mine);
  std::vector<MPI_Request> sends;
  for (size_t p = 0; p < n; ++p) {
    if (p == self)
      continue;
    sends.emplace_back();
    checkMpi(MPI_Isend(sent->data(), static_cast<int>(sent->size()),
                       MPI_INT64_T, ranks[p], tag, comm, &sends.back()),
             op + ": MPI_Isend");
  }
  std::vector<std::vector<int64_t>> got(n);
  std::vector<bool> heard(n, false);
  got[self] = mine;
  heard[self] = true;
  try {
    wait(
        [&] {
          for (size_t p = 0; p < n; ++p) {
            if (heard[p])
              continue;
            int flag = 0, words = 0;
            MPI_Message msg;
            MPI_Status st;
            checkMpi(MPI_Improbe(ranks[p], tag, comm, &flag, &msg, &st),
                     op + ": MPI_Improbe");
            if (!flag)
              continue;
            MPI_Get_count(&st, MPI_INT64_T, &words);
            got[p].resize(static_cast<size_t>(std::max(words, 0)));
            checkMpi(MPI_Mrecv(got[p].data(), words, MPI_INT64_T, &msg,
                               MPI_STATUS_IGNORE),
                     op + ": MPI_Mrecv");
            heard[p] = true;
          }
          int flag = 0;
          checkMpi(MPI_Testall(static_cast<int>(sends.size()), sends.data(),
                               &flag, MPI_STATUSES_IGNORE),
                   op + ": MPI_Testall");
          return flag &&
                 std::find(heard.begin(), heard.end(), false) == heard.end();
        },
        op, timeoutSeconds,
        [&] {
          std::vector<size_t> missing;
          for (size_t p = 0; p < n; ++p)
            if (!heard[p])
              missing.push_back(p);
          return onTimeout(missing);
        });
  } catch (...) {
    park(std::move(sends), sent);
    throw;
  }
  return got;
}

void Process::park(std::vector<MPI_Request> requests,
                   std::shared_ptr<void> keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (MPI_Request r : requests)
    if (r != MPI_REQUEST_NULL)
      parked_.push_back(r);
  kept_.push_back(std::move(keep));
}

//===----------------------------------------------------------------------===//
// The watchdog: the last resort for blocking calls
//===----------------------------------------------------------------------===//

void Process::guarded(const std::string &what, double timeoutSeconds,
                      const std::function<void()> &call) {
  if (!bounded(timeoutSeconds)) {
    call();
    return;
  }
  Guard guard{what, timeoutSeconds, Clock::now() + seconds(timeoutSeconds)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    guards_.push_back(&guard);
    if (!watchdogRunning_) {
      watchdogRunning_ = true;
      std::thread([this] { watchdog(); }).detach();
    }
  }
  guardsChanged_.notify_all();
  struct Unregister {
    Process &p;
    Guard *g;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(p.mu_);
      p.guards_.erase(std::find(p.guards_.begin(), p.guards_.end(), g));
    }
  } unregister{*this, &guard};
  call();
}

void Process::watchdog() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (guards_.empty()) {
      guardsChanged_.wait(lock);
      continue;
    }
    Guard *first = *std::min_element(
        guards_.begin(), guards_.end(),
        [](Guard *a, Guard *b) { return a->deadline < b->deadline; });
    if (Clock::now() < first->deadline) {
      guardsChanged_.wait_until(lock, first->deadline);
      continue;
    }
    std::fprintf(stderr,
                 "moert: rank %d: %s did not return within %g s; ending the "
                 "MPI job (MPI_Abort)\n",
                 rank_, first->what.c_str(), first->seconds);
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
  }
}

//===----------------------------------------------------------------------===//
// The end of the run
//===----------------------------------------------------------------------===//

MpiOutcome Process::finish(bool ok, const std::string &why,
                           double timeoutSeconds) {
  if (!ok)
    fail(rank_, why);
  // One status message to every process: "1", or "0" and the error.
  std::string mine = ok ? "1" : "0" + why.substr(0, kMaxText);
  std::vector<MPI_Request> sends;
  for (int p = 0; p < size_; ++p) {
    if (p == rank_)
      continue;
    MPI_Request r;
    checkMpi(MPI_Isend(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, p,
                       0, finish_, &r),
             "mpiFinish: MPI_Isend");
    sends.push_back(r);
  }
  std::vector<std::string> status(static_cast<size_t>(size_));
  std::vector<bool> heard(static_cast<size_t>(size_), false);
  status[static_cast<size_t>(rank_)] = mine;
  heard[static_cast<size_t>(rank_)] = true;
  auto all = [&] {
    return std::all_of(heard.begin(), heard.end(), [](bool b) { return b; });
  };
  const Clock::time_point deadline =
      bounded(timeoutSeconds) ? Clock::now() + seconds(timeoutSeconds)
                              : Clock::time_point::max();
  Backoff backoff;
  while (!all() && Clock::now() < deadline) {
    bool progress = false;
    for (int p = 0; p < size_; ++p) {
      if (heard[static_cast<size_t>(p)])
        continue;
      int flag = 0, count = 0;
      MPI_Message msg;
      MPI_Status st;
      checkMpi(MPI_Improbe(p, 0, finish_, &flag, &msg, &st),
               "mpiFinish: MPI_Improbe");
      if (!flag)
        continue;
      MPI_Get_count(&st, MPI_CHAR, &count);
      std::string text(static_cast<size_t>(std::max(count, 1)), '0');
      checkMpi(MPI_Mrecv(text.data(), count, MPI_CHAR, &msg, MPI_STATUS_IGNORE),
               "mpiFinish: MPI_Mrecv");
      status[static_cast<size_t>(p)] = text;
      heard[static_cast<size_t>(p)] = true;
      progress = true;
    }
    pollAborts(); // keep draining: a sender may wait for its rendezvous
    if (!progress)
      backoff();
  }
  MpiOutcome outcome;
  for (int p = 0; p < size_; ++p) {
    const std::string &s = status[static_cast<size_t>(p)];
    if (!heard[static_cast<size_t>(p)])
      outcome.missing.push_back(p);
    else if (s[0] != '1')
      outcome.failed.emplace_back(p, s.substr(1));
  }
  if (!outcome.missing.empty()) {
    park(std::move(sends), nullptr);
    return outcome;
  }
  guarded("MPI_Finalize", timeoutSeconds, [&] {
    int done = 0;
    MPI_Waitall(static_cast<int>(sends.size()), sends.data(),
                MPI_STATUSES_IGNORE);
    if (ownsMpi_ && MPI_Finalized(&done) == MPI_SUCCESS && !done)
      MPI_Finalize();
  });
  return outcome;
}

} // namespace mpi

MpiProcessInfo mpiInit(int *argc, char ***argv) {
  MOE_CHECK(mpi::instance == nullptr, "mpiInit: MPI is already set up");
  auto *p = new mpi::Process();
  p->init(argc, argv);
  mpi::instance = p;
  MpiProcessInfo info;
  info.rank = p->rank_;
  info.size = p->size_;
  info.localSize = p->localSize_;
  return info;
}

MpiOutcome mpiFinish(bool ok, const std::string &why, double timeoutSeconds) {
  return mpi::Process::get().finish(ok, why, timeoutSeconds);
}

void mpiAbortJob(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

} // namespace moert
