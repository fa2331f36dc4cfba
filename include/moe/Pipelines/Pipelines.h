//===- Pipelines.h - named moe-mlir pass pipelines --------------*- C++ -*-===//
//
// `moe-compile` and `moe-lower-to-llvm`. The options of moe-compile are not
// written here: they are the options of its passes, declared once in their
// Passes.td, plus the pipeline's own switches; Pipelines.td lists them and
// moe-tblgen -gen-pipeline-options generates CompilePipelineOptions (in
// Pipelines.h.inc) and the code forwarding each option to its pass.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_PIPELINES_H
#define MOE_TRANSFORMS_PIPELINES_H

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>
#include <type_traits>

namespace mlir::moe {

/// One option of a pipeline, as `describe()` lists it.
struct PipelineOptionInfo {
  /// The option's argument, e.g. "max-num-reqs".
  std::string name;
  /// The pass it is forwarded to; empty for the pipeline's own switches.
  std::string pass;
  /// Its C++ type as declared, e.g. "int64_t", "::mlir::moe::Policy".
  std::string type;
  std::string description;
  /// The current value in the textual form the option parser reads.
  std::string value;
  /// The values an enum option accepts; empty for other options.
  llvm::SmallVector<std::string> allowed;
};

/// The info of one option of a PassPipelineOptions struct (used by the
/// generated `describe`).
template <typename OptionT>
PipelineOptionInfo describePipelineOption(const OptionT &option,
                                          llvm::StringRef pass,
                                          llvm::StringRef type,
                                          llvm::StringRef description) {
  PipelineOptionInfo info;
  info.name = option.ArgStr.str();
  info.pass = pass.str();
  info.type = type.str();
  info.description = description.str();
  // The parser's value list is not const in llvm::cl.
  OptionT &opt = const_cast<OptionT &>(option);
  using ParserT = std::decay_t<decltype(opt.getParser())>;
  if constexpr (std::is_base_of_v<llvm::cl::generic_parser_base, ParserT>) {
    ParserT &parser = opt.getParser();
    for (unsigned i = 0, e = parser.getNumOptions(); i < e; ++i)
      info.allowed.push_back(parser.getOption(i).str());
    if (std::optional<llvm::StringRef> name =
            parser.findArgStrForValue(opt.getValue()))
      info.value = name->str();
  } else {
    llvm::raw_string_ostream os(info.value);
    ::mlir::detail::pass_options::printOptionValue<ParserT>(os,
                                                            opt.getValue());
  }
  return info;
}

#define GEN_PIPELINE_OPTIONS_DECL
#include "moe/Pipelines/Pipelines.h.inc"

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
