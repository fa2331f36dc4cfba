//===- SharedExpertRanks.cpp - shared experts on reserved MC2 ranks -------===//
//
// `#moe.layout<..., shared_expert_ranks = S>`: MC2's shared_expert_rank_num
// (docs/Expansion.md "Shared-expert ranks"). The mc2 dispatch sends every
// token also to shared-expert rank `rank % S`; on those ranks the layer's
// moe.shared_experts MLP runs on the received rows instead of the routed
// experts, and combine returns its rows with weight one, so the finalize
// adds nothing. This file finds the moe.shared_experts an mc2 dispatch
// hosts and says when a layer cannot be expanded that way.
//
//===----------------------------------------------------------------------===//

#include "MoeToNpu.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::to_npu;

/// The finalize that adds `combine`'s rows, if any.
static FinalizeOp finalizeOf(CombineOp combine) {
  for (Operation *user : combine.getResult().getUsers())
    if (auto finalize = dyn_cast<FinalizeOp>(user))
      if (finalize.getRouted() == combine.getResult())
        return finalize;
  return {};
}

/// The combine of `dispatch`'s context, if any.
static CombineOp combineOf(DispatchOp dispatch) {
  for (Operation *user : dispatch.getCtx().getUsers())
    if (auto combine = dyn_cast<CombineOp>(user))
      return combine;
  return {};
}

SharedExpertsOp to_npu::hostedSharedExperts(DispatchOp dispatch,
                                            const Deployment &deployment) {
  if (deployment.layout.getSharedExpertRanks() == 0 ||
      dispatch.getMethod() != CommMethod::MC2)
    return {};
  CombineOp combine = combineOf(dispatch);
  FinalizeOp finalize = combine ? finalizeOf(combine) : FinalizeOp();
  if (!finalize || !finalize.getShared())
    return {};
  return finalize.getShared().getDefiningOp<SharedExpertsOp>();
}

bool to_npu::isHosted(SharedExpertsOp shared, const Deployment &deployment) {
  if (deployment.layout.getSharedExpertRanks() == 0)
    return false;
  for (Operation *user : shared.getResult().getUsers())
    if (auto finalize = dyn_cast<FinalizeOp>(user))
      if (auto combine = finalize.getRouted().getDefiningOp<CombineOp>())
        if (auto dispatch = combine.getCtx().getDefiningOp<DispatchOp>())
          if (hostedSharedExperts(dispatch, deployment) == shared)
            return true;
  return false;
}

/// The moe.experts the rows of `dispatch` reach.
static ExpertsOp expertsOf(DispatchOp dispatch) {
  for (Operation *user : dispatch.getCounts().getUsers())
    if (auto experts = dyn_cast<ExpertsOp>(user))
      return experts;
  return {};
}

std::string to_npu::checkSharedExpertRanks(DispatchOp dispatch,
                                           const Deployment &deployment) {
  int64_t s = deployment.layout.getSharedExpertRanks();
  if (s == 0 || dispatch.getMethod() != CommMethod::MC2)
    return "";
  std::string ranks =
      "with shared_expert_ranks = " + std::to_string(s) + " ";
  SharedExpertsOp shared = hostedSharedExperts(dispatch, deployment);
  if (!shared)
    return ranks + "the layer's moe.finalize must add a moe.shared_experts "
                   "to the combined rows: the shared-expert ranks compute "
                   "the shared experts and nothing else";
  if (!shared.getResult().hasOneUse())
    return ranks + "the shared experts' output must only be added by the "
                   "finalize: on shared-expert ranks it comes back inside "
                   "the combined rows";
  if (shared.getGate())
    return ranks + "the shared experts take no gate (sigmoid(x . Wg) needs "
                   "the unquantized rows on the shared-expert ranks)";
  ExpertsOp experts = expertsOf(dispatch);
  if (!experts)
    return ranks + "the dispatched rows must reach a moe.experts";
  QuantScheme routed = experts.getQuantOrNone().getScheme();
  QuantScheme sharedScheme = shared.getQuantOrNone().getScheme();
  if (routed != sharedScheme)
    return ranks + "routed and shared experts must share a quantization "
                   "scheme (the rows of both come from one dispatch), got " +
           stringifyQuantScheme(routed).str() + " and " +
           stringifyQuantScheme(sharedScheme).str();
  if (routed != QuantScheme::None && routed != QuantScheme::W8A8Dynamic)
    return ranks + "the experts must be unquantized or w8a8_dynamic (MC2's "
                   "quant modes), not " +
           stringifyQuantScheme(routed).str();
  // The shared branch is built at the experts op: its weights must exist
  // there.
  for (Value w : shared->getOperands().drop_front())
    if (Operation *def = w.getDefiningOp())
      if (def->getBlock() != experts->getBlock() ||
          !def->isBeforeInBlock(experts))
        return ranks + "the shared experts' weights must be defined before "
                       "the routed experts (their MLP runs in its place on "
                       "the shared-expert ranks)";
  return "";
}
