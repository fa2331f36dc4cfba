//===- RuntimeCalls.h - the C ABI compiled MoE layers call ------*- C++ -*-===//
//
// convert-npu-to-runtime lowers every npu op to a call of one function here
// (declared on demand in the module, like upstream lowers `mpi` to MPI_*).
// Tensors are opaque handles (moert::Handle*), reference counted by the
// compiled code (moert_retain / moert_release). The calls act on the rank
// driven by the calling thread; after a failure every call of the rank
// returns at once (null outputs) and the driver reports the first error.
//
// Device ops share one signature:
//
//   void moert_npu_<op>(const char *where, int64_t stream,
//                       void **ins, int64_t numIns,
//                       const int64_t *scalars, int64_t numScalars,
//                       void **outs, int64_t numOuts);
//
// `where` names the op and its source location for messages; `ins` holds
// the tensor operands in ODS order (null for an absent optional operand);
// `scalars` the static attributes and index operands listed per op in
// docs/Runtime.md ("The C ABI"); `outs` receives new handles, each owning a
// reference.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_RUNTIMECALLS_H
#define MOE_RUNTIME_RUNTIMECALLS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOERT_DEVICE_OP(name)                                                  \
  void moert_npu_##name(const char *where, int64_t stream, void **ins,         \
                        int64_t numIns, const int64_t *scalars,                \
                        int64_t numScalars, void **outs, int64_t numOuts)

MOERT_DEVICE_OP(moe_gating_top_k);
MOERT_DEVICE_OP(map_expert_ids);
MOERT_DEVICE_OP(mask_weights);
MOERT_DEVICE_OP(moe_init_routing);
MOERT_DEVICE_OP(moe_token_permute);
MOERT_DEVICE_OP(moe_token_unpermute);
MOERT_DEVICE_OP(moe_distribute_dispatch);
MOERT_DEVICE_OP(moe_distribute_combine);
MOERT_DEVICE_OP(dispatch_ffn_combine);
MOERT_DEVICE_OP(dynamic_quant);
MOERT_DEVICE_OP(grouped_matmul);
MOERT_DEVICE_OP(matmul);
MOERT_DEVICE_OP(swiglu);
MOERT_DEVICE_OP(dequant_swiglu_quant);
MOERT_DEVICE_OP(add);
MOERT_DEVICE_OP(histogram);
MOERT_DEVICE_OP(alltoall_splits);
MOERT_DEVICE_OP(all_gather);
MOERT_DEVICE_OP(reduce_scatter);
MOERT_DEVICE_OP(all_reduce);
MOERT_DEVICE_OP(all_to_all_v);
MOERT_DEVICE_OP(pad_rows);
MOERT_DEVICE_OP(slice_rows);
MOERT_DEVICE_OP(tensor_split);
MOERT_DEVICE_OP(mc2_mask);

#undef MOERT_DEVICE_OP

/// Host-side ops.
int64_t moert_all_reduce_scalar(const char *where, int64_t value, int64_t kind,
                                int64_t group);
int64_t moert_group_rank(const char *where, int64_t group);
/// Fails the run unless every rank of `group` passes the same `value`;
/// `what` names the contract in the message.
void moert_expect_uniform(const char *where, int64_t value, int64_t group,
                          const char *what);
/// Size of dimension `dim` of a tensor (waits for its producer).
int64_t moert_dim(const char *where, void *tensor, int64_t dim);

/// Streams and events.
void *moert_record(const char *where, int64_t stream);
void moert_wait(const char *where, void *event, int64_t stream);
void moert_retain_event(void *event);
void moert_release_event(void *event);

/// Reference counting of tensor handles (null is ignored).
void moert_retain(void *tensor);
void moert_release(void *tensor);

/// A constant tensor: copies `bytes` of `data` (row-major, the dtype's
/// storage format) into a new handle.
void *moert_constant(int64_t dtype, int64_t rank, const int64_t *shape,
                     const void *data, int64_t bytes);

#ifdef __cplusplus
}
#endif

#endif // MOE_RUNTIME_RUNTIMECALLS_H
