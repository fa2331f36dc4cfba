// The C++ API of an installed moe-mlir: compile a layer from a file, run it
// on one rank and report the result's shape.
#include "moe/Moe.h"

#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer-cxx LAYER.mlir\n");
    return 2;
  }
  try {
    moe::api::Compiler compiler;
    moe::api::Executable exe = compiler.compileFile(argv[1]);
    moe::api::World world(exe, static_cast<int>(exe.layout().worldSize()));
    std::vector<std::vector<moe::api::Tensor>> inputs(world.numRanks());
    for (auto &rank : inputs)
      for (const moe::api::TensorInfo &arg : exe.arguments()) {
        std::vector<int64_t> shape = arg.shape;
        for (int64_t &d : shape)
          d = d < 0 ? 2 : d; // two tokens
        rank.push_back(moe::api::Tensor::zeros(arg.dtype, shape));
      }
    std::vector<std::vector<moe::api::Tensor>> results =
        world.runAll(exe, inputs);
    std::printf("consumer-cxx: %d ranks, result 0 of rank 0 is %s\n",
                world.numRanks(), results[0][0].str().c_str());
  } catch (const moe::api::Error &e) {
    std::fprintf(stderr, "consumer-cxx: %s\n", e.what());
    return 1;
  }
  return 0;
}
