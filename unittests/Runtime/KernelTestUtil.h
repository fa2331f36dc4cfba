//===- KernelTestUtil.h - helpers of the kernel unit tests ------*- C++ -*-===//

#ifndef MOE_UNITTESTS_RUNTIME_KERNELTESTUTIL_H
#define MOE_UNITTESTS_RUNTIME_KERNELTESTUTIL_H

#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/MatmulEngine.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace moert::test {

/// A `dtype` tensor of `shape` holding `v` (whose element type matches).
template <typename T>
Tensor filled(DType dtype, std::vector<int64_t> shape,
              const std::vector<T> &v) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  EXPECT_EQ(static_cast<size_t>(t.numel()), v.size());
  if (!v.empty()) // memcpy's pointers must not be null, even for 0 bytes
    std::memcpy(t.bytes(), v.data(), v.size() * sizeof(T));
  return t;
}
inline Tensor f32(std::vector<int64_t> shape, const std::vector<float> &v) {
  return filled(DType::F32, std::move(shape), v);
}
inline Tensor i32(std::vector<int64_t> shape, const std::vector<int32_t> &v) {
  return filled(DType::I32, std::move(shape), v);
}
inline Tensor i64(std::vector<int64_t> shape, const std::vector<int64_t> &v) {
  return filled(DType::I64, std::move(shape), v);
}
inline Tensor i8(std::vector<int64_t> shape, const std::vector<int8_t> &v) {
  return filled(DType::I8, std::move(shape), v);
}

template <typename T> std::vector<T> values(const Tensor &t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}
/// Any float tensor as f32 values.
inline std::vector<float> floats(const Tensor &t) {
  std::vector<float> v(t.numel());
  if (!v.empty())
    loadF32(t, 0, t.numel(), v.data());
  return v;
}

/// Random tensors.
inline Tensor randomFloat(std::mt19937 &rng, DType dtype,
                          std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(t.numel());
  for (float &x : v)
    x = d(rng);
  if (!v.empty())
    storeF32(t, 0, t.numel(), v.data());
  return t;
}
inline Tensor randomInt(std::mt19937 &rng, DType dtype,
                        std::vector<int64_t> shape, int lo, int hi) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  std::uniform_int_distribution<int> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DType::I4)
      setI4(t.bytes(), i, static_cast<int8_t>(d(rng)));
    else
      t.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  }
  return t;
}

/// The supported kernel variants for which `has()` holds while each is the
/// process's (e.g. `[] { return detail::kernels().gemmF32Packed; }`); the
/// process's variant is restored.
template <typename Pred> std::vector<CpuIsa> isasWhere(Pred has) {
  std::vector<CpuIsa> isas;
  CpuIsa previous = cpuIsa();
  for (CpuIsa isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    if (has())
      isas.push_back(isa);
  }
  setCpuIsa(previous);
  return isas;
}

/// Restores the kernel variant and threads a test changes.
struct IsaScope {
  CpuIsa previous = cpuIsa();
  ~IsaScope() {
    setCpuIsa(previous);
    setKernelThreads(1);
  }
};

/// `w` packed (npu.pack_weights) in a copy of its own storage, donated:
/// in place, as a load that donates its weights packs them.
inline Tensor packedCopy(const Tensor &w) {
  Tensor copy = Tensor::empty(w.dtype, w.shape);
  if (w.nbytes())
    std::memcpy(copy.bytes(), w.bytes(), w.nbytes());
  return packWeights(copy, /*inPlace=*/true);
}

/// Parameterized over kernel threads x kernel variant x engine policy (a
/// forced engine runs every block it can; the others take the fixed
/// rule); restores the process's settings after each test.
class KernelConfigTest : public ::testing::TestWithParam<
                             std::tuple<int, CpuIsa, MatmulEngine>> {
protected:
  void SetUp() override {
    previous = cpuIsa();
    previousEngine = matmulEngine();
    setKernelThreads(std::get<0>(GetParam()));
    setCpuIsa(std::get<1>(GetParam()));
    setMatmulEngine(std::get<2>(GetParam()));
    clearMatmulPlan();
  }
  void TearDown() override {
    setKernelThreads(1);
    setCpuIsa(previous);
    setMatmulEngine(previousEngine);
  }
  CpuIsa previous = CpuIsa::Portable;
  MatmulEngine previousEngine = MatmulEngine::Auto;
};

} // namespace moert::test

/// Expects `stmt` to throw moert::Error whose message contains `substr`.
#define EXPECT_ERROR(stmt, substr)                                            \
  do {                                                                        \
    try {                                                                     \
      stmt;                                                                   \
      ADD_FAILURE() << "no error from " #stmt;                                \
    } catch (const moert::Error &e) {                                         \
      EXPECT_NE(std::string(e.what()).find(substr), std::string::npos)        \
          << "message: " << e.what();                                         \
    }                                                                         \
  } while (0)

#endif // MOE_UNITTESTS_RUNTIME_KERNELTESTUTIL_H
