//===- Tensor.cpp - tensors of the moe-mlir CPU runtime -------------------===//

#include "moe/Runtime/Tensor.h"

#include "TensorBlocks.h"

#include <cstdlib>
#include <cstring>
#include <atomic>
#include <sstream>

namespace moert {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  case DType::I8:
    return "i8";
  case DType::I4:
    return "i4";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::I1:
    return "i1";
  case DType::F8E4M3FN:
    return "f8E4M3FN";
  case DType::F8E5M2:
    return "f8E5M2";
  }
  return "?";
}

std::optional<size_t> checkedStorageBytes(DType dtype, int64_t elements) {
  if (elements < 0)
    return std::nullopt;
  int64_t width = 1; // bytes per element
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    width = 4;
    break;
  case DType::BF16:
  case DType::F16:
    width = 2;
    break;
  case DType::I8:
  case DType::I1:
  case DType::F8E4M3FN:
  case DType::F8E5M2:
    width = 1;
    break;
  case DType::I4:
    // Two per byte, rounded up; cannot overflow.
    return static_cast<size_t>(elements / 2 + elements % 2);
  case DType::I64:
    width = 8;
    break;
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(elements, width, &bytes))
    return std::nullopt;
  return static_cast<size_t>(bytes);
}

size_t storageBytes(DType dtype, int64_t elements) {
  std::optional<size_t> bytes = checkedStorageBytes(dtype, elements);
  if (!bytes)
    throw Error(std::to_string(elements) + " elements of " + dtypeName(dtype) +
                (elements < 0 ? " is a negative count"
                              : " need more than 2^63 - 1 bytes"));
  return *bytes;
}

std::optional<int64_t> checkedNumel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  return n;
}

bool isFloat(DType dtype) {
  return dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16;
}

void check(bool cond, const std::string &message) {
  if (!cond)
    throw Error(message);
}

namespace {
std::atomic<size_t> liveBytes{0}, peakLiveBytes{0};

void countAllocation(size_t bytes) {
  size_t now = liveBytes.fetch_add(bytes) + bytes;
  size_t peak = peakLiveBytes.load();
  while (now > peak && !peakLiveBytes.compare_exchange_weak(peak, now)) {
  }
}

/// Tensors of this size and more (weights, expanded rows, matmul results)
/// take blocks of TensorBlocks.cpp, whose freed pages the next step reuses.
constexpr size_t kLargeTensorBytes = 2 * blocks::kUnit;

std::shared_ptr<uint8_t> takeLarge(size_t bytes) {
  bytes = (bytes + blocks::kUnit - 1) / blocks::kUnit * blocks::kUnit;
  void *p = blocks::take(bytes);
  if (!p)
    return nullptr;
  countAllocation(bytes);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t *>(p),
                                  [bytes](uint8_t *q) {
                                    liveBytes -= bytes;
                                    blocks::give(q, bytes);
                                  });
}
} // namespace

Tensor Tensor::empty(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  for (int64_t d : t.shape)
    if (d < 0)
      throw Error("negative dimension in " + t.str());
  std::optional<int64_t> elements = checkedNumel(t.shape);
  if (!elements)
    throw Error(t.str() + " has more than 2^63 - 1 elements");
  std::optional<size_t> exact = checkedStorageBytes(dtype, *elements);
  if (!exact)
    throw Error(t.str() + " needs more than 2^63 - 1 bytes");
  // 64-byte alignment for vector kernels; at least one line so empty
  // tensors still own storage. Below 2^63 bytes, rounding up cannot wrap.
  size_t bytes = (*exact + 63) / 64 * 64;
  if (bytes == 0)
    bytes = 64;
  if (bytes >= kLargeTensorBytes) {
    t.storage = takeLarge(bytes);
    if (!t.storage)
      throw Error("out of memory allocating " + t.str());
    return t;
  }
  void *p = std::aligned_alloc(64, bytes);
  if (!p)
    throw Error("out of memory allocating " + t.str());
  countAllocation(bytes);
  t.storage = std::shared_ptr<uint8_t>(static_cast<uint8_t *>(p),
                                       [bytes](uint8_t *q) {
                                         liveBytes -= bytes;
                                         std::free(q);
                                       });
  return t;
}

TensorMemory tensorMemory() {
  return {liveBytes.load(), peakLiveBytes.load(), blocks::keptBytes()};
}

void resetTensorMemoryPeak() { peakLiveBytes = liveBytes.load(); }

void releaseKeptTensorMemory() { blocks::releaseKept(); }

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t = empty(dtype, std::move(shape));
  std::memset(t.bytes(), 0, t.nbytes());
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(str() + " has more than 2^63 - 1 elements");
  return n;
}

int64_t Tensor::rowElems() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    if (__builtin_mul_overflow(n, shape[i], &n))
      throw Error(str() + " has more than 2^63 - 1 elements per row");
  return n;
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << "tensor<";
  for (int64_t d : shape)
    os << d << "x";
  os << dtypeName(dtype)
     << (layout == StorageLayout::Packed        ? ", packed>"
         : layout == StorageLayout::PackedPairs ? ", packed pairs>"
                                                : ">");
  return os.str();
}

//===----------------------------------------------------------------------===//
// 16-bit floats
//===----------------------------------------------------------------------===//

float bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu))
    return static_cast<uint16_t>((bits >> 16) | 0x40); // quiet NaN
  uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16ToFloat(uint16_t v) {
  uint32_t sign = (v & 0x8000u) << 16;
  uint32_t exp = (v >> 10) & 0x1Fu;
  uint32_t mant = v & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: normalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FFu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToF16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t exp = (bits >> 23) & 0xFFu;
  uint32_t mant = bits & 0x7FFFFFu;
  if (exp == 0xFF) // inf / nan
    return static_cast<uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0u));
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31)
    return static_cast<uint16_t>(sign | 0x7C00u);
  if (e <= 0) { // subnormal or zero
    if (e < -10)
      return sign;
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1u)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // may carry into the exponent, which is the right rounding
  return static_cast<uint16_t>(sign | half);
}

void loadF32(const Tensor &src, int64_t begin, int64_t count, float *dst) {
  switch (src.dtype) {
  case DType::F32:
    std::memcpy(dst, src.data<float>() + begin, sizeof(float) * count);
    return;
  case DType::BF16: {
    const uint16_t *p = src.data<uint16_t>() + begin;
    for (int64_t i = 0; i < count; ++i)
      dst[i] = bf16ToFloat(p[i]);
    return;
  }
  case DType::F16: {
    const uint16_t *p = src.data<uint16_t>() + begin;
    for (int64_t i = 0; i < count; ++i)
      dst[i] = f16ToFloat(p[i]);
    return;
  }
  default:
    throw Error(std::string("loadF32: ") + dtypeName(src.dtype) +
                " is not a float type");
  }
}

void storeF32(const Tensor &dst, int64_t begin, int64_t count,
              const float *src) {
  switch (dst.dtype) {
  case DType::F32:
    std::memcpy(dst.data<float>() + begin, src, sizeof(float) * count);
    return;
  case DType::BF16: {
    uint16_t *p = dst.data<uint16_t>() + begin;
    for (int64_t i = 0; i < count; ++i)
      p[i] = floatToBf16(src[i]);
    return;
  }
  case DType::F16: {
    uint16_t *p = dst.data<uint16_t>() + begin;
    for (int64_t i = 0; i < count; ++i)
      p[i] = floatToF16(src[i]);
    return;
  }
  default:
    throw Error(std::string("storeF32: ") + dtypeName(dst.dtype) +
                " is not a float type");
  }
}

Tensor convertFloat(const Tensor &src, DType dtype) {
  MOE_CHECK(isFloat(src.dtype) && isFloat(dtype),
            "convertFloat: needs float types, got " + src.str());
  if (src.dtype == dtype)
    return src;
  Tensor out = Tensor::empty(dtype, src.shape);
  const int64_t chunk = 4096;
  std::vector<float> buf(chunk);
  for (int64_t i = 0, n = src.numel(); i < n; i += chunk) {
    int64_t c = std::min(chunk, n - i);
    loadF32(src, i, c, buf.data());
    storeF32(out, i, c, buf.data());
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Kernel threads
//===----------------------------------------------------------------------===//

namespace {
thread_local int kernelThreadCount = 1;
} // namespace

void setKernelThreads(int threads) {
  kernelThreadCount = threads < 1 ? 1 : threads;
}

int kernelThreads() { return kernelThreadCount; }

} // namespace moert
