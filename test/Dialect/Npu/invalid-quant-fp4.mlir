// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the fp4 formats (mxfp4, nvfp4) in
// npu.quant_dequant, npu.dequantize_weights and npu.dequantize_fp4_weights
// (docs/Quantization.md, "mxfp4 and nvfp4"). The fp8 / int8 cases:
// invalid-quant-formats.mlir.

func.func @qd_mx_group(%x: tensor<?x64xbf16>) {
  // expected-error @+1 {{'npu.quant_dequant' op mxfp4 quantizes blocks of 32 columns: group_size must be 32, got 16}}
  %a = npu.quant_dequant %x mxfp4 group_size(16) : tensor<?x64xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @qd_nv_group(%x: tensor<?x64xbf16>) {
  // expected-error @+1 {{'npu.quant_dequant' op nvfp4 quantizes blocks of 16 columns: group_size must be 16, got 0}}
  %a = npu.quant_dequant %x nvfp4 group_size(0) : tensor<?x64xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @dw_packed(%w: tensor<2x32x16xi8>, %s: tensor<2x1x16xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op packed mxfp4 weights are dequantized by npu.dequantize_fp4_weights}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x16xf32>) mxfp4 block(32, 1) : tensor<2x32x16xi8> -> tensor<2x32x16xf32>
  return
}

// -----

func.func @fp4_format(%w: tensor<2x32x16xi8>, %s: tensor<2x2x16xi8>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op takes mxfp4 or nvfp4, got int8 (npu.dequantize_weights reads it)}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x2x16xi8>) int8 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}

// -----

func.func @fp4_rank(%w: tensor<32x16xi8>, %s: tensor<2x2x16xi8>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op weight must be a static packed [L, K / 2, N], got 'tensor<32x16xi8>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x2x16xi8>) mxfp4 : tensor<32x16xi8> -> tensor<64x16xf32>
  return
}

// -----

func.func @fp4_result(%w: tensor<2x32x16xi8>, %s: tensor<2x2x16xi8>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op result must be [L, K, N] = [2x64x16] (two elements per weight byte), got 'tensor<2x32x16xf32>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x2x16xi8>) mxfp4 : tensor<2x32x16xi8> -> tensor<2x32x16xf32>
  return
}

// -----

func.func @fp4_block(%w: tensor<2x8x16xi8>, %s: tensor<2x1x16xi8>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op mxfp4 blocks of 32 do not divide K = 16}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x1x16xi8>) mxfp4 : tensor<2x8x16xi8> -> tensor<2x16x16xf32>
  return
}

// -----

func.func @fp4_mx_scale(%w: tensor<2x32x16xi8>, %s: tensor<2x4x16xi8>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op mxfp4 scale must be 'tensor<2x2x16xi8>' (one e8m0 byte per 32 rows), got 'tensor<2x4x16xi8>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x4x16xi8>) mxfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}

// -----

func.func @fp4_nv_scale(%w: tensor<2x32x16xi8>, %s: tensor<2x4x16xi8>, %g: tensor<2xf32>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op nvfp4 scale must be 'tensor<2x4x16xf8E4M3FN>' (one e4m3 per 16 rows), got 'tensor<2x4x16xi8>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x4x16xi8>) global(%g : tensor<2xf32>) nvfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}

// -----

func.func @fp4_mx_global(%w: tensor<2x32x16xi8>, %s: tensor<2x2x16xi8>, %g: tensor<2xf32>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op mxfp4 takes no global scale}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x2x16xi8>) global(%g : tensor<2xf32>) mxfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}

// -----

func.func @fp4_nv_no_global(%w: tensor<2x32x16xi8>, %s: tensor<2x4x16xf8E4M3FN>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op nvfp4 needs a global scale 'tensor<2xf32>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x4x16xf8E4M3FN>) nvfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}

// -----

func.func @fp4_nv_global(%w: tensor<2x32x16xi8>, %s: tensor<2x4x16xf8E4M3FN>, %g: tensor<2x1xf32>) {
  // expected-error @+1 {{'npu.dequantize_fp4_weights' op nvfp4 global scale must be 'tensor<2xf32>' (one per expert), got 'tensor<2x1xf32>'}}
  %d = npu.dequantize_fp4_weights %w scale(%s : tensor<2x4x16xf8E4M3FN>) global(%g : tensor<2x1xf32>) nvfp4 : tensor<2x32x16xi8> -> tensor<2x64x16xf32>
  return
}
