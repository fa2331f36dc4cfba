//===- HfConfig.cpp - read the MoE structure of a config.json -------------===//
//
// One reader per model family, each with the family's key names and its
// rule for which decoder layers are MoE layers (docs/Import.md lists them
// with the Hugging Face / vLLM code they follow).
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HfConfig.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir::moe;
using llvm::json::Object;

namespace {

/// Key lookup with errors that name the model type and the key.
class Reader {
public:
  Reader(const Object &obj, std::string modelType)
      : obj(obj), modelType(std::move(modelType)) {}

  llvm::Error error(const llvm::Twine &message) const {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "config.json (model_type '" + modelType +
                                       "'): " + message);
  }

  bool has(llvm::StringRef key) const {
    const llvm::json::Value *v = obj.get(key);
    return v && v->kind() != llvm::json::Value::Null;
  }

  /// A positive (or, with `allowZero`, non-negative) integer.
  llvm::Error integer(llvm::StringRef key, int64_t &out, bool allowZero = false,
                      std::optional<int64_t> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) {
        out = *fallback;
        return llvm::Error::success();
      }
      return error("missing integer key '" + key + "'");
    }
    std::optional<int64_t> v = obj.get(key)->getAsInteger();
    if (!v || *v < 0 || (*v == 0 && !allowZero))
      return error("'" + key + "' must be a " +
                   (allowZero ? "non-negative" : "positive") + " integer");
    out = *v;
    return llvm::Error::success();
  }

  llvm::Error boolean(llvm::StringRef key, bool &out, bool fallback) const {
    if (!has(key)) {
      out = fallback;
      return llvm::Error::success();
    }
    std::optional<bool> v = obj.get(key)->getAsBoolean();
    if (!v)
      return error("'" + key + "' must be true or false");
    out = *v;
    return llvm::Error::success();
  }

  llvm::Error number(llvm::StringRef key, double &out, double fallback) const {
    if (!has(key)) {
      out = fallback;
      return llvm::Error::success();
    }
    std::optional<double> v = obj.get(key)->getAsNumber();
    if (!v || !(*v > 0) || *v > 1e30)
      return error("'" + key + "' must be a positive finite number");
    out = *v;
    return llvm::Error::success();
  }

  llvm::Error string(llvm::StringRef key, std::string &out,
                     llvm::StringRef fallback) const {
    if (!has(key)) {
      out = fallback.str();
      return llvm::Error::success();
    }
    std::optional<llvm::StringRef> v = obj.get(key)->getAsString();
    if (!v)
      return error("'" + key + "' must be a string");
    out = v->str();
    return llvm::Error::success();
  }

  llvm::Error integerList(llvm::StringRef key, std::vector<int64_t> &out) const {
    out.clear();
    if (!has(key))
      return llvm::Error::success();
    const llvm::json::Array *list = obj.get(key)->getAsArray();
    if (!list)
      return error("'" + key + "' must be a list of layer indices");
    for (const llvm::json::Value &v : *list) {
      std::optional<int64_t> i = v.getAsInteger();
      if (!i || *i < 0)
        return error("'" + key + "' must hold non-negative integers");
      out.push_back(*i);
    }
    return llvm::Error::success();
  }

  const Object &obj;
  std::string modelType;
};

/// Returns the error of `expr` from a function returning llvm::Error
/// (TRY) or llvm::Expected (TRY_EXPECTED).
#define TRY(expr)                                                              \
  if (llvm::Error e = (expr))                                                  \
    return e;
#define TRY_EXPECTED(expr)                                                     \
  if (llvm::Error e = (expr))                                                  \
    return std::move(e);

/// `torch_dtype` (or the newer `dtype`) as an MLIR float type name.
llvm::Error readDtype(const Reader &r, ModelSpec &spec) {
  std::string dtype;
  TRY(r.string(r.has("torch_dtype") ? "torch_dtype" : "dtype", dtype,
               "bfloat16"));
  std::optional<llvm::StringRef> mlir =
      llvm::StringSwitch<std::optional<llvm::StringRef>>(dtype)
          .Case("bfloat16", llvm::StringRef("bf16"))
          .Case("float16", llvm::StringRef("f16"))
          .Case("float32", llvm::StringRef("f32"))
          .Default(std::nullopt);
  if (!mlir)
    return r.error("torch_dtype '" + dtype +
                   "' is not a hidden-state type (bfloat16, float16, float32)");
  spec.dtype = mlir->str();
  return llvm::Error::success();
}

/// `quantization_config`: the checkpoint's scheme where it maps onto the
/// descriptor (fp8 e4m3 in weight blocks with dynamic activations). Where it
/// does not, `quantUnsupported` says why: an error only when the user asks
/// for the checkpoint's scheme (--quant=checkpoint, the default).
llvm::Error readQuantization(const Reader &r, ModelSpec &spec) {
  if (!r.has("quantization_config"))
    return llvm::Error::success();
  const Object *q = r.obj.get("quantization_config")->getAsObject();
  if (!q)
    return r.error("'quantization_config' must be an object");
  Reader qr(*q, r.modelType);
  std::string method, fmt, activation;
  TRY(qr.string("quant_method", method, ""));
  TRY(qr.string("fmt", fmt, "e4m3"));
  TRY(qr.string("activation_scheme", activation, "dynamic"));
  std::vector<int64_t> block;
  TRY(qr.integerList("weight_block_size", block));
  if (method != "fp8")
    spec.quantUnsupported = "quantization_config.quant_method '" + method +
                            "' does not map onto #moe.quant (the importer "
                            "reads fp8 e4m3 block checkpoints)";
  else if (fmt != "e4m3" || activation != "dynamic")
    spec.quantUnsupported = "fp8 quantization_config with fmt '" + fmt +
                            "' and activation_scheme '" + activation +
                            "' does not map onto #moe.quant (e4m3 with "
                            "dynamic activations does)";
  else if (block.size() != 2 || block[0] == 0 || block[1] == 0)
    spec.quantUnsupported = "fp8 quantization_config without a two-element "
                            "weight_block_size does not map onto the "
                            "importable schemes (fp8 e4m3 in weight blocks)";
  if (!spec.quantUnsupported.empty())
    return llvm::Error::success();
  spec.quant = ImportQuant::Fp8Block;
  spec.quantBlock[0] = block[0];
  spec.quantBlock[1] = block[1];
  return llvm::Error::success();
}

/// DeepSeek-V2/V3, Kimi-K2 (deepseek_v3) and GLM-4.5 (glm4_moe): vLLM's
/// DeepseekV2MoE / Glm4MoE.
llvm::Error readDeepseek(const Reader &r, ModelSpec &spec) {
  bool glm = r.modelType == "glm4_moe";
  spec.naming = CheckpointNaming::DeepSeek;
  int64_t firstDense = 0, freq = 1, shared = 0;
  TRY(r.integer("n_routed_experts", spec.experts));
  TRY(r.integer("num_experts_per_tok", spec.topK));
  TRY(r.integer("moe_intermediate_size", spec.intermediate));
  TRY(r.integer("n_shared_experts", shared, true, 0));
  TRY(r.integer("first_k_dense_replace", firstDense, true, 0));
  TRY(r.integer("moe_layer_freq", freq, false, 1));
  spec.sharedIntermediate = shared * spec.intermediate;
  std::string scoring, method;
  TRY(r.string("scoring_func", scoring, glm ? "sigmoid" : "softmax"));
  TRY(r.string("topk_method", method, glm ? "noaux_tc" : "greedy"));
  if (scoring != "softmax" && scoring != "sigmoid")
    return r.error("scoring_func '" + scoring +
                   "' is not softmax or sigmoid");
  spec.sigmoid = scoring == "sigmoid";
  bool norm;
  TRY(r.boolean("norm_topk_prob", norm, false));
  spec.renormalize = norm && spec.topK > 1;
  TRY(r.number("routed_scaling_factor", spec.routedScalingFactor, 1.0));
  if (method == "noaux_tc")
    spec.correctionBias = true;
  else if (method != "greedy" && method != "group_limited_greedy")
    return r.error("topk_method '" + method +
                   "' is not greedy, group_limited_greedy or noaux_tc");
  if (method != "greedy") {
    int64_t groups = 1, keep = 1;
    TRY(r.integer("n_group", groups, false, 1));
    TRY(r.integer("topk_group", keep, false, groups));
    if (groups > 1) {
      spec.numExpertGroups = groups;
      spec.topkGroup = keep;
    }
  }
  for (int64_t i = 0; i < spec.numHiddenLayers; ++i)
    if (i >= firstDense && i % freq == 0)
      spec.moeLayers.push_back(i);
  return llvm::Error::success();
}

/// Qwen2-MoE and Qwen3-MoE: vLLM's Qwen2MoeSparseMoeBlock /
/// Qwen3MoeSparseMoeBlock (softmax, top-k, `norm_topk_prob`); layer `i` is
/// sparse unless listed in `mlp_only_layers`, when `(i + 1) %
/// decoder_sparse_step == 0`.
llvm::Error readQwen(const Reader &r, ModelSpec &spec) {
  int64_t step = 1;
  std::vector<int64_t> mlpOnly;
  spec.naming = CheckpointNaming::Qwen;
  TRY(r.integer("num_experts", spec.experts));
  TRY(r.integer("num_experts_per_tok", spec.topK));
  TRY(r.integer("moe_intermediate_size", spec.intermediate));
  TRY(r.integer("shared_expert_intermediate_size", spec.sharedIntermediate,
                true, 0));
  TRY(r.integer("decoder_sparse_step", step, false, 1));
  TRY(r.integerList("mlp_only_layers", mlpOnly));
  bool norm;
  TRY(r.boolean("norm_topk_prob", norm, r.modelType == "qwen3_moe"));
  spec.renormalize = norm && spec.topK > 1;
  // Qwen2-MoE scales its shared expert's output by sigmoid(x · w_gate).
  spec.sharedExpertGate = spec.sharedIntermediate > 0;
  for (int64_t i = 0; i < spec.numHiddenLayers; ++i)
    if (!llvm::is_contained(mlpOnly, i) && (i + 1) % step == 0)
      spec.moeLayers.push_back(i);
  return llvm::Error::success();
}

/// Mixtral: every layer is sparse; softmax, top-k, renormalized.
llvm::Error readMixtral(const Reader &r, ModelSpec &spec) {
  spec.naming = CheckpointNaming::Mixtral;
  TRY(r.integer("num_local_experts", spec.experts));
  TRY(r.integer("num_experts_per_tok", spec.topK));
  TRY(r.integer("intermediate_size", spec.intermediate));
  spec.renormalize = spec.topK > 1;
  for (int64_t i = 0; i < spec.numHiddenLayers; ++i)
    spec.moeLayers.push_back(i);
  return llvm::Error::success();
}

/// Llama-4 (`text_config` of a llama4 config): top-1 over the logits, the
/// sigmoid of the winner scales the token's input (vLLM's
/// `apply_router_weight_on_input`), one shared expert of the experts'
/// size; the MoE layers are `moe_layers` when given, else every
/// `interleave_moe_layer_step`-th layer (`step - 1, 2 * step - 1, ...`).
llvm::Error readLlama4(const Reader &r, ModelSpec &spec) {
  int64_t step = 1;
  std::vector<int64_t> moeLayers;
  spec.naming = CheckpointNaming::Llama4;
  TRY(r.integer("num_local_experts", spec.experts));
  TRY(r.integer("num_experts_per_tok", spec.topK, false, 1));
  TRY(r.integer("intermediate_size", spec.intermediate));
  TRY(r.integer("interleave_moe_layer_step", step, false, 1));
  TRY(r.integerList("moe_layers", moeLayers));
  if (spec.topK != 1)
    return r.error("Llama-4 routes each token to one expert; "
                   "num_experts_per_tok is " + llvm::Twine(spec.topK));
  spec.sigmoid = true;
  spec.routerWeightOnInput = true;
  spec.sharedIntermediate = spec.intermediate;
  if (moeLayers.empty())
    for (int64_t i = step - 1; i < spec.numHiddenLayers; i += step)
      moeLayers.push_back(i);
  for (int64_t i : moeLayers)
    if (i >= spec.numHiddenLayers)
      return r.error("moe_layers names layer " + llvm::Twine(i) + " of " +
                     llvm::Twine(spec.numHiddenLayers));
  spec.moeLayers = moeLayers;
  return llvm::Error::success();
}

/// gpt-oss: routing maps (softmax over the top-k logits), its experts do
/// not: they add biases and clamp a SwiGLU variant.
llvm::Error readGptOss(const Reader &r, ModelSpec &spec) {
  TRY(r.integer("num_local_experts", spec.experts));
  double limit;
  TRY(r.number("swiglu_limit", limit, 7.0));
  return r.error("gpt-oss experts add per-expert biases and use a SwiGLU "
                 "clamped at swiglu_limit = " + llvm::formatv("{0}", limit).str() +
                 " with alpha 1.702; moe.experts computes the plain SwiGLU "
                 "MLP (SEMANTICS §6), so this model cannot be imported yet");
}

} // namespace

llvm::Expected<ModelSpec> mlir::moe::parseHfConfig(const llvm::json::Value &v) {
  const Object *top = v.getAsObject();
  if (!top)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "config.json: the top level is not an object");
  const Object *obj = top;
  std::optional<llvm::StringRef> type = top->getString("model_type");
  if (!type)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "config.json: missing string key 'model_type'");
  ModelSpec spec;
  spec.modelType = type->str();
  // Multimodal wrappers (Llama-4) keep the language model in text_config.
  if (const Object *text = top->getObject("text_config")) {
    obj = text;
    if (std::optional<llvm::StringRef> t = text->getString("model_type"))
      spec.modelType = t->str();
  }
  Reader r(*obj, spec.modelType);
  TRY_EXPECTED(r.integer("num_hidden_layers", spec.numHiddenLayers));
  TRY_EXPECTED(r.integer("hidden_size", spec.hidden));
  TRY_EXPECTED(readDtype(Reader(*top, spec.modelType), spec));
  TRY_EXPECTED(readQuantization(Reader(*top, spec.modelType), spec));
  llvm::StringRef t = spec.modelType;
  llvm::Error err =
      (t == "deepseek_v2" || t == "deepseek_v3" || t == "glm4_moe")
          ? readDeepseek(r, spec)
      : (t == "qwen2_moe" || t == "qwen3_moe") ? readQwen(r, spec)
      : t == "mixtral"                         ? readMixtral(r, spec)
      : (t == "llama4_text" || t == "llama4")  ? readLlama4(r, spec)
      : t == "gpt_oss"                         ? readGptOss(r, spec)
          : r.error("unsupported model_type; the importer reads deepseek_v2, "
                    "deepseek_v3, glm4_moe, qwen2_moe, qwen3_moe, mixtral, "
                    "llama4 and gpt_oss");
  if (err)
    return std::move(err);
  if (spec.topK > spec.experts)
    return r.error("num_experts_per_tok " + llvm::Twine(spec.topK) +
                   " exceeds the " + llvm::Twine(spec.experts) + " experts");
  if (spec.numExpertGroups &&
      (spec.experts % spec.numExpertGroups || spec.topkGroup > spec.numExpertGroups))
    return r.error("n_group " + llvm::Twine(spec.numExpertGroups) +
                   " must divide the experts and be at least topk_group " +
                   llvm::Twine(spec.topkGroup));
  if (spec.moeLayers.empty())
    return r.error("no decoder layer is an MoE layer");
  return spec;
}

llvm::Expected<ModelSpec>
mlir::moe::parseHfConfigFile(llvm::StringRef path,
                             llvm::ArrayRef<std::string> overrides) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (!file)
    return llvm::createStringError(file.getError(),
                                   "cannot read '" + path + "': " +
                                       file.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*file)->getBuffer());
  if (!json)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "'" + path + "' is not JSON: " + llvm::toString(json.takeError()));
  if (llvm::Error err = applyConfigOverrides(*json, overrides))
    return std::move(err);
  return parseHfConfig(*json);
}

llvm::Expected<std::optional<ImportQuant>>
mlir::moe::parseImportQuant(llvm::StringRef name) {
  if (name == "checkpoint")
    return std::optional<ImportQuant>();
  std::optional<ImportQuant> q =
      llvm::StringSwitch<std::optional<ImportQuant>>(name)
          .Case("none", ImportQuant::None)
          .Case("w8a8_dynamic", ImportQuant::W8A8Dynamic)
          .Case("w4a8_dynamic", ImportQuant::W4A8Dynamic)
          .Default(std::nullopt);
  if (!q)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "unknown --quant '" + name +
            "'; expected checkpoint, none, w8a8_dynamic or w4a8_dynamic");
  return std::optional<ImportQuant>(*q);
}
