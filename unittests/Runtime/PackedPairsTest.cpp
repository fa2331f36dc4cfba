//===- PackedPairsTest.cpp - int weights packed for CPUs without VNNI ----===//
//
// npu.pack_weights on an int8 or int4 stack where the kernels have no
// vpdpbusd (avx2, avx512): MatmulKernels.h's packed k-pair layouts
// (StorageLayout::PackedPairs). gemmI8Packed exact against an int64
// product of the row-major weight; a weight packed for one variant refused
// by another. (gemmU4Pairs' results: KernelsU8Test.cpp,
// W4A8PairsMatchScalarReference.)
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "../../lib/Runtime/Kernels/MatmulKernels.h"

using namespace moert;
using namespace moert::test;

namespace {

/// The variants whose kernels pack int8 weights as k-pairs.
std::vector<CpuIsa> pairIsas() {
  return isasWhere([] { return detail::kernels().gemmI8Packed != nullptr; });
}

/// Int8 values with the extremes (-128, 127) drawn often.
Tensor extremeI8(std::mt19937 &rng, std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(DType::I8, std::move(shape));
  std::uniform_int_distribution<int> v(-128, 127), pick(0, 3);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int p = pick(rng);
    t.data<int8_t>()[i] =
        static_cast<int8_t>(p == 0 ? -128 : p == 1 ? 127 : v(rng));
  }
  return t;
}

/// The exact i32 result [m, n] of x [m, k] times group g's rows of w for
/// the rows of each group (counts), zero past them.
std::vector<int32_t> product(const Tensor &x, const Tensor &w,
                             const std::vector<int64_t> &counts) {
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(2);
  std::vector<int32_t> out(m * n, 0);
  int64_t row = 0;
  for (size_t g = 0; g < counts.size(); ++g)
    for (int64_t end = row + counts[g]; row < end; ++row)
      for (int64_t j = 0; j < n; ++j) {
        int64_t acc = 0;
        for (int64_t c = 0; c < k; ++c)
          acc += int64_t(x.data<int8_t>()[row * k + c]) *
                 w.data<int8_t>()[(static_cast<int64_t>(g) * k + c) * n + j];
        out[row * n + j] = static_cast<int32_t>(acc);
      }
  return out;
}

TEST(PackedI8Pairs, LayoutIsStripsOfPairsOverTheWholeK) {
  // Byte (g, n / 16, k / 2, n % 16, k % 2) of [G][N/16][K/2][16][2] holds
  // w[g, k, n] (MatmulKernels.h).
  IsaScope scope;
  std::mt19937 rng(51);
  for (CpuIsa isa : pairIsas()) {
    setCpuIsa(isa);
    const int64_t G = 2, K = 10, N = 48;
    Tensor w = extremeI8(rng, {G, K, N});
    std::vector<int8_t> before = values<int8_t>(w);
    Tensor p = packWeights(w, /*inPlace=*/false);
    ASSERT_EQ(p.layout, StorageLayout::PackedPairs) << cpuIsaName(isa);
    EXPECT_NE(p.storage, w.storage); // int8: a copy when not donated
    EXPECT_EQ(values<int8_t>(w), before);
    EXPECT_EQ(p.str(), "tensor<2x10x48xi8, packed pairs>");
    for (int64_t g = 0; g < G; ++g)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(p.data<int8_t>()[g * K * N + (n / 16) * K * 16 +
                                     (k / 2) * 32 + (n % 16) * 2 + k % 2],
                    before[(g * K + k) * N + n])
              << "g " << g << " k " << k << " n " << n;
  }
}

TEST(PackedI4Pairs, LayoutIsNibblesOfStripHalvesInPairs) {
  // Byte 2c + r of pair row p of strip s: w[2p + r, 32s + c] + 8 low,
  // w[2p + r, 32s + 16 + c] + 8 high (MatmulKernels.h).
  IsaScope scope;
  std::mt19937 rng(55);
  for (CpuIsa isa : pairIsas()) {
    setCpuIsa(isa);
    const int64_t G = 2, K = 6, N = 64;
    Tensor w = randomInt(rng, DType::I4, {G, K, N}, -8, 7);
    Tensor p = packWeights(w, /*inPlace=*/false);
    ASSERT_EQ(p.layout, StorageLayout::PackedPairs) << cpuIsaName(isa);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t s = 0; s < N / 32; ++s)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t c = 0; c < 16; ++c) {
            uint8_t byte = p.bytes()[g * K * N / 2 + s * K * 16 +
                                     (k / 2) * 32 + 2 * c + k % 2];
            int64_t at = (g * K + k) * N + 32 * s + c;
            ASSERT_EQ(byte & 0x0F, getI4(w.bytes(), at) + 8);
            ASSERT_EQ(byte >> 4, getI4(w.bytes(), at + 16) + 8);
          }
    // Odd K, partial strips: row-major.
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{1, 5, 32}, std::vector<int64_t>{1, 4, 48}})
      EXPECT_EQ(packWeights(randomInt(rng, DType::I4, shape, -8, 7), false)
                    .layout,
                StorageLayout::RowMajor);
  }
}

TEST(PackedI8Pairs, OddKAndPartialStripsStayRowMajor) {
  IsaScope scope;
  std::mt19937 rng(52);
  for (CpuIsa isa : pairIsas()) {
    setCpuIsa(isa);
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{2, 7, 32}, std::vector<int64_t>{2, 8, 24},
          std::vector<int64_t>{0, 8, 32}}) {
      Tensor w = extremeI8(rng, shape);
      Tensor p = packWeights(w, /*inPlace=*/false);
      EXPECT_EQ(p.layout, StorageLayout::RowMajor)
          << cpuIsaName(isa) << " " << w.str();
      EXPECT_EQ(p.storage, w.storage);
    }
  }
}

class PackedI8PairsMatmul
    : public ::testing::TestWithParam<std::tuple<int, CpuIsa>> {};

TEST_P(PackedI8PairsMatmul, W8A8MatchesExactProduct) {
  // Row tiles of 1 to 6 rows and their even splits, a group of 40 rows,
  // groups of none, rows past the groups, column blocks over two threads
  // (n0 > 0), K of one pair up to many, the int8 extremes; the i32 result
  // exact, the dequantized one equal to the row-major weight's.
  IsaScope scope;
  setKernelThreads(std::get<0>(GetParam()));
  setCpuIsa(std::get<1>(GetParam()));
  std::mt19937 rng(53);
  const std::vector<std::vector<int64_t>> counts = {
      {1, 0, 2}, {3, 5, 0, 4}, {8, 9}, {40, 1}, {0, 0}, {6, 7, 13}};
  for (int64_t k : {2, 16, 130, 514}) {
    for (int64_t n : {16, 48, 272, 528}) {
      for (const std::vector<int64_t> &c : counts) {
        int64_t groups = c.size(), m = 2;
        for (int64_t v : c)
          m += v;
        Tensor x = extremeI8(rng, {m, k});
        Tensor w = extremeI8(rng, {groups, k, n});
        Tensor p = packedCopy(w);
        ASSERT_EQ(p.layout, StorageLayout::PackedPairs);
        std::string what = "k " + std::to_string(k) + " n " +
                           std::to_string(n) + " groups " +
                           std::to_string(groups);
        std::vector<int32_t> got = values<int32_t>(
            groupedMatmul(x, p, i64({groups}, c), {}, MatmulQuant::W8A8,
                          GroupListType::Count, DType::I32));
        ASSERT_EQ(got, product(x, w, c)) << what;
        Tensor scale = randomFloat(rng, DType::F32, {groups, n});
        Tensor perToken = randomFloat(rng, DType::F32, {m});
        MatmulScales sc{&scale, &perToken};
        EXPECT_EQ(floats(groupedMatmul(x, p, i64({groups}, c), sc,
                                       MatmulQuant::W8A8, GroupListType::Count,
                                       DType::F32)),
                  floats(groupedMatmul(x, w, i64({groups}, c), sc,
                                       MatmulQuant::W8A8, GroupListType::Count,
                                       DType::F32)))
            << what;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, PackedI8PairsMatmul,
    ::testing::Combine(::testing::Values(1, 2), ::testing::ValuesIn(pairIsas())),
    [](const ::testing::TestParamInfo<PackedI8PairsMatmul::ParamType> &info) {
      return std::to_string(std::get<0>(info.param)) + "_" +
             cpuIsaName(std::get<1>(info.param));
    });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PackedI8PairsMatmul);

TEST(PackedI8Pairs, AnotherVariantsLayoutIsRefused) {
  // Pairs read where the kernels pack quads (vpdpbusd) or nothing, and
  // quads read where they pack pairs: refused, never misread.
  IsaScope scope;
  std::mt19937 rng(54);
  std::vector<CpuIsa> isas = pairIsas();
  if (isas.empty())
    GTEST_SKIP() << "no kernel variant packs int8 pairs on this CPU";
  Tensor x = extremeI8(rng, {3, 8});
  Tensor w = extremeI8(rng, {1, 8, 16});
  setCpuIsa(isas.front());
  Tensor pairs = packWeights(w, /*inPlace=*/false);
  ASSERT_EQ(pairs.layout, StorageLayout::PackedPairs);
  std::vector<CpuIsa> others = {CpuIsa::Portable};
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    if (detail::kernels().gemmU8Packed)
      others.push_back(isa);
  }
  for (CpuIsa isa : others) {
    setCpuIsa(isa);
    EXPECT_ERROR(groupedMatmul(x, pairs, i64({1}, {3}), {}, MatmulQuant::W8A8,
                               GroupListType::Count, DType::I32),
                 "npu.grouped_matmul: the weight tensor<1x8x16xi8, packed "
                 "pairs> was packed for kernels which this process's kernels (" +
                     std::string(cpuIsaName(isa)) + ") lack");
    if (isa == CpuIsa::Portable)
      continue;
    Tensor quads = packWeights(w, /*inPlace=*/false);
    ASSERT_EQ(quads.layout, StorageLayout::Packed);
    setCpuIsa(isas.front());
    EXPECT_ERROR(groupedMatmul(x, quads, i64({1}, {3}), {}, MatmulQuant::W8A8,
                               GroupListType::Count, DType::I32),
                 "npu.grouped_matmul: the weight tensor<1x8x16xi8, packed> "
                 "was packed for kernels which this process's kernels (" +
                     std::string(cpuIsaName(isas.front())) + ") lack");
  }
}

} // namespace
