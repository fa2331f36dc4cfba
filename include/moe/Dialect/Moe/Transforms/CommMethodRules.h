//===- CommMethodRules.h - choosing an MoE communication method -*- C++ -*-===//
//
// The rules `moe-select-comm-method` decides with, as pure functions of a
// layer's deployment and the serving configuration, so that tests can
// evaluate them directly:
//
// - vllm-ascend's MC2 token capacity (`computeMc2Capacity`) and its
//   per-step selection table (`selectByTable`), SEMANTICS §2;
// - an analytic latency model of the four methods (`CostModel`);
// - `partitionTokens`, which turns any of them into token ranges with one
//   method each: the thresholds of `moe.choose_method`.
//
// docs/CostModel.md documents the formulas, figures and choices.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_COMMMETHODRULES_H
#define MOE_TRANSFORMS_COMMMETHODRULES_H

#include "moe/Dialect/Moe/MoeDialect.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::moe {

/// The serving configuration the choice depends on: vLLM / vllm-ascend
/// settings, given as options of `moe-select-comm-method`
/// (include/moe/Dialect/Moe/Transforms/Passes.td declares them, with their
/// defaults, once).
struct ServingConfig {
  /// The defaults of moe-select-comm-method's options.
  ServingConfig();

  /// The serving settings among the options of moe-select-comm-method: its
  /// generated options struct (SelectCommMethodOptions, also what the
  /// moe-compile pipeline forwards) or the pass itself. The one place those
  /// options are read.
  template <typename SelectOptions>
  static ServingConfig fromOptions(const SelectOptions &options) {
    ServingConfig config(Uninitialized{});
    config.maxNumReqs = options.maxNumReqs;
    config.decodeQueryLen = options.decodeQueryLen;
    config.maxGraphSize = options.maxGraphSize;
    config.maxNumBatchedTokens = options.maxNumBatchedTokens;
    config.prefillMc2 = options.prefillMc2;
    config.fusedMc2 = options.fusedMc2;
    config.megaMoe = options.megaMoe;
    config.lora = options.lora;
    return config;
  }

  int64_t maxNumReqs;          // max_num_seqs
  int64_t decodeQueryLen;      // uniform decode query length
  int64_t maxGraphSize;        // max captured graph size; 0: none
  int64_t maxNumBatchedTokens; // max_num_batched_tokens
  bool prefillMc2;             // enable_prefill_mc2
  bool fusedMc2;               // enable_fused_mc2 == 1
  bool megaMoe;                // CANN MegaMoE available and wanted
  bool lora;                   // LoRA adapters served

  /// The first invalid setting as a message, or an empty string.
  std::string validate() const;

private:
  struct Uninitialized {};
  explicit ServingConfig(Uninitialized) {}
};

/// What the choice needs to know about one layer and its deployment.
struct LayerFacts {
  /// The target chip; required by the table and the cost model.
  ChipAttr chip;
  LayoutAttr layout;
  int64_t experts = 1;          // logical experts E
  int64_t redundantExperts = 0; // redundant replicas R
  int64_t topK = 1;
  int64_t hidden = 0;           // H
  int64_t hiddenBytes = 2;      // bytes per element of the hidden states
  int64_t logitsBytes = 4;      // bytes per element of the router logits
  /// Intermediate size of the expert weights as stored on one rank (the
  /// `I` of `W2 [L, I, H]`); 0 when the layer has no `moe.experts`.
  int64_t intermediate = 0;
  /// Quantization of the experts; null means none.
  QuantAttr quant;
};

struct CommMethodInputs {
  ServingConfig config;
  LayerFacts layer;
};

/// vllm-ascend's MC2 token capacity (`set_mc2_tokens_capacity`).
struct Mc2Capacity {
  /// `_mc2_tokens_capacity`: tokens per step one MC2 (or fused MC2)
  /// dispatch is sized for, a multiple of `tp`.
  int64_t capacity = 0;
  /// `capacity / tp`.
  int64_t perRank = 0;
  /// `_dispatch_v2_tokens_capacity`: with fused MC2 configured, the
  /// capacity of plain MC2 sized from the decode batch.
  std::optional<int64_t> dispatchV2Capacity;
};

/// The per-rank token limits vllm-ascend clamps the capacity to.
inline constexpr int64_t kMc2TokensPerRankLimit = 512;
inline constexpr int64_t kDispatchFfnCombineTokensPerRankLimit = 512;
inline constexpr int64_t kMegaMoeTokensPerRankLimit = 4096;

/// The capacity for attention tensor-parallel size `tp`. `megaMoe` says
/// that CANN MegaMoE runs the fused MC2 path (`usesMegaMoe`);
/// `perRankOverride` (> 0) replaces the 512-token per-rank clamp of plain
/// MC2 and dispatch_ffn_combine (the `mc2_capacity` of `#moe.chip`).
Mc2Capacity computeMc2Capacity(const ServingConfig &config, int64_t tp,
                               bool megaMoe = false,
                               int64_t perRankOverride = 0);

/// The capacity of a layer: `tp` from its layout, MegaMoE and the chip's
/// `mc2_capacity` override resolved.
Mc2Capacity computeMc2Capacity(const CommMethodInputs &inputs);

/// The capacity plain MC2 is checked against: on A3 with fused MC2
/// configured the dispatch_v2 capacity, otherwise `capacity`.
int64_t mc2DecisionCapacity(const CommMethodInputs &inputs);

/// Whether fused MC2 would run on CANN MegaMoE (`use_cann_megamoe`): A3,
/// fused-mc2 and mega-moe on, no LoRA, 1 < EP <= the chip's MegaMoE limit,
/// H in [1024, 8192] and a multiple of 512, w8a8 or w4a8 dynamic experts.
bool usesMegaMoe(const CommMethodInputs &inputs);

/// Why vllm-ascend does not run MC2 on an A2 layer (more than 512
/// experts, more than 24 experts per device or fewer than 16 devices), or
/// nothing when it may.
std::optional<std::string> a2Mc2Obstacle(const CommMethodInputs &inputs);

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
  /// Most tokens the method accepts (the MC2 capacity); INT64_MAX if any.
  int64_t maxTokens;
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
