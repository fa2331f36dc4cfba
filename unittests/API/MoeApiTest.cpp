//===- MoeApiTest.cpp - the C++ embedding API (moe/Moe.h) ----------------===//
//
// The flow of test/CAPI/moe-capi-test.c through moe::api: compile a
// two-rank layer, run each rank from a thread of the test, compare with a
// dense computation; then the error paths.
//
//===----------------------------------------------------------------------===//

#include "moe/Moe.h"
#include "moe/Runtime/MatmulEngine.h"

#include "ApiTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

using namespace moe::api;
using moe::api::test_util::errorOf;
using moe::api::test_util::filledBytes;

namespace {

constexpr int64_t H = 8, I = 4, E = 4; // two experts per rank on 2 ranks

// Expert parallel over dp = 2, top-2 with softmax + renormalization.
const char *kLayer = R"mlir(
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @layer(%x: tensor<?x8xf32> {moe.name = "x"},
                   %logits: tensor<?x4xf32> {moe.name = "logits"},
                   %w13: tensor<2x8x8xf32> {moe.name = "w13"},
                   %w2: tensor<2x4x8xf32> {moe.name = "w2"}) -> tensor<?x8xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
    %wt, %ids = moe.gate %l top_k(2) softmax renormalize
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(4)
        : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>
        -> tensor<2xi64>, !moe.dispatch_ctx<unset>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x8xf32>)
        : tensor<?x8xf32>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x8xf32>, !moe.dispatch_ctx<unset>
    %out = moe.finalize %r, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<unset>
    return %out : tensor<?x8xf32>
  }
}
)mlir";

Tensor random(std::vector<int64_t> shape, std::mt19937 &rng) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = dist(rng);
  return t;
}

struct Case {
  std::vector<std::vector<Tensor>> inputs; // per rank: x, logits, w13, w2
  std::vector<Tensor> expected;            // per rank
};

/// The dense layer on `x`, `logits`: top-2 (ties to the lower id), softmax
/// renormalized over the two, expert e's W13 / W2 from `weightsOf(e)`.
using ExpertWeights = std::pair<const float *, const float *>;
Tensor denseLayer(const Tensor &x, const Tensor &logits,
                  const std::function<ExpertWeights(int)> &weightsOf) {
  Tensor out = Tensor::zeros(DType::F32, {x.dim(0), H});
  for (int64_t t = 0; t < x.dim(0); ++t) {
    const float *l = logits.data<float>() + t * E;
    int a = 0;
    for (int e = 1; e < E; ++e)
      a = l[e] > l[a] ? e : a;
    int b = a == 0 ? 1 : 0;
    for (int e = 0; e < E; ++e)
      b = e != a && l[e] > l[b] ? e : b;
    float pb = std::exp(l[b] - l[a]), wa = 1 / (1 + pb), wb = pb / (1 + pb);
    for (auto [e, w] : {std::pair<int, float>{a, wa}, {b, wb}}) {
      auto [w13, w2] = weightsOf(e);
      const float *xr = x.data<float>() + t * H;
      for (int64_t h = 0; h < H; ++h) {
        float y = 0;
        for (int64_t j = 0; j < I; ++j) {
          float gate = 0, up = 0;
          for (int64_t k = 0; k < H; ++k) {
            gate += xr[k] * w13[k * 2 * I + j];
            up += xr[k] * w13[k * 2 * I + I + j];
          }
          y += gate / (1 + std::exp(-gate)) * up * w2[j * H + h];
        }
        out.data<float>()[t * H + h] += w * y;
      }
    }
  }
  return out;
}

/// Inputs of both ranks and the dense result: expert e lives on rank e / 2
/// at local index e % 2.
Case makeCase(const std::vector<int64_t> &tokens) {
  std::mt19937 rng(3);
  Case c;
  for (int64_t t : tokens)
    c.inputs.push_back({random({t, H}, rng), random({t, E}, rng),
                        random({2, H, 2 * I}, rng), random({2, I, H}, rng)});
  for (const std::vector<Tensor> &in : c.inputs)
    c.expected.push_back(denseLayer(in[0], in[1], [&](int e) {
      const std::vector<Tensor> &owner = c.inputs[e / 2];
      return ExpertWeights{owner[2].data<float>() + (e % 2) * H * 2 * I,
                           owner[3].data<float>() + (e % 2) * I * H};
    }));
  return c;
}

void expectNear(const Tensor &got, const Tensor &want) {
  ASSERT_EQ(got.dtype, DType::F32);
  ASSERT_EQ(got.shape, want.shape);
  for (int64_t i = 0; i < want.numel(); ++i)
    EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-5) << i;
}

TEST(MoeApi, CompileAndRunTwoRanksFromOwnThreads) {
  Compiler compiler;
  CompileOptions options;
  options.set("policy", "fixed").set("method", "alltoall");
  Executable exe = compiler.compile(kLayer, options);
  ASSERT_EQ(exe.arguments().size(), 4u);
  EXPECT_EQ(exe.arguments()[2].name, "w13");
  EXPECT_EQ(exe.arguments()[0].shape, (std::vector<int64_t>{-1, H}));
  EXPECT_EQ(exe.results()[0].type, "tensor<?x8xf32>");
  EXPECT_EQ(exe.layout().worldSize(), 2);

  Case c = makeCase({5, 2});
  World world(exe, 2);
  std::vector<std::vector<Tensor>> results(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        results[r] = exe.run(world, r, c.inputs[r]);
      } catch (const Error &e) {
        errors[r] = e.what();
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(errors[r], "") << "rank " << r;
    ASSERT_EQ(results[r].size(), 1u);
    expectNear(results[r][0], c.expected[r]);
  }
  // The same world runs the layer again (and another executable with the
  // same layout), here through runAll with borrowed inputs.
  Executable mc2 = compiler.compile(kLayer, [] {
    CompileOptions o;
    o.pipeline = "moe-compile{policy=fixed method=mc2}";
    return o;
  }());
  std::vector<std::vector<Tensor>> borrowed;
  for (const std::vector<Tensor> &in : c.inputs) {
    borrowed.emplace_back();
    for (const Tensor &t : in)
      borrowed.back().push_back(borrow(t.bytes(), t.dtype, t.shape));
  }
  std::vector<std::vector<Tensor>> again = world.runAll(mc2, borrowed);
  for (int r = 0; r < 2; ++r)
    expectNear(again[r][0], c.expected[r]);
  EXPECT_FALSE(world.failed());
}

TEST(MoeApi, OptionsSpellThePipeline) {
  CompileOptions o;
  EXPECT_EQ(o.pipelineText(), "moe-compile");
  o.set("policy", "fixed").set("method", "mc2").set("fuse-quant", "false");
  o.set("method", "alltoall"); // replaces, keeps the position
  EXPECT_EQ(o.pipelineText(),
            "moe-compile{policy=fixed method=alltoall fuse-quant=false}");
  o.pipeline = "";
  EXPECT_EQ(o.pipelineText(), "");
  EXPECT_EQ(apiVersion(), kVersion);
}

/// A valid value of `info` other than its default.
static std::string otherValue(const CompileOptionInfo &info) {
  for (const std::string &v : info.allowed)
    if (v != info.defaultValue && v != "unset")
      return v;
  if (info.type == "bool")
    return info.defaultValue == "true" ? "false" : "true";
  return std::to_string(std::stoll(info.defaultValue) + 1);
}

/// Whether `pass{...}` in a printed pipeline holds `setting`.
static bool passHas(const std::string &pipeline, const std::string &pass,
                    const std::string &setting) {
  size_t at = pipeline.find(pass + "{");
  if (at == std::string::npos)
    return false;
  size_t begin = at + pass.size(), end = pipeline.find('}', begin);
  std::string options = " " + pipeline.substr(begin + 1, end - begin - 1) + " ";
  return options.find(" " + setting + " ") != std::string::npos;
}

// Every option of moe-compile (the generated list, which test/CAPI checks
// against moe-opt --help) can be set from C++, reaches its pass, and a bad
// value is refused with the option parser's message.
TEST(MoeApi, EveryCompileOptionReachesItsPass) {
  std::vector<CompileOptionInfo> infos = compileOptionInfos();
  ASSERT_GE(infos.size(), 19u);
  std::string defaults = CompileOptions().passPipeline();
  for (const CompileOptionInfo &info : infos) {
    SCOPED_TRACE(info.name);
    std::string value = otherValue(info);
    CompileOptions o;
    o.set(info.name, value);
    std::string pipeline = o.passPipeline();
    if (info.pass.empty())
      EXPECT_NE(pipeline, defaults);
    else
      EXPECT_TRUE(passHas(pipeline, info.pass, info.name + "=" + value))
          << pipeline;
    std::string bad = info.allowed.empty()
                          ? (info.type == "bool" ? "maybe" : "abc")
                          : "bogus";
    Error error = Error(Error::Run, "no error");
    try {
      o.set(info.name, bad);
    } catch (const Error &e) {
      error = e;
    }
    EXPECT_EQ(error.kind(), Error::InvalidArgument);
    EXPECT_EQ(std::string(error.what()).rfind("for the --" + info.name +
                                                  " option: ",
                                              0),
              0u)
        << error.what();
    // The refused value left the options as they were.
    EXPECT_EQ(o.values().size(), 1u);
    EXPECT_EQ(o.values()[0].second, value);
  }
  // A flag alone ("") means true.
  CompileOptions fixed;
  fixed.set("policy", "fixed").set("method", "mc2").set("lora", "");
  EXPECT_NE(fixed.passPipeline().find("lora=true"), std::string::npos);
}

// The source is the view's bytes only: what follows them in memory (here
// text that does not parse, and no NUL) is not read. MLIR's lexer runs to a
// NUL, so the compiler parses a NUL-terminated copy.
TEST(MoeApi, CompileReadsOnlyTheSourceView) {
  Compiler compiler;
  std::string text = std::string(kLayer) + "\n} garbage $$ {";
  std::vector<char> bytes(text.begin(), text.end()); // no NUL after it
  Executable exe =
      compiler.compile(std::string_view(bytes.data(), std::strlen(kLayer)));
  EXPECT_EQ(exe.arguments().size(), 4u);
}

TEST(MoeApi, CompileErrorsCarryDiagnostics) {
  Compiler compiler;
  Error parse = errorOf([&] { compiler.compile("module {"); });
  EXPECT_EQ(parse.kind(), Error::Compile);
  EXPECT_NE(std::string(parse.what()).find("<source>:1:"), std::string::npos)
      << parse.what();
  CompileOptions bad;
  bad.pipeline = "moe-compile{policy=nonsense";
  Error pipeline = errorOf([&] { compiler.compile(kLayer, bad); });
  EXPECT_EQ(pipeline.kind(), Error::Compile);
  EXPECT_NE(std::string(pipeline.what()).find("bad pipeline"),
            std::string::npos)
      << pipeline.what();
  Error file = errorOf([&] { compiler.compileFile("/nonexistent.mlir"); });
  EXPECT_EQ(file.kind(), Error::InvalidArgument);
  // Input MLIR 19's parser crashes on is a diagnostic at the use
  // (moe/Support/ParserHazards.h).
  Error hazard = errorOf([&] {
    compiler.compile(
        "func.func @f(%x: index) -> index {\n"
        "  %c0 = arith.constant 0 : index\n"
        "  %c1 = arith.constant 1 : index\n"
        "  scf.for %i = %c0 to %n step %c1 {\n"
        "    %n = arith.constant 4 : index\n"
        "  }\n"
        "  return %x : index\n"
        "}\n");
  });
  EXPECT_EQ(hazard.kind(), Error::Compile);
  EXPECT_NE(std::string(hazard.what())
                .find("<source>:4:23: error: '%n' is used before its "
                      "definition inside a region of the op that uses it"),
            std::string::npos)
      << hazard.what();
}

TEST(MoeApi, RunErrorsFailTheWorldInsteadOfHanging) {
  Compiler compiler;
  Executable exe = compiler.compile(kLayer);
  Error ranks = errorOf([&] { World w(exe, 4); });
  EXPECT_EQ(ranks.kind(), Error::InvalidArgument);
  EXPECT_STREQ(ranks.what(), "a world of 4 ranks does not match the layout's "
                             "tp * dp = 2 (tp 1, dp 2, expert parallel)");

  Case c = makeCase({3, 1});
  World world(exe, 2, WorldOptions{/*timeoutSeconds=*/30, 1});
  Error range = errorOf([&] { exe.run(world, 7, c.inputs[0]); });
  EXPECT_EQ(range.kind(), Error::InvalidArgument);
  EXPECT_FALSE(world.failed());

  // Rank 0 passes logits of the wrong width; rank 1 must not wait forever.
  c.inputs[0][1] = Tensor::zeros(DType::F32, {3, 5});
  Error rank0 = Error(Error::Run, ""), rank1 = Error(Error::Run, "");
  std::thread peer(
      [&] { rank1 = errorOf([&] { exe.run(world, 1, c.inputs[1]); }); });
  rank0 = errorOf([&] { exe.run(world, 0, c.inputs[0]); });
  peer.join();
  EXPECT_EQ(rank0.kind(), Error::InvalidArgument);
  EXPECT_STREQ(rank0.what(), "rank 0: input 'logits' is tensor<3x5xf32> but "
                             "the argument is tensor<?x4xf32>");
  EXPECT_EQ(rank1.kind(), Error::Run);
  EXPECT_NE(std::string(rank1.what()).find("rank 0 failed: input 'logits'"),
            std::string::npos)
      << rank1.what();
  EXPECT_TRUE(world.failed());
}

TEST(MoeApi, NanInputsFailTheRunUnlessCheckFiniteIsOff) {
  // docs/Reliability.md, "NaN and Inf": a NaN hidden state on rank 1 fails
  // both ranks, naming rank 1's input and row; with checkFinite off it
  // propagates into that token's output only.
  Compiler compiler;
  Executable exe = compiler.compile(kLayer);
  Case c = makeCase({2, 3});
  Tensor x = copyOf(c.inputs[1][0].bytes(), DType::F32, {3, H});
  x.data<float>()[2 * H + 1] = std::nanf("");
  c.inputs[1][0] = x;
  World world(exe, 2);
  Error failed = errorOf([&] { world.runAll(exe, c.inputs); });
  EXPECT_EQ(failed.kind(), Error::Run);
  EXPECT_NE(std::string(failed.what())
                .find("rank 1: input 0 'x' (tensor<3x8xf32>): row 2 holds nan "
                      "(element [2, 1])"),
            std::string::npos)
      << failed.what();

  World lenient(exe, 2, [] {
    WorldOptions o;
    o.checkFinite = false;
    return o;
  }());
  std::vector<std::vector<Tensor>> out = lenient.runAll(exe, c.inputs);
  expectNear(out[0][0], c.expected[0]);
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t h = 0; h < H; ++h) {
      float v = out[1][0].data<float>()[t * H + h];
      if (t == 2)
        EXPECT_TRUE(std::isnan(v)) << h;
      else
        EXPECT_NEAR(v, c.expected[1].data<float>()[t * H + h], 1e-5);
    }
}

TEST(MoeApi, WorldLayoutMustMatchTheExecutable) {
  Compiler compiler;
  Executable exe = compiler.compile(kLayer);
  Layout other;
  other.tp = 2;
  World world(other);
  Case c = makeCase({1, 1});
  Error e = errorOf([&] { exe.run(world, 0, c.inputs[0]); });
  EXPECT_EQ(e.kind(), Error::InvalidArgument);
  EXPECT_NE(std::string(e.what()).find("compiled for tp 1, dp 2"),
            std::string::npos)
      << e.what();
}

} // namespace

namespace {
// fp8 weights the way checkpoints ship them: f8E4M3FN tensors of bit
// patterns with one f32 scale per output channel (docs/Quantization.md).
const char *kFp8Layer = R"mlir(
module attributes {moe.chip = #moe.chip<A3>,
                   moe.layout = #moe.layout<tp = 1, dp = 1>} {
  func.func @layer(%x: tensor<?x8xf32> {moe.name = "x"},
                   %logits: tensor<?x2xf32> {moe.name = "logits"},
                   %w13: tensor<2x8x8xf8E4M3FN> {moe.name = "w13"},
                   %w2: tensor<2x4x8xf8E4M3FN> {moe.name = "w2"},
                   %s13: tensor<2x1x8xf32> {moe.name = "w13_scale"},
                   %s2: tensor<2x1x8xf32> {moe.name = "w2_scale"}) -> tensor<?x8xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x8xf32>, tensor<?x2xf32> -> !moe.prepare_ctx<allgather>
    %wt, %ids = moe.gate %l top_k(1) softmax renormalize
        : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(2)
        : tensor<?x8xf32>, tensor<?x1xf32>, tensor<?x1xi32>
        -> tensor<2xi64>, !moe.dispatch_ctx<allgather>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<2x8x8xf8E4M3FN>, tensor<2x4x8xf8E4M3FN>)
        scales(%s13, %s2 : tensor<2x1x8xf32>, tensor<2x1x8xf32>)
        quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>,
               w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>>
        : tensor<?x8xf32>, tensor<2xi64>
    %r = moe.combine %y, %dctx : tensor<?x8xf32>, !moe.dispatch_ctx<allgather>
    %out = moe.finalize %r, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
    return %out : tensor<?x8xf32>
  }
}
)mlir";

} // namespace

TEST(MoeApi, Fp8WeightsAreBitPatternTensors) {
  Compiler compiler;
  Executable exe = compiler.compile(kFp8Layer);
  World world(exe, 1);
  // One token x = e0 * 448 (its per-token fp8 scale is 1), routed to
  // expert 0 with weight 1 (top-1, renormalized). Every weight is code 0x38 = 1.0 with scale 0.5: the gate and
  // up columns are x[0] * 0.5 = 224, fp8-exact; a = silu(224) * 224 =
  // 50176 exactly in f32, whose per-token scale 112 maps it to 448; every
  // output is 4 * 50176 * 0.5 = 100352.
  Tensor x = Tensor::zeros(DType::F32, {1, 8});
  x.data<float>()[0] = 448.0f;
  Tensor logits = Tensor::zeros(DType::F32, {1, 2});
  logits.data<float>()[0] = 1.0f;
  Tensor s13 = Tensor::empty(DType::F32, {2, 1, 8});
  Tensor s2 = Tensor::empty(DType::F32, {2, 1, 8});
  for (int64_t i = 0; i < 16; ++i)
    s13.data<float>()[i] = s2.data<float>()[i] = 0.5f;
  std::vector<Tensor> in = {x, logits,
                            filledBytes(DType::F8E4M3FN, {2, 8, 8}, 0x38),
                            filledBytes(DType::F8E4M3FN, {2, 4, 8}, 0x38),
                            s13, s2};
  std::vector<Tensor> out = exe.run(world, 0, in);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{1, 8}));
  for (int64_t i = 0; i < 8; ++i)
    EXPECT_EQ(out[0].data<float>()[i], 100352.0f) << i;

  // An int8 tensor where the layer takes fp8 is named with both types.
  in[2] = filledBytes(DType::I8, {2, 8, 8}, 0x38);
  Error wrong = errorOf([&] { exe.run(world, 0, in); });
  EXPECT_EQ(wrong.kind(), Error::InvalidArgument);
  EXPECT_STREQ(wrong.what(), "rank 0: input 'w13' is tensor<2x8x8xi8> but "
                             "the argument is tensor<2x8x8xf8E4M3FN>");
}

namespace {

// Dynamic EPLB through the C++ API (docs/Eplb.md): 4 experts + 2
// redundant on 2 ranks (3 slots each), every token's logits favour expert
// 3, which only rank 1 holds. Each step must equal the dense layer of the
// logical weights; the commit splits expert 3 over two ranks.
const char *kEplbLayer = R"mlir(
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @layer(%x: tensor<?x8xf32> {moe.name = "x"},
                   %logits: tensor<?x4xf32> {moe.name = "logits"},
                   %l2p: tensor<4xi32> {moe.name = "log2phy"},
                   %map: tensor<6xi32> {moe.name = "expert_map"},
                   %w13: tensor<3x8x8xf32> {moe.name = "w13"},
                   %w2: tensor<3x4x8xf32> {moe.name = "w2"}) -> tensor<?x8xf32> {
    %h, %l, %pctx = moe.prepare %x, %logits
        : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<alltoall>
    %wt, %ids = moe.gate %l top_k(2) softmax renormalize
        : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %rows, %counts, %dctx = moe.dispatch %h, %wt, %ids experts(4 + 2)
        log2phy(%l2p : tensor<4xi32>) expert_map(%map : tensor<6xi32>)
        : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>
        -> tensor<3xi64>, !moe.dispatch_ctx<alltoall>
    %y = moe.experts %rows, %counts
        weights(%w13, %w2 : tensor<3x8x8xf32>, tensor<3x4x8xf32>)
        : tensor<?x8xf32>, tensor<3xi64>
    %r = moe.combine %y, %dctx : tensor<?x8xf32>, !moe.dispatch_ctx<alltoall>
    %out = moe.finalize %r, %pctx : tensor<?x8xf32>, !moe.prepare_ctx<alltoall>
    return %out : tensor<?x8xf32>
  }
}
)mlir";

Tensor i32Vector(std::vector<int32_t> v) {
  return copyOf(v.data(), DType::I32, {static_cast<int64_t>(v.size())});
}

TEST(MoeApi, RebalanceExpertsBetweenSteps) {
  Compiler compiler;
  Executable exe = compiler.compile(kEplbLayer);
  std::mt19937 rng(5);
  Tensor w13 = random({E, H, 2 * I}, rng), w2 = random({E, I, H}, rng);
  // Rank 0 holds experts 0 1 2, rank 1 holds 3 0 1.
  std::vector<std::vector<int>> slots = {{0, 1, 2}, {3, 0, 1}};
  std::vector<std::vector<Tensor>> inputs(2);
  for (int r = 0; r < 2; ++r) {
    Tensor x = random({r == 0 ? 6 : 9, H}, rng);
    Tensor logits = random({x.dim(0), E}, rng);
    for (int64_t t = 0; t < x.dim(0); ++t)
      logits.data<float>()[t * E + 3] += 2; // every token picks expert 3
    Tensor lw13 = Tensor::empty(DType::F32, {3, H, 2 * I});
    Tensor lw2 = Tensor::empty(DType::F32, {3, I, H});
    for (int j = 0; j < 3; ++j) {
      std::copy_n(w13.data<float>() + slots[r][j] * H * 2 * I, H * 2 * I,
                  lw13.data<float>() + j * H * 2 * I);
      std::copy_n(w2.data<float>() + slots[r][j] * I * H, I * H,
                  lw2.data<float>() + j * I * H);
    }
    inputs[r] = {x,
                 logits,
                 r == 0 ? i32Vector({0, 1, 2, 3}) : i32Vector({4, 5, 2, 3}),
                 r == 0 ? i32Vector({0, 1, 2, -1, -1, -1})
                        : i32Vector({-1, -1, -1, 0, 1, 2}),
                 lw13,
                 lw2};
  }
  auto logical = [&](int e) {
    return ExpertWeights{w13.data<float>() + e * H * 2 * I,
                         w2.data<float>() + e * I * H};
  };
  World world(exe, 2);
  // The load step's warm-up run records no expert load: step 0's report
  // below counts one step's rows (30), not two.
  world.loadAll(exe, inputs);
  std::vector<double> imbalances;
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<Tensor>> out = world.runAll(exe, inputs);
    for (int r = 0; r < 2; ++r)
      expectNear(out[r][0], denseLayer(inputs[r][0], inputs[r][1], logical));
    moert::EplbReport report = world.rebalanceExperts(exe, inputs);
    EXPECT_EQ(report.error, "");
    // Every token sends two rows: 30 in all.
    EXPECT_EQ(report.rankLoad[0] + report.rankLoad[1], 30);
    imbalances.push_back(report.imbalance);
  }
  // Step 0: expert 3 (15 rows) only on rank 1. Then it has a replica on
  // each rank and each rank's tokens use their own.
  EXPECT_GT(imbalances[0], imbalances[1]);
  EXPECT_EQ(imbalances[1], imbalances[2]);
  // Both ranks hold expert 3 now.
  auto holds3 = [&](int r) {
    const Tensor &map = inputs[r][3], &table = inputs[r][2];
    int32_t p = table.data<int32_t>()[3];
    return map.data<int32_t>()[p] >= 0;
  };
  EXPECT_TRUE(holds3(0));
  EXPECT_TRUE(holds3(1));
}

TEST(MoeApi, RebalanceExpertsNeedsTheTables) {
  Compiler compiler;
  Executable exe = compiler.compile(kLayer);
  World world(exe, 2);
  std::vector<std::vector<Tensor>> inputs = makeCase({1, 1}).inputs;
  try {
    world.rebalanceExperts(exe, inputs);
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), Error::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'log2phy' and 'expert_map'"),
              std::string::npos);
  }
}

} // namespace

TEST(MoeApi, WriteTraceOfEveryRankAndStream) {
  // docs/Streams.md, "Timeline": WorldOptions::trace records every run; the
  // file holds a process per rank and the layer's collectives as spans
  // (scripts/reference/check_trace.py checks the format itself, from
  // Python, in test/Python).
  Compiler compiler;
  CompileOptions options;
  options.set("policy", "fixed").set("method", "alltoall");
  Executable exe = compiler.compile(kLayer, options);
  Case c = makeCase({3, 1});
  World world(exe, 2, [] {
    WorldOptions o;
    o.trace = true;
    return o;
  }());
  world.runAll(exe, c.inputs);
  world.runAll(exe, c.inputs);
  std::string path = ::testing::TempDir() + "moe-api-trace.json";
  world.writeTrace(path);
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  auto count = [&](const std::string &needle) {
    int n = 0;
    const std::string s = text.str();
    for (size_t at = s.find(needle); at != std::string::npos;
         at = s.find(needle, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(text.str().rfind("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", 0),
            0u)
      << text.str().substr(0, 80);
  EXPECT_EQ(count("\"process_name\""), 2);
  // Two all-to-alls per run (dispatch and combine), two runs, two ranks.
  EXPECT_EQ(count("\"npu.all_to_all_v\""), 8);
  std::remove(path.c_str());

  World untraced(exe, 2);
  Error none = errorOf([&] { untraced.writeTrace(path); });
  EXPECT_EQ(none.kind(), Error::InvalidArgument);
  EXPECT_EQ(std::string(none.what()),
            "writeTrace: the world records no trace (WorldOptions::trace)");
}

/// kLayer compiled for allgather, and a case of 4 tokens per rank whose
/// w13 every rank owns (tests write NaNs into it in place).
static std::pair<Executable, Case> allgatherLayerOwningW13() {
  Compiler compiler;
  CompileOptions options;
  options.set("policy", "fixed").set("method", "allgather");
  Executable exe = compiler.compile(kLayer, options);
  Case c = makeCase({4, 4});
  for (std::vector<Tensor> &in : c.inputs)
    in[2] = copyOf(in[2].bytes(), DType::F32, in[2].shape);
  return {exe, c};
}

TEST(MoeApi, InputsAreScannedForNanOncePerTensor) {
  // docs/Reliability.md, "NaN and Inf": an input tensor is scanned the
  // first time a rank sees it; a NaN written into it in place afterwards
  // fails the op that reads it, and a new tensor is scanned again.
  std::pair<Executable, Case> setup = allgatherLayerOwningW13();
  Executable &exe = setup.first;
  Case &c = setup.second;
  World world(exe, 2);
  std::vector<std::vector<Tensor>> out = world.runAll(exe, c.inputs);
  expectNear(out[0][0], c.expected[0]);
  // Every element of rank 0's w13 becomes NaN, in place.
  for (int64_t i = 0; i < c.inputs[0][2].numel(); ++i)
    c.inputs[0][2].data<float>()[i] = std::nanf("");
  Error inPlace = errorOf([&] { world.runAll(exe, c.inputs); });
  EXPECT_EQ(inPlace.kind(), Error::Run);
  EXPECT_EQ(std::string(inPlace.what()).find("input 2 'w13'"),
            std::string::npos)
      << inPlace.what();
  EXPECT_NE(std::string(inPlace.what())
                .find("rank 0: result 0 (tensor<6x8xf32>) is not finite: row 0 "
                      "holds nan (element [0, 0]) (npu.grouped_matmul at "),
            std::string::npos)
      << inPlace.what();

  World fresh(exe, 2);
  c.inputs[0][2] = copyOf(c.inputs[0][2].bytes(), DType::F32,
                          c.inputs[0][2].shape);
  Error scanned = errorOf([&] { fresh.runAll(exe, c.inputs); });
  EXPECT_NE(std::string(scanned.what())
                .find("rank 0: input 2 'w13' (tensor<2x8x8xf32>): row 0 holds "
                      "nan (element [0, 0, 0])"),
            std::string::npos)
      << scanned.what();
}

TEST(MoeApi, LoadScansAndCalibratesBeforeTheFirstRun) {
  // docs/Runtime.md, "Load time": loadAll scans the inputs and calibrates
  // the planner, so the first run neither scans the weights again nor
  // times an engine.
  std::pair<Executable, Case> setup = allgatherLayerOwningW13();
  Executable &exe = setup.first;
  Case &c = setup.second;

  moert::MatmulEngine previous = moert::matmulEngine();
  moert::setMatmulEngine(moert::MatmulEngine::Auto);
  moert::clearMatmulPlan();
  World world(exe, 2);
  world.loadAll(exe, c.inputs, /*maxTokensPerRank=*/4);
  size_t planned = moert::matmulPlan().size();
  EXPECT_GT(planned, 0u);
  EXPECT_EQ(exe.calibrate(world, 4), 0); // calibrated already
  std::vector<std::vector<Tensor>> out = world.runAll(exe, c.inputs);
  expectNear(out[0][0], c.expected[0]);
  expectNear(out[1][0], c.expected[1]);
  EXPECT_EQ(moert::matmulPlan().size(), planned); // nothing timed in the run

  // The load scanned w13: a NaN written into it in place since fails the
  // op that reads it, not the input scan.
  World loaded(exe, 2);
  loaded.loadAll(exe, c.inputs);
  c.inputs[0][2].data<float>()[0] = std::nanf("");
  Error inPlace = errorOf([&] { loaded.runAll(exe, c.inputs); });
  EXPECT_EQ(inPlace.kind(), Error::Run);
  EXPECT_EQ(std::string(inPlace.what()).find("input 2 'w13'"),
            std::string::npos)
      << inPlace.what();
  EXPECT_NE(std::string(inPlace.what()).find("is not finite"),
            std::string::npos)
      << inPlace.what();
  // A world that did not load it scans it at load time.
  World fresh(exe, 2);
  Error scanned = errorOf([&] { fresh.loadAll(exe, c.inputs); });
  EXPECT_EQ(scanned.kind(), Error::Run);
  EXPECT_NE(std::string(scanned.what())
                .find("rank 0: input 2 'w13' (tensor<2x8x8xf32>): row 0 holds "
                      "nan (element [0, 0, 0])"),
            std::string::npos)
      << scanned.what();
  Error wrong = errorOf([&] { exe.calibrate(fresh, -1); });
  EXPECT_EQ(wrong.kind(), Error::InvalidArgument);
  EXPECT_EQ(std::string(wrong.what()),
            "calibrate: maxTokensPerRank must not be negative, got -1");
  World single(Layout{}); // tp 1, dp 1: not the executable's layout
  Error layout = errorOf([&] { exe.calibrate(single, 4); });
  EXPECT_EQ(layout.kind(), Error::InvalidArgument);
  EXPECT_EQ(std::string(layout.what()),
            "calibrate: the executable was compiled for tp 1, dp 2, expert "
            "parallel, the world has tp 1, dp 1");
  Error sets = errorOf([&] { fresh.loadAll(exe, {c.inputs[0]}); });
  EXPECT_EQ(std::string(sets.what()), "loadAll: 1 input sets for 2 ranks");
  moert::clearMatmulPlan();
  moert::setMatmulEngine(previous);
}
