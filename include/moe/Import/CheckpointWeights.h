//===- CheckpointWeights.h - layer inputs from HF checkpoints ---*- C++ -*-===//
//
// The weight arguments of an imported layer function (`layer_N`, built by
// buildModelModule) read from the model's safetensors checkpoint under the
// Hugging Face tensor names of its family (ModelSpec::naming), stacked,
// transposed and sliced into the rank's arguments: w13 [L, H, 2I'] (gate
// columns, then up columns), w2 [L, I', H], the shared experts' [H, 2S'] /
// [S', H], Qwen2-MoE's shared_expert_gate [H, 1] and the correction bias
// [E]. docs/Import.md, "Checkpoint weights", has the tables.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_CHECKPOINTWEIGHTS_H
#define MOE_IMPORT_CHECKPOINTWEIGHTS_H

#include "moe/Import/HfConfig.h"
#include "moe/Import/Safetensors.h"
#include "moe/Runtime/Comm.h"
#include "moe/Runtime/Tensor.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::moe {

/// One argument of the compiled layer function: its moe.name, element type
/// and shape (-1 for a dynamic size).
struct LayerArgument {
  std::string name;
  moert::DType dtype = moert::DType::F32;
  std::vector<int64_t> shape;
};

/// Whether CheckpointWeights::load fills the argument named `name` (the
/// weights, their scales and the correction bias; not x, logits, log2phy,
/// expert_map).
bool isCheckpointArgument(llvm::StringRef name);

/// N of an imported layer function's name `layer_N`.
std::optional<int64_t> layerOfEntryName(llvm::StringRef name);

/// The config.json a Hugging Face checkpoint keeps next to its weights:
/// `<dir>/config.json` for a directory, else in the file's directory.
std::string defaultConfigPath(llvm::StringRef checkpoint);

class CheckpointWeights {
public:
  /// Opens the checkpoint (a .safetensors file or a directory, see
  /// Checkpoint::open) and reads the model's config.json (`config`, or
  /// defaultConfigPath(checkpoint) when empty).
  static llvm::Expected<std::unique_ptr<CheckpointWeights>>
  open(llvm::StringRef checkpoint, llvm::StringRef config = "");

  const ModelSpec &spec() const { return model; }
  const Checkpoint &checkpoint() const { return *ckpt; }

  /// The tensors of `args` that come from the checkpoint for decoder layer
  /// `layer` on rank `rank` of `layout` (std::nullopt for the others),
  /// converted to each argument's element type. Errors name the argument,
  /// the Hugging Face tensor and what was expected of it. With redundant
  /// experts (EPLB: more physical experts than logical ones) `phys2log`
  /// gives the logical expert of every physical one, whose weights it
  /// holds; without, physical expert p is logical expert p.
  llvm::Expected<std::vector<std::optional<moert::Tensor>>>
  load(int64_t layer, llvm::ArrayRef<LayerArgument> args,
       const moert::Layout &layout, int rank,
       llvm::ArrayRef<int64_t> phys2log = {}) const;

private:
  CheckpointWeights() = default;
  std::unique_ptr<Checkpoint> ckpt;
  ModelSpec model;
};

} // namespace mlir::moe

#endif // MOE_IMPORT_CHECKPOINTWEIGHTS_H
