//===- HfConfig.h - MoE layers from a Hugging Face config.json --*- C++ -*-===//
//
// Model import (docs/Import.md): a Hugging Face `config.json` of an MoE
// model is read into a `ModelSpec` (what every MoE layer computes and which
// decoder layers are MoE layers), and a `ModelSpec` plus a deployment
// (`ImportOptions`: chip, layout, quantization) is built into a module with
// one `func.func @layer_N` per imported MoE layer, in the form of
// examples/deepseek_v3.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_HFCONFIG_H
#define MOE_IMPORT_HFCONFIG_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::moe {

/// Quantization of the experts' weights as the checkpoint (or the user's
/// override) states it, in the descriptor's terms.
enum class ImportQuant {
  None,        ///< the checkpoint's float type
  W8A8Dynamic, ///< int8 weights per channel, int8 activations per token
  W4A8Dynamic, ///< int4 weights per group, int8 activations per token
  Fp8Block,    ///< fp8 e4m3 weights in blocks, activations per group
};

/// How a family names its MoE tensors in a safetensors checkpoint
/// (lib/Import/CheckpointWeights.cpp has one name table per value).
enum class CheckpointNaming {
  DeepSeek, ///< deepseek_v2/v3, glm4_moe: mlp.experts.E.*, mlp.shared_experts
  Qwen,     ///< qwen2_moe/qwen3_moe: mlp.experts.E.*, mlp.shared_expert(_gate)
  Mixtral,  ///< block_sparse_moe.experts.E.{w1,w3,w2}
  Llama4,   ///< feed_forward.experts.{gate_up_proj,down_proj} (fused)
};

/// What one MoE layer of the model computes (SEMANTICS §2-§7), read from
/// the config with each family's key names.
struct ModelSpec {
  std::string modelType;          ///< `model_type`, e.g. "deepseek_v3"
  CheckpointNaming naming = CheckpointNaming::DeepSeek; ///< tensor names
  int64_t numHiddenLayers = 0;    ///< decoder layers, dense ones included
  std::vector<int64_t> moeLayers; ///< decoder layer indices that are MoE
  int64_t hidden = 0;             ///< `hidden_size`
  int64_t experts = 0;            ///< routed experts
  int64_t topK = 0;               ///< `num_experts_per_tok`
  int64_t intermediate = 0;       ///< each routed expert's intermediate size
  int64_t sharedIntermediate = 0; ///< summed shared experts' size (0: none)
  bool sharedExpertGate = false;  ///< Qwen2-MoE: sigmoid(x · Wg) scales them
  bool sigmoid = false;           ///< scoring function (softmax otherwise)
  bool renormalize = false;       ///< `norm_topk_prob` and friends
  double routedScalingFactor = 1.0;
  bool correctionBias = false;    ///< `e_score_correction_bias` (noaux_tc)
  int64_t numExpertGroups = 0;    ///< `n_group` when group-limited (0: none)
  int64_t topkGroup = 0;
  bool routerWeightOnInput = false; ///< Llama-4: weight scales x
  std::string dtype = "bf16";     ///< `torch_dtype` as an MLIR float type
  ImportQuant quant = ImportQuant::None; ///< from `quantization_config`
  int64_t quantBlock[2] = {0, 0}; ///< fp8 `weight_block_size`
  /// Why `quantization_config` does not map onto #moe.quant (empty: it
  /// does, or there is none).
  std::string quantUnsupported;
};

/// Reads the MoE structure of a `config.json`. Errors name the key and the
/// model type; unsupported families and features are errors, never guesses.
llvm::Expected<ModelSpec> parseHfConfig(const llvm::json::Value &config);
/// Reads `path` with `overrides` (see applyConfigOverrides) applied first.
llvm::Expected<ModelSpec>
parseHfConfigFile(llvm::StringRef path,
                  llvm::ArrayRef<std::string> overrides = {});

/// Applies `key=value` settings to a config (moe-import --set, the Python
/// package's overrides): each key must be one the config has (in
/// `text_config` when the model keeps its language model there), and the
/// value of its kind: a number for a number, true/false for a boolean, any
/// text for a string, JSON for a list or a null. Errors name the setting
/// and the key. The reader checks the values as it checks published ones.
llvm::Error applyConfigOverrides(llvm::json::Value &config,
                                 llvm::ArrayRef<std::string> settings);

/// The deployment the layers are compiled for.
struct ImportOptions {
  std::string chip = "A3";        ///< A2 or A3
  int64_t tp = 1, dp = 1;
  bool expertParallel = false;
  int64_t redundantExperts = 0;   ///< EPLB replicas (adds log2phy/expert_map)
  /// EP ranks reserved for the shared experts (#moe.layout
  /// shared_expert_ranks, MC2's shared_expert_rank_num); the routed experts
  /// go to the others.
  int64_t sharedExpertRanks = 0;
  std::optional<ImportQuant> quant; ///< overrides the checkpoint's scheme
  int64_t groupSize = 256;        ///< w4a8 group size with that override
  std::vector<int64_t> layers;    ///< decoder layers to import (empty: all)
};

/// Builds and verifies the module for `spec` on `options`'s deployment.
/// Errors (a layer that is not an MoE layer, experts that do not divide
/// over the EP ranks, a scheme the layer cannot carry) are returned, the
/// module's verifier messages included.
llvm::Expected<OwningOpRef<ModuleOp>>
buildModelModule(MLIRContext &context, const ModelSpec &spec,
                 const ImportOptions &options);

/// Parses `--quant` values: checkpoint (nullopt), none, w8a8_dynamic,
/// w4a8_dynamic.
llvm::Expected<std::optional<ImportQuant>> parseImportQuant(llvm::StringRef);

} // namespace mlir::moe

#endif // MOE_IMPORT_HFCONFIG_H
