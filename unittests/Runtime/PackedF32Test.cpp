//===- PackedF32Test.cpp - f32 weights packed at load ---------------------===//
//
// npu.pack_weights on an f32 stack (MatmulKernels.h's packed f32 layout:
// 16-column strips over the whole K) and npu.grouped_matmul reading it
// with gemmF32Packed, on every kernel variant that has it, against a naive
// double-precision product of the row-major weight.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "../../lib/Runtime/Kernels/MatmulKernels.h"

#include <cmath>

using namespace moert;
using namespace moert::test;

namespace {

/// The variants whose kernels read a packed f32 weight.
std::vector<CpuIsa> f32PackingIsas() {
  return isasWhere([] { return detail::kernels().gemmF32Packed != nullptr; });
}

/// Expects `got` [m, n] to be the product of x [m, k] and group g's rows of
/// w [G, k, n] for the rows of each group (counts), zero past them, within
/// the rounding of a k-term f32 sum: (k + 2) * 2^-24 * sum |x| |w|.
void expectProduct(const Tensor &got, const Tensor &x, const Tensor &w,
                   const std::vector<int64_t> &counts, const std::string &what) {
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(2);
  ASSERT_EQ(got.shape, (std::vector<int64_t>{m, n})) << what;
  const float *xf = x.data<float>(), *wf = w.data<float>();
  const float *out = got.data<float>();
  int64_t row = 0;
  for (size_t g = 0; g <= counts.size(); ++g) {
    int64_t end = g < counts.size() ? row + counts[g] : m;
    for (; row < end; ++row)
      for (int64_t j = 0; j < n; ++j) {
        double want = 0, abs = 0;
        if (g < counts.size())
          for (int64_t c = 0; c < k; ++c) {
            double p = double(xf[row * k + c]) *
                       wf[(static_cast<int64_t>(g) * k + c) * n + j];
            want += p;
            abs += std::fabs(p);
          }
        double tol = (k + 2) * std::ldexp(abs, -24);
        ASSERT_LE(std::fabs(out[row * n + j] - want), tol)
            << what << " row " << row << " column " << j;
      }
  }
}

TEST(PackedF32, LayoutIsStripsOverTheWholeK) {
  // Float (g, n / 16, k, n % 16) of group g's [N/16][K][16] holds w[g, k, n]
  // (MatmulKernels.h), in the weight's own storage.
  IsaScope scope;
  std::mt19937 rng(41);
  for (CpuIsa isa : f32PackingIsas()) {
    setCpuIsa(isa);
    const int64_t G = 2, K = 7, N = 48;
    Tensor w = randomFloat(rng, DType::F32, {G, K, N});
    std::vector<float> before = values<float>(w);
    Tensor p = packWeights(w, /*inPlace=*/true);
    ASSERT_EQ(p.layout, StorageLayout::Packed) << cpuIsaName(isa);
    EXPECT_EQ(p.storage, w.storage);
    EXPECT_EQ(p.shape, w.shape);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(p.data<float>()[g * K * N + (n / 16) * K * 16 + k * 16 +
                                    n % 16],
                    before[(g * K + k) * N + n])
              << "g " << g << " k " << k << " n " << n;
  }
}

TEST(PackedF32, ShapesAndCpusWithoutTheLayoutStayRowMajor) {
  // And a weight that cannot be packed in place (not donated, or borrowed)
  // is not copied: a packed copy would hold the weights twice.
  IsaScope scope;
  std::mt19937 rng(42);
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    bool packs = detail::kernels().gemmF32Packed != nullptr;
    // N % 16, any K (odd and zero included), an empty stack.
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{2, 5, 32}, std::vector<int64_t>{2, 8, 24},
          std::vector<int64_t>{2, 0, 16}, std::vector<int64_t>{0, 8, 32}}) {
      Tensor w = randomFloat(rng, DType::F32, shape);
      std::vector<float> before = values<float>(w);
      Tensor kept = packWeights(w, /*inPlace=*/false);
      EXPECT_EQ(kept.layout, StorageLayout::RowMajor);
      EXPECT_EQ(kept.storage, w.storage);
      Tensor borrowed = w;
      borrowed.storage =
          std::shared_ptr<uint8_t>(w.bytes(), BorrowedStorage());
      Tensor lent = packWeights(borrowed, /*inPlace=*/true);
      EXPECT_EQ(lent.layout, StorageLayout::RowMajor);
      EXPECT_EQ(lent.bytes(), w.bytes());
      EXPECT_EQ(values<float>(w), before);
      Tensor p = packWeights(w, /*inPlace=*/true);
      bool packable = shape[0] * shape[1] > 0 && shape[2] % 16 == 0;
      EXPECT_EQ(p.layout == StorageLayout::Packed, packs && packable)
          << cpuIsaName(isa) << " " << w.str();
      EXPECT_EQ(p.storage, w.storage);
      if (p.layout == StorageLayout::RowMajor) {
        EXPECT_EQ(values<float>(w), before);
      }
    }
  }
}

class PackedF32Matmul
    : public ::testing::TestWithParam<std::tuple<int, CpuIsa>> {};

TEST_P(PackedF32Matmul, MatchesNaive) {
  // Row tiles of 1 to 8 rows and their remainders, a group of 40 rows (more
  // than one tile over a strip), groups of none, rows past the groups,
  // column blocks split over two threads (n0 > 0), K of one row up to many,
  // an odd number of strips (the 16-wide tail of the two-strip kernel).
  IsaScope scope;
  setKernelThreads(std::get<0>(GetParam()));
  setCpuIsa(std::get<1>(GetParam()));
  std::mt19937 rng(43);
  const std::vector<std::vector<int64_t>> counts = {
      {1, 0, 2}, {3, 5, 0, 4}, {8, 9}, {40, 1}, {0, 0}, {6, 7, 13}};
  for (int64_t k : {1, 5, 64, 301}) {
    for (int64_t n : {16, 48, 272, 528}) {
      for (const std::vector<int64_t> &c : counts) {
        int64_t groups = c.size(), m = 2; // two rows past the groups
        for (int64_t v : c)
          m += v;
        Tensor x = randomFloat(rng, DType::F32, {m, k});
        Tensor w = randomFloat(rng, DType::F32, {groups, k, n});
        Tensor p = packedCopy(w);
        ASSERT_EQ(p.layout, StorageLayout::Packed);
        std::string what = "k " + std::to_string(k) + " n " +
                           std::to_string(n) + " groups " +
                           std::to_string(groups);
        expectProduct(groupedMatmul(x, p, i64({groups}, c), {},
                                    MatmulQuant::None, GroupListType::Count,
                                    DType::F32),
                      x, w, c, what);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, PackedF32Matmul,
    ::testing::Combine(::testing::Values(1, 2),
                       ::testing::ValuesIn(f32PackingIsas())),
    [](const ::testing::TestParamInfo<PackedF32Matmul::ParamType> &info) {
      return std::to_string(std::get<0>(info.param)) + "_" +
             cpuIsaName(std::get<1>(info.param));
    });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PackedF32Matmul);

TEST(PackedF32, InPlaceOnceAndRefusedRowMajor) {
  IsaScope scope;
  std::vector<CpuIsa> isas = f32PackingIsas();
  if (isas.empty())
    GTEST_SKIP() << "no kernel variant reads packed f32 weights on this CPU";
  setCpuIsa(isas.back());
  std::mt19937 rng(44);
  const int64_t G = 3, K = 20, N = 32;
  Tensor w = randomFloat(rng, DType::F32, {G, K, N});
  Tensor original = Tensor::empty(DType::F32, w.shape);
  std::memcpy(original.bytes(), w.bytes(), w.nbytes());
  Tensor packed = packWeights(w, /*inPlace=*/true);
  EXPECT_EQ(packed.storage, w.storage); // no second copy of the weights
  EXPECT_EQ(packed.layout, StorageLayout::Packed);
  EXPECT_EQ(values<float>(packed), values<float>(packedCopy(original)));
  // A rank sharing the storage packs nothing again, donating or not.
  std::vector<float> bytes = values<float>(w);
  for (bool inPlace : {true, false}) {
    Tensor again = packWeights(w, inPlace);
    EXPECT_EQ(again.storage, w.storage);
    EXPECT_EQ(again.layout, StorageLayout::Packed);
    EXPECT_EQ(values<float>(w), bytes);
  }
  Tensor x = randomFloat(rng, DType::F32, {6, K});
  std::vector<int64_t> counts = {2, 0, 3};
  clearMatmulPlan();
  expectProduct(groupedMatmul(x, packed, i64({G}, counts), {},
                              MatmulQuant::None, GroupListType::Count,
                              DType::F32),
                x, original, counts, "in place");
  // The profile's plan names the one engine of the layout, untimed.
  std::vector<MatmulPlanEntry> plan = matmulPlan();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].shape,
            std::string("f32 K 20 N 32 packed ") + cpuIsaName(isas.back()));
  EXPECT_EQ(plan[0].engine, "panel");
  EXPECT_ERROR(groupedMatmul(x, w, i64({G}, counts), {}, MatmulQuant::None,
                             GroupListType::Count, DType::F32),
               "npu.grouped_matmul: the weight tensor<3x20x32xf32> was packed "
               "in place by a donating load");
  Tensor flat = w;
  flat.shape = {K * G, N};
  Tensor x2 = randomFloat(rng, DType::F32, {2, K * G});
  EXPECT_ERROR(matmul(x2, flat, {}, MatmulQuant::None, DType::F32),
               "npu.matmul: the weight tensor<60x32xf32> was packed in place");
  // Packed for this variant, run where the kernels read no packed f32.
  setCpuIsa(CpuIsa::Portable);
  EXPECT_ERROR(groupedMatmul(x, packed, i64({G}, counts), {},
                             MatmulQuant::None, GroupListType::Count,
                             DType::F32),
               "npu.grouped_matmul: the weight tensor<3x20x32xf32, packed> "
               "was packed for kernels which this process's kernels "
               "(portable) lack");
}

} // namespace
