//===- Module.cpp - moe_mlir._moe: the C++ API for Python -----------------===//
//
// A thin pybind11 layer over include/moe/Moe.h (docs/Python.md). Tensors
// cross as (buffer, dtype code, shape): inputs are borrowed for the
// duration of a run (the Python side keeps the arrays alive), results are
// handed out without a copy (a capsule keeps the runtime's storage alive).
// Conversions between NumPy dtypes and the layer's types happen in
// moe_mlir/__init__.py.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HfConfig.h"
#include "moe/Moe.h"

#include "mlir/IR/MLIRContext.h"

#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
namespace api = moe::api;

namespace {

/// The name of the capsules that keep the runtime's storage alive under
/// the arrays handed to Python (runtimeOwned recognizes them).
constexpr const char *kOwnerCapsule = "moe_mlir.tensor";

py::dict infoDict(const api::TensorInfo &info) {
  py::dict d;
  d["name"] = info.name;
  d["dtype"] = moert::dtypeName(info.dtype);
  d["dtype_code"] = static_cast<int>(info.dtype);
  d["shape"] = info.shape;
  d["type"] = info.type;
  return d;
}

/// A result as a NumPy array of its storage bytes' element type, sharing
/// the runtime's storage.
py::array toArray(const api::Tensor &t) {
  std::string format;
  size_t item = 1;
  switch (t.dtype) {
  case api::DType::F32:
    format = py::format_descriptor<float>::format(), item = 4;
    break;
  case api::DType::BF16:
  case api::DType::F16:
    format = py::format_descriptor<uint16_t>::format(), item = 2;
    break;
  case api::DType::I32:
    format = py::format_descriptor<int32_t>::format(), item = 4;
    break;
  case api::DType::I64:
    format = py::format_descriptor<int64_t>::format(), item = 8;
    break;
  case api::DType::I8:
    format = py::format_descriptor<int8_t>::format(), item = 1;
    break;
  default:
    format = py::format_descriptor<uint8_t>::format(), item = 1;
    break;
  }
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(item);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  py::capsule keep(new api::Tensor(t), kOwnerCapsule, [](PyObject *o) {
    delete static_cast<api::Tensor *>(PyCapsule_GetPointer(o, kOwnerCapsule));
  });
  return py::array(py::dtype(format), shape, strides, t.bytes(), keep);
}

/// The runtime tensor under array `a` (a result, load_weights' or
/// empty()'s array, or a view of one), or null.
const api::Tensor *runtimeOwner(py::handle a) {
  py::object base = py::reinterpret_borrow<py::object>(a);
  while (py::isinstance<py::array>(base))
    base = base.attr("base");
  if (!PyCapsule_CheckExact(base.ptr()) ||
      !PyCapsule_IsValid(base.ptr(), kOwnerCapsule))
    return nullptr;
  return static_cast<const api::Tensor *>(
      PyCapsule_GetPointer(base.ptr(), kOwnerCapsule));
}

/// One layer's decisions as a dict (moe_mlir.LayerDecision is built from
/// it in decisions.py).
py::dict decisionDict(const api::LayerDecision &d) {
  py::dict out;
  out["function"] = d.function;
  out["location"] = d.location;
  out["method"] = d.method;
  py::list candidates;
  for (const api::MethodCandidate &c : d.candidates)
    candidates.append(py::make_tuple(c.method, c.upToTokens));
  out["candidates"] = candidates;
  out["reason"] = d.reason;
  out["max_tokens"] = d.maxTokens ? py::cast(*d.maxTokens) : py::none();
  out["capacity"] = d.capacity;
  out["quant_scheme"] = d.quantization.scheme;
  out["quant_placement"] = d.quantization.placement;
  py::list streams;
  for (const api::StreamUse &u : d.streams)
    streams.append(py::make_tuple(u.stream, u.ops));
  out["streams"] = streams;
  py::list events;
  for (const api::StreamEvent &e : d.events)
    events.append(py::make_tuple(e.fromStream, e.toStream, e.count));
  out["events"] = events;
  return out;
}

/// Tensors over the buffers of `inputs` ((buffer, dtype code, shape) in
/// argument order): the runtime's own storage for its arrays (which a
/// donating load may then repack in place), borrowed otherwise; `keep`
/// holds the buffer views for the run.
std::vector<api::Tensor> borrowAll(const std::vector<py::tuple> &inputs,
                                   std::vector<py::buffer_info> &keep) {
  std::vector<api::Tensor> tensors;
  keep.reserve(keep.size() + inputs.size());
  for (const py::tuple &t : inputs) {
    py::buffer buffer = t[0].cast<py::buffer>();
    keep.push_back(buffer.request());
    auto dtype = static_cast<api::DType>(t[1].cast<int>());
    auto shape = t[2].cast<std::vector<int64_t>>();
    if (const api::Tensor *owner = runtimeOwner(t[0]))
      if (std::optional<api::Tensor> shared =
              api::shareStorage(*owner, keep.back().ptr, dtype, shape)) {
        tensors.push_back(std::move(*shared));
        continue;
      }
    tensors.push_back(api::borrow(keep.back().ptr, dtype, std::move(shape)));
  }
  return tensors;
}

py::list toArrays(const std::vector<api::Tensor> &results) {
  py::list r;
  for (const api::Tensor &t : results)
    r.append(toArray(t));
  return r;
}

} // namespace

PYBIND11_MODULE(_moe, m) {
  m.doc() = "moe-mlir's C++ API (use the moe_mlir package)";
  m.def("api_version", &api::apiVersion);

  // Errors: one Python class per api::Error kind, all under moe_mlir.Error.
  static py::exception<api::Error> base(m, "Error");
  static py::exception<api::Error> invalid(m, "InvalidArgumentError",
                                           base.ptr());
  static py::exception<api::Error> compile(m, "CompileError", base.ptr());
  static py::exception<api::Error> run(m, "RunError", base.ptr());
  static py::exception<api::Error> config(m, "ConfigError", base.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const api::Error &e) {
      switch (e.kind()) {
      case api::Error::InvalidArgument:
        PyErr_SetString(invalid.ptr(), e.what());
        return;
      case api::Error::Compile:
        PyErr_SetString(compile.ptr(), e.what());
        return;
      case api::Error::Run:
        PyErr_SetString(run.ptr(), e.what());
        return;
      }
      PyErr_SetString(base.ptr(), e.what());
    } catch (const moert::Error &e) {
      PyErr_SetString(run.ptr(), e.what());
    }
  });

  m.def("compile_options", [] {
    py::list out;
    for (const api::CompileOptionInfo &o : api::compileOptionInfos()) {
      py::dict d;
      d["name"] = o.name;
      d["pass"] = o.pass;
      d["type"] = o.type;
      d["default"] = o.defaultValue;
      d["description"] = o.description;
      d["allowed"] = o.allowed;
      out.append(d);
    }
    return out;
  });

  py::class_<api::Executable>(m, "Executable")
      .def_property_readonly("arguments",
                             [](const api::Executable &e) {
                               py::list l;
                               for (const auto &a : e.arguments())
                                 l.append(infoDict(a));
                               return l;
                             })
      .def_property_readonly("results",
                             [](const api::Executable &e) {
                               py::list l;
                               for (const auto &r : e.results())
                                 l.append(infoDict(r));
                               return l;
                             })
      .def_property_readonly("world_size",
                             [](const api::Executable &e) {
                               return e.layout().worldSize();
                             })
      .def_property_readonly("compile_seconds",
                             &api::Executable::compileSeconds)
      .def_property_readonly("decision_dicts",
                             [](const api::Executable &e) {
                               py::list l;
                               for (const auto &d : e.decisions())
                                 l.append(decisionDict(d));
                               return l;
                             })
      .def_property_readonly("decisions_json",
                             &api::Executable::decisionsJson);

  // The config after `overrides` (applyConfigOverrides), as JSON text.
  m.def("apply_config_overrides", [](const std::string &configText,
                                     const std::vector<std::string> &overrides) {
    llvm::Expected<llvm::json::Value> json = llvm::json::parse(configText);
    llvm::Error err = json ? mlir::moe::applyConfigOverrides(*json, overrides)
                           : json.takeError();
    if (err) {
      PyErr_SetString(config.ptr(), llvm::toString(std::move(err)).c_str());
      throw py::error_already_set();
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    os << *json;
    return text;
  });

  // Model import (include/moe/Import/HfConfig.h): config.json text and
  // overrides -> the module's text. Errors raise ConfigError.
  m.def(
      "import_config",
      [](const std::string &configText,
         const std::vector<std::string> &overrides,
         const std::vector<int64_t> &layers, const std::string &chip,
         int64_t tp, int64_t dp, bool ep, int64_t redundantExperts,
         const std::string &quant, int64_t groupSize,
         int64_t sharedExpertRanks) {
        auto fail = [](llvm::Error err) {
          PyErr_SetString(config.ptr(),
                          llvm::toString(std::move(err)).c_str());
          throw py::error_already_set();
        };
        llvm::Expected<llvm::json::Value> json = llvm::json::parse(configText);
        if (!json)
          fail(llvm::createStringError(
              llvm::inconvertibleErrorCode(),
              "config is not JSON: " + llvm::toString(json.takeError())));
        if (llvm::Error err =
                mlir::moe::applyConfigOverrides(*json, overrides))
          fail(std::move(err));
        llvm::Expected<mlir::moe::ModelSpec> spec =
            mlir::moe::parseHfConfig(*json);
        if (!spec)
          fail(spec.takeError());
        llvm::Expected<std::optional<mlir::moe::ImportQuant>> q =
            mlir::moe::parseImportQuant(quant);
        if (!q)
          fail(q.takeError());
        mlir::moe::ImportOptions options;
        options.chip = chip;
        options.tp = tp;
        options.dp = dp;
        options.expertParallel = ep;
        options.redundantExperts = redundantExperts;
        options.sharedExpertRanks = sharedExpertRanks;
        options.quant = *q;
        options.groupSize = groupSize;
        options.layers = layers;
        mlir::MLIRContext context;
        llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module =
            mlir::moe::buildModelModule(context, *spec, options);
        if (!module)
          fail(module.takeError());
        std::string text;
        llvm::raw_string_ostream os(text);
        (**module)->print(os);
        return text;
      },
      py::arg("config_text"), py::arg("overrides"), py::arg("layers"),
      py::arg("chip"), py::arg("tp"), py::arg("dp"), py::arg("ep"),
      py::arg("redundant_experts"), py::arg("quant"), py::arg("group_size"),
      py::arg("shared_expert_ranks"));

  py::class_<api::Compiler>(m, "Compiler")
      .def(py::init<>())
      .def(
          "compile",
          [](api::Compiler &c, const std::string &source,
             const std::optional<std::string> &pipeline,
             const std::string &entry,
             const std::vector<std::pair<std::string, std::string>> &options) {
            api::CompileOptions o;
            o.pipeline = pipeline;
            o.entry = entry;
            for (const auto &[name, value] : options)
              o.set(name, value);
            return c.compile(source, o);
          },
          py::arg("source"), py::arg("pipeline") = std::nullopt,
          py::arg("entry") = "",
          py::arg("options") =
              std::vector<std::pair<std::string, std::string>>{});

  // Per argument of the executable: the rank's tensor from a Hugging Face
  // safetensors checkpoint, or None for an argument it does not hold.
  m.def(
      "load_checkpoint_weights",
      [](const api::Executable &e, int rank, const std::string &checkpoint,
         const std::string &config, int64_t layer,
         const std::vector<int64_t> &phys2log) {
        api::CheckpointOptions o;
        o.config = config;
        o.layer = layer;
        o.phys2log = phys2log;
        std::vector<std::optional<api::Tensor>> tensors;
        {
          py::gil_scoped_release release;
          tensors = api::loadCheckpointWeights(e, rank, checkpoint, o);
        }
        py::list out;
        for (const std::optional<api::Tensor> &t : tensors)
          out.append(t ? py::object(toArray(*t)) : py::object(py::none()));
        return out;
      },
      py::arg("executable"), py::arg("rank"), py::arg("checkpoint"),
      py::arg("config") = "", py::arg("layer") = -1,
      py::arg("phys2log") = std::vector<int64_t>{});

  // Runtime-owned storage for an input (uninitialized), as an array of
  // the dtype's storage element type.
  m.def("empty", [](const std::vector<int64_t> &shape, int dtype) {
    if (dtype < 0 || dtype > static_cast<int>(api::DType::F8E5M2))
      throw api::Error(api::Error::InvalidArgument,
                       "invalid dtype code " + std::to_string(dtype));
    try {
      return toArray(
          moert::Tensor::empty(static_cast<api::DType>(dtype), shape));
    } catch (const moert::Error &e) {
      throw api::Error(api::Error::InvalidArgument, e.what());
    }
  });

  py::class_<api::World>(m, "World")
      .def(py::init([](const api::Executable &e, int ranks, double timeout,
                       int kernelThreads, bool checkFinite, bool trace) {
             api::WorldOptions o;
             o.timeoutSeconds = timeout;
             o.kernelThreads = kernelThreads;
             o.checkFinite = checkFinite;
             o.trace = trace;
             return std::make_unique<api::World>(e, ranks, o);
           }),
           py::arg("executable"), py::arg("ranks"), py::arg("timeout") = 120.0,
           py::arg("kernel_threads") = 0, py::arg("check_finite") = true,
           py::arg("trace") = false)
      .def_property_readonly("num_ranks", &api::World::numRanks)
      .def_property_readonly("failed", &api::World::failed)
      .def("write_trace", &api::World::writeTrace, py::arg("path"))
      // inputs[r] = [(buffer, dtype code, shape), ...] in argument order.
      .def("run_all",
           [](api::World &w, const api::Executable &e,
              const std::vector<std::vector<py::tuple>> &inputs) {
             std::vector<std::vector<api::Tensor>> tensors;
             std::vector<py::buffer_info> keep;
             for (const auto &rank : inputs)
               tensors.push_back(borrowAll(rank, keep));
             std::vector<std::vector<api::Tensor>> results;
             {
               py::gil_scoped_release release;
               results = w.runAll(e, tensors);
             }
             py::list out;
             for (const auto &rank : results)
               out.append(toArrays(rank));
             return out;
           })
      // Load time: every rank's load, then the planner's calibration.
      .def("load_all",
           [](api::World &w, const api::Executable &e,
              const std::vector<std::vector<py::tuple>> &inputs,
              int64_t maxTokens, bool donate) {
             std::vector<std::vector<api::Tensor>> tensors;
             std::vector<py::buffer_info> keep;
             for (const auto &rank : inputs)
               tensors.push_back(borrowAll(rank, keep));
             py::gil_scoped_release release;
             w.loadAll(e, tensors, maxTokens, donate);
           })
      // One rank on the calling thread (each rank from its own thread).
      .def("run_rank", [](api::World &w, const api::Executable &e, int rank,
                          const std::vector<py::tuple> &inputs) {
        std::vector<py::buffer_info> keep;
        std::vector<api::Tensor> tensors = borrowAll(inputs, keep);
        std::vector<api::Tensor> results;
        {
          py::gil_scoped_release release;
          results = e.run(w, rank, tensors);
        }
        return toArrays(results);
      });
}
