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
// so every validation gives the same verdict on every member, and a
// reduction combines member 0, 1, ... in that order on every member.
//
// Failures: World::abort marks the world failed and wakes every waiter;
// waiting and later collectives throw "<op>: rank <r> failed: <why>". A
// member waiting longer than the timeout in phase 1 fails the world
// itself. Phase 2 waits only for members that are reading, which never
// blocks, so it ignores both.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Comm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <type_traits>

namespace moert {
namespace {

using Clock = std::chrono::steady_clock;

/// What one member passes to a collective; points into the caller's
/// arguments, valid until the member leaves phase 2.
struct Contribution {
  const char *op = nullptr;
  const Tensor *tensor = nullptr;
  const std::vector<int64_t> *send = nullptr;
  const std::vector<int64_t> *recv = nullptr;
  const std::vector<std::vector<uint8_t>> *blobs = nullptr;
  int64_t scalar = 0;
  ReduceKind kind = ReduceKind::Sum;
};

using Inputs = std::vector<const Contribution *>; // by group rank

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
  bool aborted() const override {
    return failed_.load(std::memory_order_acquire);
  }

  /// Records the first failure (later ones are consequences). Takes only
  /// the world lock, so it may be called with a rendezvous lock held.
  void markFailed(int rank, const std::string &why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.load(std::memory_order_relaxed))
      return;
    failedRank_ = rank;
    failedWhy_ = why;
    failed_.store(true, std::memory_order_release);
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
  std::string failure() const {
    std::lock_guard<std::mutex> lock(mu_);
    return "rank " + std::to_string(failedRank_) + " failed: " + failedWhy_;
  }
  /// The phase-1 timeout; zero: none.
  Clock::duration timeout() const { return timeout_; }
  double timeoutSeconds() const { return timeoutSeconds_; }

private:
  mutable std::mutex mu_;
  std::atomic<bool> failed_{false};
  int failedRank_ = -1;
  std::string failedWhy_;
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
      : world_(world), globalRank_(globalRank), group_(group),
        channel_(channel), members_(std::move(members)), rz_(rz) {
    rank_ = static_cast<int>(
        std::find(members_.begin(), members_.end(), globalRank_) -
        members_.begin());
  }

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }

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

  /// "the tp group [0, 1] on channel 0".
  std::string where() const {
    std::ostringstream os;
    os << "the " << groupName(group_) << " group [";
    for (size_t i = 0; i < members_.size(); ++i)
      os << (i ? ", " : "") << members_[i];
    os << "] on channel " << channel_;
    return os.str();
  }
  std::string rankOf(size_t member) const {
    return "rank " + std::to_string(members_[member]);
  }

  ThreadWorld &world_;
  int globalRank_;
  Group group_;
  int channel_;
  std::vector<int> members_;
  int rank_ = 0;
  Rendezvous &rz_;
  uint64_t seq_ = 0;               // guarded by busy_
  std::atomic<bool> busy_{false};  // one collective at a time
};

//===----------------------------------------------------------------------===//
// The rendezvous
//===----------------------------------------------------------------------===//

template <typename Read>
void ThreadComm::collective(const Contribution &mine, Read &&read) {
  const std::string op = mine.op;
  if (busy_.exchange(true, std::memory_order_acq_rel))
    throw Error(op + ": rank " + std::to_string(globalRank_) +
                " uses its communicator of " + where() +
                " from two threads at once");
  struct Release {
    std::atomic<bool> &flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{busy_};

  if (world_.aborted())
    throw Error(op + ": " + world_.failure());
  const uint64_t seq = seq_++;
  const size_t n = members_.size();

  // Checks common to all collectives: every member calls the same one.
  auto readChecked = [&](const Inputs &in) {
    for (size_t p = 0; p < n; ++p)
      if (std::strcmp(in[p]->op, in[0]->op) != 0)
        throw Error(op + ": collectives do not match on " + where() +
                    " (call #" + std::to_string(seq) + "): " + rankOf(0) +
                    " calls " + in[0]->op + ", " + rankOf(p) + " calls " +
                    in[p]->op);
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
    round->in[static_cast<size_t>(rank_)] = &mine;
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
        std::ostringstream why;
        why << "timed out after " << world_.timeoutSeconds() << " s in "
            << op << " on " << where() << " (call #" << seq
            << ") waiting for rank";
        std::vector<int> missing;
        for (size_t p = 0; p < n; ++p)
          if (!round->in[p])
            missing.push_back(members_[p]);
        why << (missing.size() > 1 ? "s " : " ");
        for (size_t i = 0; i < missing.size(); ++i)
          why << (i ? ", " : "") << missing[i];
        // Fail the world before cancelling the round: a cancelled round
        // always finds the world failed.
        world_.markFailed(globalRank_, why.str());
        round->state = Round::Cancelled;
        lock.unlock();
        world_.wakeAll();
        throw Error(op + ": " + why.str());
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
// Reductions: member 0, then 1, ... on every element; floats accumulate in
// f32 and are rounded once.
//===----------------------------------------------------------------------===//

inline float maxF(float a, float b) { return (b > a || std::isnan(b)) ? b : a; }

template <typename T> T reduceInt(T a, T b, ReduceKind kind) {
  using U = typename std::make_unsigned<T>::type; // wrap, never UB
  if (kind == ReduceKind::Max)
    return std::max(a, b);
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}

/// out[0, n) = reduction over members of in[m][begin, begin + n).
void reduceElements(const std::vector<const Tensor *> &in, int64_t begin,
                    int64_t n, ReduceKind kind, const Tensor &out) {
  const DType dtype = in[0]->dtype;
  const int64_t chunk = 2048;
  if (isFloat(dtype)) {
    std::vector<float> acc(chunk), next(chunk);
    for (int64_t i = 0; i < n; i += chunk) {
      const int64_t c = std::min(chunk, n - i);
      loadF32(*in[0], begin + i, c, acc.data());
      for (size_t m = 1; m < in.size(); ++m) {
        loadF32(*in[m], begin + i, c, next.data());
        if (kind == ReduceKind::Sum)
          for (int64_t j = 0; j < c; ++j)
            acc[j] += next[j];
        else
          for (int64_t j = 0; j < c; ++j)
            acc[j] = maxF(acc[j], next[j]);
      }
      storeF32(out, i, c, acc.data());
    }
    return;
  }
  auto ints = [&](auto *tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T *o = out.data<T>();
    const T *first = in[0]->data<T>() + begin;
    std::copy(first, first + n, o);
    for (size_t m = 1; m < in.size(); ++m) {
      const T *src = in[m]->data<T>() + begin;
      for (int64_t j = 0; j < n; ++j)
        o[j] = reduceInt(o[j], src[j], kind);
    }
  };
  if (dtype == DType::I32)
    ints(static_cast<int32_t *>(nullptr));
  else if (dtype == DType::I64)
    ints(static_cast<int64_t *>(nullptr));
  else
    throw Error(std::string("reduction of ") + dtypeName(dtype));
}

const char *kindName(ReduceKind kind) {
  return kind == ReduceKind::Max ? "max" : "sum";
}

std::vector<int64_t> trailing(const Tensor &t) {
  return std::vector<int64_t>(t.shape.begin() + (t.shape.empty() ? 0 : 1),
                              t.shape.end());
}

/// Bytes of one row (dimension 0) of `t`; rows of int4 must fill bytes.
size_t rowBytes(const Tensor &t, const std::string &op) {
  int64_t elems = t.rowElems();
  check(t.dtype != DType::I4 || elems % 2 == 0,
        op + ": rows of " + t.str() + " do not fill whole bytes");
  return storageBytes(t.dtype, elems);
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

Tensor ThreadComm::allGather(const Tensor &x) {
  const std::string op = "npu.all_gather";
  Contribution mine;
  mine.op = "npu.all_gather";
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    const Tensor &first = *in[0]->tensor;
    int64_t rows = 0;
    for (size_t p = 0; p < in.size(); ++p) {
      const Tensor &t = *in[p]->tensor;
      check(t.rank() >= 1, op + ": " + rankOf(p) + " passes " + t.str() +
                               ", which has no rows (" + where() + ")");
      check(t.dtype == first.dtype && trailing(t) == trailing(first),
            op + ": " + rankOf(0) + " passes " + first.str() + ", " +
                rankOf(p) + " passes " + t.str() +
                "; the type and all but the first dimension must agree (" +
                where() + ")");
      rows += t.rows();
    }
    std::vector<int64_t> shape = first.shape;
    shape[0] = rows;
    out = Tensor::empty(first.dtype, shape);
    const size_t rb = rowBytes(first, op);
    uint8_t *dst = out.bytes();
    for (const Contribution *c : in) {
      size_t bytes = rb * static_cast<size_t>(c->tensor->rows());
      if (bytes)
        std::memcpy(dst, c->tensor->bytes(), bytes);
      dst += bytes;
    }
  });
  return out;
}

/// The checks shared by reductions: equal shapes and types, a supported
/// type, one reduce kind.
void checkReduction(const Inputs &in, const std::string &op,
                    const std::string &where,
                    const std::vector<int> &members, bool intsToo) {
  const Tensor &first = *in[0]->tensor;
  for (size_t p = 0; p < in.size(); ++p) {
    const Tensor &t = *in[p]->tensor;
    std::string who = "rank " + std::to_string(members[p]);
    check(t.dtype == first.dtype && t.shape == first.shape,
          op + ": rank " + std::to_string(members[0]) + " passes " +
              first.str() + ", " + who + " passes " + t.str() +
              "; shapes and types must agree (" + where + ")");
    check(in[p]->kind == in[0]->kind,
          op + ": rank " + std::to_string(members[0]) + " asks for " +
              kindName(in[0]->kind) + ", " + who + " for " +
              kindName(in[p]->kind) + " (" + where + ")");
  }
  bool ok = isFloat(first.dtype) ||
            (intsToo && (first.dtype == DType::I32 || first.dtype == DType::I64));
  check(ok, op + ": cannot reduce " + first.str() + " (" +
                (intsToo ? "f32, bf16, f16, i32 or i64" : "f32, bf16 or f16") +
                ")");
}

Tensor ThreadComm::reduceScatter(const Tensor &x) {
  const std::string op = "npu.reduce_scatter";
  Contribution mine;
  mine.op = "npu.reduce_scatter";
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    checkReduction(in, op, where(), members_, /*intsToo=*/false);
    const Tensor &first = *in[0]->tensor;
    const int64_t n = static_cast<int64_t>(in.size());
    check(first.rank() >= 1 && first.rows() % n == 0,
          op + ": " + first.str() + " has no rows divisible by the " +
              std::to_string(n) + " ranks of " + where());
    std::vector<int64_t> shape = first.shape;
    shape[0] /= n;
    out = Tensor::empty(first.dtype, shape);
    std::vector<const Tensor *> tensors;
    for (const Contribution *c : in)
      tensors.push_back(c->tensor);
    const int64_t count = out.numel();
    reduceElements(tensors, rank_ * count, count, ReduceKind::Sum, out);
  });
  return out;
}

Tensor ThreadComm::allReduce(const Tensor &x, ReduceKind kind) {
  const std::string op = "npu.all_reduce";
  Contribution mine;
  mine.op = "npu.all_reduce";
  mine.tensor = &x;
  mine.kind = kind;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    check(kind == ReduceKind::Sum || kind == ReduceKind::Max,
          op + ": unknown reduce kind " +
              std::to_string(static_cast<int32_t>(kind)));
    checkReduction(in, op, where(), members_, /*intsToo=*/true);
    out = Tensor::empty(x.dtype, x.shape);
    std::vector<const Tensor *> tensors;
    for (const Contribution *c : in)
      tensors.push_back(c->tensor);
    reduceElements(tensors, 0, x.numel(), kind, out);
  });
  return out;
}

Tensor ThreadComm::allToAllV(const Tensor &x, const std::vector<int64_t> &send,
                             const std::vector<int64_t> &recv) {
  const std::string op = "npu.all_to_all_v";
  Contribution mine;
  mine.op = "npu.all_to_all_v";
  mine.tensor = &x;
  mine.send = &send;
  mine.recv = &recv;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    const size_t n = in.size();
    const Tensor &first = *in[0]->tensor;
    for (size_t p = 0; p < n; ++p) {
      const Contribution &c = *in[p];
      const Tensor &t = *c.tensor;
      check(t.rank() >= 1, op + ": " + rankOf(p) + " passes " + t.str() +
                               ", which has no rows (" + where() + ")");
      check(t.dtype == first.dtype && trailing(t) == trailing(first),
            op + ": " + rankOf(0) + " passes " + first.str() + ", " +
                rankOf(p) + " passes " + t.str() +
                "; the type and all but the first dimension must agree (" +
                where() + ")");
      check(c.send->size() == n && c.recv->size() == n,
            op + ": " + rankOf(p) + " passes " +
                std::to_string(c.send->size()) + " send and " +
                std::to_string(c.recv->size()) +
                " receive splits; the group has " + std::to_string(n) +
                " ranks (" + where() + ")");
      int64_t sum = 0;
      for (size_t q = 0; q < n; ++q) {
        check((*c.send)[q] >= 0 && (*c.recv)[q] >= 0,
              op + ": " + rankOf(p) + " passes a negative split for " +
                  rankOf(q) + " (" + where() + ")");
        sum += (*c.send)[q];
      }
      check(sum == t.rows(), op + ": " + rankOf(p) + " sends " +
                                 std::to_string(sum) + " rows of " + t.str() +
                                 " (" + where() + ")");
    }
    for (size_t p = 0; p < n; ++p)
      for (size_t q = 0; q < n; ++q)
        check((*in[p]->recv)[q] == (*in[q]->send)[p],
              op + ": " + rankOf(p) + " expects " +
                  std::to_string((*in[p]->recv)[q]) + " rows from " +
                  rankOf(q) + ", which sends it " +
                  std::to_string((*in[q]->send)[p]) + " (" + where() + ")");
    const size_t me = static_cast<size_t>(rank_);
    int64_t rows = 0;
    for (size_t q = 0; q < n; ++q)
      rows += recv[q];
    std::vector<int64_t> shape = first.shape;
    shape[0] = rows;
    out = Tensor::empty(first.dtype, shape);
    const size_t rb = rowBytes(first, op);
    uint8_t *dst = out.bytes();
    for (size_t q = 0; q < n; ++q) {
      const std::vector<int64_t> &qs = *in[q]->send;
      int64_t offset = 0;
      for (size_t i = 0; i < me; ++i)
        offset += qs[i];
      size_t bytes = rb * static_cast<size_t>(qs[me]);
      if (bytes)
        std::memcpy(dst, in[q]->tensor->bytes() + rb * offset, bytes);
      dst += bytes;
    }
  });
  return out;
}

int64_t ThreadComm::allReduceScalar(int64_t value, ReduceKind kind) {
  const std::string op = "npu.all_reduce_scalar";
  Contribution mine;
  mine.op = "npu.all_reduce_scalar";
  mine.scalar = value;
  mine.kind = kind;
  int64_t out = 0;
  collective(mine, [&](const Inputs &in) {
    check(kind == ReduceKind::Sum || kind == ReduceKind::Max,
          op + ": unknown reduce kind " +
              std::to_string(static_cast<int32_t>(kind)));
    for (size_t p = 0; p < in.size(); ++p)
      check(in[p]->kind == kind, op + ": " + rankOf(0) + " asks for " +
                                     kindName(in[0]->kind) + ", " +
                                     rankOf(p) + " for " +
                                     kindName(in[p]->kind) + " (" + where() +
                                     ")");
    out = in[0]->scalar;
    for (size_t p = 1; p < in.size(); ++p)
      out = reduceInt(out, in[p]->scalar, kind);
  });
  return out;
}

std::vector<std::vector<uint8_t>>
ThreadComm::exchange(const std::vector<std::vector<uint8_t>> &toEach) {
  const std::string op = "exchange";
  Contribution mine;
  mine.op = "exchange";
  mine.blobs = &toEach;
  std::vector<std::vector<uint8_t>> out;
  collective(mine, [&](const Inputs &in) {
    for (size_t p = 0; p < in.size(); ++p)
      check(in[p]->blobs->size() == in.size(),
            op + ": " + rankOf(p) + " passes " +
                std::to_string(in[p]->blobs->size()) +
                " blobs; the group has " + std::to_string(in.size()) +
                " ranks (" + where() + ")");
    out.resize(in.size());
    for (size_t p = 0; p < in.size(); ++p)
      out[p] = (*in[p]->blobs)[static_cast<size_t>(rank_)];
  });
  return out;
}

//===----------------------------------------------------------------------===//
// The world
//===----------------------------------------------------------------------===//

ThreadWorld::ThreadWorld(const Layout &layout, double timeoutSeconds)
    : World(layout), timeoutSeconds_(timeoutSeconds) {
  check(layout.tp >= 1 && layout.dp >= 1,
        "createThreadWorld: tp and dp must be positive, got tp=" +
            std::to_string(layout.tp) + " dp=" + std::to_string(layout.dp));
  if (std::isfinite(timeoutSeconds) && timeoutSeconds > 0)
    timeout_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(timeoutSeconds));
}

ThreadWorld::~ThreadWorld() = default;

Comm &ThreadWorld::comm(int rank, Group group, int channel) {
  check(channel >= 0,
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
