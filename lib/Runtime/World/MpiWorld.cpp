//===- MpiWorld.cpp - one rank per MPI process ----------------------------===//
//
// createMpiWorld: the rank of this process (its MPI rank) in a world whose
// other ranks are other MPI processes (docs/ScaleOut.md).
//
// Every (group, channel) pair of a rank gets its own MPI communicator,
// created on the first collective that needs it: the members first tell
// each other they are there (point-to-point, polled, so a missing member
// times out or fails cleanly), then call MPI_Comm_create_group with a tag
// unique to the pair, which lets stream threads create communicators
// concurrently and in any order. A collective then
//
//  1. sends every member a description of its arguments (op, type, shape,
//     splits, blob sizes, scalar) and receives theirs (point-to-point, so
//     a timeout names the members that did not arrive);
//  2. runs the checks of Collectives.h on them: every member reaches the
//     same verdict with the thread world's message;
//  3. moves the data with one nonblocking collective (Iallgatherv,
//     Ialltoall, Iallgather, Ialltoallv) and reduces what it received with
//     the thread world's reduceElements, in member order.
//
// Every wait polls (Process::wait): a failure anywhere or the timeout ends
// it. A collective abandoned that way parks its requests and buffers for
// the rest of the process, so MPI never touches freed memory.
//
//===----------------------------------------------------------------------===//

#include "Collectives.h"
#include "MpiProcess.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

namespace moert {
namespace {

using coll::Contribution;
using coll::Description;
using coll::GroupView;
using coll::Inputs;
using mpi::checkMpi;
using mpi::Process;

constexpr int kDescriptionTag = 1; // on group communicators

/// What a nonblocking collective reads or writes, kept alive with it.
struct Buffers {
  std::vector<Tensor> tensors;
  std::vector<uint8_t> bytes;
  std::vector<std::vector<int>> ints;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  ~Buffers() {
    if (type != MPI_DATATYPE_NULL)
      MPI_Type_free(&type);
  }
};

/// An MPI int count, checked.
int count(int64_t n, const std::string &op, const char *what) {
  MOE_CHECK(n >= 0 && n <= INT_MAX, op + ": " + what + " " + std::to_string(n) +
                                        " does not fit an MPI count");
  return static_cast<int>(n);
}

/// counts and their displacements (prefix sums) as MPI ints.
void countsAndDispls(const std::vector<int64_t> &n, const std::string &op,
                     std::vector<int> &counts, std::vector<int> &displs) {
  int64_t at = 0;
  for (int64_t c : n) {
    counts.push_back(count(c, op, "a count of"));
    displs.push_back(count(at, op, "an offset of"));
    at += c;
  }
}

class MpiWorld;

class MpiComm final : public Comm {
public:
  MpiComm(MpiWorld &world, GroupView g) : world_(world), g_(std::move(g)) {}
  ~MpiComm() override;
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
  /// Runs one collective: exchanges the descriptions, checks that every
  /// member calls the same collective, then calls run(inputs) (the
  /// collective's checks and data movement). Singleton groups run locally.
  template <typename Run> void collective(const Contribution &mine, Run &&run);
  void create(const std::string &op);
  /// Posts a nonblocking collective with post(&request) and waits for it.
  void move(const std::string &op, std::shared_ptr<Buffers> keep,
            const std::function<int(MPI_Request *)> &post);
  double timeout() const;
  /// Global ranks of the members at `indices`.
  std::vector<int> membersAt(const std::vector<size_t> &indices) const {
    std::vector<int> out;
    for (size_t i : indices)
      out.push_back(g_.members[i]);
    return out;
  }

  MpiWorld &world_;
  GroupView g_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  // Guarded by busy_: the call count, the running call and its members'
  // descriptions.
  uint64_t seq_ = 0, current_ = 0;
  std::vector<Description> metas_;
  std::atomic<bool> busy_{false};
};

class MpiWorld final : public World {
public:
  MpiWorld(const Layout &layout, double timeoutSeconds);
  std::vector<int> localRanks() const override { return {proc_.rank()}; }
  Comm &comm(int rank, Group group, int channel) override;
  void abort(int rank, const std::string &why) override {
    proc_.fail(rank, why);
  }
  bool aborted() const override { return proc_.failed(); }
  double timeoutSeconds() const { return timeout_; }
  Process &proc() const { return proc_; }

private:
  Process &proc_;
  double timeout_;
  std::mutex mu_;
  std::map<std::tuple<int, int>, std::unique_ptr<MpiComm>> comms_;
};

//===----------------------------------------------------------------------===//
// The world
//===----------------------------------------------------------------------===//

std::string describe(const std::vector<int64_t> &l) {
  if (l.size() != 5)
    return "(malformed)";
  return "tp " + std::to_string(l[0]) + ", dp " + std::to_string(l[1]) +
         (l[2] ? ", expert parallel" : "") +
         (l[3] ? ", sequence parallel" : "") +
         (l[4] > 1 ? ", pcp " + std::to_string(l[4]) : "");
}

MpiWorld::MpiWorld(const Layout &layout, double timeoutSeconds)
    : World(layout), proc_(Process::get()), timeout_(timeoutSeconds) {
  const std::string op = "createMpiWorld";
  MOE_CHECK(layout.tp >= 1 && layout.dp >= 1,
            op + ": tp and dp must be positive, got tp=" +
                std::to_string(layout.tp) + " dp=" + std::to_string(layout.dp));
  MOE_CHECK(layout.worldSize() == proc_.size(),
            op + ": the layout needs tp * dp = " +
                std::to_string(layout.worldSize()) + " ranks (tp " +
                std::to_string(layout.tp) + ", dp " +
                std::to_string(layout.dp) + ") but the MPI world has " +
                std::to_string(proc_.size()) +
                (proc_.size() == 1 ? " process" : " processes"));
  if (proc_.failed())
    throw Error(op + ": " + proc_.failure());
  // Every process must run the same layout: send it to everyone.
  std::vector<int> all;
  for (int p = 0; p < proc_.size(); ++p)
    all.push_back(p);
  std::vector<std::vector<int64_t>> layouts = proc_.swap(
      proc_.control(), all, static_cast<size_t>(proc_.rank()), mpi::kLayoutTag,
      {layout.tp, layout.dp, layout.expertParallel, layout.sequenceParallel,
       layout.pcp},
      op, timeout_, [&](const std::vector<size_t> &missing) {
        std::string ranks;
        for (size_t p : missing)
          ranks += (ranks.empty() ? "" : ", ") + std::to_string(p);
        return "timed out after " + coll::seconds(timeout_) +
               " s creating the MPI world, waiting for rank" +
               (missing.size() > 1 ? "s " : " ") + ranks;
      });
  for (size_t p = 0; p < layouts.size(); ++p)
    MOE_CHECK(layouts[p].size() == 5 && layouts[p] == layouts[0],
              op + ": rank 0 runs the layout " + describe(layouts[0]) +
                  ", rank " + std::to_string(p) + " runs " +
                  describe(layouts[p]));
}

Comm &MpiWorld::comm(int rank, Group group, int channel) {
  MOE_CHECK(channel >= 0,
            "comm: channel " + std::to_string(channel) + " is negative");
  std::vector<int> members = layout_.members(group, rank); // checks rank
  MOE_CHECK(rank == proc_.rank(), "comm: rank " + std::to_string(rank) +
                                      " is not driven by this process (MPI "
                                      "rank " +
                                      std::to_string(proc_.rank()) + ")");
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<MpiComm> &slot = comms_[{static_cast<int>(group), channel}];
  if (!slot) {
    GroupView g;
    g.group = group;
    g.channel = channel;
    g.rank = static_cast<int>(std::find(members.begin(), members.end(), rank) -
                              members.begin());
    g.members = std::move(members);
    slot = std::make_unique<MpiComm>(*this, std::move(g));
  }
  return *slot;
}

//===----------------------------------------------------------------------===//
// Communicators and the collective skeleton
//===----------------------------------------------------------------------===//

double MpiComm::timeout() const { return world_.timeoutSeconds(); }

MpiComm::~MpiComm() {
  // After a failure requests may still use the communicator: keep it.
  int finalized = 1;
  if (comm_ != MPI_COMM_NULL && MPI_Finalized(&finalized) == MPI_SUCCESS &&
      !finalized && !world_.proc().failed())
    MPI_Comm_free(&comm_);
}

void MpiComm::create(const std::string &op) {
  Process &proc = world_.proc();
  // A tag unique to (group, channel): reserved tags below 4.
  const int64_t tag = (static_cast<int64_t>(g_.channel) + 1) * 4 +
                      static_cast<int64_t>(g_.group);
  MOE_CHECK(tag <= proc.tagUpperBound(),
            op + ": channel " + std::to_string(g_.channel) +
                " is too large for the MPI library's tags (at most " +
                std::to_string(proc.tagUpperBound() / 4 - 2) + ")");
  // 1. Every member announces itself to every other, polled.
  proc.swap(proc.control(), g_.members, static_cast<size_t>(g_.rank),
            static_cast<int>(tag), {0}, op, timeout(),
            [&](const std::vector<size_t> &missing) {
              return coll::timeoutReason(timeout(), op, g_, current_,
                                         membersAt(missing));
            });
  // 2. Everyone is here: the blocking creation cannot wait for long.
  MPI_Group all, members;
  checkMpi(MPI_Comm_group(proc.create(), &all), op + ": MPI_Comm_group");
  checkMpi(MPI_Group_incl(all, static_cast<int>(g_.size()), g_.members.data(),
                          &members),
           op + ": MPI_Group_incl");
  MPI_Comm comm = MPI_COMM_NULL;
  proc.guarded("MPI_Comm_create_group for " + g_.where(), timeout(), [&] {
    checkMpi(MPI_Comm_create_group(proc.create(), members,
                                   static_cast<int>(tag), &comm),
             op + ": MPI_Comm_create_group");
  });
  MPI_Group_free(&members);
  MPI_Group_free(&all);
  checkMpi(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN),
           op + ": MPI_Comm_set_errhandler");
  comm_ = comm;
}

template <typename Run>
void MpiComm::collective(const Contribution &mine, Run &&run) {
  const std::string op = coll::collectiveName(mine.op);
  Process &proc = world_.proc();
  if (busy_.exchange(true, std::memory_order_acq_rel))
    throw Error(op + ": rank " + std::to_string(g_.members[g_.rank]) +
                " uses its communicator of " + g_.where() +
                " from two threads at once");
  struct Release {
    std::atomic<bool> &flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{busy_};
  if (proc.failed())
    throw Error(op + ": " + proc.failure());
  current_ = seq_++;
  const size_t n = g_.size(), me = static_cast<size_t>(g_.rank);
  if (n == 1) {
    coll::checkSameOp(Inputs{&mine}, g_, current_, op);
    run(Inputs{&mine});
    return;
  }
  if (comm_ == MPI_COMM_NULL)
    create(op);

  // Descriptions to and from every member.
  std::vector<int> ranks; // in comm_
  for (size_t p = 0; p < n; ++p)
    ranks.push_back(static_cast<int>(p));
  std::vector<std::vector<int64_t>> words =
      proc.swap(comm_, ranks, me, kDescriptionTag, Description::encode(mine),
                op, timeout(), [&](const std::vector<size_t> &missing) {
                  return coll::timeoutReason(timeout(), op, g_, current_,
                                             membersAt(missing));
                });
  metas_.assign(n, Description());
  for (size_t p = 0; p < n; ++p)
    if (p != me)
      metas_[p].decode(words[p], g_.rankOf(p));
  Inputs in(n);
  for (size_t p = 0; p < n; ++p)
    in[p] = p == me ? &mine : &metas_[p].c;
  coll::checkSameOp(in, g_, current_, op);
  run(in);
}

void MpiComm::move(const std::string &op, std::shared_ptr<Buffers> keep,
                   const std::function<int(MPI_Request *)> &post) {
  MPI_Request req = MPI_REQUEST_NULL;
  checkMpi(post(&req), op + ": posting the data movement");
  try {
    world_.proc().wait(
        [&] {
          int flag = 0;
          checkMpi(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), op + ": MPI_Test");
          return flag != 0;
        },
        op, timeout(),
        [&] {
          return "timed out after " + coll::seconds(timeout()) + " s in " + op +
                 " on " + g_.where() + " (call #" + std::to_string(current_) +
                 ") moving the data: a rank stopped in the middle";
        });
  } catch (...) {
    world_.proc().park({req}, std::move(keep));
    throw;
  }
}

/// A contiguous type of `bytes` bytes (e.g. one row), freed with `keep`.
MPI_Datatype rowType(Buffers &keep, size_t bytes, const std::string &op) {
  checkMpi(MPI_Type_contiguous(
               count(static_cast<int64_t>(bytes), op, "a row of bytes"),
               MPI_BYTE, &keep.type),
           op + ": MPI_Type_contiguous");
  checkMpi(MPI_Type_commit(&keep.type), op + ": MPI_Type_commit");
  return keep.type;
}

/// Tensors of `shape` viewing consecutive blocks of `bytes`.
std::vector<const Tensor *> views(Buffers &keep, size_t members, DType dtype,
                                  const std::vector<int64_t> &shape,
                                  size_t blockBytes) {
  auto all = std::shared_ptr<uint8_t>(keep.tensors[1].storage);
  std::vector<const Tensor *> out;
  keep.tensors.reserve(2 + members);
  for (size_t p = 0; p < members; ++p) {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.storage = std::shared_ptr<uint8_t>(all, all.get() + p * blockBytes);
    keep.tensors.push_back(t);
  }
  for (size_t p = 0; p < members; ++p)
    out.push_back(&keep.tensors[2 + p]);
  return out;
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

Tensor MpiComm::allGather(const Tensor &x) {
  Contribution mine;
  mine.op = coll::Collective::AllGather;
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    coll::RowPlan plan = coll::checkAllGather(in, g_);
    out = Tensor::empty(x.dtype, plan.shape);
    if (in.size() == 1 || out.nbytes() == 0) {
      if (out.nbytes())
        std::memcpy(out.bytes(), x.bytes(), out.nbytes());
      return;
    }
    auto keep = std::make_shared<Buffers>();
    keep->tensors = {x, out};
    std::vector<int64_t> rows;
    for (const Contribution *c : in)
      rows.push_back(c->tensor->rows());
    keep->ints.resize(2);
    countsAndDispls(rows, coll::collectiveName(mine.op), keep->ints[0],
                    keep->ints[1]);
    MPI_Datatype row =
        rowType(*keep, plan.rowBytes, coll::collectiveName(mine.op));
    move(coll::collectiveName(mine.op), keep, [&](MPI_Request *r) {
      return MPI_Iallgatherv(
          x.bytes(), count(x.rows(), coll::collectiveName(mine.op), "rows"),
          row, out.bytes(), keep->ints[0].data(), keep->ints[1].data(), row,
          comm_, r);
    });
  });
  return out;
}

Tensor MpiComm::reduceScatter(const Tensor &x) {
  Contribution mine;
  mine.op = coll::Collective::ReduceScatter;
  mine.tensor = &x;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    out = Tensor::empty(x.dtype, coll::checkReduceScatter(in, g_));
    const int64_t chunk = out.numel();
    if (in.size() == 1) {
      coll::reduceElements({&x}, 0, chunk, ReduceKind::Sum, out);
      return;
    }
    // Member i receives chunk i of every member, then adds them in order.
    auto keep = std::make_shared<Buffers>();
    const size_t bytes = storageBytes(x.dtype, chunk);
    keep->tensors = {
        x, Tensor::empty(DType::I8, {static_cast<int64_t>(bytes * in.size())})};
    std::vector<const Tensor *> parts =
        views(*keep, in.size(), x.dtype, out.shape, bytes);
    if (bytes) {
      MPI_Datatype block = rowType(*keep, bytes, coll::collectiveName(mine.op));
      move(coll::collectiveName(mine.op), keep, [&](MPI_Request *r) {
        return MPI_Ialltoall(x.bytes(), 1, block, keep->tensors[1].bytes(), 1,
                             block, comm_, r);
      });
    }
    coll::reduceElements(parts, 0, chunk, ReduceKind::Sum, out);
  });
  return out;
}

Tensor MpiComm::allReduce(const Tensor &x, ReduceKind kind) {
  Contribution mine;
  mine.op = coll::Collective::AllReduce;
  mine.tensor = &x;
  mine.kind = kind;
  Tensor out;
  collective(mine, [&](const Inputs &in) {
    coll::checkAllReduce(in, g_, kind);
    out = Tensor::empty(x.dtype, x.shape);
    if (in.size() == 1) {
      coll::reduceElements({&x}, 0, x.numel(), kind, out);
      return;
    }
    // Every member gathers every contribution, then reduces in order.
    auto keep = std::make_shared<Buffers>();
    const size_t bytes = x.nbytes();
    keep->tensors = {
        x, Tensor::empty(DType::I8, {static_cast<int64_t>(bytes * in.size())})};
    std::vector<const Tensor *> parts =
        views(*keep, in.size(), x.dtype, x.shape, bytes);
    if (bytes) {
      MPI_Datatype whole = rowType(*keep, bytes, coll::collectiveName(mine.op));
      move(coll::collectiveName(mine.op), keep, [&](MPI_Request *r) {
        return MPI_Iallgather(x.bytes(), 1, whole, keep->tensors[1].bytes(), 1,
                              whole, comm_, r);
      });
    }
    coll::reduceElements(parts, 0, x.numel(), kind, out);
  });
  return out;
}

Tensor MpiComm::allToAllV(const Tensor &x, const std::vector<int64_t> &send,
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
    if (in.size() == 1 || plan.rowBytes == 0) {
      if (out.nbytes())
        std::memcpy(out.bytes(), x.bytes(), out.nbytes());
      return;
    }
    auto keep = std::make_shared<Buffers>();
    keep->tensors = {x, out};
    keep->ints.resize(4);
    countsAndDispls(send, coll::collectiveName(mine.op), keep->ints[0],
                    keep->ints[1]);
    countsAndDispls(recv, coll::collectiveName(mine.op), keep->ints[2],
                    keep->ints[3]);
    MPI_Datatype row =
        rowType(*keep, plan.rowBytes, coll::collectiveName(mine.op));
    move(coll::collectiveName(mine.op), keep, [&](MPI_Request *r) {
      return MPI_Ialltoallv(x.bytes(), keep->ints[0].data(),
                            keep->ints[1].data(), row, out.bytes(),
                            keep->ints[2].data(), keep->ints[3].data(), row,
                            comm_, r);
    });
  });
  return out;
}

int64_t MpiComm::allReduceScalar(int64_t value, ReduceKind kind) {
  Contribution mine;
  mine.op = coll::Collective::AllReduceScalar;
  mine.scalar = value;
  mine.kind = kind;
  int64_t out = 0;
  collective(mine, [&](const Inputs &in) {
    coll::checkAllReduceScalar(in, g_, kind);
    out = coll::reduceScalars(in, kind); // the values came with the checks
  });
  return out;
}

std::vector<std::vector<uint8_t>>
MpiComm::exchange(const std::vector<std::vector<uint8_t>> &toEach) {
  Contribution mine;
  mine.op = coll::Collective::Exchange;
  mine.blobs = &toEach;
  std::vector<std::vector<uint8_t>> out;
  collective(mine, [&](const Inputs &in) {
    coll::checkExchange(in, g_);
    const size_t n = in.size(), me = static_cast<size_t>(g_.rank);
    out.resize(n);
    if (n == 1) {
      out[0] = toEach[0];
      return;
    }
    // Sizes came with the checks; one all-to-all-v moves the bytes.
    std::vector<int64_t> sendBytes, recvBytes;
    for (size_t p = 0; p < n; ++p) {
      sendBytes.push_back(static_cast<int64_t>(toEach[p].size()));
      recvBytes.push_back(p == me ? sendBytes[me] : metas_[p].blobSizes[me]);
    }
    auto keep = std::make_shared<Buffers>();
    keep->ints.resize(4);
    countsAndDispls(sendBytes, coll::collectiveName(mine.op), keep->ints[0],
                    keep->ints[1]);
    countsAndDispls(recvBytes, coll::collectiveName(mine.op), keep->ints[2],
                    keep->ints[3]);
    for (const std::vector<uint8_t> &b : toEach)
      keep->bytes.insert(keep->bytes.end(), b.begin(), b.end());
    int64_t total = 0;
    for (int64_t b : recvBytes)
      total += b;
    keep->tensors = {Tensor::empty(DType::I8, {total})};
    move(coll::collectiveName(mine.op), keep, [&](MPI_Request *r) {
      return MPI_Ialltoallv(keep->bytes.data(), keep->ints[0].data(),
                            keep->ints[1].data(), MPI_BYTE,
                            keep->tensors[0].bytes(), keep->ints[2].data(),
                            keep->ints[3].data(), MPI_BYTE, comm_, r);
    });
    const uint8_t *at = keep->tensors[0].bytes();
    for (size_t p = 0; p < n; ++p) {
      out[p].assign(at, at + recvBytes[p]);
      at += recvBytes[p];
    }
  });
  return out;
}

} // namespace

std::unique_ptr<World> createMpiWorld(const Layout &layout,
                                      double timeoutSeconds) {
  return std::make_unique<MpiWorld>(layout, timeoutSeconds);
}

} // namespace moert
