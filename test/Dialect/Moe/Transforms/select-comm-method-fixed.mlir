// policy=fixed: the given method for every undecided layer, at any token
// count, with or without a chip. The only check is the moe.dispatch
// verifier's (alltoall, mc2 and fused_mc2 need expert parallelism on more
// than one device; see select-comm-method-invalid.mlir).
// DEFINE: %{run} = moe-opt %s -mlir-disable-threading -split-input-file -verify-diagnostics
// RUN: %{run} "-moe-select-comm-method=policy=fixed method=mc2" | FileCheck %s --check-prefix=MC2
// RUN: %{run} "-moe-select-comm-method=policy=fixed method=fused_mc2" | FileCheck %s --check-prefix=FUSED
// RUN: %{run} "-moe-select-comm-method=policy=fixed method=alltoall" | FileCheck %s --check-prefix=A2A
// RUN: %{run} "-moe-select-comm-method=policy=fixed method=allgather" | FileCheck %s --check-prefix=AG
// moge runs only when asked for, as in vllm-ascend: on a group-balanced
// layer policy=fixed method=moge gives it, the table and the cost model
// do not (select-comm-method-invalid.mlir: where it cannot run).
// DEFINE: %{moge} = moe-opt %S/Inputs/select-moge.mlir -mlir-disable-threading
// RUN: %{moge} "-moe-select-comm-method=policy=fixed method=moge" 2>&1 | FileCheck %s --check-prefix=MOGE
// RUN: %{moge} -moe-select-comm-method 2>&1 | FileCheck %s --check-prefix=MOGE-TABLE
// RUN: %{moge} -moe-select-comm-method=policy=cost-model 2>&1 | FileCheck %s --check-prefix=MOGE-TABLE
// MOGE: remark: moge for any token count: fixed by policy
// MOGE-NOT: moe.choose_method
// MOGE: !moe.prepare_ctx<moge>
// MOGE: moe.dispatch {{.+}} !moe.dispatch_ctx<moge>
// MOGE: moe.combine {{.+}} !moe.dispatch_ctx<moge>
// MOGE: moe.finalize {{.+}} !moe.prepare_ctx<moge>
// MOGE-TABLE: remark: run-time choice on the largest token count across ranks: mc2 up to 256 tokens
// MOGE-TABLE-NOT: ctx<moge>

// MC2-LABEL: func.func @ep
// MC2-NOT: moe.choose_method
// MC2: !moe.prepare_ctx<mc2>
// MC2: !moe.dispatch_ctx<mc2>
// MC2-LABEL: func.func @single_device
// MC2: !moe.prepare_ctx<mc2>
// FUSED-LABEL: func.func @ep
// FUSED: !moe.prepare_ctx<fused_mc2>
// FUSED-LABEL: func.func @single_device
// FUSED: !moe.prepare_ctx<fused_mc2>
// A2A-LABEL: func.func @ep
// A2A: !moe.prepare_ctx<alltoall>
// A2A-LABEL: func.func @single_device
// A2A: !moe.prepare_ctx<alltoall>
// AG-LABEL: func.func @ep
// AG: !moe.prepare_ctx<allgather>
// AG-LABEL: func.func @single_device
// AG: !moe.prepare_ctx<allgather>

// 16 EP ranks, no chip, dynamic tokens.
func.func @ep(%x: tensor<?x64xbf16>, %logits: tensor<?x32xf32>,
    %w13: tensor<2x64x32xbf16>, %w2: tensor<2x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.layout = #moe.layout<tp = 1, dp = 16, expert_parallel = true>} {
  // expected-remark @+1 {{: fixed by policy}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<?x64xbf16>, tensor<?x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<2x64x32xbf16>, tensor<2x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<2xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}

// -----

// One device (no layout): every method is legal for the verifier.
func.func @single_device(%x: tensor<8x64xbf16>, %logits: tensor<8x32xf32>,
    %w13: tensor<32x64x32xbf16>, %w2: tensor<32x16x64xbf16>) -> tensor<?x64xbf16>
    attributes {moe.chip = #moe.chip<A310P>} {
  // expected-remark @+1 {{: fixed by policy}}
  %h, %l, %pctx = moe.prepare %x, %logits : tensor<8x64xbf16>, tensor<8x32xf32> -> !moe.prepare_ctx<unset>
  %w, %ids = moe.gate %l top_k(4) softmax : tensor<?x32xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %rows, %counts, %dctx = moe.dispatch %h, %w, %ids experts(32)
      : tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<32xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %rows, %counts weights(%w13, %w2 : tensor<32x64x32xbf16>, tensor<32x16x64xbf16>)
      : tensor<?x64xbf16>, tensor<32xi64>
  %r = moe.combine %y, %dctx : tensor<?x64xbf16>, !moe.dispatch_ctx<unset>
  %o = moe.finalize %r, %pctx : tensor<?x64xbf16>, !moe.prepare_ctx<unset>
  return %o : tensor<?x64xbf16>
}
