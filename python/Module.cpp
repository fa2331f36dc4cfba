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

#include "moe/Moe.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
namespace api = moe::api;

namespace {

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
  auto *owner = new api::Tensor(t);
  py::capsule keep(owner, [](void *p) { delete static_cast<api::Tensor *>(p); });
  return py::array(py::dtype(format), shape, strides, t.bytes(), keep);
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
                             &api::Executable::compileSeconds);

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

  py::class_<api::World>(m, "World")
      .def(py::init([](const api::Executable &e, int ranks, double timeout,
                       int kernelThreads, bool checkFinite) {
             api::WorldOptions o;
             o.timeoutSeconds = timeout;
             o.kernelThreads = kernelThreads;
             o.checkFinite = checkFinite;
             return std::make_unique<api::World>(e, ranks, o);
           }),
           py::arg("executable"), py::arg("ranks"), py::arg("timeout") = 120.0,
           py::arg("kernel_threads") = 0, py::arg("check_finite") = true)
      .def_property_readonly("num_ranks", &api::World::numRanks)
      .def_property_readonly("failed", &api::World::failed)
      // inputs[r] = [(buffer, dtype code, shape), ...] in argument order.
      .def("run_all", [](api::World &w, const api::Executable &e,
                         const std::vector<std::vector<py::tuple>> &inputs) {
        std::vector<std::vector<api::Tensor>> tensors;
        std::vector<py::buffer_info> keep;
        for (const auto &rank : inputs) {
          tensors.emplace_back();
          for (const py::tuple &t : rank) {
            py::buffer buffer = t[0].cast<py::buffer>();
            keep.push_back(buffer.request());
            auto dtype = static_cast<api::DType>(t[1].cast<int>());
            auto shape = t[2].cast<std::vector<int64_t>>();
            tensors.back().push_back(
                api::borrow(keep.back().ptr, dtype, std::move(shape)));
          }
        }
        std::vector<std::vector<api::Tensor>> results;
        {
          py::gil_scoped_release release;
          results = w.runAll(e, tensors);
        }
        py::list out;
        for (const auto &rank : results) {
          py::list r;
          for (const api::Tensor &t : rank)
            r.append(toArray(t));
          out.append(r);
        }
        return out;
      });
}
