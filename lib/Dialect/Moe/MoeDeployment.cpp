//===- MoeDeployment.cpp - rules between moe ops and their deployment -----===//
//
// The rules an op verifier cannot check by looking at the op alone: a
// dispatch against the layout of its deployment, a finalize against its
// prepare, a combine against its dispatch. They run from
// MoeDialect::verifyOperationAttribute on the op carrying `moe.layout`
// (MoeOps.h), so changing that attribute re-verifies every layer under it.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Moe/CommLegality.h"

#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::checkDispatchDeployment(DispatchOp dispatch,
                                               CommMethod method,
                                               LayoutAttr layout) {
  // The method against the layout: the legality query (CommLegality.h).
  std::string error = layoutObstacle(method, layout);
  if (!error.empty())
    return error;
  int64_t physical = dispatch.getNumPhysicalExperts();
  // Routed experts live on the EP ranks that are not shared-expert ranks.
  int64_t ep = layout.getRoutedEpSize();
  std::string ranks = layout.getSharedExpertRanks() > 0
                          ? " routed-expert ranks"
                          : " expert-parallel ranks";
  if (physical % ep != 0)
    return std::to_string(physical) +
           " physical experts cannot be split evenly over " +
           std::to_string(ep) + ranks;
  int64_t local = dispatch.getNumLocalExperts();
  if (local != physical / ep)
    return "counts has " + std::to_string(local) + " local experts but " +
           std::to_string(physical) + " physical experts over " +
           std::to_string(ep) + ranks + " give " +
           std::to_string(physical / ep);
  // moge relies on group-balanced routing (the gate producing the ids).
  if (method == CommMethod::Moge)
    return mogeRoutingObstacle(
        balancedGroupsOf(dispatch.getIds()),
        dispatch.getIds().getType().getDimSize(1),
        dispatch.getRedundantExperts(),
        dispatch.getLog2phy() || dispatch.getExpertMap(), layout);
  return "";
}

/// Whether `op` satisfies its own invariants, checked silently: its own
/// verification reports what is wrong. (Dialect attributes are verified
/// before the ops nested under them.)
static bool isWellFormed(Operation *op) {
  std::optional<RegisteredOperationName> info = op->getRegisteredInfo();
  if (!info)
    return false;
  ScopedDiagnosticHandler silence(op->getContext(),
                                  [](Diagnostic &) { return success(); });
  return succeeded(info->verifyInvariants(op));
}

static int64_t dim(Type type, unsigned i) {
  return cast<RankedTensorType>(type).getDimSize(i);
}

/// Finalize against its prepare: the same hidden size and element type;
/// with allgather and enable_shared_expert_dp over a DP group, whose result
/// keeps the group's gathered rows (seed 000 `_finalize_with_dp_group`), no
/// shared experts' output of the rank's own tokens.
static std::string checkFinalize(FinalizeOp finalize, PrepareOp prepare,
                                 LayoutAttr layout) {
  bool keepsDpRows = prepare.getEnableSharedExpertDp() &&
                     !layout.getSequenceParallel() && layout.getDp() > 1;
  if (keepsDpRows && prepare.getMethod() == CommMethod::Unset)
    return "finalizes a layer with enable_shared_expert_dp over a DP group "
           "and no method: allgather would return the DP group's gathered "
           "rows, the other methods the rank's tokens; state the method in "
           "the context type";
  if (finalize.getShared() && keepsDpRows &&
      prepare.getMethod() == CommMethod::AllGather)
    return "adds the shared experts' output of the rank's tokens, but with "
           "allgather and enable_shared_expert_dp the result keeps the rows "
           "gathered over the DP group (no reduce-scatter)";
  auto routed = finalize.getRouted().getType();
  auto prepared = prepare.getHidden().getType();
  if (dim(prepared, 1) != dim(routed, 1) ||
      prepared.getElementType() != routed.getElementType()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "finalizes '" << routed << "' but its prepare produced '"
       << prepared << "'";
    return text;
  }
  return "";
}

/// Combine against its dispatch: the rows it combines are the rows sent.
static std::string checkCombine(CombineOp combine, DispatchOp dispatch) {
  auto out = combine.getExpertOut().getType();
  auto in = dispatch.getHidden().getType();
  if (dim(in, 1) != dim(out, 1) || in.getElementType() != out.getElementType()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "combines '" << out << "' but its dispatch sent '" << in << "'";
    return text;
  }
  return "";
}

LogicalResult mlir::moe::verifyDeployment(Operation *root, LayoutAttr layout,
                                          Operation *layoutHolder) {
  bool ok = true;
  auto report = [&](Operation *op, const std::string &error) {
    if (error.empty())
      return;
    InFlightDiagnostic diag = op->emitOpError() << error;
    if (layoutHolder)
      diag.attachNote(layoutHolder->getLoc())
          << "in the deployment " << layout << " set here";
    ok = false;
  };
  root->walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (op != root && op->hasAttr(MoeDialect::kLayoutAttrName))
      return WalkResult::skip(); // verified with its own layout
    if (auto dispatch = dyn_cast<DispatchOp>(op)) {
      if (isWellFormed(op))
        report(op, checkDispatchDeployment(dispatch, dispatch.getMethod(),
                                           layout));
    } else if (auto finalize = dyn_cast<FinalizeOp>(op)) {
      if (!isWellFormed(op))
        return WalkResult::advance();
      auto prepare = finalize.getCtx().getDefiningOp<PrepareOp>();
      if (prepare && isWellFormed(prepare))
        report(op, checkFinalize(finalize, prepare, layout));
    } else if (auto combine = dyn_cast<CombineOp>(op)) {
      if (!isWellFormed(op))
        return WalkResult::advance();
      auto dispatch = combine.getCtx().getDefiningOp<DispatchOp>();
      if (dispatch && isWellFormed(dispatch))
        report(op, checkCombine(combine, dispatch));
    }
    return WalkResult::advance();
  });
  return success(ok);
}
