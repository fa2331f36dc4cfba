//===- DeviceOpCalls.cpp - what every npu op passes to the runtime --------===//
//
// For each device op: its tensor operands in order (null when an optional
// one is absent) and its scalars. The runtime (lib/Runtime/Abi/
// RuntimeCalls.cpp) unpacks them in the same order; docs/Runtime.md lists
// both sides.
//
//===----------------------------------------------------------------------===//

#include "NpuToRuntime.h"

#include "moe/Runtime/Tensor.h"

#include "llvm/ADT/bit.h"

using namespace mlir;
using namespace mlir::moe::runtime;

namespace {

/// Collects the call of one op.
class Describer {
public:
  Describer(OpBuilder &b, Location loc, CallEmitter &emitter)
      : b(b), loc(loc), emitter(emitter) {}

  Describer &tensor(Value v) {
    call.tensors.push_back(v);
    return *this;
  }
  Describer &scalar(int64_t v) {
    call.scalars.push_back(emitter.i64(b, loc, v));
    return *this;
  }
  /// An index operand, already converted to i64.
  Describer &value(Value v) {
    call.scalars.push_back(v);
    return *this;
  }
  Describer &scalar(float v) {
    return scalar(static_cast<int64_t>(llvm::bit_cast<uint32_t>(v)));
  }
  template <typename EnumT> Describer &enumScalar(EnumT v) {
    return scalar(static_cast<int64_t>(v));
  }

  DeviceCall call;

private:
  OpBuilder &b;
  Location loc;
  CallEmitter &emitter;
};

/// Runtime number (moert::DType) of a result's element type.
int64_t dtypeOf(Value v) {
  Type t = cast<RankedTensorType>(v.getType()).getElementType();
  if (t.isF32())
    return static_cast<int64_t>(moert::DType::F32);
  if (t.isBF16())
    return static_cast<int64_t>(moert::DType::BF16);
  if (t.isF16())
    return static_cast<int64_t>(moert::DType::F16);
  if (t.isSignlessInteger(32))
    return static_cast<int64_t>(moert::DType::I32);
  return static_cast<int64_t>(moert::DType::I8);
}

#define DESCRIBE(OP) void describe(npu::OP op, npu::OP::Adaptor a, Describer &d)

DESCRIBE(MoeGatingTopKOp) {
  d.tensor(a.getLogits()).tensor(a.getBias());
  d.scalar(static_cast<int64_t>(op.getK()))
      .enumScalar(op.getScoring())
      .scalar(static_cast<int64_t>(op.getRenormalize()))
      .scalar(static_cast<int64_t>(op.getGroupCount().value_or(0)))
      .scalar(static_cast<int64_t>(op.getKGroup().value_or(0)))
      .scalar(op.getRoutedScalingFactor().convertToFloat());
}

DESCRIBE(MapExpertIdsOp) { d.tensor(a.getIds()).tensor(a.getTable()); }

DESCRIBE(MaskWeightsOp) {
  d.tensor(a.getWeights()).tensor(a.getIds()).tensor(a.getExpertMap());
}

DESCRIBE(MoeInitRoutingOp) {
  d.tensor(a.getX()).tensor(a.getExpertIdx()).tensor(a.getScale());
  d.value(a.getActiveStart())
      .scalar(static_cast<int64_t>(op.getLocalExperts()))
      .scalar(static_cast<int64_t>(op.getExpertNum()))
      .scalar(npu::torchQuantMode(op.getQuantMode()))
      .enumScalar(op.getExpertTokensNumType());
}

DESCRIBE(MoeTokenPermuteOp) { d.tensor(a.getTokens()).tensor(a.getIndices()); }

DESCRIBE(MoeTokenUnpermuteOp) {
  d.tensor(a.getPermuted()).tensor(a.getSortedIndices()).tensor(a.getProbs());
}

DESCRIBE(MoeDistributeDispatchOp) {
  d.tensor(a.getX()).tensor(a.getExpertIds()).tensor(a.getXActiveMask());
  d.scalar(static_cast<int64_t>(op.getEpWorldSize()))
      .scalar(static_cast<int64_t>(op.getMoeExpertNum()))
      .scalar(npu::torchQuantMode(op.getQuantMode()))
      .scalar(static_cast<int64_t>(op.getCapacity()))
      .enumScalar(op.getExpertTokenNumsType());
}

DESCRIBE(MoeDistributeCombineOp) {
  d.tensor(a.getExpandX())
      .tensor(a.getExpertIds())
      .tensor(a.getExpandIdx())
      .tensor(a.getEpSendCounts())
      .tensor(a.getExpertScales())
      .tensor(a.getXActiveMask())
      .tensor(a.getSharedExpertX());
  d.scalar(static_cast<int64_t>(op.getEpWorldSize()))
      .scalar(static_cast<int64_t>(op.getMoeExpertNum()));
}

DESCRIBE(DispatchFfnCombineOp) {
  d.tensor(a.getX())
      .tensor(a.getExpertIds())
      .tensor(a.getProbs())
      .tensor(a.getXActiveMask())
      .tensor(a.getW13())
      .tensor(a.getW2())
      .tensor(a.getScale1())
      .tensor(a.getScale2());
  d.enumScalar(op.getQuant())
      .scalar(static_cast<int64_t>(op.getEpWorldSize()))
      .scalar(static_cast<int64_t>(op.getMoeExpertNum()))
      .scalar(static_cast<int64_t>(op.getCapacity()));
}

DESCRIBE(DynamicQuantOp) { d.tensor(a.getX()); }

DESCRIBE(GroupedMatmulOp) {
  d.tensor(a.getX())
      .tensor(a.getWeight())
      .tensor(a.getGroupList())
      .tensor(a.getScale())
      .tensor(a.getPerTokenScale())
      .tensor(a.getGroupScale());
  d.enumScalar(op.getQuant())
      .enumScalar(op.getGroupListType())
      .scalar(dtypeOf(op.getResult()));
}

DESCRIBE(MatmulOp) {
  d.tensor(a.getX())
      .tensor(a.getWeight())
      .tensor(a.getScale())
      .tensor(a.getPerTokenScale())
      .tensor(a.getGroupScale());
  d.enumScalar(op.getQuant()).scalar(dtypeOf(op.getResult()));
}

DESCRIBE(SwigluOp) { d.tensor(a.getX()); }

DESCRIBE(DequantSwigluQuantOp) {
  d.tensor(a.getX())
      .tensor(a.getWeightScale())
      .tensor(a.getActivationScale())
      .tensor(a.getGroupList());
  d.enumScalar(op.getGroupListType());
}

DESCRIBE(AddOp) { d.tensor(a.getLhs()).tensor(a.getRhs()); }

DESCRIBE(HistogramOp) {
  d.tensor(a.getIds());
  d.scalar(static_cast<int64_t>(op.getBins()));
}

DESCRIBE(AllToAllSplitsOp) {
  d.tensor(a.getLocalCounts()).tensor(a.getGlobalCounts());
  d.scalar(static_cast<int64_t>(op.getLocalExperts()))
      .enumScalar(op.getGroup());
}

DESCRIBE(AllGatherOp) {
  d.tensor(a.getInput());
  d.enumScalar(op.getGroup());
}

DESCRIBE(ReduceScatterOp) {
  d.tensor(a.getInput());
  d.enumScalar(op.getGroup());
}

DESCRIBE(AllReduceOp) {
  d.tensor(a.getInput());
  d.enumScalar(op.getKind()).enumScalar(op.getGroup());
}

DESCRIBE(AllToAllVOp) {
  d.tensor(a.getInput()).tensor(a.getSendSplits()).tensor(a.getRecvSplits());
  d.enumScalar(op.getGroup());
}

DESCRIBE(PadRowsOp) {
  d.tensor(a.getInput());
  d.value(a.getRows());
}

DESCRIBE(SliceRowsOp) {
  d.tensor(a.getInput());
  d.value(a.getRows());
}

DESCRIBE(TensorSplitOp) {
  d.tensor(a.getInput());
  d.enumScalar(op.getGroup());
}

DESCRIBE(Mc2MaskOp) { d.value(a.getValid()).value(a.getRows()); }

#undef DESCRIBE

template <typename OpT>
struct DeviceOpLowering : public ConvertOpToLLVMPattern<OpT> {
  DeviceOpLowering(LLVMTypeConverter &converter, CallEmitter &emitter)
      : ConvertOpToLLVMPattern<OpT>(converter), emitter(emitter) {}

  LogicalResult
  matchAndRewrite(OpT op, typename OpT::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Describer d(rewriter, op.getLoc(), emitter);
    describe(op, adaptor, d);
    rewriter.replaceOp(op, emitter.emitDeviceCall(rewriter, op, d.call));
    return success();
  }

  CallEmitter &emitter;
};

} // namespace

void mlir::moe::runtime::populateDeviceOpLoweringPatterns(
    LLVMTypeConverter &converter, CallEmitter &emitter,
    RewritePatternSet &patterns) {
  patterns.add<
      DeviceOpLowering<npu::MoeGatingTopKOp>,
      DeviceOpLowering<npu::MapExpertIdsOp>,
      DeviceOpLowering<npu::MaskWeightsOp>,
      DeviceOpLowering<npu::MoeInitRoutingOp>,
      DeviceOpLowering<npu::MoeTokenPermuteOp>,
      DeviceOpLowering<npu::MoeTokenUnpermuteOp>,
      DeviceOpLowering<npu::MoeDistributeDispatchOp>,
      DeviceOpLowering<npu::MoeDistributeCombineOp>,
      DeviceOpLowering<npu::DispatchFfnCombineOp>,
      DeviceOpLowering<npu::DynamicQuantOp>,
      DeviceOpLowering<npu::GroupedMatmulOp>, DeviceOpLowering<npu::MatmulOp>,
      DeviceOpLowering<npu::SwigluOp>,
      DeviceOpLowering<npu::DequantSwigluQuantOp>,
      DeviceOpLowering<npu::AddOp>, DeviceOpLowering<npu::HistogramOp>,
      DeviceOpLowering<npu::AllToAllSplitsOp>,
      DeviceOpLowering<npu::AllGatherOp>,
      DeviceOpLowering<npu::ReduceScatterOp>,
      DeviceOpLowering<npu::AllReduceOp>, DeviceOpLowering<npu::AllToAllVOp>,
      DeviceOpLowering<npu::PadRowsOp>, DeviceOpLowering<npu::SliceRowsOp>,
      DeviceOpLowering<npu::TensorSplitOp>, DeviceOpLowering<npu::Mc2MaskOp>>(
      converter, emitter);
}
