// Compiles a single-device MoE layer (2 experts, top-1) with the C API of
// an installed moe-mlir, runs it and checks it against a dense computation.
#include "moe-c/Runtime.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *kLayer =
    "module attributes {moe.chip = #moe.chip<A3>} {\n"
    "  func.func @layer(%x: tensor<?x4xf32>, %logits: tensor<?x2xf32>,\n"
    "                   %w13: tensor<2x4x4xf32>, %w2: tensor<2x2x4xf32>)\n"
    "      -> tensor<?x4xf32> {\n"
    "    %h, %l, %p = moe.prepare %x, %logits\n"
    "        : tensor<?x4xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>\n"
    "    %wt, %ids = moe.gate %l top_k(1) softmax renormalize\n"
    "        : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>\n"
    "    %rows, %counts, %d = moe.dispatch %h, %wt, %ids experts(2)\n"
    "        : tensor<?x4xf32>, tensor<?x1xf32>, tensor<?x1xi32>\n"
    "        -> tensor<2xi64>, !moe.dispatch_ctx<unset>\n"
    "    %y = moe.experts %rows, %counts\n"
    "        weights(%w13, %w2 : tensor<2x4x4xf32>, tensor<2x2x4xf32>)\n"
    "        : tensor<?x4xf32>, tensor<2xi64>\n"
    "    %r = moe.combine %y, %d : tensor<?x4xf32>, !moe.dispatch_ctx<unset>\n"
    "    %o = moe.finalize %r, %p : tensor<?x4xf32>, !moe.prepare_ctx<unset>\n"
    "    return %o : tensor<?x4xf32>\n"
    "  }\n"
    "}\n";

enum { T = 3, H = 4, I = 2, E = 2 };

static int fail(const char *what) {
  printf("consumer-c: %s: %s\n", what, moeGetLastError());
  return 1;
}

int main(void) {
  if (!moeIsApiVersionCompatible(MOE_C_API_VERSION))
    return fail("incompatible library");
  _Alignas(64) float x[T * H], logits[T * E], w13[E * H * 2 * I], w2[E * I * H];
  for (int i = 0; i < T * H; ++i)
    x[i] = (float)((i * 7) % 11) / 10.0f - 0.5f;
  for (int i = 0; i < T * E; ++i)
    logits[i] = (float)((i * 5) % 7) / 7.0f;
  for (int i = 0; i < E * H * 2 * I; ++i)
    w13[i] = (float)((i * 3) % 13) / 13.0f - 0.4f;
  for (int i = 0; i < E * I * H; ++i)
    w2[i] = (float)((i * 11) % 17) / 17.0f - 0.5f;

  MoeCompiler *compiler;
  MoeExecutable *exe;
  MoeWorld *world;
  if (moeCompilerCreate(&compiler) != MOE_STATUS_OK)
    return fail("compiler");
  if (moeCompilerCompileSource(compiler, kLayer, (size_t)-1, NULL, &exe) !=
      MOE_STATUS_OK)
    return fail("compile");
  if (moeWorldCreate(exe, 1, NULL, &world) != MOE_STATUS_OK)
    return fail("world");
  MoeBuffer in[4] = {{x, 0, MOE_DTYPE_F32, 2, {T, H}, NULL},
                     {logits, 0, MOE_DTYPE_F32, 2, {T, E}, NULL},
                     {w13, 0, MOE_DTYPE_F32, 3, {E, H, 2 * I}, NULL},
                     {w2, 0, MOE_DTYPE_F32, 3, {E, I, H}, NULL}};
  MoeBuffer out;
  memset(&out, 0, sizeof(out)); // data == NULL: the runtime's storage
  if (moeExecutableRun(exe, world, 0, in, 4, &out, 1) != MOE_STATUS_OK)
    return fail("run");

  float worst = 0;
  for (int t = 0; t < T; ++t) {
    int e = logits[t * E + 1] > logits[t * E] ? 1 : 0;
    const float *a = &w13[e * H * 2 * I], *b = &w2[e * I * H];
    for (int h = 0; h < H; ++h) {
      float y = 0;
      for (int j = 0; j < I; ++j) {
        float g = 0, u = 0;
        for (int k = 0; k < H; ++k) {
          g += x[t * H + k] * a[k * 2 * I + j];
          u += x[t * H + k] * a[k * 2 * I + I + j];
        }
        y += g / (1.0f + expf(-g)) * u * b[j * H + h];
      }
      float d = fabsf(((const float *)out.data)[t * H + h] - y);
      worst = d > worst ? d : worst;
    }
  }
  printf("consumer-c: result %lldx%lld %s\n", (long long)out.shape[0],
         (long long)out.shape[1], worst < 1e-5f ? "matches" : "MISMATCH");
  moeBufferRelease(&out);
  moeWorldDestroy(world);
  moeExecutableDestroy(exe);
  moeCompilerDestroy(compiler);
  return worst < 1e-5f ? 0 : 1;
}
