//===- Matmul.cpp - npu.grouped_matmul and npu.matmul ---------------------===//
//
// Checks the operands, then splits the work into blocks of (group, up to
// kRowChunk rows, up to kPanelColumns columns) run in parallel; each block
// calls one engine of MatmulKernels.h (an entry of the kernel table of the
// process's instruction set, or oneDNN) and applies the dequantization
// epilogue. The engine of a block comes from MatmulPlanner.h (the planner
// times the candidates on the first block of each shape, here); see
// docs/Runtime.md, "Expert matmuls: engine choice".
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"
#include "MatmulKernels.h"
#include "MatmulPlanner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <tuple>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kGrouped = "npu.grouped_matmul";
constexpr const char *kMatmul = "npu.matmul";

/// Rows per block: bounds the per-thread accumulator scratch.
constexpr int64_t kRowChunk = 512;
/// Column blocks, when there are fewer than kMinChunksPerThread row chunks
/// per kernel thread: the columns split evenly over the kernel threads
/// (long contiguous runs of every weight row stream best), at least this
/// wide.
constexpr int64_t kMinBlockColumns = 256;
constexpr int64_t kMinChunksPerThread = 4;
/// Timed rounds over the candidates when the planner meets a new shape.
constexpr int kPlanRounds = 3;

struct Problem {
  const char *op;
  const Tensor &x;
  const Tensor &w;
  int64_t m, k, n, groups;
  std::vector<int64_t> ends;
  MatmulQuant quant;
  DType out;
  const float *scale = nullptr;      // [G, N]
  const float *perToken = nullptr;   // [M]
  const float *groupScale = nullptr; // [G, blocks, N]
  const float *bias = nullptr;       // [G, N] (w4a8 kernel form)
  int64_t blocks = 1;
  /// Block width when positive (calibrateMatmul); else chosen in run().
  int64_t forcedWidth = 0;
  /// The weight is in a packed layout (npu.pack_weights): every block runs
  /// the one kernel that reads it, gemmF32Packed (f32), gemmU8Packed (int8
  /// quads), gemmI8Packed (int8 pairs) or gemmU4Packed (int4).
  bool packed = false;
  /// A packed k-pair layout: int8 (gemmI8Packed, on s16 activations) or
  /// int4 (gemmU4Pairs).
  bool pairs = false;
};

void checkScale(const Tensor *t, std::initializer_list<int64_t> shape,
                const char *op, const char *what, bool grouped) {
  requireType(*t, DType::F32, op, what);
  std::vector<int64_t> want(shape);
  if (!grouped)
    want.erase(want.begin());
  if (t->shape == want)
    return;
  std::string s;
  for (int64_t d : want)
    s += (s.empty() ? "" : "x") + num(d);
  fail(op, std::string(what) + " must be [" + s + "], got " + t->str());
}

/// Checks everything but the group list; fills the scale pointers.
void checkOperands(Problem &p, const MatmulScales &sc, bool grouped) {
  const char *op = p.op;
  if (p.quant == MatmulQuant::None) {
    MOE_REQUIRE(!p.packed || p.w.dtype == DType::F32, op,
                "a packed " + std::string(dtypeName(p.w.dtype)) + " weight " +
                    p.w.str() + " needs w8a8 or w4a8, not quant none");
    requireFloat(p.x, op, "x");
    requireFloat(p.w, op, "weight");
    MOE_REQUIRE(isFloat(p.out), op,
                std::string("quant none gives a float result, not ") +
                    dtypeName(p.out));
    MOE_REQUIRE(!sc.scale && !sc.perTokenScale && !sc.groupScale && !sc.bias,
                op, "quant none takes no scales");
    return;
  }
  bool w4 = p.quant == MatmulQuant::W4A8;
  MOE_REQUIRE(p.quant == MatmulQuant::W8A8 || w4, op,
              "unknown quant " + num(static_cast<int64_t>(p.quant)));
  requireType(p.x, DType::I8, op, "x");
  requireType(p.w, w4 ? DType::I4 : DType::I8, op, "weight");
  if (p.out == DType::I32) {
    MOE_REQUIRE(!w4, op, "w4a8 gives a float result, not i32");
    MOE_REQUIRE(!sc.scale && !sc.perTokenScale, op,
                "an i32 result is the raw accumulator: no scales");
  } else {
    MOE_REQUIRE(isFloat(p.out), op,
                std::string("result must be i32 or a float type, not ") +
                    dtypeName(p.out));
  }
  if (sc.scale) {
    checkScale(sc.scale, {p.groups, p.n}, op, "scale", grouped);
    p.scale = sc.scale->data<float>();
  }
  if (sc.perTokenScale) {
    requireRank(*sc.perTokenScale, {1}, op, "per-token scale");
    checkScale(sc.perTokenScale, {1, p.m}, op, "per-token scale", false);
    p.perToken = sc.perTokenScale->data<float>();
  }
  MOE_REQUIRE(w4 || !sc.groupScale, op, "a group scale needs w4a8");
  MOE_REQUIRE(w4 || !sc.bias, op, "a bias needs w4a8");
  if (!w4)
    return;
  MOE_REQUIRE(sc.groupScale != nullptr, op, "w4a8 needs a group scale");
  if (sc.bias) {
    MOE_REQUIRE(
        !sc.scale, op,
        "w4a8 with a bias takes merged group scales, no per-channel scale");
    checkScale(sc.bias, {p.groups, p.n}, op, "bias", grouped);
    p.bias = sc.bias->data<float>();
  }
  requireRank(*sc.groupScale, {grouped ? 3 : 2}, op, "group scale");
  p.blocks = sc.groupScale->dim(grouped ? 1 : 0);
  MOE_REQUIRE(p.blocks > 0 && p.k % p.blocks == 0, op,
              "group scale has " + num(p.blocks) +
                  " blocks, which do not divide K " + num(p.k));
  MOE_REQUIRE(
      !p.packed || (p.k / p.blocks) % kPackedQuad == 0, op,
      "a packed weight needs a group size that is a multiple of 4, got " +
          num(p.k / p.blocks));
  MOE_REQUIRE(!p.packed || p.k / p.blocks <= kMaxPackedI4Group, op,
              "a packed int4 weight's group size is at most " +
                  num(kMaxPackedI4Group) + ", got " + num(p.k / p.blocks));
  checkScale(sc.groupScale, {p.groups, p.blocks, p.n}, op, "group scale",
             grouped);
  p.groupScale = sc.groupScale->data<float>();
}

/// The planner's operand kind of a matmul.
BlockKind blockKind(MatmulQuant quant, DType weight) {
  return quant == MatmulQuant::W8A8   ? BlockKind::W8A8
         : quant == MatmulQuant::W4A8 ? BlockKind::W4A8
         : weight == DType::F32       ? BlockKind::F32
                                      : BlockKind::F32Converted;
}

/// The block width when the columns are split over the kernel threads.
int64_t splitWidth(int64_t n) {
  int64_t width = (n + kernelThreads() - 1) / kernelThreads();
  return std::max(kMinBlockColumns, (width + 15) / 16 * 16);
}

template <typename T> T *threadScratch(size_t elems) {
  thread_local std::vector<T> buf;
  if (buf.size() < elems)
    buf.resize(elems);
  return buf.data();
}

struct Block {
  int64_t g, r0, r1, n0, n1;
  /// The engine, or Auto: time `candidates` (the planner, MatmulPlanner.h).
  MatmulEngine engine = MatmulEngine::Auto;
  std::vector<MatmulEngine> candidates;
};

/// Whether engine `e` takes the activations as u8 (x + 128): the vnni
/// engine, and the gemv engine of w8a8 and w4a8 where the variant has a
/// vpdpbusd one (w4a8 has a gemv engine only there).
bool usesU8(const KernelTable &kt, MatmulQuant q, MatmulEngine e) {
  return e == MatmulEngine::Vnni ||
         (e == MatmulEngine::Gemv && q != MatmulQuant::None && kt.gemvU8);
}

Tensor run(Problem &p) {
  Tensor out = Tensor::empty(p.out, {p.m, p.n});
  int64_t used = p.ends.empty() ? 0 : p.ends.back();
  std::memset(out.bytes() + storageBytes(p.out, used * p.n), 0,
              storageBytes(p.out, (p.m - used) * p.n));
  if (used == 0 || p.n == 0)
    return out;

  const KernelTable &kt = kernels();
  bool isFloatMM = p.quant == MatmulQuant::None;
  std::vector<Block> blocks;
  // Whole groups when there are enough of them to keep every kernel
  // thread busy (each block then streams whole weight rows, and oneDNN gets
  // a contiguous weight); otherwise the columns are split over the threads.
  int64_t chunks = 0;
  for (int64_t g = 0, r = 0; g < p.groups; r = p.ends[g++])
    chunks += (p.ends[g] - r + kRowChunk - 1) / kRowChunk;
  int64_t width = p.forcedWidth > 0 ? p.forcedWidth
                  : chunks < kMinChunksPerThread * kernelThreads()
                      ? splitWidth(p.n)
                      : p.n;
  // A packed int4 weight is read in whole 32-column strips.
  if (p.packed && p.w.dtype == DType::I4)
    width = (width + kPackedI4Strip - 1) / kPackedI4Strip * kPackedI4Strip;
  for (int64_t g = 0, r = 0; g < p.groups; r = p.ends[g++])
    for (int64_t r0 = r; r0 < p.ends[g]; r0 += kRowChunk)
      for (int64_t n0 = 0; n0 < p.n; n0 += width)
        blocks.push_back({g, r0, std::min(p.ends[g], r0 + kRowChunk), n0,
                          std::min(p.n, n0 + width), MatmulEngine::Auto,
                          {}});

  // Activations: f32 rows, or int8 as s16 with an even, zero-padded
  // stride (the s16 kernels), or as u8 = x + 128 with a stride of whole
  // quads and 4 readable bytes past the end (gemmU8), as the engines need.
  // (Tensors, not vectors: the large ones come from the kept blocks of
  // Tensor.cpp instead of fresh pages every call, and count as activations.)
  std::vector<float> xf;
  Tensor x16, xu8;
  const float *af = nullptr;
  int64_t lda = p.k, ldu = (p.k + 3) / 4 * 4;
  // The w4a8 kernel form multiplies x - 8 (the NPU kernel splits int8 x
  // into a high and an offset low int4 half; the bias adds the 8 back).
  int16_t offset = p.bias ? 8 : 0;
  // Engines: the first block of each shape the planner has not seen yet
  // times the candidates; the others of that shape in this call take the
  // Fixed rule meanwhile.
  BlockKind kind = blockKind(p.quant, p.w.dtype);
  // A packed weight's one engine: the FMA or s16 panel kernels, or vpdpbusd.
  MatmulEngine packedEngine =
      isFloatMM || p.pairs ? MatmulEngine::Panel : MatmulEngine::Vnni;
  if (p.packed)
    notePackedMatmul(kind, p.k, p.n, kt.isa, packedEngine);
  bool needS16 = false, needU8 = false;
  std::set<PlanKey> planning;
  for (Block &b : blocks) {
    int64_t rows = b.r1 - b.r0;
    if (p.packed) { // f32 and w8a8 quads read x itself; w4a8 the u8 form
      b.engine = packedEngine;
      needU8 |= p.quant == MatmulQuant::W4A8;
      needS16 |= p.pairs && p.quant == MatmulQuant::W8A8;
      continue;
    }
    PlanKey key = planKey(kind, p.k, b.n1 - b.n0, p.n, rows, kt.isa);
    b.engine = chooseEngine(kt, key, rows, b.candidates);
    if (b.engine == MatmulEngine::Auto && !planning.insert(key).second) {
      b.engine = fixedEngine(kt, kind, rows);
      b.candidates.clear();
    }
    for (MatmulEngine e : b.candidates)
      (usesU8(kt, p.quant, e) ? needU8 : needS16) = true;
    if (b.engine != MatmulEngine::Auto)
      (usesU8(kt, p.quant, b.engine) ? needU8 : needS16) = true;
  }
  if (isFloatMM) {
    if (p.x.dtype == DType::F32) {
      af = p.x.data<float>();
    } else {
      xf = toF32(p.x);
      af = xf.data();
    }
  } else {
    lda = p.k + (p.k & 1);
    if (needS16)
      x16 = Tensor::empty(DType::I8, {used * lda * 2}); // s16 storage
    if (needU8)
      xu8 = Tensor::empty(DType::I8, {used * ldu + 4});
    const int8_t *xi = p.x.data<int8_t>();
    int16_t *s16 = needS16 ? x16.data<int16_t>() : nullptr;
    uint8_t *u8 = needU8 ? xu8.data<uint8_t>() : nullptr;
    if (u8) // the 4 readable bytes past the last row
      std::memset(u8 + used * ldu, 0, 4);
    int64_t k = p.k;
    // Locals only in the loops: a store through uint8_t* may alias
    // anything, which kept the compiler from vectorizing them.
    parallelFor(used, 64, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int8_t *src = xi + i * k;
        if (s16) {
          int16_t *dst = s16 + i * lda;
          for (int64_t c = 0; c < k; ++c)
            dst[c] = static_cast<int16_t>(src[c] - offset);
          for (int64_t c = k; c < lda; ++c) // the zero pairing an odd K
            dst[c] = 0;
        }
        if (u8) {
          uint8_t *dst = u8 + i * ldu;
          for (int64_t c = 0; c < k; ++c)
            dst[c] = static_cast<uint8_t>(src[c] ^ 0x80); // x + 128
          for (int64_t c = k; c < ldu; ++c)
            dst[c] = 0;
        }
      }
    });
  }

  int64_t perGroup = p.k * p.n;
  // Blocks differ in cost (the rows per group follow the routing): the
  // kernel threads take them largest first from a shared counter, so no
  // thread idles while another still works through a static share.
  std::sort(blocks.begin(), blocks.end(), [](const Block &a, const Block &b) {
    int64_t ra = a.r1 - a.r0, rb = b.r1 - b.r0;
    return ra != rb ? ra > rb : std::tie(a.g, a.r0, a.n0) < std::tie(b.g, b.r0, b.n0);
  });
  int64_t numBlocks = static_cast<int64_t>(blocks.size());
  std::atomic<int64_t> nextBlock{0};
  parallelFor(std::min<int64_t>(kernelThreads(), numBlocks), 1, [&](int64_t,
                                                                    int64_t) {
    for (int64_t bi; (bi = nextBlock.fetch_add(1, std::memory_order_relaxed)) <
                     numBlocks;) {
      const Block &b = blocks[bi];
      int64_t rows = b.r1 - b.r0, cols = b.n1 - b.n0;
      int64_t ldc = (cols + 15) / 16 * 16;
      WeightView w{p.w.bytes(), p.w.dtype, b.g * perGroup, p.k, p.n};
      float *f = threadScratch<float>(rows * ldc);
      int32_t *acc = reinterpret_cast<int32_t *>(f);
      // The block's product on engine `e`: f32 in f, or (w8a8) i32 in acc,
      // or (w4a8) the group-scaled sum of the K blocks' i32 in f.
      auto compute = [&](MatmulEngine e) {
        if (isFloatMM) {
          GemmF32Fn fn = p.packed                  ? kt.gemmF32Packed
                         : e == MatmulEngine::Dnnl ? dnnlGemmF32
                         : e == MatmulEngine::Gemv ? kt.gemvF32
                                                   : kt.gemmF32;
          fn(af + b.r0 * lda, lda, rows, w, b.n0, b.n1, f, ldc);
        } else if (p.pairs && p.quant == MatmulQuant::W8A8) {
          kt.gemmI8Packed(x16.data<int16_t>() + b.r0 * lda, lda, rows, w, 0,
                          p.k, b.n0, b.n1, acc, ldc);
        } else if (p.packed && p.quant == MatmulQuant::W8A8) {
          kt.gemmU8Packed(p.x.data<int8_t>() + b.r0 * p.k, p.k, rows, w, 0,
                          p.k, b.n0, b.n1, acc, ldc);
        } else if (p.quant == MatmulQuant::W8A8) {
          if (usesU8(kt, p.quant, e))
            (e == MatmulEngine::Gemv ? kt.gemvU8 : kt.gemmU8)(
                xu8.data<uint8_t>() + b.r0 * ldu, ldu, rows, w, 0, p.k, b.n0,
                b.n1, 128, acc, ldc);
          else
            (e == MatmulEngine::Gemv ? kt.gemvI8 : kt.gemmI8)(
                x16.data<int16_t>() + b.r0 * lda, lda, rows, w, 0, p.k, b.n0,
                b.n1, acc, ldc);
        } else if (p.packed) { // w4a8 on a packed int4 weight
          GemmU4ScaledFn fn = p.pairs ? kt.gemmU4Pairs : kt.gemmU4Packed;
          fn(xu8.data<uint8_t>() + b.r0 * ldu, ldu, rows, w, p.blocks,
             p.k / p.blocks, p.groupScale + b.g * p.blocks * p.n + b.n0, p.n,
             b.n0, b.n1, 128 + offset, f, ldc);
        } else { // w4a8: i32 per block of K, scaled by the group scale
          int32_t *part = threadScratch<int32_t>(rows * ldc);
          std::fill(f, f + rows * ldc, 0.0f);
          int64_t gs = p.k / p.blocks;
          for (int64_t kb = 0; kb < p.blocks; ++kb) {
            if (usesU8(kt, p.quant, e))
              (e == MatmulEngine::Gemv ? kt.gemvU8 : kt.gemmU8)(
                  xu8.data<uint8_t>() + b.r0 * ldu, ldu, rows, w, kb * gs,
                  (kb + 1) * gs, b.n0, b.n1, 128 + offset, part, ldc);
            else
              (e == MatmulEngine::Gemv ? kt.gemvI8 : kt.gemmI8)(
                  x16.data<int16_t>() + b.r0 * lda, lda, rows, w, kb * gs,
                  (kb + 1) * gs, b.n0, b.n1, part, ldc);
            const float *s = p.groupScale + (b.g * p.blocks + kb) * p.n + b.n0;
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < cols; ++j)
                f[i * ldc + j] += static_cast<float>(part[i * ldc + j]) * s[j];
          }
        }
      };
      if (b.engine != MatmulEngine::Auto) {
        compute(b.engine);
      } else {
        // Each candidate once untimed (primitive creation, cold caches),
        // then kPlanRounds timed rounds over all candidates, interleaved
        // so a burst of foreign load hits them alike; the best time of
        // each counts. The winner's result is the one kept.
        std::vector<std::pair<MatmulEngine, double>> seconds;
        for (MatmulEngine e : b.candidates) {
          compute(e);
          seconds.push_back({e, 1e30});
        }
        for (int round = 0; round < kPlanRounds; ++round)
          for (auto &[e, best] : seconds) {
            auto t0 = std::chrono::steady_clock::now();
            compute(e);
            best = std::min(best, std::chrono::duration<double>(
                                      std::chrono::steady_clock::now() - t0)
                                      .count());
          }
        auto best = std::min_element(
            seconds.begin(), seconds.end(),
            [](const auto &x, const auto &y) { return x.second < y.second; });
        if (best->first != b.candidates.back())
          compute(best->first);
        recordPlan(planKey(kind, p.k, cols, p.n, rows, kt.isa), best->first,
                   seconds);
      }
      if (p.quant == MatmulQuant::W8A8) {
        if (p.out == DType::I32) {
          for (int64_t i = 0; i < rows; ++i)
            std::memcpy(out.data<int32_t>() + (b.r0 + i) * p.n + b.n0,
                        acc + i * ldc, cols * 4);
          continue;
        }
        for (int64_t i = 0; i < rows * ldc; ++i)
          f[i] = static_cast<float>(acc[i]);
      }
      // Dequantize: (acc [+ bias[g, n]]) * perToken[m] * scale[g, n].
      for (int64_t i = 0; i < rows; ++i) {
        float *fi = f + i * ldc;
        if (p.bias)
          for (int64_t j = 0; j < cols; ++j)
            fi[j] += p.bias[b.g * p.n + b.n0 + j];
        if (p.perToken)
          for (int64_t j = 0; j < cols; ++j)
            fi[j] *= p.perToken[b.r0 + i];
        if (p.scale)
          for (int64_t j = 0; j < cols; ++j)
            fi[j] *= p.scale[b.g * p.n + b.n0 + j];
        storeF32(out, (b.r0 + i) * p.n + b.n0, cols, fi);
      }
    }
  });
  return out;
}
} // namespace

std::vector<int64_t> groupEnds(const Tensor &groupList, GroupListType type,
                               int64_t rows, const char *op) {
  requireRank(groupList, {1}, op, "group list");
  requireType(groupList, DType::I64, op, "group list");
  const int64_t *v = groupList.data<int64_t>();
  std::vector<int64_t> ends(groupList.dim(0));
  int64_t prev = 0;
  for (size_t g = 0; g < ends.size(); ++g) {
    if (type == GroupListType::Count) {
      MOE_REQUIRE(v[g] >= 0, op,
                  "negative count " + num(v[g]) + " in group " + num(g));
      ends[g] = prev + v[g];
    } else {
      MOE_REQUIRE(v[g] >= prev, op,
                  "cumulative group list decreases at group " + num(g) + " (" +
                      num(prev) + " to " + num(v[g]) + ")");
      ends[g] = v[g];
    }
    prev = ends[g];
  }
  MOE_REQUIRE(prev <= rows, op,
              "group list needs " + num(prev) + " rows, x has " + num(rows));
  return ends;
}

Tensor groupedMatmul(const Tensor &x, const Tensor &weight,
                     const Tensor &groupList, const MatmulScales &scales,
                     MatmulQuant quant, GroupListType type, DType out) {
  requireRank(x, {2}, kGrouped, "x");
  requireRank(weight, {3}, kGrouped, "weight");
  Problem p{kGrouped, x, weight, x.dim(0), x.dim(1), weight.dim(2),
            weight.dim(0), {}, quant, out};
  MOE_REQUIRE(weight.dim(1) == p.k, kGrouped,
              "x " + x.str() + " has " + num(p.k) + " columns, weight " +
                  weight.str() + " has " + num(weight.dim(1)) + " rows");
  p.ends = groupEnds(groupList, type, p.m, kGrouped);
  MOE_REQUIRE(static_cast<int64_t>(p.ends.size()) == p.groups, kGrouped,
              "group list has " + num(p.ends.size()) + " groups, weight has " +
                  num(p.groups));
  p.packed = weight.layout != StorageLayout::RowMajor;
  p.pairs = weight.layout == StorageLayout::PackedPairs;
  if (p.packed) {
    MOE_REQUIRE(weight.layout == packedLayout(weight.dtype, p.k, p.n), kGrouped,
                "the weight " + weight.str() +
                    " was packed for kernels which this process's kernels (" +
                    cpuIsaName(kernels().isa) +
                    ") lack for its type and shape");
  } else {
    checkNotPackedInPlace(weight, kGrouped);
  }
  checkOperands(p, scales, true);
  return run(p);
}

Tensor matmul(const Tensor &x, const Tensor &weight,
              const MatmulScales &scales, MatmulQuant quant, DType out) {
  requireRank(x, {2}, kMatmul, "x");
  requireRank(weight, {2}, kMatmul, "weight");
  Problem p{kMatmul, x, weight, x.dim(0), x.dim(1), weight.dim(1), 1,
            {x.dim(0)}, quant, out};
  MOE_REQUIRE(weight.dim(0) == p.k, kMatmul,
              "x " + x.str() + " has " + num(p.k) + " columns, weight " +
                  weight.str() + " has " + num(weight.dim(0)) + " rows");
  MOE_REQUIRE(weight.layout == StorageLayout::RowMajor, kMatmul,
              "a packed weight " + weight.str() +
                  " is read only by npu.grouped_matmul");
  checkNotPackedInPlace(weight, kMatmul);
  checkOperands(p, scales, false);
  return run(p);
}

int calibrateMatmul(const MatmulShape &shape, int64_t maxRows) {
  const char *op = "calibrateMatmul";
  // A packed weight's matmuls have one engine, nothing to plan; but an f32
  // weight is packed only when the load donates it, which is not known
  // here: its row-major engines are planned in case it stays row-major.
  if (matmulEngine() != MatmulEngine::Auto || maxRows <= 0 ||
      (shape.packed && shape.weight != DType::F32 &&
       packsWeights(shape.weight, shape.k, shape.n)))
    return 0;
  MOE_REQUIRE(shape.k > 0 && shape.n > 0 && shape.kBlocks > 0 &&
                  shape.k % shape.kBlocks == 0,
              op,
              "bad shape: K " + num(shape.k) + ", N " + num(shape.n) + ", " +
                  num(shape.kBlocks) + " K blocks");
  size_t before = planCount();
  int64_t top = std::min(maxRows, kRowChunk);
  bool q = shape.quant != MatmulQuant::None;
  // Synthetic operands: only the timing matters, and zeros are as fast as
  // any value for every engine (no denormals).
  Tensor w = Tensor::zeros(shape.weight, {1, shape.k, shape.n});
  Tensor x = Tensor::zeros(q ? DType::I8 : DType::F32, {top, shape.k});
  Tensor groupScale = Tensor::zeros(DType::F32, {1, shape.kBlocks, shape.n});
  Tensor bias = Tensor::zeros(DType::F32, {1, shape.n});
  MatmulScales scales;
  if (shape.quant == MatmulQuant::W4A8) {
    scales.groupScale = &groupScale;
    if (shape.bias)
      scales.bias = &bias;
  }
  DType out = shape.quant == MatmulQuant::W8A8 ? DType::I32 : DType::F32;
  std::vector<int64_t> widths{shape.n};
  if (splitWidth(shape.n) < shape.n)
    widths.push_back(splitWidth(shape.n));
  // One block count per power-of-two bucket, in its middle (1, 3, 6, 12,
  // ...): the bucket's first block in a step would be timed the same way.
  const KernelTable &kt = kernels();
  BlockKind kind = blockKind(shape.quant, shape.weight);
  for (int64_t b = 1; b <= top; b *= 2)
    for (int64_t width : widths) {
      int64_t rows = std::min(top, b + b / 2);
      // Nothing to time when every block shape of this call is planned
      // already (or has a single candidate engine).
      bool unplanned = false;
      std::vector<MatmulEngine> candidates;
      for (int64_t n0 = 0; n0 < shape.n; n0 += width) {
        int64_t cols = std::min(shape.n - n0, width);
        unplanned |= chooseEngine(kt, planKey(kind, shape.k, cols, shape.n,
                                              rows, kt.isa),
                                  rows, candidates) == MatmulEngine::Auto;
      }
      if (!unplanned)
        continue;
      Problem p{op, x, w, top, shape.k, shape.n, 1, {rows}, shape.quant, out};
      p.forcedWidth = width;
      checkOperands(p, scales, true);
      run(p);
    }
  return static_cast<int>(planCount() - before);
}

} // namespace moert
