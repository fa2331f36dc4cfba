//===- ThreadWorld.cpp - every rank as a thread of one process ------------===//
//
// createThreadWorld: the ranks of a layout share one process and exchange
// through shared memory (docs/Runtime.md, "Rank world and collectives").
//
// Every (group instance, channel) pair owns a Rendezvous. The members of
// one collective meet in a Round of that rendezvous, matched by the
// per-communicator sequence number. A member publishes a pointer to what it
// passes (phase 1: arrive, wait until every member arrived), then reads the
// other members' inputs directly into its own result, then waits until
// every member has finished reading (phase 2: depart) so no input is freed
// or reused while someone still reads it. Every member sees every input,
// so every validation (Collectives.h, shared with the MPI world) gives the
// same verdict on every member, and a reduction combines member 0, 1, ...
// in that order on every member.
//
// Failures: World::abort marks the world failed and wakes every waiter;
// waiting and later collectives throw "<op>: rank <r> failed: <why>". A
// member waiting longer than the timeout in phase 1 fails the world
// itself. Phase 2 waits only for members that are reading, which never
// blocks, so it ignores both.
//
//===----------------------------------------------------------------------===//

#include "Collectives.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <tuple>

namespace moert {
namespace {

using Clock = std::chrono::steady_clock;
using coll::Contribution;
using coll::Inputs;

/// One collective call of every member of a group on one channel.
struct Round {
  enum State { Open, Complete, Cancelled };
  explicit Round(size_t members) : in(members, nullptr) {}
  State state = Open;
  Inputs in;
  size_t arrived = 0, departed = 0;
};

/// The meeting point of one group instance on one channel.
struct Rendezvous {
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::shared_ptr<Round>> rounds; // open, by sequence
};

class ThreadComm;

class ThreadWorld final : public World {
public:
  ThreadWorld(const Layout &layout, double timeoutSeconds);
  ~ThreadWorld() override;

  std::vector<int> localRanks() const override {
    std::vector<int> ranks;
    for (int64_t r = 0; r < layout_.worldSize(); ++r)
      ranks.push_back(static_cast<int>(r));
    return ranks;
  }
  Comm &comm(int rank, Group group, int channel) override;
  void abort(int rank, const std::string &why) override {
    markFailed(rank, why);
    wakeAll();
  }
  bool aborted() const override { return failure_.failed(); }

  /// Records the first failure (later ones are consequences); may be
  /// called with a rendezvous lock held.
  void markFailed(int rank, const std::string &why) {
    failure_.record(rank, why);
  }
  /// Wakes every waiter of every rendezvous. Call without rendezvous locks.
  void wakeAll() {
    std::vector<Rendezvous *> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto &entry : rendezvous_)
        all.push_back(entry.second.get());
    }
    for (Rendezvous *rz : all) {
      // Taking the lock orders the wake-up after any waiter's check of
      // the failed flag, so no waiter misses it.
      { std::lock_guard<std::mutex> lock(rz->mu); }
      rz->cv.notify_all();
    }
  }
  /// "rank <r> failed: <why>" of the recorded failure.
  std::string failure() const { return failure_.message(); }
  /// The phase-1 timeout; zero: none.
  Clock::duration timeout() const { return timeout_; }
  double timeoutSeconds() const { return timeoutSeconds_; }

private:
  mutable std::mutex mu_; // the maps below
  coll::FirstFailure failure_;
  double timeoutSeconds_;
  Clock::duration timeout_{0};
  // (rank, group, channel) -> communicator; (group, first member,
  // channel) -> rendezvous. Both live as long as the world.
  std::map<std::tuple<int, int, int>, std::unique_ptr<ThreadComm>> comms_;
  std::map<std::tuple<int, int, int>, std::unique_ptr<Rendezvous>>
      rendezvous_;
};

class ThreadComm final : public Comm {
public:
  ThreadComm(ThreadWorld &world, int globalRank, Group group, int channel,
             std::vector<int> members, Rendezvous &rz)
      : world_(world), globalRank_(globalRank), rz_(rz) {
    g_.group = group;
    g_.channel = channel;
    g_.rank = static_cast<int>(
        std::find(members.begin(), members.end(), globalRank) -
        members.begin());
    g_.members = std::move(members);
  }

  int rank() const override { return g_.rank; }
  int size() const override { return static_cast<int>(g_.size()); }

  Tensor allGather(const Tensor &x) override;
  Tensor reduceScatter(const Tensor &x) override;
  Tensor allReduce(const Tensor &x, ReduceKind kind) override;
  Tensor allToAllV(const Tensor &x, const std::vector<int64_t> &send,
                   const std::vector<int64_t> &recv) override;
  int64_t allReduceScalar(int64_t value, ReduceKind kind) override;
  std::vector<std::vector<uint8_t>>
  exchange(const std::vector<std::vector<uint8_t>> &toEach) override;

private:
  /// Runs one collective: publishes `mine`, waits for every member, calls
  /// read(inputs of all members) and waits until every member has read.
  template <typename Read>
  void collective(const Contribution &mine, Read &&read);

  ThreadWorld &world_;
  int globalRank_;
  coll::GroupView g_;
  Rendezvous &rz_;
  uint64_t seq_ = 0;               // guarded by busy_
  std::atomic<bool> busy_{false};  // one collective at a time
};

//===----------------------------------------------------------------------===//
// The rendezvous
//===----------------------------------------------------------------------===//

template <typename Read>
void ThreadComm::collective(const Contribution &mine, Read &&read) {
  const std::string op = coll::collectiveName(mine.op);
  if (busy_.exchange(true, std::memory_order_acq_rel))
    throw Error(op + ": rank " + std::to_string(globalRank_) +
                " uses its communicator of " + g_.where() +
                " from two threads at once");
  struct Release {
    std::atomic<bool> &flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{busy_};

  if (world_.aborted())
    throw Error(op + ": " + world_.failure());
  const uint64_t seq = seq_++;
  const size_t n = g_.size();

  // Checks common to all collectives: every member calls the same one.
  auto readChecked = [&](const Inputs &in) {
    coll::checkSameOp(in, g_, seq, op);
    read(in);
  };

  if (n == 1) {
    readChecked(Inputs{&mine});
    return;
  }

  std::shared_ptr<Round> round;
  {
    std::unique_lock<std::mutex> lock(rz_.mu);
    if (world_.aborted())
      throw Error(op + ": " + world_.failure());
    std::shared_ptr<Round> &slot = rz_.rounds[seq];
    if (!slot)
      slot = std::make_shared<Round>(n);
    round = slot;
    round->in[static_cast<size_t>(g_.rank)] = &mine;
    if (++round->arrived == n) {
      round->state = Round::Complete;
      rz_.rounds.erase(seq);
      rz_.cv.notify_all();
    } else {
      const bool timed = world_.timeout() > Clock::duration::zero();
      const Clock::time_point deadline = Clock::now() + world_.timeout();
      while (round->state == Round::Open) {
        if (world_.aborted()) {
          round->state = Round::Cancelled;
          lock.unlock();
          throw Error(op + ": " + world_.failure());
        }
        if (!timed) {
          rz_.cv.wait(lock);
          continue;
        }
        if (rz_.cv.wait_until(lock, deadline) != std::cv_status::timeout ||
            round->state != Round::Open || world_.aborted())
          continue;
        std::vector<int> missing;
        for (size_t p = 0; p < n; ++p)
          if (!round->in[p])
            missing.push_back(g_.members[p]);
        const std::string why = coll::timeoutReason(
            world_.timeoutSeconds(), op, g_, seq, missing);
        // Fail the world before cancelling the round: a cancelled round
        // always finds the world failed.
        world_.markFailed(globalRank_, why);
        round->state = Round::Cancelled;
        lock.unlock();
        world_.wakeAll();
        throw Error(op + ": " + why);
      }
      if (round->state == Round::Cancelled) // by a member that gave up
        throw Error(op + ": " + world_.failure());
    }
  }

  // Phase 2. Reading never blocks, so every member that got here departs
  // soon; waiting for them ignores aborts and timeouts on purpose.
  std::exception_ptr error;
  try {
    readChecked(round->in);
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::unique_lock<std::mutex> lock(rz_.mu);
    if (++round->departed == n)
      rz_.cv.notify_all();
    else
      rz_.cv.wait(lock, [&] { return round->departed == n; });
  }
  if (error)
    std::rethrow_exception(error);
}

//===----------------------------------------------------------------------===//
// Collectives: the shared checks, then every member reads the others'
// inputs directly.
//===----------------------------------------------------------------------===//

std::vector<const Tensor *> tensorsOf(const Inputs &in) {
  std::vector<const Tensor *> tensors;
  for (const Contribution *c : in)
    tensors.push_back(c->tensor);
  return tensors;
}

Tensor ThreadComm::allGather(const Tensor &x) {
  Contribution mine;
  mine.op = coll::Collective::AllGather;
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    coll::RowPlan plan = coll::checkAllGather(in, g_);
    out = Tensor::empty(in[0]->tensor->dtype, plan.shape);
    uint8_t *dst = out.bytes();
    for (const Contribution *c : in) {
      size_t bytes = plan.rowBytes * static_cast<size_t>(c->tensor->rows());
      if (bytes)
        std::memcpy(dst, c->tensor->bytes(), bytes);
      dst += bytes;
    }
  });
  return out;
}

Tensor ThreadComm::reduceScatter(const Tensor &x) {
  Contribution mine;
  mine.op = coll::Collective::ReduceScatter;
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    out = Tensor::empty(x.dtype, coll::checkReduceScatter(in, g_));
    const int64_t count = out.numel();
    coll::reduceElements(tensorsOf(in), g_.rank * count, count,
                         ReduceKind::Sum, out);
  });
  return out;
}

Tensor ThreadComm::allReduce(const Tensor &x, ReduceKind kind) {
  Contribution mine;
  mine.op = coll::Collective::AllReduce;
  mine.tensor = &x;
  mine.kind = kind;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    coll::checkAllReduce(in, g_, kind);
    out = Tensor::empty(x.dtype, x.shape);
    coll::reduceElements(tensorsOf(in), 0, x.numel(), kind, out);
  });
  return out;
}

Tensor ThreadComm::allToAllV(const Tensor &x, const std::vector<int64_t> &send,
                             const std::vector<int64_t> &recv) {
  Contribution mine;
  mine.op = coll::Collective::AllToAllV;
  mine.tensor = &x;
  mine.send = &send;
  mine.recv = &recv;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    coll::RowPlan plan = coll::checkAllToAllV(in, g_);
    out = Tensor::empty(x.dtype, plan.shape);
    const size_t me = static_cast<size_t>(g_.rank);
    uint8_t *dst = out.bytes();
    for (size_t q = 0; q < in.size(); ++q) {
      const std::vector<int64_t> &qs = *in[q]->send;
      int64_t offset = 0;
      for (size_t i = 0; i < me; ++i)
        offset += qs[i];
      size_t bytes = plan.rowBytes * static_cast<size_t>(qs[me]);
      if (bytes)
        std::memcpy(dst, in[q]->tensor->bytes() + plan.rowBytes * offset,
                    bytes);
      dst += bytes;
    }
  });
  return out;
}

int64_t ThreadComm::allReduceScalar(int64_t value, ReduceKind kind) {
  Contribution mine;
  mine.op = coll::Collective::AllReduceScalar;
  mine.scalar = value;
  mine.kind = kind;
  int64_t out = 0;
  collective(mine, [&](const Inputs &in) {
    coll::checkAllReduceScalar(in, g_, kind);
    out = coll::reduceScalars(in, kind);
  });
  return out;
}

std::vector<std::vector<uint8_t>>
ThreadComm::exchange(const std::vector<std::vector<uint8_t>> &toEach) {
  Contribution mine;
  mine.op = coll::Collective::Exchange;
  mine.blobs = &toEach;
  std::vector<std::vector<uint8_t>> out;
  collective(mine, [&](const Inputs &in) {
    coll::checkExchange(in, g_);
    out.resize(in.size());
    for (size_t p = 0; p < in.size(); ++p)
      out[p] = (*in[p]->blobs)[static_cast<size_t>(g_.rank)];
  });
  return out;
}

//===----------------------------------------------------------------------===//
// The world
//===----------------------------------------------------------------------===//

ThreadWorld::ThreadWorld(const Layout &layout, double timeoutSeconds)
    : World(layout), timeoutSeconds_(timeoutSeconds) {
  MOE_CHECK(layout.tp >= 1 && layout.dp >= 1,
            "createThreadWorld: tp and dp must be positive, got tp=" +
                std::to_string(layout.tp) + " dp=" + std::to_string(layout.dp));
  if (std::isfinite(timeoutSeconds) && timeoutSeconds > 0)
    timeout_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(timeoutSeconds));
}

ThreadWorld::~ThreadWorld() = default;

Comm &ThreadWorld::comm(int rank, Group group, int channel) {
  MOE_CHECK(channel >= 0,
            "comm: channel " + std::to_string(channel) + " is negative");
  std::vector<int> members = layout_.members(group, rank); // checks rank
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<ThreadComm> &slot =
      comms_[{rank, static_cast<int>(group), channel}];
  if (!slot) {
    std::unique_ptr<Rendezvous> &rz =
        rendezvous_[{static_cast<int>(group), members.front(), channel}];
    if (!rz)
      rz = std::make_unique<Rendezvous>();
    slot = std::make_unique<ThreadComm>(*this, rank, group, channel,
                                        std::move(members), *rz);
  }
  return *slot;
}

} // namespace

std::unique_ptr<World> createThreadWorld(const Layout &layout,
                                         double timeoutSeconds) {
  return std::make_unique<ThreadWorld>(layout, timeoutSeconds);
}

} // namespace moert
