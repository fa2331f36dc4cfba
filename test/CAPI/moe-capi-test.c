//===- moe-capi-test.c - the moe-mlir C API end to end ---------------------===//
//
// Builds a two-rank MoE layer through the C API (parsed text + the
// attribute builders), compiles it three ways, runs it on a thread world
// with one thread per rank and compares every rank's output with a dense
// computation written here; then the error paths.
//
//===----------------------------------------------------------------------===//

// RUN: moe-capi-test 2>&1 | FileCheck %s

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "moe-c/Attributes.h"
#include "moe-c/Dialects.h"
#include "moe-c/Passes.h"
#include "moe-c/Runtime.h"

#include "capi-test-buffers.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// One expert per rank (expert parallel over dp = 2), top-1, SwiGLU experts
// with H = 4 and I = 2. The module's attributes (%s) are printed from the
// attribute builders.
static const char *kLayer =
    "module attributes {%s} {\n"
    "  func.func @moe_layer(\n"
    "      %x: tensor<?x4xf32> {moe.name = \"x\"},\n"
    "      %logits: tensor<?x2xf32> {moe.name = \"logits\"},\n"
    "      %w13: tensor<1x4x4xf32> {moe.name = \"w13\"},\n"
    "      %w2: tensor<1x2x4xf32> {moe.name = \"w2\"}) -> tensor<?x4xf32> {\n"
    "    %h, %l, %pctx = moe.prepare %x, %logits\n"
    "        : tensor<?x4xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>\n"
    "    %wt, %ids = moe.gate %l top_k(1) softmax renormalize\n"
    "        : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>\n"
    "    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(2)\n"
    "        : tensor<?x4xf32>, tensor<?x1xf32>, tensor<?x1xi32>\n"
    "        -> tensor<1xi64>, !moe.dispatch_ctx<unset>\n"
    "    %y = moe.experts %rows, %counts\n"
    "        weights(%w13, %w2 : tensor<1x4x4xf32>, tensor<1x2x4xf32>)\n"
    "        : tensor<?x4xf32>, tensor<1xi64>\n"
    "    %r = moe.combine %y, %dctx : tensor<?x4xf32>, "
    "!moe.dispatch_ctx<unset>\n"
    "    %out = moe.finalize %r, %pctx : tensor<?x4xf32>, "
    "!moe.prepare_ctx<unset>\n"
    "    return %out : tensor<?x4xf32>\n"
    "  }\n"
    "}\n";

enum { H = 4, I = 2, E = 2, kMaxTokens = 8 };
static const int64_t kTokens[E] = {3, 2}; // tokens of rank 0 and rank 1

// Per-rank data, 64-byte aligned so the runtime reads it in place.
typedef struct Rank {
  _Alignas(64) float x[kMaxTokens * H];
  _Alignas(64) float logits[kMaxTokens * E];
  _Alignas(64) float w13[H * 2 * I]; // this rank's expert: [1, H, 2I]
  _Alignas(64) float w2[I * H];      // [1, I, H]
  float expected[kMaxTokens * H];
  float out[kMaxTokens * H];
} Rank;
static Rank ranks[E];

static float next(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return (float)((*seed >> 8) % 1000) / 1000.0f - 0.5f;
}

static void makeData(void) {
  unsigned seed = 7;
  for (int r = 0; r < E; ++r) {
    Rank *k = &ranks[r];
    for (int i = 0; i < kTokens[r] * H; ++i)
      k->x[i] = next(&seed);
    for (int i = 0; i < kTokens[r] * E; ++i)
      k->logits[i] = next(&seed);
    for (int i = 0; i < H * 2 * I; ++i)
      k->w13[i] = next(&seed);
    for (int i = 0; i < I * H; ++i)
      k->w2[i] = next(&seed);
  }
  // Dense reference: token t goes to its top-1 expert e (ties: lower id),
  // weight 1 after renormalization; expert e lives on rank e.
  for (int r = 0; r < E; ++r)
    for (int t = 0; t < kTokens[r]; ++t) {
      const float *x = &ranks[r].x[t * H], *l = &ranks[r].logits[t * E];
      const Rank *owner = &ranks[l[1] > l[0] ? 1 : 0];
      float act[I];
      for (int j = 0; j < I; ++j) {
        float gate = 0, up = 0;
        for (int h = 0; h < H; ++h) {
          gate += x[h] * owner->w13[h * 2 * I + j];
          up += x[h] * owner->w13[h * 2 * I + I + j];
        }
        act[j] = gate / (1.0f + expf(-gate)) * up;
      }
      for (int h = 0; h < H; ++h) {
        float y = 0;
        for (int j = 0; j < I; ++j)
          y += act[j] * owner->w2[j * H + h];
        ranks[r].expected[t * H + h] = y;
      }
    }
}

typedef struct Job {
  const MoeExecutable *exe;
  MoeWorld *world;
  int rank;
  int64_t xCols;      // H, or a wrong width for the error case
  size_t outCapacity; // bytes of the caller buffer; 0: runtime-owned
  MoeStatus status;
  char error[512];
  int ok; // output matches the reference
  int load; // moeExecutableLoad instead of moeExecutableRun
} Job;

static void *runRank(void *arg) {
  Job *job = (Job *)arg;
  Rank *k = &ranks[job->rank];
  int64_t t = kTokens[job->rank];
  MoeBuffer in[4] = {describeBuffer(k->x, MOE_DTYPE_F32, 2, t, job->xCols, 0),
                     describeBuffer(k->logits, MOE_DTYPE_F32, 2, t, E, 0),
                     describeBuffer(k->w13, MOE_DTYPE_F32, 3, 1, H, 2 * I),
                     describeBuffer(k->w2, MOE_DTYPE_F32, 3, 1, I, H)};
  if (job->load) {
    job->status = moeExecutableLoad(job->exe, job->world, job->rank, in, 4);
    snprintf(job->error, sizeof(job->error), "%s", moeGetLastError());
    job->ok = job->status == MOE_STATUS_OK;
    return NULL;
  }
  MoeBuffer out = describeBuffer(job->outCapacity ? k->out : NULL, 0, 0, 0, 0, 0);
  out.capacity = job->outCapacity;
  job->status =
      moeExecutableRun(job->exe, job->world, job->rank, in, 4, &out, 1);
  snprintf(job->error, sizeof(job->error), "%s", moeGetLastError());
  job->ok = 0;
  if (job->status == MOE_STATUS_OK && out.rank == 2 && out.shape[0] == t &&
      out.shape[1] == H && out.dtype == MOE_DTYPE_F32) {
    const float *got = (const float *)out.data;
    job->ok = 1;
    for (int i = 0; i < t * H; ++i)
      if (fabsf(got[i] - k->expected[i]) > 1e-5f)
        job->ok = 0;
  } else if (job->status == MOE_STATUS_BUFFER_TOO_SMALL) {
    snprintf(job->error + strlen(job->error),
             sizeof(job->error) - strlen(job->error),
             " [needed rank %d: %lldx%lld]", out.rank, (long long)out.shape[0],
             (long long)out.shape[1]);
  }
  moeBufferRelease(&out);
  return NULL;
}

// Runs both ranks, one thread each, and prints each rank's outcome.
static void runOrLoadWorld(const char *label, const MoeExecutable *exe,
                           MoeWorld *world, int64_t xCols0,
                           size_t outCapacity0, int load) {
  Job jobs[E];
  pthread_t threads[E];
  for (int r = 0; r < E; ++r) {
    Job j = {exe,           world, r, r == 0 ? xCols0 : H,
             r == 0 ? outCapacity0 : 0,
             MOE_STATUS_OK, "",    0, load};
    jobs[r] = j;
    pthread_create(&threads[r], NULL, runRank, &jobs[r]);
  }
  for (int r = 0; r < E; ++r)
    pthread_join(threads[r], NULL);
  for (int r = 0; r < E; ++r) {
    if (jobs[r].status == MOE_STATUS_OK)
      printf("%s: rank %d %s\n", label, r, jobs[r].ok ? "matches" : "MISMATCH");
    else
      printf("%s: rank %d status %d: %s\n", label, r, jobs[r].status,
             jobs[r].error);
  }
}

static void runWorld(const char *label, const MoeExecutable *exe,
                     MoeWorld *world, int64_t xCols0, size_t outCapacity0) {
  runOrLoadWorld(label, exe, world, xCols0, outCapacity0, 0);
}

static void printString(MlirStringRef s, void *unused) {
  (void)unused;
  fwrite(s.data, 1, s.length, stdout);
}

typedef struct Text {
  char data[8192];
  size_t length;
} Text;

static void appendText(MlirStringRef s, void *userData) {
  Text *text = (Text *)userData;
  if (text->length + s.length < sizeof(text->data)) {
    memcpy(text->data + text->length, s.data, s.length);
    text->length += s.length;
  }
}

static void printAttr(const char *label, MlirAttribute a) {
  printf("%s: ", label);
  if (mlirAttributeIsNull(a))
    printf("null (%s)", moeGetLastError());
  else
    mlirAttributePrint(a, printString, NULL);
  printf("\n");
}

static MoeExecutable *compileWith(MoeCompiler *compiler, MlirModule module,
                                  const char *policy, const char *method) {
  MoeCompileOptions *options = NULL;
  if (moeCompileOptionsCreate(&options) != MOE_STATUS_OK ||
      (policy && moeCompileOptionsSet(options, "policy", policy)) ||
      (method && moeCompileOptionsSet(options, "method", method))) {
    printf("options: %s\n", moeGetLastError());
    moeCompileOptionsDestroy(options);
    return NULL;
  }
  MoeExecutable *exe = NULL;
  if (moeCompilerCompileModule(compiler, module, options, &exe) !=
      MOE_STATUS_OK)
    printf("compile failed: %s\n", moeGetLastError());
  moeCompileOptionsDestroy(options);
  return exe;
}

static void runGood(const char *label, const MoeExecutable *exe) {
  MoeWorld *world = NULL;
  if (moeWorldCreate(exe, 2, NULL, &world) != MOE_STATUS_OK) {
    printf("%s: world: %s\n", label, moeGetLastError());
    return;
  }
  // Rank 0 receives into its own buffer, rank 1 takes the runtime's.
  runWorld(label, exe, world, H, sizeof(ranks[0].out));
  moeWorldDestroy(world);
}

int main(void) {
  makeData();
  printf("version compatible: %d\n",
         moeIsApiVersionCompatible(MOE_C_API_VERSION));
  // CHECK: version compatible: 1

  MoeCompiler *compiler = NULL;
  if (moeCompilerCreate(&compiler) != MOE_STATUS_OK)
    return 1;
  MlirContext ctx = moeCompilerGetContext(compiler);
  MlirStringRef ns =
      mlirDialectHandleGetNamespace(mlirGetDialectHandle__moe__());
  printf("dialect: %.*s\n", (int)ns.length, ns.data);
  // CHECK: dialect: moe

  // Attribute builders and queries.
  MlirAttribute layout = mlirMoeLayoutAttrGet(ctx, 1, 2, 1, true, false);
  printAttr("layout", layout);
  printf("world %lld ep %lld moe-tp %lld\n",
         (long long)mlirMoeLayoutAttrGetWorldSize(layout),
         (long long)mlirMoeLayoutAttrGetEpSize(layout),
         (long long)mlirMoeLayoutAttrGetMoeTpSize(layout));
  // CHECK: layout: #moe.layout<tp = 1, dp = 2, expert_parallel = true>
  // CHECK: world 2 ep 2 moe-tp 1
  MlirAttribute pcpLayout = mlirMoeLayoutAttrGetWithPcp(ctx, 2, 2, 1, 2, true, false);
  printAttr("pcp layout", pcpLayout);
  printf("pcp %lld world %lld\n",
         (long long)mlirMoeLayoutAttrGetPcp(pcpLayout),
         (long long)mlirMoeLayoutAttrGetWorldSize(pcpLayout));
  // CHECK: pcp layout: #moe.layout<tp = 2, dp = 2, expert_parallel = true, pcp = 2>
  // CHECK: pcp 2 world 8
  printAttr("bad pcp", mlirMoeLayoutAttrGetWithPcp(ctx, 1, 1, 1, 0, false, false));
  // CHECK: bad pcp: null ({{.*}}pcp{{.*}})
  MlirAttribute sharedLayout = mlirMoeLayoutAttrWithSharedExpertRanks(pcpLayout, 2);
  printAttr("shared-expert ranks", sharedLayout);
  printf("shared %lld routed %lld\n",
         (long long)mlirMoeLayoutAttrGetSharedExpertRanks(sharedLayout),
         (long long)mlirMoeLayoutAttrGetRoutedEpSize(sharedLayout));
  // CHECK: shared-expert ranks: #moe.layout<tp = 2, dp = 2, expert_parallel = true, pcp = 2, shared_expert_ranks = 2>
  // CHECK: shared 2 routed 6
  printAttr("bad shared", mlirMoeLayoutAttrWithSharedExpertRanks(pcpLayout, 3));
  // CHECK: bad shared: null ({{.*}}shared_expert_ranks = 3 must divide the 8 expert-parallel ranks{{.*}})
  MlirAttribute chip = mlirMoeChipAttrGet(ctx, MOE_CHIP_A3, 0, 0, 0);
  printAttr("chip", chip);
  printf("mc2 capacity %lld\n", (long long)mlirMoeChipAttrGetMc2Capacity(chip));
  // CHECK: chip: #moe.chip<A3>
  // CHECK: mc2 capacity 512
  printAttr("custom chip", mlirMoeChipAttrGet(ctx, MOE_CHIP_A2, 128, 25.0, 0));
  // CHECK: custom chip: #moe.chip<A2, mc2_capacity = 128, link_gbps = 2.5{{0*}}e+01>
  printf("chip v2 %d hierarchical %d\n", mlirMoeChipAttrGetDispatchV2(chip),
         mlirMoeChipAttrGetHierarchicalComm(chip));
  // CHECK: chip v2 1 hierarchical 0
  MlirAttribute a2v1 = mlirMoeChipAttrGetWithMc2Options(ctx, MOE_CHIP_A2, 0, 0,
                                                        0, false, true);
  printAttr("a2 v1 hierarchical", a2v1);
  printf("a2 v2 %d hierarchical %d\n", mlirMoeChipAttrGetDispatchV2(a2v1),
         mlirMoeChipAttrGetHierarchicalComm(a2v1));
  // CHECK: a2 v1 hierarchical: #moe.chip<A2, dispatch_v2 = false, hierarchical_comm = true>
  // CHECK: a2 v2 0 hierarchical 1
  printAttr("bad hierarchical", mlirMoeChipAttrGetWithMc2Options(
                                    ctx, MOE_CHIP_A3, 0, 0, 0, true, true));
  // CHECK: bad hierarchical: null (hierarchical_comm is an A2 setting, the chip is A3)
  MlirAttribute quant = mlirMoeQuantAttrGet(ctx, MOE_QUANT_W4A8_DYNAMIC, 128);
  printAttr("quant", quant);
  printf("scheme %d group %lld\n", mlirMoeQuantAttrGetScheme(quant),
         (long long)mlirMoeQuantAttrGetGroupSize(quant));
  // CHECK: quant: #moe.quant<w4a8_dynamic, group_size = 128>
  // CHECK: scheme 2 group 128
  MlirType dctx = mlirMoeDispatchCtxTypeGet(ctx, MOE_COMM_METHOD_MC2);
  printf("dispatch ctx method: %s\n",
         moeCommMethodGetName(mlirMoeDispatchCtxTypeGetMethod(dctx)));
  // CHECK: dispatch ctx method: mc2
  MlirType mctx = mlirMoePrepareCtxTypeGet(ctx, MOE_COMM_METHOD_MOGE);
  printf("prepare ctx method: %s\n",
         moeCommMethodGetName(mlirMoePrepareCtxTypeGetMethod(mctx)));
  // CHECK: prepare ctx method: moge
  printAttr("bad layout", mlirMoeLayoutAttrGet(ctx, 0, 2, 1, false, false));
  // CHECK: bad layout: null (layout sizes must be at least 1, got tp = 0, dp = 2, pp = 1)
  printAttr("bad quant", mlirMoeQuantAttrGet(ctx, MOE_QUANT_W4A8_DYNAMIC, 0));
  // CHECK: bad quant: null ({{.+}})
  printf("query on a chip: %lld (%s)\n",
         (long long)mlirMoeLayoutAttrGetTp(chip), moeGetLastError());
  // CHECK: query on a chip: 0 (expected a #moe.layout attribute)

  // The layer: its text with the deployment attributes the builders made.
  Text attrs = {"", 0}, text = {"", 0};
  appendText(mlirStringRefCreateFromCString("moe.layout = "), &attrs);
  mlirAttributePrint(layout, appendText, &attrs);
  appendText(mlirStringRefCreateFromCString(", moe.chip = "), &attrs);
  mlirAttributePrint(chip, appendText, &attrs);
  const char *hole = strstr(kLayer, "%s"); // not a printf format: %x, ...
  appendText(mlirStringRefCreate(kLayer, (size_t)(hole - kLayer)), &text);
  appendText(mlirStringRefCreate(attrs.data, attrs.length), &text);
  appendText(mlirStringRefCreateFromCString(hole + 2), &text);
  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreate(text.data, text.length));
  if (mlirModuleIsNull(module))
    return 1;
  MlirOperation moduleOp = mlirModuleGetOperation(module);
  printAttr("looked-up layout", mlirMoeLookupLayout(moduleOp));
  printAttr("looked-up chip", mlirMoeLookupChip(moduleOp));
  // CHECK: looked-up layout: #moe.layout<tp = 1, dp = 2, expert_parallel = true>
  // CHECK: looked-up chip: #moe.chip<A3>

  // The pass C API: select the method of a copy with the pass pipeline.
  mlirMoeRegisterAllPasses();
  MlirModule copy = mlirModuleFromOperation(mlirOperationClone(moduleOp));
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirLogicalResult parsed = mlirParsePassPipeline(
      mlirPassManagerGetAsOpPassManager(pm),
      mlirStringRefCreateFromCString("builtin.module(func.func(moe-select-comm-"
                                     "method{policy=fixed method=alltoall}))"),
      printString, NULL);
  MlirLogicalResult ran =
      mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(copy));
  printf("pass pipeline: parsed %d ran %d\n",
         mlirLogicalResultIsSuccess(parsed), mlirLogicalResultIsSuccess(ran));
  // CHECK: pass pipeline: parsed 1 ran 1
  mlirOperationPrint(mlirModuleGetOperation(copy), printString, NULL);
  printf("\n");
  // CHECK: !moe.dispatch_ctx<alltoall>
  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(copy);

  // Compile: options set by name (table policy; fixed mc2) on the module,
  // and a textual pipeline on the text.
  MoeExecutable *table = compileWith(compiler, module, NULL, NULL);
  MoeExecutable *mc2 = compileWith(compiler, module, "fixed", "mc2");
  MoeCompileOptions *textual = NULL;
  moeCompileOptionsCreate(&textual);
  moeCompileOptionsSetPipeline(
      textual, "moe-compile{policy=fixed method=allgather multistream=false}");
  MoeExecutable *allgather = NULL;
  if (moeCompilerCompileSource(compiler, text.data, text.length, textual,
                               &allgather) != MOE_STATUS_OK)
    printf("compile failed: %s\n", moeGetLastError());
  if (!table || !mc2 || !allgather)
    return 1;

  // CHECK: arguments: x tensor<?x4xf32>, logits tensor<?x2xf32>, w13 tensor<1x4x4xf32>, w2 tensor<1x2x4xf32>
  printf("arguments:");
  for (int64_t i = 0; i < moeExecutableGetNumArguments(table); ++i) {
    MoeTensorInfo info;
    moeExecutableGetArgument(table, i, &info);
    printf("%s %s %s", i ? "," : "", info.name, info.type);
  }
  MoeTensorInfo result;
  moeExecutableGetResult(table, 0, &result);
  printf("\nresult: %s rank %d dims %lld %lld\n", moeDTypeGetName(result.dtype),
         result.rank, (long long)result.shape[0], (long long)result.shape[1]);
  // CHECK: result: f32 rank 2 dims -1 4
  MoeLayout l;
  moeExecutableGetLayout(table, &l);
  printf("executable layout: world %lld ep %lld\n", (long long)l.worldSize,
         (long long)l.epSize);
  // CHECK: executable layout: world 2 ep 2

  runGood("table", table);
  runGood("mc2", mc2);
  runGood("allgather", allgather);
  // CHECK: table: rank 0 matches
  // CHECK: table: rank 1 matches
  // CHECK: mc2: rank 0 matches
  // CHECK: mc2: rank 1 matches
  // CHECK: allgather: rank 0 matches
  // CHECK: allgather: rank 1 matches

  // Load time (API 2.2): load every rank, calibrate, then run.
  {
    MoeWorld *loaded = NULL;
    moeWorldCreate(allgather, 2, NULL, &loaded);
    runOrLoadWorld("load", allgather, loaded, H, 0, 1);
    int64_t planned = -1;
    MoeStatus cs = moeExecutableCalibrate(allgather, loaded, 8, &planned);
    printf("calibrate: status %d planned %s\n", cs,
           planned >= 0 ? "ok" : "unset");
    runWorld("after load", allgather, loaded, H, sizeof(ranks[0].out));
    cs = moeExecutableCalibrate(allgather, loaded, -1, NULL);
    printf("calibrate -1: status %d: %s\n", cs, moeGetLastError());
    cs = moeExecutableCalibrate(NULL, loaded, 1, NULL);
    printf("calibrate null: status %d: %s\n", cs, moeGetLastError());
    cs = moeExecutableLoad(allgather, NULL, 0, NULL, 0);
    printf("load null: status %d: %s\n", cs, moeGetLastError());
    cs = moeExecutableLoad(allgather, loaded, 2, NULL, 0);
    printf("load rank 2: status %d: %s\n", cs, moeGetLastError());
    cs = moeExecutableLoad(allgather, loaded, 0, NULL, 4);
    printf("load no inputs: status %d: %s\n", cs, moeGetLastError());
    // A wrong input fails the load, and the world with it.
    runOrLoadWorld("bad load", allgather, loaded, 5, 0, 1);
    moeWorldDestroy(loaded);
  }
  // CHECK: load: rank 0 matches
  // CHECK: load: rank 1 matches
  // CHECK: calibrate: status 0 planned ok
  // CHECK: after load: rank 0 matches
  // CHECK: after load: rank 1 matches
  // CHECK: calibrate -1: status 1: calibrate: maxTokensPerRank must not be negative, got -1
  // CHECK: calibrate null: status 1: moeExecutableCalibrate: null executable or world
  // CHECK: load null: status 1: moeExecutableLoad: null executable or world
  // CHECK: load rank 2: status 1: rank 2 is not a rank of the world (2 ranks)
  // CHECK: load no inputs: status 1: rank 0: invalid input array
  // CHECK: bad load: rank 0 status 1: rank 0: input 'x' is tensor<3x5xf32> but the argument is tensor<?x4xf32>

  // Errors.
  MoeExecutable *bad = NULL;
  MoeStatus s;
  moeCompileOptionsSetPipeline(textual, "moe-compile{policy=fixed method=mc2");
  s = moeCompilerCompileModule(compiler, module, textual, &bad);
  printf("bad pipeline: status %d: %s\n", s, moeGetLastError());
  // CHECK: bad pipeline: status 2: {{.*}}bad pipeline 'moe-compile{policy=fixed method=mc2'
  s = moeCompilerCompileSource(compiler, "module {\n  func.func @f(\n",
                               (size_t)-1, NULL, &bad);
  printf("parse error: status %d: %s\n", s, moeGetLastError());
  // CHECK: parse error: status 2: <source>:{{[0-9]+}}:{{[0-9]+}}: error:
  MoeWorld *world = NULL;
  s = moeWorldCreate(table, 3, NULL, &world);
  printf("3 ranks: status %d: %s\n", s, moeGetLastError());
  // CHECK: 3 ranks: status 1: a world of 3 ranks does not match the layout's tp * dp = 2 (tp 1, dp 2, expert parallel)
  MoeWorldOptions wo;
  moeWorldOptionsInit(&wo);
  wo.timeoutSeconds = 30;
  moeWorldCreate(table, 2, &wo, &world);
  s = moeExecutableRun(table, world, 2, NULL, 0, NULL, 0);
  printf("rank 2: status %d: %s; world failed %d\n", s, moeGetLastError(),
         moeWorldHasFailed(world));
  // CHECK: rank 2: status 1: rank 2 is not a rank of the world (2 ranks); world failed 0
  // Rank 0 passes x with 5 columns: it fails, and rank 1 fails with it.
  runWorld("wrong shape", table, world, 5, sizeof(ranks[0].out));
  // CHECK: wrong shape: rank 0 status 1: rank 0: input 'x' is tensor<3x5xf32> but the argument is tensor<?x4xf32>
  // CHECK: wrong shape: rank 1 status 3: {{.*}}rank 0 failed: input 'x' is tensor<3x5xf32>
  printf("world failed %d\n", moeWorldHasFailed(world));
  // CHECK: world failed 1
  // The NaN/Inf switch (API 1.1): a null world is an invalid argument.
  s = moeWorldSetCheckFinite(NULL, false);
  printf("check-finite null: status %d: %s\n", s, moeGetLastError());
  // CHECK: check-finite null: status 1: moeWorldSetCheckFinite: null world
  printf("check-finite off: status %d\n", moeWorldSetCheckFinite(world, false));
  // CHECK: check-finite off: status 0
  moeWorldDestroy(world);
  moeWorldCreate(table, 2, NULL, &world);
  runWorld("small buffer", table, world, H, 16);
  // CHECK: small buffer: rank 0 status 4: rank 0: result 0 (tensor<3x4xf32>) needs 48 bytes, its buffer holds 16 [needed rank 2: 3x4]
  // CHECK: small buffer: rank 1 matches
  moeWorldDestroy(world);

  // Sizes computed from a caller's shape never wrap (issue 14): 2^60 + 1
  // rows of 4 f32 are 2^64 + 16 bytes, which wrapped to 16, passed the
  // capacity check of a 128-byte buffer and let the run read past it.
  printf("bytes of INT64_MAX f32: %s\n",
         moeDTypeStorageBytes(MOE_DTYPE_F32, INT64_MAX) == SIZE_MAX
             ? "SIZE_MAX"
             : "wrapped");
  // CHECK: bytes of INT64_MAX f32: SIZE_MAX
  {
    MoeBuffer wraps = describeBuffer(ranks[0].x, MOE_DTYPE_F32, 2,
                             1152921504606846977LL, H, 0);
    wraps.capacity = sizeof(ranks[0].x);
    MoeBuffer tooMany = describeBuffer(ranks[0].x, MOE_DTYPE_F32, 2,
                               4611686018427387906LL, 2, 0);
    printf("elements: %lld and %lld\n",
           (long long)moeBufferNumElements(&wraps),
           (long long)moeBufferNumElements(&tooMany));
    // CHECK: elements: 4611686018427387908 and -1
    MoeBuffer in[4] = {wraps,
                       describeBuffer(ranks[0].logits, MOE_DTYPE_F32, 2, 1, E, 0),
                       describeBuffer(ranks[0].w13, MOE_DTYPE_F32, 3, 1, H, 2 * I),
                       describeBuffer(ranks[0].w2, MOE_DTYPE_F32, 3, 1, I, H)};
    MoeBuffer out = describeBuffer(NULL, 0, 0, 0, 0, 0);
    moeWorldCreate(table, 2, NULL, &world);
    s = moeExecutableRun(table, world, 0, in, 4, &out, 1);
    printf("wrapping input: status %d: %s\n", s, moeGetLastError());
    // CHECK: wrapping input: status 1: rank 0: input 0 has shape [1152921504606846977x4]: a negative dimension, or more than 2^63 - 1 bytes
    moeBufferRelease(&out);
    moeWorldDestroy(world);
  }
  s = moeExecutableRun(NULL, NULL, 0, NULL, 0, NULL, 0);
  printf("null executable: status %d: %s\n", s, moeGetLastError());
  // CHECK: null executable: status 1: moeExecutableRun: null executable or world

  moeCompileOptionsDestroy(textual);
  moeExecutableDestroy(table);
  moeExecutableDestroy(mc2);
  moeExecutableDestroy(allgather);
  mlirModuleDestroy(module);
  moeCompilerDestroy(compiler);
  printf("done\n");
  // CHECK: done
  return 0;
}
