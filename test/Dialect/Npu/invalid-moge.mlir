// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of npu.moge_dispatch and npu.moge_combine (seed
// 002 TokenDispatcherWithMoge) and of balanced npu.moe_gating_top_k. The
// other npu ops: invalid.mlir.

// ids must have x's tokens.
func.func @moge_ids_tokens(%x: tensor<6x64xf32>, %ids: tensor<5x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of ids (5) does not match dimension 0 of x (6)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<6x64xf32>, tensor<5x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// weights must have the ids' tokens.
func.func @moge_weights_tokens(%x: tensor<?x64xf32>, %ids: tensor<6x4xi32>, %w: tensor<5x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of weights (5) does not match dimension 0 of ids (6)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<6x4xi32>, tensor<5x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// weights must have the ids' k.
func.func @moge_weights_k(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x2xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 1 of weights (2) does not match dimension 1 of ids (4)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// rows keep x's element type and hidden size.
func.func @moge_rows_type(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op result 'tensor<?x32xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x32xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// one sorted id per row.
func.func @moge_sorted_rows(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of sorted_ids (7) does not match dimension 0 of rows (8)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<8x64xf32>, tensor<7xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// one scale per row.
func.func @moge_scales_rows(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of topk_scales (7) does not match dimension 0 of rows (8)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<8x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<7x1xf32>
  return
}

// -----

// topk_scales is a column.
func.func @moge_scales_column(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 1 of topk_scales must be 1, got 2}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x2xf32>
  return
}

// -----

// one group-list entry per local expert.
func.func @moge_group_list(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of group_list must be 8, got 4}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<4xi64>, tensor<?x1xf32>
  return
}

// -----

// k_per_rank (top_k / ep) must divide top_k.
func.func @moge_k_per_rank(%x: tensor<?x64xf32>, %ids: tensor<?x4xi32>, %w: tensor<?x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op k_per_rank 3 must divide the 4 experts of every token (top_k / ep)}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(3) cumsum
      : tensor<?x64xf32>, tensor<?x4xi32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// T * k_per_rank rows.
func.func @moge_rows_count(%x: tensor<6x64xf32>, %ids: tensor<6x4xi32>, %w: tensor<6x4xf32>, %start: index) {
  // expected-error @+1 {{'npu.moge_dispatch' op dimension 0 of rows must be 12, got 10}}
  %r, %s, %g, %c = npu.moge_dispatch %x, %ids, %w range(%start, 8) k_per_rank(2) cumsum
      : tensor<6x64xf32>, tensor<6x4xi32>, tensor<6x4xf32> -> tensor<10x64xf32>, tensor<?xi32>, tensor<8xi64>, tensor<?x1xf32>
  return
}

// -----

// one sorted id per row.
func.func @moge_combine_sorted(%y: tensor<8x64xf32>, %s: tensor<7xi32>) {
  // expected-error @+1 {{'npu.moge_combine' op dimension 0 of sorted_ids (7) does not match dimension 0 of rows (8)}}
  %o = npu.moge_combine %y, %s k_per_rank(2) : tensor<8x64xf32>, tensor<7xi32> -> tensor<?x64xf32>
  return
}

// -----

// the result keeps the rows' element type and hidden size.
func.func @moge_combine_type(%y: tensor<?x64xf32>, %s: tensor<?xi32>) {
  // expected-error @+1 {{'npu.moge_combine' op result 'tensor<?x32xf32>' must keep the element type and trailing dimensions of 'tensor<?x64xf32>'}}
  %o = npu.moge_combine %y, %s k_per_rank(2) : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x32xf32>
  return
}

// -----

// rows must be whole tokens.
func.func @moge_combine_whole(%y: tensor<7x64xf32>, %s: tensor<?xi32>) {
  // expected-error @+1 {{'npu.moge_combine' op 7 rows are not a whole number of tokens with k_per_rank 2}}
  %o = npu.moge_combine %y, %s k_per_rank(2) : tensor<7x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return
}

// -----

// N / k_per_rank tokens.
func.func @moge_combine_tokens(%y: tensor<8x64xf32>, %s: tensor<?xi32>) {
  // expected-error @+1 {{'npu.moge_combine' op dimension 0 of result must be 4, got 3}}
  %o = npu.moge_combine %y, %s k_per_rank(2) : tensor<8x64xf32>, tensor<?xi32> -> tensor<3x64xf32>
  return
}

// -----

// balanced gating keeps every group (the rule shared with moe.gate).
func.func @gating_balanced(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{'npu.moe_gating_top_k' op balanced routing keeps every group: topk_group must equal the 4 groups, got 2}}
  %w, %ids = npu.moe_gating_top_k %l k(4) softmax groups(4, 2) balanced : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}
