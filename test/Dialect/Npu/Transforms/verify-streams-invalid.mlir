// RUN: moe-opt %s -split-input-file -verify-diagnostics -allow-unregistered-dialect --moe-verify-streams

// Every diagnostic of moe-verify-streams: races (an error at the use, a note
// at the producer) and the constructs it cannot analyse.

// A value of the main stream used on stream 1 without any event.
func.func @no_event(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x : tensor<?x8xf32>
  // expected-error @below {{value produced on stream 0 is used on stream 1 without an event ordering them}}
  %b = npu.add %a, %a stream(1) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// -----

// Recorded, never waited for.
func.func @record_without_wait(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %b = npu.add %a, %x : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// -----

// The event was recorded before the producer was issued.
func.func @event_too_early(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %z = npu.add %x, %x : tensor<?x8xf32>
  %e = npu.record stream(0)
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x : tensor<?x8xf32>
  npu.wait %e stream(1)
  // expected-error @below {{value produced on stream 0 is used on stream 1 without an event ordering them}}
  %b = npu.add %a, %a stream(1) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// -----

// The wait is on another stream than the user's.
func.func @wrong_stream_waits(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e = npu.record stream(0)
  npu.wait %e stream(2)
  // expected-error @below {{value produced on stream 0 is used on stream 1 without an event ordering them}}
  %b = npu.add %a, %a stream(1) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// -----

// A -> B -> C broken: stream 1 recorded before it waited for stream 0.
func.func @broken_chain(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e0 = npu.record stream(0)
  %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e1 = npu.record stream(1)
  npu.wait %e0 stream(1)
  npu.wait %e1 stream(2)
  // expected-error @below {{value produced on stream 0 is used on stream 2 without an event ordering them}}
  %c = npu.add %a, %a stream(2) : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// One op using unordered values of two streams: one error per stream.
func.func @two_producers(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  // expected-note @below {{produced here}}
  %b = npu.add %x, %x stream(2) : tensor<?x8xf32>
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  // expected-error @below {{value produced on stream 2 is used on stream 0 without an event ordering them}}
  %c = npu.add %a, %b : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// A tensor computed on the host from a device value may alias its buffer:
// the cast does not order anything.
func.func @through_a_cast(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %c = tensor.cast %a : tensor<?x8xf32> to tensor<4x8xf32>
  %d = tensor.cast %c : tensor<4x8xf32> to tensor<?x8xf32>
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %b = npu.add %d, %x : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// -----

// A race inside one case only.
func.func @race_in_one_case(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    npu.wait %e stream(0)
    %b = npu.add %a, %a : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  default {
    // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
    %b = npu.add %a, %x : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  return %r : tensor<?x8xf32>
}

// -----

// A switch result produced on stream 1 that the main stream waited for on
// one path only.
func.func @switch_result_waited_once(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %e = npu.record stream(1)
    npu.wait %e stream(0)
    scf.yield %b : tensor<?x8xf32>
  }
  default {
    // expected-note @below {{produced here}}
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %c = npu.add %r, %x : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// scf.if without else: the wait may not run.
func.func @wait_in_if_only(%x: tensor<?x8xf32>, %cond: i1) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  scf.if %cond {
    npu.wait %e stream(0)
  }
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %c = npu.add %a, %a : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// A scheduled layer (moe-schedule-multistream, allgather dp, w8a8 shared
// experts) whose main stream does not wait for the shared experts.
func.func @missing_shared_wait(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %ready = npu.record stream(0)
  npu.wait %ready stream(1)
  %xg = npu.all_gather %xp dp stream(1) : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %gathered = npu.record stream(1)
  %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
  %e1 = npu.record stream(0)
  npu.wait %e1 stream(2)
  %sq, %sqs = npu.dynamic_quant %x stream(2) : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  npu.wait %gathered stream(0)
  %e2 = npu.record stream(0)
  npu.wait %e2 stream(2)
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 stream(2)
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
  %e3 = npu.record stream(0)
  npu.wait %e3 stream(2)
  %sa = npu.swiglu %sh stream(2) : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa stream(2) : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
  %e4 = npu.record stream(0)
  npu.wait %e4 stream(2)
  // expected-note @below {{produced here}}
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 stream(2)
      : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %done = npu.record stream(2)
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %rs = npu.reduce_scatter %out dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rs to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  // expected-error @below {{value produced on stream 2 is used on stream 0 without an event ordering them}}
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// -----

// The same layer whose main stream does not wait for the gathered rows.
func.func @missing_gather_wait(%x: tensor<?x64xbf16>, %logits: tensor<?x16xf32>,
    %w13: tensor<8x64x32xi8>, %s13: tensor<8x32xf32>, %w2: tensor<8x16x64xi8>, %s2: tensor<8x64xf32>,
    %sw13: tensor<64x32xi8>, %ss13: tensor<32xf32>, %sw2: tensor<16x64xi8>, %ss2: tensor<64xf32>) -> tensor<?x64xbf16> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %T = tensor.dim %x, %c0 : tensor<?x64xbf16>
  %maxT = npu.all_reduce_scalar %T max dp
  %xp = npu.pad_rows %x to %maxT : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %lp = npu.pad_rows %logits to %maxT : tensor<?x16xf32> -> tensor<?x16xf32>
  %ready = npu.record stream(0)
  npu.wait %ready stream(1)
  // expected-note @below {{produced here}}
  %xg = npu.all_gather %xp dp stream(1) : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %gathered = npu.record stream(1)
  %lg = npu.all_gather %lp dp : tensor<?x16xf32> -> tensor<?x16xf32>
  %e1 = npu.record stream(0)
  npu.wait %e1 stream(2)
  %sq, %sqs = npu.dynamic_quant %x stream(2) : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %w, %ids = npu.moe_gating_top_k %lg k(4) softmax renormalize : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %r = npu.group_rank ep
  %start = arith.muli %r, %c8 : index
  %e2 = npu.record stream(0)
  npu.wait %e2 stream(2)
  %sh = npu.matmul %sq, %sw13 scale(%ss13 : tensor<32xf32>) per_token_scale(%sqs : tensor<?xf32>) w8a8 stream(2)
      : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %rows, %ridx, %counts = npu.moe_init_routing %xg, %ids range(%start, 8) experts(16) quant_mode(-1) count
      : tensor<?x64xbf16>, tensor<?x4xi32> -> tensor<?x64xbf16>, tensor<?xi32>, tensor<8xi64>
  %q, %s = npu.dynamic_quant %rows : tensor<?x64xbf16> -> tensor<?x64xi8>, tensor<?xf32>
  %h = npu.grouped_matmul %q, %w13, %counts w8a8 count : tensor<?x64xi8>, tensor<8x64x32xi8>, tensor<8xi64> -> tensor<?x32xi32>
  %e3 = npu.record stream(0)
  npu.wait %e3 stream(2)
  %sa = npu.swiglu %sh stream(2) : tensor<?x32xf32> -> tensor<?x16xf32>
  %sq2, %sqs2 = npu.dynamic_quant %sa stream(2) : tensor<?x16xf32> -> tensor<?x16xi8>, tensor<?xf32>
  %q2, %s2b = npu.dequant_swiglu_quant %h, %s13, %s, %counts count
      : tensor<?x32xi32>, tensor<8x32xf32>, tensor<?xf32>, tensor<8xi64> -> tensor<?x16xi8>, tensor<?xf32>
  %y = npu.grouped_matmul %q2, %w2, %counts scale(%s2 : tensor<8x64xf32>) per_token_scale(%s2b : tensor<?xf32>) w8a8 count
      : tensor<?x16xi8>, tensor<8x16x64xi8>, tensor<8xi64> -> tensor<?x64xbf16>
  %e4 = npu.record stream(0)
  npu.wait %e4 stream(2)
  %so = npu.matmul %sq2, %sw2 scale(%ss2 : tensor<64xf32>) per_token_scale(%sqs2 : tensor<?xf32>) w8a8 stream(2)
      : tensor<?x16xi8>, tensor<16x64xi8> -> tensor<?x64xbf16>
  %done = npu.record stream(2)
  %out = npu.moe_token_unpermute %y, %ridx probs(%w : tensor<?x4xf32>) : tensor<?x64xbf16>, tensor<?xi32> -> tensor<?x64xbf16>
  %rs = npu.reduce_scatter %out dp : tensor<?x64xbf16> -> tensor<?x64xbf16>
  %o = npu.slice_rows %rs to %T : tensor<?x64xbf16> -> tensor<?x64xbf16>
  npu.wait %done stream(0)
  %res = npu.add %o, %so : tensor<?x64xbf16>
  return %res : tensor<?x64xbf16>
}

// -----

// Loops would need a fixed point.
func.func @device_ops_in_loop(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  // expected-error @below {{cannot order streams inside 'scf.for': device ops, records and waits are only analysed in scf.index_switch and scf.if regions}}
  %r = scf.for %iv = %c0 to %c4 step %c1 iter_args(%acc = %x) -> tensor<?x8xf32> {
    %b = npu.add %acc, %acc stream(1) : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  return %r : tensor<?x8xf32>
}

// -----

// Program order is a sequence only in single-block regions.
// expected-error @below {{cannot order streams in a region with several blocks}}
func.func @several_blocks(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  "test.br"()[^next] : () -> ()
^next:
  return %a : tensor<?x8xf32>
}
