//===- moe-capi-quant-test.c - seed 003's quant configs through the C API -===//
//
// Builds each constructor of seed 003 (fp8_w8a8_moe_quant_config, ...) with
// mlirMoeQuantAttrMake or from descriptors, as the seed builds it, and
// prints every query. The CHECK lines hold the values the seed's
// FusedMoEQuantConfig properties give for the same constructor.
//
//===----------------------------------------------------------------------===//

// RUN: moe-capi-quant-test 2>&1 | FileCheck %s

#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/IR.h"
#include "moe-c/Attributes.h"
#include "moe-c/Dialects.h"
#include "moe-c/Support.h"

#include <stdio.h>

static void printString(MlirStringRef s, void *userData) {
  (void)userData;
  fwrite(s.data, 1, s.length, stdout);
}

static void printOptional(const char *label, MlirStringRef s) {
  printf(" %s=", label);
  if (s.length == 0)
    printf("None");
  else
    printf("'%.*s'", (int)s.length, s.data);
}

static void report(MlirContext ctx, const char *name, MlirAttribute q) {
  printf("%s: ", name);
  if (mlirAttributeIsNull(q)) {
    printf("error: %s\n", moeGetLastError());
    return;
  }
  mlirAttributePrint(q, printString, NULL);
  printf("\n%s:", name);
  for (int p = 0; p < MOE_QUANT_PROPERTY_COUNT; ++p)
    printf(" %s=%d", moeQuantPropertyGetName((MoeQuantProperty)p),
           mlirMoeQuantAttrHas(q, (MoeQuantProperty)p));
  printf("\n%s: quant_dtype=%d", name, mlirMoeQuantAttrGetQuantDtype(q));
  int64_t dims[3] = {0, 0, 0};
  if (mlirMoeQuantAttrGetBlockShape(q, dims))
    printf(" block_shape=(%lld, %lld)", (long long)dims[0], (long long)dims[1]);
  else
    printf(" block_shape=None");
  printOptional("ocp_mx_scheme", mlirMoeQuantAttrGetOcpMxScheme(q));
  printOptional("config_name(bf16)", mlirMoeQuantAttrGetConfigName(
                                         q, mlirBF16TypeGet(ctx)));
  printOptional("config_name(f32)", mlirMoeQuantAttrGetConfigName(
                                        q, mlirF32TypeGet(ctx)));
  if (mlirMoeQuantAttrGetScaleShape(q, 8, 300, dims))
    printf(" scale_shape=(%lld, %lld)", (long long)dims[0], (long long)dims[1]);
  else
    printf(" scale_shape=None");
  if (mlirMoeQuantAttrGetBatchedScaleShape(q, 4, 8, 300, dims))
    printf(" batched=(%lld, %lld, %lld)", (long long)dims[0],
           (long long)dims[1], (long long)dims[2]);
  else
    printf(" batched=None");
  printf("\n");
}

static MlirAttribute desc(MlirContext ctx, MoeQuantDtype d, int64_t r,
                          int64_t c) {
  return mlirMoeQuantDescAttrGet(ctx, d, r, c);
}

int main(void) {
  MlirContext ctx = mlirContextCreate();
  mlirDialectHandleRegisterDialect(mlirGetDialectHandle__moe__(), ctx);
  const MoeQuantDtype U = MOE_QUANT_DTYPE_UNSET;
  const int64_t block128[2] = {128, 128};
  MlirAttribute none = {NULL};

  // CHECK-LABEL: fp8_w8a8: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_tensor>, a2 = #moe.qdesc<fp8_e4m3, per_tensor>, w1 = #moe.qdesc<fp8_e4m3>, w2 = #moe.qdesc<fp8_e4m3>>
  // CHECK-NEXT: fp8_w8a8: is_quantized=1 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=1 is_block_quantized=0 use_fp8_w8a8=1 use_int8_w8a8=0 use_int8_w8a16=0 use_int4_w4a16=0 use_int4_w4a8=0 use_mxfp4_w4a16=0 use_mxfp4_w4a4=0 use_nvfp4_w4a4=0
  // CHECK-NEXT: fp8_w8a8: quant_dtype=3 block_shape=None ocp_mx_scheme=None config_name(bf16)='fp8_w8a8' config_name(f32)='fp8_w8a8' scale_shape=(1, 1) batched=(4, 1, 1)
  report(ctx, "fp8_w8a8",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_FP8_E4M3, false, false,
                              NULL, U));

  // CHECK-LABEL: fp8_w8a8_block: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, block [128, 128]>
  // CHECK-NEXT: fp8_w8a8_block: is_quantized=1 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=0 is_block_quantized=1 use_fp8_w8a8=1
  // CHECK-NEXT: fp8_w8a8_block: quant_dtype=3 block_shape=(128, 128) ocp_mx_scheme=None config_name(bf16)='fp8_w8a8' config_name(f32)='fp8_w8a8' scale_shape=(8, 3) batched=(4, 8, 3)
  report(ctx, "fp8_w8a8_block",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_FP8_E4M3, false, false,
                              block128, U));

  // CHECK-LABEL: fp8_w8a8_channel: #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>
  // CHECK-NEXT: fp8_w8a8_channel: is_quantized=1 per_act_token_quant=1 per_out_ch_quant=1 is_per_tensor=0 is_block_quantized=0
  // CHECK-NEXT: fp8_w8a8_channel: quant_dtype=3 block_shape=None ocp_mx_scheme=None config_name(bf16)='fp8_w8a8' config_name(f32)='fp8_w8a8' scale_shape=(8, 1) batched=(4, 8, 1)
  report(ctx, "fp8_w8a8_channel",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_FP8_E4M3, true, true, NULL,
                              U));

  // int8_w8a8_moe_quant_config(per_act_token_quant=False).
  // CHECK-LABEL: int8_w8a8: #moe.quant<a1 = #moe.qdesc<int8, per_tensor>, a2 = #moe.qdesc<int8, per_tensor>, w1 = #moe.qdesc<int8>, w2 = #moe.qdesc<int8>>
  // CHECK-NEXT: int8_w8a8: is_quantized=1 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=1 is_block_quantized=0 use_fp8_w8a8=0 use_int8_w8a8=1 use_int8_w8a16=0
  // CHECK-NEXT: int8_w8a8: quant_dtype=4 block_shape=None ocp_mx_scheme=None config_name(bf16)=None config_name(f32)='float32' scale_shape=(1, 1) batched=(4, 1, 1)
  report(ctx, "int8_w8a8",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_INT8, false, false, NULL,
                              U));

  // int8_w8a16_moe_quant_config(block_shape=[1, 64]): built from descriptors
  // as the seed builds it (the block lives on the weights here).
  // CHECK-LABEL: int8_w8a16: #moe.quant<w1 = #moe.qdesc<int8, block [1, 64]>, w2 = #moe.qdesc<int8, block [1, 64]>>
  // CHECK-NEXT: int8_w8a16: is_quantized=0 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=0 is_block_quantized=1 use_fp8_w8a8=0 use_int8_w8a8=0 use_int8_w8a16=1 use_int4_w4a16=0
  // CHECK-NEXT: int8_w8a16: quant_dtype=-1 block_shape=(1, 64) ocp_mx_scheme=None config_name(bf16)='int8_w8a16' config_name(f32)='int8_w8a16' scale_shape=None batched=None
  MlirAttribute w8 = desc(ctx, MOE_QUANT_DTYPE_INT8, 1, 64);
  report(ctx, "int8_w8a16", mlirMoeQuantAttrGetCustom(ctx, none, none, w8, w8));

  // int4_w4a16_moe_quant_config(block_shape=[1, 128]).
  // CHECK-LABEL: int4_w4a16: #moe.quant<w1 = #moe.qdesc<int4, block [1, 128]>
  // CHECK-NEXT: int4_w4a16: is_quantized=0 {{.*}} is_block_quantized=1 {{.*}} use_int4_w4a16=1 use_int4_w4a8=0
  // CHECK-NEXT: int4_w4a16: quant_dtype=-1 block_shape=(1, 128) ocp_mx_scheme=None config_name(bf16)='int4_w4a16'
  MlirAttribute w4 = desc(ctx, MOE_QUANT_DTYPE_INT4, 1, 128);
  report(ctx, "int4_w4a16", mlirMoeQuantAttrGetCustom(ctx, none, none, w4, w4));

  // mxfp4_w4a16_moe_quant_config().
  // CHECK-LABEL: mxfp4_w4a16: #moe.quant<w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // CHECK-NEXT: mxfp4_w4a16: is_quantized=0 {{.*}} use_mxfp4_w4a16=1 use_mxfp4_w4a4=0 use_nvfp4_w4a4=0
  // CHECK-NEXT: mxfp4_w4a16: quant_dtype=-1 block_shape=None ocp_mx_scheme=None config_name(bf16)=None config_name(f32)='float32' scale_shape=None batched=None
  report(ctx, "mxfp4_w4a16",
         mlirMoeQuantAttrMake(ctx, U, false, false, NULL,
                              MOE_QUANT_DTYPE_MXFP4));

  // ocp_mx_moe_quant_config("mxfp4") and ("mxfp6_e2m3", weight "mxfp4").
  // CHECK-LABEL: ocp_mx_fp4: #moe.quant<a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // CHECK-NEXT: ocp_mx_fp4: is_quantized=1 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=1 is_block_quantized=0 {{.*}} use_mxfp4_w4a16=0 use_mxfp4_w4a4=1 use_nvfp4_w4a4=0
  // CHECK-NEXT: ocp_mx_fp4: quant_dtype=6 block_shape=None ocp_mx_scheme='w_mxfp4_a_mxfp4' config_name(bf16)=None config_name(f32)=None scale_shape=(1, 1)
  report(ctx, "ocp_mx_fp4",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_MXFP4, false, false, NULL,
                              U));
  // CHECK-LABEL: ocp_mx_fp6: #moe.quant<a1 = #moe.qdesc<mxfp6_e2m3>, a2 = #moe.qdesc<mxfp6_e2m3>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>
  // CHECK-NEXT: ocp_mx_fp6: {{.*}} use_mxfp4_w4a4=0
  // CHECK-NEXT: ocp_mx_fp6: quant_dtype=10 block_shape=None ocp_mx_scheme='w_mxfp4_a_mxfp6_e2m3'
  report(ctx, "ocp_mx_fp6",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_MXFP6_E2M3, false, false,
                              NULL, MOE_QUANT_DTYPE_MXFP4));

  // nvfp4_moe_quant_config().
  // CHECK-LABEL: nvfp4: #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>
  // CHECK-NEXT: nvfp4: is_quantized=1 {{.*}} is_per_tensor=1 {{.*}} use_mxfp4_w4a4=0 use_nvfp4_w4a4=1
  // CHECK-NEXT: nvfp4: quant_dtype=7 block_shape=None ocp_mx_scheme=None config_name(bf16)=None config_name(f32)='float32'
  report(ctx, "nvfp4",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_NVFP4, false, false, NULL,
                              U));

  // FUSED_MOE_UNQUANTIZED_CONFIG = make().
  // CHECK-LABEL: unquantized: #moe.quant<none>
  // CHECK-NEXT: unquantized: is_quantized=0 per_act_token_quant=0 per_out_ch_quant=0 is_per_tensor=0 is_block_quantized=0 use_fp8_w8a8=0 use_int8_w8a8=0 use_int8_w8a16=0 use_int4_w4a16=0 use_int4_w4a8=0 use_mxfp4_w4a16=0 use_mxfp4_w4a4=0 use_nvfp4_w4a4=0
  // CHECK-NEXT: unquantized: quant_dtype=-1 block_shape=None ocp_mx_scheme=None config_name(bf16)=None config_name(f32)='float32' scale_shape=None batched=None
  report(ctx, "unquantized", mlirMoeQuantAttrMake(ctx, U, false, false, NULL, U));

  // vllm-ascend's w4a8_dynamic.
  // CHECK-LABEL: w4a8_dynamic: #moe.quant<w4a8_dynamic, group_size = 256>
  // CHECK-NEXT: w4a8_dynamic: is_quantized=1 per_act_token_quant=1 {{.*}} use_int8_w8a8=1 {{.*}} use_int4_w4a8=1
  report(ctx, "w4a8_dynamic",
         mlirMoeQuantAttrGet(ctx, MOE_QUANT_W4A8_DYNAMIC, 256));

  // The seed's assertions, and bad arguments.
  // CHECK: block_and_token: error: {{.*}}a block shape excludes per_act_token_quant and per_out_ch_quant
  report(ctx, "block_and_token",
         mlirMoeQuantAttrMake(ctx, MOE_QUANT_DTYPE_FP8_E4M3, true, false,
                              block128, U));
  // CHECK: bad_dtype: error: invalid quantization dtype 42
  report(ctx, "bad_dtype",
         mlirMoeQuantAttrMake(ctx, (MoeQuantDtype)42, false, false, NULL, U));
  // CHECK: bad property: (null) error: quantization property 13 is not in 0..12
  printf("bad property: %s", moeQuantPropertyGetName(MOE_QUANT_PROPERTY_COUNT) ? "name" : "(null)");
  printf(" error: %s\n", moeGetLastError());
  // CHECK: not a quant: 0 error: expected a #moe.quant attribute
  printf("not a quant: %d", mlirMoeQuantAttrHas(w8, MOE_QUANT_IS_QUANTIZED));
  printf(" error: %s\n", moeGetLastError());

  mlirContextDestroy(ctx);
  return 0;
}
