//===- CheckpointWeights.cpp - layer inputs from HF checkpoints -----------===//
//
// One name table per checkpoint naming (ModelSpec::naming, decided by the
// family readers of HfConfig.cpp), and one strided copy that transposes a
// Hugging Face Linear weight ([out, in]) into the layer's [in, out] blocks
// while converting its element type.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/CheckpointWeights.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstring>

using namespace mlir::moe;

namespace {

/// The Hugging Face names of one family's MoE tensors, relative to a layer
/// prefix; `{E}` is the expert. Null: the family has no such tensor.
struct NameTable {
  /// Layer prefixes tried in order (`{N}` is the decoder layer).
  const char *prefixes[2];
  /// Per expert [I, H], [I, H], [H, I]; or, `fused`, gate-up [E, H, 2I]
  /// (gate columns, then up columns) and down [E, I, H] in `gate`, `down`.
  const char *gate, *up, *down;
  bool fused;
  const char *bias;                               ///< [E]
  const char *sharedGate, *sharedUp, *sharedDown; ///< [S, H], [S, H], [H, S]
  const char *sharedExpertGate;                   ///< [1, H]
};

const NameTable kDeepSeek = {
    {"model.layers.{N}.", nullptr},
    "mlp.experts.{E}.gate_proj.weight",
    "mlp.experts.{E}.up_proj.weight",
    "mlp.experts.{E}.down_proj.weight",
    false,
    "mlp.gate.e_score_correction_bias",
    "mlp.shared_experts.gate_proj.weight",
    "mlp.shared_experts.up_proj.weight",
    "mlp.shared_experts.down_proj.weight",
    nullptr};
const NameTable kQwen = {
    {"model.layers.{N}.", nullptr},
    "mlp.experts.{E}.gate_proj.weight",
    "mlp.experts.{E}.up_proj.weight",
    "mlp.experts.{E}.down_proj.weight",
    false,
    nullptr,
    "mlp.shared_expert.gate_proj.weight",
    "mlp.shared_expert.up_proj.weight",
    "mlp.shared_expert.down_proj.weight",
    "mlp.shared_expert_gate.weight"};
const NameTable kMixtral = {
    {"model.layers.{N}.", nullptr},
    "block_sparse_moe.experts.{E}.w1.weight",
    "block_sparse_moe.experts.{E}.w3.weight",
    "block_sparse_moe.experts.{E}.w2.weight",
    false,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr};
// Llama4ForConditionalGeneration keeps the text model under
// language_model.; Llama4ForCausalLM does not.
const NameTable kLlama4 = {
    {"language_model.model.layers.{N}.", "model.layers.{N}."},
    "feed_forward.experts.gate_up_proj",
    nullptr,
    "feed_forward.experts.down_proj",
    true,
    nullptr,
    "feed_forward.shared_expert.gate_proj.weight",
    "feed_forward.shared_expert.up_proj.weight",
    "feed_forward.shared_expert.down_proj.weight",
    nullptr};

const NameTable &tableOf(CheckpointNaming naming) {
  switch (naming) {
  case CheckpointNaming::DeepSeek: return kDeepSeek;
  case CheckpointNaming::Qwen: return kQwen;
  case CheckpointNaming::Mixtral: return kMixtral;
  case CheckpointNaming::Llama4: return kLlama4;
  }
  llvm_unreachable("naming");
}

std::string substitute(std::string text, llvm::StringRef key, int64_t value) {
  for (size_t at; (at = text.find(key.str())) != std::string::npos;)
    text.replace(at, key.size(), std::to_string(value));
  return text;
}

llvm::Error loadError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "checkpoint: " + message);
}

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// One strided block: dst[dstOffset + r * dstRow + c] =
/// src[srcOffset + r * srcRow + c * srcCol] for r < rows, c < cols.
struct Block {
  int64_t rows, cols;
  int64_t srcOffset, srcRow, srcCol;
  int64_t dstOffset, dstRow;
};

float readFloat(const SafetensorsTensor &t, int64_t i) {
  const uint8_t *p = t.data.data();
  switch (t.dtype) {
  case SafetensorsDType::F32: {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case SafetensorsDType::F64: {
    double v;
    std::memcpy(&v, p + 8 * i, 8);
    return static_cast<float>(v);
  }
  case SafetensorsDType::BF16:
  case SafetensorsDType::F16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    return t.dtype == SafetensorsDType::BF16 ? moert::bf16ToFloat(v)
                                             : moert::f16ToFloat(v);
  }
  default:
    llvm_unreachable("checked by the caller");
  }
}

/// Copies `block` of `src` into `dst`, converting each element: exact from
/// BF16 / F16 / F32 to a wider or equal type, rounded to nearest even when
/// narrowing (F32 -> BF16, F64 -> F32). Transposing blocks go tile by
/// tile, so neither side strides through memory a row at a time.
void copyBlock(const SafetensorsTensor &src, const moert::Tensor &dst,
               const Block &b) {
  bool raw16 = (src.dtype == SafetensorsDType::BF16 &&
                dst.dtype == moert::DType::BF16) ||
               (src.dtype == SafetensorsDType::F16 &&
                dst.dtype == moert::DType::F16);
  auto copy = [&](int64_t s, int64_t d) {
    if (raw16) {
      std::memcpy(dst.bytes() + 2 * d, src.data.data() + 2 * s, 2);
      return;
    }
    float v = readFloat(src, s);
    switch (dst.dtype) {
    case moert::DType::F32: dst.data<float>()[d] = v; break;
    case moert::DType::BF16: dst.data<uint16_t>()[d] = moert::floatToBf16(v); break;
    default: dst.data<uint16_t>()[d] = moert::floatToF16(v); break;
    }
  };
  bool transposing = b.srcCol != 1;
  const int64_t rTile = transposing ? 64 : std::max<int64_t>(b.rows, 1);
  const int64_t cTile = transposing ? 64 : std::max<int64_t>(b.cols, 1);
  for (int64_t r0 = 0; r0 < b.rows; r0 += rTile)
    for (int64_t c0 = 0; c0 < b.cols; c0 += cTile) {
      int64_t rEnd = std::min(b.rows, r0 + rTile);
      int64_t cEnd = std::min(b.cols, c0 + cTile);
      for (int64_t r = r0; r < rEnd; ++r) {
        int64_t s = b.srcOffset + r * b.srcRow + c0 * b.srcCol;
        int64_t d = b.dstOffset + r * b.dstRow + c0;
        for (int64_t c = c0; c < cEnd; ++c, s += b.srcCol, ++d)
          copy(s, d);
      }
    }
}

bool isFloatTensor(SafetensorsDType d) {
  return d == SafetensorsDType::F32 || d == SafetensorsDType::F64 ||
         d == SafetensorsDType::BF16 || d == SafetensorsDType::F16;
}

/// Loads one layer for one rank.
class LayerLoader {
public:
  LayerLoader(const Checkpoint &ckpt, const ModelSpec &spec, int64_t layer,
              const moert::Layout &layout, int rank,
              llvm::ArrayRef<int64_t> phys2log)
      : ckpt(ckpt), spec(spec), names(tableOf(spec.naming)), layer(layer),
        layout(layout), rank(rank), phys2log(phys2log) {}

  llvm::Expected<std::optional<moert::Tensor>> load(const LayerArgument &arg);

private:
  /// The full name of `relative` (with `{E}` = `expert`) under the layer
  /// prefix the checkpoint uses.
  std::string name(const char *relative, int64_t expert = 0) const;
  /// The tensor `relative` of shape `shape`, float-typed, for `what`.
  llvm::Expected<const SafetensorsTensor &>
  tensor(const char *relative, int64_t expert, llvm::ArrayRef<int64_t> shape,
         const std::string &what) const;
  llvm::Expected<moert::Tensor> empty(const LayerArgument &arg) const;
  llvm::Expected<moert::Tensor> routed(const LayerArgument &arg, bool w13);
  llvm::Expected<moert::Tensor> shared(const LayerArgument &arg, bool w13);

  const Checkpoint &ckpt;
  const ModelSpec &spec;
  const NameTable &names;
  int64_t layer;
  const moert::Layout &layout;
  int rank;
  llvm::ArrayRef<int64_t> phys2log;
};

std::string LayerLoader::name(const char *relative, int64_t expert) const {
  std::string tail = substitute(relative, "{E}", expert);
  std::string first;
  for (const char *prefix : names.prefixes) {
    if (!prefix)
      continue;
    std::string full = substitute(prefix, "{N}", layer) + tail;
    if (first.empty())
      first = full;
    // The prefix whose layer holds the family's first routed tensor.
    std::string probe = substitute(prefix, "{N}", layer) +
                        substitute(names.gate, "{E}", 0);
    if (ckpt.find(probe))
      return full;
  }
  return first;
}

llvm::Expected<const SafetensorsTensor &>
LayerLoader::tensor(const char *relative, int64_t expert,
                    llvm::ArrayRef<int64_t> shape,
                    const std::string &what) const {
  llvm::Expected<const SafetensorsTensor &> t =
      ckpt.get(name(relative, expert), what);
  if (!t)
    return t.takeError();
  auto bad = [&](const llvm::Twine &why) {
    return loadError("tensor '" + t->name + "' in '" + t->file + "' (" +
                     what + ") " + why);
  };
  if (!isFloatTensor(t->dtype))
    return bad("is " + safetensorsDTypeName(t->dtype) +
               "; the loader reads float weights (F32, F16, BF16, F64): "
               "quantized checkpoints are not loaded yet");
  if (t->shape != std::vector<int64_t>(shape.begin(), shape.end()))
    return bad("is " + t->shapeString() + " but the config.json gives " +
               shapeString(shape));
  return t;
}

llvm::Expected<moert::Tensor>
LayerLoader::empty(const LayerArgument &arg) const {
  if (arg.dtype != moert::DType::F32 && arg.dtype != moert::DType::BF16 &&
      arg.dtype != moert::DType::F16)
    return loadError("argument '" + arg.name + "' has element type " +
                     moert::dtypeName(arg.dtype) +
                     "; the loader fills float arguments (f32, bf16, f16): "
                     "quantized layers are not loaded yet");
  for (int64_t d : arg.shape)
    if (d < 0)
      return loadError("argument '" + arg.name + "' has a dynamic size");
  try {
    return moert::Tensor::empty(arg.dtype, arg.shape);
  } catch (const moert::Error &e) {
    return loadError("argument '" + arg.name + "': " + e.what());
  }
}

/// w13 [L, H, 2I'] or w2 [L, I', H]: the rank's physical experts (EP:
/// [rank * L, (rank + 1) * L)) and, tensor-sharded, its slice of I.
llvm::Expected<moert::Tensor> LayerLoader::routed(const LayerArgument &arg,
                                                  bool w13) {
  int64_t h = spec.hidden, e = spec.experts, inter = spec.intermediate;
  const std::vector<int64_t> &s = arg.shape;
  bool shapeOk = s.size() == 3 && (w13 ? s[1] == h && s[2] % 2 == 0
                                       : s[2] == h);
  int64_t local = shapeOk ? s[0] : 0, part = shapeOk ? (w13 ? s[2] / 2 : s[1]) : 0;
  int64_t ep = layout.epSize(), shards = layout.useEp() ? 1 : layout.worldSize();
  if (!shapeOk || part * shards != inter || local * ep < e)
    return loadError("argument '" + arg.name + "' " + shapeString(s) +
                     " is not this model's " + (w13 ? "[L, H, 2I']" : "[L, I', H]") +
                     " for hidden size " + llvm::Twine(h) + ", " +
                     llvm::Twine(e) + " experts of size " + llvm::Twine(inter) +
                     " on " + llvm::Twine(layout.worldSize()) + " ranks" +
                     (layout.useEp() ? " with EP" : ""));
  int64_t physical = local * ep;
  if (physical != e && phys2log.empty())
    return loadError("the layer has " + llvm::Twine(physical) +
                     " physical experts for " + llvm::Twine(e) +
                     " logical ones: redundant experts (EPLB) need their "
                     "placement, which the checkpoint does not hold (give "
                     "it with --phys2log)");
  if (!phys2log.empty()) {
    if (int64_t(phys2log.size()) != physical)
      return loadError("the placement (phys2log) has " +
                       llvm::Twine(phys2log.size()) + " entries for the " +
                       llvm::Twine(physical) + " physical experts");
    for (auto [p, logical] : llvm::enumerate(phys2log))
      if (logical < 0 || logical >= e)
        return loadError("the placement (phys2log) maps physical expert " +
                         llvm::Twine(p) + " to " + llvm::Twine(logical) +
                         ", not one of the " + llvm::Twine(e) +
                         " experts");
  }
  int64_t first = layout.useEp() ? rank * local : 0;
  int64_t col0 = layout.useEp() ? 0 : rank * part; // first column of I
  llvm::Expected<moert::Tensor> out = empty(arg);
  if (!out)
    return out.takeError();
  for (int64_t l = 0; l < local; ++l) {
    int64_t expert = phys2log.empty() ? first + l : phys2log[first + l];
    std::string what = arg.name + " of layer " + std::to_string(layer) +
                       ", expert " + std::to_string(expert);
    int64_t base = l * h * (w13 ? 2 * part : 1) * (w13 ? 1 : part);
    if (names.fused) {
      // gate_up_proj [E, H, 2I] and down_proj [E, I, H] are [in, out].
      llvm::Expected<const SafetensorsTensor &> t =
          w13 ? tensor(names.gate, 0, {e, h, 2 * inter}, what)
              : tensor(names.down, 0, {e, inter, h}, what);
      if (!t)
        return t.takeError();
      if (w13) {
        for (int64_t half = 0; half < 2; ++half)
          copyBlock(*t, *out,
                    {h, part, expert * h * 2 * inter + half * inter + col0,
                     2 * inter, 1, base + half * part, 2 * part});
      } else {
        copyBlock(*t, *out,
                  {part, h, expert * inter * h + col0 * h, h, 1, base, h});
      }
      continue;
    }
    if (w13) {
      // gate and up [I, H]: w13[l, h, j] = gate[col0 + j, h].
      const char *halves[2] = {names.gate, names.up};
      for (int64_t half = 0; half < 2; ++half) {
        llvm::Expected<const SafetensorsTensor &> t =
            tensor(halves[half], expert, {inter, h}, what);
        if (!t)
          return t.takeError();
        copyBlock(*t, *out,
                  {h, part, col0 * h, 1, h, base + half * part, 2 * part});
      }
    } else {
      // down [H, I]: w2[l, i, h] = down[h, col0 + i].
      llvm::Expected<const SafetensorsTensor &> t =
          tensor(names.down, expert, {h, inter}, what);
      if (!t)
        return t.takeError();
      copyBlock(*t, *out, {part, h, col0, 1, inter, base, h});
    }
  }
  return out;
}

/// shared_w13 [H, 2S'] or shared_w2 [S', H]: whole, or (partial TP sums)
/// the rank's slice of S over the TP group.
llvm::Expected<moert::Tensor> LayerLoader::shared(const LayerArgument &arg,
                                                  bool w13) {
  int64_t h = spec.hidden, full = spec.sharedIntermediate;
  const std::vector<int64_t> &s = arg.shape;
  bool shapeOk = s.size() == 2 && (w13 ? s[0] == h && s[1] % 2 == 0
                                       : s[1] == h);
  int64_t part = shapeOk ? (w13 ? s[1] / 2 : s[0]) : 0;
  int64_t parts = part ? full / part : 0;
  if (!names.sharedGate || !shapeOk || !part || part * parts != full ||
      (parts != 1 && parts != layout.tp))
    return loadError("argument '" + arg.name + "' " + shapeString(s) +
                     " is not this model's shared expert (hidden size " +
                     llvm::Twine(h) + ", intermediate size " +
                     llvm::Twine(full) + ", whole or split over tp " +
                     llvm::Twine(layout.tp) + ")");
  int64_t col0 = parts == 1 ? 0 : (rank % layout.tp) * part;
  llvm::Expected<moert::Tensor> out = empty(arg);
  if (!out)
    return out.takeError();
  std::string what = arg.name + " of layer " + std::to_string(layer);
  if (w13) {
    const char *halves[2] = {names.sharedGate, names.sharedUp};
    for (int64_t half = 0; half < 2; ++half) {
      llvm::Expected<const SafetensorsTensor &> t =
          tensor(halves[half], 0, {full, h}, what);
      if (!t)
        return t.takeError();
      copyBlock(*t, *out, {h, part, col0 * h, 1, h, half * part, 2 * part});
    }
    return out;
  }
  llvm::Expected<const SafetensorsTensor &> t =
      tensor(names.sharedDown, 0, {h, full}, what);
  if (!t)
    return t.takeError();
  copyBlock(*t, *out, {part, h, col0, 1, full, 0, h});
  return out;
}

llvm::Expected<std::optional<moert::Tensor>>
LayerLoader::load(const LayerArgument &arg) {
  llvm::StringRef n = arg.name;
  if (!isCheckpointArgument(n))
    return std::nullopt;
  auto wrap = [](llvm::Expected<moert::Tensor> t)
      -> llvm::Expected<std::optional<moert::Tensor>> {
    if (!t)
      return t.takeError();
    return std::optional<moert::Tensor>(std::move(*t));
  };
  if (n == "w13" || n == "w2")
    return wrap(routed(arg, n == "w13"));
  if (n == "shared_w13" || n == "shared_w2")
    return wrap(shared(arg, n == "shared_w13"));
  auto vector = [&](const char *relative, std::vector<int64_t> hfShape,
                    int64_t length) -> llvm::Expected<std::optional<moert::Tensor>> {
    int64_t argLength = 1;
    for (int64_t d : arg.shape)
      argLength *= d;
    if (!relative || argLength != length)
      return loadError("argument '" + arg.name + "' " +
                       shapeString(arg.shape) + " is not this " +
                       spec.modelType + " model's");
    llvm::Expected<const SafetensorsTensor &> t =
        tensor(relative, 0, hfShape, arg.name + " of layer " +
                                         std::to_string(layer));
    if (!t)
      return t.takeError();
    llvm::Expected<moert::Tensor> out = empty(arg);
    if (!out)
      return out.takeError();
    copyBlock(*t, *out, {1, length, 0, 0, 1, 0, 0});
    return std::optional<moert::Tensor>(std::move(*out));
  };
  if (n == "e_score_correction_bias")
    return vector(names.bias, {spec.experts}, spec.experts);
  if (n == "shared_expert_gate") // [1, H] in the checkpoint, [H, 1] here
    return vector(names.sharedExpertGate, {1, spec.hidden}, spec.hidden);
  return loadError("argument '" + arg.name +
                   "' is a quantization scale; the loader reads float "
                   "checkpoints only (quantized layers are not loaded yet)");
}

} // namespace

bool mlir::moe::isCheckpointArgument(llvm::StringRef name) {
  llvm::StringRef base = name;
  base.consume_front("shared_");
  return name == "e_score_correction_bias" || name == "shared_expert_gate" ||
         base == "w13" || base == "w2" || base.starts_with("w13_") ||
         base.starts_with("w2_");
}

std::optional<int64_t> mlir::moe::layerOfEntryName(llvm::StringRef name) {
  int64_t layer;
  if (!name.consume_front("layer_") || name.empty() ||
      name.getAsInteger(10, layer) || layer < 0)
    return std::nullopt;
  return layer;
}

std::string mlir::moe::defaultConfigPath(llvm::StringRef checkpoint) {
  llvm::SmallString<256> path(checkpoint);
  if (!llvm::sys::fs::is_directory(checkpoint))
    llvm::sys::path::remove_filename(path);
  llvm::sys::path::append(path, "config.json");
  return std::string(path);
}

llvm::Expected<std::unique_ptr<CheckpointWeights>>
CheckpointWeights::open(llvm::StringRef checkpoint, llvm::StringRef config) {
  std::unique_ptr<CheckpointWeights> w(new CheckpointWeights);
  llvm::Expected<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::open(checkpoint);
  if (!ckpt)
    return ckpt.takeError();
  w->ckpt = std::move(*ckpt);
  std::string configPath =
      config.empty() ? defaultConfigPath(checkpoint) : config.str();
  if (!llvm::sys::fs::exists(configPath))
    return loadError("no config.json at '" + configPath +
                     "': the checkpoint's model config names its tensors "
                     "(give it with --hf-config)");
  llvm::Expected<ModelSpec> spec = parseHfConfigFile(configPath);
  if (!spec)
    return spec.takeError();
  w->model = std::move(*spec);
  return std::move(w);
}

llvm::Expected<std::vector<std::optional<moert::Tensor>>>
CheckpointWeights::load(int64_t layer, llvm::ArrayRef<LayerArgument> args,
                        const moert::Layout &layout, int rank,
                        llvm::ArrayRef<int64_t> phys2log) const {
  if (!llvm::is_contained(model.moeLayers, layer))
    return loadError("decoder layer " + llvm::Twine(layer) +
                     " is not an MoE layer of this " + model.modelType +
                     " model");
  if (rank < 0 || rank >= layout.worldSize())
    return loadError("rank " + llvm::Twine(rank) + " is not in the world of " +
                     llvm::Twine(layout.worldSize()));
  LayerLoader loader(*ckpt, model, layer, layout, rank, phys2log);
  std::vector<std::optional<moert::Tensor>> out;
  for (const LayerArgument &arg : args) {
    llvm::Expected<std::optional<moert::Tensor>> t = loader.load(arg);
    if (!t)
      return t.takeError();
    out.push_back(std::move(*t));
  }
  return std::move(out);
}
