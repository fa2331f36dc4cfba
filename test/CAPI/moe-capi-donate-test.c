//===- moe-capi-donate-test.c - weights held once through the C API -------===//
//
// Runtime-owned buffers (moeBufferAllocate) and the donating load
// (moeExecutableLoadDonating, API 2.3) on a one-rank w8a8 layer whose
// int8 expert weights moe-compile packs at load (npu.pack_weights):
//  - the donating load and its runs give what the borrowed, copying load
//    gives (the reference for that one: the Python w8a8 case, against
//    the dense NumPy reference);
//  - a second world loads the donated (now packed) buffers again and
//    matches too: they are not packed twice;
//  - the layer compiled with pack-weights=false reads the weights as
//    plain values: it fails naming the donating load exactly when the
//    buffer was rewritten (on a CPU with a packed int8 kernel), and
//    matches otherwise, never a silent wrong answer;
//  - moeBufferAllocate's errors, and an `owner` the runtime did not hand
//    out (ignored: the buffer is borrowed, as before API 2.3).
//
//===----------------------------------------------------------------------===//

// RUN: moe-capi-donate-test 2>&1 | FileCheck %s

#include "moe-c/Runtime.h"

#include "capi-test-buffers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H = 32, E = 4, K = 2, I = 16, T = 5 };

static const char *kLayer =
    "module attributes {moe.chip = #moe.chip<A3>, moe.layout = "
    "#moe.layout<tp = 1, dp = 1, expert_parallel = true>} {\n"
    "func.func @layer(%x: tensor<?x32xf32>, %logits: tensor<?x4xf32>,\n"
    "    %w13: tensor<4x32x32xi8>, %w2: tensor<4x16x32xi8>,\n"
    "    %s13: tensor<4x32xf32>, %s2: tensor<4x32xf32>) -> tensor<?x32xf32> {\n"
    "  %h, %lg, %p = moe.prepare %x, %logits : tensor<?x32xf32>, "
    "tensor<?x4xf32> -> !moe.prepare_ctx<allgather>\n"
    "  %w, %ids = moe.gate %lg top_k(2) softmax renormalize : "
    "tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>\n"
    "  %rows, %counts, %d = moe.dispatch %h, %w, %ids experts(4) : "
    "tensor<?x32xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, "
    "!moe.dispatch_ctx<allgather>\n"
    "  %y = moe.experts %rows, %counts weights(%w13, %w2 : "
    "tensor<4x32x32xi8>, tensor<4x16x32xi8>) scales(%s13, %s2 : "
    "tensor<4x32xf32>, tensor<4x32xf32>) quant <w8a8_dynamic> : "
    "tensor<?x32xf32>, tensor<4xi64>\n"
    "  %o = moe.combine %y, %d : tensor<?x32xf32>, "
    "!moe.dispatch_ctx<allgather>\n"
    "  %r = moe.finalize %o, %p : tensor<?x32xf32>, "
    "!moe.prepare_ctx<allgather>\n"
    "  return %r : tensor<?x32xf32>\n"
    "}\n"
    "}\n";

_Alignas(64) static float x[T * H], logits[T * E], s13[E * 2 * I], s2[E * H];
_Alignas(64) static int8_t w13[E * H * 2 * I], w2[E * I * H];

static unsigned seed = 11;
static unsigned nextRandom(void) {
  seed = seed * 1103515245u + 12345u;
  return seed >> 8;
}

static void makeData(void) {
  for (int i = 0; i < T * H; ++i)
    x[i] = (float)(nextRandom() % 2001) / 1000.0f - 1.0f;
  for (int i = 0; i < T * E; ++i)
    logits[i] = (float)(nextRandom() % 2001) / 500.0f - 2.0f;
  for (int i = 0; i < E * H * 2 * I; ++i)
    w13[i] = (int8_t)((int)(nextRandom() % 255) - 127);
  for (int i = 0; i < E * I * H; ++i)
    w2[i] = (int8_t)((int)(nextRandom() % 255) - 127);
  for (int i = 0; i < E * 2 * I; ++i)
    s13[i] = 0.001f + (float)(nextRandom() % 100) * 1e-5f;
  for (int i = 0; i < E * H; ++i)
    s2[i] = 0.001f + (float)(nextRandom() % 100) * 1e-5f;
}

/// The layer's six inputs, with the given weight buffers.
static void inputs(MoeBuffer in[6], MoeBuffer weight13, MoeBuffer weight2) {
  in[0] = describeBuffer(x, MOE_DTYPE_F32, 2, T, H, 0);
  in[1] = describeBuffer(logits, MOE_DTYPE_F32, 2, T, E, 0);
  in[2] = weight13;
  in[3] = weight2;
  in[4] = describeBuffer(s13, MOE_DTYPE_F32, 2, E, 2 * I, 0);
  in[5] = describeBuffer(s2, MOE_DTYPE_F32, 2, E, H, 0);
}

static MoeExecutable *compile(MoeCompiler *compiler, const char *pack) {
  MoeCompileOptions *options = NULL;
  MoeExecutable *exe = NULL;
  if (moeCompileOptionsCreate(&options) ||
      moeCompileOptionsSet(options, "pack-weights", pack) ||
      moeCompilerCompileSource(compiler, kLayer, (size_t)-1, options, &exe))
    printf("compile (pack-weights=%s): %s\n", pack, moeGetLastError());
  moeCompileOptionsDestroy(options);
  return exe;
}

/// Loads (donating or not) and runs once on a fresh world; the result in
/// `out` (T x H floats). Returns the run's status, printing its error.
static MoeStatus loadAndRun(const char *label, const MoeExecutable *exe,
                            const MoeBuffer in[6], int donate, float *out) {
  MoeWorld *world = NULL;
  MoeStatus s = moeWorldCreate(exe, 1, NULL, &world);
  if (!s)
    s = donate ? moeExecutableLoadDonating(exe, world, 0, in, 6)
               : moeExecutableLoad(exe, world, 0, in, 6);
  MoeBuffer result = describeBuffer(out, 0, 0, 0, 0, 0);
  result.capacity = sizeof(float) * T * H;
  if (!s)
    s = moeExecutableRun(exe, world, 0, in, 6, &result, 1);
  if (s)
    printf("%s: status %d: %s\n", label, s, moeGetLastError());
  moeWorldDestroy(world);
  return s;
}

static const char *same(const float *a, const float *b) {
  return memcmp(a, b, sizeof(float) * T * H) == 0 ? "matches" : "MISMATCH";
}

int main(void) {
  makeData();
  MoeCompiler *compiler = NULL;
  if (moeCompilerCreate(&compiler))
    return 1;
  MoeExecutable *packed = compile(compiler, "true");
  MoeExecutable *plain = compile(compiler, "false");
  if (!packed || !plain)
    return 1;
  MoeBuffer in[6];
  static float borrowed[T * H], donated[T * H], again[T * H], unpacked[T * H];

  // The caller's arrays, borrowed: even a donating load packs a copy,
  // never them.
  inputs(in, describeBuffer(w13, MOE_DTYPE_I8, 3, E, H, 2 * I),
         describeBuffer(w2, MOE_DTYPE_I8, 3, E, I, H));
  if (loadAndRun("borrowed", packed, in, /*donate=*/1, borrowed))
    return 1;
  int8_t *original13 = malloc(sizeof(w13));
  memcpy(original13, w13, sizeof(w13));
  MoeBuffer b13 = describeBuffer(NULL, MOE_DTYPE_I8, 3, E, H, 2 * I);
  MoeBuffer b2 = describeBuffer(NULL, MOE_DTYPE_I8, 3, E, I, H);
  // CHECK: allocate: 0 0, 64-byte aligned 1, capacity 4096 2048
  MoeStatus a13 = moeBufferAllocate(&b13), a2 = moeBufferAllocate(&b2);
  printf("allocate: %d %d, 64-byte aligned %d, capacity %zu %zu\n", a13, a2,
         ((uintptr_t)b13.data | (uintptr_t)b2.data) % 64 == 0, b13.capacity,
         b2.capacity);
  memcpy(b13.data, w13, sizeof(w13));
  memcpy(b2.data, w2, sizeof(w2));

  // CHECK: donating load: matches the borrowed load
  inputs(in, b13, b2);
  if (!loadAndRun("donating load", packed, in, /*donate=*/1, donated))
    printf("donating load: %s the borrowed load\n", same(donated, borrowed));
  // CHECK: another world, the donated buffers: matches the borrowed load
  if (!loadAndRun("another world", packed, in, /*donate=*/0, again))
    printf("another world, the donated buffers: %s the borrowed load\n",
           same(again, borrowed));
  // CHECK: caller's array unchanged by its donating load: 1
  printf("caller's array unchanged by its donating load: %d\n",
         memcmp(w13, original13, sizeof(w13)) == 0);

  // Plain reads of the donated buffers: refused exactly when the donating
  // load rewrote them.
  // CHECK: plain executable on the donated buffers: consistent
  int rewritten = memcmp(b13.data, original13, sizeof(w13)) != 0;
  MoeStatus s = loadAndRun("plain executable", plain, in, 0, unpacked);
  int refused = s == MOE_STATUS_RUN_ERROR &&
                strstr(moeGetLastError(), "packed in place by a donating load");
  int matched = s == MOE_STATUS_OK && !strcmp(same(unpacked, borrowed), "matches");
  printf("plain executable on the donated buffers: %s\n",
         (rewritten ? refused : matched) ? "consistent" : "INCONSISTENT");

  // An owner the runtime did not hand out is ignored (the buffer is
  // borrowed); so is a released one.
  // CHECK: foreign owner: matches the borrowed load
  MoeBuffer foreign = describeBuffer(w13, MOE_DTYPE_I8, 3, E, H, 2 * I);
  foreign.owner = (void *)&seed;
  inputs(in, foreign, describeBuffer(w2, MOE_DTYPE_I8, 3, E, I, H));
  if (!loadAndRun("foreign owner", packed, in, 0, again))
    printf("foreign owner: %s the borrowed load\n", same(again, borrowed));
  moeBufferRelease(&b13);
  moeBufferRelease(&b2);
  // CHECK: released: data 0 owner 0 capacity 0
  printf("released: data %d owner %d capacity %zu\n", b13.data != NULL,
         b13.owner != NULL, b13.capacity);

  // CHECK: null buffer: status 1: moeBufferAllocate: null buffer
  printf("null buffer: status %d: %s\n", moeBufferAllocate(NULL),
         moeGetLastError());
  // CHECK: bad dtype: status 1: the buffer has invalid dtype 42
  MoeBuffer bad = describeBuffer(NULL, 42, 1, 4, 0, 0);
  printf("bad dtype: status %d: %s\n", moeBufferAllocate(&bad),
         moeGetLastError());
  // CHECK: bad rank: status 1: the buffer has invalid rank 9
  bad = describeBuffer(NULL, MOE_DTYPE_F32, 9, 4, 0, 0);
  printf("bad rank: status %d: %s\n", moeBufferAllocate(&bad),
         moeGetLastError());
  // CHECK: negative size: status 1: the buffer has shape [4x-1]: a negative dimension, or more than 2^63 - 1 elements
  // CHECK-NEXT: unchanged: data 0 owner 0
  bad = describeBuffer(NULL, MOE_DTYPE_F32, 2, 4, -1, 0);
  printf("negative size: status %d: %s\n", moeBufferAllocate(&bad),
         moeGetLastError());
  printf("unchanged: data %d owner %d\n", bad.data != NULL, bad.owner != NULL);
  // CHECK: donating load, null world: status 1: moeExecutableLoadDonating: null executable or world
  printf("donating load, null world: status %d: %s\n",
         moeExecutableLoadDonating(packed, NULL, 0, in, 6), moeGetLastError());

  free(original13);
  moeExecutableDestroy(packed);
  moeExecutableDestroy(plain);
  moeCompilerDestroy(compiler);
  return 0;
}
