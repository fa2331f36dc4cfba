//===- PipelineOptionsGen.cpp - options of a named pass pipeline ----------===//
//
// -gen-pipeline-options: for every `PassPipeline` record (see
// include/moe/Pipelines/Pipelines.td) the `PassPipelineOptions` struct of
// the pipeline and the code that forwards its options to its passes:
//
// - the pipeline's own `options` (switches such as `fuse-quant`), then every
//   option of every pass in `passes`, in that order, each declared exactly
//   as the pass declares it (argument, C++ type, default, description and
//   additional flags such as `cl::values`);
// - `<Pass>Options get<Pass>Options() const` for every pass with options,
//   filling the pass's generated options struct (-gen-pass-decls) field by
//   field;
// - `describe(...)`, which lists every option with the pass it reaches and
//   its current value as text, for the embedding APIs and their tests.
//
// A pass option declared twice (two passes using one argument or C++ name,
// or a pipeline switch shadowing one) is an error, as are list options
// (not needed yet).
//
// Output sections: GEN_PIPELINE_OPTIONS_DECL (the structs, in a header) and
// GEN_PIPELINE_OPTIONS_DEF (the member functions, in one source file).
//
//===----------------------------------------------------------------------===//

#include "mlir/TableGen/GenInfo.h"
#include "mlir/TableGen/Pass.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TableGen/Error.h"
#include "llvm/TableGen/TableGenBackend.h"
#include "llvm/TableGen/Record.h"

#include <vector>

using namespace mlir;
using llvm::Record;
using llvm::RecordKeeper;

namespace {
/// One option of a pipeline and the pass it belongs to (none for the
/// pipeline's own switches).
struct PipelineOption {
  tblgen::PassOption option;
  const tblgen::Pass *pass;
};

/// A `PassPipeline` record.
struct Pipeline {
  const Record *def;
  std::vector<tblgen::Pass> passes;
  std::vector<tblgen::PassOption> ownOptions;

  explicit Pipeline(const Record *def) : def(def) {
    for (const Record *pass : def->getValueAsListOfDefs("passes"))
      passes.emplace_back(pass);
    for (const Record *option : def->getValueAsListOfDefs("options"))
      ownOptions.emplace_back(option);
  }
  StringRef getArgument() const { return def->getValueAsString("argument"); }
  StringRef getCppClassName() const {
    return def->getValueAsString("cppClassName");
  }
  StringRef getSummary() const { return def->getValueAsString("summary"); }

  /// Every option in declaration order; reports duplicates.
  std::vector<PipelineOption> collectOptions() const {
    std::vector<PipelineOption> all;
    for (const tblgen::PassOption &option : ownOptions)
      all.push_back({option, nullptr});
    for (const tblgen::Pass &pass : passes)
      for (const tblgen::PassOption &option : pass.getOptions())
        all.push_back({option, &pass});
    llvm::StringSet<> arguments, cppNames;
    for (const PipelineOption &o : all) {
      StringRef where =
          o.pass ? o.pass->getArgument() : StringRef("the pipeline itself");
      if (o.option.isListOption())
        llvm::PrintFatalError(def->getLoc(),
                              "pipeline '" + getArgument() +
                                  "': list option '" +
                                  o.option.getArgument() + "' of " + where +
                                  " is not supported");
      if (!arguments.insert(o.option.getArgument()).second)
        llvm::PrintFatalError(def->getLoc(),
                              "pipeline '" + getArgument() + "': option '" +
                                  o.option.getArgument() + "' of " + where +
                                  " is declared twice");
      if (!cppNames.insert(o.option.getCppVariableName()).second)
        llvm::PrintFatalError(def->getLoc(),
                              "pipeline '" + getArgument() +
                                  "': C++ option name '" +
                                  o.option.getCppVariableName() + "' of " +
                                  where + " is used twice");
    }
    return all;
  }
};
} // namespace

/// The C++ name of the options struct -gen-pass-decls emits for `pass`.
static std::string passOptionsStruct(const tblgen::Pass &pass) {
  return (pass.getDef()->getName() + "Options").str();
}

/// A C++ string literal holding `text`.
static std::string literal(StringRef text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

static void emitDecl(const Pipeline &pipeline, raw_ostream &os) {
  std::vector<PipelineOption> options = pipeline.collectOptions();
  os << "/// Options of the `" << pipeline.getArgument() << "` pipeline: "
     << pipeline.getSummary() << "\n";
  os << "struct " << pipeline.getCppClassName()
     << "\n    : public ::mlir::PassPipelineOptions<"
     << pipeline.getCppClassName() << "> {\n";
  const tblgen::Pass *current = nullptr;
  bool first = true;
  for (const PipelineOption &o : options) {
    if (first || o.pass != current) {
      os << (o.pass ? llvm::formatv("  // {0}\n", o.pass->getArgument()).str()
                    : std::string("  // the pipeline's own switches\n"));
      current = o.pass;
      first = false;
    }
    os << llvm::formatv("  Option<{0}> {1}{{*this, {2}, "
                        "::llvm::cl::desc({3})",
                        o.option.getType(), o.option.getCppVariableName(),
                        literal(o.option.getArgument()),
                        literal(o.option.getDescription()));
    if (std::optional<StringRef> init = o.option.getDefaultValue())
      os << ", ::llvm::cl::init(" << *init << ")";
    if (std::optional<StringRef> flags = o.option.getAdditionalFlags())
      os << ", " << *flags;
    os << "};\n";
  }
  os << "\n";
  for (const tblgen::Pass &pass : pipeline.passes)
    if (!pass.getOptions().empty())
      os << llvm::formatv("  /// The options of `{0}`.\n"
                          "  {1} get{1}() const;\n",
                          pass.getArgument(), passOptionsStruct(pass));
  os << "\n  /// Every option in declaration order: its argument, the pass it "
        "is\n  /// forwarded to (empty for the pipeline's own switches), C++ "
        "type,\n  /// description, current value and the values an enum "
        "option accepts.\n"
        "  void describe(::llvm::SmallVectorImpl<::mlir::moe::"
        "PipelineOptionInfo> &out) const;\n";
  os << "};\n\n";
}

static void emitDef(const Pipeline &pipeline, raw_ostream &os) {
  std::vector<PipelineOption> options = pipeline.collectOptions();
  StringRef cls = pipeline.getCppClassName();
  for (const tblgen::Pass &pass : pipeline.passes) {
    if (pass.getOptions().empty())
      continue;
    std::string name = passOptionsStruct(pass);
    os << llvm::formatv("{0} {1}::get{0}() const {{\n  {0} options;\n", name,
                        cls);
    for (const tblgen::PassOption &option : pass.getOptions())
      os << llvm::formatv("  options.{0} = {0};\n",
                          option.getCppVariableName());
    os << "  return options;\n}\n\n";
  }
  os << llvm::formatv("void {0}::describe(\n    ::llvm::SmallVectorImpl<::mlir::"
                      "moe::PipelineOptionInfo> &out) const {{\n",
                      cls);
  for (const PipelineOption &o : options)
    os << llvm::formatv("  out.push_back(::mlir::moe::describePipelineOption("
                        "{0}, {1}, {2}, {3}));\n",
                        o.option.getCppVariableName(),
                        literal(o.pass ? o.pass->getArgument() : ""),
                        literal(o.option.getType()),
                        literal(o.option.getDescription()));
  os << "}\n\n";
}

static bool emitPipelineOptions(const RecordKeeper &records, raw_ostream &os) {
  llvm::emitSourceFileHeader("Options of the named pass pipelines", os,
                             records);
  std::vector<Pipeline> pipelines;
  for (const Record *def : records.getAllDerivedDefinitions("PassPipeline"))
    pipelines.emplace_back(def);
  os << "#ifdef GEN_PIPELINE_OPTIONS_DECL\n#undef GEN_PIPELINE_OPTIONS_DECL\n\n";
  for (const Pipeline &pipeline : pipelines)
    emitDecl(pipeline, os);
  os << "#endif // GEN_PIPELINE_OPTIONS_DECL\n\n";
  os << "#ifdef GEN_PIPELINE_OPTIONS_DEF\n#undef GEN_PIPELINE_OPTIONS_DEF\n\n";
  for (const Pipeline &pipeline : pipelines)
    emitDef(pipeline, os);
  os << "#endif // GEN_PIPELINE_OPTIONS_DEF\n";
  return false;
}

static mlir::GenRegistration
    genPipelineOptions("gen-pipeline-options",
                       "Generate the options struct of every PassPipeline "
                       "and the code forwarding them to its passes",
                       emitPipelineOptions);
