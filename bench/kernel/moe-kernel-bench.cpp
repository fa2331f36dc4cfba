//===- moe-kernel-bench.cpp - expert matmul throughput --------------------===//
//
// moe-kernel-bench [threads] [quant] [rows...]
// quant: f32, f32p (the f32 weight packed as npu.pack_weights leaves it),
// w8a8, w8a8p (the int8 weight packed likewise), w4a8 or w4a8p (packed
// likewise). Grouped matmuls of the Qwen3-30B-A3B gate-up projection (K
// 2048, N 1536; MOE_KERNEL_BENCH_K and _N for another)
// with `rows` rows spread over G groups (one row per group up to G = 8,
// then rows / 8 per group over 8 groups, so the weights touched stay at
// 8 experts and exceed the caches). Prints GB/s of weight traffic and
// GFLOP/s (GOP/s for int8), best of 5. MOE_KERNEL_BENCH_GROUPS=G stacks G
// groups and moves on to the next 8 every repetition: with G = 128 (the
// Qwen3 layer's experts) the weights stream from memory.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace moert;

int main(int argc, char **argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  std::string quant = argc > 2 ? argv[2] : "f32";
  std::vector<int64_t> rowsList;
  for (int i = 3; i < argc; ++i)
    rowsList.push_back(std::atoll(argv[i]));
  if (rowsList.empty())
    rowsList = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  setKernelThreads(threads);
  // MOE_KERNEL_BENCH_K / _N: another projection (the Qwen3 down
  // projection is K 768, N 2048).
  const char *kEnv = std::getenv("MOE_KERNEL_BENCH_K");
  const char *nEnv = std::getenv("MOE_KERNEL_BENCH_N");
  const int64_t k = kEnv ? std::atoll(kEnv) : 2048;
  const int64_t n = nEnv ? std::atoll(nEnv) : 1536;
  if (k <= 0 || n <= 0 || k % 256 || n % 32) {
    std::fprintf(stderr, "moe-kernel-bench: K %lld and N %lld must be "
                         "positive multiples of 256 and 32\n",
                 (long long)k, (long long)n);
    return 1;
  }
  // MOE_KERNEL_BENCH_GROUPS=G (default 8): a stack of G groups, and each
  // repetition multiplies the next `used` of them, so with G large enough
  // the weights come from memory, not from the caches, as in a layer.
  const char *g = std::getenv("MOE_KERNEL_BENCH_GROUPS");
  const int64_t groups = g ? std::max<int64_t>(8, std::atoll(g)) : 8;
  bool packed = quant == "f32p" || quant == "w8a8p" || quant == "w4a8p";
  bool q8 = quant == "w8a8" || quant == "w8a8p";
  bool q4 = quant == "w4a8" || quant == "w4a8p";
  DType wt = q8 ? DType::I8 : q4 ? DType::I4 : DType::F32;
  Tensor w = Tensor::empty(wt, {groups, k, n});
  std::mt19937 rng(0);
  for (size_t i = 0; i < w.nbytes(); ++i)
    w.bytes()[i] = static_cast<uint8_t>(rng());
  if (wt == DType::F32)
    for (int64_t i = 0; i < w.numel(); ++i)
      w.data<float>()[i] = static_cast<float>(rng() % 1000) * 1e-3f;
  Tensor scale = Tensor::empty(DType::F32, {groups, n});
  Tensor gscale = Tensor::empty(DType::F32, {groups, k / 256, n});
  for (int64_t i = 0; i < scale.numel(); ++i)
    scale.data<float>()[i] = 1e-3f;
  for (int64_t i = 0; i < gscale.numel(); ++i)
    gscale.data<float>()[i] = 1.0f;
  Tensor run = packed ? packWeights(w, /*inPlace=*/true) : w;
  if (packed && run.layout == StorageLayout::RowMajor)
    std::printf("note: these kernels do not pack; %s runs row-major\n",
                quant.c_str());
  // Baseline: a plain streaming read of the same weights.
  {
    double best = 1e30;
    for (int rep = 0; rep < 6; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<uint64_t> sums(threads, 0);
      size_t words = w.nbytes() / 8;
      parallelFor(threads, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const uint64_t *p = reinterpret_cast<const uint64_t *>(w.bytes());
          uint64_t s = 0;
          for (size_t i = words * t / threads; i < words * (t + 1) / threads;
               ++i)
            s += p[i];
          sums[t] = s;
        }
      });
      double s = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
      best = std::min(best, s);
    }
    std::printf("read baseline threads=%d  %6.1f GB/s\n", threads,
                w.nbytes() / best / 1e9);
  }
  for (int64_t rows : rowsList) {
    Tensor x = Tensor::empty(q8 || q4 ? DType::I8 : DType::F32, {rows, k});
    for (size_t i = 0; i < x.nbytes(); ++i)
      x.bytes()[i] = static_cast<uint8_t>(rng() % 100);
    Tensor pt = Tensor::empty(DType::F32, {rows});
    for (int64_t i = 0; i < rows; ++i)
      pt.data<float>()[i] = 1.0f;
    int64_t used = std::min<int64_t>(rows, 8);
    // The rows of repetition `rep` go to groups [rep used, rep used + used)
    // (mod G), in order.
    auto groupList = [&](int rep) {
      Tensor gl = Tensor::zeros(DType::I64, {groups});
      for (int64_t j = 0; j < used; ++j)
        gl.data<int64_t>()[(rep * used + j) % groups] =
            rows / used + (j < rows % used ? 1 : 0);
      return gl;
    };
    MatmulScales sc;
    if (q8 || q4) {
      sc.scale = &scale;
      sc.perTokenScale = &pt;
    }
    if (q4)
      sc.groupScale = &gscale;
    MatmulQuant mq = q8 ? MatmulQuant::W8A8 : q4 ? MatmulQuant::W4A8
                                                 : MatmulQuant::None;
    double best = 1e30;
    for (int rep = 0; rep < 6; ++rep) {
      Tensor gl = groupList(rep);
      auto t0 = std::chrono::steady_clock::now();
      Tensor out = groupedMatmul(x, run, gl, sc, mq, GroupListType::Count,
                                 DType::F32);
      double s = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
      if (rep > 0) // the first run creates primitives and warms up
        best = std::min(best, s);
    }
    double bytes = static_cast<double>(storageBytes(wt, k * n)) * used;
    std::printf("%s threads=%d rows=%5lld groups=%lld  %8.3f ms  %6.1f GB/s  "
                "%6.1f GFLOP/s\n",
                quant.c_str(), threads, static_cast<long long>(rows),
                static_cast<long long>(used), best * 1e3, bytes / best / 1e9,
                2.0 * rows * k * n / best / 1e9);
  }
}
