//===- Collectives.h - what every World backend shares ----------*- C++ -*-===//
//
// The backends (ThreadWorld.cpp, MpiWorld.cpp) differ only in how members
// meet and how bytes move. Both first give every member a Contribution of
// every member (the thread world: pointers to the arguments themselves; MPI:
// a Description of them without the data), then run the checks below, so
// every member reaches the same verdict with the same message, then move
// the data and reduce it with reduceElements in member order: the results
// are identical bit for bit on every backend.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_WORLD_COLLECTIVES_H
#define MOE_LIB_RUNTIME_WORLD_COLLECTIVES_H

#include "moe/Runtime/Comm.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace moert {
namespace coll {

/// The collectives a World runs. Members of one call must run the same one;
/// descriptions (MPI) carry its number.
enum class Collective : int32_t {
  AllGather,
  ReduceScatter,
  AllReduce,
  AllToAllV,
  AllReduceScalar,
  Exchange,
};
constexpr int64_t kNumCollectives = 6;
/// "npu.all_gather", ..., "exchange": the op in messages.
const char *collectiveName(Collective op);

/// What one member passes to a collective. Checks read only `op`, the
/// tensor's type and shape, the splits, the number of blobs, `scalar` and
/// `kind`; data is read only by the thread world.
struct Contribution {
  Collective op = Collective::AllGather;
  const Tensor *tensor = nullptr;
  const std::vector<int64_t> *send = nullptr;
  const std::vector<int64_t> *recv = nullptr;
  const std::vector<std::vector<uint8_t>> *blobs = nullptr;
  int64_t scalar = 0;
  ReduceKind kind = ReduceKind::Sum;
};

using Inputs = std::vector<const Contribution *>; // by group rank

/// A Contribution without its data, for backends whose members do not
/// share memory: encode() gives int64 words (op, kind, scalar, dtype, shape,
/// splits, blob sizes); decode() rebuilds what the checks read. `c` points
/// into the Description itself: decode in place, never copy a decoded one.
struct Description {
  Tensor tensor; // type and shape only
  std::vector<int64_t> send, recv, blobSizes;
  std::vector<std::vector<uint8_t>> blobs; // empty, one per blob
  Contribution c;

  static std::vector<int64_t> encode(const Contribution &c);
  /// Throws Error on malformed words (a peer of another build), naming
  /// `from`.
  void decode(const std::vector<int64_t> &words, const std::string &from);
};

/// One member's group instance, for messages.
struct GroupView {
  Group group = Group::World;
  int channel = 0;
  std::vector<int> members; // global ranks in group-rank order
  int rank = 0;             // this member's group rank

  size_t size() const { return members.size(); }
  /// "the tp group [0, 1] on channel 0".
  std::string where() const;
  /// "rank <global rank of member>".
  std::string rankOf(size_t member) const;
};

/// Result shape and bytes per row of a row-moving collective.
struct RowPlan {
  std::vector<int64_t> shape;
  size_t rowBytes = 0;
};

/// All members call the same collective (call `seq` of the communicator).
void checkSameOp(const Inputs &in, const GroupView &g, uint64_t seq,
                 const std::string &op);
RowPlan checkAllGather(const Inputs &in, const GroupView &g);
/// Returns the result shape (rows / size).
std::vector<int64_t> checkReduceScatter(const Inputs &in, const GroupView &g);
void checkAllReduce(const Inputs &in, const GroupView &g, ReduceKind kind);
/// Checks every member's splits against every other's; the plan's rows are
/// those this member receives.
RowPlan checkAllToAllV(const Inputs &in, const GroupView &g);
void checkAllReduceScalar(const Inputs &in, const GroupView &g,
                          ReduceKind kind);
void checkExchange(const Inputs &in, const GroupView &g);

/// out[0, n) = reduction over members of in[m][begin, begin + n), member 0
/// first; floats accumulate in f32 and are rounded once, max propagates
/// NaN, integer sums wrap.
void reduceElements(const std::vector<const Tensor *> &in, int64_t begin,
                    int64_t n, ReduceKind kind, const Tensor &out);
int64_t reduceScalars(const Inputs &in, ReduceKind kind);

/// Bytes of one row (dimension 0) of `t`; rows of int4 must fill bytes.
size_t rowBytes(const Tensor &t, const std::string &op);

/// Seconds as messages print them ("0.5", "10").
std::string seconds(double s);

/// "timed out after 0.5 s in <op> on <where> (call #3) waiting for rank 1".
std::string timeoutReason(double seconds, const std::string &op,
                          const GroupView &g, uint64_t seq,
                          const std::vector<int> &missing);

/// The first failure of a world; later ones are its consequences. Its own
/// lock is a leaf (nothing is taken under it), so `record` may be called
/// with any other lock held; `failed` is lock-free.
class FirstFailure {
public:
  /// Records (rank, why) unless a failure is recorded; true if this one was.
  bool record(int rank, const std::string &why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.load(std::memory_order_relaxed))
      return false;
    rank_ = rank;
    why_ = why;
    failed_.store(true, std::memory_order_release);
    return true;
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  /// "rank <r> failed: <why>" of the recorded failure.
  std::string message() const {
    std::lock_guard<std::mutex> lock(mu_);
    return "rank " + std::to_string(rank_) + " failed: " + why_;
  }

private:
  mutable std::mutex mu_;
  std::atomic<bool> failed_{false};
  int rank_ = -1;
  std::string why_;
};

} // namespace coll
} // namespace moert

#endif // MOE_LIB_RUNTIME_WORLD_COLLECTIVES_H
