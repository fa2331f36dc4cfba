//===- NpuDialect.cpp - the npu dialect -----------------------------------===//

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::npu;

#include "moe/Dialect/Npu/NpuDialect.cpp.inc"
#include "moe/Dialect/Npu/NpuEnums.cpp.inc"
#include "moe/Dialect/Npu/NpuInterfaces.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Npu/NpuTypes.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/Npu/NpuAttrs.cpp.inc"

void NpuDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/Npu/NpuTypes.cpp.inc"
      >();
}

void NpuDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/Npu/NpuAttrs.cpp.inc"
      >();
}

/// `npu.load_function` / `npu.load_args` on an entry function: the
/// load-time function exists, takes the listed arguments' types and returns
/// what the entry's trailing arguments take.
static LogicalResult verifyLoadTime(Operation *op, StringRef name) {
  if (!isa<FunctionOpInterface>(op))
    return op->emitError() << "'" << name << "' belongs on a func.func, not '"
                           << op->getName() << "'";
  NpuDialect::LoadFunctionAttrHelper loadFn(op->getContext());
  NpuDialect::LoadArgsAttrHelper loadArgs(op->getContext());
  FlatSymbolRefAttr ref = loadFn.getAttr(op);
  DenseI64ArrayAttr args = loadArgs.getAttr(op);
  if (!op->hasAttr(loadFn.getName()) || !op->hasAttr(loadArgs.getName()))
    return op->emitError() << "'" << loadFn.getName().getValue() << "' and '"
                           << loadArgs.getName().getValue()
                           << "' go together (a flat symbol reference and an "
                              "array<i64>)";
  if (!ref || !args)
    return op->emitError() << "'" << loadFn.getName().getValue()
                           << "' must be a flat symbol reference and '"
                           << loadArgs.getName().getValue()
                           << "' an array<i64>";
  // Checked once, on the first of the two attributes; the lowering keeps
  // them on the llvm.func it makes, where only their kinds are checked.
  auto fn = dyn_cast<func::FuncOp>(op);
  if (name != loadFn.getName().getValue() || !fn)
    return success();
  auto load = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(op, ref);
  if (!load)
    return op->emitError() << "load-time function " << ref
                           << " is not a function of the module";
  FunctionType loadType = load.getFunctionType(), type = fn.getFunctionType();
  if (loadType.getNumInputs() != args.size())
    return op->emitError() << "load-time function " << ref << " takes "
                           << loadType.getNumInputs() << " arguments but '"
                           << loadArgs.getName().getValue() << "' lists "
                           << args.size();
  unsigned numLoaded = loadType.getNumResults();
  if (type.getNumInputs() < numLoaded)
    return op->emitError() << "load-time function " << ref << " returns "
                           << numLoaded << " values but the function takes "
                           << type.getNumInputs() << " arguments";
  unsigned firstLoaded = type.getNumInputs() - numLoaded;
  for (auto [i, index] : llvm::enumerate(args.asArrayRef())) {
    if (index < 0 || index >= int64_t(firstLoaded))
      return op->emitError()
             << "'" << loadArgs.getName().getValue() << "' entry " << index
             << " is not one of the function's " << firstLoaded
             << " step arguments";
    if (type.getInput(index) != loadType.getInput(i))
      return op->emitError() << "argument " << index << " has type "
                             << type.getInput(index) << " but " << ref
                             << " takes " << loadType.getInput(i);
  }
  for (unsigned i = 0; i < numLoaded; ++i)
    if (type.getInput(firstLoaded + i) != loadType.getResult(i))
      return op->emitError() << "argument " << firstLoaded + i << " has type "
                             << type.getInput(firstLoaded + i) << " but "
                             << ref << " returns " << loadType.getResult(i);
  return success();
}

LogicalResult NpuDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  SharedExpertAttrHelper sharedExpert = getSharedExpertAttrHelper();
  StringRef name = attribute.getName().getValue();
  if (name == getLoadFunctionAttrHelper().getNameStr() ||
      name == getLoadArgsAttrHelper().getNameStr())
    return verifyLoadTime(op, name);
  if (attribute.getName() != sharedExpert.getName())
    return op->emitError() << "unknown npu attribute '" << name
                           << "'; the npu dialect defines '"
                           << sharedExpert.getNameStr() << "', '"
                           << getLoadFunctionAttrHelper().getNameStr()
                           << "' and '" << getLoadArgsAttrHelper().getNameStr()
                           << "'";
  if (!isa<SharedExpertStageAttr>(attribute.getValue()))
    return op->emitError() << "'" << name
                           << "' must be a #npu.shared_expert<stage>, got "
                           << attribute.getValue();
  if (!isa<StreamOpInterface>(op))
    return op->emitError() << "'" << name
                           << "' marks device ops of the shared experts; '"
                           << op->getName() << "' is not a device op";
  return success();
}

void NpuDialect::initialize() {
  registerTypes();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/Npu/NpuOps.cpp.inc"
      >();
}
