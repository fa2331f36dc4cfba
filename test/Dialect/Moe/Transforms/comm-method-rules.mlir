// RUN: moe-opt %s -mlir-disable-threading -split-input-file -test-comm-method-rules -verify-diagnostics

// Conformance of the selection table and the MC2 capacity with vllm-ascend
// (SEMANTICS §2; notes §1.1 and §2.1 of the newest select_moe_comm_method and
// set_mc2_tokens_capacity). Every expected answer is worked out by hand from
// those rules, not taken from the implementation:
//
//   capacity = min(ceil(base / tp), clamp) * tp
//   base     = max_num_batched_tokens (prefill-mc2, or MegaMoE in use),
//              else max_graph_size if > 0, else max_num_reqs * decode_query_len
//   clamp    = 512 (plain MC2, dispatch_ffn_combine), 4096 (MegaMoE)
//   dispatch_v2 (fused MC2 configured) = min(ceil(decode base / tp), 512) * tp
//
// Defaults: max_num_reqs 256, decode_query_len 1, max_num_batched_tokens
// 8192, top_k 8, experts 256, H 7168. Each case is a function carrying
// test.case; the remark is "capacity C[, dispatch_v2 D]; <method>: <why>".

//===----------------------------------------------------------------------===//
// A3: tokens <= capacity -> mc2, else alltoall (EP group size = dp * tp)
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // base 256, tp 1: capacity 256; 256 <= 256.
  // expected-remark @+1 {{capacity 256; mc2: A3, 16 EP ranks, 256 tokens <= MC2 capacity 256}}
  func.func private @a3_at_capacity() attributes {test.case = {tokens = 256}}
  // expected-remark @+1 {{capacity 256; alltoall: A3, 16 EP ranks, 257 tokens > MC2 capacity 256}}
  func.func private @a3_above_capacity() attributes {test.case = {tokens = 257}}
  // Zero tokens (an empty step) is within any capacity.
  // expected-remark @+1 {{capacity 256; mc2: A3, 16 EP ranks, 0 tokens <= MC2 capacity 256}}
  func.func private @a3_empty() attributes {test.case = {tokens = 0}}

  // Rounding with tp 6: ceil(100 / 6) = 17 per rank, 17 * 6 = 102.
  // expected-remark @+1 {{capacity 102; mc2: A3, 12 EP ranks, 102 tokens <= MC2 capacity 102}}
  func.func private @a3_tp6_at() attributes {moe.layout = #moe.layout<tp = 6, dp = 2, expert_parallel = true>,
      test.case = {tokens = 102, max_num_reqs = 100}}
  // expected-remark @+1 {{capacity 102; alltoall: A3, 12 EP ranks, 103 tokens > MC2 capacity 102}}
  func.func private @a3_tp6_above() attributes {moe.layout = #moe.layout<tp = 6, dp = 2, expert_parallel = true>,
      test.case = {tokens = 103, max_num_reqs = 100}}
  // Rounding with tp 8: ceil(100 / 8) = 13 per rank, 13 * 8 = 104.
  // expected-remark @+1 {{capacity 104; mc2: A3, 16 EP ranks, 104 tokens <= MC2 capacity 104}}
  func.func private @a3_tp8_at() attributes {moe.layout = #moe.layout<tp = 8, dp = 2, expert_parallel = true>,
      test.case = {tokens = 104, max_num_reqs = 100}}
  // expected-remark @+1 {{capacity 104; alltoall: A3, 16 EP ranks, 105 tokens > MC2 capacity 104}}
  func.func private @a3_tp8_above() attributes {moe.layout = #moe.layout<tp = 8, dp = 2, expert_parallel = true>,
      test.case = {tokens = 105, max_num_reqs = 100}}

  // Prefill MC2, tp 6: ceil(8192 / 6) = 1366, clamped to 512, * 6 = 3072.
  // expected-remark @+1 {{capacity 3072; mc2: A3, 6 EP ranks, 3072 tokens <= MC2 capacity 3072}}
  func.func private @a3_prefill_tp6_at() attributes {moe.layout = #moe.layout<tp = 6, dp = 1, expert_parallel = true>,
      test.case = {tokens = 3072, prefill_mc2}}
  // expected-remark @+1 {{capacity 3072; alltoall: A3, 6 EP ranks, 3073 tokens > MC2 capacity 3072}}
  func.func private @a3_prefill_tp6_above() attributes {moe.layout = #moe.layout<tp = 6, dp = 1, expert_parallel = true>,
      test.case = {tokens = 3073, prefill_mc2}}
  // Prefill MC2, tp 8: 8192 / 8 = 1024, clamped to 512, * 8 = 4096.
  // expected-remark @+1 {{capacity 4096; mc2: A3, 8 EP ranks, 4096 tokens <= MC2 capacity 4096}}
  func.func private @a3_prefill_tp8() attributes {moe.layout = #moe.layout<tp = 8, dp = 1, expert_parallel = true>,
      test.case = {tokens = 4096, prefill_mc2}}
  // Prefill MC2 with tp 1: min(8192, 512) = 512.
  // expected-remark @+1 {{capacity 512; alltoall: A3, 16 EP ranks, 513 tokens > MC2 capacity 512}}
  func.func private @a3_prefill_tp1() attributes {test.case = {tokens = 513, prefill_mc2, max_graph_size = 64}}

  // A captured graph size wins over max_num_reqs: ceil(50 / 6) = 9, * 6 = 54.
  // expected-remark @+1 {{capacity 54; mc2: A3, 6 EP ranks, 54 tokens <= MC2 capacity 54}}
  func.func private @a3_graph_tp6() attributes {moe.layout = #moe.layout<tp = 6, dp = 1, expert_parallel = true>,
      test.case = {tokens = 54, max_graph_size = 50, max_num_reqs = 300}}
  // 48 / 8 = 6, * 8 = 48.
  // expected-remark @+1 {{capacity 48; alltoall: A3, 8 EP ranks, 49 tokens > MC2 capacity 48}}
  func.func private @a3_graph_tp8() attributes {moe.layout = #moe.layout<tp = 8, dp = 1, expert_parallel = true>,
      test.case = {tokens = 49, max_graph_size = 48}}
  // Speculative decoding: 300 requests * 2 tokens = 600, clamped to 512.
  // expected-remark @+1 {{capacity 512; mc2: A3, 16 EP ranks, 512 tokens <= MC2 capacity 512}}
  func.func private @a3_spec_at() attributes {test.case = {tokens = 512, max_num_reqs = 300, decode_query_len = 2}}
  // expected-remark @+1 {{capacity 512; alltoall: A3, 16 EP ranks, 513 tokens > MC2 capacity 512}}
  func.func private @a3_spec_above() attributes {test.case = {tokens = 513, max_num_reqs = 300, decode_query_len = 2}}
  // Pipeline stages do not enter the A3 rule (EP group = dp * tp).
  // expected-remark @+1 {{capacity 256; mc2: A3, 16 EP ranks, 64 tokens <= MC2 capacity 256}}
  func.func private @a3_pp() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, pp = 4, expert_parallel = true>,
      test.case = {tokens = 64}}
}

// -----

//===----------------------------------------------------------------------===//
// A3 fused MC2: dispatch_ffn_combine up to EP 32, MegaMoE up to EP 64, up
// to the fused capacity (the kernel is npu.dispatch_ffn_combine, which
// accepts the chip's mc2_capacity rows per rank: MegaMoE's 4096 clamp
// becomes 512) and for unquantized or w8a8 experts only; otherwise plain MC2
// against the dispatch_v2 capacity.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3>} {
  // EP 32 <= 32: fused_mc2 up to its capacity ...
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; fused_mc2: A3, 32 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 256 tokens <= fused MC2 capacity 256}}
  func.func private @fused_ep32_at() attributes {moe.layout = #moe.layout<tp = 1, dp = 32, expert_parallel = true>,
      test.case = {tokens = 256, fused_mc2}}
  // ... not above (it was picked at any count, and npu.dispatch_ffn_combine
  // failed at run time): alltoall far above every capacity.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; alltoall: A3, 32 EP ranks, no fused_mc2: 100000 tokens > fused MC2 capacity 256, 100000 tokens > MC2 capacity 256}}
  func.func private @fused_ep32() attributes {moe.layout = #moe.layout<tp = 1, dp = 32, expert_parallel = true>,
      test.case = {tokens = 100000, fused_mc2}}
  // EP 33 > 32: mc2 within the dispatch_v2 capacity (min(256, 512) = 256) ...
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A3, 33 EP ranks, no fused_mc2: 33 EP ranks > fused MC2 limit 32, 256 tokens <= MC2 capacity 256}}
  func.func private @fused_ep33_at() attributes {moe.layout = #moe.layout<tp = 1, dp = 33, expert_parallel = true>,
      test.case = {tokens = 256, fused_mc2}}
  // ... alltoall above it.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; alltoall: A3, 33 EP ranks, no fused_mc2: 33 EP ranks > fused MC2 limit 32, 257 tokens > MC2 capacity 256}}
  func.func private @fused_ep33_above() attributes {moe.layout = #moe.layout<tp = 1, dp = 33, expert_parallel = true>,
      test.case = {tokens = 257, fused_mc2}}
  // With prefill MC2 the fused capacity is min(8192, 512) = 512, but plain
  // MC2 is checked against dispatch_v2 = 256: 300 tokens go to alltoall.
  // expected-remark @+1 {{capacity 512, dispatch_v2 256; alltoall: A3, 33 EP ranks, no fused_mc2: 33 EP ranks > fused MC2 limit 32, 300 tokens > MC2 capacity 256}}
  func.func private @fused_prefill_ep33() attributes {moe.layout = #moe.layout<tp = 1, dp = 33, expert_parallel = true>,
      test.case = {tokens = 300, fused_mc2, prefill_mc2}}
  // Fused MC2 with tp 2 and a captured graph of 100: ceil(100 / 2) = 50, * 2.
  // expected-remark @+1 {{capacity 100, dispatch_v2 100; fused_mc2: A3, 32 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 64 tokens <= fused MC2 capacity 100}}
  func.func private @fused_tp2() attributes {moe.layout = #moe.layout<tp = 2, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, max_graph_size = 100}}

  // MegaMoE (H 7168 = 14 * 512, w8a8), EP 64: base max_num_batched_tokens
  // 8192, clamp 4096 capped by the kernel's 512; fused_mc2 up to 512 ...
  // expected-remark @+1 {{capacity 512, dispatch_v2 256; fused_mc2: A3, 64 EP ranks <= 64 of fused MC2 (MegaMoE), 512 tokens <= fused MC2 capacity 512}}
  func.func private @mega_ep64_at() attributes {moe.layout = #moe.layout<tp = 1, dp = 64, expert_parallel = true>,
      test.case = {tokens = 512, fused_mc2, mega_moe, quant = #moe.quant<w8a8_dynamic>}}
  // ... alltoall above.
  // expected-remark @+1 {{capacity 512, dispatch_v2 256; alltoall: A3, 64 EP ranks, no fused_mc2: 9000 tokens > fused MC2 capacity 512, 9000 tokens > MC2 capacity 256}}
  func.func private @mega_ep64() attributes {moe.layout = #moe.layout<tp = 1, dp = 64, expert_parallel = true>,
      test.case = {tokens = 9000, fused_mc2, mega_moe, quant = #moe.quant<w8a8_dynamic>}}
  // MegaMoE with tp 2 (EP 64): ceil(8192 / 2) = 4096 -> 512, * 2 = 1024;
  // dispatch_v2 ceil(256 / 2) = 128, * 2 = 256. The experts are w4a8, which
  // npu.dispatch_ffn_combine does not run (convert-moe-to-npu refused it after
  // the table had picked it): plain MC2.
  // expected-remark @+1 {{capacity 1024, dispatch_v2 256; mc2: A3, 64 EP ranks, no fused_mc2: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not w4a8_dynamic, 64 tokens <= MC2 capacity 256}}
  func.func private @mega_tp2() attributes {moe.layout = #moe.layout<tp = 2, dp = 32, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, mega_moe, quant = #moe.quant<w4a8_dynamic, group_size = 256>}}
  // EP 65 > 64: no MegaMoE (so the decode base 256 and clamp 512), and
  // 65 > 32: no dispatch_ffn_combine either.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A3, 65 EP ranks, no fused_mc2: 65 EP ranks > fused MC2 limit 32, 64 tokens <= MC2 capacity 256}}
  func.func private @mega_ep65() attributes {moe.layout = #moe.layout<tp = 1, dp = 65, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, mega_moe, quant = #moe.quant<w8a8_dynamic>}}
  // H 7000 is not a multiple of 512: no MegaMoE; EP 16 <= 32 runs
  // dispatch_ffn_combine.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; fused_mc2: A3, 16 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 64 tokens <= fused MC2 capacity 256}}
  func.func private @mega_bad_hidden() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 7000, fused_mc2, mega_moe, quant = #moe.quant<w8a8_dynamic>}}
  // The same layer with fp8 experts (a seed 003 descriptor scheme,
  // docs/Quantization.md): dispatch_ffn_combine does not run them, plain MC2.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A3, 16 EP ranks, no fused_mc2: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not custom, 64 tokens <= MC2 capacity 256}}
  func.func private @fp8_not_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 7000, fused_mc2, mega_moe, quant = #moe.quant<a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>}}
  // And with mxfp4 / nvfp4 experts (docs/Quantization.md, "mxfp4 and nvfp4").
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A3, 16 EP ranks, no fused_mc2: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not custom, 64 tokens <= MC2 capacity 256}}
  func.func private @fp4_not_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 7168, fused_mc2, mega_moe, quant = #moe.quant<a1 = #moe.qdesc<mxfp4>, a2 = #moe.qdesc<mxfp4>, w1 = #moe.qdesc<mxfp4>, w2 = #moe.qdesc<mxfp4>>}}
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A3, 16 EP ranks, no fused_mc2: dispatch_ffn_combine runs unquantized or w8a8_dynamic experts, not custom, 64 tokens <= MC2 capacity 256}}
  func.func private @nvfp4_not_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 7168, fused_mc2, mega_moe, quant = #moe.quant<a1 = #moe.qdesc<nvfp4>, a2 = #moe.qdesc<nvfp4>, w1 = #moe.qdesc<nvfp4>, w2 = #moe.qdesc<nvfp4>>}}
  // Unquantized experts: no MegaMoE; EP 48 > 32.
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; alltoall: A3, 48 EP ranks, no fused_mc2: 48 EP ranks > fused MC2 limit 32, 257 tokens > MC2 capacity 256}}
  func.func private @mega_unquantized() attributes {moe.layout = #moe.layout<tp = 1, dp = 48, expert_parallel = true>,
      test.case = {tokens = 257, fused_mc2, mega_moe}}
  // mega_moe without fused-mc2 is rejected (MegaMoE is a fused MC2 kernel).
  // expected-error @+1 {{option mega-moe selects the kernel of fused MC2 and needs fused-mc2}}
  func.func private @mega_without_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, mega_moe}}
}

// -----

//===----------------------------------------------------------------------===//
// The chip's mc2_capacity override is the rows per rank the MC2 kernels
// accept: it replaces every per-rank clamp (MegaMoE's 4096 too, since fused
// MC2 runs on npu.dispatch_ffn_combine).
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3, mc2_capacity = 128>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // min(256, 128) = 128.
  // expected-remark @+1 {{capacity 128; mc2: A3, 16 EP ranks, 128 tokens <= MC2 capacity 128}}
  func.func private @override_at() attributes {test.case = {tokens = 128}}
  // expected-remark @+1 {{capacity 128; alltoall: A3, 16 EP ranks, 129 tokens > MC2 capacity 128}}
  func.func private @override_above() attributes {test.case = {tokens = 129}}
  // tp 2: ceil(256 / 2) = 128 <= 128, * 2 = 256.
  // expected-remark @+1 {{capacity 256; mc2: A3, 8 EP ranks, 256 tokens <= MC2 capacity 256}}
  func.func private @override_tp2() attributes {moe.layout = #moe.layout<tp = 2, dp = 4, expert_parallel = true>,
      test.case = {tokens = 256}}
  // dispatch_ffn_combine: min(256, 128) = 128; dispatch_v2 likewise.
  // expected-remark @+1 {{capacity 128, dispatch_v2 128; fused_mc2: A3, 32 EP ranks <= 32 of fused MC2 (dispatch_ffn_combine), 64 tokens <= fused MC2 capacity 128}}
  func.func private @override_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 32, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2}}
  // MegaMoE: min(8192, 128); dispatch_v2 min(256, 128).
  // expected-remark @+1 {{capacity 128, dispatch_v2 128; fused_mc2: A3, 64 EP ranks <= 64 of fused MC2 (MegaMoE), 64 tokens <= fused MC2 capacity 128}}
  func.func private @override_mega() attributes {moe.layout = #moe.layout<tp = 1, dp = 64, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, mega_moe, quant = #moe.quant<w8a8_dynamic>}}
}

// -----

//===----------------------------------------------------------------------===//
// Branches before the chip: EP off, EP world 1, LoRA.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3>} {
  // No expert parallelism: allgather (capacity ceil(256 / 4) * 4 = 256).
  // expected-remark @+1 {{capacity 256; allgather: expert parallelism is off}}
  func.func private @ep_off() attributes {moe.layout = #moe.layout<tp = 4, dp = 1>,
      test.case = {tokens = 64}}
  // EP enabled on one device: the EP group has size 1.
  // expected-remark @+1 {{capacity 256; allgather: a single expert-parallel rank}}
  func.func private @ep_world_1() attributes {moe.layout = #moe.layout<tp = 1, dp = 1, expert_parallel = true>,
      test.case = {tokens = 64}}
  // LoRA with EP: alltoall, before any chip rule (even with fused MC2).
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; alltoall: LoRA with expert parallelism}}
  func.func private @lora_ep() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>,
      test.case = {tokens = 64, lora, fused_mc2}}
  // LoRA without EP: the EP rule comes first.
  // expected-remark @+1 {{capacity 256; allgather: expert parallelism is off}}
  func.func private @lora_no_ep() attributes {moe.layout = #moe.layout<tp = 2, dp = 8>,
      test.case = {tokens = 64, lora}}
}

// -----

//===----------------------------------------------------------------------===//
// Sequence parallelism: every rank holds its own tokens and nothing is
// sliced by TP rank, so a rank sends all its T tokens: the capacity is the
// per-rank count, not multiplied by tp (it was, and 600 rows went into a
// 512-row MC2).
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 2, dp = 4, expert_parallel = true, sequence_parallel = true>} {
  // max-num-reqs 1024: ceil(1024 / 2) = 512 -> 512 rows, * 1.
  // expected-remark @+1 {{capacity 512; mc2: A3, 8 EP ranks, 512 tokens <= MC2 capacity 512}}
  func.func private @sp_at() attributes {test.case = {tokens = 512, max_num_reqs = 1024}}
  // expected-remark @+1 {{capacity 512; alltoall: A3, 8 EP ranks, 600 tokens > MC2 capacity 512}}
  func.func private @sp_above() attributes {test.case = {tokens = 600, max_num_reqs = 1024}}
  // Fused MC2 likewise.
  // expected-remark @+1 {{capacity 512, dispatch_v2 512; alltoall: A3, 8 EP ranks, no fused_mc2: 600 tokens > fused MC2 capacity 512, 600 tokens > MC2 capacity 512}}
  func.func private @sp_fused_above() attributes {test.case = {tokens = 600, max_num_reqs = 1024, fused_mc2}}
  // The cost model holds MC2 to the same capacity.
  // expected-remark @+5 {{mc2 excluded: 600 tokens > MC2 capacity 512; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather:}}
  // expected-remark @+3 {{alltoall:}}
  // expected-remark @+2 {{mc2: 30.000 + 2.386051 * T us, up to 512 tokens}}
  // expected-remark @+1 {{fused_mc2 excluded: fused-mc2 is off}}
  func.func private @sp_cost() attributes {test.case = {tokens = 600, max_num_reqs = 1024, cost_model}}
}

// -----

//===----------------------------------------------------------------------===//
// A2: world = world_size_across_dp // pp = dp * tp; more than 512 experts,
// more than 24 experts per device (floor division) or world < 16 mean
// allgather; otherwise mc2 within capacity, else allgather.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A2>,
                   moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 16 experts per device, 256 tokens <= MC2 capacity 256}}
  func.func private @a2_at_capacity() attributes {test.case = {tokens = 256}}
  // expected-remark @+1 {{capacity 256; allgather: A2, world dp * tp = 16, 16 experts per device, 257 tokens > MC2 capacity 256}}
  func.func private @a2_above_capacity() attributes {test.case = {tokens = 257}}
  // world 15 < 16 (256 / 15 = 17 experts per device would be fine).
  // expected-remark @+1 {{capacity 256; allgather: A2, world dp * tp = 15 < 16}}
  func.func private @a2_world15() attributes {moe.layout = #moe.layout<tp = 1, dp = 15, expert_parallel = true>,
      test.case = {tokens = 64}}
  // world 16 from tp 2 x dp 8; capacity ceil(256 / 2) * 2 = 256.
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 16 experts per device, 64 tokens <= MC2 capacity 256}}
  func.func private @a2_world16_tp2() attributes {moe.layout = #moe.layout<tp = 2, dp = 8, expert_parallel = true>,
      test.case = {tokens = 64}}
  // 384 / 16 = 24 <= 24.
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 24 experts per device, 64 tokens <= MC2 capacity 256}}
  func.func private @a2_24_per_device() attributes {test.case = {tokens = 64, experts = 384}}
  // 400 / 16 = 25 > 24.
  // expected-remark @+1 {{capacity 256; allgather: A2, 25 experts per device (400 / 16) > 24}}
  func.func private @a2_25_per_device() attributes {test.case = {tokens = 64, experts = 400}}
  // 399 / 16 = 24.9, floored to 24 as vllm-ascend's integer division does.
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 24 experts per device, 64 tokens <= MC2 capacity 256}}
  func.func private @a2_floor() attributes {test.case = {tokens = 64, experts = 399}}
  // 512 experts over 32 devices: allowed; 528: more than 512.
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 32, 16 experts per device, 64 tokens <= MC2 capacity 256}}
  func.func private @a2_512_experts() attributes {moe.layout = #moe.layout<tp = 1, dp = 32, expert_parallel = true>,
      test.case = {tokens = 64, experts = 512}}
  // expected-remark @+1 {{capacity 256; allgather: A2, 528 experts > 512}}
  func.func private @a2_528_experts() attributes {moe.layout = #moe.layout<tp = 1, dp = 32, expert_parallel = true>,
      test.case = {tokens = 64, experts = 528}}
  // Pipeline stages are divided out: dp 16 x pp 2 is world 16.
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 16 experts per device, 64 tokens <= MC2 capacity 256}}
  func.func private @a2_pp() attributes {moe.layout = #moe.layout<tp = 1, dp = 16, pp = 2, expert_parallel = true>,
      test.case = {tokens = 64}}
  // Fused MC2 configured on A2: no fused kernel; A2 checks the (fused)
  // capacity min(8192, 256) = 256, not vllm-ascend's clamp 512: the A2
  // dispatch accepts 256 rows per rank (300 tokens were admitted to mc2 and
  // failed at run time).
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; allgather: A2, world dp * tp = 16, 16 experts per device, 300 tokens > MC2 capacity 256}}
  func.func private @a2_fused_prefill() attributes {test.case = {tokens = 300, fused_mc2, prefill_mc2}}
  // max-num-reqs 512: min(512, 256) = 256, not 512 (the issue's first case).
  // expected-remark @+1 {{capacity 256; mc2: A2, world dp * tp = 16, 16 experts per device, 256 tokens <= MC2 capacity 256}}
  func.func private @a2_reqs512_at() attributes {test.case = {tokens = 256, max_num_reqs = 512}}
  // expected-remark @+1 {{capacity 256; allgather: A2, world dp * tp = 16, 16 experts per device, 300 tokens > MC2 capacity 256}}
  func.func private @a2_reqs512_above() attributes {test.case = {tokens = 300, max_num_reqs = 512}}
}

// -----

//===----------------------------------------------------------------------===//
// A5: world = world_size_across_dp = dp * tp * pp (pp included, unlike A2);
// mc2 within capacity, else allgather when world <= top_k, else alltoall.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A5>,
                   moe.layout = #moe.layout<tp = 1, dp = 8, expert_parallel = true>} {
  // expected-remark @+1 {{capacity 256; mc2: A5, world dp * tp * pp = 8, 256 tokens <= MC2 capacity 256}}
  func.func private @a5_at_capacity() attributes {test.case = {tokens = 256}}
  // world 8 <= top-k 8.
  // expected-remark @+1 {{capacity 256; allgather: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 8 <= top-k 8}}
  func.func private @a5_world_le_topk() attributes {test.case = {tokens = 257}}
  // world 9 > top-k 8.
  // expected-remark @+1 {{capacity 256; alltoall: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 9 > top-k 8}}
  func.func private @a5_world_gt_topk() attributes {moe.layout = #moe.layout<tp = 1, dp = 9, expert_parallel = true>,
      test.case = {tokens = 257}}
  // The quirk: dp 4 x pp 2 counts as world 8 (A2 would say 4) ...
  // expected-remark @+1 {{capacity 256; allgather: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 8 <= top-k 8}}
  func.func private @a5_pp2() attributes {moe.layout = #moe.layout<tp = 1, dp = 4, pp = 2, expert_parallel = true>,
      test.case = {tokens = 257}}
  // ... and dp 4 x pp 3 as world 12 > 8.
  // expected-remark @+1 {{capacity 256; alltoall: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 12 > top-k 8}}
  func.func private @a5_pp3() attributes {moe.layout = #moe.layout<tp = 1, dp = 4, pp = 3, expert_parallel = true>,
      test.case = {tokens = 257}}
  // tp 4 x dp 2: capacity ceil(256 / 4) * 4 = 256; world 8.
  // expected-remark @+1 {{capacity 256; mc2: A5, world dp * tp * pp = 8, 200 tokens <= MC2 capacity 256}}
  func.func private @a5_tp4() attributes {moe.layout = #moe.layout<tp = 4, dp = 2, expert_parallel = true>,
      test.case = {tokens = 200}}
  // Small top-k: world 2 <= 2 ...
  // expected-remark @+1 {{capacity 256; allgather: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 2 <= top-k 2}}
  func.func private @a5_topk2() attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
      test.case = {tokens = 257, top_k = 2}}
  // ... but world 2 > top-k 1.
  // expected-remark @+1 {{capacity 256; alltoall: A5, 257 tokens > MC2 capacity 256, world dp * tp * pp = 2 > top-k 1}}
  func.func private @a5_topk1() attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
      test.case = {tokens = 257, top_k = 1}}
  // Fused MC2 is not an A5 method (capacity with fused: min(256, 512)).
  // expected-remark @+1 {{capacity 256, dispatch_v2 256; mc2: A5, world dp * tp * pp = 8, 64 tokens <= MC2 capacity 256}}
  func.func private @a5_fused() attributes {test.case = {tokens = 64, fused_mc2}}
}

// -----

//===----------------------------------------------------------------------===//
// 310P: always allgather, after the EP and LoRA rules.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A310P>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  // expected-remark @+1 {{capacity 256; allgather: 310P}}
  func.func private @p310() attributes {test.case = {tokens = 64}}
  // expected-remark @+1 {{capacity 256; allgather: 310P}}
  func.func private @p310_many_tokens() attributes {test.case = {tokens = 5000}}
  // expected-remark @+1 {{capacity 256; alltoall: LoRA with expert parallelism}}
  func.func private @p310_lora() attributes {test.case = {tokens = 64, lora}}
  // expected-remark @+1 {{capacity 256; allgather: expert parallelism is off}}
  func.func private @p310_no_ep() attributes {moe.layout = #moe.layout<tp = 4, dp = 1>,
      test.case = {tokens = 64}}
}

// -----

//===----------------------------------------------------------------------===//
// Cost model (docs/CostModel.md), with link figures chosen so the lines are
// easy to derive: 1 GB/s = 1000 bytes/us, 1 us per collective. A3 local
// bandwidth 1600 GB/s; bf16 376 TFLOP/s, int8 752 TOP/s.
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3, link_gbps = 1.0, link_latency_us = 1.0>} {
  // dp 2, tp 1, EP 2; H 1000 bf16 (row 2000 B); K 2; E 4 (2 local);
  // no GEMM (I 0). Pairs per token K/tp = 2, half leave the rank.
  //  allgather: token max 1; x 1 + 2000/1000 T; logits 1 + 4*4/1000 T;
  //    reduce-scatter 1 + 2 T; copies 2*2*2000/1.6e6 + 2*2*2000/1.6e6
  //    = 4 + 4.026 T
  //  alltoall: counts 1 + 1*4*8/1000; rows 1 + 1*2000/1000 T; combine
  //    1 + 2 T; copies (2 local experts: 2 passes) 2*4*2000/1.6e6 * 2
  //    = 3.032 + 4.02 T
  //  mc2: token max 1; dispatch 1 + 2 T; combine 1 + 2 T = 3 + 4 T, up to
  //    the capacity 256
  // At 64 tokens: mc2 259 < alltoall 260.312 < allgather 261.664.
  // expected-remark @+5 {{capacity 256; mc2: cost model at 64 tokens: mc2 259.0 us < alltoall 260.3 us < allgather 261.7 us; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather: 4.000 + 4.026000 * T us}}
  // expected-remark @+3 {{alltoall: 3.032 + 4.020000 * T us}}
  // expected-remark @+2 {{mc2: 3.000 + 4.000000 * T us, up to 256 tokens}}
  // expected-remark @+1 {{fused_mc2 excluded: fused-mc2 is off}}
  func.func private @cost_small() attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 1000, top_k = 2, experts = 4, intermediate = 0, cost_model}}
  // At 257 tokens mc2 is over capacity: alltoall 3.032 + 1033.14 = 1036.172
  // < allgather 4 + 1034.682 = 1038.682.
  // expected-remark @+5 {{capacity 256; alltoall: cost model at 257 tokens: alltoall 1036.2 us < allgather 1038.7 us; mc2 excluded: 257 tokens > MC2 capacity 256; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather: 4.000}}
  // expected-remark @+3 {{alltoall: 3.032}}
  // expected-remark @+2 {{mc2: 3.000}}
  // expected-remark @+1 {{fused_mc2 excluded}}
  func.func private @cost_small_above() attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
      test.case = {tokens = 257, hidden = 1000, top_k = 2, experts = 4, intermediate = 0, cost_model}}

  // dp 2 x tp 2 (EP 4, 3/4 of the pairs leave); H 1024 (row 2048 B), w8a8:
  // dispatched rows 1024 + 4 B, int8 752 TOP/s; K 4 -> 2 pairs per token;
  // E 8 (2 local); I 752000 -> GEMM 2 * 6*1024*752000 / 752e6 = 12.288 T.
  //  allgather: 1 + 0; x 1 + 2.048 T; logits 1 + 0.032 T; reduce-scatter
  //    1 + 2.048 T; TP all-reduce 1 + 2*(1/2)*2.048 T; copies
  //    2*2*2048/1.6e6 + 2*2*2048/1.6e6 = 0.01024 T; GEMM 12.288 T
  //    = 5 + 18.47424 T
  //  alltoall: counts 1 + 3*8*8/1000 = 1.192; scales 1 + 1.5*4/1000 T;
  //    rows 1 + 1.5*1024/1000 T; combine 1 + 1.5*2048/1000 T; TP gather
  //    1 + 1.024 T; copies 2*4*1028/1.6e6 + 2*4*2048/1.6e6 T; GEMM
  //    = 5.192 + 17.94138 T
  //  mc2: dispatch 1 + 1.542 T; combine 1 + 3.072 T; token max 1; TP
  //    gather 1 + 1.024 T; GEMM = 4 + 17.926 T, up to dispatch_v2 256
  //  fused_mc2: token max 1; kernel 1 + max(1.5*3076/1000 = 4.614, 12.288)
  //    T; TP gather 1 + 1.024 T = 3 + 13.312 T
  // The table agrees: A3, EP 4 <= 32.
  // expected-remark @+5 {{capacity 256, dispatch_v2 256; fused_mc2: cost model at 64 tokens: fused_mc2 855.0 us < mc2 1151.3 us < alltoall 1153.4 us < allgather 1187.4 us}}
  // expected-remark @+4 {{allgather: 5.000 + 18.474240 * T us}}
  // expected-remark @+3 {{alltoall: 5.192 + 17.941380 * T us}}
  // expected-remark @+2 {{mc2: 4.000 + 17.926000 * T us, up to 256 tokens}}
  // expected-remark @+1 {{fused_mc2: 3.000 + 13.312000 * T us}}
  func.func private @cost_fused() attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 1024, top_k = 4, experts = 8, intermediate = 752000, fused_mc2,
                   quant = #moe.quant<w8a8_dynamic>, cost_model}}

  // LoRA with EP: only alltoall.
  // expected-remark @+5 {{capacity 256; alltoall: cost model at 64 tokens: alltoall 260.3 us; allgather excluded: LoRA needs alltoall; mc2 excluded: LoRA needs alltoall; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather excluded: LoRA needs alltoall}}
  // expected-remark @+3 {{alltoall: 3.032 + 4.020000 * T us}}
  // expected-remark @+2 {{mc2 excluded: LoRA needs alltoall}}
  // expected-remark @+1 {{fused_mc2 excluded: fused-mc2 is off}}
  func.func private @cost_lora() attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
      test.case = {tokens = 64, hidden = 1000, top_k = 2, experts = 4, intermediate = 0, lora, cost_model}}
}

// -----

// Cost model legality: no EP leaves allgather (experts tensor-sharded over
// all dp * tp ranks), 310P has no MC2, A2 MC2 needs the operator's limits
// (here 128 / 8 = 16 experts per device, but only 8 devices),
// A5 has no fused MC2, fused MC2 stops at its EP limit. (The first remark of
// a case names its capacity, the others one method each; -verify-diagnostics
// gives a remark to the first matching expectation, so the more specific
// expectations come first.)
module attributes {moe.chip = #moe.chip<A310P>} {
  // expected-remark @+5 {{capacity 256; allgather: cost model at 64 tokens: allgather}}
  // expected-remark @+4 {{alltoall excluded: expert parallelism is off}}
  // expected-remark @+3 {{fused_mc2 excluded: expert parallelism is off}}
  // expected-remark @+2 {{mc2 excluded: expert parallelism is off}}
  // expected-remark @+1 {{allgather: }}
  func.func private @no_ep() attributes {moe.layout = #moe.layout<tp = 2, dp = 2>,
      test.case = {tokens = 64, cost_model}}
  // expected-remark @+5 {{mc2 excluded: 310P has no MC2; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather: }}
  // expected-remark @+3 {{alltoall: }}
  // expected-remark @+2 {{mc2 excluded: 310P has no MC2}}
  // expected-remark @+1 {{fused_mc2 excluded: fused-mc2 is off}}
  func.func private @p310_ep() attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>,
      test.case = {tokens = 64, cost_model}}
  // expected-remark @+5 {{mc2 excluded: 310P has no MC2; fused_mc2 excluded: 310P has no fused MC2}}
  // expected-remark @+4 {{allgather: }}
  // expected-remark @+3 {{alltoall: }}
  // expected-remark @+2 {{mc2 excluded: 310P has no MC2}}
  // expected-remark @+1 {{fused_mc2 excluded: 310P has no fused MC2}}
  func.func private @p310_fused() attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, cost_model}}
  // expected-remark @+5 {{mc2 excluded: A2, world dp * tp = 8 < 16; fused_mc2 excluded: fused-mc2 is off}}
  // expected-remark @+4 {{allgather: }}
  // expected-remark @+3 {{alltoall: }}
  // expected-remark @+2 {{mc2 excluded: A2, world dp * tp = 8 < 16}}
  // expected-remark @+1 {{fused_mc2 excluded: fused-mc2 is off}}
  func.func private @a2_small() attributes {moe.chip = #moe.chip<A2>, moe.layout = #moe.layout<tp = 1, dp = 8, expert_parallel = true>,
      test.case = {tokens = 64, experts = 128, cost_model}}
  // expected-remark @+5 {{capacity 256, dispatch_v2 256; }}
  // expected-remark @+4 {{allgather: }}
  // expected-remark @+3 {{alltoall: }}
  // expected-remark @+2 {{mc2: }}
  // expected-remark @+1 {{fused_mc2 excluded: A5 has no fused MC2}}
  func.func private @a5_fused() attributes {moe.chip = #moe.chip<A5>, moe.layout = #moe.layout<tp = 1, dp = 8, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, cost_model}}
  // expected-remark @+5 {{capacity 256, dispatch_v2 256; }}
  // expected-remark @+4 {{allgather: }}
  // expected-remark @+3 {{alltoall: }}
  // expected-remark @+2 {{mc2: }}
  // expected-remark @+1 {{fused_mc2 excluded: 33 EP ranks > fused MC2 limit 32}}
  func.func private @a3_fused_ep33() attributes {moe.chip = #moe.chip<A3>, moe.layout = #moe.layout<tp = 1, dp = 33, expert_parallel = true>,
      test.case = {tokens = 64, fused_mc2, cost_model}}
}

// -----

//===----------------------------------------------------------------------===//
// moge (seed 002 TokenDispatcherWithMoge): legal only with group-balanced
// routing that puts whole groups on every EP rank, no EPLB, unquantized
// experts; the table never picks it (it runs only when asked for).
//===----------------------------------------------------------------------===//

module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  // 8 balanced groups over 4 EP ranks: two whole groups per rank. The table
  // still picks mc2.
  // expected-remark @+6 {{capacity 256; mc2: A3, 4 EP ranks, 64 tokens <= MC2 capacity 256}}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal: fused-mc2 is off}}
  // expected-remark @+1 {{moge legal}}
  func.func private @moge_legal() attributes {test.case = {tokens = 64, experts = 64, balanced_groups = 8, legality}}
  // expected-remark @+6 {{; mc2: }}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: moge needs group-balanced routing (moe.gate ... groups(G, G) balanced) so that each of the 4 expert-parallel ranks receives top_k / 4 of every token's 8 experts}}
  func.func private @moge_unbalanced() attributes {test.case = {tokens = 64, experts = 64, legality}}
  // expected-remark @+6 {{; mc2: }}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: moge needs whole expert groups on every rank: the 2 balanced groups do not split over 4 expert-parallel ranks}}
  func.func private @moge_split_groups() attributes {test.case = {tokens = 64, experts = 64, balanced_groups = 2, legality}}
  // expected-remark @+6 {{; mc2: }}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: moge keeps every expert group on its rank: no redundant experts, log2phy or expert_map (EPLB)}}
  func.func private @moge_redundant() attributes {test.case = {tokens = 64, experts = 64, redundant = 4, balanced_groups = 8, legality}}
  // expected-remark @+6 {{; mc2: }}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: moge keeps every expert group on its rank: no redundant experts, log2phy or expert_map (EPLB)}}
  func.func private @moge_eplb() attributes {test.case = {tokens = 64, experts = 64, balanced_groups = 8, eplb, legality}}
  // expected-remark @+6 {{; mc2: }}
  // expected-remark @+5 {{allgather legal}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 legal}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: moge's experts scale unquantized activations by topk_scales, not w8a8_dynamic ones}}
  func.func private @moge_quant() attributes {test.case = {tokens = 64, experts = 64, balanced_groups = 8, quant = #moe.quant<w8a8_dynamic>, legality}}
  // expected-remark @+6 {{; alltoall: }}
  // expected-remark @+5 {{allgather illegal: LoRA needs alltoall}}
  // expected-remark @+4 {{alltoall legal}}
  // expected-remark @+3 {{mc2 illegal: LoRA needs alltoall}}
  // expected-remark @+2 {{fused_mc2 illegal}}
  // expected-remark @+1 {{moge illegal: LoRA needs alltoall}}
  func.func private @moge_lora() attributes {test.case = {tokens = 64, experts = 64, balanced_groups = 8, lora, legality}}
}
