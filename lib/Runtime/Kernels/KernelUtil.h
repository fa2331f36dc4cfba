//===- KernelUtil.h - checks and helpers shared by the kernels --*- C++ -*-===//
//
// Internal to lib/Runtime/Kernels: operand checks that throw moert::Error
// with the op's name first, and small conversions.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_KERNELS_KERNELUTIL_H
#define MOE_RUNTIME_KERNELS_KERNELUTIL_H

#include "moe/Runtime/Tensor.h"

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace moert {
namespace detail {

inline std::string num(int64_t v) { return std::to_string(v); }

/// Throws "<op>: <message>".
[[noreturn]] inline void fail(const char *op, const std::string &message) {
  throw Error(std::string(op) + ": " + message);
}
/// Throws "<op>: <message>" unless `cond` holds; the message is built only
/// when it fails (the kernels check their operands on every call, and
/// building the strings cost more than a decode step's small kernels).
#define MOE_REQUIRE(cond, op, message)                                        \
  do {                                                                        \
    if (!(cond))                                                              \
      ::moert::detail::fail(op, message);                                     \
  } while (0)

/// `what` has storage and one of the ranks in `ranks`.
inline void requireRank(const Tensor &t, std::initializer_list<int64_t> ranks,
                        const char *op, const char *what) {
  MOE_REQUIRE(t.storage != nullptr, op, std::string(what) + " has no storage");
  for (int64_t r : ranks)
    if (t.rank() == r)
      return;
  std::string want;
  for (int64_t r : ranks)
    want += (want.empty() ? "" : " or ") + num(r);
  fail(op, std::string(what) + " must have rank " + want + ", got " + t.str());
}

inline void requireType(const Tensor &t, DType dtype, const char *op,
                        const char *what) {
  MOE_REQUIRE(t.dtype == dtype, op,
              std::string(what) + " must be " + dtypeName(dtype) + ", got " +
                  t.str());
}

inline void requireFloat(const Tensor &t, const char *op, const char *what) {
  MOE_REQUIRE(isFloat(t.dtype), op,
              std::string(what) + " must be f32, bf16 or f16, got " + t.str());
}

inline void requireDim(const Tensor &t, int64_t i, int64_t size,
                       const char *op, const char *what) {
  MOE_REQUIRE(t.dim(i) == size, op,
              std::string(what) + " dimension " + num(i) + " must be " +
                  num(size) + ", got " + t.str());
}

/// The whole float tensor as f32 values.
inline std::vector<float> toF32(const Tensor &t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (!v.empty())
    loadF32(t, 0, t.numel(), v.data());
  return v;
}

/// Integer ids (i32 or i64) as int64 values.
inline std::vector<int64_t> toI64(const Tensor &t, const char *op,
                                  const char *what) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::I32) {
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = t.data<int32_t>()[i];
  } else if (t.dtype == DType::I64) {
    std::memcpy(v.data(), t.bytes(), v.size() * 8);
  } else {
    fail(op, std::string(what) + " must be i32 or i64, got " + t.str());
  }
  return v;
}

/// Bytes of one row of `t` (dimension 0), for dtypes of whole bytes.
inline size_t rowBytes(const Tensor &t) {
  return storageBytes(t.dtype, t.rowElems());
}

} // namespace detail
} // namespace moert

#endif // MOE_RUNTIME_KERNELS_KERNELUTIL_H
