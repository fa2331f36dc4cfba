//===- MatmulPlanner.h - engine choice per block shape ----------*- C++ -*-===//
//
// Internal to lib/Runtime/Kernels: which engine (MatmulEngine.h) runs a
// block of Matmul.cpp, and the process-wide cache of the planner's
// choices (MatmulPlanner.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_KERNELS_MATMULPLANNER_H
#define MOE_RUNTIME_KERNELS_MATMULPLANNER_H

#include "MatmulKernels.h"

#include "moe/Runtime/MatmulEngine.h"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace moert {
namespace detail {

/// The engines the planner times (and a plan cache line may name), in
/// the order it times them.
constexpr MatmulEngine kTimedEngines[] = {MatmulEngine::Gemv, MatmulEngine::Panel,
                                          MatmulEngine::Dnnl, MatmulEngine::Vnni};

/// The operands of a block, as far as the engines care.
enum class BlockKind { F32, F32Converted, W8A8, W4A8 };

/// A block shape: what the planner times once and remembers.
struct PlanKey {
  BlockKind kind;
  int64_t k, cols, ldw;
  int rowsLog2; // rows in [2^rowsLog2, 2^(rowsLog2 + 1))
  CpuIsa isa;
  bool operator<(const PlanKey &o) const {
    return std::tie(kind, k, cols, ldw, rowsLog2, isa) <
           std::tie(o.kind, o.k, o.cols, o.ldw, o.rowsLog2, o.isa);
  }
};

PlanKey planKey(BlockKind kind, int64_t k, int64_t cols, int64_t ldw,
                int64_t rows, CpuIsa isa);

/// The engine of a block of `rows` rows, or MatmulEngine::Auto when the
/// planner has no choice for `key` yet; then `candidates` holds the
/// engines to time (at least two).
MatmulEngine chooseEngine(const KernelTable &kt, const PlanKey &key,
                          int64_t rows,
                          std::vector<MatmulEngine> &candidates);

/// The Fixed rule (docs/Runtime.md): the measured row thresholds.
MatmulEngine fixedEngine(const KernelTable &kt, BlockKind kind, int64_t rows);

/// The on-disk plan cache (MatmulPlanCache.cpp): this CPU's model name
/// (the cpuid brand string, else /proc/cpuinfo's), the choices `path`
/// holds for it (none when the file does not exist; throws Error for a
/// malformed file), and one more choice appended (throws Error when the
/// file cannot be written).
std::string cpuModel();
std::vector<std::pair<PlanKey, MatmulEngine>>
readPlanCache(const std::string &path, const std::string &cpu);
void appendPlanCache(const std::string &path, const std::string &cpu,
                     const PlanKey &key, MatmulEngine engine);

/// How many block shapes the planner has chosen an engine for.
size_t planCount();

/// Says that a grouped matmul of a packed K x N weight ran on `engine`
/// (the one kernel that reads the layout; not timed), for matmulPlan().
void notePackedMatmul(BlockKind kind, int64_t k, int64_t n, CpuIsa isa,
                      MatmulEngine engine);

/// Records the planner's choice for `key` (the first record wins).
void recordPlan(const PlanKey &key, MatmulEngine winner,
                const std::vector<std::pair<MatmulEngine, double>> &seconds);

} // namespace detail
} // namespace moert

#endif // MOE_RUNTIME_KERNELS_MATMULPLANNER_H
