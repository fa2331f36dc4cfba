//===- Executable.cpp - compile an MoE module and JIT it ------------------===//

#include "moe/Execution/Executable.h"

#include "DecisionRecorder.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Npu/NpuDialect.h"
#include "moe/Runtime/RuntimeCalls.h"
#include "moe/Dialect/Moe/Transforms/Passes.h"
#include "moe/Dialect/Npu/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <dlfcn.h>
#include <mutex>
#include <unistd.h>

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::registerExecutionDialects(DialectRegistry &registry) {
  registry.insert<MoeDialect, npu::NpuDialect, arith::ArithDialect,
                  cf::ControlFlowDialect, func::FuncDialect,
                  LLVM::LLVMDialect, scf::SCFDialect, tensor::TensorDialect>();
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

/// The JIT resolves the runtime's C ABI (moert_*) in the process's global
/// symbol scope. An embedder that dlopen()s the C API with RTLD_LOCAL (as
/// Python's ctypes does) has libMoeRuntime.so loaded locally: promote it.
static void exposeRuntimeSymbols() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&moert_retain), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
}

void mlir::moe::registerExecutionPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    exposeRuntimeSymbols();
    registerMoeTransformsPasses();
    registerNpuTransformsPasses();
    registerMoeConversionPasses();
    registerMoePipelines();
    // Upstream's general transforms (cse, canonicalize, ...), so pipelines
    // given to moe-run and the APIs compose them with ours, as in moe-opt.
    registerTransformsPasses();
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

FailureOr<func::FuncOp> mlir::moe::findEntry(ModuleOp module, StringRef name) {
  if (!name.empty()) {
    auto fn = module.lookupSymbol<func::FuncOp>(name);
    if (!fn || fn.isDeclaration())
      return module.emitError() << "no function @" << name << " to run";
    return fn;
  }
  // A compiled module's load-time functions (npu.load_function of their
  // step function) run with the step, never alone.
  llvm::SmallDenseSet<StringAttr> loadFunctions;
  if (auto *npuDialect =
          module.getContext()->getLoadedDialect<npu::NpuDialect>())
    for (auto fn : module.getOps<func::FuncOp>())
      if (FlatSymbolRefAttr ref =
              npuDialect->getLoadFunctionAttrHelper().getAttr(fn))
        loadFunctions.insert(ref.getAttr());
  func::FuncOp found;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn.isPublic() || fn.isDeclaration() ||
        loadFunctions.contains(fn.getSymNameAttr()))
      continue;
    if (found)
      return module.emitError()
             << "the module has several public functions (@"
             << found.getSymName() << ", @" << fn.getSymName()
             << "); choose one with --entry";
    found = fn;
  }
  if (!found)
    return module.emitError() << "the module has no public function to run";
  return found;
}

FailureOr<moert::DType> mlir::moe::runtimeDType(Type t) {
  if (t.isF32())
    return moert::DType::F32;
  if (t.isBF16())
    return moert::DType::BF16;
  if (t.isF16())
    return moert::DType::F16;
  if (t.isSignlessInteger(8))
    return moert::DType::I8;
  if (t.isSignlessInteger(4))
    return moert::DType::I4;
  if (t.isSignlessInteger(32))
    return moert::DType::I32;
  if (t.isSignlessInteger(64))
    return moert::DType::I64;
  if (t.isSignlessInteger(1))
    return moert::DType::I1;
  if (t.isFloat8E4M3FN())
    return moert::DType::F8E4M3FN;
  if (t.isFloat8E5M2())
    return moert::DType::F8E5M2;
  return failure();
}

/// The spec of an entry argument or result; fails for non-tensor types.
static FailureOr<TensorSpec> specOf(func::FuncOp fn, Type type,
                                    StringRef name) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  FailureOr<moert::DType> dtype =
      tensor ? runtimeDType(tensor.getElementType())
             : FailureOr<moert::DType>(failure());
  if (failed(dtype))
    return fn.emitError() << "@" << fn.getSymName() << " cannot be run: "
                          << name << " has type " << type
                          << "; entry points take and return ranked tensors "
                             "of f32, bf16, f16, i8, i4, i32, i64 or i1";
  TensorSpec spec;
  spec.name = name.str();
  spec.dtype = *dtype;
  for (int64_t d : tensor.getShape())
    spec.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  llvm::raw_string_ostream os(spec.type);
  os << type;
  return spec;
}

bool TensorSpec::accepts(const moert::Tensor &value) const {
  if (value.dtype != dtype || value.shape.size() != shape.size())
    return false;
  for (size_t d = 0; d < shape.size(); ++d)
    if (value.shape[d] < 0 || (shape[d] >= 0 && shape[d] != value.shape[d]))
      return false;
  return true;
}

Executable::~Executable() = default;

/// The planner's view of one matmul's operands (moert::MatmulShape), or
/// nothing when its weight is not a ranked tensor of a runtime type.
static std::optional<moert::MatmulShape>
matmulShape(Value weight, npu::MatmulQuant quant, Value groupScale,
            Value bias) {
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!type || type.getRank() < 2 || !type.hasStaticShape())
    return std::nullopt;
  FailureOr<moert::DType> dtype = runtimeDType(type.getElementType());
  if (failed(dtype))
    return std::nullopt;
  moert::MatmulShape shape;
  // npu and runtime enums are generated from one table (RuntimeAbi.h).
  shape.quant = static_cast<moert::MatmulQuant>(static_cast<int32_t>(quant));
  shape.weight = *dtype;
  shape.k = type.getDimSize(type.getRank() - 2);
  shape.n = type.getDimSize(type.getRank() - 1);
  if (groupScale) {
    auto gs = cast<RankedTensorType>(groupScale.getType());
    shape.kBlocks = gs.getDimSize(gs.getRank() - 2);
    if (ShapedType::isDynamic(shape.kBlocks))
      return std::nullopt;
  }
  shape.bias = static_cast<bool>(bias);
  shape.packed = isa_and_nonnull<npu::PackedAttr>(type.getEncoding());
  return shape;
}

/// The distinct matmul shapes of `module` (level 2).
static std::vector<moert::MatmulShape> collectMatmulShapes(ModuleOp module) {
  std::vector<moert::MatmulShape> shapes;
  auto add = [&](std::optional<moert::MatmulShape> shape) {
    if (shape && std::find(shapes.begin(), shapes.end(), *shape) == shapes.end())
      shapes.push_back(*shape);
  };
  module.walk([&](Operation *op) {
    if (auto mm = dyn_cast<npu::GroupedMatmulOp>(op))
      add(matmulShape(mm.getWeight(), mm.getQuant(), mm.getGroupScale(),
                      mm.getBias()));
    else if (auto mm = dyn_cast<npu::MatmulOp>(op))
      add(matmulShape(mm.getWeight(), mm.getQuant(), mm.getGroupScale(),
                      mm.getBias()));
    else if (auto fused = dyn_cast<npu::DispatchFfnCombineOp>(op))
      for (Value w : {fused.getW13(), fused.getW2()})
        add(matmulShape(w, fused.getQuant(), Value(), Value()));
  });
  return shapes;
}

int Executable::calibrate(int64_t maxTokensPerRank, int kernelThreads) const {
  int64_t ranks = parallel.worldSize();
  int threads = kernelThreads > 0 ? kernelThreads
                                  : moert::defaultKernelThreads(ranks);
  int saved = moert::kernelThreads();
  moert::setKernelThreads(threads);
  // A group (expert) receives at most one row per token of every rank.
  int64_t maxRows = maxTokensPerRank * ranks;
  int planned = 0;
  try {
    for (const moert::MatmulShape &shape : matmuls)
      planned += moert::calibrateMatmul(shape, maxRows);
  } catch (...) {
    moert::setKernelThreads(saved);
    throw;
  }
  moert::setKernelThreads(saved);
  // The synthetic operands' blocks are no step's sizes: do not keep them.
  moert::releaseKeptTensorMemory();
  return planned;
}

FailureOr<std::unique_ptr<Executable>>
Executable::compile(ModuleOp module, StringRef pipeline, StringRef entry) {
  registerExecutionPasses();
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> exe(new Executable());

  FailureOr<func::FuncOp> fn = findEntry(module, entry);
  if (failed(fn))
    return failure();
  std::string entryName = fn->getSymName().str();
  // An entry outlined already (level-2 IR from moe-opt) takes its load-time
  // function's results as trailing arguments, which the driver passes: the
  // user's arguments are the ones before them.
  size_t userArgs = fn->getNumArguments();
  if (auto *npuDialect =
          module.getContext()->getLoadedDialect<npu::NpuDialect>())
    if (FlatSymbolRefAttr ref =
            npuDialect->getLoadFunctionAttrHelper().getAttr(*fn))
      if (auto loadFn = module.lookupSymbol<func::FuncOp>(ref.getAttr()))
        userArgs -= std::min<size_t>(userArgs, loadFn.getNumResults());
  for (auto [i, type] : llvm::enumerate(fn->getArgumentTypes())) {
    if (i >= userArgs)
      break;
    std::string name = "arg" + std::to_string(i);
    if (auto attr = fn->getArgAttrOfType<StringAttr>(i, MoeDialect::kNameAttrName))
      name = attr.str();
    FailureOr<TensorSpec> spec = specOf(*fn, type, name);
    if (failed(spec))
      return failure();
    exe->args.push_back(*spec);
  }
  for (auto [i, type] : llvm::enumerate(fn->getResultTypes())) {
    FailureOr<TensorSpec> spec =
        specOf(*fn, type, "result " + std::to_string(i));
    if (failed(spec))
      return failure();
    exe->outs.push_back(*spec);
  }
  LayoutAttr layout = lookupLayout(*fn);
  exe->parallel.tp = layout.getTp();
  exe->parallel.dp = layout.getDp();
  exe->parallel.expertParallel = layout.getExpertParallel();
  exe->parallel.sequenceParallel = layout.getSequenceParallel();
  exe->parallel.pcp = layout.getPcp();

  // The pipeline to level 2, then (once the device ops and their streams
  // are known) the lowering. Pass names are relative to the module.
  // The recorder reads back what the pipeline decided for each layer
  // (Decisions.h) before the lowering erases it.
  DecisionRecorder recorder(module.getContext());
  if (!pipeline.empty()) {
    PassManager pm(module.getContext());
    std::string error;
    llvm::raw_string_ostream errorStream(error);
    if (failed(parsePassPipeline(pipeline, pm, errorStream)))
      return module.emitError() << "bad pipeline '" << pipeline
                                << "': " << errorStream.str();
    pm.addInstrumentation(recorder.instrumentation());
    if (failed(pm.run(module)))
      return failure();
  }
  exe->layerDecisions = recorder.finish(module);
  // The load-time function of the entry (the entry's trailing arguments
  // are its results). moe-compile outlines it already; outlining again is a
  // no-op, and covers pipelines without moe-compile.
  {
    PassManager outline(module.getContext());
    outline.addPass(createOutlineLoadTime());
    if (failed(outline.run(module)))
      return failure();
  }
  std::string loadName;
  if (func::FuncOp compiled = module.lookupSymbol<func::FuncOp>(entryName)) {
    auto *npuDialect = module.getContext()->getOrLoadDialect<npu::NpuDialect>();
    if (FlatSymbolRefAttr ref =
            npuDialect->getLoadFunctionAttrHelper().getAttr(compiled)) {
      auto loadFn = module.lookupSymbol<func::FuncOp>(ref.getAttr());
      DenseI64ArrayAttr loadArgs =
          npuDialect->getLoadArgsAttrHelper().getAttr(compiled);
      if (!loadFn || !loadArgs)
        return compiled.emitError() << "@" << entryName
                                    << " names a load-time function it lacks";
      loadName = ref.getValue().str();
      for (int64_t index : loadArgs.asArrayRef())
        exe->load.args.push_back(static_cast<size_t>(index));
      exe->load.numResults = loadFn.getNumResults();
      static std::atomic<uint64_t> nextId{1};
      exe->load.id = nextId++;
    }
  }
  llvm::SmallDenseSet<int64_t> streamIds;
  streamIds.insert(0);
  module.walk([&](npu::StreamOpInterface op) {
    streamIds.insert(op.getStreamId());
  });
  exe->streams = static_cast<int64_t>(streamIds.size());
  exe->matmuls = collectMatmulShapes(module);
  PassManager lower(module.getContext());
  buildLowerToLLVMPipeline(lower);
  if (failed(lower.run(module)))
    return failure();

  // ExecutionEngineOptions::transformer is a function_ref: the
  // std::function it refers to must outlive ExecutionEngine::create (a
  // temporary here was a stack-use-after-scope under ASan).
  std::function<llvm::Error(llvm::Module *)> transformer =
      makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0, nullptr);
  ExecutionEngineOptions options;
  options.transformer = transformer;
  options.enableObjectDump = true;
  auto engine = ExecutionEngine::create(module, options);
  if (!engine)
    return module.emitError() << "JIT compilation failed: "
                              << llvm::toString(engine.takeError());
  exe->engine = std::move(*engine);
  auto symbol = exe->engine->lookup("_moe_entry_" + entryName);
  if (!symbol)
    return module.emitError() << "@" << entryName
                              << " has no entry point after lowering: "
                              << llvm::toString(symbol.takeError());
  exe->fn = reinterpret_cast<moert::EntryFn>(*symbol);
  if (!loadName.empty()) {
    auto loadSymbol = exe->engine->lookup("_moe_entry_" + loadName);
    if (!loadSymbol)
      return module.emitError() << "@" << loadName
                                << " has no entry point after lowering: "
                                << llvm::toString(loadSymbol.takeError());
    exe->load.entry = reinterpret_cast<moert::EntryFn>(*loadSymbol);
  }
  exe->seconds = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  return exe;
}

LogicalResult Executable::dumpObject(StringRef path,
                                     std::string &error) const {
  // ExecutionEngine::dumpToObjectFile reports failures only on stderr:
  // write a temporary file beside `path`, check it, then rename it over.
  SmallString<256> temp;
  int fd = -1;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(
          path + "-%%%%%%.tmp", fd, temp)) {
    error = ec.message();
    return failure();
  }
  ::close(fd);
  llvm::FileRemover remover(temp);
  engine->dumpToObjectFile(temp);
  uint64_t size = 0;
  if (llvm::sys::fs::file_size(temp, size) || size == 0) {
    error = "the JIT produced no object code";
    return failure();
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, path)) {
    error = ec.message();
    return failure();
  }
  return success();
}
