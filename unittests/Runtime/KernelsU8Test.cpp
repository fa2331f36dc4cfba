//===- KernelsU8Test.cpp - the u8 x s8 (vpdpbusd) int8 / int4 engines -----===//
//
// The gemv and vnni engines of w8a8 and w4a8 (MatmulKernels.h: gemvU8
// streams the int8 weight or unpacks the int4 one in registers; gemmU8
// packs panels) under every kernel variant this CPU supports, against a
// scalar reference written here (its own int4 decoding): odd K and K
// blocks (odd k0), N not a multiple of 16, 32 or 64, int4 rows that do not
// start on a byte, groups of zero rows, the int8 extremes, the w4a8 kernel
// form's bias (zero 136), and column blocks past n0 = 0 (two threads).
// Group scales are powers of two, so the w4a8 results are exact too. The
// kernels' own contract (MatmulKernels.h: any k range and zero) is
// checked by calling the table entries directly. The packed weights of
// npu.pack_weights (PackWeights.cpp) are checked the same way: their
// layout byte by byte, the grouped matmul on them against the reference,
// packing in place once per storage, and the errors.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/MatmulEngine.h"
#include "moe/Runtime/Parallel.h"

// The kernel table itself, for the contract of its u8 entries (internal
// to the runtime library, whose symbols the tests link against).
#include "../../lib/Runtime/Kernels/MatmulKernels.h"

#include <cmath>

using namespace moert;
using namespace moert::test;

namespace {

/// Element `i` of packed int4 storage: two's complement nibbles, the even
/// element in the low nibble.
int int4At(const Tensor &w, int64_t i) {
  int nibble = (w.bytes()[i / 2] >> (4 * (i % 2))) & 0x0F;
  return nibble >= 8 ? nibble - 16 : nibble;
}

int weightAt(const Tensor &w, int64_t i) {
  return w.dtype == DType::I4 ? int4At(w, i) : w.data<int8_t>()[i];
}

/// out[i, j] = sum over K blocks b of (sum_{k in b} (x[i, k] - xOffset) *
/// w[g, k, j]) * gs[g, b, j] (+ bias[g, j]); rows past the groups are 0.
/// With gs null: the raw sum over all of K.
std::vector<double> reference(const Tensor &x, const Tensor &w,
                              const std::vector<int64_t> &counts,
                              const Tensor *gs, const Tensor *bias) {
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(2);
  int64_t blocks = gs ? gs->dim(1) : 1, size = k / blocks;
  int xOffset = bias ? 8 : 0;
  std::vector<double> out(m * n, 0.0);
  int64_t row = 0;
  for (size_t g = 0; g < counts.size(); ++g)
    for (int64_t r = 0; r < counts[g]; ++r, ++row)
      for (int64_t j = 0; j < n; ++j) {
        double v = 0;
        for (int64_t b = 0; b < blocks; ++b) {
          int64_t acc = 0;
          for (int64_t c = b * size; c < (b + 1) * size; ++c)
            acc += int64_t(x.data<int8_t>()[row * k + c] - xOffset) *
                   weightAt(w, (g * k + c) * n + j);
          v += double(acc) *
               (gs ? gs->data<float>()[(g * blocks + b) * n + j] : 1.0);
        }
        if (bias)
          v += bias->data<float>()[g * n + j];
        out[row * n + j] = v;
      }
  return out;
}

/// Weights and activations over their whole ranges, a third of them at
/// the extremes.
Tensor extremeInts(std::mt19937 &rng, DType dtype, std::vector<int64_t> shape) {
  int lo = dtype == DType::I4 ? -8 : -128, hi = dtype == DType::I4 ? 7 : 127;
  Tensor t = randomInt(rng, dtype, shape, lo, hi);
  std::uniform_int_distribution<int> pick(0, 5);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int p = pick(rng);
    if (p > 1)
      continue;
    int8_t v = static_cast<int8_t>(p == 0 ? lo : hi);
    if (dtype == DType::I4)
      setI4(t.bytes(), i, v);
    else
      t.data<int8_t>()[i] = v;
  }
  return t;
}

/// w4a8 scales with exact float results: group scales that are powers of
/// two and integer biases.
struct ExactW4A8Scales {
  Tensor gs, bias;
  ExactW4A8Scales(std::mt19937 &rng, int64_t groups, int64_t blocks,
                  int64_t n)
      : gs(Tensor::empty(DType::F32, {groups, blocks, n})),
        bias(Tensor::empty(DType::F32, {groups, n})) {
    std::uniform_int_distribution<int> e(-2, 2);
    for (int64_t i = 0; i < gs.numel(); ++i)
      gs.data<float>()[i] = std::ldexp(1.0f, e(rng));
    for (int64_t i = 0; i < bias.numel(); ++i)
      bias.data<float>()[i] = static_cast<float>(e(rng) * 1000);
  }
  MatmulScales scales(bool withBias) const {
    MatmulScales sc{nullptr, nullptr, &gs};
    if (withBias)
      sc.bias = &bias;
    return sc;
  }
  /// The reference of x . w with these scales (and the bias).
  std::vector<double> want(const Tensor &x, const Tensor &w,
                           const std::vector<int64_t> &counts,
                           bool withBias) const {
    return reference(x, w, counts, &gs, withBias ? &bias : nullptr);
  }
};

/// Every element of `got` equals `want` exactly.
void expectExact(const std::vector<float> &got, const std::vector<double> &want,
                 const std::string &context) {
  ASSERT_EQ(got.size(), want.size()) << context;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], static_cast<float>(want[i]))
        << context << " element " << i;
}

/// One w4a8 grouped matmul of int4 extremes, `counts` rows per group (and
/// one row past them), K in `blocks` blocks, N columns, with the kernel
/// form's bias or not, exactly against the scalar reference; with `pack`
/// the weight is first packed (npu.pack_weights' layout for this variant,
/// which it must take).
void expectExactW4A8(std::mt19937 &rng, int64_t k, int64_t blocks, int64_t n,
                     const std::vector<int64_t> &counts, bool withBias,
                     bool pack) {
  int64_t groups = counts.size(), m = 1;
  for (int64_t c : counts)
    m += c;
  Tensor x = extremeInts(rng, DType::I8, {m, k});
  Tensor w = extremeInts(rng, DType::I4, {groups, k, n});
  Tensor run = w;
  if (pack) {
    run = packWeights(w, /*inPlace=*/false);
    ASSERT_NE(run.layout, StorageLayout::RowMajor);
    ASSERT_EQ(run.layout, packedLayout(DType::I4, k, n));
  }
  ExactW4A8Scales s(rng, groups, blocks, n);
  expectExact(values<float>(groupedMatmul(
                  x, run, i64({groups}, counts), s.scales(withBias),
                  MatmulQuant::W4A8, GroupListType::Count, DType::F32)),
              s.want(x, w, counts, withBias),
              "k " + std::to_string(k) + " n " + std::to_string(n) +
                  " bias " + std::to_string(withBias));
}

/// expectExactW4A8 with a packed weight over the cases of the packed int4
/// kernels: K blocks of 4 to 64 rows (and one block of 8), 1 to 4 row tiles
/// and their remainders, a group of 40 rows, groups of none, column blocks
/// of whole 32-column strips, the kernel form's bias (zero 136) and not.
void expectExactPackedW4A8Cases(std::mt19937 &rng) {
  const std::vector<std::vector<int64_t>> counts = {
      {1, 0, 2}, {3, 5, 0, 4}, {8, 9}, {40, 1}, {0, 0}};
  const std::pair<int64_t, int64_t> depths[] = {
      {8, 1}, {8, 2}, {64, 4}, {132, 3}, {256, 4}};
  for (auto [k, blocks] : depths)
    for (int64_t n : {32, 96, 544})
      for (const std::vector<int64_t> &c : counts)
        for (bool withBias : {false, true})
          expectExactW4A8(rng, k, blocks, n, c, withBias, /*pack=*/true);
}

/// Kernel threads x kernel variant x forced engine.
class U8Engines : public KernelConfigTest {};

/// Row counts per group: the gemv row tiles (1 to 4 rows, remainders),
/// its threshold (8, 9) and a group of none.
const std::vector<std::vector<int64_t>> kCounts = {
    {1, 0, 2}, {3, 5, 0, 4}, {8, 9}, {0, 0}};

TEST_P(U8Engines, W8A8MatchesScalarReference) {
  std::mt19937 rng(21);
  for (int64_t k : {1, 3, 4, 17, 33, 130}) {
    for (int64_t n : {1, 7, 31, 33, 65, 300}) {
      for (const std::vector<int64_t> &counts : kCounts) {
        int64_t groups = counts.size(), m = 1; // one row past the groups
        for (int64_t c : counts)
          m += c;
        Tensor x = extremeInts(rng, DType::I8, {m, k});
        Tensor w = extremeInts(rng, DType::I8, {groups, k, n});
        Tensor out = groupedMatmul(x, w, i64({groups}, counts), {},
                                   MatmulQuant::W8A8, GroupListType::Count,
                                   DType::I32);
        std::vector<double> want = reference(x, w, counts, nullptr, nullptr);
        std::vector<int32_t> got = values<int32_t>(out);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i], static_cast<int32_t>(want[i]))
              << "k " << k << " n " << n << " element " << i;
      }
    }
  }
}

TEST_P(U8Engines, W4A8MatchesScalarReference) {
  std::mt19937 rng(22);
  // (K, K blocks): blocks of 2, 3 (odd k0), 13, 16 and 64 rows.
  const std::pair<int64_t, int64_t> depths[] = {
      {6, 3}, {9, 3}, {39, 3}, {64, 4}, {128, 2}};
  // Odd N: the int4 rows of every other k (and group) start mid-byte.
  for (auto [k, blocks] : depths) {
    for (int64_t n : {2, 7, 30, 46, 98, 130, 300, 301}) {
      for (const std::vector<int64_t> &counts : kCounts)
        for (bool withBias : {false, true})
          expectExactW4A8(rng, k, blocks, n, counts, withBias,
                          /*pack=*/false);
    }
  }
}

std::string paramName(
    const ::testing::TestParamInfo<U8Engines::ParamType> &info) {
  return std::to_string(std::get<0>(info.param)) + "_" +
         cpuIsaName(std::get<1>(info.param)) + "_" +
         matmulEngineName(std::get<2>(info.param));
}

// Variants without vpdpbusd take the fixed rule for the engines they lack,
// against the same reference.
INSTANTIATE_TEST_SUITE_P(
    Variants, U8Engines,
    ::testing::Combine(::testing::Values(1, 2),
                       ::testing::ValuesIn(supportedCpuIsas()),
                       ::testing::Values(MatmulEngine::Gemv,
                                         MatmulEngine::Vnni)),
    paramName);

TEST(U8Engines, KernelContractForAnyRangeAndZero) {
  // gemmU8 and gemvU8 of every variant that has them, called directly:
  // c[i, j] = sum_{k in [k0, k1)} (a[i, k] - zero) w[k, n0 + j] for odd
  // and even k0, empty ranges, column ranges inside the weight, int8 and
  // int4 weights (odd N: rows not starting on a byte), and zero 128 (no
  // column sums), 136 (the w4a8 kernel form) and 3.
  CpuIsa previous = cpuIsa();
  std::mt19937 rng(24);
  std::uniform_int_distribution<int> byte(0, 255);
  const int64_t K = 45, lda = K + 4;
  struct Range {
    int64_t k0, k1, n0, n1;
  };
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    const detail::KernelTable &kt = detail::kernels();
    if (!kt.gemvU8)
      continue;
    SCOPED_TRACE(cpuIsaName(isa));
    for (DType dt : {DType::I8, DType::I4}) {
      for (int64_t N : {int64_t(150), int64_t(77)}) {
        Tensor w = extremeInts(rng, dt, {2, K, N});
        for (Range r : {Range{0, K, 0, N}, Range{3, 40, 16, N},
                        Range{7, 8, 32, 70}, Range{5, 5, 0, 20},
                        Range{1, 30, 128, 150}}) {
          if (r.n1 > N)
            continue;
          for (int32_t zero : {128, 136, 3}) {
            for (int64_t m : {1, 2, 3, 5}) {
              std::vector<uint8_t> a(m * lda);
              for (uint8_t &v : a)
                v = static_cast<uint8_t>(byte(rng));
              int64_t cols = r.n1 - r.n0, ldc = (cols + 15) / 16 * 16 + 16;
              // Group 1 of the stack: a nonzero weight offset.
              detail::WeightView view{w.bytes(), dt, K * N, K, N};
              for (bool gemv : {false, true}) {
                std::vector<int32_t> c(m * ldc, -7);
                (gemv ? kt.gemvU8 : kt.gemmU8)(a.data(), lda, m, view, r.k0,
                                               r.k1, r.n0, r.n1, zero,
                                               c.data(), ldc);
                for (int64_t i = 0; i < m; ++i)
                  for (int64_t j = 0; j < cols; ++j) {
                    int64_t want = 0;
                    for (int64_t k = r.k0; k < r.k1; ++k)
                      want += (int64_t(a[i * lda + k]) - zero) *
                              weightAt(w, K * N + k * N + r.n0 + j);
                    ASSERT_EQ(c[i * ldc + j], want)
                        << (gemv ? "gemvU8 " : "gemmU8 ") << dtypeName(dt)
                        << " N " << N << " k " << r.k0 << ".." << r.k1
                        << " n " << r.n0 << ".." << r.n1 << " zero " << zero
                        << " row " << i << " column " << j;
                  }
              }
            }
          }
        }
      }
    }
  }
  setCpuIsa(previous);
}

TEST(U8Engines, W4A8PlannerTimesGemvAndEveryEngineAgrees) {
  // One group of 3 rows, K 64 in 2 blocks, N 32, on the variants with a
  // gemvU8 (avxvnni, avx512vnni): the planner times the int4 gemv next to
  // the panels, and every engine (and the fixed rule) gives the planned
  // result bit for bit (random f32 group scales).
  MatmulEngine previous = matmulEngine();
  CpuIsa previousIsa = cpuIsa();
  std::mt19937 rng(23);
  Tensor x = extremeInts(rng, DType::I8, {3, 64});
  Tensor w = extremeInts(rng, DType::I4, {1, 64, 32});
  Tensor gs = randomFloat(rng, DType::F32, {1, 2, 32});
  MatmulScales sc{nullptr, nullptr, &gs};
  for (CpuIsa isa : supportedCpuIsas()) {
    if (isa != CpuIsa::AvxVnni && isa != CpuIsa::Avx512Vnni)
      continue;
    SCOPED_TRACE(cpuIsaName(isa));
    setCpuIsa(isa);
    setMatmulEngine(MatmulEngine::Auto);
    clearMatmulPlan();
    std::vector<float> planned = floats(groupedMatmul(
        x, w, i64({1}, {3}), sc, MatmulQuant::W4A8, GroupListType::Count,
        DType::F32));
    std::vector<MatmulPlanEntry> plan = matmulPlan();
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_NE(plan[0].timings.find("gemv"), std::string::npos)
        << plan[0].timings;
    EXPECT_NE(plan[0].timings.find("vnni"), std::string::npos)
        << plan[0].timings;
    for (MatmulEngine e : {MatmulEngine::Fixed, MatmulEngine::Gemv,
                           MatmulEngine::Vnni, MatmulEngine::Panel}) {
      setMatmulEngine(e);
      EXPECT_EQ(floats(groupedMatmul(x, w, i64({1}, {3}), sc,
                                     MatmulQuant::W4A8, GroupListType::Count,
                                     DType::F32)),
                planned)
          << matmulEngineName(e);
    }
  }
  clearMatmulPlan();
  setMatmulEngine(previous);
  setCpuIsa(previousIsa);
}

/// The variants whose kernels read packed weights (gemmU8Packed).
std::vector<CpuIsa> packingIsas() {
  return isasWhere([] { return detail::kernels().gemmU8Packed != nullptr; });
}

/// The best variant with packed-weight kernels (skipped without one).
class OnPackingVariant : public ::testing::Test {
protected:
  void SetUp() override {
    std::vector<CpuIsa> isas = packingIsas();
    if (isas.empty())
      GTEST_SKIP() << "no kernel variant with vpdpbusd on this CPU";
    setCpuIsa(isas.back());
  }
  IsaScope scope;
};

TEST(PackedWeights, LayoutIsStripsOfQuadsOverTheWholeK) {
  // Byte (n / 16, k / 4, n % 16, k % 4) of group g's [N/16][K/4][16][4]
  // holds w[g, k, n] + 128 (MatmulKernels.h); a copy, the weight unchanged.
  IsaScope scope;
  std::mt19937 rng(31);
  for (CpuIsa isa : packingIsas()) {
    setCpuIsa(isa);
    const int64_t G = 2, K = 12, N = 48;
    Tensor w = extremeInts(rng, DType::I8, {G, K, N});
    std::vector<int8_t> before = values<int8_t>(w);
    Tensor p = packWeights(w, /*inPlace=*/false);
    ASSERT_EQ(p.layout, StorageLayout::Packed) << cpuIsaName(isa);
    EXPECT_NE(p.storage, w.storage);
    EXPECT_EQ(p.shape, w.shape);
    EXPECT_EQ(values<int8_t>(w), before);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(p.data<uint8_t>()[g * K * N + (n / 16) * (K / 4 * 64) +
                                      (k / 4) * 64 + (n % 16) * 4 + k % 4],
                    before[(g * K + k) * N + n] + 128)
              << "g " << g << " k " << k << " n " << n;
  }
}

TEST(PackedWeights, ShapesAndCpusWithoutTheLayoutStayRowMajor) {
  IsaScope scope;
  std::mt19937 rng(32);
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    bool packs = detail::kernels().gemmU8Packed != nullptr;
    // K % 4, N % 16 and an empty stack.
    for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 6, 32},
                                       std::vector<int64_t>{2, 8, 24},
                                       std::vector<int64_t>{0, 8, 32},
                                       std::vector<int64_t>{2, 8, 32}}) {
      Tensor w = extremeInts(rng, DType::I8, shape);
      Tensor p = packWeights(w, /*inPlace=*/false);
      bool divisible = shape[0] > 0 && shape[1] % 4 == 0 && shape[2] % 16 == 0;
      EXPECT_EQ(p.layout == StorageLayout::Packed, packs && divisible)
          << cpuIsaName(isa) << " " << w.str();
      if (p.layout == StorageLayout::RowMajor) {
        EXPECT_EQ(p.storage, w.storage);
      }
    }
  }
  EXPECT_ERROR(packWeights(Tensor::zeros(DType::BF16, {1, 4, 16}), false),
               "npu.pack_weights: weight must be i8, i4 or f32, got bf16");
  EXPECT_ERROR(packWeights(Tensor::zeros(DType::I8, {4, 16}), false),
               "npu.pack_weights: weight must have rank 3, got tensor<4x16xi8>");
}

class PackedMatmul : public ::testing::TestWithParam<std::tuple<int, CpuIsa>> {
};

TEST_P(PackedMatmul, W8A8MatchesScalarReference) {
  // Row tiles of 1 to 8 rows and their remainders, a group of 40 rows,
  // groups of none, column blocks split over two threads (n0 > 0), K of
  // one quad up to many, the int8 extremes; i32 and dequantized results.
  IsaScope scope;
  setKernelThreads(std::get<0>(GetParam()));
  setCpuIsa(std::get<1>(GetParam()));
  std::mt19937 rng(33);
  const std::vector<std::vector<int64_t>> counts = {
      {1, 0, 2}, {3, 5, 0, 4}, {8, 9}, {40, 1}, {0, 0}};
  for (int64_t k : {4, 16, 132, 516}) {
    for (int64_t n : {16, 48, 272, 528}) {
      for (const std::vector<int64_t> &c : counts) {
        int64_t groups = c.size(), m = 1;
        for (int64_t v : c)
          m += v;
        Tensor x = extremeInts(rng, DType::I8, {m, k});
        Tensor w = extremeInts(rng, DType::I8, {groups, k, n});
        Tensor p = packWeights(w, /*inPlace=*/false);
        ASSERT_EQ(p.layout, StorageLayout::Packed);
        std::vector<double> want = reference(x, w, c, nullptr, nullptr);
        std::vector<int32_t> got = values<int32_t>(
            groupedMatmul(x, p, i64({groups}, c), {}, MatmulQuant::W8A8,
                          GroupListType::Count, DType::I32));
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i], static_cast<int32_t>(want[i]))
              << "k " << k << " n " << n << " element " << i;
        // Dequantized: the same epilogue as the row-major weight's.
        Tensor scale = randomFloat(rng, DType::F32, {groups, n});
        Tensor perToken = randomFloat(rng, DType::F32, {m});
        MatmulScales sc{&scale, &perToken};
        EXPECT_EQ(floats(groupedMatmul(x, p, i64({groups}, c), sc,
                                       MatmulQuant::W8A8, GroupListType::Count,
                                       DType::F32)),
                  floats(groupedMatmul(x, w, i64({groups}, c), sc,
                                       MatmulQuant::W8A8, GroupListType::Count,
                                       DType::F32)))
            << "k " << k << " n " << n;
      }
    }
  }
}

TEST_P(PackedMatmul, W4A8MatchesScalarReference) {
  // The packed int4 layout where the variant has it: K blocks of 4 to 64
  // rows, column blocks of whole 32-column strips over two threads, the
  // kernel form's bias (zero 136) and not, the int4 extremes; powers of two
  // as group scales keep the float results exact.
  IsaScope scope;
  setKernelThreads(std::get<0>(GetParam()));
  setCpuIsa(std::get<1>(GetParam()));
  if (!detail::kernels().gemmU4Packed)
    GTEST_SKIP() << "no packed int4 kernel in this variant";
  std::mt19937 rng(37);
  expectExactPackedW4A8Cases(rng);
  // A group size that is not a multiple of 4 cannot be read in quads.
  Tensor w = extremeInts(rng, DType::I4, {1, 12, 32});
  Tensor gs = Tensor::zeros(DType::F32, {1, 2, 32});
  Tensor x = extremeInts(rng, DType::I8, {1, 12});
  MatmulScales sc{nullptr, nullptr, &gs};
  EXPECT_ERROR(groupedMatmul(x, packWeights(w, false), i64({1}, {1}), sc,
                             MatmulQuant::W4A8, GroupListType::Count,
                             DType::F32),
               "a packed weight needs a group size that is a multiple of 4, "
               "got 6");
  // The kernel sums 16 (w + 8) x over a group in an i32: a group of more
  // than 65536 rows is refused, not summed past 2^31.
  const int64_t big = 65540;
  Tensor wBig = Tensor::zeros(DType::I4, {1, big, 32});
  Tensor gsBig = Tensor::zeros(DType::F32, {1, 1, 32});
  MatmulScales scBig{nullptr, nullptr, &gsBig};
  EXPECT_ERROR(groupedMatmul(Tensor::zeros(DType::I8, {1, big}),
                             packWeights(wBig, false), i64({1}, {1}), scBig,
                             MatmulQuant::W4A8, GroupListType::Count,
                             DType::F32),
               "a packed int4 weight's group size is at most 65536, got 65540");
}

TEST(PackedWeights, W4A8PairsMatchScalarReference) {
  // The packed int4 k-pair layout of the variants without vpdpbusd
  // (gemmU4Pairs): the same cases as W4A8MatchesScalarReference, on one and
  // two kernel threads.
  IsaScope scope;
  std::mt19937 rng(38);
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    if (!detail::kernels().gemmU4Pairs)
      continue;
    for (int threads : {1, 2}) {
      setKernelThreads(threads);
      SCOPED_TRACE(std::string(cpuIsaName(isa)) + " threads " +
                   std::to_string(threads));
      expectExactPackedW4A8Cases(rng);
    }
  }
}

TEST(PackedWeights, Int4LayoutIsNibblePairsOfStripHalves) {
  // Byte 4c + r of quad row q of strip s: w[4q + r, 32s + c] + 8 low,
  // w[4q + r, 32s + 16 + c] + 8 high (MatmulKernels.h).
  IsaScope scope;
  std::mt19937 rng(38);
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    if (!detail::kernels().gemmU4Packed)
      continue;
    const int64_t G = 2, K = 8, N = 64;
    Tensor w = extremeInts(rng, DType::I4, {G, K, N});
    Tensor p = packWeights(w, /*inPlace=*/false);
    ASSERT_EQ(p.layout, StorageLayout::Packed) << cpuIsaName(isa);
    EXPECT_EQ(p.nbytes(), w.nbytes());
    for (int64_t g = 0; g < G; ++g)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) {
          int64_t s = n / 32, c = n % 16, hi = (n % 32) / 16;
          uint8_t byte = p.bytes()[g * K * N / 2 + s * (K / 4 * 64) +
                                   (k / 4) * 64 + 4 * c + k % 4];
          ASSERT_EQ((byte >> (4 * hi)) & 0xF, int4At(w, (g * K + k) * N + n) + 8)
              << "g " << g << " k " << k << " n " << n;
        }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, PackedMatmul,
    ::testing::Combine(::testing::Values(1, 2),
                       ::testing::ValuesIn(packingIsas())),
    [](const ::testing::TestParamInfo<PackedMatmul::ParamType> &info) {
      return std::to_string(std::get<0>(info.param)) + "_" +
             cpuIsaName(std::get<1>(info.param));
    });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PackedMatmul);

TEST_F(OnPackingVariant, InPlaceOncePerStorageAndRefusedRowMajor) {
  std::mt19937 rng(34);
  const int64_t G = 3, K = 64, N = 32;
  Tensor w = extremeInts(rng, DType::I8, {G, K, N});
  Tensor original = Tensor::empty(DType::I8, w.shape);
  std::memcpy(original.bytes(), w.bytes(), w.nbytes());
  Tensor packed = packWeights(w, /*inPlace=*/true);
  EXPECT_EQ(packed.storage, w.storage); // no second copy of the weights
  EXPECT_EQ(packed.layout, StorageLayout::Packed);
  EXPECT_EQ(values<int8_t>(packed), values<int8_t>(packWeights(original, false)));
  // A rank sharing the storage packs nothing again, donating or not.
  std::vector<int8_t> bytes = values<int8_t>(w);
  Tensor sharer = w;
  for (bool inPlace : {true, false}) {
    Tensor again = packWeights(sharer, inPlace);
    EXPECT_EQ(again.storage, w.storage);
    EXPECT_EQ(again.layout, StorageLayout::Packed);
    EXPECT_EQ(values<int8_t>(w), bytes);
  }
  Tensor x = extremeInts(rng, DType::I8, {5, K});
  std::vector<int64_t> counts = {2, 0, 3};
  std::vector<double> want = reference(x, original, counts, nullptr, nullptr);
  std::vector<int32_t> got = values<int32_t>(
      groupedMatmul(x, packed, i64({G}, counts), {}, MatmulQuant::W8A8,
                    GroupListType::Count, DType::I32));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], static_cast<int32_t>(want[i])) << "element " << i;
  // The donated buffer read row-major again, by either matmul.
  EXPECT_ERROR(groupedMatmul(x, w, i64({G}, counts), {}, MatmulQuant::W8A8,
                             GroupListType::Count, DType::I32),
               "npu.grouped_matmul: the weight tensor<3x64x32xi8> was packed "
               "in place by a donating load");
  Tensor x2 = extremeInts(rng, DType::I8, {2, K * G});
  Tensor flat = w;
  flat.shape = {K * G, N};
  EXPECT_ERROR(matmul(x2, flat, {}, MatmulQuant::W8A8, DType::I32),
               "npu.matmul: the weight tensor<192x32xi8> was packed in place");
}

TEST_F(OnPackingVariant, BorrowedBuffersAreCopiedEvenWhenDonated) {
  // The runtime cannot tell a later borrow of the same memory from another
  // buffer, so a borrowed weight is never rewritten in place.
  std::mt19937 rng(39);
  Tensor owned = extremeInts(rng, DType::I8, {2, 8, 32});
  alignas(64) static int8_t memory[2 * 8 * 32];
  std::memcpy(memory, owned.bytes(), sizeof(memory));
  Tensor borrowed = owned;
  borrowed.storage = std::shared_ptr<uint8_t>(
      reinterpret_cast<uint8_t *>(memory), BorrowedStorage());
  EXPECT_FALSE(borrowed.ownsStorage());
  EXPECT_TRUE(owned.ownsStorage());
  Tensor p = packWeights(borrowed, /*inPlace=*/true);
  EXPECT_EQ(p.layout, StorageLayout::Packed);
  EXPECT_NE(p.bytes(), borrowed.bytes());
  EXPECT_EQ(std::memcmp(memory, owned.bytes(), sizeof(memory)), 0);
  EXPECT_EQ(values<int8_t>(p), values<int8_t>(packWeights(owned, false)));
}

TEST_F(OnPackingVariant, ErrorsOfAPackedWeight) {
  std::mt19937 rng(35);
  Tensor w = extremeInts(rng, DType::I8, {1, 8, 16});
  Tensor p = packWeights(w, /*inPlace=*/false);
  Tensor x = extremeInts(rng, DType::I8, {2, 8});
  Tensor flat = p;
  flat.shape = {8, 16};
  EXPECT_ERROR(matmul(x, flat, {}, MatmulQuant::W8A8, DType::I32),
               "npu.matmul: a packed weight tensor<8x16xi8, packed> is read "
               "only by npu.grouped_matmul");
  Tensor xf = Tensor::zeros(DType::F32, {2, 8});
  EXPECT_ERROR(groupedMatmul(xf, p, i64({1}, {2}), {}, MatmulQuant::None,
                             GroupListType::Count, DType::F32),
               "npu.grouped_matmul: a packed i8 weight tensor<1x8x16xi8, "
               "packed> needs w8a8 or w4a8, not quant none");
  EXPECT_ERROR(packWeights(p, false),
               "npu.pack_weights: the weight tensor<1x8x16xi8, packed> is "
               "packed already");
  // Packed for vpdpbusd, run where the kernels have none.
  setCpuIsa(CpuIsa::Portable);
  EXPECT_ERROR(groupedMatmul(x, p, i64({1}, {2}), {}, MatmulQuant::W8A8,
                             GroupListType::Count, DType::I32),
               "was packed for kernels which this process's kernels "
               "(portable) lack");
}

TEST(PackedWeights, KernelContractForQuadAlignedRanges) {
  // gemmU8Packed called directly: k ranges of whole quads, column ranges
  // of whole strips inside the weight, group 1 of the stack, signed
  // activations over the whole int8 range (a row stride past K), against
  // the row-major weight.
  IsaScope scope;
  std::mt19937 rng(36);
  std::uniform_int_distribution<int> byte(0, 255);
  const int64_t K = 40, N = 64, lda = K + 4;
  struct Range {
    int64_t k0, k1, n0, n1;
  };
  for (CpuIsa isa : packingIsas()) {
    setCpuIsa(isa);
    SCOPED_TRACE(cpuIsaName(isa));
    const detail::KernelTable &kt = detail::kernels();
    Tensor w = extremeInts(rng, DType::I8, {2, K, N});
    Tensor p = packWeights(w, false);
    detail::WeightView view{p.bytes(), DType::I8, K * N, K, N};
    for (Range r : {Range{0, K, 0, N}, Range{4, 36, 16, 48},
                    Range{8, 12, 48, 64}, Range{12, 12, 0, 32}}) {
      for (int64_t m : {1, 3, 9}) {
        std::vector<int8_t> a(m * lda);
        for (int8_t &v : a)
          v = static_cast<int8_t>(byte(rng) - 128);
        int64_t cols = r.n1 - r.n0, ldc = cols + 16;
        std::vector<int32_t> c(m * ldc, -7);
        kt.gemmU8Packed(a.data(), lda, m, view, r.k0, r.k1, r.n0, r.n1,
                        c.data(), ldc);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < cols; ++j) {
            int64_t want = 0;
            for (int64_t k = r.k0; k < r.k1; ++k)
              want += int64_t(a[i * lda + k]) *
                      w.data<int8_t>()[K * N + k * N + r.n0 + j];
            ASSERT_EQ(c[i * ldc + j], want)
                << "k " << r.k0 << ".." << r.k1 << " n " << r.n0 << ".."
                << r.n1 << " row " << i << " column " << j;
          }
      }
    }
  }
}

} // namespace
