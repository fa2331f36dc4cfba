//===- CommMethodRules.h - choosing an MoE communication method -*- C++ -*-===//
//
// The rules `moe-select-comm-method` decides with, as pure functions of a
// layer's deployment and the serving configuration, so that tests can
// evaluate them directly:
//
// - vllm-ascend's per-step selection table (`selectByTable`), SEMANTICS §2;
// - an analytic latency model of the four methods (`CostModel`);
// - `partitionTokens`, which turns any of them into token ranges with one
//   method each: the thresholds of `moe.choose_method`.
//
// Which method can run a layer, and the MC2 capacity, come from the one
// legality query of moe/Dialect/Moe/CommLegality.h: both policies pick only
// methods it admits at the token count. docs/CostModel.md documents the
// formulas, figures and choices.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_COMMMETHODRULES_H
#define MOE_TRANSFORMS_COMMMETHODRULES_H

#include "moe/Dialect/Moe/CommLegality.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::moe {

/// A decision with its justification, e.g. {MC2, "A3, 16 EP ranks, 64
/// tokens <= MC2 capacity 512"}.
struct Choice {
  CommMethod method;
  std::string reason;
};

/// vllm-ascend's `select_moe_comm_method` (newest version, SEMANTICS §2)
/// for a step whose largest per-rank token count is `tokens`. The layer's
/// chip must be set.
Choice selectByTable(const CommMethodInputs &inputs, int64_t tokens);

/// The modelled latency of one method as a function of the token count:
/// `fixedUs + perTokenUs * tokens`, legal up to `maxTokens`.
struct MethodCost {
  CommMethod method;
  /// Why the method cannot run this layer at all; empty when it can.
  std::string excluded;
  /// Most tokens the method accepts (`MethodLegality::maxTokens`).
  int64_t maxTokens;
  /// The name of that capacity, for messages.
  std::string capacityName;
  double fixedUs = 0.0;
  double perTokenUs = 0.0;

  bool isLegal(int64_t tokens) const {
    return excluded.empty() && tokens <= maxTokens;
  }
  double at(int64_t tokens) const {
    return fixedUs + perTokenUs * static_cast<double>(tokens);
  }
};

/// The analytic latency model of docs/CostModel.md. The layer's chip must
/// be set.
class CostModel {
public:
  explicit CostModel(const CommMethodInputs &inputs);

  /// allgather, alltoall, mc2, fused_mc2, in this order (also the order
  /// that breaks ties).
  llvm::ArrayRef<MethodCost> getCosts() const { return costs; }

  /// The legal method with the lowest latency at `tokens`.
  Choice select(int64_t tokens) const;

  /// Token counts around which the choice may change: the MC2 capacity and
  /// the crossings of the cost lines.
  llvm::SmallVector<int64_t> breakpoints() const;

private:
  llvm::SmallVector<MethodCost, 4> costs;
};

/// How `moe-select-comm-method` decides (its `policy` option).
enum class Policy { Table, CostModel, Fixed };
/// "table", "cost-model", "fixed": the option's values.
llvm::StringRef stringifyPolicy(Policy policy);
std::optional<Policy> symbolizePolicy(llvm::StringRef name);

/// The values of an enum-typed pass option (a `cl::values` modifier), built
/// from the enum's own stringify function so that the option and the enum
/// share one list of names. Used as the additional flags of the `Option`s
/// in Passes.td: `[{::mlir::moe::policyOptionValues()}]`.
class EnumOptionValues {
public:
  struct Value {
    llvm::StringRef name;
    int value;
    llvm::StringRef description;
  };
  explicit EnumOptionValues(llvm::SmallVector<Value, 5> values)
      : values(std::move(values)) {}
  /// Called by llvm::cl when the option is constructed.
  template <class Opt> void apply(Opt &option) const {
    for (const Value &v : values)
      option.getParser().addLiteralOption(v.name, v.value, v.description);
  }

private:
  llvm::SmallVector<Value, 5> values;
};
/// table | cost-model | fixed.
EnumOptionValues policyOptionValues();
/// unset | allgather | alltoall | mc2 | fused_mc2 (the CommMethod enum of
/// MoeEnums.td; `unset` is the default of `method`, meaning none).
EnumOptionValues commMethodOptionValues();

/// One policy applied to one layer: the decision for a token count and the
/// token counts where it may change.
class MethodSelector {
public:
  /// `fixed` is the method of `Policy::Fixed`. Table and cost model need
  /// the layer's chip.
  MethodSelector(Policy policy, const CommMethodInputs &inputs,
                 CommMethod fixed = CommMethod::Unset);

  Choice decide(int64_t tokens) const;
  llvm::SmallVector<int64_t> breakpoints() const;

private:
  Policy policy;
  CommMethodInputs inputs;
  CommMethod fixed;
  std::optional<CostModel> costModel;
};

/// Token counts `[previous upTo + 1, upTo]` decided alike; the last segment
/// also covers every count above its `upTo`.
struct TokenSegment {
  int64_t upTo;
  Choice choice;
};

/// Splits `[0, horizon]` into maximal segments with one method each, given
/// a decision function that can only change at (or right after) the
/// `breakpoints`. The choice (and reason) of a segment is the decision at
/// its upper end, except for the last of several segments: at its lower end
/// (e.g. at `capacity` and `capacity + 1`). The last segment stands for every
/// count above the previous one, also beyond `horizon`.
llvm::SmallVector<TokenSegment>
partitionTokens(llvm::function_ref<Choice(int64_t)> decide,
                llvm::ArrayRef<int64_t> breakpoints, int64_t horizon);

} // namespace mlir::moe

#endif // MOE_TRANSFORMS_COMMMETHODRULES_H
