//===- CommLegality.h - can a method run a layer, with what capacity -*- C++ -*-===//
//
// The one definition of which communication method can run which MoE layer
// and with what MC2 token capacity. Everything that depends on it reads it
// from here:
//
// - moe-select-comm-method (the table and the cost model of
//   CommMethodRules.h) picks a method only where `checkMethod` says it runs;
// - convert-moe-to-npu gives MC2 kernels `mc2KernelCapacity` and refuses the
//   fused kernel for the schemes `fusedMc2QuantObstacle` names;
// - the moe.dispatch verifier checks a method against the layout with
//   `layoutObstacle`;
// - the runtime checks every MC2 call against the capacity the expansion
//   passed, i.e. `mc2KernelCapacity`.
//
// It lives in the moe dialect library (plain functions of its attributes)
// so that the dialect's verifiers can use it without depending on the
// passes. docs/CostModel.md ("MC2 token capacity", "Legality") documents
// the rules.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_COMMLEGALITY_H
#define MOE_DIALECT_MOE_COMMLEGALITY_H

#include "moe/Dialect/Moe/MoeDialect.h"

#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace mlir::moe {

/// The serving configuration the choice depends on: vLLM / vllm-ascend
/// settings, given as options of `moe-select-comm-method`
/// (include/moe/Dialect/Moe/Transforms/Passes.td declares them, with their
/// defaults, once).
struct ServingConfig {
  /// The defaults of moe-select-comm-method's options (defined with the
  /// pass, lib/Dialect/Moe/Transforms/CommMethodRules.cpp).
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
  /// The routing weight scales the hidden states before the experts
  /// (`router_weight_on_input`): only allgather applies it.
  bool routerWeightOnInput = false;
  /// `G` when the routing comes from a group-balanced gate (`moe.gate ...
  /// groups(G, G) balanced`, `balancedGroupsOf`), else 0: what moge needs.
  int64_t balancedGroups = 0;
  /// The dispatch maps its ids through EPLB tables (log2phy, expert_map).
  bool eplbTables = false;
};

struct CommMethodInputs {
  ServingConfig config;
  LayerFacts layer;
};

/// A token count without limit.
inline constexpr int64_t kAnyTokenCount = std::numeric_limits<int64_t>::max();

/// Helpers of the legality query and the selection rules
/// (CommLegality.cpp, Transforms/CommMethodRules.cpp).
namespace detail {
/// `a * b`, or `kAnyTokenCount` when it overflows.
inline int64_t satMul(int64_t a, int64_t b) {
  return llvm::MulOverflow(a, b, a) ? kAnyTokenCount : a;
}
/// Concatenates streamable values into a string.
template <typename... Args> std::string str(const Args &...args) {
  std::string s;
  llvm::raw_string_ostream os(s);
  (os << ... << args);
  return s;
}
} // namespace detail

//===----------------------------------------------------------------------===//
// What the device kernels accept (independent of the serving configuration)
//===----------------------------------------------------------------------===//

/// Rows one rank may pass to one MC2 kernel on `chip`: the chip's
/// `mc2_capacity` (256 on A2, 512 on A3 and A5, or the override). It bounds
/// `npu.moe_distribute_dispatch` and the dispatch inside
/// `npu.dispatch_ffn_combine` alike; convert-moe-to-npu passes it and the
/// runtime checks it. 0 when the chip has no MC2 (310P) or is unknown: then
/// nothing is checked.
int64_t mc2KernelCapacity(ChipAttr chip);

/// How many TP ranks split a layer's tokens before an EP method sends them:
/// `tp`, or 1 with sequence parallelism (every rank then holds its own
/// tokens and sends all of them).
int64_t tokenSlices(LayoutAttr layout);

/// The largest token count `T` (of the rank with the most tokens, as
/// `moe.choose_method` measures it) whose rows fit `rowsPerRank` per rank
/// after prepare: `rowsPerRank * tokenSlices(layout)`; `kAnyTokenCount`
/// when `rowsPerRank` is 0 (unchecked).
int64_t tokensForRows(int64_t rowsPerRank, LayoutAttr layout);

/// Why `method` cannot run with `layout` at all (alltoall, mc2 and
/// fused_mc2 send tokens to the rank owning their expert and need expert
/// parallelism on more than one device), or an empty string. This is the
/// moe.dispatch verifier's rule for any method, also a fixed one.
std::string layoutObstacle(CommMethod method, LayoutAttr layout);

/// The `G` of the group-balanced `moe.gate` (`groups(G, G) balanced`)
/// that produces `ids`, or 0 when `ids` do not come from one: the IR's
/// statement of moge's routing precondition.
int64_t balancedGroupsOf(mlir::Value ids);

/// Why moge (seed 002 `TokenDispatcherWithMoge`) cannot rely on the routing
/// of a layer with `layout`, or an empty string. The dispatcher takes
/// `top_k / ep` experts of every token on every EP rank, so the routing must
/// be group-balanced (`balancedGroups` = G > 0) with whole groups on every
/// rank (`ep` divides G), and the groups must stay where the placement puts
/// them: no redundant experts and no EPLB tables. This is the moe.dispatch
/// verifier's rule for a moge dispatch and part of `checkMethod`.
std::string mogeRoutingObstacle(int64_t balancedGroups, int64_t topK,
                                int64_t redundantExperts, bool eplbTables,
                                LayoutAttr layout);

/// Why moge's experts cannot be quantized with `scheme`, or an empty
/// string: the experts scale their activations by `topk_scales`, which
/// vllm-ascend's unquantized MLP does (`gate_up_out *= topk_scales`) and its
/// quantized MLP does not.
std::string mogeQuantObstacle(QuantScheme scheme);

/// Why the fused MC2 kernel (`npu.dispatch_ffn_combine`) cannot run experts
/// quantized with `scheme`, or an empty string: it runs unquantized and
/// w8a8_dynamic experts only.
std::string fusedMc2QuantObstacle(QuantScheme scheme);

//===----------------------------------------------------------------------===//
// vllm-ascend's MC2 capacity, bounded by the kernels
//===----------------------------------------------------------------------===//

/// vllm-ascend's MC2 token capacity (`set_mc2_tokens_capacity`), bounded
/// by what the kernels accept.
struct Mc2Capacity {
  /// `_mc2_tokens_capacity`: tokens per step one MC2 (or fused MC2)
  /// dispatch is sized for: `perRank` times the token slices.
  int64_t capacity = 0;
  /// Rows per rank: `min(ceil(base / tp), clamp)`.
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
/// `kernelPerRank` (> 0) caps every per-rank clamp (the rows the kernels
/// accept, `mc2KernelCapacity`); `slices` multiplies the per-rank count
/// back (`tokenSlices`: `tp`, or 1 with sequence parallelism).
Mc2Capacity computeMc2Capacity(const ServingConfig &config, int64_t tp,
                               bool megaMoe = false, int64_t kernelPerRank = 0,
                               int64_t slices = -1);

/// The capacity of a layer: `tp`, sequence parallelism, MegaMoE and the
/// chip's kernel capacity resolved.
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

//===----------------------------------------------------------------------===//
// The query
//===----------------------------------------------------------------------===//

/// Whether one method can run one layer in its deployment, and up to which
/// token count.
struct MethodLegality {
  CommMethod method = CommMethod::Unset;
  /// Why the method cannot run this layer at any token count; empty when
  /// it can.
  std::string obstacle;
  /// Rows per rank the expansion gives the method's kernel and the runtime
  /// checks (`mc2KernelCapacity`); 0 for methods without a capacity.
  int64_t kernelCapacity = 0;
  /// The most tokens the kernel accepts: `tokensForRows(kernelCapacity)`.
  /// A fixed method is held to this bound only.
  int64_t runTimeMaxTokens = kAnyTokenCount;
  /// The most tokens the deployment admits (vllm-ascend's capacity, never
  /// above `runTimeMaxTokens`); what the table and the cost model use.
  int64_t maxTokens = kAnyTokenCount;
  /// Which capacity `maxTokens` is, for messages ("MC2 capacity",
  /// "fused MC2 capacity").
  std::string capacityName;

  bool canRun(int64_t tokens) const {
    return obstacle.empty() && tokens <= maxTokens;
  }
  /// Why the method cannot run `tokens` tokens, or an empty string.
  std::string whyNot(int64_t tokens) const;
};

/// The query: can `method` run the layer of `inputs` (chip, layout with
/// sequence parallelism, experts, top-k, hidden size, quantization and the
/// serving options), up to which token count, with what kernel capacity.
/// Without a chip only the layout, the serving options and the
/// quantization are checked.
MethodLegality checkMethod(CommMethod method, const CommMethodInputs &inputs);

/// "<tokens> tokens <=|> <name> <capacity>".
std::string tokensVsCapacity(int64_t tokens, int64_t capacity,
                             llvm::StringRef name = "MC2 capacity");

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_COMMLEGALITY_H
