//===- Checkpoint.cpp - layer weights from HF checkpoints (C++ API) -------===//
//
// moe::api::loadCheckpointWeights: moe/Import/CheckpointWeights.h over an
// Executable's argument list, as moe-run --weights uses it.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/CheckpointWeights.h"
#include "moe/Moe.h"

using namespace moe::api;

std::vector<std::optional<Tensor>>
moe::api::loadCheckpointWeights(const Executable &executable, int rank,
                                const std::string &checkpoint,
                                const CheckpointOptions &options) {
  int64_t layer = options.layer;
  if (layer < 0) {
    std::optional<int64_t> fromName =
        mlir::moe::layerOfEntryName(executable.entryName());
    if (!fromName)
      throw Error(Error::InvalidArgument,
                  "loadCheckpointWeights: the entry @" +
                      executable.entryName() +
                      " is not named layer_N (as moe-import names its "
                      "functions); set CheckpointOptions::layer");
    layer = *fromName;
  }
  llvm::Expected<std::unique_ptr<mlir::moe::CheckpointWeights>> ckpt =
      mlir::moe::CheckpointWeights::open(checkpoint, options.config);
  if (!ckpt)
    throw Error(Error::InvalidArgument, llvm::toString(ckpt.takeError()));
  std::vector<mlir::moe::LayerArgument> args;
  for (const TensorInfo &arg : executable.arguments())
    args.push_back({arg.name, arg.dtype, arg.shape});
  auto loaded = (*ckpt)->load(layer, args, executable.layout(), rank,
                              options.phys2log);
  if (!loaded)
    throw Error(Error::InvalidArgument, llvm::toString(loaded.takeError()));
  return std::move(*loaded);
}
