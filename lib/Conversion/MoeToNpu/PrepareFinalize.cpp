//===- PrepareFinalize.cpp - prepare / finalize per method ----------------===//
//
// vllm-ascend's PrepareAndFinalizeWithAllGather / All2All / MC2 (seed 000)
// as npu ops; docs/Expansion.md "prepare / finalize" lists the sequences.
// The prepare context becomes the rank's token count and, for mc2 and
// fused_mc2 on several ranks, its slice of the mc2 mask.
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

#include "moe/Dialect/Moe/CommLegality.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

//===----------------------------------------------------------------------===//
// Row bookkeeping and collectives
//===----------------------------------------------------------------------===//

Value to_npu::padRows(OpBuilder &b, Location loc, Value x, Value rows) {
  return b.create<npu::PadRowsOp>(loc, dynamicRows(x.getType()), x, rows);
}

Value to_npu::sliceRows(OpBuilder &b, Location loc, Value x, Value rows) {
  return b.create<npu::SliceRowsOp>(loc, dynamicRows(x.getType()), x, rows);
}

Value to_npu::tensorSplit(OpBuilder &b, Location loc, Value x,
                          npu::Group group) {
  return b.create<npu::TensorSplitOp>(loc, dynamicRows(x.getType()), x, group);
}

Value to_npu::allGather(OpBuilder &b, Location loc, Value x,
                        npu::Group group) {
  return b.create<npu::AllGatherOp>(loc, dynamicRows(x.getType()), x, group);
}

Value to_npu::reduceScatter(OpBuilder &b, Location loc, Value x,
                            npu::Group group) {
  return b.create<npu::ReduceScatterOp>(loc, dynamicRows(x.getType()), x,
                                        group);
}

Value to_npu::allReduceMax(OpBuilder &b, Location loc, Value v,
                           npu::Group group) {
  return b.create<npu::AllReduceScalarOp>(loc, b.getIndexType(), v,
                                         npu::ReduceKind::Max, group);
}

int64_t to_npu::mc2Capacity(const Deployment &deployment) {
  // The rows per rank the legality query admits for the MC2 kernels, which
  // the runtime checks (moe/Dialect/Moe/CommLegality.h).
  return deployment.checkMc2Capacity ? mc2KernelCapacity(deployment.chip) : 0;
}

namespace {

//===----------------------------------------------------------------------===//
// prepare
//===----------------------------------------------------------------------===//

struct PreparePattern : StagePattern<PrepareOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(PrepareOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    CommMethod method = op.getMethod();
    if (method == CommMethod::Unset)
      return rewriter.notifyMatchFailure(op, "no communication method");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    LayoutAttr layout = deployment.layout;
    Value hidden = adaptor.getHidden(), logits = adaptor.getLogits();
    PreparedParts parts;
    parts.tokens = tokenCount(rewriter, loc, op.getHidden(), hidden);
    Value tokens = parts.tokens;
    int64_t tp = deployment.tokenTp();
    npu::Group tokenGroup = deployment.tokenGroup();
    int64_t tokenGroupSize = deployment.tokenGroupSize();

    // replace_allreduce / enable_shared_expert_dp (seed 000): the TP ranks
    // of a DP group hold distinct tokens; alltoall, mc2 and fused_mc2 pad
    // and slice nothing.
    bool skipTpSlicing = op.skipsTpSlicing();
    // Otherwise, without sequence parallelism, the TP ranks of a DP group
    // hold the same tokens; every method below relies on it.
    if (tp > 1 && (method == CommMethod::AllGather || !skipTpSlicing))
      b.create<npu::ExpectUniformOp>(
          loc, tokens, npu::Group::TP,
          "the tensor-parallel ranks of a DP group hold the same tokens");

    if (layout.getWorldSize() > 1) {
      switch (method) {
      case CommMethod::AllGather:
      case CommMethod::Moge: { // prepares as allgather (SEMANTICS §5, moge)
        // _prepare_with_dp_group, or _prepare_with_ep_group with sequence
        // parallelism: pad to the longest rank, gather the whole group; with
        // pcp > 1 then gather the PCP group too (the longest rank of both
        // groups sets the padding, so the PCP ranks' rows have equal length).
        bool dpGather = tokenGroupSize > 1;
        bool pcpGather = deployment.pcpGatherSize() > 1;
        if (!dpGather && !pcpGather)
          break;
        Value most = tokens;
        if (dpGather)
          most = allReduceMax(b, loc, most, tokenGroup);
        if (pcpGather)
          most = allReduceMax(b, loc, most, npu::Group::PCP);
        auto gather = [&](Value x) {
          x = padRows(b, loc, x, most);
          if (dpGather)
            x = allGather(b, loc, x, tokenGroup);
          if (pcpGather)
            x = allGather(b, loc, x, npu::Group::PCP);
          return x;
        };
        hidden = gather(hidden);
        logits = gather(logits);
        break;
      }
      case CommMethod::AllToAll:
        // PrepareAndFinalizeWithAll2All: pad to tp rows, keep this TP rank's
        // chunk (neither with either flag).
        if (tp > 1 && !skipTpSlicing) {
          Value tpRows = constantIndex(b, loc, tp);
          hidden = tensorSplit(b, loc, padRows(b, loc, hidden, tpRows),
                               npu::Group::TP);
          logits = tensorSplit(b, loc, padRows(b, loc, logits, tpRows),
                               npu::Group::TP);
        }
        break;
      case CommMethod::MC2:
      case CommMethod::FusedMC2: {
        if (skipTpSlicing) {
          // PrepareAndFinalizeWithMC2 with either flag: no padding, no
          // slicing; every row is real. (The seed still slices its step-wide
          // mc2_mask by TP rank, which would no longer match the rows.)
          parts.mask = b.create<npu::Mc2MaskOp>(
              loc, tensorType({ShapedType::kDynamic}, b.getI1Type()), tokens,
              tokens);
          break;
        }
        // PrepareAndFinalizeWithMC2 with padded_num_tokens =
        // ceil(max_tokens_across_dp / tp) * tp and the mc2_mask of real rows.
        Value most = tokenGroupSize > 1
                         ? allReduceMax(b, loc, tokens, tokenGroup)
                         : tokens;
        Value padded = most;
        if (tp > 1) {
          Value tpRows = constantIndex(b, loc, tp);
          padded = b.create<arith::MulIOp>(
              loc, b.create<arith::CeilDivUIOp>(loc, most, tpRows), tpRows);
        }
        Value mask = b.create<npu::Mc2MaskOp>(
            loc, tensorType({ShapedType::kDynamic}, b.getI1Type()), tokens,
            padded);
        hidden = padRows(b, loc, hidden, padded);
        logits = padRows(b, loc, logits, padded);
        if (tp > 1) {
          hidden = tensorSplit(b, loc, hidden, npu::Group::TP);
          logits = tensorSplit(b, loc, logits, npu::Group::TP);
          mask = tensorSplit(b, loc, mask, npu::Group::TP);
        }
        parts.mask = mask;
        break;
      }
      case CommMethod::Unset:
        llvm_unreachable("checked above");
      }
    }
    rewriter.replaceOp(
        op, {castTo(b, loc, hidden, op.getPreparedHidden().getType()),
             castTo(b, loc, logits, op.getPreparedLogits().getType()),
             parts.pack(b, loc, op.getCtx().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// finalize
//===----------------------------------------------------------------------===//

struct FinalizePattern : StagePattern<FinalizeOp> {
  using StagePattern::StagePattern;
  LogicalResult
  matchAndRewrite(FinalizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<PreparedParts> parts = PreparedParts::unpack(adaptor.getCtx());
    if (failed(parts))
      return rewriter.notifyMatchFailure(op, "context not from a prepare");
    // The flags of seed 000's prepare, which its finalize reads back.
    auto prepare = op.getCtx().getDefiningOp<PrepareOp>();
    if (!prepare)
      return rewriter.notifyMatchFailure(op, "context not from a prepare");
    bool skipTpSlicing = prepare.skipsTpSlicing();
    bool sharedExpertDp = prepare.getEnableSharedExpertDp();
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Value out = adaptor.getRouted();
    int64_t tp = deployment.tokenTp();
    npu::Group tokenGroup = deployment.tokenGroup();
    int64_t tokenGroupSize = deployment.tokenGroupSize();

    if (deployment.layout.getWorldSize() > 1) {
      switch (op.getCtx().getType().getMethod()) {
      case CommMethod::AllGather:
      case CommMethod::Moge: // finalizes as allgather
        // _finalize_with_dp_group: reduce-scatter over DP unless
        // enable_shared_expert_dp (then the DP group's gathered rows stay);
        // with sequence parallelism _finalize_with_ep_group always
        // reduce-scatters over EP.
        // With pcp > 1 the PCP group's reduce-scatter comes first, undoing
        // the last gather (the seed reduce-scatters DP first, which only
        // inverts its gathers when dp == 1 or pcp == 1).
        {
          bool dpGather = tokenGroupSize > 1;
          bool dpScatter =
              dpGather && (!sharedExpertDp || deployment.sequenceParallel());
          bool pcpGather = deployment.pcpGatherSize() > 1;
          if (pcpGather)
            out = reduceScatter(b, loc, out, npu::Group::PCP);
          if (dpScatter)
            out = reduceScatter(b, loc, out, tokenGroup);
          if (dpScatter || (pcpGather && !dpGather))
            out = sliceRows(b, loc, out, parts->tokens);
        }
        // then all-reduce over TP when tp > 1 and reduce_results (with
        // sequence parallelism the EP reduce-scatter already summed all
        // ranks).
        if (tp > 1 && op.getReduceResults())
          out = b.create<npu::AllReduceOp>(loc, out.getType(), out,
                                           npu::ReduceKind::Sum,
                                           npu::Group::TP);
        break;
      case CommMethod::AllToAll:
        // PrepareAndFinalizeWithAll2All.finalize: nothing to gather with
        // either flag; reduce_results is not used.
        if (tp > 1 && !skipTpSlicing)
          out = sliceRows(b, loc, allGather(b, loc, out, npu::Group::TP),
                          parts->tokens);
        break;
      case CommMethod::MC2:
      case CommMethod::FusedMC2:
        // With either flag prepare padded nothing.
        if (skipTpSlicing)
          break;
        // Padding to padded_num_tokens is dropped even when tp == 1.
        if (tp > 1)
          out = allGather(b, loc, out, npu::Group::TP);
        out = sliceRows(b, loc, out, parts->tokens);
        break;
      case CommMethod::Unset:
        return rewriter.notifyMatchFailure(op, "no communication method");
      }
    }
    Type resultType = op.getResult().getType();
    out = castTo(b, loc, out, resultType);
    // Shared experts hosted on MC2's shared-expert ranks came back inside
    // the combined rows (SharedExpertRanks.cpp).
    auto shared = op.getShared() ? op.getShared().getDefiningOp<SharedExpertsOp>()
                                 : SharedExpertsOp();
    if (op.getShared() && !(shared && isHosted(shared, deployment)))
      out = b.create<npu::AddOp>(loc, resultType, out,
                                 castTo(b, loc, adaptor.getShared(),
                                        resultType));
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void to_npu::populatePrepareFinalizePatterns(RewritePatternSet &patterns,
                                             const Deployment &deployment) {
  patterns.add<PreparePattern, FinalizePattern>(patterns.getContext(),
                                                deployment);
}
