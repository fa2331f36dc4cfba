//===- RuntimeAbiGen.cpp - the runtime's C ABI from the npu ODS -----------===//
//
// One definition of the calls convert-npu-to-runtime emits and lib/Runtime/
// Abi implements: every op of a dialect whose ODS sets `hasRuntimeCall`
// becomes one C function
//
//   void moert_<dialect>_<mnemonic>(const char *where[, int64_t stream],
//                                   <one parameter per ODS argument>,
//                                   [<one dtype per result>,]
//                                   <one out-parameter per result>);
//
// and every enum of the dialect a C enum. The parameter of each argument
// follows from its ODS constraint alone (classify() below), so the three
// outputs cannot disagree:
//
//   -gen-runtime-abi-header  the plain C header both sides include
//                            (moe/Runtime/RuntimeAbi.h);
//   -gen-runtime-abi-calls   for convert-npu-to-runtime, RuntimeAbiCall<Op>
//                            building the call's operands in the same order;
//   -gen-runtime-abi-doc     docs/RuntimeAbi.md.
//
//===----------------------------------------------------------------------===//

#include "mlir/TableGen/Argument.h"
#include "mlir/TableGen/Attribute.h"
#include "mlir/TableGen/GenInfo.h"
#include "mlir/TableGen/Operator.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TableGen/Error.h"
#include "llvm/TableGen/Record.h"
#include "llvm/TableGen/TableGenBackend.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::tblgen;
using llvm::Record;
using llvm::RecordKeeper;
using llvm::StringRef;

namespace {

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

/// "GroupListType" -> "group_list_type", "DType" -> "dtype".
std::string toSnake(StringRef camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    if (llvm::isUpper(c) && i > 0 &&
        (llvm::isLower(camel[i - 1]) || llvm::isDigit(camel[i - 1])))
      out.push_back('_');
    out.push_back(llvm::toLower(c));
  }
  return out;
}

/// One C enum: a dialect enum (EnumAttrInfo) under its C name.
struct CEnum {
  EnumAttr info;
  std::string cName;  // moert_npu_group_list_type
  std::string prefix; // MOERT_NPU_GROUP_LIST_TYPE
};

//===----------------------------------------------------------------------===//
// The ABI of one op
//===----------------------------------------------------------------------===//

enum class Kind { Tensor, Event, Index, I64, F32, F64, Flag, Enum, String };

/// One C parameter and how the conversion builds it.
struct Param {
  std::string name;  // C parameter name (the ODS name)
  std::string cType; // "moert_tensor *", "int64_t", "moert_npu_group", ...
  std::string build; // C++ statement for RuntimeAbiCall<Op>::build
  std::string what;  // for the doc: where it comes from
};

/// One out-parameter.
struct Result {
  std::string name;
  std::string cType; // the pointee: "moert_tensor *" or "int64_t"
  bool optional = false;
  bool index = false;
  unsigned odsIndex = 0;
};

struct AbiOp {
  const Record *def;
  std::string opClass; // ::mlir::npu::AddOp
  std::string opName;  // npu.add
  std::string callee;  // moert_npu_add
  std::string summary;
  bool hasStream = false;
  std::vector<Param> params; // after `where` (and `stream`)
  std::vector<Result> results;
};

/// What moert_* calls the builtin handle types.
constexpr const char *kTensorHandle = "moert_tensor";
constexpr const char *kEventHandle = "moert_event";

class AbiModel {
public:
  explicit AbiModel(const RecordKeeper &records);

  std::string dialect; // npu
  std::string cppNs;   // ::mlir::npu
  std::vector<CEnum> enums;
  std::vector<AbiOp> ops;

private:
  const CEnum &enumFor(const Record &enumInfo, const Operator &op,
                       StringRef name) const;
  Param operandParam(const Operator &op,
                     const NamedTypeConstraint &operand) const;
  Param attrParam(const Operator &op, const NamedAttribute &attr) const;
};

const CEnum &AbiModel::enumFor(const Record &enumInfo, const Operator &op,
                               StringRef name) const {
  EnumAttr info(&enumInfo);
  for (const CEnum &e : enums)
    if (&e.info.getDef() == &info.getDef())
      return e;
  llvm::PrintFatalError(op.getLoc(),
                        "runtime ABI: attribute '" + name + "' of " +
                            op.getOperationName() + " has enum " +
                            info.getEnumClassName() +
                            ", which is not an enum of the dialect");
}

Param AbiModel::operandParam(const Operator &op,
                             const NamedTypeConstraint &operand) const {
  if (operand.isVariadic())
    llvm::PrintFatalError(op.getLoc(), "runtime ABI: variadic operand '" +
                                           operand.name + "' of " +
                                           op.getOperationName() +
                                           " has no C parameter");
  Param p;
  p.name = operand.name.str();
  std::string getter =
      llvm::formatv("a.{0}()", op.getGetterName(operand.name)).str();
  std::string cls = operand.constraint.getCPPClassName();
  if (cls == "::mlir::IndexType" || cls == "::mlir::IntegerType") {
    p.cType = "int64_t";
    p.build = llvm::formatv("c.index({0});", getter).str();
    p.what = "index operand";
  } else if (StringRef(cls).ends_with("EventType")) {
    p.cType = std::string(kEventHandle) + " *";
    p.build = llvm::formatv("c.handle({0});", getter).str();
    p.what = "event operand";
  } else {
    p.cType = std::string(kTensorHandle) + " *";
    p.build = llvm::formatv("c.handle({0});", getter).str();
    p.what = "tensor operand";
  }
  if (operand.isOptional())
    p.what += " (null when absent)";
  return p;
}

Param AbiModel::attrParam(const Operator &op,
                          const NamedAttribute &named) const {
  const Attribute &attr = named.attr;
  Attribute base = attr.getBaseAttr();
  Param p;
  p.name = named.name.str();
  // The getter returns std::optional<T> exactly when ODS makes it optional
  // without a default.
  bool optional = attr.isOptional() && !attr.hasDefaultValue();
  std::string getter =
      llvm::formatv("op.{0}()", op.getGetterName(named.name)).str();
  // `convert` turns the getter's value ({0}) into the builder's argument;
  // `zero` is what an absent optional attribute passes.
  auto emit = [&](StringRef method, StringRef convert, StringRef zero) {
    std::string direct = llvm::formatv(convert.data(), getter).str();
    if (optional)
      p.build = llvm::formatv("{{ auto v = {0}; c.{1}(v ? {2} : {3}); }",
                              getter, method,
                              llvm::formatv(convert.data(), "(*v)").str(), zero)
                    .str();
    else
      p.build = llvm::formatv("c.{0}({1});", method, direct).str();
  };
  StringRef storage = base.getStorageType().trim();
  StringRef ret = base.getReturnType().trim();
  // An I32EnumAttr, or a dialect attribute wrapping one (EnumAttr<...>).
  const Record *enumInfo = nullptr;
  if (base.isEnumAttr())
    enumInfo = &base.getDef();
  else if (base.getDef().isSubClassOf("EnumAttr"))
    enumInfo = base.getDef().getValueAsDef("enum");
  if (enumInfo) {
    const CEnum &e = enumFor(*enumInfo, op, named.name);
    p.cType = e.cName;
    emit("enumCase", "static_cast<int32_t>({0})", "0");
    p.what = "enum " + e.info.getEnumClassName().str();
  } else if (storage == "::mlir::UnitAttr" || storage == "::mlir::BoolAttr") {
    p.cType = "int32_t";
    emit("flag", "{0}", "false");
    p.what = "flag (0 or 1)";
  } else if (storage == "::mlir::IntegerAttr") {
    p.cType = "int64_t";
    emit("i64",
         ret == "::llvm::APInt" ? "({0}).getSExtValue()"
                                : "static_cast<int64_t>({0})",
         "0");
    p.what = "integer attribute";
  } else if (storage == "::mlir::FloatAttr") {
    std::optional<Type> valueType = base.getValueType();
    bool f64 = valueType && valueType->getDef().getName() == "F64";
    p.cType = f64 ? "double" : "float";
    emit(f64 ? "f64" : "f32",
         f64 ? "({0}).convertToDouble()" : "({0}).convertToFloat()", "0.0");
    p.what = "float attribute";
  } else if (storage == "::mlir::StringAttr") {
    p.cType = "const char *";
    emit("string", "{0}", "::llvm::StringRef()");
    p.what = "string attribute (NUL-terminated)";
  } else {
    llvm::PrintFatalError(op.getLoc(),
                          "runtime ABI: no C parameter for attribute '" +
                              named.name + "' of " + op.getOperationName() +
                              " (storage " + storage +
                              "); teach tools/moe-tblgen/RuntimeAbiGen.cpp "
                              "the attribute kind");
  }
  if (optional)
    p.what += " (0 when absent)";
  return p;
}

AbiModel::AbiModel(const RecordKeeper &records) {
  // Operator holds pointers into itself: build each in place, never copy.
  std::vector<std::unique_ptr<Operator>> selected;
  for (const Record *def : records.getAllDerivedDefinitions("Op")) {
    if (!def->getValue("hasRuntimeCall") ||
        !def->getValueAsBit("hasRuntimeCall"))
      continue;
    selected.push_back(std::make_unique<Operator>(def));
  }
  if (selected.empty())
    llvm::PrintFatalError("runtime ABI: no op sets hasRuntimeCall");
  dialect = selected.front()->getDialectName().str();
  cppNs = selected.front()->getDialect().getCppNamespace().str();

  // The dialect's enums, by C++ namespace.
  for (const Record *def : records.getAllDerivedDefinitions("EnumAttrInfo")) {
    EnumAttr info(def);
    if (info.getCppNamespace() != StringRef(cppNs).ltrim(":") &&
        info.getCppNamespace() != cppNs)
      continue;
    if (info.isBitEnum())
      llvm::PrintFatalError(def->getLoc(),
                            "runtime ABI: bit enums have no C form yet");
    std::string snake = toSnake(info.getEnumClassName());
    enums.push_back(
        {info, "moert_" + dialect + "_" + snake,
         llvm::StringRef("moert_" + dialect + "_" + snake).upper()});
  }

  for (const std::unique_ptr<Operator> &opPtr : selected) {
    const Operator &op = *opPtr;
    AbiOp abi;
    abi.def = &op.getDef();
    abi.opClass = op.getQualCppClassName();
    abi.opName = op.getOperationName();
    StringRef mnemonic = StringRef(abi.opName).drop_front(dialect.size() + 1);
    abi.callee = "moert_" + dialect + "_" + mnemonic.str();
    abi.summary = op.getSummary().str();
    for (int i = 0, e = op.getNumArgs(); i < e; ++i) {
      Argument arg = op.getArg(i);
      if (auto *named = llvm::dyn_cast_if_present<NamedTypeConstraint *>(arg)) {
        abi.params.push_back(operandParam(op, *named));
      } else if (auto *attr =
                     llvm::dyn_cast_if_present<NamedAttribute *>(arg)) {
        // The stream attribute (StreamOpInterface) is the call's second
        // parameter, not one of its own.
        if (attr->name == "stream") {
          abi.hasStream = true;
          continue;
        }
        abi.params.push_back(attrParam(op, *attr));
      } else {
        llvm::PrintFatalError(op.getLoc(), "runtime ABI: properties of " +
                                               abi.opName +
                                               " have no C parameter");
      }
    }
    for (const Param &p : abi.params)
      if (p.name == "where" || p.name == "stream")
        llvm::PrintFatalError(op.getLoc(), "runtime ABI: argument '" + p.name +
                                               "' of " + abi.opName +
                                               " clashes with the call's own");
    bool dtypes = op.getDef().getValueAsBit("passResultDTypes");
    const CEnum *dtypeEnum = nullptr;
    if (dtypes) {
      for (const CEnum &e : enums)
        if (e.info.getEnumClassName() == "DType")
          dtypeEnum = &e;
      if (!dtypeEnum)
        llvm::PrintFatalError(op.getLoc(),
                              "runtime ABI: " + abi.opName +
                                  " sets passResultDTypes but the dialect "
                                  "has no DType enum");
    }
    for (int i = 0, e = op.getNumResults(); i < e; ++i) {
      const NamedTypeConstraint &r = op.getResult(i);
      if (r.isVariadic())
        llvm::PrintFatalError(op.getLoc(), "runtime ABI: variadic result '" +
                                               r.name + "' of " + abi.opName);
      Result res;
      res.name = r.name.str();
      res.optional = r.isOptional();
      res.odsIndex = i;
      std::string cls = r.constraint.getCPPClassName();
      res.index = cls == "::mlir::IndexType" || cls == "::mlir::IntegerType";
      res.cType = res.index ? "int64_t"
                  : StringRef(cls).ends_with("EventType")
                      ? std::string(kEventHandle) + " *"
                      : std::string(kTensorHandle) + " *";
      if (dtypes && !res.index) {
        Param p;
        p.name = res.name + "_dtype";
        p.cType = dtypeEnum->cName;
        p.build = llvm::formatv("c.dtype(op.getODSResults({0}));", i).str();
        p.what = "element type of result `" + res.name + "` (passResultDTypes)";
        abi.params.push_back(p);
      }
      abi.results.push_back(res);
    }
    ops.push_back(std::move(abi));
  }
}

//===----------------------------------------------------------------------===//
// -gen-runtime-abi-header
//===----------------------------------------------------------------------===//

std::string signature(const AbiOp &op) {
  std::string s = "void " + op.callee + "(const char *where";
  if (op.hasStream)
    s += ", int64_t stream";
  for (const Param &p : op.params)
    s += ", " + p.cType + (StringRef(p.cType).ends_with("*") ? "" : " ") +
         p.name;
  for (const Result &r : op.results)
    s += ", " + r.cType + (StringRef(r.cType).ends_with("*") ? "*" : " *") +
         r.name;
  return s + ")";
}

bool emitHeader(const RecordKeeper &records, llvm::raw_ostream &os) {
  AbiModel abi(records);
  llvm::emitSourceFileHeader("The runtime's C ABI (" + abi.dialect +
                                 " ops), docs/RuntimeAbi.md",
                             os, records);
  os << R"(#ifndef MOE_RUNTIME_RUNTIMEABI_H
#define MOE_RUNTIME_RUNTIMEABI_H

/* Plain C: compiled layers call these functions, lib/Runtime/Abi defines
   them. Generated by moe-tblgen -gen-runtime-abi-header from the ODS of
   the ops; `where` names the op and its location for messages, `stream`
   the stream it runs on; every out-parameter receives a new handle that
   owns one reference (null for an absent optional result: do not pass a
   slot). */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque runtime handles. */
typedef struct moert_tensor moert_tensor;
typedef struct moert_event moert_event;

)";
  for (const CEnum &e : abi.enums) {
    os << "/* " << e.info.getSummary() << " (" << abi.cppNs
       << "::" << e.info.getEnumClassName() << "). */\n";
    os << "typedef enum " << e.cName << " {\n";
    for (const EnumAttrCase &c : e.info.getAllCases())
      os << "  " << e.prefix << "_" << StringRef(c.getSymbol()).upper() << " = "
         << c.getValue() << ",\n";
    os << "} " << e.cName << ";\n";
    os << "/* X(symbol, value, \"keyword\") for every case. */\n";
    os << "#define " << e.prefix << "_CASES(X)";
    for (const EnumAttrCase &c : e.info.getAllCases())
      os << " \\\n  X(" << c.getSymbol() << ", " << c.getValue() << ", \""
         << c.getStr() << "\")";
    os << "\n\n";
  }
  for (const AbiOp &op : abi.ops) {
    os << "/* " << op.opName << ": " << op.summary << " */\n";
    os << signature(op) << ";\n";
  }
  std::string upper = StringRef(abi.dialect).upper();
  os << "\n/* X(function) for every call above. */\n";
  os << "#define MOERT_" << upper << "_CALLS(X)";
  for (const AbiOp &op : abi.ops)
    os << " \\\n  X(" << op.callee << ")";
  os << "\n";
  os << R"(
#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_RUNTIMEABI_H */
)";
  return false;
}

//===----------------------------------------------------------------------===//
// -gen-runtime-abi-calls
//===----------------------------------------------------------------------===//

bool emitCalls(const RecordKeeper &records, llvm::raw_ostream &os) {
  AbiModel abi(records);
  llvm::emitSourceFileHeader(
      "RuntimeAbiCall<Op>: the operands of each op's runtime call", os,
      records);
  os << R"(// Included by lib/Conversion/NpuToRuntime with RuntimeAbiCall (the
// primary template) and RuntimeCallBuilder declared: build() adds the
// call's operands in the order of moe/Runtime/RuntimeAbi.h.

)";
  for (const AbiOp &op : abi.ops) {
    os << "/// " << op.opName << " -> " << signature(op) << "\n";
    os << "template <> struct RuntimeAbiCall<" << op.opClass << "> {\n";
    os << "  static constexpr const char *callee = \"" << op.callee << "\";\n";
    os << "  static void build(RuntimeCallBuilder &c, " << op.opClass << " op, "
       << op.opClass << "::Adaptor a) {\n";
    os << "    (void)op;\n    (void)a;\n";
    if (op.hasStream)
      os << "    c.stream(static_cast<int64_t>(op.getStream()));\n";
    for (const Param &p : op.params)
      os << "    " << p.build << " // " << p.name << "\n";
    for (const Result &r : op.results)
      os << "    c." << (r.index ? "indexResult" : "handleResult")
         << "(op.getODSResults(" << r.odsIndex << ")); // " << r.name << "\n";
    os << "  }\n};\n\n";
  }
  os << "/// Adds Pattern<Op> for every op with a runtime call.\n";
  os << "template <template <typename> class Pattern, typename... Args>\n";
  os << "void addRuntimeAbiPatterns(::mlir::RewritePatternSet &patterns, "
        "Args &&...args) {\n";
  os << "  patterns.add<";
  llvm::interleave(
      abi.ops, os,
      [&](const AbiOp &op) { os << "Pattern<" << op.opClass << ">"; },
      ",\n                ");
  os << ">(std::forward<Args>(args)...);\n}\n";
  return false;
}

//===----------------------------------------------------------------------===//
// -gen-runtime-abi-doc
//===----------------------------------------------------------------------===//

bool emitDoc(const RecordKeeper &records, llvm::raw_ostream &os) {
  AbiModel abi(records);
  os << "<!-- Autogenerated by moe-tblgen -gen-runtime-abi-doc from the "
        "ODS of the "
     << abi.dialect << " dialect; do not edit. -->\n\n";
  os << "# The runtime ABI of the `" << abi.dialect << "` ops\n\n";
  os << "`convert-npu-to-runtime` lowers each op below to one call of the C "
        "function shown, declared in the generated header "
        "`moe/Runtime/RuntimeAbi.h` and defined in `lib/Runtime/Abi` (see "
        "`docs/Runtime.md`, \"The C ABI\"). The parameters follow the op's "
        "ODS arguments in order: tensors as `moert_tensor *` handles (null "
        "for an absent optional operand), `index` operands and integer "
        "attributes as `int64_t`, `f32` attributes as `float`, unit "
        "attributes as `int32_t` flags, enum attributes as the C enums "
        "below; then one element type per result for ops that set "
        "`passResultDTypes`; then one out-parameter per result.\n\n";
  os << "## Enums\n\n";
  for (const CEnum &e : abi.enums) {
    os << "### `" << e.cName << "`\n\n"
       << e.info.getSummary() << " (`" << abi.dialect
       << "::" << e.info.getEnumClassName() << "`).\n\n";
    os << "| constant | value | keyword |\n|---|---|---|\n";
    for (const EnumAttrCase &c : e.info.getAllCases())
      os << "| `" << e.prefix << "_" << StringRef(c.getSymbol()).upper()
         << "` | " << c.getValue() << " | `" << c.getStr() << "` |\n";
    os << "\n";
  }
  os << "## Calls\n\n";
  for (const AbiOp &op : abi.ops) {
    os << "### `" << op.opName << "`\n\n" << op.summary << ".\n\n";
    os << "```c\n" << signature(op) << ";\n```\n\n";
    os << "| parameter | C type | from |\n|---|---|---|\n";
    os << "| `where` | `const char *` | the op and its location |\n";
    if (op.hasStream)
      os << "| `stream` | `int64_t` | the op's `stream` attribute |\n";
    for (const Param &p : op.params)
      os << "| `" << p.name << "` | `" << p.cType << "` | " << p.what << " |\n";
    for (const Result &r : op.results)
      os << "| `" << r.name << "` | `" << r.cType
         << (StringRef(r.cType).ends_with("*") ? "*" : " *") << "` | result"
         << (r.optional ? " (null when the op has no such result)" : "")
         << " |\n";
    os << "\n";
  }
  return false;
}

GenRegistration genHeader("gen-runtime-abi-header",
                          "Generate the runtime's C ABI header", emitHeader);
GenRegistration genCalls("gen-runtime-abi-calls",
                         "Generate the operands of every runtime call",
                         emitCalls);
GenRegistration genDoc("gen-runtime-abi-doc",
                       "Generate the runtime ABI's documentation", emitDoc);

} // namespace
