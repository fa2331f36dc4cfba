// RUN: moe-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(moe-pack-weights))' | FileCheck %s
// RUN: moe-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(moe-pack-weights),moe-outline-load-time)' | FileCheck %s --check-prefix=OUTLINE
// RUN: moe-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(moe-pack-weights))' | moe-opt -split-input-file | FileCheck %s

// Both int8 weight stacks are read only as w8a8 grouped-matmul weights:
// one npu.pack_weights each at the top of the function, on the stream of
// its first reader, and the matmuls read the #npu.packed results. The
// w13 stack has two readers and one pack.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xi8>, %[[G:[^:]+]]: tensor<4xi64>, %[[W13:[^:]+]]: tensor<4x64x32xi8>, %[[W2:[^:]+]]: tensor<4x16x64xi8>,
// CHECK: %[[P13:.+]] = npu.pack_weights %[[W13]] : tensor<4x64x32xi8> -> tensor<4x64x32xi8, #npu.packed>
// CHECK: %[[P2:.+]] = npu.pack_weights %[[W2]] stream(1) : tensor<4x16x64xi8> -> tensor<4x16x64xi8, #npu.packed>
// CHECK: npu.grouped_matmul %[[X]], %[[P13]], %[[G]] {{.+}} w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8, #npu.packed>, tensor<4xi64> -> tensor<?x32xf32>
// CHECK: npu.grouped_matmul %[[X]], %[[P13]], %[[G]] w8a8 count : tensor<?x64xi8>, tensor<4x64x32xi8, #npu.packed>, tensor<4xi64> -> tensor<?x32xi32>
// CHECK: npu.grouped_matmul %{{.+}}, %[[P2]], %[[G]] {{.+}} w8a8 count stream(1) : tensor<?x16xi8>, tensor<4x16x64xi8, #npu.packed>, tensor<4xi64> -> tensor<?x64xf32>
// The load-time function packs them once; the step takes the packed
// stacks as trailing arguments.
// OUTLINE-LABEL: func.func @layer__load
// OUTLINE-SAME: (%[[W13:[^:]+]]: tensor<4x64x32xi8>, %[[W2:[^:]+]]: tensor<4x16x64xi8>) -> (tensor<4x64x32xi8, #npu.packed>, tensor<4x16x64xi8, #npu.packed>)
// OUTLINE: npu.pack_weights %[[W13]]
// OUTLINE: npu.pack_weights %[[W2]]
// OUTLINE-LABEL: func.func @layer
// OUTLINE-SAME: tensor<4x64x32xi8, #npu.packed>, %{{.+}}: tensor<4x16x64xi8, #npu.packed>)
// OUTLINE-SAME: npu.load_args = array<i64: 2, 3>
// OUTLINE-NOT: npu.pack_weights
// OUTLINE: return
func.func @layer(%x: tensor<?x64xi8>, %g: tensor<4xi64>, %w13: tensor<4x64x32xi8>, %w2: tensor<4x16x64xi8>,
                 %s13: tensor<4x32xf32>, %s2: tensor<4x64xf32>, %t: tensor<?xf32>) -> (tensor<?x64xf32>, tensor<?x32xi32>) {
  %h = npu.grouped_matmul %x, %w13, %g scale(%s13 : tensor<4x32xf32>) per_token_scale(%t : tensor<?xf32>) w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xf32>
  %raw = npu.grouped_matmul %x, %w13, %g w8a8 count
      : tensor<?x64xi8>, tensor<4x64x32xi8>, tensor<4xi64> -> tensor<?x32xi32>
  %a = npu.swiglu %h : tensor<?x32xf32> -> tensor<?x16xf32>
  %q, %qs = npu.dynamic_quant %a : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q, %w2, %g scale(%s2 : tensor<4x64xf32>) per_token_scale(%qs : tensor<?xf32>) w8a8 count stream(1)
      : tensor<?x16xi8>, tensor<4x16x64xi8>, tensor<4xi64> -> tensor<?x64xf32>
  return %y, %raw : tensor<?x64xf32>, tensor<?x32xi32>
}

// -----

// Readers in the cases of a run-time method choice share the one pack at
// the top of the function, on the stream of the first reader a pre-order
// walk meets (scf.index_switch's default region is its first).
// CHECK-LABEL: func.func @switch
// CHECK-NEXT: %[[P:.+]] = npu.pack_weights %{{.+}} stream(2) : tensor<2x8x16xi8> -> tensor<2x8x16xi8, #npu.packed>
// CHECK: scf.index_switch
// CHECK: npu.grouped_matmul %{{.+}}, %[[P]], %{{.+}} w8a8 count :
// CHECK: npu.grouped_matmul %{{.+}}, %[[P]], %{{.+}} w8a8 count stream(2)
func.func @switch(%c: index, %x: tensor<?x8xi8>, %g: tensor<2xi64>, %w: tensor<2x8x16xi8>) -> tensor<?x16xi32> {
  %y = scf.index_switch %c -> tensor<?x16xi32>
  case 0 {
    %a = npu.grouped_matmul %x, %w, %g w8a8 count : tensor<?x8xi8>, tensor<2x8x16xi8>, tensor<2xi64> -> tensor<?x16xi32>
    scf.yield %a : tensor<?x16xi32>
  }
  default {
    %b = npu.grouped_matmul %x, %w, %g w8a8 count stream(2) : tensor<?x8xi8>, tensor<2x8x16xi8>, tensor<2xi64> -> tensor<?x16xi32>
    scf.yield %b : tensor<?x16xi32>
  }
  return %y : tensor<?x16xi32>
}

// -----

// f32 stacks read only by grouped matmuls of quant none are packed too
// (the FMA kernels' strips); the shared expert's 2-D weight of npu.matmul
// is not (only npu.grouped_matmul reads a packed weight), and neither is
// an f32 stack that an f32 matmul also reads.
// CHECK-LABEL: func.func @f32
// CHECK-SAME: %[[W:[^:]+]]: tensor<4x64x32xf32>, %[[S:[^:]+]]: tensor<64x32xf32>, %[[O:[^:]+]]: tensor<4x64x32xf32>
// CHECK-NEXT: %[[P:.+]] = npu.pack_weights %[[W]] : tensor<4x64x32xf32> -> tensor<4x64x32xf32, #npu.packed>
// CHECK-NOT: npu.pack_weights
// CHECK: npu.grouped_matmul %{{.+}}, %[[P]], %{{.+}} none count : tensor<?x64xf32>, tensor<4x64x32xf32, #npu.packed>
// CHECK: npu.matmul %{{.+}}, %[[S]] none
// CHECK: npu.grouped_matmul %{{.+}}, %[[O]], %{{.+}} none count : tensor<?x64xf32>, tensor<4x64x32xf32>,
// OUTLINE-LABEL: func.func @f32__load
// OUTLINE-SAME: (%[[W:[^:]+]]: tensor<4x64x32xf32>) -> tensor<4x64x32xf32, #npu.packed>
// OUTLINE: npu.pack_weights %[[W]]
func.func @f32(%x: tensor<?x64xf32>, %g: tensor<4xi64>, %w: tensor<4x64x32xf32>, %s: tensor<64x32xf32>,
               %o: tensor<4x64x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>) {
  %y = npu.grouped_matmul %x, %w, %g none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %z = npu.matmul %x, %s none : tensor<?x64xf32>, tensor<64x32xf32> -> tensor<?x32xf32>
  %v = npu.grouped_matmul %x, %o, %g none count : tensor<?x64xf32>, tensor<4x64x32xf32>, tensor<4xi64> -> tensor<?x32xf32>
  %flat = tensor.collapse_shape %o [[0, 1], [2]] : tensor<4x64x32xf32> into tensor<256x32xf32>
  return %y, %z, %v, %flat : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>
}

// -----

// w4a8: the int4 stack npu.w4a8_process_weights makes is packed right
// after it (and both move into the load-time function); a stack read with
// groups of 6 rows is not (the packed layout is read in quads of rows).
// CHECK-LABEL: func.func @w4a8
// CHECK: %[[W:.+]], %{{.+}}, %{{.+}} = npu.w4a8_process_weights
// CHECK-NEXT: %[[P:.+]] = npu.pack_weights %[[W]] : tensor<2x64x32xi4> -> tensor<2x64x32xi4, #npu.packed>
// CHECK: npu.grouped_matmul %{{.+}}, %[[P]], %{{.+}} w4a8 count
// CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} w4a8 count : tensor<?x12xi8>, tensor<2x12x32xi4>,
// OUTLINE-LABEL: func.func @w4a8__load
// OUTLINE: npu.w4a8_process_weights
// OUTLINE-NEXT: npu.pack_weights
// OUTLINE: return {{.+}} : tensor<2x4x32xf32>, tensor<2x32xf32>, tensor<2x64x32xi4, #npu.packed>
func.func @w4a8(%q: tensor<?x64xi8>, %s: tensor<?xf32>, %g: tensor<2xi64>, %ckpt: tensor<2x32x64xi8>,
                %scale: tensor<2x32x1xf32>, %second: tensor<2x32x4xf32>,
                %q6: tensor<?x12xi8>, %w6: tensor<2x12x32xi4>, %gs6: tensor<2x2x32xf32>, %b6: tensor<2x32xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %w, %m, %b = npu.w4a8_process_weights %ckpt, %scale, %second
      : tensor<2x32x64xi8>, tensor<2x32x1xf32>, tensor<2x32x4xf32> -> tensor<2x64x32xi4>, tensor<2x4x32xf32>, tensor<2x32xf32>
  %h = npu.grouped_matmul %q, %w, %g per_token_scale(%s : tensor<?xf32>) group_scale(%m : tensor<2x4x32xf32>)
      bias(%b : tensor<2x32xf32>) w4a8 count : tensor<?x64xi8>, tensor<2x64x32xi4>, tensor<2xi64> -> tensor<?x32xf32>
  %h6 = npu.grouped_matmul %q6, %w6, %g per_token_scale(%s : tensor<?xf32>) group_scale(%gs6 : tensor<2x2x32xf32>)
      bias(%b6 : tensor<2x32xf32>) w4a8 count : tensor<?x12xi8>, tensor<2x12x32xi4>, tensor<2xi64> -> tensor<?x32xf32>
  return %h, %h6 : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Left alone: a stack some other op also reads (its readers need the
// row-major layout), bf16 and f16 weights (the f32 layout would double
// them), and private functions.
// CHECK-LABEL: func.func @other_reader
// CHECK-NOT: npu.pack_weights
// CHECK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} w8a8 count : tensor<?x8xi8>, tensor<2x8x16xi8>, tensor<2xi64>
// CHECK-LABEL: func.func @half_weights
// CHECK-NOT: npu.pack_weights
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: npu.pack_weights
// CHECK: return
func.func @other_reader(%x: tensor<?x8xi8>, %g: tensor<2xi64>, %w: tensor<2x8x16xi8>) -> (tensor<?x16xi32>, tensor<4x8x16xi8>) {
  %y = npu.grouped_matmul %x, %w, %g w8a8 count : tensor<?x8xi8>, tensor<2x8x16xi8>, tensor<2xi64> -> tensor<?x16xi32>
  %all = npu.all_gather %w ep : tensor<2x8x16xi8> -> tensor<4x8x16xi8>
  return %y, %all : tensor<?x16xi32>, tensor<4x8x16xi8>
}
func.func @half_weights(%x: tensor<?x8xbf16>, %g: tensor<2xi64>, %w: tensor<2x8x16xbf16>, %h: tensor<2x8x16xf16>)
    -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %y = npu.grouped_matmul %x, %w, %g none count : tensor<?x8xbf16>, tensor<2x8x16xbf16>, tensor<2xi64> -> tensor<?x16xf32>
  %z = npu.grouped_matmul %x, %h, %g none count : tensor<?x8xbf16>, tensor<2x8x16xf16>, tensor<2xi64> -> tensor<?x16xf32>
  return %y, %z : tensor<?x16xf32>, tensor<?x16xf32>
}
func.func private @helper(%x: tensor<?x8xi8>, %g: tensor<2xi64>, %w: tensor<2x8x16xi8>) -> tensor<?x16xi32> {
  %y = npu.grouped_matmul %x, %w, %g w8a8 count : tensor<?x8xi8>, tensor<2x8x16xi8>, tensor<2xi64> -> tensor<?x16xi32>
  return %y : tensor<?x16xi32>
}
