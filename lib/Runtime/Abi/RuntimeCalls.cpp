//===- RuntimeCalls.cpp - the C ABI compiled MoE layers call --------------===//
//
// Defines the calls of moe/Runtime/RuntimeAbi.h (generated from the npu
// ODS) and RuntimeCalls.h: each device op issues a task on the rank's
// stream that runs the op's kernel there. Every definition is `extern "C"`
// with the generated declaration in scope, so one whose parameters differ
// from the ODS fails to compile (C functions cannot overload), and
// kEntryPoints takes the address of every generated call, so a missing one
// fails to link. Exceptions never leave this file: they fail the rank with a
// message naming the rank and the op.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/RuntimeCalls.h"

#include "moe/Runtime/Eplb.h"
#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Mc2.h"
#include "moe/Runtime/Streams.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <iterator>

using namespace moert;

namespace {

using Inputs = std::vector<const Tensor *>;
using Compute = std::function<std::vector<Tensor>(Stream &, const Inputs &)>;

/// Fails the calling rank with `what` (and where it happened).
void failCurrent(const char *where, const std::string &what) {
  if (RankRuntime *rank = RankRuntime::current())
    rank->fail("rank " + std::to_string(rank->rank()) + ": " + what + " (" +
               where + ")");
}

Handle *handleOf(moert_tensor *t) { return reinterpret_cast<Handle *>(t); }

/// Issues a device op on `stream` of the current rank: its task waits for
/// `ins` (null: an absent optional operand), runs `compute` and fulfils one
/// new handle per non-null slot of `outs` (null: a result the op does not
/// have; `compute` must then produce none).
void issue(const char *where, int64_t stream,
           std::initializer_list<moert_tensor *> ins,
           std::initializer_list<moert_tensor **> outs, Compute compute,
           bool computes = false) {
  for (moert_tensor **out : outs)
    if (out)
      *out = nullptr;
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return;
  if (stream < 0) {
    failCurrent(where, "no stream " + std::to_string(stream));
    return;
  }
  Task task;
  task.op = where;
  task.computesValues = computes;
  for (moert_tensor *in : ins)
    task.inputs.push_back(handleOf(in));
  Stream &s = rank->stream(static_cast<int>(stream));
  uint64_t seq = s.nextSeq();
  std::vector<bool> wanted;
  for (moert_tensor **out : outs) {
    wanted.push_back(out != nullptr);
    if (!out)
      continue;
    Handle *h = Handle::pending(static_cast<int>(stream), seq);
    *out = reinterpret_cast<moert_tensor *>(h);
    task.outputs.push_back(h);
  }
  std::vector<Handle *> inputs = task.inputs, outputs = task.outputs;
  task.run = [compute, inputs, outputs, wanted](Stream &st) {
    Inputs values;
    for (Handle *h : inputs)
      values.push_back(h ? &h->wait() : nullptr);
    std::vector<Tensor> results = compute(st, values);
    size_t next = 0;
    for (size_t i = 0; i < wanted.size(); ++i) {
      bool made = i < results.size() && results[i].storage != nullptr;
      if (wanted[i]) {
        MOE_CHECK(made,
                  "the op produced no value for result " + std::to_string(i));
        outputs[next++]->fulfil(std::move(results[i]));
      } else {
        MOE_CHECK(!made, "the op produced result " + std::to_string(i) +
                             ", which the compiled code does not expect");
      }
    }
  };
  s.enqueue(std::move(task));
}

/// `issue` for ops whose float results are computed from their operands
/// (arithmetic, quantization, reductions), not only moved: a NaN or an
/// infinity appearing in one of them fails the rank when the rank checks
/// finiteness (docs/Reliability.md). Ops that only move values (gathers,
/// permutations, padding) are not checked: -inf logits travel through them
/// legitimately.
void issueComputing(const char *where, int64_t stream,
                    std::initializer_list<moert_tensor *> ins,
                    std::initializer_list<moert_tensor **> outs,
                    Compute compute) {
  issue(where, stream, ins, outs, std::move(compute), /*computes=*/true);
}

/// Runs a host-side call on the current rank unless it has failed; an
/// exception fails the rank.
template <typename Run> void onHost(const char *where, Run &&run) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed())
    return;
  try {
    run(*rank);
  } catch (const std::exception &e) {
    failCurrent(where, e.what());
  }
}

const Tensor &need(const Inputs &in, size_t i) {
  MOE_CHECK(in[i] != nullptr, "a required operand is missing");
  return *in[i];
}

// The C enums of RuntimeAbi.h and the runtime's (Enums.h) expand the same
// cases, so a value converts unchanged.
Group toGroup(moert_npu_group g) { return static_cast<Group>(g); }
ReduceKind toKind(moert_npu_reduce_kind k) {
  return static_cast<ReduceKind>(k);
}
GroupListType toGroupList(moert_npu_group_list_type t) {
  return static_cast<GroupListType>(t);
}
MatmulQuant toQuant(moert_npu_matmul_quant q) {
  return static_cast<MatmulQuant>(q);
}

} // namespace

// Every definition below repeats `extern "C"`: with C linkage, one whose
// parameters differ from RuntimeAbi.h's declaration is a compile error
// instead of a C++ overload.

/// Every generated call, so that leaving one undefined fails the link.
#define MOERT_ADDRESS(fn) reinterpret_cast<void *>(&fn),
extern "C" {
extern void *const moert_npu_entry_points[];
void *const moert_npu_entry_points[] = {MOERT_NPU_CALLS(MOERT_ADDRESS)};
}
#undef MOERT_ADDRESS

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

extern "C" void moert_npu_moe_gating_top_k(
    const char *where, int64_t stream, moert_tensor *logits, moert_tensor *bias,
    int64_t k, moert_npu_scoring scoring, int32_t renormalize,
    int64_t group_count, int64_t k_group, int32_t balanced,
    float routed_scaling_factor, moert_tensor **weights, moert_tensor **ids) {
  GatingParams p;
  p.k = k;
  p.scoring = static_cast<Scoring>(scoring);
  p.renormalize = renormalize != 0;
  p.groupCount = group_count;
  p.kGroup = k_group;
  p.balanced = balanced != 0;
  p.routedScalingFactor = routed_scaling_factor;
  issueComputing(where, stream, {logits, bias}, {weights, ids},
        [p](Stream &, const Inputs &in) {
          auto [w, topIds] = gatingTopK(need(in, 0), in[1], p);
          return std::vector<Tensor>{w, topIds};
        });
}

extern "C" void moert_npu_map_expert_ids(const char *where, int64_t stream,
                                         moert_tensor *ids, moert_tensor *table,
                                         moert_tensor **result) {
  issue(where, stream, {ids, table}, {result}, [](Stream &, const Inputs &in) {
    return std::vector<Tensor>{mapExpertIds(need(in, 0), need(in, 1))};
  });
}

extern "C" void moert_npu_record_expert_load(const char *where, int64_t stream,
                                             moert_tensor *ids,
                                             moert_tensor *valid,
                                             int64_t num_experts,
                                             int32_t gathered) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank)
    return;
  World *world = &rank->world();
  int rankId = rank->rank();
  issue(where, stream, {ids, valid}, {},
        [=](Stream &st, const Inputs &in) {
          // Gathered rows are every rank's: count this EP rank's experts.
          int64_t first = 0, count = num_experts;
          if (gathered) {
            Comm &ep = st.comm(Group::EP);
            MOE_CHECK(num_experts % ep.size() == 0,
                      "npu.record_expert_load: " + std::to_string(ep.size()) +
                          " EP ranks do not divide " +
                          std::to_string(num_experts) + " experts");
            count = num_experts / ep.size();
            first = ep.rank() * count;
          }
          world->addExpertLoad(
              rankId, countExpertLoad(need(in, 0), in[1], num_experts, first,
                                      count),
              gathered != 0);
          return std::vector<Tensor>{};
        });
}

extern "C" void moert_npu_mask_weights(const char *where, int64_t stream,
                                       moert_tensor *weights, moert_tensor *ids,
                                       moert_tensor *expert_map,
                                       moert_tensor **result) {
  issueComputing(where, stream, {weights, ids, expert_map}, {result},
        [](Stream &, const Inputs &in) {
          return std::vector<Tensor>{
              maskWeights(need(in, 0), need(in, 1), need(in, 2))};
        });
}

extern "C" void moert_npu_moe_init_routing(
    const char *where, int64_t stream, moert_tensor *x,
    moert_tensor *expert_idx, moert_tensor *scale, int64_t active_start,
    int64_t local_experts, int64_t expert_num,
    moert_npu_routing_quant_mode quant_mode,
    moert_npu_group_list_type expert_tokens_num_type, moert_tensor **expanded_x,
    moert_tensor **expanded_row_idx, moert_tensor **expert_tokens,
    moert_tensor **expanded_scale) {
  GroupListType type = toGroupList(expert_tokens_num_type);
  // The kernel numbers the modes as torch_npu does: -1 none, 1 dynamic.
  int64_t torchMode =
      quant_mode == MOERT_NPU_ROUTING_QUANT_MODE_DYNAMIC ? 1 : -1;
  issueComputing(where, stream, {x, expert_idx, scale},
        {expanded_x, expanded_row_idx, expert_tokens, expanded_scale},
        [=](Stream &, const Inputs &in) {
          InitRoutingResult r =
              initRouting(need(in, 0), need(in, 1), in[2], active_start,
                          local_experts, expert_num, torchMode, type);
          return std::vector<Tensor>{r.expandedX, r.expandedRowIdx,
                                     r.expertTokens, r.expandedScale};
        });
}

extern "C" void moert_npu_moge_dispatch(
    const char *where, int64_t stream, moert_tensor *x, moert_tensor *ids,
    moert_tensor *weights, int64_t active_start, int64_t local_experts,
    int64_t k_per_rank, moert_npu_group_list_type group_list_type,
    moert_tensor **rows, moert_tensor **sorted_ids, moert_tensor **group_list,
    moert_tensor **topk_scales) {
  GroupListType type = toGroupList(group_list_type);
  issue(where, stream, {x, ids, weights},
        {rows, sorted_ids, group_list, topk_scales},
        [=](Stream &, const Inputs &in) {
          MogeDispatchResult r =
              mogeDispatch(need(in, 0), need(in, 1), need(in, 2), active_start,
                           local_experts, k_per_rank, type);
          return std::vector<Tensor>{r.rows, r.sortedIds, r.groupList,
                                     r.topkScales};
        });
}

extern "C" void moert_npu_moge_combine(const char *where, int64_t stream,
                                       moert_tensor *rows,
                                       moert_tensor *sorted_ids,
                                       int64_t k_per_rank,
                                       moert_tensor **result) {
  issueComputing(where, stream, {rows, sorted_ids}, {result},
                 [=](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{
                       mogeCombine(need(in, 0), need(in, 1), k_per_rank)};
                 });
}

extern "C" void moert_npu_moe_token_permute(const char *where, int64_t stream,
                                            moert_tensor *tokens,
                                            moert_tensor *indices,
                                            moert_tensor **permuted,
                                            moert_tensor **sorted_indices) {
  issue(where, stream, {tokens, indices}, {permuted, sorted_indices},
        [](Stream &, const Inputs &in) {
          auto [rows, sorted] = tokenPermute(need(in, 0), need(in, 1));
          return std::vector<Tensor>{rows, sorted};
        });
}

extern "C" void moert_npu_moe_token_unpermute(const char *where, int64_t stream,
                                              moert_tensor *permuted,
                                              moert_tensor *sorted_indices,
                                              moert_tensor *probs,
                                              moert_tensor **result) {
  issueComputing(where, stream, {permuted, sorted_indices, probs}, {result},
        [](Stream &, const Inputs &in) {
          return std::vector<Tensor>{
              tokenUnpermute(need(in, 0), need(in, 1), in[2])};
        });
}

extern "C" void moert_npu_histogram(const char *where, int64_t stream,
                                    moert_tensor *ids, int64_t bins,
                                    moert_tensor **result) {
  issue(where, stream, {ids}, {result}, [bins](Stream &, const Inputs &in) {
    return std::vector<Tensor>{histogram(need(in, 0), bins)};
  });
}

extern "C" void moert_npu_alltoall_splits(
    const char *where, int64_t stream, moert_tensor *local_counts,
    moert_tensor *global_counts, int64_t local_experts, moert_npu_group group,
    moert_tensor **input_splits, moert_tensor **output_splits,
    moert_tensor **tokens_per_expert, moert_tensor **recv_expert_ids) {
  Group g = toGroup(group);
  issue(where, stream, {local_counts, global_counts},
        {input_splits, output_splits, tokens_per_expert, recv_expert_ids},
        [=](Stream &st, const Inputs &in) {
          Comm &c = st.comm(g);
          AllToAllSplits r = alltoallSplits(need(in, 0), need(in, 1),
                                            local_experts, c.rank(), c.size());
          return std::vector<Tensor>{r.inputSplits, r.outputSplits,
                                     r.tokensPerExpert, r.recvExpertIds};
        });
}

//===----------------------------------------------------------------------===//
// MC2
//===----------------------------------------------------------------------===//

namespace {
/// The group arguments of an MC2 call (`tp_world_size` 0: no TP arguments).
Mc2Contract mc2Contract(int64_t epRankId, int64_t epWorldSize,
                        int64_t tpWorldSize, int64_t tpRankId,
                        int64_t expertShardType, int64_t sharedExpertRankNum,
                        int64_t moeExpertNum, int64_t globalBs) {
  Mc2Contract c;
  c.epRankId = epRankId;
  c.epWorldSize = epWorldSize;
  c.tpWorldSize = tpWorldSize;
  c.tpRankId = tpRankId;
  c.expertShardType = expertShardType;
  c.sharedExpertRankNum = sharedExpertRankNum;
  c.moeExpertNum = moeExpertNum;
  c.globalBs = globalBs;
  return c;
}
} // namespace

extern "C" void moert_npu_moe_distribute_dispatch(
    const char *where, int64_t stream, moert_tensor *x,
    moert_tensor *expert_ids, moert_tensor *scales,
    moert_tensor *x_active_mask, moert_tensor *expert_scales,
    int64_t ep_rank_id, moert_npu_group group_ep, int64_t ep_world_size,
    moert_npu_group group_tp, int64_t tp_world_size, int64_t tp_rank_id,
    int64_t expert_shard_type, int64_t shared_expert_rank_num,
    int64_t moe_expert_num, int64_t global_bs,
    moert_npu_dispatch_quant_mode quant_mode, int64_t capacity,
    moert_npu_group_list_type expert_token_nums_type, int32_t v2,
    moert_tensor **expand_x, moert_tensor **expand_idx,
    moert_tensor **assist_info_for_combine, moert_tensor **expert_token_nums,
    moert_tensor **ep_recv_counts, moert_tensor **dynamic_scales,
    moert_tensor **tp_recv_counts, moert_tensor **expand_scales) {
  (void)group_tp; // the verifier makes it group_ep; tp_world_size is 1
  GroupListType type = toGroupList(expert_token_nums_type);
  Group group = toGroup(group_ep);
  Mc2Contract contract =
      mc2Contract(ep_rank_id, ep_world_size, tp_world_size, tp_rank_id,
                  expert_shard_type, shared_expert_rank_num, moe_expert_num,
                  global_bs);
  issueComputing(where, stream, {x, expert_ids, scales, x_active_mask,
                                 expert_scales},
        {expand_x, expand_idx, assist_info_for_combine, expert_token_nums,
         ep_recv_counts, dynamic_scales, tp_recv_counts, expand_scales},
        [=](Stream &st, const Inputs &in) {
          Mc2DispatchInputs inputs;
          inputs.scales = in[2];
          inputs.mask = in[3];
          inputs.expertScales = in[4];
          DistributeDispatchResult r = distributeDispatch(
              st.comm(group), need(in, 0), need(in, 1), inputs, contract,
              static_cast<int64_t>(quant_mode), capacity, type);
          // v1 names the source pair indices expand_idx, v2
          // assist_info_for_combine.
          return std::vector<Tensor>{
              r.expandX,        v2 ? Tensor() : r.expandIdx,
              v2 ? r.expandIdx : Tensor(), r.expertTokenNums,
              r.epRecvCounts,   r.dynamicScales,
              r.tpRecvCounts,   r.expandScales};
        });
}

extern "C" void moert_npu_moe_distribute_combine(
    const char *where, int64_t stream, moert_tensor *expand_x,
    moert_tensor *expert_ids, moert_tensor *expand_idx,
    moert_tensor *assist_info_for_combine, moert_tensor *ep_send_counts,
    moert_tensor *expert_scales, moert_tensor *tp_send_counts,
    moert_tensor *x_active_mask, moert_tensor *expand_scales,
    moert_tensor *shared_expert_x, int64_t ep_rank_id,
    moert_npu_group group_ep, int64_t ep_world_size, moert_npu_group group_tp,
    int64_t tp_world_size, int64_t tp_rank_id, int64_t expert_shard_type,
    int64_t shared_expert_rank_num, int64_t moe_expert_num, int64_t global_bs,
    int32_t v2, moert_tensor **result) {
  (void)group_tp;
  Group group = toGroup(group_ep);
  Mc2Contract contract =
      mc2Contract(ep_rank_id, ep_world_size, tp_world_size, tp_rank_id,
                  expert_shard_type, shared_expert_rank_num, moe_expert_num,
                  global_bs);
  issueComputing(where, stream,
        {expand_x, expert_ids, v2 ? assist_info_for_combine : expand_idx,
         ep_send_counts, expert_scales, tp_send_counts, x_active_mask,
         expand_scales, shared_expert_x},
        {result}, [=](Stream &st, const Inputs &in) {
          Mc2CombineInputs inputs;
          inputs.tpSendCounts = in[5];
          inputs.mask = in[6];
          inputs.expandScales = in[7];
          inputs.sharedX = in[8];
          return std::vector<Tensor>{distributeCombine(
              st.comm(group), need(in, 0), need(in, 1), need(in, 2),
              need(in, 3), need(in, 4), inputs, contract)};
        });
}

extern "C" void moert_npu_dispatch_ffn_combine(
    const char *where, int64_t stream, moert_tensor *x,
    moert_tensor *expert_ids, moert_tensor *probs, moert_tensor *x_active_mask,
    moert_tensor *w13, moert_tensor *w2, moert_tensor *scale1,
    moert_tensor *scale2, moert_npu_matmul_quant quant, int64_t ep_world_size,
    int64_t moe_expert_num, int64_t capacity, moert_tensor **result) {
  MatmulQuant q = toQuant(quant);
  issueComputing(where, stream,
        {x, expert_ids, probs, x_active_mask, w13, w2, scale1, scale2},
        {result}, [=](Stream &st, const Inputs &in) {
          return std::vector<Tensor>{dispatchFfnCombine(
              st.comm(Group::EP), need(in, 0), need(in, 1), need(in, 2), in[3],
              need(in, 4), need(in, 5), in[6], in[7], q, ep_world_size,
              moe_expert_num, capacity)};
        });
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

extern "C" void moert_npu_dynamic_quant(const char *where, int64_t stream,
                                        moert_tensor *x, moert_tensor **q,
                                        moert_tensor **scale) {
  issueComputing(where, stream, {x}, {q, scale}, [](Stream &, const Inputs &in) {
    auto [quantized, scales] = dynamicQuant(need(in, 0));
    return std::vector<Tensor>{quantized, scales};
  });
}

extern "C" void moert_npu_grouped_matmul(
    const char *where, int64_t stream, moert_tensor *x, moert_tensor *weight,
    moert_tensor *group_list, moert_tensor *scale,
    moert_tensor *per_token_scale, moert_tensor *group_scale,
    moert_tensor *bias, moert_npu_matmul_quant quant,
    moert_npu_group_list_type group_list_type, moert_npu_dtype result_dtype,
    moert_tensor **result) {
  MatmulQuant q = toQuant(quant);
  GroupListType type = toGroupList(group_list_type);
  DType dtype = static_cast<DType>(result_dtype);
  issueComputing(where, stream,
        {x, weight, group_list, scale, per_token_scale, group_scale, bias},
        {result}, [=](Stream &, const Inputs &in) {
          MatmulScales scales{in[3], in[4], in[5], in[6]};
          return std::vector<Tensor>{groupedMatmul(
              need(in, 0), need(in, 1), need(in, 2), scales, q, type, dtype)};
        });
}

extern "C" void moert_npu_pack_weights(const char *where, int64_t stream,
                                       moert_tensor *weight,
                                       moert_tensor **packed) {
  RankRuntime *rank = RankRuntime::current();
  bool inPlace = rank && rank->donatesLoadInputs();
  issueComputing(where, stream, {weight}, {packed},
                 [=](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{packWeights(need(in, 0), inPlace)};
                 });
}

extern "C" void
moert_npu_w4a8_process_weights(const char *where, int64_t stream,
                               moert_tensor *weight, moert_tensor *scale,
                               moert_tensor *scale_second,
                               moert_tensor *scale_bias,
                               moert_tensor **processed_weight,
                               moert_tensor **merged_scale,
                               moert_tensor **bias) {
  issueComputing(where, stream, {weight, scale, scale_second, scale_bias},
                 {processed_weight, merged_scale, bias},
                 [](Stream &, const Inputs &in) {
                   W4A8Weights w = w4a8ProcessWeights(
                       need(in, 0), need(in, 1), need(in, 2), in[3]);
                   return std::vector<Tensor>{w.weight, w.scale, w.bias};
                 });
}

extern "C" void
moert_npu_matmul(const char *where, int64_t stream, moert_tensor *x,
                 moert_tensor *weight, moert_tensor *scale,
                 moert_tensor *per_token_scale, moert_tensor *group_scale,
                 moert_tensor *bias, moert_npu_matmul_quant quant,
                 moert_npu_dtype result_dtype, moert_tensor **result) {
  MatmulQuant q = toQuant(quant);
  DType dtype = static_cast<DType>(result_dtype);
  issueComputing(where, stream,
        {x, weight, scale, per_token_scale, group_scale, bias}, {result},
        [=](Stream &, const Inputs &in) {
          MatmulScales scales{in[2], in[3], in[4], in[5]};
          return std::vector<Tensor>{
              matmul(need(in, 0), need(in, 1), scales, q, dtype)};
        });
}

extern "C" void moert_npu_weight_quant_matmul(
    const char *where, int64_t stream, moert_tensor *x, moert_tensor *weight,
    moert_tensor *antiquant_scale, int64_t group_size, moert_tensor **result) {
  issueComputing(where, stream, {x, weight, antiquant_scale}, {result},
                 [=](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{weightQuantMatmul(
                       need(in, 0), need(in, 1), need(in, 2), group_size)};
                 });
}

extern "C" void moert_npu_quant_dequant(const char *where, int64_t stream,
                                        moert_tensor *x,
                                        moert_npu_quant_format format,
                                        int64_t group_size,
                                        moert_tensor **result) {
  QuantFormat f = static_cast<QuantFormat>(format);
  issueComputing(where, stream, {x}, {result}, [=](Stream &, const Inputs &in) {
    return std::vector<Tensor>{quantDequant(need(in, 0), f, group_size)};
  });
}

extern "C" void moert_npu_dequantize_weights(
    const char *where, int64_t stream, moert_tensor *weight,
    moert_tensor *scale, moert_npu_quant_format format, int64_t block_k,
    int64_t block_n, moert_npu_dtype result_dtype, moert_tensor **result) {
  QuantFormat f = static_cast<QuantFormat>(format);
  DType dtype = static_cast<DType>(result_dtype);
  issueComputing(where, stream, {weight, scale}, {result},
                 [=](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{dequantizeWeights(
                       need(in, 0), need(in, 1), f, block_k, block_n, dtype)};
                 });
}

extern "C" void moert_npu_dequantize_fp4_weights(
    const char *where, int64_t stream, moert_tensor *weight,
    moert_tensor *scale, moert_tensor *global_scale,
    moert_npu_quant_format format, moert_npu_dtype result_dtype,
    moert_tensor **result) {
  QuantFormat f = static_cast<QuantFormat>(format);
  DType dtype = static_cast<DType>(result_dtype);
  issueComputing(where, stream, {weight, scale, global_scale}, {result},
                 [=](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{dequantizeFp4Weights(
                       need(in, 0), need(in, 1), in[2], f, dtype)};
                 });
}

extern "C" void moert_npu_swiglu(const char *where, int64_t stream,
                                 moert_tensor *x, moert_tensor **result) {
  issueComputing(where, stream, {x}, {result}, [](Stream &, const Inputs &in) {
    return std::vector<Tensor>{swiglu(need(in, 0))};
  });
}

extern "C" void moert_npu_dequant_swiglu_quant(
    const char *where, int64_t stream, moert_tensor *x,
    moert_tensor *weight_scale, moert_tensor *activation_scale,
    moert_tensor *group_list, moert_npu_group_list_type group_list_type,
    moert_tensor **q, moert_tensor **scale) {
  GroupListType type = toGroupList(group_list_type);
  issueComputing(where, stream, {x, weight_scale, activation_scale, group_list},
        {q, scale}, [type](Stream &, const Inputs &in) {
          auto [quantized, scales] = dequantSwigluQuant(
              need(in, 0), need(in, 1), need(in, 2), need(in, 3), type);
          return std::vector<Tensor>{quantized, scales};
        });
}

extern "C" void moert_npu_scale_rows(const char *where, int64_t stream,
                                     moert_tensor *x, moert_tensor *weights,
                                     moert_tensor **result) {
  issueComputing(where, stream, {x, weights}, {result},
                 [](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{
                       scaleRows(need(in, 0), need(in, 1))};
                 });
}

extern "C" void moert_npu_sigmoid_gate(const char *where, int64_t stream,
                                       moert_tensor *x, moert_tensor *weight,
                                       moert_tensor **result) {
  issueComputing(where, stream, {x, weight}, {result},
                 [](Stream &, const Inputs &in) {
                   return std::vector<Tensor>{
                       sigmoidGate(need(in, 0), need(in, 1))};
                 });
}

extern "C" void moert_npu_ones_like(const char *where, int64_t stream,
                                    moert_tensor *like,
                                    moert_tensor **result) {
  issue(where, stream, {like}, {result}, [](Stream &, const Inputs &in) {
    return std::vector<Tensor>{onesLike(need(in, 0))};
  });
}

extern "C" void moert_npu_add(const char *where, int64_t stream,
                              moert_tensor *lhs, moert_tensor *rhs,
                              moert_tensor **result) {
  issueComputing(where, stream, {lhs, rhs}, {result}, [](Stream &, const Inputs &in) {
    return std::vector<Tensor>{add(need(in, 0), need(in, 1))};
  });
}

//===----------------------------------------------------------------------===//
// Collectives and rows
//===----------------------------------------------------------------------===//

extern "C" void moert_npu_all_gather(const char *where, int64_t stream,
                                     moert_tensor *input, moert_npu_group group,
                                     moert_tensor **result) {
  Group g = toGroup(group);
  issue(where, stream, {input}, {result}, [g](Stream &st, const Inputs &in) {
    return std::vector<Tensor>{st.comm(g).allGather(need(in, 0))};
  });
}

extern "C" void moert_npu_reduce_scatter(const char *where, int64_t stream,
                                         moert_tensor *input,
                                         moert_npu_group group,
                                         moert_tensor **result) {
  Group g = toGroup(group);
  issueComputing(where, stream, {input}, {result}, [g](Stream &st, const Inputs &in) {
    return std::vector<Tensor>{st.comm(g).reduceScatter(need(in, 0))};
  });
}

extern "C" void moert_npu_all_reduce(const char *where, int64_t stream,
                                     moert_tensor *input,
                                     moert_npu_reduce_kind kind,
                                     moert_npu_group group,
                                     moert_tensor **result) {
  Group g = toGroup(group);
  ReduceKind k = toKind(kind);
  issueComputing(where, stream, {input}, {result}, [g, k](Stream &st, const Inputs &in) {
    return std::vector<Tensor>{st.comm(g).allReduce(need(in, 0), k)};
  });
}

extern "C" void
moert_npu_all_to_all_v(const char *where, int64_t stream, moert_tensor *input,
                       moert_tensor *send_splits, moert_tensor *recv_splits,
                       moert_npu_group group, moert_tensor **result) {
  Group g = toGroup(group);
  issue(where, stream, {input, send_splits, recv_splits}, {result},
        [g](Stream &st, const Inputs &in) {
          auto splits = [](const Tensor &t) {
            MOE_CHECK(t.dtype == DType::I64 && t.rank() == 1,
                      "npu.all_to_all_v: splits must be 1-D i64, got " +
                          t.str());
            return std::vector<int64_t>(t.data<int64_t>(),
                                        t.data<int64_t>() + t.numel());
          };
          return std::vector<Tensor>{st.comm(g).allToAllV(
              need(in, 0), splits(need(in, 1)), splits(need(in, 2)))};
        });
}

extern "C" void moert_npu_pad_rows(const char *where, int64_t stream,
                                   moert_tensor *input, int64_t rows,
                                   moert_tensor **result) {
  issue(where, stream, {input}, {result}, [rows](Stream &, const Inputs &in) {
    return std::vector<Tensor>{padRows(need(in, 0), rows)};
  });
}

extern "C" void moert_npu_slice_rows(const char *where, int64_t stream,
                                     moert_tensor *input, int64_t rows,
                                     moert_tensor **result) {
  issue(where, stream, {input}, {result}, [rows](Stream &, const Inputs &in) {
    return std::vector<Tensor>{sliceRows(need(in, 0), rows)};
  });
}

extern "C" void moert_npu_tensor_split(const char *where, int64_t stream,
                                       moert_tensor *input,
                                       moert_npu_group group,
                                       moert_tensor **result) {
  Group g = toGroup(group);
  issue(where, stream, {input}, {result}, [g](Stream &st, const Inputs &in) {
    Comm &c = st.comm(g);
    // The ranks of a group split the same rows; different row counts mean
    // their inputs disagree (e.g. tp ranks given different tokens without
    // sequence parallelism), which would be a silent error.
    int64_t rows = need(in, 0).rows();
    int64_t most = c.allReduceScalar(rows, ReduceKind::Max);
    int64_t least = -c.allReduceScalar(-rows, ReduceKind::Max);
    MOE_CHECK(most == least, "npu.tensor_split: the ranks of the " +
                                 std::string(groupName(g)) +
                                 " group split different row counts (" +
                                 std::to_string(least) + " to " +
                                 std::to_string(most) +
                                 "); they must hold the same tokens");
    return std::vector<Tensor>{tensorSplit(need(in, 0), c.size(), c.rank())};
  });
}

extern "C" void moert_npu_mc2_mask(const char *where, int64_t stream,
                                   int64_t valid, int64_t rows,
                                   moert_tensor **result) {
  issue(where, stream, {}, {result}, [=](Stream &, const Inputs &) {
    return std::vector<Tensor>{mc2Mask(valid, rows)};
  });
}

//===----------------------------------------------------------------------===//
// Host-side ops
//===----------------------------------------------------------------------===//

extern "C" void moert_npu_all_reduce_scalar(const char *where, int64_t value,
                                            moert_npu_reduce_kind kind,
                                            moert_npu_group group,
                                            int64_t *result) {
  *result = 0;
  onHost(where, [&](RankRuntime &rank) {
    *result =
        rank.hostComm(toGroup(group)).allReduceScalar(value, toKind(kind));
  });
}

extern "C" void moert_npu_group_rank(const char *where, moert_npu_group group,
                                     int64_t *result) {
  *result = 0;
  onHost(where, [&](RankRuntime &rank) {
    *result = rank.hostComm(toGroup(group)).rank();
  });
}

extern "C" void moert_npu_expect_uniform(const char *where, int64_t value,
                                         moert_npu_group group,
                                         const char *what) {
  onHost(where, [&](RankRuntime &rank) {
    Group g = toGroup(group);
    Comm &c = rank.hostComm(g);
    int64_t most = c.allReduceScalar(value, ReduceKind::Max);
    int64_t least = -c.allReduceScalar(-value, ReduceKind::Max);
    MOE_CHECK(most == least, std::string("npu.expect_uniform: ") + what +
                                 ", but the ranks of the " + groupName(g) +
                                 " group hold " + std::to_string(least) +
                                 " to " + std::to_string(most) +
                                 " (this rank: " + std::to_string(value) + ")");
  });
}

extern "C" void moert_npu_step_sync(const char *where, int64_t tokens,
                                    int64_t with_prefill, int64_t enable_dbo,
                                    const char *uniform_tp, int64_t *max_world,
                                    int64_t *max_tp, int64_t *max_dp,
                                    int64_t *max_ep, int64_t *max_pcp,
                                    int64_t *any_prefill, int64_t *all_dbo) {
  // One result per group, in the enum's order (NpuOps.td, npu.step_sync).
  int64_t *maxima[] = {max_world, max_tp, max_dp, max_ep, max_pcp};
#define MOERT_COUNT_CASE(symbol, value, keyword) +1
  static_assert(std::size(maxima) == 0 MOERT_NPU_GROUP_CASES(MOERT_COUNT_CASE),
                "npu.step_sync has one maximum per communication group");
#undef MOERT_COUNT_CASE
  for (int64_t *m : maxima)
    *m = 0;
  *any_prefill = *all_dbo = 0;
  onHost(where, [&](RankRuntime &rank) {
    MOE_CHECK(with_prefill == 0 || with_prefill == 1,
              "npu.step_sync: with_prefill must be 0 or 1, got " +
                  std::to_string(with_prefill));
    MOE_CHECK(enable_dbo == 0 || enable_dbo == 1,
              "npu.step_sync: enable_dbo must be 0 or 1, got " +
                  std::to_string(enable_dbo));
    // The one collective: every rank's (tokens, with_prefill, enable_dbo).
    Tensor mine = Tensor::empty(DType::I64, {1, 3});
    mine.data<int64_t>()[0] = tokens;
    mine.data<int64_t>()[1] = with_prefill;
    mine.data<int64_t>()[2] = enable_dbo;
    Tensor all = rank.hostComm(Group::World).allGather(mine);
    const int64_t *row = all.data<int64_t>();
    const Layout &layout = rank.world().layout();
    auto count = [&](int member) { return row[3 * member]; };
    for (size_t g = 0; g < std::size(maxima); ++g)
      for (int member : layout.members(static_cast<Group>(g), rank.rank()))
        *maxima[g] = std::max(*maxima[g], count(member));
    *all_dbo = 1;
    for (int64_t r = 0; r < all.dim(0); ++r) {
      *any_prefill = std::max(*any_prefill, row[3 * r + 1]);
      *all_dbo = std::min(*all_dbo, row[3 * r + 2]);
    }
    if (uniform_tp && *uniform_tp) {
      int64_t least = tokens, most = tokens;
      for (int member : layout.members(Group::TP, rank.rank())) {
        least = std::min(least, count(member));
        most = std::max(most, count(member));
      }
      MOE_CHECK(least == most,
                std::string("npu.step_sync: ") + uniform_tp +
                    ", but the ranks of the tp group hold " +
                    std::to_string(least) + " to " + std::to_string(most) +
                    " (this rank: " + std::to_string(tokens) + ")");
    }
  });
}

//===----------------------------------------------------------------------===//
// Hand-written calls (RuntimeCalls.h)
//===----------------------------------------------------------------------===//

extern "C" int64_t moert_dim(const char *where, void *tensor, int64_t dim) {
  RankRuntime *rank = RankRuntime::current();
  if (!rank || rank->failed() || !tensor)
    return 0;
  try {
    const Tensor &t = static_cast<Handle *>(tensor)->wait();
    MOE_CHECK(dim >= 0 && dim < t.rank(), "tensor.dim: no dimension " +
                                              std::to_string(dim) + " in " +
                                              t.str());
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
  task.flow = event->traceId();
  task.flowStart = true;
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
  task.flow = e->traceId();
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
    MOE_CHECK(static_cast<int64_t>(t.nbytes()) == bytes,
              "constant " + t.str() + " needs " + std::to_string(t.nbytes()) +
                  " bytes, got " + std::to_string(bytes));
    std::memcpy(t.bytes(), data, t.nbytes());
    return Handle::ready(std::move(t));
  } catch (const std::exception &e) {
    failCurrent("constant", e.what());
    return nullptr;
  }
}
