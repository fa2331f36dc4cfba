//===- Runtime.cpp - compile an MoE layer and run it, from C --------------===//
//
// The handles of moe-c/Runtime.h wrap the C++ API (moe/Moe.h); this file
// only converts between C structs and C++ objects and turns exceptions into
// status codes and the thread's last error.
//
//===----------------------------------------------------------------------===//

#include "moe-c/Runtime.h"

#include "Internal.h"

#include "moe/Moe.h"

#include "mlir/CAPI/IR.h"
#include "mlir/IR/BuiltinOps.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_set>

using moe::api::Error;
using moe::api::Tensor;
using ::moe::capi::clearError;
using ::moe::capi::setError;

struct MoeCompileOptions {
  moe::api::CompileOptions options;
};
struct MoeCompiler {
  moe::api::Compiler compiler;
};
struct MoeExecutable {
  explicit MoeExecutable(moe::api::Executable e)
      : exe(std::move(e)), decisionsJson(exe.decisionsJson()) {}
  moe::api::Executable exe;
  std::string decisionsJson; // moeExecutableGetDecisionsJson's text
};
struct MoeWorld {
  moe::api::World world;
};

/// Runs `body` with the last error cleared; exceptions become the last
/// error and their status.
template <typename Body> static MoeStatus guard(Body body) {
  clearError();
  try {
    return body();
  } catch (const Error &e) {
    return setError(MoeStatus(e.kind()), e.what());
  } catch (const std::exception &e) {
    return setError(MOE_STATUS_RUN_ERROR, e.what());
  } catch (...) {
    return setError(MOE_STATUS_RUN_ERROR, "unknown error");
  }
}

static MoeStatus invalid(const std::string &message) {
  return setError(MOE_STATUS_INVALID_ARGUMENT, message);
}

extern "C" {

//===----------------------------------------------------------------------===//
// Element types and buffers
//===----------------------------------------------------------------------===//

static bool validDType(int32_t dtype) {
  return dtype >= MOE_DTYPE_F32 && dtype <= MOE_DTYPE_F8E5M2;
}

const char *moeDTypeGetName(MoeDType dtype) {
  return validDType(dtype) ? moert::dtypeName(moert::DType(dtype)) : nullptr;
}

size_t moeDTypeStorageBytes(MoeDType dtype, int64_t elements) {
  if (!validDType(dtype) || elements < 0)
    return 0;
  // SIZE_MAX, not a wrapped count: no allocation or capacity can match it.
  return moert::checkedStorageBytes(moert::DType(dtype), elements)
      .value_or(SIZE_MAX);
}

int64_t moeBufferNumElements(const MoeBuffer *buffer) {
  if (!buffer || buffer->rank < 0 || buffer->rank > MOE_MAX_RANK)
    return -1;
  return moert::checkedNumel(std::vector<int64_t>(
                                 buffer->shape, buffer->shape + buffer->rank))
      .value_or(-1);
}

/// The owners of the runtime-owned buffers handed out and not released:
/// an input's `owner` is trusted only when it is one of them (the field was
/// ignored before API 2.3, so a caller may leave anything in it).
struct Owners {
  std::mutex mutex;
  std::unordered_set<const void *> live;

  static Owners &get() {
    static Owners *owners = new Owners; // buffers may outlive static dtors
    return *owners;
  }
  void *add(Tensor t) {
    auto *owner = new Tensor(std::move(t));
    std::lock_guard<std::mutex> lock(mutex);
    live.insert(owner);
    return owner;
  }
  /// The tensor `owner` stands for, if it is a live owner.
  std::optional<Tensor> find(const void *owner) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!live.count(owner))
      return std::nullopt;
    return *static_cast<const Tensor *>(owner);
  }
  void remove(void *owner) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      live.erase(owner);
    }
    delete static_cast<Tensor *>(owner);
  }
};

void moeBufferRelease(MoeBuffer *buffer) {
  if (!buffer || !buffer->owner)
    return;
  Owners::get().remove(buffer->owner);
  buffer->owner = nullptr;
  buffer->data = nullptr;
  buffer->capacity = 0;
}

/// The shape of `b` after checking its dtype, rank and sizes; `bytes`
/// receives its storage size. `what` names it in the error.
static std::vector<int64_t> checkedShape(const MoeBuffer &b,
                                         const std::string &what,
                                         size_t &bytes) {
  if (!validDType(b.dtype))
    throw Error(Error::InvalidArgument,
                what + " has invalid dtype " + std::to_string(b.dtype));
  if (b.rank < 0 || b.rank > MOE_MAX_RANK)
    throw Error(Error::InvalidArgument,
                what + " has invalid rank " + std::to_string(b.rank));
  std::vector<int64_t> shape(b.shape, b.shape + b.rank);
  // Checked before borrowing: a wrapped byte count would pass the capacity
  // check and let the run read past the buffer.
  std::optional<int64_t> elements = moert::checkedNumel(shape);
  std::optional<size_t> checked =
      elements ? moert::checkedStorageBytes(moert::DType(b.dtype), *elements)
               : std::nullopt;
  if (!checked) {
    std::string dims;
    for (int64_t d : shape)
      dims += (dims.empty() ? "" : "x") + std::to_string(d);
    throw Error(Error::InvalidArgument,
                what + " has shape [" + dims +
                    "]: a negative dimension, or more than 2^63 - 1 " +
                    (elements ? "bytes" : "elements"));
  }
  bytes = *checked;
  return shape;
}

MoeStatus moeBufferAllocate(MoeBuffer *buffer) {
  return guard([&] {
    if (!buffer)
      return invalid("moeBufferAllocate: null buffer");
    size_t bytes = 0;
    std::vector<int64_t> shape = checkedShape(*buffer, "the buffer", bytes);
    Tensor t = moert::Tensor::empty(moert::DType(buffer->dtype), shape);
    buffer->data = t.bytes();
    buffer->capacity = bytes;
    buffer->owner = Owners::get().add(std::move(t));
    return MOE_STATUS_OK;
  });
}

/// The tensor an input buffer describes: the storage of its runtime
/// owner, or borrowed (when aligned).
static Tensor toTensor(const MoeBuffer &b, size_t index) {
  std::string what = "input " + std::to_string(index);
  size_t bytes = 0;
  std::vector<int64_t> shape = checkedShape(b, what, bytes);
  if (std::optional<Tensor> owner =
          b.owner ? Owners::get().find(b.owner) : std::nullopt)
    if (std::optional<Tensor> shared = moe::api::shareStorage(
            *owner, b.data, moert::DType(b.dtype), shape))
      return *shared;
  Tensor t = moe::api::borrow(b.data, moert::DType(b.dtype), shape);
  if (b.capacity && b.capacity < bytes)
    throw Error(Error::InvalidArgument, what + " (" + t.str() + ") needs " +
                                            std::to_string(bytes) +
                                            " bytes, its buffer holds " +
                                            std::to_string(b.capacity));
  return t;
}

/// The tensors of `numInputs` buffers, or why not ("" when fine).
static std::string toTensors(const MoeBuffer *inputs, int64_t numInputs,
                             std::vector<Tensor> &args) {
  if (numInputs < 0 || (numInputs && !inputs))
    return "invalid input array";
  try {
    for (int64_t i = 0; i < numInputs; ++i)
      args.push_back(toTensor(inputs[i], size_t(i)));
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Hands `result` to an output buffer; false when the caller's buffer is
/// too small (the shape fields then say what is needed).
static bool toBuffer(const Tensor &result, MoeBuffer &out) {
  if (result.rank() > MOE_MAX_RANK)
    throw Error(Error::Run, "a result has rank " +
                                std::to_string(result.rank()) +
                                ", more than MOE_MAX_RANK");
  out.dtype = int32_t(result.dtype);
  out.rank = int32_t(result.rank());
  std::copy(result.shape.begin(), result.shape.end(), out.shape);
  size_t bytes = result.nbytes();
  if (!out.data) {
    out.owner = Owners::get().add(result);
    out.data = result.bytes();
    out.capacity = bytes;
    return true;
  }
  if (out.capacity < bytes)
    return false;
  if (bytes)
    std::memcpy(out.data, result.bytes(), bytes);
  return true;
}

//===----------------------------------------------------------------------===//
// Compiler
//===----------------------------------------------------------------------===//

MoeStatus moeCompileOptionsCreate(MoeCompileOptions **options) {
  return guard([&] {
    if (!options)
      return invalid("moeCompileOptionsCreate: null result pointer");
    *options = new MoeCompileOptions{};
    return MOE_STATUS_OK;
  });
}

void moeCompileOptionsDestroy(MoeCompileOptions *options) { delete options; }

MoeStatus moeCompileOptionsSet(MoeCompileOptions *options, const char *name,
                               const char *value) {
  return guard([&] {
    if (!options || !name || !value)
      return invalid("moeCompileOptionsSet: null argument");
    options->options.set(name, value);
    return MOE_STATUS_OK;
  });
}

MoeStatus moeCompileOptionsSetPipeline(MoeCompileOptions *options,
                                       const char *pipeline) {
  return guard([&] {
    if (!options)
      return invalid("moeCompileOptionsSetPipeline: null options");
    if (pipeline)
      options->options.pipeline = pipeline;
    else
      options->options.pipeline.reset();
    return MOE_STATUS_OK;
  });
}

MoeStatus moeCompileOptionsSetEntry(MoeCompileOptions *options,
                                    const char *entry) {
  return guard([&] {
    if (!options)
      return invalid("moeCompileOptionsSetEntry: null options");
    options->options.entry = entry ? entry : "";
    return MOE_STATUS_OK;
  });
}

MoeStatus moeCompileOptionsPrintPassPipeline(const MoeCompileOptions *options,
                                             MlirStringCallback callback,
                                             void *userData) {
  return guard([&] {
    if (!options || !callback)
      return invalid("moeCompileOptionsPrintPassPipeline: null argument");
    std::string text = options->options.passPipeline();
    callback(mlirStringRefCreate(text.data(), text.size()), userData);
    return MOE_STATUS_OK;
  });
}

namespace {
/// The option list with C strings that live as long as the library.
struct CompileOptionTable {
  std::vector<moe::api::CompileOptionInfo> infos =
      moe::api::compileOptionInfos();
  std::vector<std::vector<const char *>> allowed;
  CompileOptionTable() {
    for (const moe::api::CompileOptionInfo &info : infos) {
      allowed.emplace_back();
      for (const std::string &name : info.allowed)
        allowed.back().push_back(name.c_str());
    }
  }
};
} // namespace

static const CompileOptionTable &compileOptionTable() {
  static const CompileOptionTable table;
  return table;
}

int64_t moeGetNumCompileOptions(void) {
  return int64_t(compileOptionTable().infos.size());
}

MoeStatus moeGetCompileOption(int64_t index, MoeCompileOptionInfo *info) {
  return guard([&] {
    const CompileOptionTable &table = compileOptionTable();
    if (!info || index < 0 || index >= int64_t(table.infos.size()))
      return invalid("moeGetCompileOption: index " + std::to_string(index) +
                     " out of range or null info");
    const moe::api::CompileOptionInfo &o = table.infos[size_t(index)];
    const std::vector<const char *> &allowed = table.allowed[size_t(index)];
    *info = MoeCompileOptionInfo{o.name.c_str(),
                                 o.pass.c_str(),
                                 o.type.c_str(),
                                 o.defaultValue.c_str(),
                                 o.description.c_str(),
                                 int64_t(allowed.size()),
                                 allowed.empty() ? nullptr : allowed.data()};
    return MOE_STATUS_OK;
  });
}

static moe::api::CompileOptions toOptions(const MoeCompileOptions *c) {
  return c ? c->options : moe::api::CompileOptions();
}

MoeStatus moeCompilerCreate(MoeCompiler **compiler) {
  return guard([&] {
    if (!compiler)
      return invalid("moeCompilerCreate: null result pointer");
    *compiler = new MoeCompiler{moe::api::Compiler()};
    return MOE_STATUS_OK;
  });
}

void moeCompilerDestroy(MoeCompiler *compiler) { delete compiler; }

MlirContext moeCompilerGetContext(MoeCompiler *compiler) {
  return compiler ? wrap(&compiler->compiler.context()) : MlirContext{nullptr};
}

MoeStatus moeCompilerCompileSource(MoeCompiler *compiler, const char *source,
                                   size_t length,
                                   const MoeCompileOptions *options,
                                   MoeExecutable **executable) {
  return guard([&] {
    if (!compiler || !source || !executable)
      return invalid("moeCompilerCompileSource: null argument");
    *executable = nullptr;
    if (length == size_t(-1))
      length = std::strlen(source);
    moe::api::Executable exe = compiler->compiler.compile(
        std::string_view(source, length), toOptions(options));
    *executable = new MoeExecutable(std::move(exe));
    return MOE_STATUS_OK;
  });
}

MoeStatus moeCompilerCompileModule(MoeCompiler *compiler, MlirModule module,
                                   const MoeCompileOptions *options,
                                   MoeExecutable **executable) {
  return guard([&] {
    if (!compiler || mlirModuleIsNull(module) || !executable)
      return invalid("moeCompilerCompileModule: null argument");
    *executable = nullptr;
    moe::api::Executable exe =
        compiler->compiler.compile(unwrap(module), toOptions(options));
    *executable = new MoeExecutable(std::move(exe));
    return MOE_STATUS_OK;
  });
}

//===----------------------------------------------------------------------===//
// Executable
//===----------------------------------------------------------------------===//

void moeExecutableDestroy(MoeExecutable *executable) { delete executable; }

int64_t moeExecutableGetNumArguments(const MoeExecutable *e) {
  return e ? int64_t(e->exe.arguments().size()) : 0;
}

int64_t moeExecutableGetNumResults(const MoeExecutable *e) {
  return e ? int64_t(e->exe.results().size()) : 0;
}

static MoeStatus getInfo(const MoeExecutable *e, bool argument, int64_t index,
                         MoeTensorInfo *info) {
  clearError();
  if (!e || !info)
    return invalid("null executable or info");
  const std::vector<moe::api::TensorInfo> &all =
      argument ? e->exe.arguments() : e->exe.results();
  if (index < 0 || index >= int64_t(all.size()))
    return invalid(std::string(argument ? "argument" : "result") + " index " +
                   std::to_string(index) + " is not in [0, " +
                   std::to_string(all.size()) + ")");
  const moe::api::TensorInfo &t = all[index];
  info->name = t.name.c_str();
  info->dtype = int32_t(t.dtype);
  info->rank = int32_t(t.shape.size());
  info->shape = t.shape.data();
  info->type = t.type.c_str();
  return MOE_STATUS_OK;
}

MoeStatus moeExecutableGetArgument(const MoeExecutable *e, int64_t index,
                                   MoeTensorInfo *info) {
  return getInfo(e, /*argument=*/true, index, info);
}

MoeStatus moeExecutableGetResult(const MoeExecutable *e, int64_t index,
                                 MoeTensorInfo *info) {
  return getInfo(e, /*argument=*/false, index, info);
}

MoeStatus moeExecutableGetLayout(const MoeExecutable *e, MoeLayout *layout) {
  clearError();
  if (!e || !layout)
    return invalid("null executable or layout");
  const moe::api::Layout &l = e->exe.layout();
  *layout =
      MoeLayout{l.tp,          l.dp,      l.expertParallel, l.sequenceParallel,
                l.worldSize(), l.epSize()};
  return MOE_STATUS_OK;
}

double moeExecutableGetCompileSeconds(const MoeExecutable *e) {
  return e ? e->exe.compileSeconds() : 0;
}

const char *moeExecutableGetDecisionsJson(const MoeExecutable *e) {
  return e ? e->decisionsJson.c_str() : nullptr;
}

//===----------------------------------------------------------------------===//
// World and runs
//===----------------------------------------------------------------------===//

void moeWorldOptionsInit(MoeWorldOptions *options) {
  if (!options)
    return;
  moe::api::WorldOptions d;
  options->timeoutSeconds = d.timeoutSeconds;
  options->kernelThreads = d.kernelThreads;
}

MoeStatus moeWorldCreate(const MoeExecutable *executable, int64_t numRanks,
                         const MoeWorldOptions *options, MoeWorld **world) {
  return guard([&] {
    if (!executable || !world)
      return invalid("moeWorldCreate: null argument");
    *world = nullptr;
    moe::api::WorldOptions o;
    if (options) {
      o.timeoutSeconds = options->timeoutSeconds;
      o.kernelThreads = options->kernelThreads;
    }
    if (numRanks < 0 || numRanks > INT32_MAX)
      return invalid("moeWorldCreate: invalid rank count " +
                     std::to_string(numRanks));
    *world = new MoeWorld{moe::api::World(executable->exe, int(numRanks), o)};
    return MOE_STATUS_OK;
  });
}

void moeWorldDestroy(MoeWorld *world) { delete world; }

int64_t moeWorldGetNumRanks(const MoeWorld *world) {
  return world ? world->world.numRanks() : 0;
}

bool moeWorldHasFailed(const MoeWorld *world) {
  return world && world->world.failed();
}

MoeStatus moeWorldSetCheckFinite(MoeWorld *world, bool check) {
  return guard([&] {
    if (!world)
      return invalid("moeWorldSetCheckFinite: null world");
    world->world.setCheckFinite(check);
    return MOE_STATUS_OK;
  });
}

MoeStatus moeExecutableRun(const MoeExecutable *executable, MoeWorld *world,
                           int64_t rank, const MoeBuffer *inputs,
                           int64_t numInputs, MoeBuffer *outputs,
                           int64_t numOutputs) {
  return guard([&] {
    if (!executable || !world)
      return invalid("moeExecutableRun: null executable or world");
    int64_t ranks = world->world.numRanks();
    if (rank < 0 || rank >= ranks)
      return invalid("rank " + std::to_string(rank) +
                     " is not a rank of the world (" + std::to_string(ranks) +
                     " ranks)");
    std::string prefix = "rank " + std::to_string(rank) + ": ";
    // A malformed call fails this rank, and with it the world, so the peer
    // ranks do not wait for it.
    auto reject = [&](const std::string &why) {
      world->world.fail(int(rank), why);
      return invalid(prefix + why);
    };
    const moe::api::Executable &exe = executable->exe;
    int64_t numResults = int64_t(exe.results().size());
    if (numInputs < 0 || (numInputs && !inputs))
      return reject("invalid input array");
    if (numOutputs != numResults || (numOutputs && !outputs))
      return reject(std::to_string(numOutputs) + " output buffers for " +
                    std::to_string(numResults) + " results");
    std::vector<Tensor> args;
    std::string why = toTensors(inputs, numInputs, args);
    if (!why.empty())
      return reject(why);

    std::vector<Tensor> results = exe.run(world->world, int(rank), args);
    std::string tooSmall;
    for (int64_t i = 0; i < numOutputs; ++i)
      if (!toBuffer(results[i], outputs[i]) && tooSmall.empty())
        tooSmall =
            prefix + "result " + std::to_string(i) + " (" + results[i].str() +
            ") needs " + std::to_string(results[i].nbytes()) +
            " bytes, its buffer holds " + std::to_string(outputs[i].capacity);
    if (!tooSmall.empty())
      return setError(MOE_STATUS_BUFFER_TOO_SMALL, tooSmall);
    return MOE_STATUS_OK;
  });
}

/// moeExecutableLoad and moeExecutableLoadDonating.
static MoeStatus load(const char *function, const MoeExecutable *executable,
                      MoeWorld *world, int64_t rank, const MoeBuffer *inputs,
                      int64_t numInputs, bool donate) {
  return guard([&] {
    if (!executable || !world)
      return invalid(std::string(function) + ": null executable or world");
    int64_t ranks = world->world.numRanks();
    if (rank < 0 || rank >= ranks)
      return invalid("rank " + std::to_string(rank) +
                     " is not a rank of the world (" + std::to_string(ranks) +
                     " ranks)");
    auto reject = [&](const std::string &why) {
      world->world.fail(int(rank), why);
      return invalid("rank " + std::to_string(rank) + ": " + why);
    };
    std::vector<Tensor> args;
    std::string why = toTensors(inputs, numInputs, args);
    if (!why.empty())
      return reject(why);
    executable->exe.load(world->world, int(rank), args, donate);
    return MOE_STATUS_OK;
  });
}

MoeStatus moeExecutableLoad(const MoeExecutable *executable, MoeWorld *world,
                            int64_t rank, const MoeBuffer *inputs,
                            int64_t numInputs) {
  return load("moeExecutableLoad", executable, world, rank, inputs, numInputs,
              /*donate=*/false);
}

MoeStatus moeExecutableLoadDonating(const MoeExecutable *executable,
                                    MoeWorld *world, int64_t rank,
                                    const MoeBuffer *inputs,
                                    int64_t numInputs) {
  return load("moeExecutableLoadDonating", executable, world, rank, inputs,
              numInputs, /*donate=*/true);
}

MoeStatus moeExecutableCalibrate(const MoeExecutable *executable,
                                 const MoeWorld *world,
                                 int64_t maxTokensPerRank, int64_t *planned) {
  return guard([&] {
    if (!executable || !world)
      return invalid("moeExecutableCalibrate: null executable or world");
    int n = executable->exe.calibrate(world->world, maxTokensPerRank);
    if (planned)
      *planned = n;
    return MOE_STATUS_OK;
  });
}

} // extern "C"
