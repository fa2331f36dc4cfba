//===- MatmulKernels.h - the hand kernels, one table per ISA ----*- C++ -*-===//
//
// Internal to lib/Runtime/Kernels. Matmul.cpp checks operands, splits the
// work into blocks of (group, rows, columns) and calls, per block, one
// entry of the process's KernelTable (or oneDNN, MatmulDnnl.cpp, for f32
// blocks with many rows); Quant.cpp and Routing.cpp call its row entries.
// All entries are single-threaded: the callers parallelize.
//
// One table per instruction set (CpuIsa.h), filled in CpuIsa.cpp:
//  - portable (MatmulPortable.cpp, QuantRows.cpp): plain C++ loops the
//    compiler vectorizes for the baseline ISA;
//  - avx2 (MatmulAvx2.cpp, QuantAvx2.cpp): packed weight panels and
//    register-tiled FMA / vpmaddwd micro-kernels;
//  - avx512 (MatmulAvx512.cpp): 16-wide f32 kernels on the avx2 packing;
//  - avxvnni (MatmulAvxVnni.cpp): the avx2 kernels plus 256-bit u8 x s8
//    vpdpbusd (AVX-VNNI) gemmU8 / gemvU8, for CPUs without AVX-512;
//  - avx512vnni (MatmulAvx512.cpp): vpdpwssd int8 micro-kernel;
//    (MatmulVnni.cpp) u8 x s8 vpdpbusd kernels with a compensation term.
// A variant is a function compiled with `MOE_TARGET(...)` (a per-function
// target attribute, so nothing outside it, no inline function it calls
// and no template it instantiates from a header, uses the extra
// instructions) and only reached through its table, which kernels()
// returns only when the CPU has the features. A new variant is one more
// namespace here and one more table in CpuIsa.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_KERNELS_MATMULKERNELS_H
#define MOE_RUNTIME_KERNELS_MATMULKERNELS_H

#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Tensor.h"

#include <cstdint>

#if defined(__x86_64__)
#define MOE_TARGET(features) __attribute__((target(features)))
#endif

namespace moert {
namespace detail {

/// One group's weight matrix [K, N] (row-major, k-major): element (k, n)
/// is element `offset + k * N + n` of `data`'s packed storage.
struct WeightView {
  const uint8_t *data;
  DType dtype; // F32, BF16, F16, I8 or I4
  int64_t offset;
  int64_t k, n;
};

/// c[i, j] = sum_k a[i, k] * w[k, n0 + j] for i < m, j < n1 - n0, k over
/// the whole K. `a` f32 [m, lda]; `c` f32 with row stride ldc >=
/// round_up(n1 - n0, 16) (columns past n1 - n0 are scratch). gemmF32
/// takes an F32, BF16 or F16 weight; gemvF32 (few rows, best <= 8) an F32
/// weight only; gemmF32Packed an F32 weight in the packed f32 layout
/// (kPackedStrip below) for n0, n1 multiples of 16, any rows.
using GemmF32Fn = void (*)(const float *a, int64_t lda, int64_t m,
                           const WeightView &w, int64_t n0, int64_t n1,
                           float *c, int64_t ldc);

/// c[i, j] = sum_{k in [k0, k1)} a[i, k] * w[k, n0 + j] in exact i32. `a`
/// s16 [m, lda] holding int8 values (or int8 - 8 for the w4a8 kernel
/// form, so in [-136, 127]) with lda even and a[i, k1] readable
/// (0) when k1 - k0 is odd; `c` as for GemmF32Fn. gemmI8 takes an I8 or I4
/// weight; gemvI8 (few rows) an I8 weight and an even k0.
using GemmI8Fn = void (*)(const int16_t *a, int64_t lda, int64_t m,
                          const WeightView &w, int64_t k0, int64_t k1,
                          int64_t n0, int64_t n1, int32_t *c, int64_t ldc);

/// c[i, j] = sum_{k in [k0, k1)} (a[i, k] - zero) * w[k, n0 + j] in exact
/// i32, for `a` u8 [m, lda] holding the int8 operand plus `zero` (x + 128
/// with zero 128; the w4a8 kernel form's x - 8 as x + 128 with zero 136).
/// a[i, k1 .. k1 + 3] must be readable (any value: the weight is padded
/// with zeros); `c` as for GemmF32Fn. Both entries take an I8 or I4
/// weight and any 0 <= k0 <= k1 <= K (odd k0 included: w4a8 calls them
/// per K block [kb * gs, (kb + 1) * gs) of any group size gs), and give
/// the same exact i32 sums. gemvU8 (few rows, best <= 8) streams the
/// weight without packing it; an I4 weight is unpacked in registers and
/// must have whole-byte rows (N and offset + n0 even), else gemvU8 runs
/// gemmU8. Only variants with u8 x s8 dot products (vpdpbusd) have them.
using GemmU8Fn = void (*)(const uint8_t *a, int64_t lda, int64_t m,
                          const WeightView &w, int64_t k0, int64_t k1,
                          int64_t n0, int64_t n1, int32_t zero, int32_t *c,
                          int64_t ldc);

/// The packed int8 weight layout (npu.pack_weights, PackWeights.cpp): each
/// group's [K, N] as 16-column strips of k-quads over the whole K,
/// [N / 16][K / 4][16][4] bytes (avx2::packU8Quads of all rows and
/// columns), each byte holding w + 128 (w xor 0x80: the unsigned operand
/// of vpdpbusd, so the activations need no conversion), for K % 4 == 0
/// and N % 16 == 0. The strips of a group are `K / 4 * 64` bytes apart and
/// 64-byte aligned.
constexpr int64_t kPackedStrip = 16;
constexpr int64_t kPackedQuad = 4;
/// The packed f32 layout: each group's [K, N] as 16-column strips over the
/// whole K, [N / 16][K][16] floats (avx2::packF32's panel of all rows), for
/// N % 16 == 0: a strip is one contiguous run of K * 64 bytes, which the
/// register-tiled FMA kernels read as it lies, for one row or many.
/// The packed int8 k-pair layout (w8a8 on variants without vpdpbusd): each
/// group's [K, N] as 16-column strips of k-pairs over the whole K,
/// [N / 16][K / 2][16][2] bytes: bytes 2c and 2c + 1 of pair row p of a
/// strip hold w[2p, 16s + c] and w[2p + 1, 16s + c], so one vpmovsxbw gives
/// the s16 pairs of 8 columns that vpmaddwd multiplies by a pair of x. For
/// K % 2 == 0 and N % 16 == 0 (StorageLayout::PackedPairs).
/// The packed int4 k-pair layout (w4a8 on variants without vpdpbusd):
/// each group's [K, N] as 32-column strips of k-pairs, [N / 32][K / 2][32]
/// bytes: byte 2c + r of pair row p of strip s holds w[2p + r, 32s + c] + 8
/// in its low nibble and w[2p + r, 32s + 16 + c] + 8 in its high one (c <
/// 16), so one mask and one shift give the unsigned byte pairs vpmaddubsw
/// multiplies by a pair of x. For K % 2 == 0 and N % 32 == 0
/// (StorageLayout::PackedPairs).
/// The packed int4 layout (w4a8): each group's [K, N] as 32-column strips
/// of k-quads, [N / 32][K / 4][64] bytes (half the int8 layout's bytes):
/// byte 4c + r of quad row q of strip s holds w[4q + r, 32s + c] + 8 in its
/// low nibble and w[4q + r, 32s + 16 + c] + 8 in its high one (c < 16), so
/// one mask and one shift give two registers of unsigned k-quads. For
/// K % 4 == 0 and N % 32 == 0.
constexpr int64_t kPackedI4Strip = 32;
/// The largest group size (K rows per group scale) of a packed int4
/// weight: the VNNI kernel sums 16 (w + 8) x over a group in an i32, and
/// |16 (w + 8) x| <= 240 * 128 = 30720 per term (2^31 / 30720 = 69905).
constexpr int64_t kMaxPackedI4Group = 65536;

/// The packed int4 kernels read a strip's 32 group scales of block kb at
/// scale + kb * ldScale: ldScale (N) floats from the previous block's, on
/// another page once N >= 1024, which no hardware prefetcher follows. So
/// the kernels fetch those of block kb + kScaleAhead (wrapping to the next
/// strip's first blocks) while they multiply block kb: 2-14 % faster at
/// T = 1 on the Qwen3 shapes, the same from 1 to 8 blocks ahead.
constexpr int64_t kScaleAhead = 2;
inline void prefetchGroupScales(const float *scale, int64_t kb, int64_t blocks,
                                int64_t ldScale) {
  int64_t ahead = kb + kScaleAhead;
  const float *s = ahead < blocks
                       ? scale + ahead * ldScale
                       : scale + kPackedI4Strip + (ahead - blocks) * ldScale;
  __builtin_prefetch(s, 0, 3); // the strip's 32 floats: two cache lines
  __builtin_prefetch(s + 16, 0, 3);
}

/// Calls tile(i, rows) for the row tiles of the packed-weight kernels over
/// m rows: ceil(m / maxRows) tiles in order, their sizes split evenly (9
/// rows in tiles of at most 8 as 4 + 5, not 8 + 1: a tile of r rows has
/// 2r independent accumulator chains, and fewer than 8 leave the FMA units
/// waiting on latency). Plain C++: `tile` calls the variant's kernels.
template <typename Tile>
inline void evenRowTiles(int64_t m, int64_t maxRows, Tile &&tile) {
  int64_t tiles = (m + maxRows - 1) / maxRows;
  for (int64_t t = 0, i = 0; t < tiles; ++t) {
    int64_t rows = (m - i) / (tiles - t);
    tile(i, rows);
    i += rows;
  }
}

/// c[i, j] = sum_{k in [k0, k1)} x[i, k] * w[k, n0 + j] in exact i32 for
/// the signed int8 activations `x` [m, ldx] and a weight in the packed
/// int8 layout (`w` describes the plain [K, N] matrix whose packed form
/// starts at data + offset), for k0, k1 multiples of 4 and n0, n1
/// multiples of 16: the weight is read as it lies, every block in place,
/// whatever the rows; `c` as for GemmF32Fn. Only variants with vpdpbusd
/// have it.
using GemmU8PackedFn = void (*)(const int8_t *x, int64_t ldx, int64_t m,
                                const WeightView &w, int64_t k0, int64_t k1,
                                int64_t n0, int64_t n1, int32_t *c,
                                int64_t ldc);

/// The w4a8 product of a weight in the packed int4 layout, all of K in
/// `blocks` blocks of `gs` rows (gs % 4 == 0), n0 and n1 multiples of 32:
/// f[i, j] = sum over blocks b, in order, of float(P_b[i, j]) * scale[b *
/// ldScale + j] (a product then a sum, from 0.0f: Matmul.cpp's rounding),
/// with P_b[i, j] = sum_{k in block b} (a[i, k] - zero) * w[k, n0 + j] the
/// exact i32 sum and `a` as for GemmU8Fn. `scale` points at column n0 of
/// block 0's scales.
using GemmU4ScaledFn = void (*)(const uint8_t *a, int64_t lda, int64_t m,
                                const WeightView &w, int64_t blocks,
                                int64_t gs, const float *scale,
                                int64_t ldScale, int64_t n0, int64_t n1,
                                int32_t zero, float *f, int64_t ldf);

/// out[i] = silu(h[i]) * h[i + n] for i < n (SwiGLU of one row [gate|up]).
using SwigluRowFn = void (*)(const float *h, int64_t n, float *out);

/// Dynamic per-row int8 quantization (npu.dynamic_quant): scale =
/// max|x| / 127 (0 for an all-zero row, then q = 0), q = round-half-even(
/// x / scale) clamped to [-127, 127]. Returns the scale. Every variant
/// gives bit-identical results.
using QuantizeRowFn = float (*)(const float *x, int64_t n, int8_t *q);

struct KernelTable {
  CpuIsa isa;
  GemmF32Fn gemmF32;
  GemmF32Fn gemvF32;
  GemmF32Fn gemmF32Packed; // nullptr where the variant has none
  GemmI8Fn gemmI8;
  GemmI8Fn gemvI8;
  /// gemmI8 of a weight in the packed int8 k-pair layout (any rows; k0, k1
  /// even; n0, n1 multiples of 16); nullptr where the variant has none.
  GemmI8Fn gemmI8Packed;
  GemmU8Fn gemmU8; // nullptr without vpdpbusd
  GemmU8Fn gemvU8; // few rows; nullptr without vpdpbusd
  GemmU8PackedFn gemmU8Packed; // packed weights; nullptr without vpdpbusd
  /// The w4a8 matmul of a packed int4 weight, GemmU4ScaledFn; nullptr
  /// where the variant has none.
  GemmU4ScaledFn gemmU4Packed;
  /// The same product of a weight in the packed int4 k-pair layout (gs
  /// even); nullptr where the variant has none.
  GemmU4ScaledFn gemmU4Pairs;
  SwigluRowFn swigluRow;
  QuantizeRowFn quantizeRow;
};

/// The table of cpuIsa() (CpuIsa.cpp). Throws moert::Error when MOE_CPU_ISA
/// is invalid.
const KernelTable &kernels();

/// s = u - 128 of rows [k0, k1) of `rows` rows of u (stride lda), zero-
/// padded to `padded` bytes per row, and sum_k s per row into `sums`; with
/// `ones`, one more row of ones (zero-padded). Plain C++ (MatmulPortable.cpp)
/// shared by the vpdpbusd gemv kernels of both widths.
void signedRows(const uint8_t *a, int64_t lda, int rows, bool ones,
                int64_t k0, int64_t k1, int64_t padded, int8_t *s,
                int64_t *sums);

/// e^x as every variant's SwiGLU computes it (the same range reduction
/// and polynomial; QuantRows.cpp): relative error within 2.3e-7.
float expApprox(float x);

// The variants. Signatures as the table's entries.
namespace portable {
void gemmF32(const float *, int64_t, int64_t, const WeightView &, int64_t,
             int64_t, float *, int64_t);
void gemmI8(const int16_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t *, int64_t);
void swigluRow(const float *, int64_t, float *);
float quantizeRow(const float *, int64_t, int8_t *);
} // namespace portable

#if defined(__x86_64__)
namespace avx2 {
void gemmF32(const float *, int64_t, int64_t, const WeightView &, int64_t,
             int64_t, float *, int64_t);
void gemvF32(const float *, int64_t, int64_t, const WeightView &, int64_t,
             int64_t, float *, int64_t);
void gemmF32Packed(const float *, int64_t, int64_t, const WeightView &,
                   int64_t, int64_t, float *, int64_t);
void gemmI8(const int16_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t *, int64_t);
void gemvI8(const int16_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t *, int64_t);
void gemmI8Packed(const int16_t *, int64_t, int64_t, const WeightView &,
                  int64_t, int64_t, int64_t, int64_t, int32_t *, int64_t);
void gemmU4Pairs(const uint8_t *, int64_t, int64_t, const WeightView &,
                 int64_t, int64_t, const float *, int64_t, int64_t, int64_t,
                 int32_t, float *, int64_t);
void swigluRow(const float *, int64_t, float *);
float quantizeRow(const float *, int64_t, int8_t *);

/// Packed panels shared with the AVX-512 kernels: rows [k0, k1) of
/// columns [n0, n1) as f32 strips [s][k][16] (zero-padded), or as s16
/// k-pairs [s][kp][16][2] (an odd last row pairs with zeros). `panel` is
/// 64-byte aligned. packScratch returns a per-thread 64-byte aligned
/// buffer of at least `bytes`.
void packF32(const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
             int64_t n1, float *panel);
void packI8(const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
            int64_t n1, int16_t *panel);
void *packScratch(size_t bytes);
/// The scratch of the packed int4 kernels (gemmU4Packed), from
/// packScratch: S = sum_k (u - 128) of `m` rows of u over each of `blocks`
/// K blocks of `gs` bytes ([m][blocks]), then room for a strip's
/// per-block compensation ([blocks][32] i32, 64-byte aligned).
struct U4Scratch {
  int32_t *sums;
  int32_t *comp;
};
U4Scratch u4Scratch(const uint8_t *u, int64_t ldu, int64_t m, int64_t blocks,
                    int64_t gs);
/// x = u - 128 of `m` rows of u (stride ldu) as signed bytes, [m][k], in a
/// thread-local buffer valid until the next call on the thread: the packed
/// int4 kernels' signed operand, made once per call instead of once per
/// broadcast.
const int8_t *signedActivations(const uint8_t *u, int64_t ldu, int64_t m,
                                int64_t k);
/// Rows [k0, k1) of columns [n0, n1) of an I8 or I4 weight as int8 k-quads
/// [strip][q][16][4] (16-column strips, 64 bytes per quad row; rows past
/// k1 and columns past n1 are zero), for the vpdpbusd kernels. `panel` is
/// 64-byte aligned.
void packU8Quads(const WeightView &w, int64_t k0, int64_t k1, int64_t n0,
                 int64_t n1, int8_t *panel);
/// Panel depth (rows of k) for `cols` columns of `bytes`-byte values.
int64_t panelRows(int64_t cols, int64_t bytes);
/// The per-thread scratch of a gemmU8 over `strips` 16-column strips with
/// panels of about `panelBytes`: `comp`, the zeroed compensation (the
/// column sums, strips x 16 i32), then `panel` (k-quads, `depth` rows: a
/// multiple of 4 from 64 to 1024), both 64-byte aligned.
struct U8Panels {
  int64_t depth;
  int32_t *comp;
  int8_t *panel;
};
U8Panels u8Panels(int64_t strips, int64_t panelBytes);
} // namespace avx2

namespace avx512 {
void gemmF32(const float *, int64_t, int64_t, const WeightView &, int64_t,
             int64_t, float *, int64_t);
void gemvF32(const float *, int64_t, int64_t, const WeightView &, int64_t,
             int64_t, float *, int64_t);
void gemmF32Packed(const float *, int64_t, int64_t, const WeightView &,
                   int64_t, int64_t, float *, int64_t);
} // namespace avx512

namespace avxvnni {
/// MatmulAvxVnni.cpp.
void gemmU8(const uint8_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t, int32_t *, int64_t);
void gemvU8(const uint8_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t, int32_t *, int64_t);
void gemmU8Packed(const int8_t *, int64_t, int64_t, const WeightView &,
                  int64_t, int64_t, int64_t, int64_t, int32_t *, int64_t);
void gemmU4Packed(const uint8_t *, int64_t, int64_t, const WeightView &,
                  int64_t, int64_t, const float *, int64_t, int64_t, int64_t,
                  int32_t, float *, int64_t);
} // namespace avxvnni

namespace avx512vnni {
void gemmI8(const int16_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t *, int64_t);
/// MatmulVnni.cpp.
void gemmU8(const uint8_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t, int32_t *, int64_t);
void gemvU8(const uint8_t *, int64_t, int64_t, const WeightView &, int64_t,
            int64_t, int64_t, int64_t, int32_t, int32_t *, int64_t);
void gemmU8Packed(const int8_t *, int64_t, int64_t, const WeightView &,
                  int64_t, int64_t, int64_t, int64_t, int32_t *, int64_t);
void gemmU4Packed(const uint8_t *, int64_t, int64_t, const WeightView &,
                  int64_t, int64_t, const float *, int64_t, int64_t, int64_t,
                  int32_t, float *, int64_t);
} // namespace avx512vnni
#endif

/// oneDNN f32 matmul of one block, single-threaded, with GemmF32Fn's
/// contract for an F32 weight (oneDNN picks its own instructions from the
/// CPU). Primitives are created once per (K, N, block width, strides) and
/// reused.
void dnnlGemmF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
                 int64_t n0, int64_t n1, float *c, int64_t ldc);

} // namespace detail
} // namespace moert

#endif // MOE_RUNTIME_KERNELS_MATMULKERNELS_H
