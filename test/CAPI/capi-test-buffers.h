//===- capi-test-buffers.h - MoeBuffer descriptions for the C tests -------===//

#ifndef MOE_TEST_CAPI_CAPI_TEST_BUFFERS_H
#define MOE_TEST_CAPI_CAPI_TEST_BUFFERS_H

#include "moe-c/Runtime.h"

#include <string.h>

/// A buffer of `data` with dtype, rank and the first three sizes; capacity
/// and owner zero.
static inline MoeBuffer describeBuffer(void *data, int32_t dtype, int32_t rank,
                                       int64_t d0, int64_t d1, int64_t d2) {
  MoeBuffer b;
  memset(&b, 0, sizeof(b));
  b.data = data;
  b.dtype = dtype;
  b.rank = rank;
  b.shape[0] = d0;
  b.shape[1] = d1;
  b.shape[2] = d2;
  return b;
}

#endif // MOE_TEST_CAPI_CAPI_TEST_BUFFERS_H
