//===- Pipelines.cpp - named moe-mlir pass pipelines ----------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::buildCompilePipeline(OpPassManager &pm,
                                     const CompilePipelineOptions &options) {
  pm.addPass(createRejectNestedModules());
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  SelectCommMethodOptions select;
  select.policy = options.policy;
  select.method = options.method;
  select.maxNumReqs = options.maxNumReqs;
  select.decodeQueryLen = options.decodeQueryLen;
  select.maxGraphSize = options.maxGraphSize;
  select.maxNumBatchedTokens = options.maxNumBatchedTokens;
  select.prefillMc2 = options.prefillMc2;
  select.fusedMc2 = options.fusedMc2;
  select.megaMoe = options.megaMoe;
  select.lora = options.lora;
  select.maxTokens = options.maxTokens;
  fpm.addPass(createSelectCommMethod(select));
  ExpandCommOptions expand;
  expand.checkMc2Capacity = options.checkMc2Capacity;
  fpm.addPass(createExpandComm(expand));
  fpm.addPass(createCanonicalizerPass());
  if (options.fuseQuant)
    fpm.addPass(createFuseQuantIntoDispatch());
  if (options.multistream) {
    ScheduleMultistreamOptions schedule;
    schedule.gateOverlap = options.gateOverlap;
    schedule.sharedExpertsOverlap = options.sharedExpertsOverlap;
    fpm.addPass(createScheduleMultistream(schedule));
  }
  fpm.addPass(createVerifyStreams());
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
