/*===- moe-c/Support.h - version and errors of the moe-mlir C API -*- C -*-===*\
|*                                                                            *|
|* Shared by every header of the C API (and by moe/Moe.h, the C++ API): the  *|
|* API version, status codes and the thread's last error. No MLIR headers.   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_SUPPORT_H
#define MOE_C_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOE_CAPI_EXPORTED __attribute__((visibility("default")))

/* Version of the embedding API (C and C++): (major << 16) | minor.
 *
 * Compatibility rules:
 *  - A minor release only adds: new functions, new enumerators at the end of
 *    an enum, new status codes. Existing functions, struct layouts and
 *    enumerator values keep their meaning, so a program built against
 *    headers of version M.n runs with a library of version M.m for m >= n.
 *  - Anything else (a changed signature or struct layout, a removed
 *    function, a changed default) bumps the major version.
 *  - The C++ API (moe/Moe.h) follows the same numbers but promises source
 *    compatibility only: rebuild C++ embedders against each release.
 * Check at run time with moeIsApiVersionCompatible(MOE_C_API_VERSION). */
#define MOE_C_API_VERSION_MAJOR 2
#define MOE_C_API_VERSION_MINOR 3
#define MOE_C_API_VERSION                                                      \
  ((MOE_C_API_VERSION_MAJOR << 16) | MOE_C_API_VERSION_MINOR)

/* The version of the loaded library. */
MOE_CAPI_EXPORTED uint32_t moeGetApiVersion(void);

/* True when the loaded library can serve a program built against headers of
 * version `headerVersion` (pass MOE_C_API_VERSION): same major version and a
 * library minor version at least the header's. */
MOE_CAPI_EXPORTED bool moeIsApiVersionCompatible(uint32_t headerVersion);

/* Result of every fallible call. Values are stable (see above). */
typedef enum MoeStatus {
  MOE_STATUS_OK = 0,
  /* A null handle, an out-of-range index or rank, a malformed buffer. */
  MOE_STATUS_INVALID_ARGUMENT = 1,
  /* Parse, verification, pipeline or JIT failure; the message holds the
   * compiler's diagnostics. */
  MOE_STATUS_COMPILE_ERROR = 2,
  /* The layer failed on this rank, or on a peer rank of the same world. */
  MOE_STATUS_RUN_ERROR = 3,
  /* A caller-provided output buffer is too small; its rank/shape/dtype
   * fields hold what is needed. */
  MOE_STATUS_BUFFER_TOO_SMALL = 4,
} MoeStatus;

/* The message of the last call on this thread that failed, or "" when the
 * last fallible call on this thread succeeded (every fallible call clears
 * it on entry). The string stays valid until the next call into the API on
 * this thread. Never NULL. */
MOE_CAPI_EXPORTED const char *moeGetLastError(void);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_SUPPORT_H */
