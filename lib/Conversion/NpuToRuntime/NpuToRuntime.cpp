//===- NpuToRuntime.cpp - npu ops to runtime calls ------------------------===//
//
// Tensors and events become opaque handles (!llvm.ptr). Every npu op with a
// runtime call (device ops and the host-side queries) becomes one call of
// the ABI generated from its ODS (RuntimeAbiCalls.cpp, moe/Runtime/
// RuntimeAbi.h, docs/RuntimeAbi.md); streams, events, reference counting
// and tensor.dim become the hand-written calls of moe/Runtime/
// RuntimeCalls.h.
//
//===----------------------------------------------------------------------===//

#include "NpuToRuntime.h"

#include "moe/Conversion/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTNPUTORUNTIME
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe::runtime;

//===----------------------------------------------------------------------===//
// CallEmitter
//===----------------------------------------------------------------------===//

Type CallEmitter::ptrType() const {
  return LLVM::LLVMPointerType::get(module.getContext());
}

Type CallEmitter::i64Type() const {
  return IntegerType::get(module.getContext(), 64);
}

Value CallEmitter::i64(OpBuilder &b, Location loc, int64_t v) const {
  return b.create<LLVM::ConstantOp>(loc, i64Type(), b.getI64IntegerAttr(v));
}

Value CallEmitter::where(OpBuilder &b, Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getName() << " at ";
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc); fused && !fused.getLocations().empty())
    loc = fused.getLocations().front();
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    os << file.getFilename().getValue() << ":" << file.getLine() << ":"
       << file.getColumn();
  else
    loc.print(os);
  return string(b, op->getLoc(), os.str());
}

Value CallEmitter::string(OpBuilder &b, Location loc, StringRef text) {
  auto [it, inserted] = stringGlobals.try_emplace(text, "");
  if (inserted) {
    it->second = "moert_str_" + std::to_string(stringGlobals.size() - 1);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    std::string value = text.str();
    value.push_back('\0');
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), value.size());
    b.create<LLVM::GlobalOp>(loc, type, /*isConstant=*/true,
                             LLVM::Linkage::Internal, it->second,
                             b.getStringAttr(value));
  }
  return b.create<LLVM::AddressOfOp>(loc, ptrType(), it->second);
}

LLVM::LLVMFuncOp CallEmitter::declare(OpBuilder &b, StringRef name,
                                      ArrayRef<Type> params, Type result) {
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return fn;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  Type type = LLVM::LLVMFunctionType::get(
      result ? result : LLVM::LLVMVoidType::get(module.getContext()), params);
  return b.create<LLVM::LLVMFuncOp>(module.getLoc(), name, type);
}

Value CallEmitter::emitHostCall(OpBuilder &b, Location loc, StringRef name,
                                Type result, ValueRange args) {
  SmallVector<Type> params;
  for (Value a : args)
    params.push_back(a.getType());
  LLVM::LLVMFuncOp fn = declare(b, name, params, result);
  auto call = b.create<LLVM::CallOp>(loc, fn, args);
  return result ? call.getResult() : Value();
}

//===----------------------------------------------------------------------===//
// Host-side patterns
//===----------------------------------------------------------------------===//

namespace {
template <typename OpT>
struct RuntimePattern : public ConvertOpToLLVMPattern<OpT> {
  RuntimePattern(LLVMTypeConverter &converter, CallEmitter &emitter)
      : ConvertOpToLLVMPattern<OpT>(converter), emitter(emitter) {}
  CallEmitter &emitter;
};

struct DimLowering : public RuntimePattern<tensor::DimOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(tensor::DimOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value size = emitter.emitHostCall(
        rewriter, op.getLoc(), "moert_dim", emitter.i64Type(),
        {emitter.where(rewriter, op), adaptor.getSource(), adaptor.getIndex()});
    rewriter.replaceOp(op, size);
    return success();
  }
};

/// A cast names the same handle; it owns a reference of its own.
struct CastLowering : public RuntimePattern<tensor::CastOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(tensor::CastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    emitter.emitHostCall(rewriter, op.getLoc(), "moert_retain", Type(),
                         {adaptor.getSource()});
    rewriter.replaceOp(op, adaptor.getSource());
    return success();
  }
};

struct RetainLowering : public RuntimePattern<npu::RetainOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(npu::RetainOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    bool event = isa<npu::EventType>(op.getValue().getType());
    emitter.emitHostCall(rewriter, op.getLoc(),
                         event ? "moert_retain_event" : "moert_retain", Type(),
                         {adaptor.getValue()});
    rewriter.eraseOp(op);
    return success();
  }
};

struct ReleaseLowering : public RuntimePattern<npu::ReleaseOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(npu::ReleaseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    bool event = isa<npu::EventType>(op.getValue().getType());
    emitter.emitHostCall(rewriter, op.getLoc(),
                         event ? "moert_release_event" : "moert_release",
                         Type(), {adaptor.getValue()});
    rewriter.eraseOp(op);
    return success();
  }
};

struct RecordLowering : public RuntimePattern<npu::RecordOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(npu::RecordOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value event = emitter.emitHostCall(
        rewriter, op.getLoc(), "moert_record", emitter.ptrType(),
        {emitter.where(rewriter, op),
         emitter.i64(rewriter, op.getLoc(), op.getStream())});
    rewriter.replaceOp(op, event);
    return success();
  }
};

struct WaitLowering : public RuntimePattern<npu::WaitOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult
  matchAndRewrite(npu::WaitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    emitter.emitHostCall(rewriter, op.getLoc(), "moert_wait", Type(),
                         {emitter.where(rewriter, op), adaptor.getEvent(),
                          emitter.i64(rewriter, op.getLoc(), op.getStream())});
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

/// `_moe_entry_f(ptr args, ptr results)` for a converted public function:
/// loads the handles (and, for index arguments, the int64 each slot points
/// to), calls `f` and stores the result handles.
static void addEntryPoint(OpBuilder &b, CallEmitter &emitter,
                          LLVM::LLVMFuncOp fn) {
  LLVM::LLVMFunctionType type = fn.getFunctionType();
  Type ptr = emitter.ptrType(), i64 = emitter.i64Type();
  SmallVector<Type> results;
  Type ret = type.getReturnType();
  if (auto st = dyn_cast<LLVM::LLVMStructType>(ret))
    llvm::append_range(results, st.getBody());
  else if (!isa<LLVM::LLVMVoidType>(ret))
    results.push_back(ret);
  auto isHandleOrIndex = [&](Type t) { return t == ptr || t == i64; };
  if (!llvm::all_of(type.getParams(), isHandleOrIndex) ||
      !llvm::all_of(results, [&](Type t) { return t == ptr; }))
    return;

  Location loc = fn.getLoc();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfter(fn);
  auto entry = b.create<LLVM::LLVMFuncOp>(
      loc, ("_moe_entry_" + fn.getSymName()).str(),
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(b.getContext()),
                                  {ptr, ptr}));
  Block *body = entry.addEntryBlock(b);
  b.setInsertionPointToStart(body);
  SmallVector<Value> args;
  for (auto [i, t] : llvm::enumerate(type.getParams())) {
    Value slot = b.create<LLVM::GEPOp>(loc, ptr, ptr, body->getArgument(0),
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value handle = b.create<LLVM::LoadOp>(loc, ptr, slot);
    args.push_back(t == ptr ? handle
                            : b.create<LLVM::LoadOp>(loc, i64, handle));
  }
  auto call = b.create<LLVM::CallOp>(loc, fn, args);
  for (unsigned i = 0; i < results.size(); ++i) {
    Value value = results.size() == 1 && !isa<LLVM::LLVMStructType>(ret)
                      ? call.getResult()
                      : b.create<LLVM::ExtractValueOp>(loc, call.getResult(),
                                                       ArrayRef<int64_t>{i})
                            .getResult();
    Value slot = b.create<LLVM::GEPOp>(loc, ptr, ptr, body->getArgument(1),
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
    b.create<LLVM::StoreOp>(loc, value, slot);
  }
  b.create<LLVM::ReturnOp>(loc, ValueRange{});
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct ConvertNpuToRuntimePass
    : public mlir::moe::impl::ConvertNpuToRuntimeBase<
          ConvertNpuToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<std::string> publicFunctions;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isDeclaration())
        publicFunctions.push_back(fn.getSymName().str());

    LLVMTypeConverter converter(ctx);
    converter.addConversion([ctx](RankedTensorType) {
      return LLVM::LLVMPointerType::get(ctx);
    });
    converter.addConversion([ctx](npu::EventType) {
      return LLVM::LLVMPointerType::get(ctx);
    });

    CallEmitter emitter(module);
    RewritePatternSet patterns(ctx);
    populateFuncToLLVMConversionPatterns(converter, patterns);
    cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
    arith::populateArithToLLVMConversionPatterns(converter, patterns);
    arith::populateCeilFloorDivExpandOpsPatterns(patterns);
    patterns.add<DimLowering, CastLowering, RetainLowering, ReleaseLowering,
                 RecordLowering, WaitLowering>(converter, emitter);
    populateRuntimeAbiCallPatterns(converter, emitter, patterns);

    LLVMConversionTarget target(*ctx);
    target.addLegalOp<ModuleOp>();
    if (failed(applyFullConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    OpBuilder b(ctx);
    for (const std::string &name : publicFunctions) {
      auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name);
      if (!fn)
        continue;
      // Argument names (moe.name) are for drivers, not for LLVM.
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        fn.removeArgAttr(i, StringAttr::get(ctx, "moe.name"));
      addEntryPoint(b, emitter, fn);
    }
  }
};
} // namespace
