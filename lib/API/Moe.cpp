//===- Moe.cpp - the moe-mlir C++ embedding API ---------------------------===//
//
// The classes of moe/Moe.h on top of the internals: compilation through
// moe::Executable (lib/Execution), runs through moert::runRank
// (lib/Runtime/Executor.cpp) on a moert thread world.
//
//===----------------------------------------------------------------------===//

#include "moe/Moe.h"

#include "moe/Execution/ChromeTrace.h"
#include "moe/Execution/Executable.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Runtime/Executor.h"
#include "moe/Support/ParserHazards.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <unistd.h>

using namespace mlir;
namespace moe::api {

uint32_t apiVersion() { return MOE_C_API_VERSION; }

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

/// Bytes of a tensor of `shape`; InvalidArgument for a negative dimension
/// or a size beyond 2^63 - 1 elements or bytes (never a wrapped count).
static size_t checkedBytes(DType dtype, const std::vector<int64_t> &shape) {
  for (int64_t d : shape)
    if (d < 0)
      throw Error(Error::InvalidArgument,
                  "negative dimension in a tensor shape");
  std::optional<int64_t> elements = moert::checkedNumel(shape);
  std::optional<size_t> bytes =
      elements ? moert::checkedStorageBytes(dtype, *elements) : std::nullopt;
  if (!bytes)
    throw Error(Error::InvalidArgument, "tensor shape overflows");
  return *bytes;
}

Tensor copyOf(const void *data, DType dtype, std::vector<int64_t> shape) {
  size_t bytes = checkedBytes(dtype, shape);
  if (!data && bytes)
    throw Error(Error::InvalidArgument, "tensor data is null");
  Tensor t = Tensor::empty(dtype, std::move(shape));
  if (bytes)
    std::memcpy(t.bytes(), data, bytes);
  return t;
}

Tensor borrow(const void *data, DType dtype, std::vector<int64_t> shape) {
  // The runtime's storage is 64-byte aligned; keep that promise.
  if (reinterpret_cast<uintptr_t>(data) % 64 != 0)
    return copyOf(data, dtype, std::move(shape));
  checkedBytes(dtype, shape);
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.storage = std::shared_ptr<uint8_t>(
      static_cast<uint8_t *>(const_cast<void *>(data)), moert::BorrowedStorage());
  return t;
}

std::optional<Tensor> shareStorage(const Tensor &owner, const void *data,
                                   DType dtype, std::vector<int64_t> shape) {
  size_t bytes = checkedBytes(dtype, shape);
  if (!owner.storage || owner.bytes() != data || bytes > owner.nbytes())
    return std::nullopt;
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.storage = owner.storage;
  return t;
}

/// True when `a` and `b` share storage ownership (also through aliasing
/// shared_ptrs into the same block).
static bool sameOwner(const Tensor &a, const Tensor &b) {
  return a.storage && b.storage && !a.storage.owner_before(b.storage) &&
         !b.storage.owner_before(a.storage);
}

//===----------------------------------------------------------------------===//
// Options, registration, diagnostics
//===----------------------------------------------------------------------===//

/// Runs `fn` with file descriptor 2 redirected into the returned string.
/// llvm::cl reports a bad option value on llvm::errs() only (not on the
/// stream PassOptions::parseFromString takes), so this is how the parser's
/// own message reaches the caller instead of the terminal.
static std::string captureStderr(llvm::function_ref<void()> fn) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  llvm::errs().flush();
  std::fflush(stderr);
  std::FILE *tmp = std::tmpfile();
  int saved = tmp ? ::dup(2) : -1;
  if (saved < 0) {
    if (tmp)
      std::fclose(tmp);
    fn();
    return "";
  }
  ::dup2(::fileno(tmp), 2);
  fn();
  llvm::errs().flush();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text;
  std::rewind(tmp);
  char buffer[512];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), tmp)) > 0;)
    text.append(buffer, n);
  std::fclose(tmp);
  return text;
}

/// "name=value", or "name" for a flag set with "".
static std::string optionText(const std::string &name,
                              const std::string &value) {
  if (value.empty())
    return name;
  bool space = value.find_first_of(" \t\n") != std::string::npos;
  return name + "=" + (space ? "\"" + value + "\"" : value);
}

/// The option parser's message without llvm::cl's program-name prefix
/// (the embedding program's, or none) and trailing newlines.
static std::string parserMessage(std::string text) {
  size_t at = text.find("for the --");
  if (at != std::string::npos)
    text = text.substr(at);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

CompileOptions &CompileOptions::set(const std::string &name,
                                    const std::string &value) {
  if (name.empty() || name.find_first_of(" ={}") != std::string::npos)
    throw Error(Error::InvalidArgument,
                "invalid moe-compile option name '" + name + "'");
  mlir::moe::CompilePipelineOptions parsed;
  std::string message;
  llvm::raw_string_ostream os(message);
  LogicalResult result = failure();
  std::string printed = captureStderr(
      [&] { result = parsed.parseFromString(optionText(name, value), os); });
  if (failed(result))
    throw Error(Error::InvalidArgument,
                parserMessage(message.empty() ? printed : message));
  for (auto &[n, v] : settings)
    if (n == name) {
      v = value;
      return *this;
    }
  settings.emplace_back(name, value);
  return *this;
}

std::string CompileOptions::pipelineText() const {
  if (pipeline)
    return *pipeline;
  std::string text = "moe-compile";
  if (settings.empty())
    return text;
  text += "{";
  for (size_t i = 0; i < settings.size(); ++i)
    text += (i ? " " : "") + optionText(settings[i].first, settings[i].second);
  return text + "}";
}

std::string CompileOptions::passPipeline() const {
  registerPasses();
  OpPassManager pm("builtin.module");
  std::string message, printed;
  llvm::raw_string_ostream os(message);
  LogicalResult result = failure();
  printed = captureStderr(
      [&] { result = parsePassPipeline(pipelineText(), pm, os); });
  if (failed(result))
    throw Error(Error::Compile, message + printed);
  std::string text;
  llvm::raw_string_ostream out(text);
  pm.printAsTextualPipeline(out);
  return text;
}

std::vector<CompileOptionInfo> compileOptionInfos() {
  llvm::SmallVector<mlir::moe::PipelineOptionInfo> infos;
  mlir::moe::CompilePipelineOptions().describe(infos);
  std::vector<CompileOptionInfo> result;
  for (const mlir::moe::PipelineOptionInfo &info : infos)
    result.push_back(CompileOptionInfo{
        info.name, info.pass, info.type, info.value, info.description,
        std::vector<std::string>(info.allowed.begin(), info.allowed.end())});
  return result;
}

void registerDialects(DialectRegistry &registry) {
  mlir::moe::registerExecutionDialects(registry);
}

void registerPasses() { mlir::moe::registerExecutionPasses(); }

namespace {
/// Collects the errors a context reports during a call (warnings and
/// remarks are dropped) so they become the message of an Error.
class DiagnosticCapture {
public:
  explicit DiagnosticCapture(MLIRContext *context)
      : context(context), printOp(context->shouldPrintOpOnDiagnostic()),
        handler(context, [this](Diagnostic &d) {
          if (d.getSeverity() == DiagnosticSeverity::Error)
            append(d, "error");
          return success();
        }) {
    // Messages name locations; a dump of the whole module would bury them.
    context->printOpOnDiagnostic(false);
  }
  ~DiagnosticCapture() { context->printOpOnDiagnostic(printOp); }

  [[noreturn]] void fail(const std::string &fallback) const {
    throw Error(Error::Compile, text.empty() ? fallback : text);
  }

private:
  void append(Diagnostic &d, const char *kind) {
    if (!text.empty())
      text += "\n";
    if (auto loc = dyn_cast<FileLineColLoc>(d.getLocation()))
      text += loc.getFilename().str() + ":" + std::to_string(loc.getLine()) +
              ":" + std::to_string(loc.getColumn()) + ": ";
    text += std::string(kind) + ": " + d.str();
    for (Diagnostic &note : d.getNotes())
      text += "\n  note: " + note.str();
  }

  MLIRContext *context;
  bool printOp;
  std::string text;
  ScopedDiagnosticHandler handler;
};
} // namespace

//===----------------------------------------------------------------------===//
// Compiler and Executable
//===----------------------------------------------------------------------===//

struct Executable::Impl {
  std::unique_ptr<mlir::moe::Executable> exe;
  std::vector<TensorInfo> arguments, results;
  std::string entry;
};

struct Compiler::Impl {
  std::unique_ptr<MLIRContext> owned;
  MLIRContext *context = nullptr;
};

/// Adds and loads every dialect, so embedders can build attributes and
/// types in the context right away.
static void addDialects(MLIRContext &context) {
  DialectRegistry registry;
  registerDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
}

Compiler::Compiler() : impl(std::make_unique<Impl>()) {
  impl->owned = std::make_unique<MLIRContext>();
  impl->context = impl->owned.get();
  addDialects(*impl->context);
}

Compiler::Compiler(MLIRContext &context) : impl(std::make_unique<Impl>()) {
  addDialects(context);
  impl->context = &context;
}

Compiler::~Compiler() = default;
Compiler::Compiler(Compiler &&) noexcept = default;
Compiler &Compiler::operator=(Compiler &&) noexcept = default;

MLIRContext &Compiler::context() { return *impl->context; }

static TensorInfo infoOf(const mlir::moe::TensorSpec &spec) {
  return TensorInfo{spec.name, spec.dtype, spec.shape, spec.type};
}

Executable Compiler::compile(ModuleOp module, const CompileOptions &options) {
  if (!module)
    throw Error(Error::InvalidArgument, "compile: null module");
  DiagnosticCapture capture(module->getContext());
  OwningOpRef<ModuleOp> copy = module.clone();
  FailureOr<func::FuncOp> entry =
      mlir::moe::findEntry(*copy, options.entry);
  std::string entryName = succeeded(entry) ? entry->getName().str() : "";
  FailureOr<std::unique_ptr<mlir::moe::Executable>> exe =
      mlir::moe::Executable::compile(*copy, options.pipelineText(),
                                     options.entry);
  if (failed(exe))
    capture.fail("compilation failed");
  auto result = std::make_shared<Executable::Impl>();
  result->exe = std::move(*exe);
  result->entry = entryName;
  for (const mlir::moe::TensorSpec &spec : result->exe->arguments())
    result->arguments.push_back(infoOf(spec));
  for (const mlir::moe::TensorSpec &spec : result->exe->results())
    result->results.push_back(infoOf(spec));
  return Executable(std::move(result));
}

Executable Compiler::compile(std::string_view source,
                             const CompileOptions &options) {
  OwningOpRef<ModuleOp> module;
  {
    DiagnosticCapture capture(impl->context);
    llvm::SourceMgr sources;
    // A copy: MLIR's lexer reads up to a NUL after the text, which the
    // caller's view (or the C API's pointer and length) need not have.
    sources.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(
            llvm::StringRef(source.data(), source.size()), "<source>"),
        llvm::SMLoc());
    if (succeeded(mlir::moe::rejectParserHazards(sources, impl->context)))
      module = parseSourceFile<ModuleOp>(sources, ParserConfig(impl->context));
    if (!module)
      capture.fail("cannot parse the module");
  }
  return compile(*module, options);
}

Executable Compiler::compileFile(const std::string &path,
                                 const CompileOptions &options) {
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(path, &error);
  if (!file)
    throw Error(Error::InvalidArgument, error);
  OwningOpRef<ModuleOp> module;
  {
    DiagnosticCapture capture(impl->context);
    llvm::SourceMgr sources;
    sources.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    if (succeeded(mlir::moe::rejectParserHazards(sources, impl->context)))
      module = parseSourceFile<ModuleOp>(sources, ParserConfig(impl->context));
    if (!module)
      capture.fail("cannot parse " + path);
  }
  return compile(*module, options);
}

Executable::Executable(std::shared_ptr<const Impl> impl)
    : impl(std::move(impl)) {}

const std::vector<TensorInfo> &Executable::arguments() const {
  return impl->arguments;
}
const std::vector<TensorInfo> &Executable::results() const {
  return impl->results;
}
const std::string &Executable::entryName() const { return impl->entry; }
const Layout &Executable::layout() const { return impl->exe->layout(); }
double Executable::compileSeconds() const {
  return impl->exe->compileSeconds();
}

const std::vector<LayerDecision> &Executable::decisions() const {
  return impl->exe->decisions();
}

std::string Executable::decisionsJson() const {
  return mlir::moe::decisionsToJson(impl->exe->decisions());
}

//===----------------------------------------------------------------------===//
// World and runs
//===----------------------------------------------------------------------===//

struct World::Impl {
  std::unique_ptr<moert::World> world;
  int kernelThreads = 1;
  bool checkFinite = true;
  bool trace = false;
  /// With `trace`: the spans of every run so far, per rank.
  std::vector<moert::Trace> traces;
  mutable std::mutex traceMutex;
  /// One flag per rank: a run of that rank is in progress.
  std::unique_ptr<std::atomic<bool>[]> busy;
};

static bool sameLayout(const Layout &a, const Layout &b) {
  return a.tp == b.tp && a.dp == b.dp && a.expertParallel == b.expertParallel &&
         a.sequenceParallel == b.sequenceParallel && a.pcp == b.pcp;
}

static std::string describe(const Layout &l) {
  return "tp " + std::to_string(l.tp) + ", dp " + std::to_string(l.dp) +
         (l.expertParallel ? ", expert parallel" : "") +
         (l.sequenceParallel ? ", sequence parallel" : "") +
         (l.pcp > 1 ? ", pcp " + std::to_string(l.pcp) : "");
}

World::World(const Layout &layout, const WorldOptions &options)
    : impl(std::make_unique<Impl>()) {
  if (layout.tp < 1 || layout.dp < 1)
    throw Error(Error::InvalidArgument,
                "a world needs tp and dp of at least 1 (" + describe(layout) +
                    ")");
  int ranks = static_cast<int>(layout.worldSize());
  impl->world = moert::createThreadWorld(layout, options.timeoutSeconds);
  impl->kernelThreads = options.kernelThreads > 0
                            ? options.kernelThreads
                            : moert::defaultKernelThreads(ranks);
  impl->checkFinite = options.checkFinite;
  impl->trace = options.trace;
  impl->traces.resize(static_cast<size_t>(ranks));
  impl->busy = std::make_unique<std::atomic<bool>[]>(ranks);
  for (int r = 0; r < ranks; ++r)
    impl->busy[r] = false;
}

static const Layout &checkedLayout(const Executable &exe, int numRanks) {
  const Layout &layout = exe.layout();
  if (numRanks != layout.worldSize())
    throw Error(Error::InvalidArgument,
                "a world of " + std::to_string(numRanks) +
                    " ranks does not match the layout's tp * dp = " +
                    std::to_string(layout.worldSize()) + " (" +
                    describe(layout) + ")");
  return layout;
}

World::World(const Executable &executable, int numRanks,
             const WorldOptions &options)
    : World(checkedLayout(executable, numRanks), options) {}

World::~World() = default;
World::World(World &&) noexcept = default;
World &World::operator=(World &&) noexcept = default;

int World::numRanks() const {
  return static_cast<int>(impl->world->layout().worldSize());
}
const Layout &World::layout() const { return impl->world->layout(); }
bool World::failed() const { return impl->world->aborted(); }
void World::fail(int rank, const std::string &why) {
  impl->world->abort(rank, why);
}

void World::setCheckFinite(bool check) { impl->checkFinite = check; }

/// Why `inputs` cannot be passed to `exe`, or "".
static std::string checkInputs(const mlir::moe::Executable &exe,
                               const std::vector<Tensor> &inputs) {
  const std::vector<mlir::moe::TensorSpec> &args = exe.arguments();
  if (inputs.size() != args.size())
    return std::to_string(inputs.size()) + " inputs for " +
           std::to_string(args.size()) + " arguments";
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].accepts(inputs[i]))
      return "input '" + args[i].name + "' is " + inputs[i].str() +
             " but the argument is " + args[i].type;
    if (!inputs[i].storage && inputs[i].nbytes())
      return "input '" + args[i].name + "' has no data";
  }
  return "";
}

std::vector<Tensor> Executable::run(World &world, int rank,
                                    const std::vector<Tensor> &inputs) const {
  return runOrLoad(world, rank, inputs, /*loadOnly=*/false);
}

void Executable::load(World &world, int rank,
                      const std::vector<Tensor> &inputs,
                      bool donateWeights) const {
  runOrLoad(world, rank, inputs, /*loadOnly=*/true, donateWeights);
}

int Executable::calibrate(const World &world, int64_t maxTokensPerRank) const {
  if (maxTokensPerRank < 0)
    throw Error(Error::InvalidArgument,
                "calibrate: maxTokensPerRank must not be negative, got " +
                    std::to_string(maxTokensPerRank));
  if (!sameLayout(layout(), world.layout()))
    throw Error(Error::InvalidArgument,
                "calibrate: the executable was compiled for " +
                    describe(layout()) + ", the world has " +
                    describe(world.layout()));
  try {
    return impl->exe->calibrate(maxTokensPerRank, world.impl->kernelThreads);
  } catch (const moert::Error &e) {
    throw Error(Error::Run, e.what());
  }
}

std::vector<Tensor> Executable::runOrLoad(World &world, int rank,
                                          const std::vector<Tensor> &inputs,
                                          bool loadOnly, bool donate) const {
  int ranks = world.numRanks();
  if (rank < 0 || rank >= ranks)
    throw Error(Error::InvalidArgument, "rank " + std::to_string(rank) +
                                            " is not a rank of the world (" +
                                            std::to_string(ranks) + " ranks)");
  std::string prefix = "rank " + std::to_string(rank) + ": ";
  if (!sameLayout(layout(), world.layout()))
    throw Error(Error::InvalidArgument,
                prefix + "the executable was compiled for " +
                    describe(layout()) + ", the world has " +
                    describe(world.layout()));
  std::atomic<bool> &busy = world.impl->busy[rank];
  if (busy.exchange(true))
    throw Error(Error::InvalidArgument,
                prefix + "the rank is already running on another thread");
  struct Release {
    std::atomic<bool> &flag;
    ~Release() { flag = false; }
  } release{busy};

  std::string invalid = checkInputs(*impl->exe, inputs);
  if (!invalid.empty()) {
    // Fail the world so the peers do not wait for this rank.
    world.fail(rank, invalid);
    throw Error(Error::InvalidArgument, prefix + invalid);
  }
  moert::RunOptions options;
  options.kernelThreads = world.impl->kernelThreads;
  options.checkFinite = world.impl->checkFinite;
  for (const TensorInfo &arg : impl->arguments)
    options.inputNames.push_back(arg.name);
  options.load = impl->exe->loadStage();
  options.streams = impl->exe->streamsPerRank();
  options.loadOnly = loadOnly;
  options.warmUp = loadOnly;
  options.donateLoadInputs = donate;
  options.trace = world.impl->trace && !loadOnly;
  moert::RankOutcome outcome =
      moert::runRank(*world.impl->world, rank, impl->exe->entry(), inputs,
                     impl->results.size(), options);
  if (options.trace) {
    std::lock_guard<std::mutex> lock(world.impl->traceMutex);
    moert::Trace &kept = world.impl->traces[rank];
    kept.insert(kept.end(), outcome.trace.begin(), outcome.trace.end());
  }
  if (!outcome.error.empty())
    throw Error(Error::Run, outcome.error);
  // A result sharing storage with a borrowed input would dangle once the
  // caller frees it: copy those.
  for (Tensor &result : outcome.results)
    for (const Tensor &input : inputs)
      if (sameOwner(result, input)) {
        result = copyOf(result.bytes(), result.dtype, result.shape);
        break;
      }
  return std::move(outcome.results);
}

moert::EplbReport
World::rebalanceExperts(const Executable &executable,
                        std::vector<std::vector<Tensor>> &inputs) {
  int ranks = numRanks();
  if (static_cast<int>(inputs.size()) != ranks)
    throw Error(Error::InvalidArgument,
                "rebalanceExperts: " + std::to_string(inputs.size()) +
                    " input sets for " + std::to_string(ranks) + " ranks");
  std::vector<std::string> names;
  for (const TensorInfo &arg : executable.arguments())
    names.push_back(arg.name);
  std::string why;
  moert::EplbBinding binding = moert::bindEplbInputs(names, why);
  if (!why.empty())
    throw Error(Error::InvalidArgument, "rebalanceExperts: " + why);
  for (const std::vector<Tensor> &rankInputs : inputs)
    if (rankInputs.size() != names.size())
      throw Error(Error::InvalidArgument,
                  "rebalanceExperts: " + std::to_string(rankInputs.size()) +
                      " inputs for " + std::to_string(names.size()) +
                      " arguments");
  std::vector<moert::EplbReport> reports;
  try {
    reports = moert::eplbCommitRanks(*impl->world, inputs, binding);
  } catch (const moert::Error &e) {
    throw Error(Error::Run, e.what());
  }
  for (const moert::EplbReport &r : reports)
    if (!r.error.empty())
      throw Error(Error::Run, r.error);
  return reports.front();
}

void World::writeTrace(const std::string &path) const {
  if (!impl->trace)
    throw Error(Error::InvalidArgument,
                "writeTrace: the world records no trace (WorldOptions::trace)");
  std::vector<moert::RankOutcome> outcomes(impl->traces.size());
  {
    std::lock_guard<std::mutex> lock(impl->traceMutex);
    for (size_t r = 0; r < outcomes.size(); ++r) {
      outcomes[r].rank = static_cast<int>(r);
      outcomes[r].trace = impl->traces[r];
    }
  }
  if (llvm::Error err = mlir::moe::writeChromeTrace(path, outcomes))
    throw Error(Error::InvalidArgument, llvm::toString(std::move(err)));
}

/// Runs `body(r)` for every rank r of `world`, a thread each; rethrows the
/// lowest failing rank's exception.
static void forEachRank(const char *what, int ranks, size_t inputSets,
                        const std::function<void(int)> &body) {
  if (static_cast<int>(inputSets) != ranks)
    throw Error(Error::InvalidArgument,
                std::string(what) + ": " + std::to_string(inputSets) +
                    " input sets for " + std::to_string(ranks) + " ranks");
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (std::exception_ptr &error : errors)
    if (error)
      std::rethrow_exception(error);
}

std::vector<std::vector<Tensor>>
World::runAll(const Executable &executable,
              const std::vector<std::vector<Tensor>> &inputs) {
  std::vector<std::vector<Tensor>> results(inputs.size());
  forEachRank("runAll", numRanks(), inputs.size(), [&](int r) {
    results[r] = executable.run(*this, r, inputs[r]);
  });
  return results;
}

void World::loadAll(const Executable &executable,
                    const std::vector<std::vector<Tensor>> &inputs,
                    int64_t maxTokensPerRank, bool donateWeights) {
  // Calibrated first, so the warm-up steps time no engine.
  if (maxTokensPerRank > 0)
    executable.calibrate(*this, maxTokensPerRank);
  forEachRank("loadAll", numRanks(), inputs.size(), [&](int r) {
    executable.load(*this, r, inputs[r], donateWeights);
  });
}

} // namespace moe::api
