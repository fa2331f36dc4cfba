//===- KernelsMatmulTest.cpp - grouped and dense matmuls ------------------===//
//
// Every engine (row-streaming and panel kernels, oneDNN for many f32 rows,
// int8 and int4 kernels, the vpdpbusd kernel) against naive loops, under
// every kernel variant (CpuIsa.h) this CPU supports, each engine forced
// (MatmulEngine.h) and with the planner, plus the error paths.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/MatmulEngine.h"
#include "moe/Runtime/Parallel.h"

#include <cmath>
#include <cstdio>
#include <fstream>

using namespace moert;
using namespace moert::test;

namespace {

/// Naive grouped matmul in double (float) or int64 (int) with the
/// documented epilogues.
std::vector<double> reference(const Tensor &x, const Tensor &w,
                              const std::vector<int64_t> &ends,
                              MatmulQuant quant, const float *scale,
                              const float *perToken, const Tensor *groupScale) {
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(2);
  std::vector<double> out(m * n, 0.0);
  std::vector<float> xf, wf;
  if (quant == MatmulQuant::None) {
    xf = floats(x);
    wf = floats(w);
  }
  int64_t blocks = groupScale ? groupScale->dim(1) : 1, gs = k / blocks;
  for (int64_t g = 0, r = 0; g < static_cast<int64_t>(ends.size());
       r = ends[g++]) {
    for (int64_t i = r; i < ends[g]; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double v = 0;
        if (quant == MatmulQuant::None) {
          for (int64_t c = 0; c < k; ++c)
            v += double(xf[i * k + c]) * wf[(g * k + c) * n + j];
        } else {
          float f = 0;
          for (int64_t b = 0; b < blocks; ++b) {
            int64_t acc = 0;
            for (int64_t c = b * gs; c < (b + 1) * gs; ++c) {
              int64_t wi = (g * k + c) * n + j;
              int wv = w.dtype == DType::I4 ? getI4(w.bytes(), wi)
                                            : w.data<int8_t>()[wi];
              acc += int64_t(x.data<int8_t>()[i * k + c]) * wv;
            }
            if (!groupScale) {
              v = static_cast<double>(acc);
              break;
            }
            f += static_cast<float>(acc) *
                 groupScale->data<float>()[(g * blocks + b) * n + j];
          }
          if (groupScale)
            v = f;
          if (perToken)
            v = static_cast<float>(v) * perToken[i];
          if (scale)
            v = static_cast<float>(v) * scale[g * n + j];
        }
        out[i * n + j] = v;
      }
    }
  }
  return out;
}

void expectClose(const std::vector<float> &got, const std::vector<double> &want,
                 double rel, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double norm = 0;
  for (double v : want)
    norm = std::max(norm, std::fabs(v));
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (std::fabs(got[i] - want[i]) > rel * std::max(1.0, norm)) {
      ADD_FAILURE() << what << " element " << i << ": " << got[i]
                    << " vs " << want[i];
      ++bad;
    }
}

std::vector<int64_t> randomCounts(std::mt19937 &rng, int64_t groups,
                                  int64_t maxRows) {
  std::uniform_int_distribution<int64_t> d(0, maxRows);
  std::vector<int64_t> c(groups);
  for (auto &v : c)
    v = d(rng);
  return c;
}

std::vector<int64_t> cumsum(const std::vector<int64_t> &c) {
  std::vector<int64_t> e(c.size());
  int64_t s = 0;
  for (size_t i = 0; i < c.size(); ++i)
    e[i] = s += c[i];
  return e;
}

struct Shape {
  int64_t groups, maxRows, k, n, extraRows;
};
// Row counts cover the micro-kernel tiles (1..8 rows, remainders), the oneDNN
// threshold and the row chunks; K and N cover odd sizes, partial strips
// and several column panels.
const Shape kShapes[] = {
    {3, 5, 17, 9, 2},  {4, 7, 64, 48, 0},   {2, 40, 33, 300, 3},
    {1, 70, 128, 16, 0}, {5, 1, 256, 520, 1}, {2, 600, 40, 24, 0},
};

/// Kernel threads x kernel variant x engine policy (a forced engine runs
/// every block it can; the others take the fixed rule).
class MatmulThreads : public KernelConfigTest {};

TEST_P(MatmulThreads, FloatMatchesNaive) {
  std::mt19937 rng(1);
  for (const Shape &s : kShapes) {
    for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
      std::vector<int64_t> counts = randomCounts(rng, s.groups, s.maxRows);
      std::vector<int64_t> ends = cumsum(counts);
      int64_t m = ends.back() + s.extraRows;
      DType xt = wt == DType::F32 ? DType::F32 : DType::BF16;
      Tensor x = randomFloat(rng, xt, {m, s.k});
      Tensor w = randomFloat(rng, wt, {s.groups, s.k, s.n});
      Tensor out = groupedMatmul(x, w, i64({s.groups}, counts), {},
                                 MatmulQuant::None, GroupListType::Count,
                                 DType::F32);
      ASSERT_EQ(out.shape, (std::vector<int64_t>{m, s.n}));
      expectClose(floats(out),
                  reference(x, w, ends, MatmulQuant::None, nullptr, nullptr,
                            nullptr),
                  1e-5, "k=" + std::to_string(s.k) + " n=" +
                            std::to_string(s.n) + " " + dtypeName(wt));
    }
  }
}

TEST_P(MatmulThreads, W8A8ExactAccumulator) {
  std::mt19937 rng(2);
  for (const Shape &s : kShapes) {
    std::vector<int64_t> counts = randomCounts(rng, s.groups, s.maxRows);
    std::vector<int64_t> ends = cumsum(counts);
    int64_t m = ends.back() + s.extraRows;
    // Full int8 ranges: the worst case for 16-bit intermediate saturation.
    Tensor x = randomInt(rng, DType::I8, {m, s.k}, -127, 127);
    Tensor w = randomInt(rng, DType::I8, {s.groups, s.k, s.n}, -128, 127);
    Tensor raw = groupedMatmul(x, w, i64({s.groups}, ends), {},
                               MatmulQuant::W8A8, GroupListType::Cumsum,
                               DType::I32);
    std::vector<double> want = reference(x, w, ends, MatmulQuant::W8A8,
                                         nullptr, nullptr, nullptr);
    std::vector<int32_t> got = values<int32_t>(raw);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], static_cast<int32_t>(want[i])) << "element " << i;

    Tensor scale = randomFloat(rng, DType::F32, {s.groups, s.n});
    Tensor perToken = randomFloat(rng, DType::F32, {m});
    MatmulScales sc{&scale, &perToken, nullptr};
    Tensor deq = groupedMatmul(x, w, i64({s.groups}, ends), sc,
                               MatmulQuant::W8A8, GroupListType::Cumsum,
                               DType::F32);
    std::vector<double> wantDeq =
        reference(x, w, ends, MatmulQuant::W8A8, scale.data<float>(),
                  perToken.data<float>(), nullptr);
    std::vector<float> gotDeq = floats(deq);
    for (size_t i = 0; i < gotDeq.size(); ++i)
      ASSERT_EQ(gotDeq[i], static_cast<float>(wantDeq[i])) << i;
  }
}

TEST_P(MatmulThreads, W4A8GroupScales) {
  std::mt19937 rng(3);
  const Shape shapes[] = {{2, 6, 64, 34, 1}, {3, 20, 96, 16, 0},
                          {1, 300, 512, 40, 0}, {2, 3, 12, 7, 0}};
  for (const Shape &s : shapes) {
    std::vector<int64_t> counts = randomCounts(rng, s.groups, s.maxRows);
    std::vector<int64_t> ends = cumsum(counts);
    int64_t m = ends.back() + s.extraRows, blocks = s.k >= 64 ? 4 : 3;
    Tensor x = randomInt(rng, DType::I8, {m, s.k}, -127, 127);
    Tensor w = randomInt(rng, DType::I4, {s.groups, s.k, s.n}, -8, 7);
    Tensor gsc = randomFloat(rng, DType::F32, {s.groups, blocks, s.n});
    Tensor scale = randomFloat(rng, DType::F32, {s.groups, s.n});
    Tensor perToken = randomFloat(rng, DType::F32, {m});
    MatmulScales sc{&scale, &perToken, &gsc};
    Tensor out = groupedMatmul(x, w, i64({s.groups}, counts), sc,
                               MatmulQuant::W4A8, GroupListType::Count,
                               DType::F32);
    std::vector<double> want =
        reference(x, w, ends, MatmulQuant::W4A8, scale.data<float>(),
                  perToken.data<float>(), &gsc);
    // Exact i32 blocks; the f32 block sum may use FMA contraction.
    expectClose(floats(out), want, 1e-5, "w4a8 k=" + std::to_string(s.k));
  }
}

/// One group of int8 rows `x` [m, k] against the int4 weight `w` [1, k, n]
/// through w4a8 with unit group scales in `blocks` K blocks (and the
/// kernel form's bias, x - 8, when `withBias`): exactly the integer
/// products (the sums stay below 2^24).
void expectExactW4A8(const Tensor &x, const Tensor &w, int64_t blocks,
                     bool withBias, const std::string &label) {
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(2);
  Tensor gsc = Tensor::zeros(DType::F32, {1, blocks, n});
  for (int64_t i = 0; i < gsc.numel(); ++i)
    gsc.data<float>()[i] = 1.0f;
  Tensor bias = Tensor::zeros(DType::F32, {1, n});
  MatmulScales sc{nullptr, nullptr, &gsc};
  if (withBias)
    sc.bias = &bias;
  std::vector<float> got =
      values<float>(groupedMatmul(x, w, i64({1}, {m}), sc, MatmulQuant::W4A8,
                                  GroupListType::Count, DType::F32));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int64_t c = 0; c < k; ++c)
        want += (int64_t(x.data<int8_t>()[i * k + c]) - (withBias ? 8 : 0)) *
                getI4(w.bytes(), c * n + j);
      ASSERT_EQ(got[i * n + j], static_cast<float>(want))
          << label << " bias " << withBias << " row " << i << " column " << j;
    }
}

TEST_P(MatmulThreads, Int8ExtremesAndOddDepths) {
  // The int8 extremes in both operands (x = -128 is 0 for the u8 x s8
  // kernel, whose compensation must then cancel exactly), K not a multiple
  // of 2, 4 or 64, and row counts on both sides of the gemv threshold.
  std::mt19937 rng(4);
  const int8_t extremes[] = {-128, -127, -1, 0, 1, 126, 127};
  std::uniform_int_distribution<int> pick(0, 6);
  for (int64_t k : {1, 3, 4, 5, 63, 65, 130}) {
    for (int64_t rows : {1, 7, 9, 20}) {
      const int64_t groups = 2, n = 37;
      Tensor x = Tensor::zeros(DType::I8, {groups * rows, k});
      Tensor w = Tensor::zeros(DType::I8, {groups, k, n});
      for (int64_t i = 0; i < x.numel(); ++i)
        x.data<int8_t>()[i] = extremes[pick(rng)];
      for (int64_t i = 0; i < w.numel(); ++i)
        w.data<int8_t>()[i] = extremes[pick(rng)];
      // The first row all -128 against an all -128 first weight column.
      for (int64_t c = 0; c < k; ++c) {
        x.data<int8_t>()[c] = -128;
        w.data<int8_t>()[c * n] = -128;
      }
      std::vector<int64_t> ends = {rows, 2 * rows};
      Tensor raw = groupedMatmul(x, w, i64({groups}, ends), {},
                                 MatmulQuant::W8A8, GroupListType::Cumsum,
                                 DType::I32);
      std::vector<double> want = reference(x, w, ends, MatmulQuant::W8A8,
                                           nullptr, nullptr, nullptr);
      std::vector<int32_t> got = values<int32_t>(raw);
      ASSERT_EQ(got[0], 128 * 128 * k);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], static_cast<int32_t>(want[i]))
            << "k " << k << " rows " << rows << " element " << i;
    }
  }
  // int4 weights in their full range [-8, 7] against x in {-128, 127},
  // in K blocks of 3 (not a multiple of 4), with and without the w4a8
  // kernel form's bias (x - 8).
  for (bool withBias : {false, true}) {
    const int64_t k = 9, n = 19, m = 12;
    Tensor x = Tensor::zeros(DType::I8, {m, k});
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data<int8_t>()[i] = i % 3 == 0 ? -128 : 127;
    Tensor w = randomInt(rng, DType::I4, {1, k, n}, -8, 7);
    expectExactW4A8(x, w, 3, withBias, "");
  }
}

std::string paramName(
    const ::testing::TestParamInfo<MatmulThreads::ParamType> &info) {
  return std::to_string(std::get<0>(info.param)) + "_" +
         cpuIsaName(std::get<1>(info.param)) + "_" +
         matmulEngineName(std::get<2>(info.param));
}

// Every thread count with the fixed rule; every engine (and the planner)
// with two threads.
INSTANTIATE_TEST_SUITE_P(
    Threads, MatmulThreads,
    ::testing::Combine(::testing::Values(1, 2, 3),
                       ::testing::ValuesIn(supportedCpuIsas()),
                       ::testing::Values(MatmulEngine::Fixed)),
    paramName);
INSTANTIATE_TEST_SUITE_P(
    Engines, MatmulThreads,
    ::testing::Combine(::testing::Values(2),
                       ::testing::ValuesIn(supportedCpuIsas()),
                       ::testing::Values(MatmulEngine::Auto,
                                         MatmulEngine::Gemv,
                                         MatmulEngine::Panel,
                                         MatmulEngine::Dnnl,
                                         MatmulEngine::Vnni)),
    paramName);

TEST(Matmul, PlannerTimesEveryCandidateOnceAndKeepsTheFastest) {
  MatmulEngine previous = matmulEngine();
  setMatmulEngine(MatmulEngine::Auto);
  clearMatmulPlan();
  std::mt19937 rng(5);
  // One group of 12 rows, K 64, N 48: gemv, panel and (f32) oneDNN or
  // (int8 on avx512vnni) vnni are candidates.
  Tensor x = randomFloat(rng, DType::F32, {12, 64});
  Tensor w = randomFloat(rng, DType::F32, {1, 64, 48});
  Tensor out = groupedMatmul(x, w, i64({1}, {12}), {}, MatmulQuant::None,
                             GroupListType::Count, DType::F32);
  expectClose(floats(out),
              reference(x, w, {12}, MatmulQuant::None, nullptr, nullptr,
                        nullptr),
              1e-5, "planned f32");
  std::vector<MatmulPlanEntry> plan = matmulPlan();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_NE(plan[0].shape.find("f32 K 64 N 48/48 rows 8-15"),
            std::string::npos)
      << plan[0].shape;
  for (const char *e : {"gemv", "panel", "dnnl"})
    EXPECT_NE(plan[0].timings.find(e), std::string::npos) << plan[0].timings;
  EXPECT_NE(plan[0].timings.find(plan[0].engine), std::string::npos);
  // The same shape again is not timed again; another row bucket is.
  groupedMatmul(x, w, i64({1}, {9}), {}, MatmulQuant::None,
                GroupListType::Count, DType::F32);
  EXPECT_EQ(matmulPlan().size(), 1u);
  groupedMatmul(x, w, i64({1}, {3}), {}, MatmulQuant::None,
                GroupListType::Count, DType::F32);
  EXPECT_EQ(matmulPlan().size(), 2u);
  clearMatmulPlan();
  EXPECT_TRUE(matmulPlan().empty());
  setMatmulEngine(previous);
}

TEST(Matmul, CalibrationPlansEveryBucketBeforeTheFirstStep) {
  MatmulEngine previous = matmulEngine();
  setMatmulEngine(MatmulEngine::Auto);
  clearMatmulPlan();
  int saved = kernelThreads();
  setKernelThreads(2);
  // K 64, N 600 (split over 2 threads: blocks of 304 and 296 columns),
  // up to 40 rows: buckets 1, 2-3, 4-7, 8-15, 16-31, 32-63, each whole and
  // as both split blocks.
  MatmulShape shape{MatmulQuant::None, DType::F32, 64, 600};
  EXPECT_EQ(calibrateMatmul(shape, 40), 18);
  std::vector<MatmulPlanEntry> plan = matmulPlan();
  ASSERT_EQ(plan.size(), 18u);
  int whole = 0, split = 0, tail = 0;
  for (const MatmulPlanEntry &e : plan) {
    whole += e.shape.find("N 600/600") != std::string::npos;
    split += e.shape.find("N 304/600") != std::string::npos;
    tail += e.shape.find("N 296/600") != std::string::npos;
  }
  EXPECT_EQ(whole, 6);
  EXPECT_EQ(split, 6);
  EXPECT_EQ(tail, 6);
  // Calibrated: steps within the buckets time nothing, and their results
  // are the reference's.
  std::mt19937 rng(11);
  for (int64_t rows : {1, 5, 17, 40}) {
    Tensor x = randomFloat(rng, DType::F32, {rows, 64});
    Tensor w = randomFloat(rng, DType::F32, {2, 64, 600});
    Tensor out = groupedMatmul(x, w, i64({2}, {rows, 0}), {},
                               MatmulQuant::None, GroupListType::Count,
                               DType::F32);
    expectClose(floats(out),
                reference(x, w, {rows, rows}, MatmulQuant::None, nullptr,
                          nullptr, nullptr),
                1e-4, "calibrated f32");
  }
  EXPECT_EQ(matmulPlan().size(), 18u);
  EXPECT_EQ(calibrateMatmul(shape, 40), 0); // planned already
  // A bf16 weight has one engine (the panels): nothing to time.
  EXPECT_EQ(calibrateMatmul({MatmulQuant::None, DType::BF16, 64, 48}, 40), 0);
  EXPECT_EQ(matmulPlan().size(), 18u);
  // w4a8 with group scales and a bias, int8: their own block kinds.
  EXPECT_GT(calibrateMatmul({MatmulQuant::W4A8, DType::I4, 64, 32, 4, true},
                            3),
            0);
  EXPECT_GT(calibrateMatmul({MatmulQuant::W8A8, DType::I8, 64, 32}, 3), 0);
  EXPECT_THROW(calibrateMatmul({MatmulQuant::W4A8, DType::I4, 64, 32, 5}, 3),
               Error); // 5 K blocks do not divide K 64
  // Another policy: nothing to calibrate.
  clearMatmulPlan();
  setMatmulEngine(MatmulEngine::Fixed);
  EXPECT_EQ(calibrateMatmul(shape, 40), 0);
  EXPECT_TRUE(matmulPlan().empty());
  setKernelThreads(saved);
  setMatmulEngine(previous);
}

TEST(Matmul, PlanCacheKeepsChoicesAcrossProcesses) {
  MatmulEngine previous = matmulEngine();
  setMatmulEngine(MatmulEngine::Auto);
  clearMatmulPlan();
  std::string path = testing::TempDir() + "moe-plan-cache-test.txt";
  std::remove(path.c_str());
  auto lines = [&] {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
      out.push_back(line);
    return out;
  };
  // A new file: every choice is appended as it is made.
  setMatmulPlanCache(path);
  EXPECT_EQ(matmulPlanCache(), path);
  MatmulShape shape{MatmulQuant::None, DType::F32, 64, 48};
  ASSERT_EQ(calibrateMatmul(shape, 3), 2); // rows 1 and 2-3, N 48 whole
  std::vector<std::string> written = lines();
  ASSERT_EQ(written.size(), 2u);
  std::string cpu = written[0].substr(0, written[0].find('\t'));
  EXPECT_FALSE(cpu.empty());
  std::string isa = cpuIsaName(cpuIsa());
  EXPECT_NE(written[0].find("\t0 64 48 48 0 " + isa + "\t"),
            std::string::npos)
      << written[0];
  EXPECT_NE(written[1].find("\t0 64 48 48 1 " + isa + "\t"),
            std::string::npos)
      << written[1];
  // Another process (a cleared planner) reads them back and times nothing;
  // lines of another CPU model are ignored.
  std::ofstream(path, std::ios::app) << "Other CPU\t0 64 48 48 5 " << isa
                                     << "\tpanel\n";
  clearMatmulPlan();
  setMatmulPlanCache(path);
  std::vector<MatmulPlanEntry> plan = matmulPlan();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].timings, "from the plan cache");
  EXPECT_EQ(calibrateMatmul(shape, 3), 0);
  EXPECT_EQ(lines().size(), 3u);
  // Malformed files are errors naming the file and the line.
  auto errorOf = [&](const std::string &text) {
    std::ofstream(path, std::ios::trunc) << text;
    try {
      setMatmulPlanCache(path);
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(errorOf("garbage\n"),
            "MOE_MATMUL_PLAN_CACHE " + path +
                ":1: expected <cpu>\\t<shape>\\t<engine>, got 'garbage'");
  EXPECT_EQ(errorOf("\n" + cpu + "\t0 64 48 48 0 " + isa + "\tfast\n"),
            "MOE_MATMUL_PLAN_CACHE " + path +
                ":2: unknown engine 'fast' (expected gemv, panel, dnnl or "
                "vnni)");
  EXPECT_NE(errorOf(cpu + "\t7 64 48 48 0 " + isa + "\tgemv\n")
                .find(":1: bad shape '7 64 48 48 0 " + isa + "'"),
            std::string::npos);
  EXPECT_EQ(errorOf(""), "no error"); // an empty file: nothing planned yet
  try {
    setMatmulPlanCache(path + "/plans.txt"); // under a file, not a directory
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), "MOE_MATMUL_PLAN_CACHE " + path +
                                         "/plans.txt: cannot read: Not a "
                                         "directory");
  }
  // The error stays until another file is set: the planner refuses to run.
  EXPECT_THROW(calibrateMatmul({MatmulQuant::None, DType::F32, 64, 40}, 1),
               Error);
  // A file that cannot be written fails the matmul that made the choice.
  clearMatmulPlan();
  setMatmulPlanCache(testing::TempDir() + "no-such-dir/plans.txt");
  try {
    calibrateMatmul(shape, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("no-such-dir/plans.txt: cannot "
                                         "write: "),
              std::string::npos)
        << e.what();
  }
  setMatmulPlanCache("");
  EXPECT_EQ(matmulPlanCache(), "");
  clearMatmulPlan();
  std::remove(path.c_str());
  setMatmulEngine(previous);
}

TEST(Matmul, EngineNames) {
  EXPECT_STREQ(matmulEngineName(MatmulEngine::Auto), "auto");
  EXPECT_STREQ(matmulEngineName(MatmulEngine::Fixed), "fixed");
  EXPECT_STREQ(matmulEngineName(MatmulEngine::Vnni), "vnni");
}

TEST(Matmul, W4A8GemvExtremesOnEveryVariant) {
  // The int4 gemv engines at their limits, exactly: x in {-128, 127}
  // against weights in {-8, 7} (the AVX2 form's s16 accumulators of eight
  // byte-pair sums reach 30720), K with a tail past the 16-row steps and
  // an odd pair, N with 32-column steps and a tail, with the bias (x - 8
  // leaves the bytes: the panels there) and without.
  MatmulEngine previousEngine = matmulEngine();
  CpuIsa previousIsa = cpuIsa();
  std::mt19937 rng(41);
  std::uniform_int_distribution<int> coin(0, 1);
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    setMatmulEngine(MatmulEngine::Gemv);
    for (bool withBias : {false, true}) {
      const int64_t k = 37, n = 70, m = 3;
      Tensor x = Tensor::zeros(DType::I8, {m, k});
      for (int64_t i = 0; i < x.numel(); ++i)
        x.data<int8_t>()[i] = coin(rng) ? -128 : 127;
      Tensor w = Tensor::zeros(DType::I4, {1, k, n});
      for (int64_t i = 0; i < w.numel(); ++i)
        setI4(w.bytes(), i, coin(rng) ? -8 : 7);
      // Every x of row 0 -128 against an all -8 column 0: the largest sums.
      for (int64_t c = 0; c < k; ++c) {
        x.data<int8_t>()[c] = -128;
        setI4(w.bytes(), c * n, -8);
      }
      expectExactW4A8(x, w, 1, withBias, cpuIsaName(isa));
    }
  }
  setMatmulEngine(previousEngine);
  setCpuIsa(previousIsa);
}

TEST(Matmul, W4A8ExplicitLoop) {
  // K = 4 in two blocks of 2, N = 2, one row: written out by hand.
  Tensor x = i8({1, 4}, {1, 2, 3, 4});
  Tensor w = Tensor::zeros(DType::I4, {1, 4, 2});
  int8_t wv[] = {1, -1, 2, -2, 3, 7, -8, 4}; // [k][n]
  for (int i = 0; i < 8; ++i)
    setI4(w.bytes(), i, wv[i]);
  Tensor gsc = f32({1, 2, 2}, {0.5f, 1.0f, 2.0f, 0.25f});
  Tensor scale = f32({1, 2}, {2.0f, 4.0f});
  Tensor pt = f32({1}, {0.5f});
  Tensor out = groupedMatmul(x, w, i64({1}, {1}), {&scale, &pt, &gsc},
                             MatmulQuant::W4A8, GroupListType::Count,
                             DType::F32);
  // n0: block0 1*1+2*2=5 -> 2.5; block1 3*3+4*-8=-23 -> -46; sum -43.5
  //     * 0.5 * 2 = -43.5
  // n1: block0 -1-4=-5 -> -5; block1 21+16=37 -> 9.25; sum 4.25 * 0.5 * 4
  EXPECT_EQ(values<float>(out), (std::vector<float>{-43.5f, 8.5f}));
}

TEST(Matmul, DenseAndBf16Result) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor out = matmul(x, w, {}, MatmulQuant::None, DType::BF16);
  EXPECT_EQ(out.dtype, DType::BF16);
  EXPECT_EQ(floats(out), (std::vector<float>{4, 5, 10, 11}));
  Tensor xq = i8({1, 2}, {3, -4});
  Tensor wq = i8({2, 2}, {1, 2, 3, 4});
  Tensor scale = f32({2}, {1.0f, 0.5f});
  Tensor pt = f32({1}, {2.0f});
  Tensor deq = matmul(xq, wq, {&scale, &pt, nullptr}, MatmulQuant::W8A8,
                      DType::F32);
  EXPECT_EQ(values<float>(deq), (std::vector<float>{-18.0f, -10.0f}));
}

TEST(Matmul, ZeroRowsAndRowsPastTheGroups) {
  Tensor w = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor none = groupedMatmul(Tensor::empty(DType::F32, {0, 2}), w,
                              i64({2}, {0, 0}), {}, MatmulQuant::None,
                              GroupListType::Count, DType::F32);
  EXPECT_EQ(none.shape, (std::vector<int64_t>{0, 2}));
  Tensor x = f32({3, 2}, {1, 1, 1, 1, 9, 9});
  Tensor out = groupedMatmul(x, w, i64({2}, {1, 2}), {}, MatmulQuant::None,
                             GroupListType::Cumsum, DType::F32);
  EXPECT_EQ(values<float>(out), (std::vector<float>{4, 6, 12, 14, 0, 0}));
  Tensor q = groupedMatmul(Tensor::empty(DType::I8, {0, 2}),
                           Tensor::zeros(DType::I8, {1, 2, 2}), i64({1}, {0}),
                           {}, MatmulQuant::W8A8, GroupListType::Count,
                           DType::I32);
  EXPECT_EQ(q.numel(), 0);
  Tensor dense = matmul(Tensor::empty(DType::F32, {0, 2}), f32({2, 1}, {1, 2}),
                        {}, MatmulQuant::None, DType::F32);
  EXPECT_EQ(dense.shape, (std::vector<int64_t>{0, 1}));
}

TEST(Matmul, GroupEnds) {
  EXPECT_EQ(groupEnds(i64({4}, {0, 2, 1, 0}), GroupListType::Count, 3, "op"),
            (std::vector<int64_t>{0, 2, 3, 3}));
  EXPECT_EQ(groupEnds(i64({4}, {0, 2, 3, 3}), GroupListType::Cumsum, 3, "op"),
            (std::vector<int64_t>{0, 2, 3, 3}));
  EXPECT_ERROR(groupEnds(i64({2}, {5, 7}), GroupListType::Count, 10,
                         "npu.grouped_matmul"),
               "npu.grouped_matmul: group list needs 12 rows, x has 10");
  EXPECT_ERROR(groupEnds(i64({2}, {3, -1}), GroupListType::Count, 10, "op"),
               "op: negative count -1");
  EXPECT_ERROR(groupEnds(i64({2}, {3, 2}), GroupListType::Cumsum, 10, "op"),
               "op: cumulative group list decreases");
  EXPECT_ERROR(groupEnds(i32({1}, {1}), GroupListType::Count, 10, "op"),
               "op: group list must be i64");
}

TEST(Matmul, Errors) {
  const char *g = "npu.grouped_matmul: ";
  Tensor xf = f32({2, 4}, std::vector<float>(8, 1));
  Tensor wf = Tensor::zeros(DType::F32, {2, 4, 3});
  Tensor gl = i64({2}, {1, 1});
  auto none = [&](const Tensor &x, const Tensor &w, const Tensor &l) {
    return groupedMatmul(x, w, l, {}, MatmulQuant::None, GroupListType::Count,
                         DType::F32);
  };
  EXPECT_ERROR(none(f32({8}, std::vector<float>(8)), wf, gl),
               std::string(g) + "x must have rank 2");
  EXPECT_ERROR(none(xf, Tensor::zeros(DType::F32, {4, 3}), gl),
               "weight must have rank 3");
  EXPECT_ERROR(none(xf, Tensor::zeros(DType::F32, {2, 5, 3}), gl),
               "has 4 columns, weight");
  EXPECT_ERROR(none(xf, wf, i64({3}, {1, 1, 0})),
               "group list has 3 groups, weight has 2");
  EXPECT_ERROR(none(xf, wf, i64({2}, {2, 1})), "needs 3 rows, x has 2");
  EXPECT_ERROR(none(Tensor::zeros(DType::I8, {2, 4}), wf, gl),
               "x must be f32, bf16 or f16");
  EXPECT_ERROR(groupedMatmul(xf, wf, gl, {}, MatmulQuant::None,
                             GroupListType::Count, DType::I32),
               "quant none gives a float result");
  Tensor s = f32({2, 3}, std::vector<float>(6, 1));
  EXPECT_ERROR(groupedMatmul(xf, wf, gl, {&s, nullptr, nullptr},
                             MatmulQuant::None, GroupListType::Count,
                             DType::F32),
               "quant none takes no scales");

  Tensor xq = Tensor::zeros(DType::I8, {2, 4});
  Tensor wq = Tensor::zeros(DType::I8, {2, 4, 3});
  auto q8 = [&](const MatmulScales &sc, DType out, const Tensor &w,
                MatmulQuant quant = MatmulQuant::W8A8) {
    return groupedMatmul(xq, w, gl, sc, quant, GroupListType::Count, out);
  };
  EXPECT_ERROR(q8({}, DType::I32, wf), "weight must be i8");
  EXPECT_ERROR(q8({&s, nullptr, nullptr}, DType::I32, wq),
               "an i32 result is the raw accumulator");
  EXPECT_ERROR(q8({}, DType::I64, wq), "result must be i32 or a float type");
  Tensor badScale = f32({3}, {1, 1, 1});
  EXPECT_ERROR(q8({&badScale, nullptr, nullptr}, DType::F32, wq),
               "scale must be [2x3]");
  Tensor badPt = f32({3}, {1, 1, 1});
  EXPECT_ERROR(q8({nullptr, &badPt, nullptr}, DType::F32, wq),
               "per-token scale must be [2]");
  Tensor gsc = f32({2, 2, 3}, std::vector<float>(12, 1));
  EXPECT_ERROR(q8({nullptr, nullptr, &gsc}, DType::F32, wq),
               "a group scale needs w4a8");
  Tensor w4 = Tensor::zeros(DType::I4, {2, 4, 3});
  EXPECT_ERROR(q8({}, DType::F32, w4, MatmulQuant::W4A8),
               "w4a8 needs a group scale");
  EXPECT_ERROR(q8({nullptr, nullptr, &gsc}, DType::I32, w4, MatmulQuant::W4A8),
               "w4a8 gives a float result");
  Tensor gsc3 = f32({2, 3, 3}, std::vector<float>(18, 1));
  EXPECT_ERROR(q8({nullptr, nullptr, &gsc3}, DType::F32, w4,
                  MatmulQuant::W4A8),
               "3 blocks, which do not divide K 4");
  EXPECT_ERROR(q8({nullptr, nullptr, &gsc}, DType::F32, wq, MatmulQuant::W4A8),
               "weight must be i4");
  EXPECT_ERROR(matmul(xf, Tensor::zeros(DType::F32, {5, 2}), {},
                      MatmulQuant::None, DType::F32),
               "npu.matmul: x tensor<2x4xf32> has 4 columns");
  Tensor s1 = f32({2, 2}, {1, 1, 1, 1});
  EXPECT_ERROR(matmul(xq, Tensor::zeros(DType::I8, {4, 2}),
                      {&s1, nullptr, nullptr}, MatmulQuant::W8A8, DType::F32),
               "npu.matmul: scale must be [2]");
}

} // namespace
