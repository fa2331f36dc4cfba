//===- OutlineLoadTime.cpp - weight processing into a run-once function ---===//
//
// Moves the load-time device ops (Npu_RunsAtLoadTime) of each public
// function that compute from its arguments alone into `@<f>__load`, and
// makes their results trailing arguments of `@f` (Passes.td has the
// contract; docs/Runtime.md "Load time" how drivers run it).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::moe {
#define GEN_PASS_DEF_OUTLINELOADTIME
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The load-time ops of `fn` whose operands are arguments of `fn` or
/// results of earlier such ops, in program order.
SmallVector<Operation *> collectLoadTimeOps(func::FuncOp fn) {
  SmallVector<Operation *> ops;
  llvm::SmallPtrSet<Operation *, 8> moved;
  Block &entry = fn.getBody().front();
  for (Operation &op : entry) {
    if (!op.hasTrait<npu::OpTrait::RunsAtLoadTime>())
      continue;
    bool fromWeights = llvm::all_of(op.getOperands(), [&](Value v) {
      if (auto arg = dyn_cast<BlockArgument>(v))
        return arg.getOwner() == &entry;
      return moved.contains(v.getDefiningOp());
    });
    if (!fromWeights)
      continue;
    ops.push_back(&op);
    moved.insert(&op);
  }
  return ops;
}

struct OutlineLoadTimePass
    : public mlir::moe::impl::OutlineLoadTimeBase<OutlineLoadTimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    auto *npuDialect = getContext().getLoadedDialect<npu::NpuDialect>();
    auto loadFunction = npuDialect->getLoadFunctionAttrHelper();
    auto loadArgs = npuDialect->getLoadArgsAttrHelper();
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    // Load-time functions made before are not outlined again.
    llvm::SmallDenseSet<StringAttr> loadFunctions;
    for (func::FuncOp fn : functions)
      if (FlatSymbolRefAttr ref = loadFunction.getAttr(fn))
        loadFunctions.insert(ref.getAttr());
    for (func::FuncOp fn : functions) {
      if (!fn.isPublic() || fn.isDeclaration() ||
          loadFunction.isAttrPresent(fn) ||
          loadFunctions.contains(fn.getSymNameAttr()))
        continue;
      SmallVector<Operation *> ops = collectLoadTimeOps(fn);
      if (ops.empty())
        continue;
      llvm::SmallPtrSet<Operation *, 8> moved(ops.begin(), ops.end());
      Block &entry = fn.getBody().front();

      // What the load function takes (arguments of fn, by index) and
      // returns (results read outside the moved ops).
      llvm::SetVector<BlockArgument> inputs;
      SmallVector<Value> outputs;
      for (Operation *op : ops) {
        for (Value v : op->getOperands())
          if (auto arg = dyn_cast<BlockArgument>(v))
            inputs.insert(arg);
        for (Value r : op->getResults())
          if (llvm::any_of(r.getUsers(), [&](Operation *user) {
                return !moved.contains(user);
              }))
            outputs.push_back(r);
      }
      SmallVector<BlockArgument> sortedInputs(inputs.begin(), inputs.end());
      llvm::sort(sortedInputs, [](BlockArgument a, BlockArgument b) {
        return a.getArgNumber() < b.getArgNumber();
      });

      OpBuilder builder(&getContext());
      builder.setInsertionPoint(fn);
      SmallVector<Type> inputTypes, outputTypes;
      SmallVector<int64_t> argIndices;
      for (BlockArgument arg : sortedInputs) {
        inputTypes.push_back(arg.getType());
        argIndices.push_back(arg.getArgNumber());
      }
      for (Value v : outputs)
        outputTypes.push_back(v.getType());
      auto load = builder.create<func::FuncOp>(
          fn.getLoc(), (fn.getSymName() + "__load").str(),
          builder.getFunctionType(inputTypes, outputTypes));
      symbols.insert(load); // renamed if the name is taken
      for (auto [i, arg] : llvm::enumerate(sortedInputs))
        if (DictionaryAttr attrs = fn.getArgAttrDict(arg.getArgNumber()))
          load.setArgAttrs(i, attrs);
      Block *body = load.addEntryBlock();
      IRMapping mapping;
      for (auto [arg, loadArg] : llvm::zip(sortedInputs, body->getArguments()))
        mapping.map(arg, loadArg);
      builder.setInsertionPointToStart(body);
      for (Operation *op : ops)
        builder.clone(*op, mapping);
      SmallVector<Value> returned;
      for (Value v : outputs)
        returned.push_back(mapping.lookup(v));
      builder.create<func::ReturnOp>(fn.getLoc(), returned);

      // fn takes the loaded values as trailing arguments instead.
      for (Value v : outputs) {
        unsigned index = fn.getNumArguments();
        fn.insertArgument(index, v.getType(), DictionaryAttr(), v.getLoc());
        v.replaceAllUsesWith(entry.getArgument(index));
      }
      for (Operation *op : llvm::reverse(ops))
        op->erase();
      loadFunction.setAttr(fn, FlatSymbolRefAttr::get(load.getSymNameAttr()));
      loadArgs.setAttr(fn, builder.getDenseI64ArrayAttr(argIndices));
    }
  }
};
} // namespace
