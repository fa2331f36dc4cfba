//===- ExpertLoad.cpp - dynamic EPLB's load recording ---------------------===//
//
// Seed 001's "record experts distribution during forward" (SEMANTICS §9,
// docs/Eplb.md): every dispatch of a layer with log2phy under expert
// parallelism counts its real (non-padding) rows per physical expert into
// the rank's load, with one npu.record_expert_load right after the ids are
// mapped to physical replicas, so that the world counts each token's pairs
// exactly once:
//   - alltoall, mc2, fused_mc2 send this rank's own rows: all pairs of the
//     rows that are real tokens (mc2's mask; alltoall's TP slice with its
//     padding masked as prepare padded it);
//   - allgather's rows are the token group's gathered rows, mapped alike on
//     every rank: `gathered`, each rank counts its own experts' pairs; the
//     gathered padding rows are masked by gathering a mask of real rows
//     the way prepare gathered the tokens.
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

/// The prepare whose prepared hidden states `hidden` is, with its parts.
static FailureOr<PreparedParts> preparedParts(ConversionPatternRewriter &rewriter,
                                              Value hidden, PrepareOp &prepare) {
  prepare = hidden.getDefiningOp<PrepareOp>();
  if (!prepare || prepare.getPreparedHidden() != hidden)
    return failure();
  return PreparedParts::unpack(rewriter.getRemappedValue(prepare.getCtx()));
}

static Value maskOf(OpBuilder &b, Location loc, Value valid, Value rows) {
  return b.create<npu::Mc2MaskOp>(
      loc, tensorType({ShapedType::kDynamic}, b.getI1Type()), valid, rows);
}

void to_npu::recordExpertLoad(ConversionPatternRewriter &rewriter,
                              Location loc, DispatchOp op, Value ids,
                              Value mc2Mask, const Deployment &deployment) {
  if (!op.getLog2phy() || deployment.layout.getEpSize() <= 1)
    return;
  OpBuilder &b = rewriter;
  PrepareOp prepare;
  FailureOr<PreparedParts> parts =
      preparedParts(rewriter, op.getHidden(), prepare);
  Value valid;
  bool gathered = false;
  switch (op.getMethod()) {
  case CommMethod::MC2:
  case CommMethod::FusedMC2:
    valid = mc2Mask;
    break;
  case CommMethod::AllToAll: {
    // PrepareAndFinalizeWithAll2All padded to tp rows and kept this TP
    // rank's chunk: mask the padding the same way.
    int64_t tp = deployment.tokenTp();
    if (succeeded(parts) && tp > 1 && !prepare.skipsTpSlicing()) {
      Value mask = maskOf(b, loc, parts->tokens, parts->tokens);
      valid = tensorSplit(
          b, loc, padRows(b, loc, mask, constantIndex(b, loc, tp)),
          npu::Group::TP);
    }
    break;
  }
  case CommMethod::AllGather: {
    gathered = true;
    bool dpGather = deployment.tokenGroupSize() > 1;
    bool pcpGather = deployment.pcpGatherSize() > 1;
    if (succeeded(parts) && (dpGather || pcpGather)) {
      // Prepare padded every rank to the longest one and gathered.
      Value most = parts->tokens;
      if (dpGather)
        most = allReduceMax(b, loc, most, deployment.tokenGroup());
      if (pcpGather)
        most = allReduceMax(b, loc, most, npu::Group::PCP);
      valid = maskOf(b, loc, parts->tokens, most);
      if (dpGather)
        valid = allGather(b, loc, valid, deployment.tokenGroup());
      if (pcpGather)
        valid = allGather(b, loc, valid, npu::Group::PCP);
    }
    break;
  }
  case CommMethod::Moge: // no EPLB (the verifier rejects log2phy)
  case CommMethod::Unset:
    return;
  }
  b.create<npu::RecordExpertLoadOp>(loc, ids, valid,
                                    op.getNumPhysicalExperts(), gathered);
}
