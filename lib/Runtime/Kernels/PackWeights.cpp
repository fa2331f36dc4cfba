//===- PackWeights.cpp - npu.pack_weights: expert weights packed at load --===//
//
// The load-time repacking of an expert weight stack into the layout its
// packed kernel of MatmulKernels.h reads, so no step packs weight panels
// again:
//  - int8: gemmU8Packed's 16-column strips of k-quads over the whole K
//    (avx2::packU8Quads of each group, w + 128), or, on CPUs without
//    vpdpbusd, gemmI8Packed's 16-column strips of k-pairs
//    (StorageLayout::PackedPairs);
//  - int4 (w4a8): gemmU4Packed's 32-column strips of k-quads of nibbles
//    (the two halves of a strip in the low and high nibbles, read without
//    any shuffle), or gemmU4Pairs' strips of nibble k-pairs;
//  - f32: gemmF32Packed's 16-column strips over the whole K (the FMA
//    kernels' panel, read in place for any rows), in place only.
// In place when the driver donated the weight: one group at a time through
// a scratch copy of that group, so the process never holds two copies of
// the stack. docs/Runtime.md, "Packed weights".
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Kernels.h"
#include "moe/Runtime/Parallel.h"

#include "KernelUtil.h"
#include "MatmulKernels.h"

#include <cstring>
#include <map>
#include <mutex>

namespace moert {
using namespace detail;

namespace {
constexpr const char *kPack = "npu.pack_weights";

/// Storages packed in place, by address (a weak reference tells a live
/// one from a later allocation at the same address).
struct PackedStorages {
  std::mutex mutex;
  std::map<const uint8_t *, std::weak_ptr<uint8_t>> storages;

  bool contains(const std::shared_ptr<uint8_t> &storage) {
    auto it = storages.find(storage.get());
    if (it == storages.end())
      return false;
    if (it->second.lock() == storage)
      return true;
    storages.erase(it); // freed; the address was reused
    return false;
  }
};

PackedStorages &packedStorages() {
  static PackedStorages registry;
  return registry;
}

#if defined(__x86_64__) // the packed layouts' kernels are x86 variants
/// One int4 group [k, n] (two per byte, element 2i in the low nibble) in
/// the packed int4 layout of MatmulKernels.h.
void packI4Group(const uint8_t *src, int64_t k, int64_t n, uint8_t *dst) {
  for (int64_t s = 0; s < n / kPackedI4Strip; ++s)
    for (int64_t q = 0; q < k / kPackedQuad; ++q) {
      uint8_t *quad = dst + (s * (k / kPackedQuad) + q) * 64;
      for (int64_t c = 0; c < 16; ++c)
        for (int64_t r = 0; r < kPackedQuad; ++r) {
          int64_t row = (4 * q + r) * n + kPackedI4Strip * s + c;
          int lo = getI4(src, row) + 8, hi = getI4(src, row + 16) + 8;
          quad[4 * c + r] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

/// One int4 group [k, n] (two per byte, element 2i in the low nibble) in
/// the packed int4 k-pair layout of MatmulKernels.h.
void packI4PairsGroup(const uint8_t *src, int64_t k, int64_t n,
                      uint8_t *dst) {
  for (int64_t s = 0; s < n / kPackedI4Strip; ++s)
    for (int64_t p = 0; p < k / 2; ++p) {
      uint8_t *row = dst + (s * (k / 2) + p) * 32;
      for (int64_t c = 0; c < 16; ++c)
        for (int64_t r = 0; r < 2; ++r) {
          int64_t at = (2 * p + r) * n + kPackedI4Strip * s + c;
          int lo = getI4(src, at) + 8, hi = getI4(src, at + 16) + 8;
          row[2 * c + r] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

/// One int8 group [k, n] in the packed k-pair layout of MatmulKernels.h.
void packI8PairsGroup(const int8_t *src, int64_t k, int64_t n, int8_t *dst) {
  for (int64_t s = 0; s < n / kPackedStrip; ++s)
    for (int64_t p = 0; p < k / 2; ++p) {
      int8_t *row = dst + (s * (k / 2) + p) * 2 * kPackedStrip;
      const int8_t *even = src + 2 * p * n + s * kPackedStrip;
      for (int64_t c = 0; c < kPackedStrip; ++c) {
        row[2 * c] = even[c];
        row[2 * c + 1] = even[n + c];
      }
    }
}

/// One f32 group [k, n] in the packed f32 layout of MatmulKernels.h.
void packF32Group(const float *src, int64_t k, int64_t n, float *dst) {
  for (int64_t s = 0; s < n / kPackedStrip; ++s)
    for (int64_t r = 0; r < k; ++r)
      std::memcpy(dst + (s * k + r) * kPackedStrip,
                  src + r * n + s * kPackedStrip, kPackedStrip * sizeof(float));
}

/// Packs group after group of `src` into `dst` (the layouts of
/// MatmulKernels.h); with `src == dst`, each group goes through a scratch
/// copy first.
void packGroups(DType dtype, StorageLayout layout, const uint8_t *src,
                uint8_t *dst, int64_t groups, int64_t k, int64_t n) {
  int64_t perGroup = static_cast<int64_t>(storageBytes(dtype, k * n));
  bool inPlace = src == dst;
  parallelFor(groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> scratch(inPlace ? static_cast<size_t>(perGroup) : 0);
    for (int64_t g = begin; g < end; ++g) {
      const uint8_t *from = src + g * perGroup;
      if (inPlace) {
        std::memcpy(scratch.data(), from, static_cast<size_t>(perGroup));
        from = scratch.data();
      }
      if (dtype == DType::I4) {
        if (layout == StorageLayout::PackedPairs)
          packI4PairsGroup(from, k, n, dst + g * perGroup);
        else
          packI4Group(from, k, n, dst + g * perGroup);
        continue;
      }
      if (layout == StorageLayout::PackedPairs) {
        packI8PairsGroup(reinterpret_cast<const int8_t *>(from), k, n,
                         reinterpret_cast<int8_t *>(dst + g * perGroup));
        continue;
      }
      if (dtype == DType::F32) {
        packF32Group(reinterpret_cast<const float *>(from), k, n,
                     reinterpret_cast<float *>(dst + g * perGroup));
        continue;
      }
      WeightView w{from, DType::I8, 0, k, n};
      uint8_t *to = dst + g * perGroup;
      avx2::packU8Quads(w, 0, k, 0, n, reinterpret_cast<int8_t *>(to));
      for (int64_t i = 0; i < perGroup; ++i) // w + 128: vpdpbusd's unsigned side
        to[i] ^= 0x80;
    }
  });
}
#endif
} // namespace

StorageLayout packedLayout(DType dtype, int64_t k, int64_t n) {
  const KernelTable &kt = kernels();
  // `layout` when the kernel that reads it exists and the shape fits it.
  auto when = [](bool fits, StorageLayout layout) {
    return fits ? layout : StorageLayout::RowMajor;
  };
  using L = StorageLayout;
  switch (dtype) {
  case DType::F32:
    return when(kt.gemmF32Packed && n % kPackedStrip == 0, L::Packed);
  case DType::I8:
    if (kt.gemmU8Packed) // vpdpbusd: k-quads
      return when(k % kPackedQuad == 0 && n % kPackedStrip == 0, L::Packed);
    return when(kt.gemmI8Packed && k % 2 == 0 && n % kPackedStrip == 0,
                L::PackedPairs);
  case DType::I4:
    if (kt.gemmU4Packed) // vpdpbusd: k-quads of nibbles
      return when(k % kPackedQuad == 0 && n % kPackedI4Strip == 0, L::Packed);
    return when(kt.gemmU4Pairs && k % 2 == 0 && n % kPackedI4Strip == 0,
                L::PackedPairs);
  default:
    return L::RowMajor;
  }
}

bool packsWeights(DType dtype, int64_t k, int64_t n) {
  return packedLayout(dtype, k, n) != StorageLayout::RowMajor;
}

Tensor packWeights(const Tensor &weight, bool inPlace) {
  MOE_REQUIRE(weight.layout == StorageLayout::RowMajor, kPack,
              "the weight " + weight.str() + " is packed already");
  requireRank(weight, {3}, kPack, "weight");
  MOE_REQUIRE(weight.dtype == DType::I8 || weight.dtype == DType::I4 ||
                  weight.dtype == DType::F32,
              kPack,
              std::string("weight must be i8, i4 or f32, got ") +
                  dtypeName(weight.dtype));
  int64_t groups = weight.dim(0), k = weight.dim(1), n = weight.dim(2);
  Tensor packed = weight;
  packed.layout = packedLayout(weight.dtype, k, n);
#if defined(__x86_64__)
  if (packed.layout == StorageLayout::RowMajor || weight.numel() == 0)
    return weight;
  PackedStorages &registry = packedStorages();
  // Borrowed memory is the caller's: its next borrow is another tensor the
  // runtime could not tell is packed, so it is never packed in place.
  // (The kernels' aligned loads need a 64-byte aligned stack, which every
  // storage the runtime allocates is.)
  if (inPlace && weight.ownsStorage() &&
      reinterpret_cast<uintptr_t>(weight.bytes()) % 64 == 0) {
    // Under the lock: ranks sharing the storage pack it once.
    std::lock_guard<std::mutex> lock(registry.mutex);
    if (!registry.contains(weight.storage)) {
      packGroups(weight.dtype, packed.layout, weight.bytes(), weight.bytes(),
                 groups, k, n);
      registry.storages[weight.bytes()] = weight.storage;
    }
    return packed;
  }
  if (packedInPlace(weight))
    return packed; // a rank sharing this storage packed it already
  // A packed copy of an f32 stack would hold the largest weights twice:
  // f32 is packed in place or not at all (the row-major engines run).
  if (weight.dtype == DType::F32)
    return weight;
  Tensor copy = Tensor::empty(weight.dtype, weight.shape);
  packGroups(weight.dtype, packed.layout, weight.bytes(), copy.bytes(),
             groups, k, n);
  copy.layout = packed.layout;
  return copy;
#else
  (void)inPlace;
  (void)groups;
  return weight;
#endif
}

bool packedInPlace(const Tensor &weight) {
  if (!weight.storage)
    return false;
  PackedStorages &registry = packedStorages();
  std::lock_guard<std::mutex> lock(registry.mutex);
  return registry.contains(weight.storage);
}

void markPackedInPlace(const Tensor &weight) {
  PackedStorages &registry = packedStorages();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.storages[weight.bytes()] = weight.storage;
}

void checkNotPackedInPlace(const Tensor &weight, const char *op) {
  MOE_REQUIRE(
      weight.layout != StorageLayout::RowMajor || !packedInPlace(weight), op,
      "the weight " + weight.str() +
          " was packed in place by a donating load (npu.pack_weights): "
          "its buffer no longer holds the row-major values");
}

} // namespace moert
