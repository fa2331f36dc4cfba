//===- ExpandPrepareFinalize.cpp - prepare / finalize per method ----------===//
//
// vllm-ascend's PrepareAndFinalizeWithAllGather / All2All / MC2 (seed 000)
// as npu ops; docs/Expansion.md "prepare / finalize" lists the sequences.
//
//===----------------------------------------------------------------------===//

#include "Expander.h"

#include "moe/Dialect/Moe/CommLegality.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::expand;

//===----------------------------------------------------------------------===//
// Row bookkeeping and collectives
//===----------------------------------------------------------------------===//

Value Expander::padRows(Location loc, Value x, Value rows) {
  return b.create<npu::PadRowsOp>(loc, dynamicRows(x.getType()), x, rows);
}

Value Expander::sliceRows(Location loc, Value x, Value rows) {
  return b.create<npu::SliceRowsOp>(loc, dynamicRows(x.getType()), x, rows);
}

Value Expander::tensorSplit(Location loc, Value x, npu::Group group) {
  return b.create<npu::TensorSplitOp>(loc, dynamicRows(x.getType()), x, group);
}

Value Expander::allGather(Location loc, Value x, npu::Group group) {
  return b.create<npu::AllGatherOp>(loc, dynamicRows(x.getType()), x, group);
}

Value Expander::reduceScatter(Location loc, Value x, npu::Group group) {
  return b.create<npu::ReduceScatterOp>(loc, dynamicRows(x.getType()), x,
                                        group);
}

Value Expander::allReduceScalar(Location loc, Value v, npu::Group group) {
  return b.create<npu::AllReduceScalarOp>(loc, b.getIndexType(), v,
                                         npu::ReduceKind::Max, group);
}

int64_t Expander::mc2Capacity() const {
  // The rows per rank the legality query admits for the MC2 kernels, which
  // the runtime checks (moe/Dialect/Moe/CommLegality.h).
  return checkMc2Capacity ? mc2KernelCapacity(chip) : 0;
}

//===----------------------------------------------------------------------===//
// prepare
//===----------------------------------------------------------------------===//

LogicalResult Expander::expandPrepare(PrepareOp op) {
  CommMethod method = op.getMethod();
  if (method == CommMethod::Unset)
    return op.emitOpError()
           << "has no communication method; run moe-select-comm-method "
              "first or give the method in its context type";
  Location loc = op.getLoc();
  Value tokens = tokenCount(loc, op.getHidden());
  Value hidden = op.getHidden(), logits = op.getLogits();
  PreparedLayer info{method, tokens, Value()};
  int64_t dp = layout.getDp();
  // With sequence parallelism every rank holds tokens of its own: there is
  // nothing to slice by TP rank, and padding follows the longest rank of
  // the whole EP group rather than of the DP group.
  bool sp = layout.getSequenceParallel();
  int64_t tp = sp ? 1 : layout.getTp();
  npu::Group tokenGroup = sp ? npu::Group::EP : npu::Group::DP;
  int64_t tokenGroupSize = sp ? layout.getEpSize() : dp;

  // Without sequence parallelism the TP ranks of a DP group hold the same
  // tokens; every method below relies on it.
  if (tp > 1)
    b.create<npu::ExpectUniformOp>(
        loc, tokens, npu::Group::TP,
        "the tensor-parallel ranks of a DP group hold the same tokens");

  if (layout.getWorldSize() > 1) {
    switch (method) {
    case CommMethod::AllGather: {
      // _prepare_with_dp_group, or _prepare_with_ep_group with sequence
      // parallelism: pad to the longest rank, gather the whole group.
      if (tokenGroupSize > 1) {
        Value most = allReduceScalar(loc, tokens, tokenGroup);
        hidden = allGather(loc, padRows(loc, hidden, most), tokenGroup);
        logits = allGather(loc, padRows(loc, logits, most), tokenGroup);
      }
      break;
    }
    case CommMethod::AllToAll:
      // PrepareAndFinalizeWithAll2All: pad to tp rows, keep this TP rank's
      // chunk.
      if (tp > 1) {
        Value tpRows = constantIndex(loc, tp);
        hidden = tensorSplit(loc, padRows(loc, hidden, tpRows), npu::Group::TP);
        logits = tensorSplit(loc, padRows(loc, logits, tpRows), npu::Group::TP);
      }
      break;
    case CommMethod::MC2:
    case CommMethod::FusedMC2: {
      // PrepareAndFinalizeWithMC2 with padded_num_tokens =
      // ceil(max_tokens_across_dp / tp) * tp and the mc2_mask of real rows.
      Value most = tokenGroupSize > 1
                       ? allReduceScalar(loc, tokens, tokenGroup)
                       : tokens;
      Value padded = most;
      if (tp > 1) {
        Value tpRows = constantIndex(loc, tp);
        padded = b.create<arith::MulIOp>(
            loc, b.create<arith::CeilDivUIOp>(loc, most, tpRows), tpRows);
      }
      Value mask = b.create<npu::Mc2MaskOp>(
          loc, tensorType({ShapedType::kDynamic}, b.getI1Type()), tokens,
          padded);
      hidden = padRows(loc, hidden, padded);
      logits = padRows(loc, logits, padded);
      if (tp > 1) {
        hidden = tensorSplit(loc, hidden, npu::Group::TP);
        logits = tensorSplit(loc, logits, npu::Group::TP);
        mask = tensorSplit(loc, mask, npu::Group::TP);
      }
      info.mask = mask;
      break;
    }
    case CommMethod::Unset:
      llvm_unreachable("checked above");
    }
  }
  Value newHidden = castTo(loc, hidden, op.getPreparedHidden().getType());
  if (info.mask)
    masks[newHidden] = info.mask;
  op.getPreparedHidden().replaceAllUsesWith(newHidden);
  op.getPreparedLogits().replaceAllUsesWith(
      castTo(loc, logits, op.getPreparedLogits().getType()));
  prepared[op.getCtx()] = info;
  pendingErase.push_back(op);
  return success();
}

//===----------------------------------------------------------------------===//
// finalize
//===----------------------------------------------------------------------===//

LogicalResult Expander::expandFinalize(FinalizeOp op) {
  auto it = prepared.find(op.getCtx());
  if (it == prepared.end())
    return op.emitOpError() << "cannot be expanded: its context does not come "
                               "from a moe.prepare of this function";
  const PreparedLayer &info = it->second;
  Location loc = op.getLoc();
  Value out = op.getRouted();
  bool sp = layout.getSequenceParallel();
  int64_t tp = sp ? 1 : layout.getTp();
  npu::Group tokenGroup = sp ? npu::Group::EP : npu::Group::DP;
  int64_t tokenGroupSize = sp ? layout.getEpSize() : layout.getDp();

  if (layout.getWorldSize() > 1) {
    switch (info.method) {
    case CommMethod::AllGather: {
      if (tokenGroupSize > 1)
        out = sliceRows(loc, reduceScatter(loc, out, tokenGroup), info.tokens);
      // _finalize_with_dp_group: all-reduce over TP when tp > 1 (with
      // sequence parallelism the EP reduce-scatter already summed all ranks).
      if (tp > 1)
        out = b.create<npu::AllReduceOp>(loc, out.getType(), out,
                                         npu::ReduceKind::Sum, npu::Group::TP);
      break;
    }
    case CommMethod::AllToAll:
      if (tp > 1)
        out = sliceRows(loc, allGather(loc, out, npu::Group::TP), info.tokens);
      break;
    case CommMethod::MC2:
    case CommMethod::FusedMC2:
      // Padding to padded_num_tokens is dropped even when tp == 1.
      if (tp > 1)
        out = allGather(loc, out, npu::Group::TP);
      out = sliceRows(loc, out, info.tokens);
      break;
    case CommMethod::Unset:
      llvm_unreachable("prepare checked the method");
    }
  }
  Type resultType = op.getResult().getType();
  out = castTo(loc, out, resultType);
  if (Value shared = op.getShared())
    out = b.create<npu::AddOp>(loc, resultType, out,
                               castTo(loc, shared, resultType));
  op.getResult().replaceAllUsesWith(out);
  rowCounts[out] = info.tokens;
  eraseNow(op);
  return success();
}
