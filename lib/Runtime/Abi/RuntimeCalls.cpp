//===- RuntimeCalls.cpp - the C ABI compiled MoE layers call --------------===//
//
// Unpacks each call (include/moe/Runtime/RuntimeCalls.h), issues a task on
// the rank's stream and runs the op's kernel there. Exceptions never leave
// this file: they fail the rank with a message naming the rank and the op.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/RuntimeCalls.h"

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Mc2.h"
#include "moe/Runtime/Streams.h"

#include <cstring>

using namespace moert;

namespace {

using Inputs = std::vector<const Tensor *>;
using Compute =
    std::function<std::vector<Tensor>(Stream &, const Inputs &, const int64_t *)>;

/// Fails the calling rank with `what` (and where it happened).
void failCurrent(const char *where, const std::string &what) {
  if (RankRuntime *rank = RankRuntime::current())
    rank->fail("rank " + std::to_string(rank->rank()) + ": " + what + " (" +
               where + ")");
}

/// Issues a device op with `numIns` handles and `numScalars` scalars
/// (checked against what the op takes) on `stream` of the current rank.
void issue(const char *where, int64_t stream, void **ins, int64_t numIns,
           int64_t wantIns, const int64_t *scalars, int64_t numScalars,
           int64_t wantScalars, void **outs, int64_t numOuts, int64_t minOuts,
           int64_t maxOuts, Compute compute, bool computes = false) {
  for (int64_t i = 0; i < numOuts; ++i)
    outs[i] = nullptr;
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return;
  if (numIns != wantIns || numScalars != wantScalars || numOuts < minOuts ||
      numOuts > maxOuts || stream < 0) {
    failCurrent(where, "the compiled call does not match the runtime's ABI (" +
                           std::to_string(numIns) + " tensors, " +
                           std::to_string(numScalars) + " scalars, " +
                           std::to_string(numOuts) + " results)");
    return;
  }
  std::vector<int64_t> scalarCopy(scalars, scalars + numScalars);
  Task task;
  task.op = where;
  task.computesValues = computes;
  for (int64_t i = 0; i < numIns; ++i)
    task.inputs.push_back(static_cast<Handle *>(ins[i]));
  Stream &s = rank->stream(static_cast<int>(stream));
  uint64_t seq = s.nextSeq();
  for (int64_t i = 0; i < numOuts; ++i) {
    Handle *h = Handle::pending(static_cast<int>(stream), seq);
    outs[i] = h;
    task.outputs.push_back(h);
  }
  std::vector<Handle *> inputs = task.inputs, outputs = task.outputs;
  task.run = [compute, inputs, outputs, scalarCopy](Stream &st) {
    Inputs values;
    for (Handle *h : inputs)
      values.push_back(h ? &h->wait() : nullptr);
    std::vector<Tensor> results = compute(st, values, scalarCopy.data());
    for (size_t i = 0; i < outputs.size(); ++i) {
      check(i < results.size() && results[i].storage != nullptr,
            "the op produced no value for result " + std::to_string(i));
      outputs[i]->fulfil(std::move(results[i]));
    }
    for (size_t i = outputs.size(); i < results.size(); ++i)
      check(results[i].storage == nullptr,
            "the op produced a result the compiled code does not expect");
  };
  s.enqueue(std::move(task));
}

/// `issue` for ops whose float results are computed from their operands
/// (arithmetic, quantization, reductions), not only moved: a NaN or an
/// infinity appearing in one of them fails the rank when the rank checks
/// finiteness (docs/Reliability.md). Ops that only move values (gathers,
/// permutations, padding) are not checked: -inf logits travel through them
/// legitimately.
template <typename... Args> void issueComputing(Args &&...args) {
  issue(std::forward<Args>(args)..., /*computes=*/true);
}

const Tensor &need(const Inputs &in, size_t i) {
  check(in[i] != nullptr, "a required operand is missing");
  return *in[i];
}

float asFloat(int64_t bits) {
  uint32_t b = static_cast<uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

/// Members of `group` for collectives of the task's stream.
Comm &comm(Stream &s, int64_t group) {
  return s.comm(static_cast<Group>(group));
}

} // namespace

#define DEVICE_OP(name)                                                        \
  extern "C" void moert_npu_##name(                                            \
      const char *where, int64_t stream, void **ins, int64_t numIns,           \
      const int64_t *scalars, int64_t numScalars, void **outs, int64_t numOuts)

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

DEVICE_OP(moe_gating_top_k) {
  issueComputing(where, stream, ins, numIns, 2, scalars, numScalars, 6, outs,
                 numOuts, 2, 2,
                 [](Stream &, const Inputs &in, const int64_t *s) {
                   GatingParams p;
                   p.k = s[0];
                   p.scoring = static_cast<Scoring>(s[1]);
                   p.renormalize = s[2] != 0;
                   p.groupCount = s[3];
                   p.kGroup = s[4];
                   p.routedScalingFactor = asFloat(s[5]);
                   auto [w, ids] = gatingTopK(need(in, 0), in[1], p);
                   return std::vector<Tensor>{w, ids};
                 });
}

DEVICE_OP(map_expert_ids) {
  issue(where, stream, ins, numIns, 2, scalars, numScalars, 0, outs, numOuts,
        1, 1, [](Stream &, const Inputs &in, const int64_t *) {
          return std::vector<Tensor>{mapExpertIds(need(in, 0), need(in, 1))};
        });
}

DEVICE_OP(mask_weights) {
  issueComputing(where, stream, ins, numIns, 3, scalars, numScalars, 0, outs,
                 numOuts, 1, 1,
                 [](Stream &, const Inputs &in, const int64_t *) {
                   return std::vector<Tensor>{
                       maskWeights(need(in, 0), need(in, 1), need(in, 2))};
                 });
}

DEVICE_OP(moe_init_routing) {
  issueComputing(
      where, stream, ins, numIns, 3, scalars, numScalars, 5, outs, numOuts, 3,
      4, [](Stream &, const Inputs &in, const int64_t *s) {
        InitRoutingResult r =
            initRouting(need(in, 0), need(in, 1), in[2], s[0], s[1], s[2], s[3],
                        static_cast<GroupListType>(s[4]));
        return std::vector<Tensor>{r.expandedX, r.expandedRowIdx,
                                   r.expertTokens, r.expandedScale};
      });
}

DEVICE_OP(moe_token_permute) {
  issue(where, stream, ins, numIns, 2, scalars, numScalars, 0, outs, numOuts,
        2, 2, [](Stream &, const Inputs &in, const int64_t *) {
          auto [permuted, sorted] = tokenPermute(need(in, 0), need(in, 1));
          return std::vector<Tensor>{permuted, sorted};
        });
}

DEVICE_OP(moe_token_unpermute) {
  issueComputing(where, stream, ins, numIns, 3, scalars, numScalars, 0, outs,
                 numOuts, 1, 1,
                 [](Stream &, const Inputs &in, const int64_t *) {
                   return std::vector<Tensor>{
                       tokenUnpermute(need(in, 0), need(in, 1), in[2])};
                 });
}

DEVICE_OP(histogram) {
  issue(where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &, const Inputs &in, const int64_t *s) {
          return std::vector<Tensor>{histogram(need(in, 0), s[0])};
        });
}

DEVICE_OP(alltoall_splits) {
  issue(where, stream, ins, numIns, 2, scalars, numScalars, 2, outs, numOuts,
        4, 4, [](Stream &st, const Inputs &in, const int64_t *s) {
          Comm &c = comm(st, s[1]);
          AllToAllSplits r = alltoallSplits(need(in, 0), need(in, 1), s[0],
                                            c.rank(), c.size());
          return std::vector<Tensor>{r.inputSplits, r.outputSplits,
                                     r.tokensPerExpert, r.recvExpertIds};
        });
}

//===----------------------------------------------------------------------===//
// MC2
//===----------------------------------------------------------------------===//

DEVICE_OP(moe_distribute_dispatch) {
  issueComputing(
      where, stream, ins, numIns, 3, scalars, numScalars, 5, outs, numOuts, 4,
      5, [](Stream &st, const Inputs &in, const int64_t *s) {
        DistributeDispatchResult r = distributeDispatch(
            st.comm(Group::EP), need(in, 0), need(in, 1), in[2], s[0], s[1],
            s[2], s[3], static_cast<GroupListType>(s[4]));
        return std::vector<Tensor>{r.expandX, r.expandIdx, r.expertTokenNums,
                                   r.epRecvCounts, r.dynamicScales};
      });
}

DEVICE_OP(moe_distribute_combine) {
  issueComputing(
      where, stream, ins, numIns, 7, scalars, numScalars, 2, outs, numOuts, 1,
      1, [](Stream &st, const Inputs &in, const int64_t *s) {
        return std::vector<Tensor>{distributeCombine(
            st.comm(Group::EP), need(in, 0), need(in, 1), need(in, 2),
            need(in, 3), need(in, 4), in[5], in[6], s[0], s[1])};
      });
}

DEVICE_OP(dispatch_ffn_combine) {
  issueComputing(
      where, stream, ins, numIns, 8, scalars, numScalars, 4, outs, numOuts, 1,
      1, [](Stream &st, const Inputs &in, const int64_t *s) {
        return std::vector<Tensor>{dispatchFfnCombine(
            st.comm(Group::EP), need(in, 0), need(in, 1), need(in, 2), in[3],
            need(in, 4), need(in, 5), in[6], in[7],
            static_cast<MatmulQuant>(s[0]), s[1], s[2], s[3])};
      });
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

DEVICE_OP(dynamic_quant) {
  issueComputing(where, stream, ins, numIns, 1, scalars, numScalars, 0, outs,
                 numOuts, 2, 2,
                 [](Stream &, const Inputs &in, const int64_t *) {
                   auto [q, scale] = dynamicQuant(need(in, 0));
                   return std::vector<Tensor>{q, scale};
                 });
}

DEVICE_OP(grouped_matmul) {
  issueComputing(
      where, stream, ins, numIns, 6, scalars, numScalars, 3, outs, numOuts, 1,
      1, [](Stream &, const Inputs &in, const int64_t *s) {
        MatmulScales scales{in[3], in[4], in[5]};
        return std::vector<Tensor>{groupedMatmul(
            need(in, 0), need(in, 1), need(in, 2), scales,
            static_cast<MatmulQuant>(s[0]), static_cast<GroupListType>(s[1]),
            static_cast<DType>(s[2]))};
      });
}

DEVICE_OP(matmul) {
  issueComputing(
      where, stream, ins, numIns, 5, scalars, numScalars, 2, outs, numOuts, 1,
      1, [](Stream &, const Inputs &in, const int64_t *s) {
        MatmulScales scales{in[2], in[3], in[4]};
        return std::vector<Tensor>{matmul(need(in, 0), need(in, 1), scales,
                                          static_cast<MatmulQuant>(s[0]),
                                          static_cast<DType>(s[1]))};
      });
}

DEVICE_OP(swiglu) {
  issueComputing(where, stream, ins, numIns, 1, scalars, numScalars, 0, outs,
                 numOuts, 1, 1,
                 [](Stream &, const Inputs &in, const int64_t *) {
                   return std::vector<Tensor>{swiglu(need(in, 0))};
                 });
}

DEVICE_OP(dequant_swiglu_quant) {
  issueComputing(
      where, stream, ins, numIns, 4, scalars, numScalars, 1, outs, numOuts, 2,
      2, [](Stream &, const Inputs &in, const int64_t *s) {
        auto [q, scale] =
            dequantSwigluQuant(need(in, 0), need(in, 1), need(in, 2),
                               need(in, 3), static_cast<GroupListType>(s[0]));
        return std::vector<Tensor>{q, scale};
      });
}

DEVICE_OP(add) {
  issueComputing(where, stream, ins, numIns, 2, scalars, numScalars, 0, outs,
                 numOuts, 1, 1,
                 [](Stream &, const Inputs &in, const int64_t *) {
                   return std::vector<Tensor>{add(need(in, 0), need(in, 1))};
                 });
}

//===----------------------------------------------------------------------===//
// Collectives and rows
//===----------------------------------------------------------------------===//

DEVICE_OP(all_gather) {
  issue(where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &st, const Inputs &in, const int64_t *s) {
          return std::vector<Tensor>{comm(st, s[0]).allGather(need(in, 0))};
        });
}

DEVICE_OP(reduce_scatter) {
  issueComputing(
      where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts, 1,
      1, [](Stream &st, const Inputs &in, const int64_t *s) {
        return std::vector<Tensor>{comm(st, s[0]).reduceScatter(need(in, 0))};
      });
}

DEVICE_OP(all_reduce) {
  issueComputing(where, stream, ins, numIns, 1, scalars, numScalars, 2, outs,
                 numOuts, 1, 1,
                 [](Stream &st, const Inputs &in, const int64_t *s) {
                   return std::vector<Tensor>{comm(st, s[1]).allReduce(
                       need(in, 0), static_cast<ReduceKind>(s[0]))};
                 });
}

DEVICE_OP(all_to_all_v) {
  issue(where, stream, ins, numIns, 3, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &st, const Inputs &in, const int64_t *s) {
          auto splits = [](const Tensor &t) {
            check(t.dtype == DType::I64 && t.rank() == 1,
                  "npu.all_to_all_v: splits must be 1-D i64, got " + t.str());
            return std::vector<int64_t>(t.data<int64_t>(),
                                        t.data<int64_t>() + t.numel());
          };
          return std::vector<Tensor>{comm(st, s[0]).allToAllV(
              need(in, 0), splits(need(in, 1)), splits(need(in, 2)))};
        });
}

DEVICE_OP(pad_rows) {
  issue(where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &, const Inputs &in, const int64_t *s) {
          return std::vector<Tensor>{padRows(need(in, 0), s[0])};
        });
}

DEVICE_OP(slice_rows) {
  issue(where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &, const Inputs &in, const int64_t *s) {
          return std::vector<Tensor>{sliceRows(need(in, 0), s[0])};
        });
}

DEVICE_OP(tensor_split) {
  issue(where, stream, ins, numIns, 1, scalars, numScalars, 1, outs, numOuts,
        1, 1, [](Stream &st, const Inputs &in, const int64_t *s) {
          Comm &c = comm(st, s[0]);
          // The ranks of a group split the same rows; different row counts
          // mean their inputs disagree (e.g. tp ranks given different tokens
          // without sequence parallelism), which would be a silent error.
          int64_t rows = need(in, 0).rows();
          int64_t most = c.allReduceScalar(rows, ReduceKind::Max);
          int64_t least = -c.allReduceScalar(-rows, ReduceKind::Max);
          check(most == least,
                "npu.tensor_split: the ranks of the " +
                    std::string(groupName(static_cast<Group>(s[0]))) +
                    " group split different row counts (" +
                    std::to_string(least) + " to " + std::to_string(most) +
                    "); they must hold the same tokens");
          return std::vector<Tensor>{tensorSplit(need(in, 0), c.size(),
                                                 c.rank())};
        });
}

DEVICE_OP(mc2_mask) {
  issue(where, stream, ins, numIns, 0, scalars, numScalars, 2, outs, numOuts,
        1, 1, [](Stream &, const Inputs &, const int64_t *s) {
          return std::vector<Tensor>{mc2Mask(s[0], s[1])};
        });
}

//===----------------------------------------------------------------------===//
// Host-side calls
//===----------------------------------------------------------------------===//

extern "C" int64_t moert_all_reduce_scalar(const char *where, int64_t value,
                                           int64_t kind, int64_t group) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return 0;
  try {
    return rank->hostComm(static_cast<Group>(group))
        .allReduceScalar(value, static_cast<ReduceKind>(kind));
  } catch (const std::exception &e) {
    failCurrent(where, e.what());
    return 0;
  }
}

extern "C" int64_t moert_group_rank(const char *where, int64_t group) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return 0;
  try {
    return rank->hostComm(static_cast<Group>(group)).rank();
  } catch (const std::exception &e) {
    failCurrent(where, e.what());
    return 0;
  }
}

extern "C" void moert_expect_uniform(const char *where, int64_t value,
                                     int64_t group, const char *what) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return;
  try {
    Comm &c = rank->hostComm(static_cast<Group>(group));
    int64_t most = c.allReduceScalar(value, ReduceKind::Max);
    int64_t least = -c.allReduceScalar(-value, ReduceKind::Max);
    check(most == least,
          std::string("npu.expect_uniform: ") + what + ", but the ranks of the " +
              groupName(static_cast<Group>(group)) + " group hold " +
              std::to_string(least) + " to " + std::to_string(most) +
              " (this rank: " + std::to_string(value) + ")");
  } catch (const std::exception &e) {
    failCurrent(where, e.what());
  }
}

extern "C" int64_t moert_dim(const char *where, void *tensor, int64_t dim) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed() || !tensor)
    return 0;
  try {
    const Tensor &t = static_cast<Handle *>(tensor)->wait();
    check(dim >= 0 && dim < t.rank(),
          "tensor.dim: no dimension " + std::to_string(dim) + " in " + t.str());
    return t.dim(dim);
  } catch (const std::exception &e) {
    failCurrent(where, e.what());
    return 0;
  }
}

extern "C" void *moert_record(const char *where, int64_t stream) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank)
    return nullptr;
  auto *event = new Event();
  if (rank->failed()) {
    event->record({}); // nothing waits for a failed rank's work
    return event;
  }
  event->retain(); // the task's reference
  Task task;
  task.op = where;
  task.control = true;
  task.run = [event](Stream &s) {
    event->record(s.clock());
    event->release();
  };
  rank->stream(static_cast<int>(stream)).enqueue(std::move(task));
  return event;
}

extern "C" void moert_wait(const char *where, void *event, int64_t stream) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed() || !event)
    return;
  auto *e = static_cast<Event *>(event);
  e->retain();
  Task task;
  task.op = where;
  task.control = true;
  RankRuntime *r = rank;
  task.run = [e, r](Stream &s) {
    struct Release {
      Event *e;
      ~Release() { e->release(); }
    } release{e};
    for (auto [stream, pos] : e->wait(*r)) {
      uint64_t &mine = s.clock()[stream];
      if (pos > mine)
        mine = pos;
    }
  };
  rank->stream(static_cast<int>(stream)).enqueue(std::move(task));
}

extern "C" void moert_retain_event(void *event) {
  if (event)
    static_cast<Event *>(event)->retain();
}

extern "C" void moert_release_event(void *event) {
  if (event)
    static_cast<Event *>(event)->release();
}

extern "C" void moert_retain(void *tensor) {
  if (tensor)
    static_cast<Handle *>(tensor)->retain();
}

extern "C" void moert_release(void *tensor) {
  if (tensor)
    static_cast<Handle *>(tensor)->release();
}

extern "C" void *moert_constant(int64_t dtype, int64_t rank,
                                const int64_t *shape, const void *data,
                                int64_t bytes) {
  try {
    Tensor t = Tensor::empty(static_cast<DType>(dtype),
                             std::vector<int64_t>(shape, shape + rank));
    check(static_cast<int64_t>(t.nbytes()) == bytes,
          "constant " + t.str() + " needs " + std::to_string(t.nbytes()) +
              " bytes, got " + std::to_string(bytes));
    std::memcpy(t.bytes(), data, t.nbytes());
    return Handle::ready(std::move(t));
  } catch (const std::exception &e) {
    failCurrent("constant", e.what());
    return nullptr;
  }
}
