// gemm_probe.cpp -- standalone micro-benchmark for MoE expert-MLP matmuls on CPU.
//
//   y[M,N] = x[M,K] . W,  x row-major, W stored as
//     KN : [K,N] row-major  (oneDNN weights tag ab)
//     NK : [N,K] row-major  (oneDNN weights tag ba; PyTorch nn.Linear layout)
//     PK : oneDNN "any" (library-chosen packed layout, reordered once offline)
//
// Engines: oneDNN f32 matmul (runtime-M primitive and fixed-M primitives),
// oneDNN int8 matmul (u8s8/s8s8 -> s32 + own dequant, s8s8 -> f32 with output
// scales), OpenBLAS cblas_sgemm / sgemv, and hand-written AVX2/FMA tiny-M kernels
// (f32 KN, f32 NK, int8-weight/f32-activation NK).
//
// "cold" = every call uses a different W from a pool >= 256 MiB (> 32 MiB L3), so
// W comes from DRAM as when an MoE layer touches different experts.
// "hot"  = the same W every call (fits L3 / L2).
//
// Usage: gemm_probe [sections...] [--ms=40] [--quick] [--nohuge] [--kb=64] [--pf=1]
//   sections: info stream dnnl_f32 dnnl_int8 oblas avx2 conc check   (default: all)
//   --shape=K,N restricts the per-shape sections to one shape; --pfd=BYTES software prefetch
//   distance of the int8/int4 kernels (0 = off); --kb/--pf tune the plain KN tile kernel.
// Output lines: "R,engine,layout,K,N,M,threads,hot|cold,med_us,min_us,GFLOP/s,W-GB/s,reps,note"
//               "C,engine,layout,K,N,M,threads,create_ms,impl,weights_fmt"  (primitive creation)
//               anything else is free-form info.
// Sections are best run as separate processes (see build.sh) so OpenMP / OpenBLAS
// spinning worker threads of one engine do not disturb the next.

#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <cblas.h>

#include "oneapi/dnnl/dnnl.hpp"

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;
using md_t = memory::desc;

// ----------------------------------------------------------------- utilities
static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static bool g_huge = true;
static double g_target_s = 0.04;
static bool g_quick = false;
static int g_kb = 256;
static bool g_pf = false;
static int g_pfd = 1024;  // software prefetch distance (bytes) in the quantized NK kernels, 0 = off

struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  Buf() = default;
  explicit Buf(size_t b) { alloc(b); }
  void alloc(size_t b) {
    const size_t A = size_t(2) << 20;
    bytes = (b + A - 1) / A * A;
    p = aligned_alloc(A, bytes);
    if (!p) { fprintf(stderr, "OOM\n"); abort(); }
    madvise(p, bytes, g_huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  ~Buf() { free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  template <class T> T* as() const { return (T*)p; }
};

static inline uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static void fill_f32(float* p, size_t n, uint64_t seed) {
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    size_t a = n * t / T, b = n * (t + 1) / T;
    uint64_t s = seed * 1000003ull + t;
    for (size_t i = a; i < b; i++) p[i] = (float)((splitmix(s) >> 40) * (2.0 / 16777216.0) - 1.0);
  }
}
// uniform integers in [lo, hi]
static void fill_int(void* p, size_t n, int lo, int hi, uint64_t seed) {
  int8_t* q = (int8_t*)p;
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    size_t a = n * t / T, b = n * (t + 1) / T;
    uint64_t s = seed * 1000003ull + t;
    for (size_t i = a; i < b; i++) q[i] = (int8_t)(uint8_t)(lo + (int)(splitmix(s) % (uint64_t)(hi - lo + 1)));
  }
}

// A pool of nmat equally sized matrices, total >= min_total bytes.
struct Pool {
  Buf buf;
  size_t stride = 0;
  int n = 0;
  char* at(int i) const { return buf.as<char>() + (size_t)(i % n) * stride; }
};
static size_t g_pool_bytes = size_t(256) << 20;
static std::unique_ptr<Pool> make_pool(size_t mat_bytes, int min_n = 8) {
  auto p = std::make_unique<Pool>();
  p->stride = (mat_bytes + 4095) / 4096 * 4096;
  p->n = std::max<int>(min_n, (int)((g_pool_bytes + p->stride - 1) / p->stride));
  p->buf.alloc(p->stride * p->n);
  return p;
}

struct Meas {
  double med_us, min_us;
  int reps;
  double ph[3];  // median of optional phases (us)
};
// f(iter, phases) ; two warm-up calls, then repeat until g_target_s elapsed (>=3 reps)
static Meas timeit(const std::function<void(int, double*)>& f) {
  double ph[3];
  f(0, ph);
  f(1, ph);
  std::vector<double> ts, p0, p1, p2;
  double t0 = now_s();
  int i = 2;
  for (;;) {
    ph[0] = ph[1] = ph[2] = 0;
    double a = now_s();
    f(i++, ph);
    double b = now_s();
    ts.push_back(b - a);
    p0.push_back(ph[0]); p1.push_back(ph[1]); p2.push_back(ph[2]);
    if ((ts.size() >= 3 && b - t0 >= g_target_s) || ts.size() >= 4000) break;
  }
  auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  Meas m;
  m.med_us = med(ts) * 1e6;
  m.min_us = *std::min_element(ts.begin(), ts.end()) * 1e6;
  m.reps = (int)ts.size();
  m.ph[0] = med(p0) * 1e6; m.ph[1] = med(p1) * 1e6; m.ph[2] = med(p2) * 1e6;
  return m;
}

static void report(const char* eng, const char* lay, int K, int N, int M, int nt, bool hot, const Meas& m,
                   double wbytes, const std::string& note = "") {
  double gf = 2.0 * M * K * N / (m.med_us * 1e-6) / 1e9;
  double gbs = wbytes / (m.med_us * 1e-6) / 1e9;
  printf("R,%s,%s,%d,%d,%d,%d,%s,%.2f,%.2f,%.2f,%.2f,%d,%s\n", eng, lay, K, N, M, nt, hot ? "hot" : "cold", m.med_us,
         m.min_us, gf, gbs, m.reps, note.c_str());
  fflush(stdout);
}

struct Shape { int K, N; };
static int g_only_K = 0, g_only_N = 0;  // --shape=K,N
static std::vector<Shape> shapes() {
  std::vector<Shape> all = g_quick ? std::vector<Shape>{{2048, 1536}, {512, 1024}}
                                   : std::vector<Shape>{{2048, 1536}, {768, 2048}, {1024, 1024}, {512, 1024}};
  if (g_only_K) {
    std::vector<Shape> r;
    for (auto s : all)
      if (s.K == g_only_K && s.N == g_only_N) r.push_back(s);
    return r;
  }
  return all;
}
static std::vector<int> Ms() {
  if (g_quick) return {1, 4, 16, 256, 1024};
  return {1, 2, 4, 8, 16, 64, 256, 1024};
}
static const int kThreads[] = {1, 2};
static bool hot_M(int M) { return M == 1 || M == 16; }
static const int kMmax = 1024;

static std::string md_str(const md_t& md) {
  const dnnl_memory_desc_t& d = md.data;
  char buf[512];
  if (d.format_kind != dnnl_blocked) {
    snprintf(buf, sizeof buf, "fmt_kind=%d", (int)d.format_kind);
    return buf;
  }
  const auto& b = d.format_desc.blocking;
  std::string s = "strides=";
  for (int i = 0; i < d.ndims; i++) s += std::to_string((long long)b.strides[i]) + (i + 1 < d.ndims ? "x" : "");
  if (b.inner_nblks) {
    s += " inner=";
    for (int i = 0; i < b.inner_nblks; i++)
      s += std::to_string((long long)b.inner_blks[i]) + "(" + std::string(1, "KN"[b.inner_idxs[i]]) + ")";
  }
  if (d.extra.flags) s += " extra_flags=" + std::to_string((unsigned)d.extra.flags);
  s += " size=" + std::to_string((unsigned long long)md.get_size());
  return s;
}

// ------------------------------------------------------ hand-written AVX2 kernels
static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// KN layout: y[m, n..n+8NV) (+)= sum_k x[m,k] W[k, n..]
template <int MR, int NV>
static inline void kn_tile(const float* __restrict x, int ldx, const float* __restrict w, int ldw, float* __restrict y,
                           int ldy, int kb, bool first, bool pf) {
  __m256 acc[MR][NV];
  for (int m = 0; m < MR; m++)
    for (int v = 0; v < NV; v++) acc[m][v] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + m * ldy + 8 * v);
  for (int k = 0; k < kb; k++) {
    const float* wr = w + (size_t)k * ldw;
    if (pf) _mm_prefetch((const char*)(wr + 256), _MM_HINT_T0);
    __m256 wv[NV];
    for (int v = 0; v < NV; v++) wv[v] = _mm256_loadu_ps(wr + 8 * v);
    for (int m = 0; m < MR; m++) {
      __m256 b = _mm256_broadcast_ss(x + (size_t)m * ldx + k);
      for (int v = 0; v < NV; v++) acc[m][v] = _mm256_fmadd_ps(b, wv[v], acc[m][v]);
    }
  }
  for (int m = 0; m < MR; m++)
    for (int v = 0; v < NV; v++) _mm256_storeu_ps(y + m * ldy + 8 * v, acc[m][v]);
}
template <int NV>
static inline void kn_tile_dispatch(int mr, const float* x, int ldx, const float* w, int ldw, float* y, int ldy, int kb,
                                    bool first, bool pf) {
  switch (mr) {
    case 1: kn_tile<1, NV>(x, ldx, w, ldw, y, ldy, kb, first, pf); break;
    case 2: kn_tile<2, NV>(x, ldx, w, ldw, y, ldy, kb, first, pf); break;
    case 3: kn_tile<3, NV>(x, ldx, w, ldw, y, ldy, kb, first, pf); break;
    default: kn_tile<4, NV>(x, ldx, w, ldw, y, ldy, kb, first, pf); break;
  }
}
static void avx2_kn_range(const float* x, int M, int K, const float* W, int N, float* y, int n0, int n1) {
  for (int k0 = 0; k0 < K; k0 += g_kb) {
    int kb = std::min(g_kb, K - k0);
    bool first = k0 == 0;
    int n = n0;
    for (; n + 24 <= n1; n += 24)
      for (int m0 = 0; m0 < M; m0 += 4)
        kn_tile_dispatch<3>(std::min(4, M - m0), x + (size_t)m0 * K + k0, K, W + (size_t)k0 * N + n, N,
                            y + (size_t)m0 * N + n, N, kb, first, g_pf && m0 == 0);
    for (; n + 8 <= n1; n += 8)
      for (int m0 = 0; m0 < M; m0 += 4)
        kn_tile_dispatch<1>(std::min(4, M - m0), x + (size_t)m0 * K + k0, K, W + (size_t)k0 * N + n, N,
                            y + (size_t)m0 * N + n, N, kb, first, false);
  }
}

// KN layout, "row streaming": walk W row by row (contiguous 2 KiB row pieces, prefetcher
// friendly), 4 k-rows at a time, accumulating into y[m, chunk] kept in L1.
static void avx2_kn2_range(const float* x, int M, int K, const float* W, int N, float* y, int n0, int n1) {
  const int NC = 512;
  for (int c0 = n0; c0 < n1; c0 += NC) {
    const int nc = std::min(NC, n1 - c0);
    for (int m = 0; m < M; m++) memset(y + (size_t)m * N + c0, 0, sizeof(float) * nc);
    for (int k = 0; k < K; k += 4) {
      const float* w0 = W + (size_t)k * N + c0;
      const float* w1 = w0 + N;
      const float* w2 = w1 + N;
      const float* w3 = w2 + N;
      for (int m = 0; m < M; m++) {
        const float* xr = x + (size_t)m * K + k;
        const __m256 b0 = _mm256_broadcast_ss(xr), b1 = _mm256_broadcast_ss(xr + 1);
        const __m256 b2 = _mm256_broadcast_ss(xr + 2), b3 = _mm256_broadcast_ss(xr + 3);
        float* yr = y + (size_t)m * N + c0;
        for (int v = 0; v < nc; v += 8) {
          __m256 t0 = _mm256_mul_ps(b0, _mm256_loadu_ps(w0 + v));
          __m256 t1 = _mm256_mul_ps(b2, _mm256_loadu_ps(w2 + v));
          t0 = _mm256_fmadd_ps(b1, _mm256_loadu_ps(w1 + v), t0);
          t1 = _mm256_fmadd_ps(b3, _mm256_loadu_ps(w3 + v), t1);
          _mm256_storeu_ps(yr + v, _mm256_add_ps(_mm256_loadu_ps(yr + v), _mm256_add_ps(t0, t1)));
        }
      }
    }
  }
}

// NK-family kernels. Weight addressing is generic so that one kernel serves two storage layouts:
//   NK  : plain [N,K] row-major.  row j of a tile at w + j*K, k-step s at + s*STEP
//   NKp : "NK packed/blocked": tiles of G rows interleaved per k-step, i.e. [N/G][K/STEP][G][STEP],
//         so one tile is ONE contiguous stream (what oneDNN/MKL packed formats do; a one-off
//         offline repack of static expert weights).
// js = element stride between the rows of a tile, ks = element stride between k-steps.

// f32: y[m, n+j] = dot(x[m,:], W[n+j,:]); k-step 8 floats, group G=4 rows
template <int MR, int NR>
static inline void nk_tile(const float* __restrict x, int K, const float* __restrict w, size_t js, size_t ks,
                           float* __restrict y, int ldy) {
  __m256 acc[MR][NR];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) acc[m][j] = _mm256_setzero_ps();
  for (int k = 0; k < K; k += 8) {
    const float* wk = w + (size_t)(k / 8) * ks;
    __m256 wv[NR];
    for (int j = 0; j < NR; j++) wv[j] = _mm256_loadu_ps(wk + j * js);
    for (int m = 0; m < MR; m++) {
      __m256 xv = _mm256_loadu_ps(x + (size_t)m * K + k);
      for (int j = 0; j < NR; j++) acc[m][j] = _mm256_fmadd_ps(xv, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) y[m * ldy + j] = hsum(acc[m][j]);
}
// int8 weights (per-output-channel scale sw), f32 activations: dequant in registers. k-step 8, G=4
template <int MR, int NR>
static inline void nk8_tile(const float* __restrict x, int K, const int8_t* __restrict w, size_t js, size_t ks,
                            const float* __restrict sw, float* __restrict y, int ldy) {
  __m256 acc[MR][NR];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) acc[m][j] = _mm256_setzero_ps();
  for (int k = 0; k < K; k += 8) {
    const int8_t* wk = w + (size_t)(k / 8) * ks;
    __m256 wv[NR];
    for (int j = 0; j < NR; j++)
      wv[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(wk + j * js))));
    for (int m = 0; m < MR; m++) {
      __m256 xv = _mm256_loadu_ps(x + (size_t)m * K + k);
      for (int j = 0; j < NR; j++) acc[m][j] = _mm256_fmadd_ps(xv, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) y[m * ldy + j] = hsum(acc[m][j]) * sw[j];
}
static void avx2_nk_range(const float* x, int M, int K, const float* W, int N, float* y, int n0, int n1, bool packed) {
  const size_t js = packed ? 8 : (size_t)K, ks = packed ? 32 : 8;
  for (int n = n0; n < n1; n += 4) {
    const float* w = W + (size_t)n * K;  // both layouts: a 4-row group starts at n*K
    for (int m0 = 0; m0 < M; m0 += 4) {
      const int mr = std::min(4, M - m0);
      const float* xm = x + (size_t)m0 * K;
      float* ym = y + (size_t)m0 * N + n;
      switch (mr) {
        case 1: nk_tile<1, 4>(xm, K, w, js, ks, ym, N); break;
        case 2: nk_tile<2, 4>(xm, K, w, js, ks, ym, N); break;
        case 3: nk_tile<3, 2>(xm, K, w, js, ks, ym, N); nk_tile<3, 2>(xm, K, w + 2 * js, js, ks, ym + 2, N); break;
        default: nk_tile<4, 2>(xm, K, w, js, ks, ym, N); nk_tile<4, 2>(xm, K, w + 2 * js, js, ks, ym + 2, N); break;
      }
    }
  }
}
static void avx2_nk8_range(const float* x, int M, int K, const int8_t* W, const float* sw, int N, float* y, int n0,
                           int n1, bool packed) {
  const size_t js = packed ? 8 : (size_t)K, ks = packed ? 32 : 8;
  for (int n = n0; n < n1; n += 4) {
    const int8_t* w = W + (size_t)n * K;
    for (int m0 = 0; m0 < M; m0 += 4) {
      const int mr = std::min(4, M - m0);
      const float* xm = x + (size_t)m0 * K;
      float* ym = y + (size_t)m0 * N + n;
      switch (mr) {
        case 1: nk8_tile<1, 4>(xm, K, w, js, ks, sw + n, ym, N); break;
        case 2: nk8_tile<2, 4>(xm, K, w, js, ks, sw + n, ym, N); break;
        case 3:
          nk8_tile<3, 2>(xm, K, w, js, ks, sw + n, ym, N);
          nk8_tile<3, 2>(xm, K, w + 2 * js, js, ks, sw + n + 2, ym + 2, N);
          break;
        default:
          nk8_tile<4, 2>(xm, K, w, js, ks, sw + n, ym, N);
          nk8_tile<4, 2>(xm, K, w + 2 * js, js, ks, sw + n + 2, ym + 2, N);
          break;
      }
    }
  }
}

// u8 activations (zero point 128) x signed 8-bit or 4-bit weights, int32 accumulation with
// vpmaddubsw + vpmaddwd (what oneDNN does on AVX2 without VNNI; the int16 pair sums can saturate
// for full-range s8 weights, never for int4 weights: 2*255*8 < 32767).  k-step 64, G=2 rows.
// Bytes per row per k-step: B = 64 (s8) or 32 (s4). int4 packing of one k-step of one row
// (32 bytes): low nibble = k0..31, high nibble = k32..63, value = nibble - 8.
// Output: y = sx[m] * sw[n] * (acc - comp[n]), comp[n] = 128 * sum_k w[n,k].
static inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}
template <int MR, bool I4>
static inline void nkq_tile(const uint8_t* __restrict xq, int K, const uint8_t* __restrict w, size_t js, size_t ks,
                            const float* __restrict sx, const float* __restrict sw, const int32_t* __restrict comp,
                            float* __restrict y, int ldy) {
  constexpr int NR = 2;
  __m256i acc[MR][NR];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) acc[m][j] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i lo4 = _mm256_set1_epi8(0x0F), e8 = _mm256_set1_epi8(8);
  for (int k = 0; k < K; k += 64) {
    const uint8_t* wk = w + (size_t)(k / 64) * ks;
    if (g_pfd)
      for (int j = 0; j < NR; j++) _mm_prefetch((const char*)(wk + j * js + g_pfd), _MM_HINT_T0);
    __m256i w0[NR], w1[NR];
    for (int j = 0; j < NR; j++) {
      if (I4) {
        __m256i b = _mm256_loadu_si256((const __m256i*)(wk + j * js));
        w0[j] = _mm256_sub_epi8(_mm256_and_si256(b, lo4), e8);
        w1[j] = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(b, 4), lo4), e8);
      } else {
        w0[j] = _mm256_loadu_si256((const __m256i*)(wk + j * js));
        w1[j] = _mm256_loadu_si256((const __m256i*)(wk + j * js + 32));
      }
    }
    for (int m = 0; m < MR; m++) {
      __m256i x0 = _mm256_loadu_si256((const __m256i*)(xq + (size_t)m * K + k));
      __m256i x1 = _mm256_loadu_si256((const __m256i*)(xq + (size_t)m * K + k + 32));
      for (int j = 0; j < NR; j++) {
        if (I4) {  // int16 sums of 4 products stay < 32767 for int4
          __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(x0, w0[j]), _mm256_maddubs_epi16(x1, w1[j]));
          acc[m][j] = _mm256_add_epi32(acc[m][j], _mm256_madd_epi16(p, ones));
        } else {
          acc[m][j] = _mm256_add_epi32(acc[m][j], _mm256_madd_epi16(_mm256_maddubs_epi16(x0, w0[j]), ones));
          acc[m][j] = _mm256_add_epi32(acc[m][j], _mm256_madd_epi16(_mm256_maddubs_epi16(x1, w1[j]), ones));
        }
      }
    }
  }
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NR; j++) y[m * ldy + j] = sx[m] * sw[j] * (float)(hsum_i32(acc[m][j]) - comp[j]);
}
template <bool I4>
static void avx2_nkq_range(const uint8_t* xq, const float* sx, int M, int K, const uint8_t* W, const float* sw,
                           const int32_t* comp, int N, float* y, int n0, int n1, bool packed) {
  const size_t B = I4 ? 32 : 64, row = I4 ? (size_t)K / 2 : (size_t)K;
  const size_t js = packed ? B : row, ks = packed ? 2 * B : B;
  for (int n = n0; n < n1; n += 2) {
    const uint8_t* w = W + (size_t)n * row;
    for (int m0 = 0; m0 < M; m0 += 4) {
      const uint8_t* xm = xq + (size_t)m0 * K;
      float* ym = y + (size_t)m0 * N + n;
      switch (std::min(4, M - m0)) {
        case 1: nkq_tile<1, I4>(xm, K, w, js, ks, sx + m0, sw + n, comp + n, ym, N); break;
        case 2: nkq_tile<2, I4>(xm, K, w, js, ks, sx + m0, sw + n, comp + n, ym, N); break;
        case 3: nkq_tile<3, I4>(xm, K, w, js, ks, sx + m0, sw + n, comp + n, ym, N); break;
        default: nkq_tile<4, I4>(xm, K, w, js, ks, sx + m0, sw + n, comp + n, ym, N); break;
      }
    }
  }
}
// Offline repacks (from an NK s8/f32 matrix).  int4: values must be in [-8,7].
static void pack_int4_nk(const int8_t* w, int N, int K, uint8_t* out, bool blocked) {
  for (int n = 0; n < N; n++)
    for (int k0 = 0; k0 < K; k0 += 64) {
      uint8_t* o = blocked ? out + ((size_t)(n / 2) * (K / 64) + k0 / 64) * 64 + (n % 2) * 32
                           : out + (size_t)n * K / 2 + k0 / 2;
      for (int i = 0; i < 32; i++) {
        int lo = w[(size_t)n * K + k0 + i] + 8, hi = w[(size_t)n * K + k0 + 32 + i] + 8;
        o[i] = (uint8_t)(lo | (hi << 4));
      }
    }
}
static void pack_s8_nkp(const int8_t* w, int N, int K, int8_t* out) {  // G=2, step 64
  for (int n = 0; n < N; n++)
    for (int k0 = 0; k0 < K; k0 += 64)
      memcpy(out + ((size_t)(n / 2) * (K / 64) + k0 / 64) * 128 + (n % 2) * 64, w + (size_t)n * K + k0, 64);
}
static void pack_f32_nkp(const float* w, int N, int K, float* out) {  // G=4, step 8
  for (int n = 0; n < N; n++)
    for (int k0 = 0; k0 < K; k0 += 8)
      memcpy(out + ((size_t)(n / 4) * (K / 8) + k0 / 8) * 32 + (n % 4) * 8, w + (size_t)n * K + k0, 32);
}

// split N over nt OpenMP threads (nt==1: run inline, no parallel region)
template <class F>
static void par_n(int N, int nt, int align, F f) {
  if (nt == 1) { f(0, N); return; }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int chunk = ((N + T - 1) / T + align - 1) / align * align;
    int a = std::min(N, t * chunk), b = std::min(N, a + chunk);
    if (a < b) f(a, b);
  }
}
static void avx2_kn(const float* x, int M, int K, const float* W, int N, float* y, int nt) {
  par_n(N, nt, 8, [&](int a, int b) { avx2_kn_range(x, M, K, W, N, y, a, b); });
}
static void avx2_kn2(const float* x, int M, int K, const float* W, int N, float* y, int nt) {
  par_n(N, nt, 8, [&](int a, int b) { avx2_kn2_range(x, M, K, W, N, y, a, b); });
}
static void avx2_nk(const float* x, int M, int K, const float* W, int N, float* y, int nt, bool packed = false) {
  par_n(N, nt, 4, [&](int a, int b) { avx2_nk_range(x, M, K, W, N, y, a, b, packed); });
}
static void avx2_nk8(const float* x, int M, int K, const int8_t* W, const float* sw, int N, float* y, int nt,
                     bool packed = false) {
  par_n(N, nt, 4, [&](int a, int b) { avx2_nk8_range(x, M, K, W, sw, N, y, a, b, packed); });
}
template <bool I4>
static void avx2_nkq(const uint8_t* xq, const float* sx, int M, int K, const uint8_t* W, const float* sw,
                     const int32_t* comp, int N, float* y, int nt, bool packed = false) {
  par_n(N, nt, 4, [&](int a, int b) { avx2_nkq_range<I4>(xq, sx, M, K, W, sw, comp, N, y, a, b, packed); });
}

// ------------------------------------------- int8 activation quant / dequant
// per-row symmetric quant: q = round(x / s), s = max|x| / 127; u8: q + 128 (zero point 128)
static void quant_row(const float* x, int K, int8_t* q, float* scale, bool u8) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 mx = _mm256_setzero_ps();
  for (int k = 0; k < K; k += 8) mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + k), absmask));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  float m = _mm_cvtss_f32(m4);
  float s = m > 0 ? m / 127.f : 1.f;
  *scale = s;
  __m256 inv = _mm256_set1_ps(1.f / s);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  for (int k = 0; k < K; k += 32) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), inv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), inv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 16), inv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 24), inv));
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    b = _mm256_permutevar8x32_epi32(b, perm);
    if (u8) b = _mm256_xor_si256(b, flip);
    _mm256_storeu_si256((__m256i*)(q + k), b);
  }
}
static void quant_x(const float* x, int M, int K, int8_t* q, float* sx, bool u8, int nt) {
#pragma omp parallel for num_threads(nt) if (M >= 32)
  for (int m = 0; m < M; m++) quant_row(x + (size_t)m * K, K, q + (size_t)m * K, sx + m, u8);
}
// y = sx[m]*sw[n]*(acc - comp[n])
static void dequant(const int32_t* acc, int M, int N, const float* sx, const float* sw, const int32_t* comp, float* y,
                    int nt) {
#pragma omp parallel for num_threads(nt) if ((long)M * N >= 65536)
  for (int m = 0; m < M; m++) {
    const int32_t* a = acc + (size_t)m * N;
    float* o = y + (size_t)m * N;
    const float s = sx[m];
    if (comp)
      for (int n = 0; n < N; n++) o[n] = (float)(a[n] - comp[n]) * (s * sw[n]);
    else
      for (int n = 0; n < N; n++) o[n] = (float)a[n] * (s * sw[n]);
  }
}
static void rowscale(float* y, int M, int N, const float* sx, int nt) {
#pragma omp parallel for num_threads(nt) if ((long)M * N >= 65536)
  for (int m = 0; m < M; m++) {
    float* o = y + (size_t)m * N;
    const float s = sx[m];
    for (int n = 0; n < N; n++) o[n] *= s;
  }
}

// ----------------------------------------------------------------- sections
static const char* rt_name(unsigned r) {
  switch (r) {
    case DNNL_RUNTIME_NONE: return "NONE";
    case DNNL_RUNTIME_SEQ: return "SEQ";
    case DNNL_RUNTIME_OMP: return "OMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_THREADPOOL: return "THREADPOOL";
    case DNNL_RUNTIME_OCL: return "OCL";
    default: return "?";
  }
}

static void sec_info() {
  const dnnl_version_t* v = dnnl::version();
  printf("I,dnnl_version,%d.%d.%d,hash=%s,cpu_runtime=%u(%s),gpu_runtime=%u(%s)\n", v->major, v->minor, v->patch,
         v->hash, v->cpu_runtime, rt_name(v->cpu_runtime), v->gpu_runtime, rt_name(v->gpu_runtime));
  printf("I,dnnl_effective_cpu_isa,%d (dnnl_cpu_isa_avx2=%d, avx512_core=%d)\n", (int)dnnl::get_effective_cpu_isa(),
         (int)dnnl_cpu_isa_avx2, (int)dnnl_cpu_isa_avx512_core);
  printf("I,openblas_config,%s\n", openblas_get_config());
  printf("I,openblas_corename,%s\n", openblas_get_corename());
  printf("I,openblas_num_threads,%d,num_procs=%d,parallel=%d(0=seq,1=pthreads,2=openmp)\n", openblas_get_num_threads(),
         openblas_get_num_procs(), openblas_get_parallel());
  printf("I,omp_get_max_threads,%d,omp_get_num_procs=%d\n", omp_get_max_threads(), omp_get_num_procs());
  const char* vars[] = {"OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                        "GOMP_SPINCOUNT", "OMP_PROC_BIND", "DNNL_VERBOSE", "DNNL_MAX_CPU_ISA",
                        "NVPL_BLAS_DEBUG_CPU_TYPE"};
  for (auto n : vars) {
    const char* e = getenv(n);
    printf("I,env,%s=%s\n", n, e ? e : "(unset)");
  }
  // ICV inheritance: does a std::thread see omp_set_num_threads() of the main thread?
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  int in_thread = -1;
  std::thread t([&] { in_thread = omp_get_max_threads(); });
  t.join();
  printf("I,icv_inheritance,main set omp_set_num_threads(1); new std::thread sees omp_get_max_threads()=%d\n",
         in_thread);
  omp_set_num_threads(saved);
  fflush(stdout);
}

// STREAM-like read: parallel sum over a 1 GiB float array.
static void sec_stream() {
  const size_t n = (size_t(1) << 30) / sizeof(float);
  for (int huge = 1; huge >= 0; huge--) {
    bool saved = g_huge;
    g_huge = huge;
    Buf b(n * sizeof(float));
    g_huge = saved;
    fill_f32(b.as<float>(), n, 7);
    for (int nt : kThreads) {
      double best = 1e9;
      float sink = 0;
      for (int rep = 0; rep < 4; rep++) {
        double t0 = now_s();
        float tot = 0;
#pragma omp parallel num_threads(nt) reduction(+ : tot)
        {
          int t = omp_get_thread_num(), T = omp_get_num_threads();
          size_t a = n * t / T / 32 * 32, e = (t + 1 == T) ? n : n * (t + 1) / T / 32 * 32;
          const float* p = b.as<float>();
          __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
          for (size_t i = a; i < e; i += 32) {
            s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
            s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
            s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
            s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
          }
          tot += hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        }
        double dtm = now_s() - t0;
        sink += tot;
        if (rep > 0) best = std::min(best, dtm);
      }
      printf("S,stream_read_sum,threads=%d,hugepages=%s,GB/s=%.2f,(1 GiB, best of 3; sink=%g)\n", nt,
             huge ? "madvise" : "no", (double)n * 4 / best / 1e9, (double)sink);
      fflush(stdout);
    }
  }
}

static engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}

enum Lay { KN = 0, NK = 1, PK = 2 };
static const char* lay_name[] = {"KN", "NK", "PK"};

static md_t w_user_md(int K, int N, dt d, Lay l) { return md_t({K, N}, d, l == NK ? tag::ba : tag::ab); }

// Reorder every matrix of a plain KN pool into `dst_md` (packed) layout.
static std::unique_ptr<Pool> reorder_pool(const Pool& src, const md_t& src_md, const md_t& dst_md) {
  auto p = std::make_unique<Pool>();
  p->stride = (dst_md.get_size() + 4095) / 4096 * 4096;
  p->n = src.n;
  p->buf.alloc(p->stride * p->n);
  stream s(eng());
  for (int i = 0; i < src.n; i++) {
    memory a(src_md, eng(), src.at(i)), b(dst_md, eng(), p->at(i));
    reorder(a, b).execute(s, a, b);
  }
  s.wait();
  return p;
}

static void sec_dnnl_f32() {
  stream s(eng());
  for (auto sh : shapes()) {
    const int K = sh.K, N = sh.N;
    fprintf(stderr, "[dnnl_f32] K=%d N=%d\n", K, N);
    auto wp = make_pool((size_t)K * N * 4);
    fill_f32((float*)wp->buf.p, wp->buf.bytes / 4, 11);
    Buf xb((size_t)kMmax * K * 4), yb((size_t)kMmax * N * 4);
    fill_f32(xb.as<float>(), (size_t)kMmax * K, 3);
    const double wbytes = (double)K * N * 4;
    for (int nt : kThreads) {
      omp_set_num_threads(nt);
      for (Lay lay : {KN, NK, PK}) {
        md_t wreq = lay == PK ? md_t({K, N}, dt::f32, tag::any) : w_user_md(K, N, dt::f32, lay);
        double t0 = now_s();
        matmul::primitive_desc pd;
        try {
          pd = matmul::primitive_desc(matmul::desc(md_t({DNNL_RUNTIME_DIM_VAL, K}, dt::f32, tag::ab), wreq,
                                                   md_t({DNNL_RUNTIME_DIM_VAL, N}, dt::f32, tag::ab)),
                                      eng());
        } catch (dnnl::error& e) {
          printf("N,dnnl_f32_rt,%s,%d,%d,nt=%d,creation failed: %s\n", lay_name[lay], K, N, nt, e.what());
          continue;
        }
        matmul prim(pd);
        double tc = (now_s() - t0) * 1e3;
        printf("C,dnnl_f32_rt,%s,%d,%d,RT,%d,%.3f,%s,%s\n", lay_name[lay], K, N, nt, tc, pd.impl_info_str(),
               md_str(pd.weights_desc()).c_str());
        const md_t kn_md = w_user_md(K, N, dt::f32, KN);
        std::unique_ptr<Pool> packed;
        const Pool* pp = wp.get();
        if (lay == PK) {
          if (pd.weights_desc() == kn_md) {
            printf("N,dnnl_f32_rt,PK,%d,%d,nt=%d,packed layout == plain KN; skipped\n", K, N, nt);
            continue;
          }
          packed = reorder_pool(*wp, kn_md, pd.weights_desc());
          pp = packed.get();
        }
        std::vector<memory> wm;
        for (int i = 0; i < pp->n; i++) wm.emplace_back(pd.weights_desc(), eng(), pp->at(i));
        for (int M : Ms()) {
          memory xm(md_t({M, K}, dt::f32, tag::ab), eng(), xb.p), ym(md_t({M, N}, dt::f32, tag::ab), eng(), yb.p);
          for (int hot = 0; hot <= (hot_M(M) ? 1 : 0); hot++) {
            Meas m = timeit([&](int it, double*) {
              prim.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm[hot ? 0 : it % pp->n]}, {DNNL_ARG_DST, ym}});
              s.wait();
            });
            report("dnnl_f32_rt", lay_name[lay], K, N, M, nt, hot, m, wbytes);
          }
        }
        // fixed-M primitives
        for (int M : Ms()) {
          double t1 = now_s();
          auto pdf = matmul::primitive_desc(
              matmul::desc(md_t({M, K}, dt::f32, tag::ab), wreq, md_t({M, N}, dt::f32, tag::ab)), eng());
          matmul primf(pdf);
          double tcf = (now_s() - t1) * 1e3;
          double t2 = now_s();
          matmul primf2(pdf);  // same pd again: primitive cache hit
          double tcache = (now_s() - t2) * 1e3;
          printf("C,dnnl_f32_fix,%s,%d,%d,%d,%d,%.3f,%s,%s,cache_hit_ms=%.3f\n", lay_name[lay], K, N, M, nt, tcf,
                 pdf.impl_info_str(), md_str(pdf.weights_desc()).c_str(), tcache);
          if (!(pdf.weights_desc() == pd.weights_desc())) {
            printf("N,dnnl_f32_fix,%s,%d,%d,M=%d,nt=%d,weights fmt differs from runtime-M primitive; skipped\n",
                   lay_name[lay], K, N, M, nt);
            continue;
          }
          memory xm(md_t({M, K}, dt::f32, tag::ab), eng(), xb.p), ym(md_t({M, N}, dt::f32, tag::ab), eng(), yb.p);
          Meas m = timeit([&](int it, double*) {
            primf.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm[it % pp->n]}, {DNNL_ARG_DST, ym}});
            s.wait();
          });
          report("dnnl_f32_fix", lay_name[lay], K, N, M, nt, false, m, wbytes);
        }
      }
    }
  }
  // cost of wrapping a user pointer in a dnnl::memory (done per call if M varies)
  {
    Buf xb(1 << 22);
    double t0 = now_s();
    const int R = 20000;
    for (int i = 0; i < R; i++) {
      memory xm(md_t({1 + (i & 15), 1024}, dt::f32, tag::ab), eng(), xb.p);
      (void)xm;
    }
    printf("I,dnnl_memory_create_us,%.3f\n", (now_s() - t0) / R * 1e6);
  }
}

// int8 variants
enum I8Var { U8S8_S32, S8S8_S32, S8S8_F32OSC, U8S8_F32OSCZP };
static const char* i8_name[] = {"dnnl_u8s8s32", "dnnl_s8s8s32", "dnnl_s8s8f32osc", "dnnl_u8s8f32osczp"};

static void sec_dnnl_int8() {
  stream s(eng());
  for (auto sh : shapes()) {
    const int K = sh.K, N = sh.N;
    fprintf(stderr, "[dnnl_int8] K=%d N=%d\n", K, N);
    auto wp = make_pool((size_t)K * N);
    fill_int(wp->buf.p, wp->buf.bytes, -127, 127, 13);
    // per-matrix column compensation for the u8 (zero point 128) path: 128*sum_k W[k,n]
    std::vector<int32_t> comp((size_t)wp->n * N);
    for (int i = 0; i < wp->n; i++) {
      const int8_t* w = (const int8_t*)wp->at(i);
      int32_t* c = &comp[(size_t)i * N];
      for (int n = 0; n < N; n++) c[n] = 0;
      for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) c[n] += w[(size_t)k * N + n];
      for (int n = 0; n < N; n++) c[n] *= 128;
    }
    std::vector<float> sw(N);
    for (int n = 0; n < N; n++) sw[n] = 0.01f + 0.0001f * n;
    Buf xb((size_t)kMmax * K * 4), qb((size_t)kMmax * K), accb((size_t)kMmax * N * 4), yb((size_t)kMmax * N * 4);
    fill_f32(xb.as<float>(), (size_t)kMmax * K, 3);
    std::vector<float> sx(kMmax);
    const double wbytes = (double)K * N;
    for (int nt : kThreads) {
      omp_set_num_threads(nt);
      for (I8Var var : {U8S8_S32, S8S8_S32, S8S8_F32OSC, U8S8_F32OSCZP}) {
        const bool u8 = var == U8S8_S32 || var == U8S8_F32OSCZP;
        const bool f32out = var == S8S8_F32OSC || var == U8S8_F32OSCZP;
        for (Lay lay : {KN, NK, PK}) {
          if (var == U8S8_F32OSCZP && lay != KN) continue;  // keep runtime short
          md_t wreq = lay == PK ? md_t({K, N}, dt::s8, tag::any) : w_user_md(K, N, dt::s8, lay);
          primitive_attr attr;
          if (f32out) attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
          if (var == U8S8_F32OSCZP) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
          double t0 = now_s();
          matmul::primitive_desc pd;
          try {
            pd = matmul::primitive_desc(matmul::desc(md_t({DNNL_RUNTIME_DIM_VAL, K}, u8 ? dt::u8 : dt::s8, tag::ab),
                                                     wreq,
                                                     md_t({DNNL_RUNTIME_DIM_VAL, N}, f32out ? dt::f32 : dt::s32,
                                                          tag::ab)),
                                        attr, eng());
          } catch (dnnl::error& e) {
            printf("N,%s,%s,%d,%d,nt=%d,creation failed: %s\n", i8_name[var], lay_name[lay], K, N, nt, e.what());
            continue;
          }
          matmul prim(pd);
          double tc = (now_s() - t0) * 1e3;
          printf("C,%s,%s,%d,%d,RT,%d,%.3f,%s,%s\n", i8_name[var], lay_name[lay], K, N, nt, tc, pd.impl_info_str(),
                 md_str(pd.weights_desc()).c_str());
          const md_t kn_md = w_user_md(K, N, dt::s8, KN);
          std::unique_ptr<Pool> packed;
          const Pool* pp = wp.get();
          if (lay == PK) {
            if (pd.weights_desc() == kn_md) {
              printf("N,%s,PK,%d,%d,nt=%d,packed layout == plain KN; skipped\n", i8_name[var], K, N, nt);
              continue;
            }
            try {
              packed = reorder_pool(*wp, kn_md, pd.weights_desc());
            } catch (dnnl::error& e) {
              printf("N,%s,PK,%d,%d,nt=%d,reorder failed: %s\n", i8_name[var], K, N, nt, e.what());
              continue;
            }
            pp = packed.get();
          }
          std::vector<memory> wm;
          for (int i = 0; i < pp->n; i++) wm.emplace_back(pd.weights_desc(), eng(), pp->at(i));
          memory oscm(md_t({N}, dt::f32, tag::a), eng(), sw.data());
          int32_t zp = 128;
          memory zpm(md_t({1}, dt::s32, tag::a), eng(), &zp);
          for (int M : Ms()) {
            memory xm(md_t({M, K}, u8 ? dt::u8 : dt::s8, tag::ab), eng(), qb.p);
            memory ym(md_t({M, N}, f32out ? dt::f32 : dt::s32, tag::ab), eng(), f32out ? yb.p : accb.p);
            for (int hot = 0; hot <= (hot_M(M) ? 1 : 0); hot++) {
              Meas m = timeit([&](int it, double* ph) {
                int wi = hot ? 0 : it % pp->n;
                double a = now_s();
                quant_x(xb.as<float>(), M, K, qb.as<int8_t>(), sx.data(), u8, nt);
                double b = now_s();
                std::unordered_map<int, memory> args = {
                    {DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm[wi]}, {DNNL_ARG_DST, ym}};
                if (f32out) args[DNNL_ARG_ATTR_OUTPUT_SCALES] = oscm;
                if (var == U8S8_F32OSCZP) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zpm;
                prim.execute(s, args);
                s.wait();
                double c = now_s();
                if (f32out)
                  rowscale(yb.as<float>(), M, N, sx.data(), nt);
                else
                  dequant(accb.as<int32_t>(), M, N, sx.data(), sw.data(), u8 ? &comp[(size_t)(wi % wp->n) * N] : nullptr,
                          yb.as<float>(), nt);
                double d = now_s();
                ph[0] = b - a; ph[1] = c - b; ph[2] = d - c;
              });
              char note[160];
              snprintf(note, sizeof note, "quant_us=%.1f matmul_us=%.1f dequant_us=%.1f", m.ph[0], m.ph[1], m.ph[2]);
              report(i8_name[var], lay_name[lay], K, N, M, nt, hot, m, wbytes, note);
            }
          }
        }
      }
    }
  }
}

static void sec_oblas() {
  for (auto sh : shapes()) {
    const int K = sh.K, N = sh.N;
    fprintf(stderr, "[oblas] K=%d N=%d\n", K, N);
    auto wp = make_pool((size_t)K * N * 4);
    fill_f32((float*)wp->buf.p, wp->buf.bytes / 4, 11);
    Buf xb((size_t)kMmax * K * 4), yb((size_t)kMmax * N * 4);
    fill_f32(xb.as<float>(), (size_t)kMmax * K, 3);
    const float* x = xb.as<float>();
    float* y = yb.as<float>();
    const double wbytes = (double)K * N * 4;
    for (int nt : kThreads) {
      openblas_set_num_threads(nt);
      for (Lay lay : {KN, NK}) {
        for (int M : Ms()) {
          for (int hot = 0; hot <= (hot_M(M) ? 1 : 0); hot++) {
            Meas m = timeit([&](int it, double*) {
              const float* W = (const float*)wp->at(hot ? 0 : it);
              if (lay == KN)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, x, K, W, N, 0.f, y, N);
              else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, x, K, W, K, 0.f, y, N);
            });
            report("oblas_sgemm", lay_name[lay], K, N, M, nt, hot, m, wbytes);
            if (M == 1) {
              Meas g = timeit([&](int it, double*) {
                const float* W = (const float*)wp->at(hot ? 0 : it);
                if (lay == KN)
                  cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.f, W, N, x, 1, 0.f, y, 1);
                else
                  cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.f, W, K, x, 1, 0.f, y, 1);
              });
              report("oblas_sgemv", lay_name[lay], K, N, M, nt, hot, g, wbytes);
            }
          }
        }
      }
    }
  }
}

static void sec_avx2() {
  for (auto sh : shapes()) {
    const int K = sh.K, N = sh.N;
    fprintf(stderr, "[avx2] K=%d N=%d\n", K, N);
    auto wp = make_pool((size_t)K * N * 4);
    fill_f32((float*)wp->buf.p, wp->buf.bytes / 4, 11);
    auto w8 = make_pool((size_t)K * N);
    fill_int(w8->buf.p, w8->buf.bytes, -127, 127, 13);
    auto w4 = make_pool((size_t)K * N / 2);
    fill_int(w4->buf.p, w4->buf.bytes, 0, 255, 17);  // random nibbles
    std::vector<float> sw(N, 0.01f), sxv(kMmax);
    std::vector<int32_t> comp(N, 1000);  // timing only (values irrelevant); checked in sec_check
    std::vector<uint8_t> xq((size_t)kMmax * K);
    Buf xb((size_t)kMmax * K * 4), yb((size_t)kMmax * N * 4);
    fill_f32(xb.as<float>(), (size_t)kMmax * K, 3);
    const float* x = xb.as<float>();
    float* y = yb.as<float>();
    for (int nt : kThreads) {
      for (int M : Ms()) {
        if (M > 16) continue;
        for (int hot = 0; hot <= (hot_M(M) ? 1 : 0); hot++) {
          Meas a = timeit([&](int it, double*) { avx2_kn(x, M, K, (const float*)wp->at(hot ? 0 : it), N, y, nt); });
          report("avx2_f32", "KN", K, N, M, nt, hot, a, (double)K * N * 4);
          Meas a2 = timeit([&](int it, double*) { avx2_kn2(x, M, K, (const float*)wp->at(hot ? 0 : it), N, y, nt); });
          report("avx2_f32_rowstream", "KN", K, N, M, nt, hot, a2, (double)K * N * 4);
          for (int pk = 0; pk <= 1; pk++) {
            const char* L = pk ? "NKp" : "NK";  // NKp: blocked copy of NK (random data: no repack needed to time)
            Meas b = timeit([&](int it, double*) {
              avx2_nk(x, M, K, (const float*)wp->at(hot ? 0 : it), N, y, nt, pk);
            });
            report("avx2_f32", L, K, N, M, nt, hot, b, (double)K * N * 4);
            Meas c = timeit([&](int it, double*) {
              avx2_nk8(x, M, K, (const int8_t*)w8->at(hot ? 0 : it), sw.data(), N, y, nt, pk);
            });
            report("avx2_w8a32", L, K, N, M, nt, hot, c, (double)K * N);
            for (int i4 = 0; i4 <= 1; i4++) {
              const Pool& qp = i4 ? *w4 : *w8;
              Meas d = timeit([&](int it, double* ph) {
                double t0 = now_s();
                quant_x(x, M, K, (int8_t*)xq.data(), sxv.data(), true, nt);
                double t1 = now_s();
                const uint8_t* W = (const uint8_t*)qp.at(hot ? 0 : it);
                if (i4) avx2_nkq<true>(xq.data(), sxv.data(), M, K, W, sw.data(), comp.data(), N, y, nt, pk);
                else avx2_nkq<false>(xq.data(), sxv.data(), M, K, W, sw.data(), comp.data(), N, y, nt, pk);
                ph[0] = t1 - t0; ph[1] = now_s() - t1;
              });
              char note[96];
              snprintf(note, sizeof note, "quant_us=%.1f kernel_us=%.1f", d.ph[0], d.ph[1]);
              report(i4 ? "avx2_u8s4" : "avx2_u8s8", L, K, N, M, nt, hot, d, i4 ? (double)K * N / 2 : (double)K * N,
                     note);
            }
          }
        }
      }
    }
  }
}

// ---- concurrency: N "ranks" as std::threads calling into the engines at the same time
static double run_ranks(int nranks, const std::function<void(int)>& init, const std::function<void(int, int)>& call,
                        int R) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> th;
  double t0 = 0;
  for (int r = 0; r < nranks; r++)
    th.emplace_back([&, r] {
      init(r);
      call(r, 0);  // warm-up
      ready++;
      while (!go.load()) std::this_thread::yield();
      for (int i = 1; i <= R; i++) call(r, i);
    });
  while (ready.load() < nranks) std::this_thread::yield();
  t0 = now_s();
  go = true;
  for (auto& t : th) t.join();
  return now_s() - t0;
}

static void sec_conc() {
  const int K = 2048, N = 1536;
  auto wp = make_pool((size_t)K * N * 4);
  fill_f32((float*)wp->buf.p, wp->buf.bytes / 4, 11);
  const md_t wmd = w_user_md(K, N, dt::f32, KN);
  auto mk = [&](int nt) {
    omp_set_num_threads(nt);
    auto pd = matmul::primitive_desc(matmul::desc(md_t({DNNL_RUNTIME_DIM_VAL, K}, dt::f32, tag::ab), wmd,
                                                  md_t({DNNL_RUNTIME_DIM_VAL, N}, dt::f32, tag::ab)),
                                     eng());
    return matmul(pd);
  };
  matmul p1 = mk(1), p2 = mk(2);
  omp_set_num_threads(2);
  struct RankBuf {
    Buf x, y;
  };
  std::vector<std::unique_ptr<RankBuf>> rb;
  for (int r = 0; r < 2; r++) {
    rb.push_back(std::make_unique<RankBuf>());
    rb[r]->x.alloc((size_t)256 * K * 4);
    rb[r]->y.alloc((size_t)256 * N * 4);
    fill_f32(rb[r]->x.as<float>(), (size_t)256 * K, 100 + r);
  }
  for (int M : {4, 16, 256}) {
    const int R = M == 4 ? 200 : M == 16 ? 60 : 16;
    const double flop = 2.0 * M * K * N;
    auto line = [&](const char* what, int nranks, int per_rank, double wall, const std::string& extra = "") {
      double calls = (double)nranks * per_rank;
      printf("X,M=%d,%s,ranks=%d,calls=%d,wall_ms=%.1f,us_per_call_wall=%.1f,GFLOP/s=%.1f,W-GB/s=%.1f,%s\n", M, what,
             nranks, (int)calls, wall * 1e3, wall / calls * 1e6, flop * calls / wall / 1e9,
             (double)K * N * 4 * calls / wall / 1e9, extra.c_str());
      fflush(stdout);
    };
    // dnnl executor per rank
    auto dnnl_call = [&](matmul& p) {
      return [&, M](int r, int i) {
        thread_local std::unique_ptr<stream> st;
        if (!st) st = std::make_unique<stream>(eng());
        memory xm(md_t({M, K}, dt::f32, tag::ab), eng(), rb[r]->x.p), ym(md_t({M, N}, dt::f32, tag::ab), eng(), rb[r]->y.p);
        memory wm(wmd, eng(), wp->at(2 * i + r));
        p.execute(*st, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
        st->wait();
      };
    };
    // serial baselines: one caller does both ranks' work
    for (int nt : {1, 2}) {
      omp_set_num_threads(nt);
      auto c = dnnl_call(nt == 1 ? p1 : p2);
      double w = run_ranks(1, [&](int) { omp_set_num_threads(nt); }, [&](int, int i) { c(0, i); c(1, i); }, R);
      line(nt == 1 ? "dnnl serial 1 caller omp=1" : "dnnl serial 1 caller omp=2", 1, 2 * R, w);
    }
    std::atomic<int> seen{-1};
    {
      auto c = dnnl_call(p1);
      double w = run_ranks(2, [&](int) { omp_set_num_threads(1); }, c, R);
      line("dnnl 2 std::threads, each omp_set_num_threads(1), prim created@omp=1", 2, R, w);
    }
    {
      auto c = dnnl_call(p2);
      double w = run_ranks(2, [&](int) { omp_set_num_threads(1); }, c, R);
      line("dnnl 2 std::threads, each omp_set_num_threads(1), prim created@omp=2", 2, R, w);
    }
    {
      auto c = dnnl_call(p2);
      double w = run_ranks(2, [&](int) { seen = omp_get_max_threads(); }, c, R);
      line("dnnl 2 std::threads, NO omp_set_num_threads in thread (default ICV)", 2, R, w,
           "omp_get_max_threads_in_thread=" + std::to_string(seen.load()));
    }
    if (M <= 16) {
      double w = run_ranks(2, [](int) {}, [&](int r, int i) {
        avx2_nk(rb[r]->x.as<float>(), M, K, (const float*)wp->at(2 * i + r), N, rb[r]->y.as<float>(), 1);
      }, R);
      line("avx2_f32 NK, 2 std::threads, 1 thread each (W as NK)", 2, R, w);
      w = run_ranks(1, [](int) {}, [&](int, int i) {  // avx2_nk passes num_threads explicitly
        for (int r = 0; r < 2; r++)
          avx2_nk(rb[r]->x.as<float>(), M, K, (const float*)wp->at(2 * i + r), N, rb[r]->y.as<float>(), 2);
      }, R);
      line("avx2_f32 NK, serial 1 caller, 2 omp threads", 1, 2 * R, w);
    }
    for (int ont : {1, 2}) {
      openblas_set_num_threads(ont);
      double w = run_ranks(2, [](int) {}, [&](int r, int i) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, rb[r]->x.as<float>(), K,
                    (const float*)wp->at(2 * i + r), N, 0.f, rb[r]->y.as<float>(), N);
      }, R);
      line(ont == 1 ? "oblas 2 std::threads, openblas_set_num_threads(1)" : "oblas 2 std::threads, openblas threads=2",
           2, R, w);
    }
    openblas_set_num_threads(1);
  }
  // Pitfall probe: oneDNN(omp=2) right after an OpenBLAS(2 threads) call -- OpenBLAS workers keep spinning.
  {
    const int M = 4;
    Buf x((size_t)M * K * 4), y((size_t)M * N * 4);
    fill_f32(x.as<float>(), (size_t)M * K, 5);
    omp_set_num_threads(2);
    stream s(eng());
    memory xm(md_t({M, K}, dt::f32, tag::ab), eng(), x.p), ym(md_t({M, N}, dt::f32, tag::ab), eng(), y.p);
    auto dn = [&](int i) {
      memory wm(wmd, eng(), wp->at(i));
      p2.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
      s.wait();
    };
    auto burst = [&](int base) {  // 20 oneDNN calls, returns us/call
      double t0 = now_s();
      for (int i = 0; i < 20; i++) dn(base + i);
      return (now_s() - t0) / 20 * 1e6;
    };
    burst(0);
    double quiet = burst(30);
    openblas_set_num_threads(2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, N, K, 1.f, x.as<float>(), K,
                (const float*)wp->at(0), N, 0.f, y.as<float>(), N);  // M=64 so OpenBLAS really uses 2 threads (Buf is padded to 2 MiB)
    double after = burst(60);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    double later = burst(90);
    printf("X,pitfall,dnnl M=4 omp=2 us/call: quiet=%.1f, right after an OpenBLAS 2-thread sgemm=%.1f, 300ms later=%.1f\n",
           quiet, after, later);
    openblas_set_num_threads(1);
  }
}

// ---- correctness checks
static void sec_check() {
  stream s(eng());
  const int K = 512, N = 1024, M = 5;
  std::vector<float> x((size_t)M * K), w((size_t)K * N), wt((size_t)N * K), y((size_t)M * N);
  fill_f32(x.data(), x.size(), 1);
  fill_f32(w.data(), w.size(), 2);
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) wt[(size_t)n * K + k] = w[(size_t)k * N + n];
  std::vector<double> ref((size_t)M * N, 0);
  double rmax = 0;
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double a = 0;
      for (int k = 0; k < K; k++) a += (double)x[(size_t)m * K + k] * w[(size_t)k * N + n];
      ref[(size_t)m * N + n] = a;
      rmax = std::max(rmax, std::fabs(a));
    }
  auto err = [&](const char* what) {
    double e = 0;
    for (size_t i = 0; i < y.size(); i++) e = std::max(e, std::fabs(y[i] - ref[i]));
    printf("K,f32,%s,M=%d,max_abs_err/max|y|=%.2e\n", what, M, e / rmax);
    std::fill(y.begin(), y.end(), 0.f);
  };
  for (Lay lay : {KN, NK}) {
    auto pd = matmul::primitive_desc(matmul::desc(md_t({DNNL_RUNTIME_DIM_VAL, K}, dt::f32, tag::ab),
                                                  w_user_md(K, N, dt::f32, lay),
                                                  md_t({DNNL_RUNTIME_DIM_VAL, N}, dt::f32, tag::ab)),
                                     eng());
    memory xm(md_t({M, K}, dt::f32, tag::ab), eng(), x.data()), ym(md_t({M, N}, dt::f32, tag::ab), eng(), y.data());
    memory wm(pd.weights_desc(), eng(), lay == KN ? w.data() : wt.data());
    matmul(pd).execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
    s.wait();
    err(lay == KN ? "dnnl_rt KN" : "dnnl_rt NK");
  }
  for (int nt : {1, 2}) {
    avx2_kn(x.data(), M, K, w.data(), N, y.data(), nt);
    err(nt == 1 ? "avx2 KN nt=1" : "avx2 KN nt=2");
    avx2_kn2(x.data(), M, K, w.data(), N, y.data(), nt);
    err(nt == 1 ? "avx2 KN rowstream nt=1" : "avx2 KN rowstream nt=2");
    avx2_nk(x.data(), M, K, wt.data(), N, y.data(), nt);
    err(nt == 1 ? "avx2 NK nt=1" : "avx2 NK nt=2");
    std::vector<float> wp((size_t)N * K);
    pack_f32_nkp(wt.data(), N, K, wp.data());
    avx2_nk(x.data(), M, K, wp.data(), N, y.data(), nt, true);
    err(nt == 1 ? "avx2 NKp nt=1" : "avx2 NKp nt=2");
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, x.data(), K, w.data(), N, 0.f, y.data(), N);
  err("oblas KN");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, x.data(), K, wt.data(), K, 0.f, y.data(), N);
  err("oblas NK");

  // int8: exact int32 comparison, including the AVX2 (no VNNI) vpmaddubsw int16-saturation hazard.
  const int Mi = 8;
  std::vector<int8_t> xq((size_t)Mi * K), wq((size_t)K * N), wqt((size_t)N * K);
  std::vector<int32_t> acc((size_t)Mi * N), iref((size_t)Mi * N);
  struct Case { const char* name; bool u8; int xlo, xhi, wlo, whi; };
  Case cases[] = {{"u8s8 x in[0,255] w in[-128,127] (full range)", true, 0, 255, -128, 127},
                  {"u8s8 x in[0,127] w in[-128,127] (7-bit src)", true, 0, 127, -128, 127},
                  {"u8s8 x in[64,192] w in[-127,127] (zp=128, |x-zp|<=64)", true, 64, 192, -127, 127},
                  {"s8s8 x in[-128,127] w in[-128,127] (full range)", false, -128, 127, -128, 127},
                  {"s8s8 x in[-127,127] w in[-127,127]", false, -127, 127, -127, 127},
                  {"u8s8 x in[0,255] w in[-64,63] (7-bit weights)", true, 0, 255, -64, 63},
                  {"u8s8 x in[0,255] w in[-8,7] (int4 unpacked to s8)", true, 0, 255, -8, 7},
                  {"s8s8 x in[-127,127] w in[-8,7] (int4 unpacked to s8)", false, -127, 127, -8, 7},
                  {"s8s8 x in[-63,63] w in[-127,127] (7-bit src)", false, -63, 63, -127, 127}};
  for (auto& c : cases) {
    // adversarial-ish: also set one row to all-max to force pair sums to saturate if any
    fill_int(xq.data(), xq.size(), c.xlo, c.xhi, 21);
    fill_int(wq.data(), wq.size(), c.wlo, c.whi, 22);
    for (int k = 0; k < K; k++) {
      xq[k] = (int8_t)(uint8_t)(c.u8 ? c.xhi : c.xhi);
      for (int n = 0; n < 8; n++) wq[(size_t)k * N + n] = (int8_t)c.whi;
    }
    for (int k = 0; k < K; k++)
      for (int n = 0; n < N; n++) wqt[(size_t)n * K + k] = wq[(size_t)k * N + n];
    for (int m = 0; m < Mi; m++)
      for (int n = 0; n < N; n++) {
        int32_t a = 0;
        for (int k = 0; k < K; k++) {
          int xv = c.u8 ? (int)(uint8_t)xq[(size_t)m * K + k] : (int)xq[(size_t)m * K + k];
          a += xv * (int)wq[(size_t)k * N + n];
        }
        iref[(size_t)m * N + n] = a;
      }
    for (Lay lay : {KN, NK, PK}) {
      md_t wreq = lay == PK ? md_t({K, N}, dt::s8, tag::any) : w_user_md(K, N, dt::s8, lay);
      matmul::primitive_desc pd;
      try {
        pd = matmul::primitive_desc(matmul::desc(md_t({DNNL_RUNTIME_DIM_VAL, K}, c.u8 ? dt::u8 : dt::s8, tag::ab),
                                                 wreq, md_t({DNNL_RUNTIME_DIM_VAL, N}, dt::s32, tag::ab)),
                                    eng());
      } catch (dnnl::error& e) {
        printf("K,int8,%s,%s,creation failed\n", c.name, lay_name[lay]);
        continue;
      }
      memory xm(md_t({Mi, K}, c.u8 ? dt::u8 : dt::s8, tag::ab), eng(), xq.data());
      memory ym(md_t({Mi, N}, dt::s32, tag::ab), eng(), acc.data());
      memory wm;
      std::unique_ptr<Buf> pk;
      if (lay == PK) {
        pk = std::make_unique<Buf>(pd.weights_desc().get_size());
        wm = memory(pd.weights_desc(), eng(), pk->p);
        memory src(w_user_md(K, N, dt::s8, KN), eng(), wq.data());
        reorder(src, wm).execute(s, src, wm);
      } else {
        wm = memory(pd.weights_desc(), eng(), lay == KN ? wq.data() : wqt.data());
      }
      std::fill(acc.begin(), acc.end(), 0);
      matmul(pd).execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
      s.wait();
      long bad = 0;
      long long maxd = 0;
      for (size_t i = 0; i < acc.size(); i++)
        if (acc[i] != iref[i]) { bad++; maxd = std::max(maxd, std::llabs((long long)acc[i] - iref[i])); }
      printf("K,int8,%s,%s,impl=%s,mismatches=%ld/%zu,max_abs_diff=%lld\n", c.name, lay_name[lay], pd.impl_info_str(),
             bad, acc.size(), maxd);
    }
  }
  // u8 x s4 / u8 x s8 AVX2 kernels vs exact integer reference
  for (int i4 = 0; i4 <= 1; i4++) {
    const int Mq = 7;
    std::vector<float> xf((size_t)Mq * K), sxq(Mq), swq(N), yq((size_t)Mq * N);
    fill_f32(xf.data(), xf.size(), 31);
    std::vector<uint8_t> q((size_t)Mq * K);
    quant_x(xf.data(), Mq, K, (int8_t*)q.data(), sxq.data(), true, 1);
    std::vector<int8_t> wn((size_t)N * K);
    fill_int(wn.data(), wn.size(), i4 ? -8 : -64, i4 ? 7 : 63, 32);  // s8 case: 7-bit weights (no saturation)
    for (int pk = 0; pk <= 1; pk++) {
    std::vector<uint8_t> packed(i4 ? (size_t)N * K / 2 : (size_t)N * K);
    if (i4) pack_int4_nk(wn.data(), N, K, packed.data(), pk);
    else if (pk) pack_s8_nkp(wn.data(), N, K, (int8_t*)packed.data());
    else memcpy(packed.data(), wn.data(), wn.size());
    std::vector<int32_t> cmp(N);
    for (int n = 0; n < N; n++) {
      int sum = 0;
      for (int k = 0; k < K; k++) sum += wn[(size_t)n * K + k];
      cmp[n] = 128 * sum;
      swq[n] = 0.01f + 0.001f * (n % 5);
    }
    const uint8_t* Wp = packed.data();
    double e = 0, mx = 0;
    for (int nt : {1, 2}) {
      if (i4) avx2_nkq<true>(q.data(), sxq.data(), Mq, K, Wp, swq.data(), cmp.data(), N, yq.data(), nt, pk);
      else avx2_nkq<false>(q.data(), sxq.data(), Mq, K, Wp, swq.data(), cmp.data(), N, yq.data(), nt, pk);
      for (int m = 0; m < Mq; m++)
        for (int n = 0; n < N; n++) {
          long a = 0;
          for (int k = 0; k < K; k++) a += ((int)q[(size_t)m * K + k] - 128) * (int)wn[(size_t)n * K + k];
          double r = (double)sxq[m] * swq[n] * (double)a;
          mx = std::max(mx, std::fabs(r));
          e = std::max(e, std::fabs(r - yq[(size_t)m * N + n]));
        }
    }
    printf("K,%s,avx2 %s,M=%d,max_abs_err/max|y| vs exact-int reference=%.2e\n", i4 ? "u8s4" : "u8s8(7-bit w)",
           pk ? "NKp" : "NK", Mq, e / mx);
    }
  }
  // w8a32 kernel vs reference
  {
    std::vector<float> swv(N);
    for (int n = 0; n < N; n++) swv[n] = 0.01f + 0.001f * (n % 7);
    fill_int(wqt.data(), wqt.size(), -127, 127, 23);
    double e = 0, mx = 0;
    for (int nt : {1, 2}) {
      avx2_nk8(x.data(), M, K, wqt.data(), swv.data(), N, y.data(), nt);  // (NKp shares the addressing code)
      for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
          double a = 0;
          for (int k = 0; k < K; k++) a += (double)x[(size_t)m * K + k] * wqt[(size_t)n * K + k];
          a *= swv[n];
          mx = std::max(mx, std::fabs(a));
          e = std::max(e, std::fabs(a - y[(size_t)m * N + n]));
        }
    }
    printf("K,w8a32,avx2 NK,M=%d,max_abs_err/max|y|=%.2e\n", M, e / mx);
  }
  fflush(stdout);
}

int main(int argc, char** argv) {
  std::vector<std::string> secs;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--ms=", 0) == 0) g_target_s = atof(a.c_str() + 5) / 1e3;
    else if (a == "--quick") g_quick = true;
    else if (a == "--nohuge") g_huge = false;
    else if (a.rfind("--kb=", 0) == 0) g_kb = atoi(a.c_str() + 5);
    else if (a.rfind("--pf=", 0) == 0) g_pf = atoi(a.c_str() + 5) != 0;
    else if (a.rfind("--pfd=", 0) == 0) g_pfd = atoi(a.c_str() + 6);
    else if (a.rfind("--shape=", 0) == 0) sscanf(a.c_str() + 8, "%d,%d", &g_only_K, &g_only_N);
    else if (a.rfind("--poolmb=", 0) == 0) g_pool_bytes = size_t(atoi(a.c_str() + 9)) << 20;
    else secs.push_back(a);
  }
  if (secs.empty()) secs = {"info", "check", "stream", "dnnl_f32", "dnnl_int8", "oblas", "avx2", "conc"};
  printf("# gemm_probe target_ms=%.0f quick=%d hugepages=%s kb=%d pf=%d pfd=%d pool_MiB=%zu\n", g_target_s * 1e3,
         (int)g_quick, g_huge ? "madvise" : "no", g_kb, (int)g_pf, g_pfd, g_pool_bytes >> 20);
  openblas_set_num_threads(1);  // keep OpenBLAS workers idle unless a section asks for them
  for (auto& s : secs) {
    double t0 = now_s();
    if (s == "info") sec_info();
    else if (s == "stream") sec_stream();
    else if (s == "dnnl_f32") sec_dnnl_f32();
    else if (s == "dnnl_int8") sec_dnnl_int8();
    else if (s == "oblas") sec_oblas();
    else if (s == "avx2") sec_avx2();
    else if (s == "conc") sec_conc();
    else if (s == "check") sec_check();
    else { fprintf(stderr, "unknown section %s\n", s.c_str()); return 2; }
    fprintf(stderr, "[%s] done in %.1f s\n", s.c_str(), now_s() - t0);
  }
  return 0;
}
