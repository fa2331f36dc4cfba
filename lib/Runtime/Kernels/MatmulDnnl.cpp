//===- MatmulDnnl.cpp - oneDNN f32 matmul for row-heavy blocks ------------===//
//
// oneDNN (Debian's build uses libgomp) runs single-threaded here: every
// calling thread sets its OpenMP thread count to 1 once, and Matmul.cpp
// parallelizes over blocks with moert::parallelFor. No OpenMP team is
// started, so no libgomp worker spins next to the runtime's pool.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

extern "C" void omp_set_num_threads(int);

namespace moert {
namespace detail {
namespace {

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mutex;
  // Primitives are immutable after creation and safe to execute from
  // several threads at once; the map only grows (a few shapes per model).
  std::map<Key, std::shared_ptr<dnnl::matmul>> primitives;

  static Dnnl &get() {
    static Dnnl *d = new Dnnl;
    return *d;
  }

  std::shared_ptr<dnnl::matmul> primitive(int64_t k, int64_t cols,
                                          int64_t lda, int64_t ldb,
                                          int64_t ldc) {
    Key key{k, cols, lda, ldb, ldc};
    std::lock_guard<std::mutex> lock(mutex);
    auto it = primitives.find(key);
    if (it != primitives.end())
      return it->second;
    using dt = dnnl::memory::data_type;
    const int64_t rt = DNNL_RUNTIME_DIM_VAL;
    dnnl::memory::desc a({rt, k}, dt::f32, {lda, 1});
    dnnl::memory::desc b({k, cols}, dt::f32, {ldb, 1});
    dnnl::memory::desc c({rt, cols}, dt::f32, {ldc, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
    auto prim = std::make_shared<dnnl::matmul>(pd);
    primitives.emplace(key, prim);
    return prim;
  }
};
} // namespace

void dnnlGemmF32(const float *a, int64_t lda, int64_t m, const WeightView &w,
                 int64_t n0, int64_t n1, float *c, int64_t ldc) {
  thread_local bool single = (omp_set_num_threads(1), true);
  (void)single;
  Dnnl &d = Dnnl::get();
  int64_t cols = n1 - n0;
  auto prim = d.primitive(w.k, cols, lda, w.n, ldc);
  using dt = dnnl::memory::data_type;
  dnnl::memory am({{m, w.k}, dt::f32, {lda, 1}}, d.engine,
                  const_cast<float *>(a));
  dnnl::memory bm({{w.k, cols}, dt::f32, {w.n, 1}}, d.engine,
                  const_cast<float *>(reinterpret_cast<const float *>(
                                          w.data) +
                                      w.offset + n0));
  dnnl::memory cm({{m, cols}, dt::f32, {ldc, 1}}, d.engine, c);
  dnnl::stream s(d.engine);
  prim->execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm},
                    {DNNL_ARG_DST, cm}});
  s.wait();
}

} // namespace detail
} // namespace moert
