//===- Passes.td - conversions between the levels ----------*- tablegen -*-===//
//
// Level 1 (moe) to level 2 (npu device ops on tensors): convert-moe-to-npu
// (lib/Conversion/MoeToNpu); level 2 to level 3 (LLVM dialect calls into
// the C ABI of the runtime): lib/Conversion/NpuToRuntime.
// docs/ConversionPasses.md is generated from this file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoeToNpu : Pass<"convert-moe-to-npu", "::mlir::func::FuncOp"> {
  let summary = "Convert every MoE stage into the device ops of its method";
  let description = [{
    Replaces the `moe` ops of every layer by `npu` device ops following
    vllm-ascend step by step (seeds 000 and 002; SEMANTICS §3-§6):
    allgather with and without sequence parallelism, all-to-all-v, MC2 and
    fused MC2, each with its padding, TP slicing, masks, splits, unpadding
    and final reductions. Quantized experts get an explicit
    `npu.dynamic_quant` after the dispatch, which
    `moe-fuse-quant-into-dispatch` may move into it. The method must be set.

    A dialect conversion with one pattern per stage (lib/Conversion/MoeToNpu,
    docs/Expansion.md): the `!moe.prepare_ctx` and `!moe.dispatch_ctx`
    values become their device-level parts (the token count and mc2 mask;
    the row index, splits, permutations, receive counts, ids, weights and
    mask), which finalize and combine read. A layer that cannot be
    converted gets a diagnostic before anything is rewritten.

    Example: the gate stage

    ```mlir
    %w, %ids = moe.gate %l top_k(2) softmax
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```

    becomes

    ```mlir
    %w, %ids = npu.moe_gating_top_k %l k(2) softmax
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }];
  let options = [
    Option<"checkMc2Capacity", "check-mc2-capacity", "bool", /*default=*/"true",
           "Give MC2 dispatches the chip's per-rank token capacity, checked at "
           "run time">
  ];
  // moe: the layout and chip attributes are read (with their defaults) even
  // from a module that holds no moe op.
  let dependentDialects = ["::mlir::moe::MoeDialect", "::mlir::npu::NpuDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect"];
}

def RuntimeRefCounting : Pass<"moe-runtime-ref-counting", "::mlir::func::FuncOp"> {
  let summary = "Make the host's references to runtime tensors explicit";
  let description = [{
    Every tensor (and event) an op creates is a runtime handle the host owns
    one reference to; function arguments are borrowed. This pass inserts
    `npu.release` right after the last use of every owned value in its block
    (the use may be inside a region of the op), transfers ownership to
    `func.return` / `scf.yield` when a value is handed on, and inserts
    `npu.retain` when a value is handed on more than once or while borrowed.
    Modelled on upstream's `async-runtime-ref-counting`.
  }];
  let dependentDialects = ["::mlir::npu::NpuDialect"];
}

def ConvertNpuToRuntime : Pass<"convert-npu-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower npu ops to calls into the moe-mlir runtime";
  let description = [{
    Lowers a module of npu device ops, `tensor.dim`/`tensor.cast`, `arith`,
    `cf` and `func` to the LLVM dialect. Tensors and events become opaque
    runtime handles (`!llvm.ptr`); every npu op becomes one call of
    `moert_npu_<op>` (declared on demand, as upstream lowers the `mpi`
    dialect to `MPI_*` calls) with one typed operand per ODS argument (the
    op's stream first) and one result slot per result. The calls are
    generated from the npu ODS by moe-tblgen, like the runtime's header
    `moe/Runtime/RuntimeAbi.h` (docs/RuntimeAbi.md, docs/Runtime.md). For every public function `@f` it adds
    `_moe_entry_f(ptr args, ptr results)`, the entry point drivers call.
    Control flow must already be in `cf` (run `convert-scf-to-cf` first).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MOE_CONVERSION_PASSES_TD
