//===- RuntimeAbiCalls.cpp - npu ops to calls of the generated ABI --------===//
//
// Every npu op whose ODS sets `hasRuntimeCall` lowers to one call of
// `moert_npu_<op>` with the parameters of moe/Runtime/RuntimeAbi.h. Both
// the header and RuntimeAbiCall<Op> (which adds the call's operands in the
// header's order) are generated from the ODS by moe-tblgen
// (tools/moe-tblgen/RuntimeAbiGen.cpp); this file only knows how to build
// each kind of parameter.
//
//===----------------------------------------------------------------------===//

#include "NpuToRuntime.h"

using namespace mlir;
using namespace mlir::moe::runtime;

namespace {

/// Collects the operands of one runtime call, in the order the generated
/// RuntimeAbiCall<Op>::build adds them, then emits the call.
class RuntimeCallBuilder {
public:
  RuntimeCallBuilder(OpBuilder &b, Operation *op, CallEmitter &emitter)
      : b(b), loc(op->getLoc()), emitter(emitter) {
    args.push_back(emitter.where(b, op));
  }

  void stream(int64_t id) { i64(id); }
  /// A tensor or event handle; null (an absent optional operand) passes a
  /// null pointer.
  void handle(Value v) {
    args.push_back(v ? v : b.create<LLVM::ZeroOp>(loc, ptrType()).getResult());
  }
  /// An index operand, already converted to i64.
  void index(Value v) { args.push_back(v); }
  void i64(int64_t v) { args.push_back(emitter.i64(b, loc, v)); }
  void f32(float v) {
    args.push_back(
        b.create<LLVM::ConstantOp>(loc, b.getF32Type(), b.getF32FloatAttr(v)));
  }
  void f64(double v) {
    args.push_back(
        b.create<LLVM::ConstantOp>(loc, b.getF64Type(), b.getF64FloatAttr(v)));
  }
  /// A C `int32_t` flag.
  void flag(bool v) { i32(v ? 1 : 0); }
  /// A C enum (an `int`).
  void enumCase(int32_t v) { i32(v); }
  void string(StringRef text) { args.push_back(emitter.string(b, loc, text)); }
  /// The element type of a result, as a moert_npu_dtype.
  void dtype(ResultRange result) {
    if (result.empty())
      return enumCase(0);
    std::optional<npu::DType> d = dtypeOf(
        cast<RankedTensorType>(result.front().getType()).getElementType());
    if (!d) {
      failure = "no runtime element type for result type " +
                std::to_string(result.front().getResultNumber());
      return enumCase(0);
    }
    enumCase(static_cast<int32_t>(*d));
  }
  /// A result handle's out-parameter: a slot, or null when the op does not
  /// have this (optional) result.
  void handleResult(ResultRange result) { resultSlot(result, ptrType()); }
  /// An index result's out-parameter.
  void indexResult(ResultRange result) {
    resultSlot(result, emitter.i64Type());
  }

  /// Emits `callee(args...)`; returns the values of the op's results, or
  /// failure (with `failure` set) when a parameter cannot be built.
  FailureOr<SmallVector<Value>> emit(StringRef callee) {
    if (!failure.empty())
      return mlir::failure();
    SmallVector<Type> params;
    for (Value a : args)
      params.push_back(a.getType());
    LLVM::LLVMFuncOp fn = emitter.declare(b, callee, params, Type());
    b.create<LLVM::CallOp>(loc, fn, args);
    SmallVector<Value> values;
    for (auto [slot, type] : slots)
      values.push_back(b.create<LLVM::LoadOp>(loc, type, slot));
    return values;
  }

  std::string failure;

private:
  Type ptrType() const { return emitter.ptrType(); }
  void i32(int32_t v) {
    args.push_back(b.create<LLVM::ConstantOp>(loc, b.getI32Type(),
                                              b.getI32IntegerAttr(v)));
  }
  void resultSlot(ResultRange result, Type type) {
    if (result.empty()) {
      args.push_back(b.create<LLVM::ZeroOp>(loc, ptrType()));
      return;
    }
    Value slot =
        b.create<LLVM::AllocaOp>(loc, ptrType(), type, emitter.i64(b, loc, 1));
    args.push_back(slot);
    slots.push_back({slot, type});
  }
  static std::optional<npu::DType> dtypeOf(Type t) {
    if (t.isF32())
      return npu::DType::F32;
    if (t.isBF16())
      return npu::DType::BF16;
    if (t.isF16())
      return npu::DType::F16;
    if (t.isSignlessInteger(8))
      return npu::DType::I8;
    if (t.isSignlessInteger(4))
      return npu::DType::I4;
    if (t.isSignlessInteger(32))
      return npu::DType::I32;
    if (t.isSignlessInteger(64))
      return npu::DType::I64;
    if (t.isSignlessInteger(1))
      return npu::DType::I1;
    if (t.isFloat8E4M3FN())
      return npu::DType::F8E4M3FN;
    if (t.isFloat8E5M2())
      return npu::DType::F8E5M2;
    return std::nullopt;
  }

  OpBuilder &b;
  Location loc;
  CallEmitter &emitter;
  SmallVector<Value> args;
  SmallVector<std::pair<Value, Type>> slots;
};

template <typename OpT> struct RuntimeAbiCall;
#include "moe/Conversion/RuntimeAbiCalls.h.inc"

template <typename OpT>
struct RuntimeCallLowering : public ConvertOpToLLVMPattern<OpT> {
  RuntimeCallLowering(LLVMTypeConverter &converter, CallEmitter &emitter)
      : ConvertOpToLLVMPattern<OpT>(converter), emitter(emitter) {}

  LogicalResult
  matchAndRewrite(OpT op, typename OpT::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RuntimeCallBuilder call(rewriter, op, emitter);
    RuntimeAbiCall<OpT>::build(call, op, adaptor);
    FailureOr<SmallVector<Value>> results =
        call.emit(RuntimeAbiCall<OpT>::callee);
    if (failed(results))
      return rewriter.notifyMatchFailure(op, call.failure);
    rewriter.replaceOp(op, *results);
    return success();
  }

  CallEmitter &emitter;
};

} // namespace

void mlir::moe::runtime::populateRuntimeAbiCallPatterns(
    LLVMTypeConverter &converter, CallEmitter &emitter,
    RewritePatternSet &patterns) {
  addRuntimeAbiPatterns<RuntimeCallLowering>(patterns, converter, emitter);
}
