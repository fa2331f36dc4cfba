// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic moe.experts gives packed fp4 weights (mxfp4 /
// nvfp4: [L, K / 2, N] i8 bytes, docs/Quantization.md, "mxfp4 and nvfp4").
// H = 64, I = 32, L = 2. The other moe.experts rules: invalid.mlir.

func.func @fp4_unpacked_k(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x64x64xi8>, %w2: tensor<2x16x64xi8>) {
  // expected-error @+1 {{'moe.experts' op w13 reduces over 128 (two fp4 values per byte) but the hidden size is 64}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x64x64xi8>, tensor<2x16x64xi8>) quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_w2_k(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x32x64xi8>) {
  // expected-error @+1 {{'moe.experts' op w2 reduces over 64 (two fp4 values per byte) but the intermediate size is 32}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x32x64xi8>) quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_element(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xf8E4M3FN>, %w2: tensor<2x16x64xf8E4M3FN>) {
  // expected-error @+1 {{'moe.experts' op weights quantized as nvfp4 must have element type 'i8', got 'f8E4M3FN'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xf8E4M3FN>, tensor<2x16x64xf8E4M3FN>) quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_blocks(%r: tensor<?x48xf32>, %c: tensor<2xi64>, %w13: tensor<2x24x64xi8>, %w2: tensor<2x16x48xi8>) {
  // expected-error @+1 {{'moe.experts' op mxfp4 blocks of 32 must divide the hidden size 48 and the intermediate size 32}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x24x64xi8>, tensor<2x16x48xi8>) quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x48xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_mx_scale(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>, %s13: tensor<2x2x64xf32>, %s2: tensor<2x1x64xi8>) {
  // expected-error @+1 {{'moe.experts' op w13 scale must be 'tensor<2x2x64xi8>' (one e8m0 byte per 32 values along K), got 'tensor<2x2x64xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>) scales(%s13, %s2 : tensor<2x2x64xf32>, tensor<2x1x64xi8>) quant <a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_nv_scale(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>, %s13: tensor<2x4x64xf8E4M3FN>, %s2: tensor<2x1x64xf8E4M3FN>) {
  // expected-error @+1 {{'moe.experts' op w2 scale must be 'tensor<2x2x64xf8E4M3FN>' (one e4m3 per 16 values along K), got 'tensor<2x1x64xf8E4M3FN>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>) scales(%s13, %s2 : tensor<2x4x64xf8E4M3FN>, tensor<2x1x64xf8E4M3FN>) quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_nv_global(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>, %s13: tensor<2x4x64xf8E4M3FN>, %s2: tensor<2x2x64xf8E4M3FN>, %g13: tensor<2x1xf32>, %g2: tensor<2x1xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 global scale must be 'tensor<2xf32>', got 'tensor<2x1xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>) scales(%s13, %s2 : tensor<2x4x64xf8E4M3FN>, tensor<2x2x64xf8E4M3FN>) group_scales(%g13, %g2 : tensor<2x1xf32>, tensor<2x1xf32>) quant <a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_mx_group_scales(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>, %g13: tensor<2xf32>, %g2: tensor<2xf32>) {
  // expected-error @+1 {{'moe.experts' op mxfp4 weights take their e8m0 scales in scales(...) and no group scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>) group_scales(%g13, %g2 : tensor<2xf32>, tensor<2xf32>) quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}

// -----

func.func @fp4_biases(%r: tensor<?x64xf32>, %c: tensor<2xi64>, %w13: tensor<2x32x64xi8>, %w2: tensor<2x16x64xi8>, %b13: tensor<2x64xf32>, %b2: tensor<2x64xf32>) {
  // expected-error @+1 {{'moe.experts' op mxfp4 weights take no biases}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x32x64xi8>, tensor<2x16x64xi8>) biases(%b13, %b2 : tensor<2x64xf32>, tensor<2x64xf32>) quant <w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>> : tensor<?x64xf32>, tensor<2xi64>
  return
}
