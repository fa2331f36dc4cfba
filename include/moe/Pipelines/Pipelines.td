//===- Pipelines.td - the named pass pipelines -------------*- tablegen -*-===//
//
// The options of the named pipelines, declared once: a pipeline's options
// are its own switches plus every option of the passes it forwards to, as
// those passes declare them in their Passes.td. moe-tblgen
// -gen-pipeline-options (tools/moe-tblgen/PipelineOptionsGen.cpp) emits the
// PassPipelineOptions struct and the code that fills each pass's options
// struct from it; lib/Pipelines/Pipelines.cpp builds the pipeline with them.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_TD
#define MOE_PIPELINES_PIPELINES_TD

include "moe/Dialect/Moe/Transforms/Passes.td"
include "moe/Conversion/Passes.td"
include "moe/Dialect/Npu/Transforms/Passes.td"

// A named pass pipeline.
class PassPipeline<string arg, string cppName> {
  // The pipeline's name in textual pipelines (`moe-compile{...}`).
  string argument = arg;
  // The C++ name of its PassPipelineOptions struct.
  string cppClassName = cppName;
  string summary = "";
  // The passes whose options are options of the pipeline, with their
  // names, types, defaults and descriptions.
  list<PassBase> passes = [];
  // Switches of the pipeline itself (e.g. whether a pass runs).
  list<Option> options = [];
}

def CompilePipeline : PassPipeline<"moe-compile", "CompilePipelineOptions"> {
  let summary = "select -> expand -> fuse -> schedule -> verify.";
  // The passes of lib/Pipelines/Pipelines.cpp's buildCompilePipeline.
  let passes = [SelectCommMethod, ConvertMoeToNpu, FuseQuantIntoDispatch,
                ScheduleMultistream, VerifyStreams];
  let options = [
    Option<"fuseQuant", "fuse-quant", "bool", /*default=*/"true",
           "Run moe-fuse-quant-into-dispatch">,
    Option<"multistream", "multistream", "bool", /*default=*/"true",
           "Run moe-schedule-multistream">,
    Option<"packWeights", "pack-weights", "bool", /*default=*/"true",
           "Run moe-pack-weights (f32, int8 and int4 expert weights repacked at load)">
  ];
}

#endif // MOE_PIPELINES_PIPELINES_TD
