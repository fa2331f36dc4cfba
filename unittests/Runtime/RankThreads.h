//===- RankThreads.h - run every rank of a thread world -------*- C++ -*-===//
//
// Test helpers: one thread per rank, an exception aborts the world the way
// the runtime does and is recorded as that rank's error.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_UNITTESTS_RUNTIME_RANKTHREADS_H
#define MOE_UNITTESTS_RUNTIME_RANKTHREADS_H

#include "moe/Runtime/Comm.h"

#include <cstring>
#include <exception>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace moert {
namespace testing {

/// Runs fn(rank) on one thread per rank; returns every rank's error
/// message ("" when it returned normally). A throwing rank aborts the world.
inline std::vector<std::string> runRanks(World &world,
                                         const std::function<void(int)> &fn) {
  const int n = static_cast<int>(world.layout().worldSize());
  std::vector<std::string> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (const std::exception &e) {
        errors[static_cast<size_t>(r)] = e.what();
        world.abort(r, e.what());
      }
    });
  for (std::thread &t : threads)
    t.join();
  return errors;
}

inline bool allEmpty(const std::vector<std::string> &errors) {
  for (const std::string &e : errors)
    if (!e.empty())
      return false;
  return true;
}

/// A tensor of `shape` with values from `gen` (f32 then converted).
template <typename Gen>
Tensor floatTensor(DType dtype, std::vector<int64_t> shape, Gen &&gen) {
  Tensor f = Tensor::empty(DType::F32, shape);
  for (int64_t i = 0; i < f.numel(); ++i)
    f.data<float>()[i] = gen(i);
  return convertFloat(f, dtype);
}

inline bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.dtype == b.dtype && a.shape == b.shape &&
         (a.nbytes() == 0 || std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0);
}

} // namespace testing
} // namespace moert

#endif // MOE_UNITTESTS_RUNTIME_RANKTHREADS_H
