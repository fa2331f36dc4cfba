//===- Pipelines.h - named moe-mlir pass pipelines --------------*- C++ -*-===//

#ifndef MOE_TRANSFORMS_PIPELINES_H
#define MOE_TRANSFORMS_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::moe {

/// Options of the `moe-compile` pipeline: select -> expand -> fuse ->
/// schedule -> verify.
struct CompilePipelineOptions
    : public PassPipelineOptions<CompilePipelineOptions> {
  Option<std::string> policy{*this, "policy",
                             llvm::cl::desc("Method selection policy: table, "
                                            "cost-model or fixed"),
                             llvm::cl::init("table")};
  Option<std::string> method{*this, "method",
                             llvm::cl::desc("Method for policy=fixed"),
                             llvm::cl::init("")};
  Option<int64_t> maxNumReqs{*this, "max-num-reqs",
                             llvm::cl::desc("vLLM max_num_seqs"),
                             llvm::cl::init(256)};
  Option<int64_t> decodeQueryLen{*this, "decode-query-len",
                                 llvm::cl::desc("Tokens per decode request"),
                                 llvm::cl::init(1)};
  Option<int64_t> maxGraphSize{*this, "max-graph-size",
                               llvm::cl::desc("Largest captured graph size"),
                               llvm::cl::init(0)};
  Option<int64_t> maxNumBatchedTokens{
      *this, "max-num-batched-tokens",
      llvm::cl::desc("vLLM max_num_batched_tokens"), llvm::cl::init(8192)};
  Option<bool> prefillMc2{*this, "prefill-mc2",
                          llvm::cl::desc("enable_prefill_mc2"),
                          llvm::cl::init(false)};
  Option<bool> fusedMc2{*this, "fused-mc2", llvm::cl::desc("enable_fused_mc2"),
                        llvm::cl::init(false)};
  Option<bool> megaMoe{*this, "mega-moe", llvm::cl::desc("CANN MegaMoE"),
                       llvm::cl::init(false)};
  Option<bool> lora{*this, "lora",
                    llvm::cl::desc("The model serves LoRA adapters"),
                    llvm::cl::init(false)};
  Option<int64_t> maxTokens{
      *this, "max-tokens",
      llvm::cl::desc("Largest per-rank token count for the cost model "
                     "(0: max-num-batched-tokens)"),
      llvm::cl::init(0)};
  Option<bool> fuseQuant{*this, "fuse-quant",
                         llvm::cl::desc("Run moe-fuse-quant-into-dispatch"),
                         llvm::cl::init(true)};
  Option<bool> multistream{*this, "multistream",
                           llvm::cl::desc("Run moe-schedule-multistream"),
                           llvm::cl::init(true)};
  Option<bool> gateOverlap{*this, "gate-overlap",
                           llvm::cl::desc("Overlap the gate all-gathers"),
                           llvm::cl::init(true)};
  Option<bool> sharedExpertsOverlap{
      *this, "shared-experts-overlap",
      llvm::cl::desc("Shared experts on an auxiliary stream"),
      llvm::cl::init(true)};
  Option<bool> checkMc2Capacity{
      *this, "check-mc2-capacity",
      llvm::cl::desc("Check the MC2 per-rank capacity at run time"),
      llvm::cl::init(true)};
};

/// Adds select -> expand -> (fuse) -> (schedule) -> verify to `pm`, after
/// moe-reject-nested-modules.
void buildCompilePipeline(OpPassManager &pm,
                          const CompilePipelineOptions &options);

/// Adds the lowering to LLVM dialect calls into the runtime:
/// moe-runtime-ref-counting -> convert-scf-to-cf -> convert-npu-to-runtime
/// -> reconcile-unrealized-casts.
void buildLowerToLLVMPipeline(OpPassManager &pm);

/// Registers `moe-compile` and `moe-lower-to-llvm` with the pass registry,
/// and the passes of include/moe/Pipelines/Passes.td they use.
void registerMoePipelines();

} // namespace mlir::moe

#endif // MOE_TRANSFORMS_PIPELINES_H
