/*===- moe-c/Runtime.h - compile an MoE layer and run it ----------*- C -*-===*\
|*                                                                            *|
|* Opaque handles for the flow of moe-run (docs/Embedding.md):                *|
|*                                                                            *|
|*   MoeCompiler   an MLIR context with every moe-mlir dialect; parses and   *|
|*                 compiles layers (not thread-safe: one thread at a time)   *|
|*   MoeExecutable a JIT-compiled layer: argument/result specs, run          *|
|*                 (immutable; runs of different ranks may be concurrent)    *|
|*   MoeWorld      the ranks of one deployment as threads of this process;   *|
|*                 the caller runs each rank from a thread of its own        *|
|*                                                                            *|
|* Every fallible function returns a MoeStatus (or a null handle / 0) and    *|
|* leaves the message in moeGetLastError(). Nothing aborts on bad input.     *|
|* Handles are destroyed by their Destroy function (NULL is accepted);       *|
|* executables and worlds do not depend on the compiler that made them.     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_RUNTIME_H
#define MOE_C_RUNTIME_H

#include "mlir-c/IR.h"
#include "moe-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Element types and buffers
 *===----------------------------------------------------------------------===*/

/* Element types; values are the runtime's (moert::DType). MOE_DTYPE_I4
 * packs two values per byte (element 2i in the low nibble); MOE_DTYPE_I1
 * uses one byte (0 or 1) per element. */
typedef enum MoeDType {
  MOE_DTYPE_F32 = 0,
  MOE_DTYPE_BF16 = 1,
  MOE_DTYPE_F16 = 2,
  MOE_DTYPE_I8 = 3,
  MOE_DTYPE_I4 = 4,
  MOE_DTYPE_I32 = 5,
  MOE_DTYPE_I64 = 6,
  MOE_DTYPE_I1 = 7,
  MOE_DTYPE_F8E4M3FN = 8, /* OCP fp8 e4m3fn bit patterns, one per byte */
  MOE_DTYPE_F8E5M2 = 9,   /* OCP fp8 e5m2 bit patterns, one per byte */
} MoeDType;

/* "f32", "i4", ...; NULL for a value outside the enum. */
MOE_CAPI_EXPORTED const char *moeDTypeGetName(MoeDType dtype);
/* Bytes holding `elements` values (I4 rounds up to whole bytes); 0 for an
 * invalid dtype or a negative count, SIZE_MAX when the count needs more than
 * 2^63 - 1 bytes (never a wrapped, too small number). */
MOE_CAPI_EXPORTED size_t moeDTypeStorageBytes(MoeDType dtype, int64_t elements);

#define MOE_MAX_RANK 8

/* A dense row-major tensor in memory.
 *
 * Inputs (const MoeBuffer *): `data`, `dtype`, `rank`, `shape` describe the
 * value; `capacity` may be 0 or the bytes available at `data` (checked).
 * The runtime reads inputs in place when `data` is 64-byte aligned
 * (copying otherwise) and never writes them (but see
 * moeExecutableLoadDonating); keep them alive and unchanged until the run
 * returns. `owner` is ignored unless it is the owner of a live
 * runtime-owned buffer (moeBufferAllocate, or an output) with `data` its
 * start: the run then shares that storage (API 2.3).
 *
 * Outputs (MoeBuffer *): on return `dtype`, `rank` and `shape` describe the
 * result. Two ways to receive the data:
 *  - caller-owned: `data` != NULL with `capacity` bytes; the result is
 *    copied there. If it does not fit, the run returns
 *    MOE_STATUS_BUFFER_TOO_SMALL with the needed rank/shape/dtype filled in
 *    (the layer has run on every rank by then: size buffers from the
 *    argument shapes, or use the other way when unsure); the other outputs
 *    are still filled, so release the runtime-owned ones as usual;
 *  - runtime-owned: `data` == NULL; the runtime hands over its result
 *    storage (no copy): `data` and `capacity` are set and `owner` is
 *    non-NULL; release it with moeBufferRelease. */
typedef struct MoeBuffer {
  void *data;
  size_t capacity;
  int32_t dtype; /* MoeDType */
  int32_t rank;
  int64_t shape[MOE_MAX_RANK];
  void *owner;
} MoeBuffer;

/* Frees runtime-owned storage (an output's or moeBufferAllocate's; no-op
 * for caller-owned buffers and for NULL) and resets `data`, `capacity`
 * and `owner`. */
MOE_CAPI_EXPORTED void moeBufferRelease(MoeBuffer *buffer);

/* Runtime-owned storage for an input (API 2.3), typically a weight the
 * caller fills once: set `dtype`, `rank` and `shape`; on success `data`
 * (64-byte aligned, contents undefined), `capacity` and `owner` are set.
 * Release it with moeBufferRelease once no run uses it. Such a buffer can
 * be donated to the load (moeExecutableLoadDonating): the weights are
 * then held once. An invalid dtype, rank or shape returns
 * MOE_STATUS_INVALID_ARGUMENT and leaves the buffer unchanged. */
MOE_CAPI_EXPORTED MoeStatus moeBufferAllocate(MoeBuffer *buffer);

/* Elements of the buffer's shape (1 for rank 0); -1 for NULL, a rank
 * outside [0, MOE_MAX_RANK], a negative dimension or more than 2^63 - 1
 * elements. */
MOE_CAPI_EXPORTED int64_t moeBufferNumElements(const MoeBuffer *buffer);

/*===----------------------------------------------------------------------===
 * Compiler
 *===----------------------------------------------------------------------===*/

typedef struct MoeCompiler MoeCompiler;
typedef struct MoeExecutable MoeExecutable;
typedef struct MoeWorld MoeWorld;

/* How to compile: the moe-compile pipeline with options set by name, as in
 * `moe-opt -moe-compile="name=value ..."` (docs/Pipelines.md lists them;
 * moeGetCompileOption enumerates them), or a whole textual pipeline.
 *
 *   MoeCompileOptions *options;
 *   moeCompileOptionsCreate(&options);
 *   if (moeCompileOptionsSet(options, "policy", "fixed") ||
 *       moeCompileOptionsSet(options, "method", "mc2"))
 *     puts(moeGetLastError());   // the option parser's message
 *   moeCompilerCompileSource(compiler, text, (size_t)-1, options, &exe);
 *   moeCompileOptionsDestroy(options);
 */
typedef struct MoeCompileOptions MoeCompileOptions;

/* Options with every default: moe-compile, the only public function. */
MOE_CAPI_EXPORTED MoeStatus moeCompileOptionsCreate(MoeCompileOptions **options);
MOE_CAPI_EXPORTED void moeCompileOptionsDestroy(MoeCompileOptions *options);

/* Sets option `name` of moe-compile to `value` (the text after `=`; "" for
 * a flag alone, meaning true). Checked at once by the pipeline's option
 * parser: an unknown option or a bad value returns
 * MOE_STATUS_INVALID_ARGUMENT with the parser's message (the one moe-opt
 * prints) and leaves the options unchanged. Setting an option again
 * replaces its value. */
MOE_CAPI_EXPORTED MoeStatus moeCompileOptionsSet(MoeCompileOptions *options,
                                                 const char *name,
                                                 const char *value);

/* Non-NULL: run this module-level textual pipeline before the lowering
 * instead of moe-compile, e.g. "moe-compile{policy=fixed method=mc2}" (""
 * for a module already at level 2); options set by moeCompileOptionsSet are
 * then ignored. NULL: moe-compile again. Copied. */
MOE_CAPI_EXPORTED MoeStatus
moeCompileOptionsSetPipeline(MoeCompileOptions *options, const char *pipeline);

/* Function to compile; NULL or "": the module's only public function. */
MOE_CAPI_EXPORTED MoeStatus moeCompileOptionsSetEntry(MoeCompileOptions *options,
                                                      const char *entry);

/* Calls `callback` (possibly in pieces) with the passes the options run and
 * every pass option spelled out, as `moe-opt -dump-pass-pipeline` prints
 * them: "builtin.module(func.func(moe-select-comm-method{... policy=fixed
 * ...},...))". */
MOE_CAPI_EXPORTED MoeStatus moeCompileOptionsPrintPassPipeline(
    const MoeCompileOptions *options, MlirStringCallback callback,
    void *userData);

/* One option of moe-compile. Strings live as long as the library. */
typedef struct MoeCompileOptionInfo {
  const char *name;         /* "max-num-reqs" */
  const char *pass;         /* the pass it reaches; "" for a pipeline switch */
  const char *type;         /* C++ type as declared: "int64_t", "bool", ... */
  const char *defaultValue; /* textual: "256", "true", "table" */
  const char *description;
  int64_t numAllowed;         /* values of an enum option; 0 otherwise */
  const char *const *allowed; /* `numAllowed` names */
} MoeCompileOptionInfo;

/* The options of moe-compile, generated from the passes' declarations:
 * every option `moe-opt -moe-compile=...` accepts. */
MOE_CAPI_EXPORTED int64_t moeGetNumCompileOptions(void);
MOE_CAPI_EXPORTED MoeStatus moeGetCompileOption(int64_t index,
                                                MoeCompileOptionInfo *info);

/* A compiler with a fresh MLIR context holding every moe-mlir dialect. */
MOE_CAPI_EXPORTED MoeStatus moeCompilerCreate(MoeCompiler **compiler);
MOE_CAPI_EXPORTED void moeCompilerDestroy(MoeCompiler *compiler);
/* The compiler's context: build modules in it with the MLIR C API. Owned
 * by the compiler. */
MOE_CAPI_EXPORTED MlirContext moeCompilerGetContext(MoeCompiler *compiler);

/* Parses `source` (`length` bytes; a NUL-terminated string with length
 * (size_t)-1) in the compiler's context, compiles its entry function with
 * `options` (NULL: defaults) and JITs it. Diagnostics (file name
 * "<source>") become the error message. */
MOE_CAPI_EXPORTED MoeStatus moeCompilerCompileSource(
    MoeCompiler *compiler, const char *source, size_t length,
    const MoeCompileOptions *options, MoeExecutable **executable);

/* Compiles a copy of `module` (which is left unchanged); the module may
 * live in any context holding the moe-mlir dialects
 * (moeContextRegisterAllDialects). */
MOE_CAPI_EXPORTED MoeStatus moeCompilerCompileModule(
    MoeCompiler *compiler, MlirModule module, const MoeCompileOptions *options,
    MoeExecutable **executable);

/*===----------------------------------------------------------------------===
 * Executable
 *===----------------------------------------------------------------------===*/

MOE_CAPI_EXPORTED void moeExecutableDestroy(MoeExecutable *executable);

/* One argument or result of the entry function. Pointers stay valid while
 * the executable lives. */
typedef struct MoeTensorInfo {
  const char *name; /* moe.name, or "arg<i>" / "result <i>" */
  int32_t dtype;    /* MoeDType */
  int32_t rank;
  const int64_t *shape; /* `rank` sizes; -1 for a dynamic dimension */
  const char *type;     /* "tensor<?x64xf32>" */
} MoeTensorInfo;

MOE_CAPI_EXPORTED int64_t moeExecutableGetNumArguments(const MoeExecutable *e);
MOE_CAPI_EXPORTED int64_t moeExecutableGetNumResults(const MoeExecutable *e);
MOE_CAPI_EXPORTED MoeStatus moeExecutableGetArgument(const MoeExecutable *e,
                                                     int64_t index,
                                                     MoeTensorInfo *info);
MOE_CAPI_EXPORTED MoeStatus moeExecutableGetResult(const MoeExecutable *e,
                                                   int64_t index,
                                                   MoeTensorInfo *info);

/* The layout the executable was compiled for (#moe.layout). */
typedef struct MoeLayout {
  int64_t tp, dp;
  bool expertParallel, sequenceParallel;
  int64_t worldSize; /* tp * dp: ranks of a world running it */
  int64_t epSize;
} MoeLayout;

MOE_CAPI_EXPORTED MoeStatus moeExecutableGetLayout(const MoeExecutable *e,
                                                   MoeLayout *layout);
/* Seconds spent compiling and JIT-compiling. */
MOE_CAPI_EXPORTED double moeExecutableGetCompileSeconds(const MoeExecutable *e);
/* What moe-compile decided for each MoE layer, as a JSON array of objects
 * (docs/Embedding.md, "Decisions"): function, location, method ("run-time"
 * for a run-time switch), candidates [{method, up_to_tokens}], reason,
 * max_tokens, capacity, quantization {scheme, placement}, streams
 * [{stream, ops}], events [{from_stream, to_stream, count}]. Valid while
 * the executable lives; null for a null executable. */
MOE_CAPI_EXPORTED const char *
moeExecutableGetDecisionsJson(const MoeExecutable *e);

/*===----------------------------------------------------------------------===
 * World and runs
 *===----------------------------------------------------------------------===*/

typedef struct MoeWorldOptions {
  /* Seconds a collective waits for the other ranks before the run fails
   * (<= 0: forever). Default 120. */
  double timeoutSeconds;
  /* Kernel threads per rank; 0 (default): cores / ranks, at least 1. */
  int32_t kernelThreads;
} MoeWorldOptions;

MOE_CAPI_EXPORTED void moeWorldOptionsInit(MoeWorldOptions *options);

/* A thread world of `numRanks` ranks for executables with the layout of
 * `executable`; `numRanks` must equal its tp * dp. `options` may be NULL. */
MOE_CAPI_EXPORTED MoeStatus moeWorldCreate(const MoeExecutable *executable,
                                           int64_t numRanks,
                                           const MoeWorldOptions *options,
                                           MoeWorld **world);
/* No rank may be running. */
MOE_CAPI_EXPORTED void moeWorldDestroy(MoeWorld *world);
MOE_CAPI_EXPORTED int64_t moeWorldGetNumRanks(const MoeWorld *world);
/* True once a rank failed: every later run on this world fails too; create
 * a new world. */
MOE_CAPI_EXPORTED bool moeWorldHasFailed(const MoeWorld *world);

/* The NaN/Inf policy (docs/Reliability.md, "NaN and Inf"), on by default:
 * a NaN or an infinity in a float input or produced by any op fails the
 * run (MOE_STATUS_RUN_ERROR naming the rank, the tensor and the row). `false`
 * lets them propagate for later runs (NaN logits still fail the gate).
 * Since API version 1.1. */
MOE_CAPI_EXPORTED MoeStatus moeWorldSetCheckFinite(MoeWorld *world, bool check);

/* Runs `executable` as rank `rank` of `world` on the calling thread and
 * returns when the rank's results are ready. Every rank of the world must
 * be run, each from its own thread, with the same sequence of
 * executables; a rank can run at most once at a time.
 *
 * `inputs`: one buffer per argument, with the argument's dtype and rank and
 * its static sizes. `outputs`: one buffer per result (see MoeBuffer).
 *
 * A rank whose call is invalid (input count, dtype or shape, output count)
 * or whose layer fails fails the world: its peers' runs return
 * MOE_STATUS_RUN_ERROR ("... rank 0 failed: ...") instead of waiting. */
MOE_CAPI_EXPORTED MoeStatus moeExecutableRun(const MoeExecutable *executable,
                                             MoeWorld *world, int64_t rank,
                                             const MoeBuffer *inputs,
                                             int64_t numInputs,
                                             MoeBuffer *outputs,
                                             int64_t numOutputs);

/* Load time (API 2.2), once per rank after the weights are in `inputs`
 * (any activations will do; the same buffers as moeExecutableRun's): the
 * work the first run would otherwise do, so that it costs what a steady run
 * does (docs/Runtime.md, "Load time"). Scans the inputs for NaNs (with the
 * NaN/Inf checks on; a buffer passed again later at the same address,
 * dtype and shape is not scanned again), runs the load-time function,
 * keeping its results, and runs one warm-up step whose results and
 * recorded expert load are discarded. Called like moeExecutableRun (a
 * thread per rank), with the same errors; there are no outputs. */
MOE_CAPI_EXPORTED MoeStatus moeExecutableLoad(const MoeExecutable *executable,
                                              MoeWorld *world, int64_t rank,
                                              const MoeBuffer *inputs,
                                              int64_t numInputs);

/* moeExecutableLoad that may rewrite weights in place (API 2.3): every
 * runtime-owned input (moeBufferAllocate) that the load-time function
 * repacks (npu.pack_weights: the f32, int8 and int4 expert weights, into
 * the layout of this CPU's matmul kernel) is repacked in its own storage
 * instead of into a copy, so the weights are held once (f32 weights are
 * packed only so; without donation they stay row-major). Afterwards its
 * `data` holds the packed layout, not the caller's values: pass the buffer
 * unchanged to the runs (of any world) and do not read or write it; an op
 * that would read it as plain values fails the run instead. Borrowed
 * (caller-owned) int8 and int4 inputs are copied when packed, as by
 * moeExecutableLoad (f32 ones are left row-major). */
MOE_CAPI_EXPORTED MoeStatus moeExecutableLoadDonating(
    const MoeExecutable *executable, MoeWorld *world, int64_t rank,
    const MoeBuffer *inputs, int64_t numInputs);

/* Load time (API 2.2), once per process: calibrates the expert-matmul
 * planner for the executable's matmuls and steps of up to
 * `maxTokensPerRank` tokens per rank, with the world's kernel threads. A
 * no-op unless the engine policy is auto (MOE_MATMUL_ENGINE unset).
 * `planned` (may be NULL) receives the number of block shapes timed. */
MOE_CAPI_EXPORTED MoeStatus moeExecutableCalibrate(
    const MoeExecutable *executable, const MoeWorld *world,
    int64_t maxTokensPerRank, int64_t *planned);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_RUNTIME_H */
