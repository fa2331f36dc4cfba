//===- RuntimeCalls.h - the C ABI compiled MoE layers call ------*- C++ -*-===//
//
// convert-npu-to-runtime lowers every npu op to a call of one function here
// (declared on demand in the module, like upstream lowers `mpi` to MPI_*).
// Tensors are opaque handles (moert_tensor *, a moert::Handle), reference
// counted by the compiled code (moert_retain / moert_release). The calls
// act on the rank driven by the calling thread; after a failure every call
// of the rank returns at once (null outputs) and the driver reports the
// first error.
//
// The calls of the npu ops, `moert_npu_<op>(where[, stream], <the op's
// arguments, typed>, <one out-parameter per result>)`, and the enums they
// take are generated from the npu ODS into moe/Runtime/RuntimeAbi.h
// (moe-tblgen -gen-runtime-abi-header; docs/RuntimeAbi.md lists them).
// The calls below are the hand-written rest: tensor queries, events and
// reference counting.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_RUNTIMECALLS_H
#define MOE_RUNTIME_RUNTIMECALLS_H

#include "moe/Runtime/RuntimeAbi.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
