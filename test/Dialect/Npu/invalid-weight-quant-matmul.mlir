// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of npu.weight_quant_matmul (the weight-only matmul
// of the w4a8 shared experts). The other npu ops: invalid.mlir.

// The result keeps the activations' float type.
func.func @result_type(%x: tensor<?x64xbf16>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op failed to verify that all of {x, result} have same element type}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xf32>
  return
}

// -----

// Activations are float (int8 activations are npu.matmul's w8a8 / w4a8).
func.func @int8_x(%x: tensor<?x64xi8>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op operand #0 must be 2D tensor of 32-bit float or bfloat16 type or 16-bit float values}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x64xi8>, tensor<64x32xi4> -> tensor<?x32xi8>
  return
}

// -----

// The weights are int4.
func.func @i8_weight(%x: tensor<?x64xf32>, %w: tensor<64x32xi8>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op operand #1 must be 2D tensor of 4-bit signless integer values}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x64xf32>, tensor<64x32xi8> -> tensor<?x32xf32>
  return
}

// -----

// The antiquant scales are f32 (cast to x's type by the op).
func.func @bf16_scale(%x: tensor<?x64xbf16>, %w: tensor<64x32xi4>, %s: tensor<4x32xbf16>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op operand #2 must be 2D tensor of 32-bit float values}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xbf16>) group_size(16)
      : tensor<?x64xbf16>, tensor<64x32xi4> -> tensor<?x32xbf16>
  return
}

// -----

// The group size is positive.
func.func @zero_group(%x: tensor<?x64xf32>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op attribute 'group_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(0)
      : tensor<?x64xf32>, tensor<64x32xi4> -> tensor<?x32xf32>
  return
}

// -----

// Weights and scales are static.
func.func @dynamic_weight(%x: tensor<?x64xf32>, %w: tensor<64x?xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op weight and antiquant_scale need static shapes}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x64xf32>, tensor<64x?xi4> -> tensor<?x32xf32>
  return
}

// -----

// x reduces over the weight's rows.
func.func @reduced_dim(%x: tensor<?x48xf32>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op dimension 1 of x (48) does not match dimension 0 of weight (64)}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x48xf32>, tensor<64x32xi4> -> tensor<?x32xf32>
  return
}

// -----

// One result row per row of x.
func.func @rows(%x: tensor<8x64xf32>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op dimension 0 of result (6) does not match dimension 0 of x (8)}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<8x64xf32>, tensor<64x32xi4> -> tensor<6x32xf32>
  return
}

// -----

// One result column per output channel.
func.func @columns(%x: tensor<?x64xf32>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op dimension 1 of result must be 32, got 16}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(16)
      : tensor<?x64xf32>, tensor<64x32xi4> -> tensor<?x16xf32>
  return
}

// -----

// The groups tile K.
func.func @group_divides(%x: tensor<?x64xf32>, %w: tensor<64x32xi4>, %s: tensor<4x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op group_size 24 must divide the reduced dimension K = 64}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<4x32xf32>) group_size(24)
      : tensor<?x64xf32>, tensor<64x32xi4> -> tensor<?x32xf32>
  return
}

// -----

// One scale per group and output channel.
func.func @scale_shape(%x: tensor<?x64xf32>, %w: tensor<64x32xi4>, %s: tensor<2x32xf32>) {
  // expected-error @+1 {{'npu.weight_quant_matmul' op antiquant_scale must be [4x32] (one scale per group of 16 reduced rows and output channel), got 'tensor<2x32xf32>'}}
  %y = npu.weight_quant_matmul %x, %w antiquant_scale(%s : tensor<2x32xf32>) group_size(16)
      : tensor<?x64xf32>, tensor<64x32xi4> -> tensor<?x32xf32>
  return
}
