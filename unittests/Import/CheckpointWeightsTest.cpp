//===- CheckpointWeightsTest.cpp - HF tensors into layer arguments --------===//
//
// A tiny DeepSeek-V3 checkpoint (H = 2, E = 2, I = 2, one shared expert)
// whose every element is distinct: the rank's w13 / w2 / shared arguments
// hold exactly the transposed, stacked and sliced Hugging Face tensors, and
// every error names what it expected.
//
//===----------------------------------------------------------------------===//

#include "SafetensorsWriter.h"

#include "moe/Import/CheckpointWeights.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

using namespace mlir::moe;
using moert::DType;

namespace {

const char *kConfig = R"({"model_type": "deepseek_v3", "num_hidden_layers": 2,
  "hidden_size": 2, "n_routed_experts": 2, "num_experts_per_tok": 1,
  "moe_intermediate_size": %d, "n_shared_experts": 1,
  "first_k_dense_replace": 1, "scoring_func": "sigmoid",
  "topk_method": "noaux_tc", "torch_dtype": "float32"})";

// gate_e[i][h], up_e[i][h] ([I, H]) and down_e[h][i] ([H, I]).
float gate(int e, int i, int h) { return 100 * e + 10 * i + h; }
float up(int e, int i, int h) { return 1000 + 100 * e + 10 * i + h; }
float down(int e, int h, int i) { return 2000 + 100 * e + 10 * h + i; }

class CheckpointWeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("moe-ckpt", dir));
    std::vector<moetest::StTensor> tensors;
    std::string p = "model.layers.1.mlp.";
    for (int e = 0; e < 3; ++e) { // e == 2: the shared expert
      std::vector<float> g, u, d;
      for (int i = 0; i < 2; ++i)
        for (int h = 0; h < 2; ++h)
          g.push_back(gate(e, i, h)), u.push_back(up(e, i, h));
      for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 2; ++i)
          d.push_back(down(e, h, i));
      std::string at = e < 2 ? p + "experts." + std::to_string(e) + "."
                             : p + "shared_experts.";
      tensors.push_back({at + "gate_proj.weight", "F32", {2, 2}, g});
      tensors.push_back({at + "up_proj.weight", "F32", {2, 2}, u});
      tensors.push_back({at + "down_proj.weight", "F32", {2, 2}, d});
    }
    tensors.push_back({p + "gate.e_score_correction_bias", "BF16", {2},
                       {0.5f, -0.25f}});
    moetest::writeFile(path("model.safetensors"),
                       moetest::safetensorsOf(tensors));
    writeConfig(path("config.json"), 2);
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }
  std::string path(const std::string &name) {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
  void writeConfig(const std::string &file, int inter) {
    char text[1024];
    snprintf(text, sizeof(text), kConfig, inter);
    moetest::writeFile(file, text);
  }
  std::unique_ptr<CheckpointWeights> open(const std::string &config = "") {
    auto w = CheckpointWeights::open(dir, config);
    EXPECT_TRUE(bool(w)) << llvm::toString(w.takeError());
    return w ? std::move(*w) : nullptr;
  }
  /// The error of loading `args` for `rank` of `layout`.
  std::string loadError(const CheckpointWeights &w,
                        std::vector<LayerArgument> args,
                        moert::Layout layout, int rank, int64_t layer = 1) {
    auto t = w.load(layer, args, layout, rank);
    return t ? "" : llvm::toString(t.takeError());
  }
  llvm::SmallString<128> dir;
};

moert::Layout ep2() {
  moert::Layout l;
  l.dp = 2;
  l.expertParallel = true;
  return l;
}

float at(const moert::Tensor &t, int64_t i) {
  if (t.dtype == DType::BF16)
    return moert::bf16ToFloat(t.data<uint16_t>()[i]);
  return t.data<float>()[i];
}

TEST_F(CheckpointWeightsTest, ExpertParallelRankTakesItsExperts) {
  auto w = open();
  ASSERT_TRUE(w);
  std::vector<LayerArgument> args = {
      {"x", DType::F32, {-1, 2}},
      {"e_score_correction_bias", DType::F32, {2}},
      {"w13", DType::F32, {1, 2, 4}},
      {"w2", DType::BF16, {1, 2, 2}},
      {"shared_w13", DType::F32, {2, 4}},
      {"shared_w2", DType::F32, {2, 2}}};
  auto loaded = w->load(1, args, ep2(), 1);
  ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
  const auto &t = *loaded;
  EXPECT_FALSE(t[0].has_value());
  EXPECT_EQ(at(*t[1], 0), 0.5f);
  EXPECT_EQ(at(*t[1], 1), -0.25f);
  // Rank 1 of 2 holds expert 1: w13[0, h, j] = gate_1[j, h], then up_1.
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(at(*t[2], h * 4 + j), j < 2 ? gate(1, j, h) : up(1, j - 2, h));
  // w2[0, i, h] = down_1[h, i], rounded to bf16 (the values are exact).
  EXPECT_EQ(t[3]->dtype, DType::BF16);
  for (int i = 0; i < 2; ++i)
    for (int h = 0; h < 2; ++h)
      EXPECT_EQ(at(*t[3], i * 2 + h),
                moert::bf16ToFloat(moert::floatToBf16(down(1, h, i))));
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(at(*t[4], h * 4 + j), j < 2 ? gate(2, j, h) : up(2, j - 2, h));
  for (int i = 0; i < 2; ++i)
    for (int h = 0; h < 2; ++h)
      EXPECT_EQ(at(*t[5], i * 2 + h), down(2, h, i));
}

TEST_F(CheckpointWeightsTest, TensorParallelRankTakesItsSliceOfI) {
  auto w = open();
  ASSERT_TRUE(w);
  moert::Layout tp2;
  tp2.tp = 2;
  std::vector<LayerArgument> args = {{"w13", DType::F32, {2, 2, 2}},
                                     {"w2", DType::F32, {2, 1, 2}}};
  auto loaded = w->load(1, args, tp2, 1);
  ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
  // Rank 1 of 2: intermediate column 1 of both halves of every expert.
  for (int e = 0; e < 2; ++e)
    for (int h = 0; h < 2; ++h) {
      EXPECT_EQ(at(*(*loaded)[0], e * 4 + h * 2 + 0), gate(e, 1, h));
      EXPECT_EQ(at(*(*loaded)[0], e * 4 + h * 2 + 1), up(e, 1, h));
      EXPECT_EQ(at(*(*loaded)[1], e * 2 + h), down(e, h, 1));
    }
}

TEST_F(CheckpointWeightsTest, ReplicasHoldTheirLogicalExpert) {
  auto w = open();
  ASSERT_TRUE(w);
  // 4 physical experts for 2 logical ones; rank 1 holds physical 2 and 3.
  std::vector<int64_t> phys2log = {0, 1, 1, 0};
  auto loaded =
      w->load(1, {{"w2", DType::F32, {2, 2, 2}}}, ep2(), 1, phys2log);
  ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
  for (int l = 0; l < 2; ++l)
    for (int i = 0; i < 2; ++i)
      for (int h = 0; h < 2; ++h)
        EXPECT_EQ(at(*(*loaded)[0], (l * 2 + i) * 2 + h),
                  down(phys2log[2 + l], h, i));
}

TEST_F(CheckpointWeightsTest, Errors) {
  auto w = open();
  ASSERT_TRUE(w);
  auto expectError = [&](std::vector<LayerArgument> args, int rank,
                         const std::string &message, int64_t layer = 1,
                         moert::Layout layout = ep2()) {
    std::string error = loadError(*w, args, layout, rank, layer);
    EXPECT_NE(error.find(message), std::string::npos)
        << "expected '" << message << "' in: " << error;
  };
  LayerArgument w13 = {"w13", DType::F32, {1, 2, 4}};
  expectError({w13}, 0, "checkpoint: decoder layer 0 is not an MoE layer of "
                        "this deepseek_v3 model", 0);
  expectError({w13}, 2, "checkpoint: rank 2 is not in the world of 2");
  expectError({{"w13", DType::F32, {1, 2, 6}}}, 0,
              "checkpoint: argument 'w13' [1, 2, 6] is not this model's "
              "[L, H, 2I'] for hidden size 2, 2 experts of size 2 on 2 "
              "ranks with EP");
  expectError({{"w13", DType::F32, {2, 2, 4}}}, 0,
              "checkpoint: the layer has 4 physical experts for 2 logical "
              "ones: redundant experts (EPLB) need their placement");
  expectError({{"w13", DType::I8, {1, 2, 4}}}, 0,
              "checkpoint: argument 'w13' has element type i8; the loader "
              "fills float arguments (f32, bf16, f16): quantized layers are "
              "not loaded yet");
  expectError({{"w13_scale", DType::F32, {1, 4}}}, 0,
              "checkpoint: argument 'w13_scale' is a quantization scale");
  expectError({{"shared_w13", DType::F32, {2, 6}}}, 0,
              "checkpoint: argument 'shared_w13' [2, 6] is not this model's "
              "shared expert (hidden size 2, intermediate size 2, whole or "
              "split over tp 1)");
  expectError({{"e_score_correction_bias", DType::F32, {3}}}, 0,
              "checkpoint: argument 'e_score_correction_bias' [3] is not "
              "this deepseek_v3 model's");
  expectError({{"shared_expert_gate", DType::F32, {2, 1}}}, 0,
              "checkpoint: argument 'shared_expert_gate' [2, 1] is not "
              "this deepseek_v3 model's");
  expectError({{"e_score_correction_bias", DType::F32, {-1}}}, 0,
              "is not this deepseek_v3 model's");

  // A config whose experts are larger than the checkpoint's tensors.
  writeConfig(path("big.json"), 4);
  auto big = open(path("big.json"));
  ASSERT_TRUE(big);
  std::string error =
      loadError(*big, {{"w13", DType::F32, {1, 2, 8}}}, ep2(), 0);
  EXPECT_NE(error.find("checkpoint: tensor "
                       "'model.layers.1.mlp.experts.0.gate_proj.weight' in '" +
                       path("model.safetensors") +
                       "' (w13 of layer 1, expert 0) is [2, 2] but the "
                       "config.json gives [4, 2]"),
            std::string::npos)
      << error;

  auto noConfig = CheckpointWeights::open(path("model.safetensors"),
                                          path("none.json"));
  ASSERT_FALSE(bool(noConfig));
  EXPECT_NE(llvm::toString(noConfig.takeError())
                .find("checkpoint: no config.json at '" + path("none.json") +
                      "'"),
            std::string::npos);
}

/// Sizes past the copy's 64 x 64 tiles (and not multiples of them): every
/// element of a Mixtral layer with H = 130, I = 70 lands where the HF
/// tensors say, on an EP rank and on a TP rank.
TEST(CheckpointTiles, LargeExpertsLandElementByElement) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("moe-tiles", dir));
  const int H = 130, I = 70;
  // Distinct integers, exact in f32: which 0/1/2 = w1 (gate), w3 (up), w2.
  auto value = [&](int e, int which, int r, int c) {
    return static_cast<float>(((e * 3 + which) * 1000 + r) * 1000 + c);
  };
  std::vector<moetest::StTensor> tensors =
      moetest::mixtralExperts(/*layer=*/0, /*experts=*/2, H, I, value);
  std::string base(dir);
  moetest::writeFile(base + "/model.safetensors", moetest::safetensorsOf(tensors));
  moetest::writeFile(base + "/config.json",
                     R"({"model_type": "mixtral", "num_hidden_layers": 1,
                       "hidden_size": 130, "num_local_experts": 2,
                       "num_experts_per_tok": 2, "intermediate_size": 70,
                       "torch_dtype": "float32"})");
  auto w = CheckpointWeights::open(base);
  ASSERT_TRUE(bool(w)) << llvm::toString(w.takeError());

  // EP: rank 1 holds expert 1 whole.
  auto ep = (*w)->load(0, {{"w13", DType::F32, {1, H, 2 * I}},
                           {"w2", DType::F32, {1, I, H}}},
                       ep2(), 1);
  ASSERT_TRUE(bool(ep)) << llvm::toString(ep.takeError());
  int bad = 0;
  for (int h = 0; h < H; ++h)
    for (int j = 0; j < 2 * I; ++j)
      bad += at(*(*ep)[0], h * 2 * I + j) !=
             value(1, j < I ? 0 : 1, j % I, h);
  for (int i = 0; i < I; ++i)
    for (int h = 0; h < H; ++h)
      bad += at(*(*ep)[1], i * H + h) != value(1, 2, h, i);
  EXPECT_EQ(bad, 0);

  // TP over 2 ranks: rank 1 holds columns [35, 70) of both experts.
  moert::Layout tp2;
  tp2.tp = 2;
  const int P = I / 2;
  auto tp = (*w)->load(0, {{"w13", DType::F32, {2, H, 2 * P}},
                           {"w2", DType::F32, {2, P, H}}},
                       tp2, 1);
  ASSERT_TRUE(bool(tp)) << llvm::toString(tp.takeError());
  for (int e = 0; e < 2; ++e) {
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < 2 * P; ++j)
        bad += at(*(*tp)[0], (e * H + h) * 2 * P + j) !=
               value(e, j < P ? 0 : 1, P + j % P, h);
    for (int i = 0; i < P; ++i)
      for (int h = 0; h < H; ++h)
        bad += at(*(*tp)[1], (e * P + i) * H + h) != value(e, 2, h, P + i);
  }
  EXPECT_EQ(bad, 0);
  llvm::sys::fs::remove_directories(dir);
}

TEST(CheckpointNames, EntryNamesAndConfigPaths) {
  EXPECT_EQ(layerOfEntryName("layer_3"), 3);
  EXPECT_EQ(layerOfEntryName("layer_"), std::nullopt);
  EXPECT_EQ(layerOfEntryName("layer_x"), std::nullopt);
  EXPECT_EQ(layerOfEntryName("main"), std::nullopt);
  EXPECT_TRUE(isCheckpointArgument("w13"));
  EXPECT_TRUE(isCheckpointArgument("shared_w2_scale"));
  EXPECT_TRUE(isCheckpointArgument("e_score_correction_bias"));
  EXPECT_FALSE(isCheckpointArgument("x"));
  EXPECT_FALSE(isCheckpointArgument("log2phy"));
  EXPECT_FALSE(isCheckpointArgument("expert_map"));
  EXPECT_EQ(defaultConfigPath("/nonexistent/model.safetensors"),
            "/nonexistent/config.json");
}

} // namespace
