//===- MoeApiCheckpointTest.cpp - moe::api::loadCheckpointWeights ---------===//
//
// A Mixtral layer (as moe-import writes it: H = 4, E = 2, I = 2, top-2, two
// EP ranks) run on weights loaded from a safetensors checkpoint: each rank
// gets its expert, and the output equals the Hugging Face definition of the
// layer computed here from the checkpoint's [out, in] tensors:
// out = sum_e w_e * down_e (silu(gate_e x) * (up_e x)).
//
//===----------------------------------------------------------------------===//

#include "../Import/SafetensorsWriter.h"
#include "ApiTestUtil.h"

#include "moe/Moe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <thread>
#include <unistd.h>

using namespace moe::api;
using moe::api::test_util::errorOf;

namespace {

const char *kImported = R"mlir(
#layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>
module attributes {moe.chip = #moe.chip<A3>, moe.layout = #layout} {
  func.func @layer_1(%arg0: tensor<?x4xf32> {moe.name = "x"}, %arg1: tensor<?x2xf32> {moe.name = "logits"}, %arg2: tensor<1x4x4xf32> {moe.name = "w13"}, %arg3: tensor<1x2x4xf32> {moe.name = "w2"}) -> tensor<?x4xf32> {
    %prepared_hidden, %prepared_logits, %ctx = moe.prepare %arg0, %arg1 : tensor<?x4xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<unset>
    %weights, %ids = moe.gate %prepared_logits top_k(2) softmax renormalize : tensor<?x2xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %ctx_0 = moe.dispatch %prepared_hidden, %weights, %ids experts(2) : tensor<?x4xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<1xi64>, !moe.dispatch_ctx<unset>
    %0 = moe.experts %rows, %counts weights(%arg2, %arg3 : tensor<1x4x4xf32>, tensor<1x2x4xf32>) : tensor<?x4xf32>, tensor<1xi64>
    %1 = moe.combine %0, %ctx_0 : tensor<?x4xf32>, !moe.dispatch_ctx<unset>
    %2 = moe.finalize %1, %ctx : tensor<?x4xf32>, !moe.prepare_ctx<unset>
    return %2 : tensor<?x4xf32>
  }
}
)mlir";

const char *kConfig = R"({"model_type": "mixtral", "num_hidden_layers": 2,
  "hidden_size": 4, "num_local_experts": 2, "num_experts_per_tok": 2,
  "intermediate_size": 2, "torch_dtype": "float32"})";

constexpr int H = 4, I = 2;

/// Checkpoint values: small, distinct, exact in f32.
float value(int e, int which, int r, int c) {
  return 0.05f * static_cast<float>((e * 7 + which * 3 + r * 5 + c * 2) % 11) -
         0.25f;
}

class CheckpointApiTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moe-api-ckpt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    std::vector<moetest::StTensor> tensors =
        moetest::mixtralExperts(/*layer=*/1, /*experts=*/2, H, I, value);
    moetest::writeFile(dir + "/model.safetensors",
                       moetest::safetensorsOf(tensors));
    moetest::writeFile(dir + "/config.json", kConfig);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir + "'";
    (void)!std::system(cmd.c_str());
  }
  std::string dir;
};

TEST_F(CheckpointApiTest, RanksRunTheirExpertsFromTheCheckpoint) {
  Compiler compiler;
  Executable exe = compiler.compile(kImported);
  EXPECT_EQ(exe.entryName(), "layer_1");
  World world(exe, 2);
  std::vector<float> xs = {1.0f, -0.5f, 0.25f, 2.0f, 0.5f, 0.5f, -1.0f, 0.0f};
  std::vector<float> logits = {0.3f, -0.2f, -1.0f, 0.4f};
  std::vector<std::vector<Tensor>> inputs(2);
  for (int r = 0; r < 2; ++r) {
    std::vector<std::optional<Tensor>> w =
        loadCheckpointWeights(exe, r, dir + "/model.safetensors");
    ASSERT_EQ(w.size(), 4u);
    EXPECT_FALSE(w[0] || w[1]);
    ASSERT_TRUE(w[2] && w[3]);
    // w13[0, h, j]: gate (w1) of expert r transposed, then up (w3).
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < 2 * I; ++j)
        EXPECT_EQ(w[2]->data<float>()[h * 2 * I + j],
                  value(r, j < I ? 0 : 1, j % I, h));
    // Each rank its token (row r of xs) and its logits.
    inputs[r] = {copyOf(xs.data() + r * H, DType::F32, {1, H}),
                 copyOf(logits.data() + r * 2, DType::F32, {1, 2}), *w[2],
                 *w[3]};
  }
  std::vector<std::vector<Tensor>> out = world.runAll(exe, inputs);
  for (int r = 0; r < 2; ++r) {
    const float *x = xs.data() + r * H;
    double l0 = logits[r * 2], l1 = logits[r * 2 + 1];
    double p[2] = {1 / (1 + std::exp(l1 - l0)), 1 / (1 + std::exp(l0 - l1))};
    for (int h = 0; h < H; ++h) {
      double want = 0;
      for (int e = 0; e < 2; ++e)
        for (int i = 0; i < I; ++i) {
          double g = 0, u = 0;
          for (int k = 0; k < H; ++k) {
            g += value(e, 0, i, k) * x[k];
            u += value(e, 1, i, k) * x[k];
          }
          want += p[e] * value(e, 2, h, i) * (g / (1 + std::exp(-g))) * u;
        }
      EXPECT_NEAR(out[r][0].data<float>()[h], want, 1e-5)
          << "rank " << r << ", h " << h;
    }
  }
}

TEST_F(CheckpointApiTest, ErrorsNameWhatIsMissing) {
  Compiler compiler;
  Executable exe = compiler.compile(kImported);
  Error noTensor = errorOf([&] {
    CheckpointOptions options;
    options.layer = 0;
    loadCheckpointWeights(exe, 0, dir, options);
  });
  EXPECT_EQ(noTensor.kind(), Error::InvalidArgument);
  EXPECT_EQ(std::string(noTensor.what()),
            "safetensors '" + dir +
                "': no tensor "
                "'model.layers.0.block_sparse_moe.experts.0.w1.weight' (w13 "
                "of layer 0, expert 0)");
  // An entry that is not layer_N needs the layer.
  std::string renamed = kImported;
  renamed.replace(renamed.find("@layer_1"), 8, "@moe_layer");
  Executable other = compiler.compile(renamed);
  Error noLayer = errorOf([&] { loadCheckpointWeights(other, 0, dir); });
  EXPECT_EQ(std::string(noLayer.what()),
            "loadCheckpointWeights: the entry @moe_layer is not named "
            "layer_N (as moe-import names its functions); set "
            "CheckpointOptions::layer");
  CheckpointOptions layer1;
  layer1.layer = 1;
  EXPECT_TRUE(loadCheckpointWeights(other, 1, dir, layer1)[3].has_value());
}

} // namespace
