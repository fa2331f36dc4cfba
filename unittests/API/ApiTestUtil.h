//===- ApiTestUtil.h - helpers of the C++ API tests ------------*- C++ -*-===//

#ifndef MOE_UNITTESTS_API_APITESTUTIL_H
#define MOE_UNITTESTS_API_APITESTUTIL_H

#include "moe/Moe.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace moe::api::test_util {

/// The Error `fn` throws, or Error(Run, "no error") when it throws none.
template <typename Fn> Error errorOf(Fn fn) {
  try {
    fn();
  } catch (const Error &e) {
    return e;
  }
  return Error(Error::Run, "no error");
}

/// A tensor whose every storage byte is `byte` (packed codes, bit patterns).
inline Tensor filledBytes(DType dtype, std::vector<int64_t> shape,
                          uint8_t byte) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  for (size_t i = 0; i < t.nbytes(); ++i)
    t.bytes()[i] = byte;
  return t;
}

} // namespace moe::api::test_util

#endif // MOE_UNITTESTS_API_APITESTUTIL_H
