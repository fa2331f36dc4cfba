//===- Parallel.h - data parallelism inside runtime kernels -----*- C++ -*-===//

#ifndef MOE_RUNTIME_PARALLEL_H
#define MOE_RUNTIME_PARALLEL_H

#include <cstdint>
#include <functional>

namespace moert {

/// Runs body(begin, end) over [0, n) split into at most kernelThreads()
/// contiguous chunks of at least `grain` items; chunk 0 runs on the caller,
/// the others on a process-wide pool. Returns when all chunks are done; an
/// exception of any chunk is rethrown on the caller.
void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t begin, int64_t end)> &body);

/// Gets the pool's sleeping workers spinning again (for the spin time a
/// worker has after a job), so that a parallelFor shortly after finds them
/// awake. The executor calls it when a step begins.
void wakeKernelThreads();

} // namespace moert

#endif // MOE_RUNTIME_PARALLEL_H
