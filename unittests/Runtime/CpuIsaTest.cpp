//===- CpuIsaTest.cpp - kernel variants per instruction set ---------------===//
//
// The variants this CPU supports (CpuIsa.h) against /proc/cpuinfo, and
// every supported variant's kernels against the portable ones and an
// independent reference: int8/int4 matmuls and dynamic quantization
// bit-identical, f32 results within the documented tolerance. The matmul
// suites (KernelsMatmulTest.cpp) also run under every variant.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"

#include "moe/Runtime/CpuIsa.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

using namespace moert;
using namespace moert::test;

namespace {

/// The CPU's feature flags as the kernel reports them (/proc/cpuinfo).
std::set<std::string> cpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0)
      continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;)
      flags.insert(w);
    return flags;
  }
  return {};
}

TEST(CpuIsa, SupportedVariantsMatchTheCpu) {
  std::vector<CpuIsa> isas = supportedCpuIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), CpuIsa::Portable);
  std::set<std::string> f = cpuFlags();
#if defined(__x86_64__)
  if (f.empty())
    GTEST_SKIP() << "no /proc/cpuinfo flags";
  bool avx2 = f.count("avx2") && f.count("fma") && f.count("f16c");
  bool avxVnni = avx2 && f.count("avx_vnni");
  bool avx512 = avx2 && f.count("avx512f");
  bool vnni = avx512 && f.count("avx512_vnni") && f.count("avx512bw");
  EXPECT_EQ(cpuIsaSupported(CpuIsa::Avx2), avx2);
  EXPECT_EQ(cpuIsaSupported(CpuIsa::AvxVnni), avxVnni);
  EXPECT_EQ(cpuIsaSupported(CpuIsa::Avx512), avx512);
  EXPECT_EQ(cpuIsaSupported(CpuIsa::Avx512Vnni), vnni);
#else
  EXPECT_EQ(isas, std::vector<CpuIsa>{CpuIsa::Portable});
#endif
  // Without MOE_CPU_ISA (lit runs the tests without it) the best wins:
  // the last supported one, so AVX-512 CPUs with AVX-VNNI too keep the
  // AVX-512 variants.
  if (!std::getenv("MOE_CPU_ISA")) {
    EXPECT_EQ(cpuIsa(), isas.back());
    if (cpuIsaSupported(CpuIsa::Avx512)) {
      EXPECT_NE(cpuIsa(), CpuIsa::AvxVnni);
    }
  }
}

TEST(CpuIsa, NamesAndUnsupportedVariants) {
  EXPECT_STREQ(cpuIsaName(CpuIsa::Portable), "portable");
  EXPECT_STREQ(cpuIsaName(CpuIsa::Avx2), "avx2");
  EXPECT_STREQ(cpuIsaName(CpuIsa::AvxVnni), "avxvnni");
  EXPECT_STREQ(cpuIsaName(CpuIsa::Avx512), "avx512");
  EXPECT_STREQ(cpuIsaName(CpuIsa::Avx512Vnni), "avx512vnni");
  IsaScope scope;
  for (CpuIsa isa : {CpuIsa::Avx2, CpuIsa::AvxVnni, CpuIsa::Avx512,
                     CpuIsa::Avx512Vnni})
    if (!cpuIsaSupported(isa))
      EXPECT_ERROR(setCpuIsa(isa),
                   std::string("cannot run ") + cpuIsaName(isa));
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    EXPECT_EQ(cpuIsa(), isa);
  }
}

/// Everything one variant computes on fixed random inputs.
struct Results {
  std::vector<float> f32[3];      // f32, bf16, f16 weights
  std::vector<int32_t> w8a8;      // raw i32
  std::vector<float> w4a8;
  std::vector<int8_t> quant;
  std::vector<float> quantScale;
  std::vector<float> swiglu;
  std::vector<int8_t> dsq;
  std::vector<float> dsqScale;
};

/// Rows per group cover the row-streaming kernels (<= 8), the panels and
/// oneDNN (>= 32); K and N odd sizes and partial strips.
Results runAll(CpuIsa isa) {
  setCpuIsa(isa);
  std::mt19937 rng(11);
  std::vector<int64_t> counts = {1, 5, 8, 13, 40, 0, 3};
  int64_t g = static_cast<int64_t>(counts.size()), m = 0, k = 67, n = 45;
  for (int64_t c : counts)
    m += c;
  Tensor list = i64({g}, counts);
  Results r;
  const DType weights[] = {DType::F32, DType::BF16, DType::F16};
  for (int i = 0; i < 3; ++i) {
    Tensor x = randomFloat(rng, DType::F32, {m, k});
    Tensor w = randomFloat(rng, weights[i], {g, k, n});
    r.f32[i] = floats(groupedMatmul(x, w, list, {}, MatmulQuant::None,
                                    GroupListType::Count, DType::F32));
  }
  Tensor xq = randomInt(rng, DType::I8, {m, k}, -127, 127);
  Tensor w8 = randomInt(rng, DType::I8, {g, k, n}, -128, 127);
  r.w8a8 = values<int32_t>(groupedMatmul(xq, w8, list, {}, MatmulQuant::W8A8,
                                         GroupListType::Count, DType::I32));
  Tensor w4 = randomInt(rng, DType::I4, {g, 64, n}, -8, 7);
  Tensor x4 = randomInt(rng, DType::I8, {m, 64}, -127, 127);
  Tensor gsc = randomFloat(rng, DType::F32, {g, 4, n});
  MatmulScales sc{nullptr, nullptr, &gsc};
  r.w4a8 = floats(groupedMatmul(x4, w4, list, sc, MatmulQuant::W4A8,
                                GroupListType::Count, DType::F32));
  Tensor xf = randomFloat(rng, DType::F32, {m, 2 * n});
  auto [q, s] = dynamicQuant(xf);
  r.quant = values<int8_t>(q);
  r.quantScale = values<float>(s);
  r.swiglu = floats(swiglu(xf));
  Tensor acc = randomInt(rng, DType::I8, {m, 2 * n}, -127, 127);
  Tensor acc32 = Tensor::empty(DType::I32, {m, 2 * n});
  for (int64_t i = 0; i < acc.numel(); ++i)
    acc32.data<int32_t>()[i] = acc.data<int8_t>()[i] * 1000;
  Tensor ws = randomFloat(rng, DType::F32, {g, 2 * n});
  Tensor as = randomFloat(rng, DType::F32, {m});
  auto [dq, ds] = dequantSwigluQuant(acc32, ws, as, list, GroupListType::Count);
  r.dsq = values<int8_t>(dq);
  r.dsqScale = values<float>(ds);
  return r;
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                double rel, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double norm = 1;
  for (float v : want)
    norm = std::max(norm, double(std::fabs(v)));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(double(got[i]) - want[i]), rel * norm)
        << what << " element " << i << ": " << got[i] << " vs " << want[i];
}

TEST(CpuIsa, EveryVariantAgreesWithPortable) {
  IsaScope scope;
  Results ref = runAll(CpuIsa::Portable);
  for (CpuIsa isa : supportedCpuIsas()) {
    SCOPED_TRACE(cpuIsaName(isa));
    Results r = runAll(isa);
    for (int i = 0; i < 3; ++i)
      expectNear(r.f32[i], ref.f32[i], 1e-5, "f32 matmul");
    EXPECT_EQ(r.w8a8, ref.w8a8);
    expectNear(r.w4a8, ref.w4a8, 1e-6, "w4a8");
    EXPECT_EQ(r.quant, ref.quant);
    EXPECT_EQ(r.quantScale, ref.quantScale);
    expectNear(r.swiglu, ref.swiglu, 1e-6, "swiglu");
    // FMA rounding may move a SwiGLU value across a rounding boundary.
    ASSERT_EQ(r.dsq.size(), ref.dsq.size());
    for (size_t i = 0; i < r.dsq.size(); ++i)
      ASSERT_LE(std::abs(r.dsq[i] - ref.dsq[i]), 1) << "dsq element " << i;
    expectNear(r.dsqScale, ref.dsqScale, 1e-6, "dsq scale");
  }
}

TEST(CpuIsa, SwigluMatchesStdExpUnderEveryVariant) {
  IsaScope scope;
  // Values over the clamped range and the vector body and scalar tail.
  std::vector<float> h(2 * 37);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = -95.0f + 190.0f * static_cast<float>(i) / (h.size() - 1);
  Tensor x = f32({1, 74}, h);
  for (CpuIsa isa : supportedCpuIsas()) {
    SCOPED_TRACE(cpuIsaName(isa));
    setCpuIsa(isa);
    std::vector<float> got = floats(swiglu(x));
    for (int i = 0; i < 37; ++i) {
      double want = h[i] / (1.0 + std::exp(-double(h[i]))) * h[i + 37];
      EXPECT_LE(std::fabs(got[i] - want), 1e-6 * std::max(1.0, std::fabs(want)))
          << i << ": " << got[i] << " vs " << want;
    }
  }
}

// A NaN gate gives a NaN result in the vector body and in the scalar tail
// (every element under the portable variant) of every variant. The scalar
// exp used to convert the NaN to an integer: undefined behaviour that only
// the UBSan run (scripts/asan.sh) sees, where this test then aborts.
TEST(CpuIsa, SwigluPropagatesNanUnderEveryVariant) {
  IsaScope scope;
  const int64_t n = 19; // 2 vectors of 8 and a tail of 3 for AVX2
  std::vector<float> h(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i)
    h[i] = 0.25f * static_cast<float>(i - n);
  const int64_t nanAt[] = {2, 17, 18}; // vector body, tail, last column
  for (int64_t i : nanAt)
    h[i] = std::nanf("");
  Tensor x = f32({1, 2 * n}, h);
  for (CpuIsa isa : supportedCpuIsas()) {
    SCOPED_TRACE(cpuIsaName(isa));
    setCpuIsa(isa);
    std::vector<float> got = floats(swiglu(x));
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(h[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << i << ": " << got[i];
        continue;
      }
      double want = h[i] / (1.0 + std::exp(-double(h[i]))) * h[i + n];
      EXPECT_LE(std::fabs(got[i] - want), 1e-6 * std::max(1.0, std::fabs(want)))
          << i << ": " << got[i] << " vs " << want;
    }
  }
}

} // namespace
