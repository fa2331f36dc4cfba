// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of npu.quant_dequant and npu.dequantize_weights
// (the fp8 / int8 descriptor schemes, docs/Quantization.md). The other npu
// ops: invalid.mlir.

func.func @qd_shape(%x: tensor<?x64xbf16>) {
  // expected-error @+1 {{'npu.quant_dequant' op result must have x's shape 'tensor<?x64xbf16>', got 'tensor<?x32xf32>'}}
  %a = npu.quant_dequant %x fp8_e4m3 group_size(0) : tensor<?x64xbf16> -> tensor<?x32xf32>
  return
}

// -----

func.func @qd_int8(%x: tensor<?x64xbf16>) {
  // expected-error @+1 {{'npu.quant_dequant' op int8 activations are quantized by npu.dynamic_quant; quant_dequant takes fp8 and fp4 formats}}
  %a = npu.quant_dequant %x int8 group_size(0) : tensor<?x64xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @qd_dynamic(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{'npu.quant_dequant' op a group_size needs a static row length, got 'tensor<?x?xf32>'}}
  %a = npu.quant_dequant %x fp8_e5m2 group_size(16) : tensor<?x?xf32> -> tensor<?x?xf32>
  return
}

// -----

func.func @qd_group(%x: tensor<?x64xf16>) {
  // expected-error @+1 {{'npu.quant_dequant' op group_size 48 does not divide the row length 64}}
  %a = npu.quant_dequant %x fp8_e4m3 group_size(48) : tensor<?x64xf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @dw_storage(%w: tensor<2x64x32xi8>, %s: tensor<2x1x32xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op fp8_e4m3 weights are stored as 'f8E4M3FN', got 'i8'}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x32xf32>) fp8_e4m3 block(64, 1) : tensor<2x64x32xi8> -> tensor<2x64x32xf32>
  return
}

// -----

func.func @dw_rank(%w: tensor<64x32xf8E5M2>, %s: tensor<2x1x32xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op weight must be a static [L, K, N], got 'tensor<64x32xf8E5M2>'}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x32xf32>) fp8_e5m2 block(64, 1) : tensor<64x32xf8E5M2> -> tensor<64x32xf32>
  return
}

// -----

func.func @dw_result(%w: tensor<2x64x32xi8>, %s: tensor<2x1x32xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op result must have the weight's shape, got 'tensor<2x32x64xbf16>'}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x32xf32>) int8 block(64, 1) : tensor<2x64x32xi8> -> tensor<2x32x64xbf16>
  return
}

// -----

func.func @dw_tile(%w: tensor<2x64x32xi8>, %s: tensor<2x1x32xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op block (48, 1) does not tile the weight's [K, N] = [64, 32]}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x32xf32>) int8 block(48, 1) : tensor<2x64x32xi8> -> tensor<2x64x32xf32>
  return
}

// -----

func.func @dw_scale(%w: tensor<2x64x32xf8E4M3FN>, %s: tensor<2x1x32xf32>) {
  // expected-error @+1 {{'npu.dequantize_weights' op scale must be [2x2x1] (one per block), got 'tensor<2x1x32xf32>'}}
  %d = npu.dequantize_weights %w scale(%s : tensor<2x1x32xf32>) fp8_e4m3 block(32, 32) : tensor<2x64x32xf8E4M3FN> -> tensor<2x64x32xf32>
  return
}
