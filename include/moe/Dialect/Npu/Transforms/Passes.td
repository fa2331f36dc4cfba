//===- Passes.td - passes on the npu dialect -*- tablegen -*-===//
//
// Passes that transform level-2 (`npu`) device-op IR: quantization fusion,
// multistream scheduling, the stream verifier, load-time outlining and the
// per-step synchronization. docs/NpuPasses.md is
// generated from this file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_NPU_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_NPU_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseQuantIntoDispatch : Pass<"moe-fuse-quant-into-dispatch", "::mlir::func::FuncOp"> {
  let summary = "Quantize before the communication instead of after it";
  let description = [{
    A `npu.dynamic_quant` of dispatched rows becomes part of the dispatch
    (SEMANTICS §7), so int8 rows plus one f32 scale per row travel instead
    of 2- or 4-byte rows. On the op sequences of `docs/Expansion.md`:

    - allgather: `npu.moe_init_routing quant_mode(-1)` whose rows are
      quantized becomes `quant_mode(1)`, producing the int8 rows and
      `expanded_scale`;
    - allgather with sequence parallelism (hidden states gathered with
      `npu.all_gather ... ep` into that init-routing): the quantization moves
      before the gather, which gathers the int8 rows and then the scales;
      init-routing takes them with `scale(...)` and `quant_mode(-1)`. When
      the gathered float rows have other users the gather stays float and
      init-routing quantizes, as without sequence parallelism, with a
      remark;
    - mc2: `npu.moe_distribute_dispatch quant_mode(0)` becomes
      `quant_mode(2)` with the `dynamic_scales` result;
    - alltoall: the locally permuted rows are quantized, the scales and then
      the int8 rows go through `npu.all_to_all_v`; with more than one local
      expert, `npu.moe_init_routing` with the received scales and
      `quant_mode(-1)` replaces the permute by local expert, and its
      `expanded_row_idx` (equal to the permute's sorted indices) feeds the
      combine's unpermute.

    It fires only where it is legal: the quantized rows are the activations
    of int8 grouped matmuls (`w8a8`, `w4a8`) and the scales their
    `per_token_scale` (or the activation scale of
    `npu.dequant_swiglu_quant`), and no other op uses the unquantized rows,
    nor the exchanged, permuted or gathered float rows the rewrite removes.
    Otherwise the IR is left alone and a remark on the `npu.dynamic_quant`
    says why; a `npu.dynamic_quant` not fed by a dispatch is ignored.
    Per-row quantization commutes with moving and duplicating rows, so the
    result is bit-identical to quantizing after the dispatch. New ops take
    the stream of the op they replace. Running the pass twice changes
    nothing.

    The pass knows no dispatch op: it asks the producer of each
    `npu.dynamic_quant`'s input for `QuantFusableDispatchOpInterface`
    (`npu.moe_init_routing`, `npu.moe_distribute_dispatch`,
    `npu.all_to_all_v`, `npu.moe_token_permute`), which does the rewrite.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect", "::mlir::arith::ArithDialect"];
}

def ScheduleMultistream : Pass<"moe-schedule-multistream", "::mlir::func::FuncOp"> {
  let summary = "Put device ops on streams and insert the events they need";
  let description = [{
    vllm-ascend's multistream overlap (SEMANTICS §8) on level-2 IR, matching
    the op sequences of `docs/Expansion.md`, with one auxiliary stream per
    purpose shared by all layers (`docs/Streams.md`):

    - gate overlap (seed 000): every main-stream `npu.all_gather` whose
      result is the `x` of an `npu.moe_init_routing` (the hidden states, also
      when quantized to int8) moves to the gate stream. Before it the main
      stream records an event the gate stream waits for; after it the gate
      stream records one the main stream waits for right before its first
      user. The gathers of router logits and of per-token scales stay on the
      main stream, overlapping the hidden-state gather.
    - shared experts: the device ops `convert-moe-to-npu` marked with
      `npu.shared_expert = #npu.shared_expert<stage>` (the layer's shared
      experts: `quantize`, `gate_up`, `activation`, `down`) move to the
      shared stream, one chain per `down` op whose result an `npu.add` adds
      to the routed output; the pass matches no op shapes, and unmarked ops
      stay where they are. A chain whose ops are read outside it, sit on
      another stream or in another block, or whose stages are out of order
      stays on the main stream (an input quantization the routed path also
      reads stays behind alone). Each stage
      moves to, and waits for an event recorded by the main stream at, a
      point of the layer's routed path: quantize right before
      `npu.moe_gating_top_k`, gate-up right before the dispatch, activation
      right after the first `npu.grouped_matmul`, down projection right
      before the combine. A missing point falls back to the nearest earlier
      one (the first present for the quantization); stages sharing a point
      share its event. The shared stream records after the down projection
      and the main stream waits for it right before the add.

    Finally every wait that orders nothing new (by the analysis of
    `moe-verify-streams`) is removed, with its record when it has no other
    wait, so the result verifies without warnings; the analysis stays valid
    for the result and is kept for a `moe-verify-streams` that follows.
    Scheduling twice changes nothing: only main-stream ops are matched.
  }];
  let options = [
    Option<"gateOverlap", "gate-overlap", "bool", /*default=*/"true",
           "Overlap the hidden-state all-gather with the logits all-gather">,
    Option<"sharedExpertsOverlap", "shared-experts-overlap", "bool",
           /*default=*/"true", "Run shared experts on an auxiliary stream">,
    Option<"gateStream", "gate-stream", "int64_t", /*default=*/"1",
           "Stream of the gate overlap (positive)">,
    Option<"sharedStream", "shared-stream", "int64_t", /*default=*/"2",
           "Stream of the shared experts (positive)">
  ];
  let dependentDialects = ["::mlir::npu::NpuDialect"];
}

def VerifyStreams : Pass<"moe-verify-streams", "::mlir::func::FuncOp"> {
  let summary = "Prove every cross-stream use is ordered by an event chain";
  let description = [{
    A walk-based analysis with vector clocks (`docs/Streams.md`): every
    device op advances its stream's counter and stamps its results;
    `npu.record` captures the recording stream's clock and `npu.wait`
    merges it into the waiting stream's. A device op using a value produced
    on another stream must be covered by its stream's clock; otherwise the
    pass reports a race, an error at the use with a note at the producer,
    and fails. Function arguments and scalars computed on the host are
    available everywhere; host uses of device values (`tensor.dim`,
    `scf.yield`, `func.return`) are synchronized by the runtime.

    `scf.index_switch` and `scf.if` regions are analysed separately from
    the entry state and joined conservatively: a stream knows of another
    what it knows on every path, a result needs what it needs on any path.
    Device ops, records or waits inside other region ops (loops) and
    multi-block regions are errors.

    A wait that adds nothing to the waiting stream's clock (its event is
    already covered, e.g. an event of the waiting stream itself) is
    reported as redundant, a warning. The IR is not changed.
  }];
  let options = [
    Option<"warnRedundantWaits", "warn-redundant-waits", "bool", /*default=*/"true",
           "Warn about waits that order nothing new">
  ];
}

def PackWeights : Pass<"moe-pack-weights", "::mlir::func::FuncOp"> {
  let summary = "Repack the f32, int8 and int4 expert weights once, at load, for the runtime's matmul kernels";
  let description = [{
    vllm-ascend's `process_weights_after_loading` casts the expert weights
    to the blocked layout the device's matmul reads (`npu_format_cast`), so
    no step repacks them. This pass does the same for the CPU runtime: in a
    public function, every argument that is an `f32` or `i8` weight stack
    `[G, K, N]` read only as the weight of `npu.grouped_matmul` ops of
    `none` (f32) or `w8a8` (i8) quantization (in any region: a run-time
    method choice puts them in `scf.index_switch` cases) gets one
    `npu.pack_weights` at the start of the function, and
    those ops read its `#npu.packed` result instead; so does every `i4`
    stack (an argument, or the result of `npu.w4a8_process_weights`, then
    packed right after it) read only by `w4a8` ones whose groups are a
    multiple of 4 rows:

    ```mlir
    // before
    %h = npu.grouped_matmul %q, %w13, %counts ... w8a8 count
        : tensor<?x2048xi8>, tensor<32x2048x1536xi8>, tensor<32xi64> -> tensor<?x1536xf32>
    // after
    %p = npu.pack_weights %w13 : tensor<32x2048x1536xi8> -> tensor<32x2048x1536xi8, #npu.packed>
    %h = npu.grouped_matmul %q, %p, %counts ... w8a8 count
        : tensor<?x2048xi8>, tensor<32x2048x1536xi8, #npu.packed>, tensor<32xi64> -> tensor<?x1536xf32>
    ```

    `moe-outline-load-time` then moves the packing into the load-time
    function. The pack runs on the stream of the first op that reads it.
    An argument with any other use stays as it is (its readers need the
    row-major layout), and so do private functions, whose arguments are
    not the weights a driver loads.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect"];
}

def OutlineLoadTime : Pass<"moe-outline-load-time", "::mlir::ModuleOp"> {
  let summary = "Move load-time weight processing into a function run once";
  let description = [{
    Seed 001's `process_weights_after_loading` runs once, when the model is
    loaded, not at every forward step. For every public function `@f`, the
    device ops with the `Npu_RunsAtLoadTime` trait (today
    `npu.w4a8_process_weights` and `npu.pack_weights`) whose operands are all arguments of `@f`
    move into a new public function `@f__load` that takes those arguments
    and returns the ops' results. `@f` takes the results as new trailing
    arguments instead and says so with two attributes:

    ```mlir
    func.func @f__load(%w13: tensor<8x256x512xi8>, ...) -> (tensor<8x512x256xi4>, ...)
    func.func @f(%x: ..., %w13: tensor<8x256x512xi8>, ..., %loaded0: tensor<8x512x256xi4>, ...)
        attributes {npu.load_function = @f__load, npu.load_args = array<i64: 2, 3, 4>}
    ```

    `npu.load_args` lists the arguments of `@f` that `@f__load` takes, in
    order. The drivers (moe-run, the C and C++ APIs) run `@f__load` once per
    rank before the first step and pass its results to every step; they run
    it again when a different tensor is passed for one of those arguments
    (docs/Runtime.md, "Load time"). The arguments the user passes stay those
    of the original `@f`. A function without such ops is left alone, and so
    is a function already outlined.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect", "::mlir::func::FuncDialect"];
}

def MergeStepSync : Pass<"moe-merge-step-sync", "::mlir::func::FuncOp"> {
  let summary = "One synchronization of token counts per forward step";
  let description = [{
    Seed 004: vllm-ascend exchanges the step's token counts and flags across
    ranks once per forward step, not once per layer. Each layer's expansion
    asks for the most tokens of a rank in some group (`npu.all_reduce_scalar
    %t max <group>`: padding before an all-gather, the run-time method
    guard, the MC2 capacity check) and, with tensor parallelism, checks that
    the TP ranks hold the same tokens (`npu.expect_uniform %t tp`). Because
    a layer's output has the token count of the function's input
    (convert-moe-to-npu reuses it), all layers ask about the same value.

    For every value `%t` that such ops ask about, the pass creates one
    `npu.step_sync %t, %c0, %c0` right after `%t` is defined (the step's
    flags are 0 until the IR carries them), replaces every
    `npu.all_reduce_scalar %t max <group>` by its `max_<group>` result and
    folds every `npu.expect_uniform %t tp "what"` into its `uniform_tp`
    (the first text wins; the contract is the same). Ops in nested regions
    are merged too, since the sync dominates them. Sums and uniformity
    checks over other groups are left alone. Running it twice changes
    nothing.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect", "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // MOE_DIALECT_NPU_TRANSFORMS_PASSES_TD
