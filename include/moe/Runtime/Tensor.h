//===- Tensor.h - tensors of the moe-mlir CPU runtime -----------*- C++ -*-===//
//
// The runtime's value type: a dense, row-major n-D array with shared,
// 64-byte aligned storage. A tensor is immutable once its producer has
// written it; copying a Tensor shares its storage. No MLIR or LLVM headers
// are used by the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_TENSOR_H
#define MOE_RUNTIME_TENSOR_H

#include "moe/Runtime/Enums.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace moert {

const char *dtypeName(DType dtype);

/// The largest tensor: element counts and byte sizes are at most this
/// (INT64_MAX), so sizes computed from a shape never wrap, and rounding a
/// byte count up to an alignment stays within size_t (docs/Reliability.md).
constexpr int64_t kMaxTensorSize = INT64_MAX;

/// Bytes to hold `elements` values of `dtype`; nullopt when `elements` is
/// negative or the byte count exceeds kMaxTensorSize.
std::optional<size_t> checkedStorageBytes(DType dtype, int64_t elements);
/// checkedStorageBytes, throwing Error when it has no value.
size_t storageBytes(DType dtype, int64_t elements);
/// The product of `shape`'s dimensions; nullopt when a dimension is
/// negative or the product exceeds kMaxTensorSize.
std::optional<int64_t> checkedNumel(const std::vector<int64_t> &shape);
bool isFloat(DType dtype); // F32, BF16, F16

/// A run-time error of a device op; the message names the op
/// ("npu.grouped_matmul: ..."). The runtime adds the rank.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Throws Error(message) when `cond` is false.
void check(bool cond, const std::string &message);

/// check() whose message is built only when `cond` fails: for the runtime's
/// per-op and per-step checks (formatting a message that is never thrown
/// costs microseconds, a decode step's ops take a few each).
#define MOE_CHECK(cond, message)                                               \
  do {                                                                         \
    if (!(cond))                                                               \
      throw ::moert::Error(message);                                           \
  } while (0)

/// The deleter of storage a tensor borrows from its caller
/// (moe::api::borrow): the runtime does not own that memory, cannot tell
/// when the caller frees or reuses it, and so never rewrites it in place
/// (npu.pack_weights copies it even when the load is donated).
struct BorrowedStorage {
  void operator()(uint8_t *) const {}
};

/// How a tensor's elements lie in its storage. Only npu.pack_weights makes
/// a packed tensor (an f32, int8 or int4 weight stack in the layout its
/// packed matmul kernel reads; docs/Runtime.md, "Packed weights"), and only
/// npu.grouped_matmul reads one. Packed is the dtype's layout for the
/// kernels of CPUs with vpdpbusd (int8, int4) or FMA (f32); PackedPairs the
/// int8 k-pairs of the kernels of CPUs without vpdpbusd.
enum class StorageLayout : uint8_t { RowMajor, Packed, PackedPairs };

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::shared_ptr<uint8_t> storage;
  StorageLayout layout = StorageLayout::RowMajor;

  /// Uninitialized storage for the given shape. Throws Error for a negative
  /// dimension or a shape whose element or byte count overflows, and when
  /// the allocation fails.
  static Tensor empty(DType dtype, std::vector<int64_t> shape);
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t i) const { return shape.at(static_cast<size_t>(i)); }
  /// Elements (1 for rank 0); throws Error when the product of the
  /// dimensions overflows (only shapes not made by empty() can).
  int64_t numel() const;
  /// Rows (dimension 0) and elements per row (product of the others).
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t rowElems() const;
  size_t nbytes() const { return storageBytes(dtype, numel()); }

  template <typename T> T *data() const {
    return reinterpret_cast<T *>(storage.get());
  }
  uint8_t *bytes() const { return storage.get(); }
  /// Whether the runtime owns the storage (not BorrowedStorage).
  bool ownsStorage() const {
    return storage && !std::get_deleter<BorrowedStorage>(storage);
  }

  /// "tensor<4x8xf32>"-style description for messages ("tensor<2x8x16xi8,
  /// packed>" for a packed one).
  std::string str() const;
};

/// The process's tensor memory (Tensor::empty): bytes of storage owned by
/// live tensors, their most since the last resetTensorMemoryPeak(), and
/// the bytes of freed large blocks (4 MiB and more) whose pages are kept
/// for reuse: a step allocates what the step before did, and a reused
/// range costs no page faults (at most 1 GiB is kept). docs/Runtime.md,
/// "Tensor memory".
struct TensorMemory {
  size_t liveBytes = 0, peakLiveBytes = 0, keptBytes = 0;
};
TensorMemory tensorMemory();
void resetTensorMemoryPeak();
/// Returns the kept pages to the system (after work whose sizes the steps
/// will not repeat, such as the planner's calibration).
void releaseKeptTensorMemory();

/// Float conversions of the 16-bit types (round to nearest even).
float bf16ToFloat(uint16_t v);
uint16_t floatToBf16(float v);
float f16ToFloat(uint16_t v);
uint16_t floatToF16(float v);

/// Copies `count` elements of a float tensor starting at element `begin`
/// into `dst` as f32, and back.
void loadF32(const Tensor &src, int64_t begin, int64_t count, float *dst);
void storeF32(const Tensor &dst, int64_t begin, int64_t count,
              const float *src);
/// The tensor converted to `dtype` (F32/BF16/F16); shares storage when equal.
Tensor convertFloat(const Tensor &src, DType dtype);

/// Signed value of int4 element `i` of packed storage, and its setter.
inline int8_t getI4(const uint8_t *packed, int64_t i) {
  uint8_t byte = packed[i >> 1];
  int v = (i & 1) ? (byte >> 4) : (byte & 0xF);
  return static_cast<int8_t>(v >= 8 ? v - 16 : v);
}
inline void setI4(uint8_t *packed, int64_t i, int8_t v) {
  uint8_t nibble = static_cast<uint8_t>(v) & 0xF;
  uint8_t &byte = packed[i >> 1];
  byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0F) | (nibble << 4))
                 : static_cast<uint8_t>((byte & 0xF0) | nibble);
}

/// Threads a kernel may use on the calling thread (set by the rank world:
/// all cores for one rank, fewer when ranks share the machine).
void setKernelThreads(int threads);
int kernelThreads();

} // namespace moert

#endif // MOE_RUNTIME_TENSOR_H
