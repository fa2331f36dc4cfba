// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic about packed weights: npu.pack_weights's
// verifier, the Npu_PackedWhereRead trait of every npu op, and
// npu.grouped_matmul's quantization. The other npu ops: invalid.mlir.

// The result must carry the packed encoding.
func.func @plain_result(%w: tensor<4x64x32xi8>) {
  // expected-error @+1 {{'npu.pack_weights' op packs a plain weight into a #npu.packed one, got 'tensor<4x64x32xi8>' -> 'tensor<4x64x32xi8>'}}
  %p = npu.pack_weights %w : tensor<4x64x32xi8> -> tensor<4x64x32xi8>
  return
}

// -----

// A packed weight is not packed again.
func.func @packed_twice(%w: tensor<4x64x32xi8, #npu.packed>) {
  // expected-error @+1 {{'npu.pack_weights' op takes a packed tensor (#npu.packed) as operand 0: only npu.grouped_matmul's weight may be packed}}
  %p = npu.pack_weights %w : tensor<4x64x32xi8, #npu.packed> -> tensor<4x64x32xi8, #npu.packed>
  return
}

// -----

func.func @other_type(%w: tensor<4x64x32xi8>) {
  // expected-error @+1 {{'npu.pack_weights' op keeps the element type, got 'tensor<4x64x32xi8>' -> 'tensor<4x64x32xi4, #npu.packed>'}}
  %p = npu.pack_weights %w : tensor<4x64x32xi8> -> tensor<4x64x32xi4, #npu.packed>
  return
}

// -----

// The shape is kept, and static.
func.func @other_shape(%w: tensor<4x64x32xi8>) {
  // expected-error @+1 {{'npu.pack_weights' op the packed weight keeps the weight's static shape, got 'tensor<4x64x32xi8>' -> 'tensor<4x32x64xi8, #npu.packed>'}}
  %p = npu.pack_weights %w : tensor<4x64x32xi8> -> tensor<4x32x64xi8, #npu.packed>
  return
}

// -----

func.func @dynamic_shape(%w: tensor<?x64x32xi8>) {
  // expected-error @+1 {{'npu.pack_weights' op the packed weight keeps the weight's static shape, got 'tensor<?x64x32xi8>' -> 'tensor<?x64x32xi8, #npu.packed>'}}
  %p = npu.pack_weights %w : tensor<?x64x32xi8> -> tensor<?x64x32xi8, #npu.packed>
  return
}

// -----

// Only f32, int8 and int4 weight stacks are packed, keeping their type.
func.func @bf16_weight(%w: tensor<4x64x32xbf16>) {
  // expected-error @+1 {{'npu.pack_weights' op operand #0 must be 3D tensor of 32-bit float or 8-bit signless integer or 4-bit signless integer values}}
  %p = npu.pack_weights %w : tensor<4x64x32xbf16> -> tensor<4x64x32xbf16, #npu.packed>
  return
}

// -----

// Only npu.grouped_matmul reads a packed tensor, and only as its weight.
func.func @matmul_reads_packed(%x: tensor<?x64xi8>, %w: tensor<64x32xi8, #npu.packed>) {
  // expected-error @+1 {{'npu.matmul' op takes a packed tensor (#npu.packed) as operand 1: only npu.grouped_matmul's weight may be packed}}
  %y = npu.matmul %x, %w w8a8 : tensor<?x64xi8>, tensor<64x32xi8, #npu.packed> -> tensor<?x32xi32>
  return
}

// -----

func.func @packed_activations(%x: tensor<?x64xi8, #npu.packed>, %w: tensor<4x64x32xi8>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op takes a packed tensor (#npu.packed) as operand 0: only npu.grouped_matmul's weight may be packed}}
  %y = npu.grouped_matmul %x, %w, %g w8a8 count
      : tensor<?x64xi8, #npu.packed>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  return
}

// -----

// No other op makes one.
func.func @gather_makes_packed(%w: tensor<2x8x16xi8>) {
  // expected-error @+1 {{'npu.all_gather' op makes a packed tensor (#npu.packed): only npu.pack_weights does}}
  %all = npu.all_gather %w ep : tensor<2x8x16xi8> -> tensor<4x8x16xi8, #npu.packed>
  return
}

// -----

// A packed weight is f32 read with quant none, or int8 / int4 read by
// the int8 engine: an int8 weight read as floats is not.
func.func @packed_int8_none(%x: tensor<?x64xf32>, %w: tensor<4x64x32xi8, #npu.packed>, %g: tensor<4xi64>) {
  // expected-error @+1 {{'npu.grouped_matmul' op a packed weight (#npu.packed) is taken only by npu.grouped_matmul: f32 with quant none, w8a8 or w4a8}}
  %y = npu.grouped_matmul %x, %w, %g none count
      : tensor<?x64xf32>, tensor<4x64x32xi8, #npu.packed>, tensor<4xi64> -> tensor<?x32xf32>
  return
}

// -----

// A packed int4 weight is read in quads of rows: groups of 6 are not.
func.func @packed_w4a8_group(%x: tensor<?x12xi8>, %w: tensor<4x12x32xi4, #npu.packed>, %g: tensor<4xi64>,
                             %gs: tensor<4x2x32xf32>, %b: tensor<4x32xf32>, %s: tensor<?xf32>) {
  // expected-error @+1 {{'npu.grouped_matmul' op a packed weight (#npu.packed) is read in quads of rows: the group size must be a multiple of 4, got 6}}
  %y = npu.grouped_matmul %x, %w, %g per_token_scale(%s : tensor<?xf32>) group_scale(%gs : tensor<4x2x32xf32>)
      bias(%b : tensor<4x32xf32>) w4a8 count
      : tensor<?x12xi8>, tensor<4x12x32xi4, #npu.packed>, tensor<4xi64> -> tensor<?x32xf32>
  return
}
