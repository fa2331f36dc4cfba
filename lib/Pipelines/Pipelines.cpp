//===- Pipelines.cpp - named moe-mlir pass pipelines ----------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::moe;

namespace mlir::moe {
#define GEN_PIPELINE_OPTIONS_DEF
#include "moe/Pipelines/Pipelines.h.inc"
} // namespace mlir::moe

void mlir::moe::buildCompilePipeline(OpPassManager &pm,
                                     const CompilePipelineOptions &options) {
  pm.addPass(createRejectNestedModules());
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(createSelectCommMethod(options.getSelectCommMethodOptions()));
  fpm.addPass(createConvertMoeToNpu(options.getConvertMoeToNpuOptions()));
  // The converted function is one block of acyclic SSA values: the greedy
  // driver's own dead-op removal leaves nothing for region simplification
  // (liveness-based region DCE), which would cost half the pass.
  GreedyRewriteConfig cleanup;
  cleanup.enableRegionSimplification = GreedySimplifyRegionLevel::Disabled;
  fpm.addPass(createCanonicalizerPass(cleanup));
  // One exchange of token counts per step instead of one or two per layer.
  fpm.addPass(createMergeStepSync());
  if (options.fuseQuant)
    fpm.addPass(createFuseQuantIntoDispatch());
  if (options.multistream)
    fpm.addPass(
        createScheduleMultistream(options.getScheduleMultistreamOptions()));
  fpm.addPass(createVerifyStreams(options.getVerifyStreamsOptions()));
  if (options.packWeights)
    fpm.addPass(createPackWeights());
  // Weight processing runs once before the first step, not in every step.
  pm.addPass(createOutlineLoadTime());
}

void mlir::moe::buildLowerToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createRejectNestedModules());
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(createCanonicalizerPass());
  fpm.addPass(createRuntimeRefCounting());
  fpm.addPass(createConvertSCFToCFPass());
  pm.addPass(createConvertNpuToRuntime());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::moe::registerMoePipelines() {
  registerMoePipelinesPasses();
  PassPipelineRegistration<CompilePipelineOptions>(
      "moe-compile",
      "Compile MoE layers to scheduled device ops: select the communication "
      "method, expand it into device ops, fuse quantization into dispatch, "
      "schedule multistream overlap and verify the streams",
      buildCompilePipeline);
  PassPipelineRegistration<>(
      "moe-lower-to-llvm",
      "Lower scheduled device ops to LLVM dialect calls into the runtime "
      "(reference counting, scf-to-cf, convert-npu-to-runtime)",
      buildLowerToLLVMPipeline);
}
