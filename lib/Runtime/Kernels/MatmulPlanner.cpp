//===- MatmulPlanner.cpp - engine choice per block shape ------------------===//
//
// The policy (MOE_MATMUL_ENGINE / setMatmulEngine), the candidates of a
// block, the Fixed rule and the process-wide cache of the planner's
// choices. Matmul.cpp does the timing: the first block of an unplanned
// shape in a call runs on every candidate (once untimed, so oneDNN's
// primitive creation and cold caches do not count, then interleaved timed
// rounds, the best of each counting), and the fastest is recorded here.
//
//===----------------------------------------------------------------------===//

#include "MatmulPlanner.h"

#include "KernelUtil.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace moert {
namespace detail {
namespace {

constexpr MatmulEngine kAllEngines[] = {
    MatmulEngine::Auto,  MatmulEngine::Fixed, MatmulEngine::Gemv,
    MatmulEngine::Panel, MatmulEngine::Dnnl,  MatmulEngine::Vnni};

/// Row thresholds of the Fixed rule (measured on Zen3, docs/Runtime.md).
constexpr int64_t kDnnlMinRows = 32;
constexpr int64_t kGemvMaxRows = 8;
constexpr int64_t kGemvI8MaxRows = 8;
/// w4a8 streams the int4 weight up to this many rows: on Zen 5 the 512-bit
/// gemvU8 beat the panels up to 16 rows per group, the 256-bit one up to 8
/// (docs/Runtime.md); without vpdpbusd, gemvI8's int4 form up to
/// kGemvI8MaxRows.
constexpr int64_t kGemvI4MaxRows512 = 16;
constexpr int64_t kGemvI4MaxRows256 = 8;
/// The planner times the row-streaming kernels only up to this many rows
/// (they re-read the weight for every 8 rows) and oneDNN from this many.
constexpr int64_t kPlanGemvMaxRows = 32;
constexpr int64_t kPlanDnnlMinRows = 4;

struct Policy {
  std::string error;
  std::atomic<int> engine;
  Policy() : engine(static_cast<int>(MatmulEngine::Auto)) {
    const char *e = std::getenv("MOE_MATMUL_ENGINE");
    if (!e || !*e)
      return;
    for (MatmulEngine m : kAllEngines)
      if (std::strcmp(e, matmulEngineName(m)) == 0) {
        engine = static_cast<int>(m);
        return;
      }
    error = std::string("MOE_MATMUL_ENGINE=") + e +
            " names no engine; expected auto, fixed, gemv, panel, dnnl or "
            "vnni";
  }
};
Policy &policy() {
  static Policy p;
  return p;
}

struct Plan {
  MatmulEngine winner;
  std::vector<std::pair<MatmulEngine, double>> seconds;
};
struct Cache {
  std::mutex mutex;
  std::map<PlanKey, Plan> plans;
  /// The packed weights' matmuls (kind, K, N, variant): never timed, never
  /// in the on-disk cache.
  std::map<std::tuple<BlockKind, int64_t, int64_t, CpuIsa>, MatmulEngine>
      packed;
  /// The on-disk cache (MatmulPlanCache.cpp): its path ("" for none), this
  /// CPU's model, and the error of reading it (thrown on every use).
  std::string path, cpu, error;

  Cache() : cpu(cpuModel()) {
    const char *env = std::getenv("MOE_MATMUL_PLAN_CACHE");
    if (env && *env)
      open(env);
  }
  /// Reads `file`'s choices for this CPU into `plans` (mutex held or not
  /// yet shared).
  void open(const std::string &file) {
    path = file;
    error.clear();
    try {
      for (const auto &[key, engine] : readPlanCache(path, cpu))
        plans.emplace(key, Plan{engine, {}});
    } catch (const Error &e) {
      error = e.what();
    }
  }
  void check() const {
    if (!error.empty())
      throw Error(error);
  }
};
Cache &cache() {
  static Cache *c = new Cache; // used by pool threads until exit
  return *c;
}

/// Whether `e` can run a block of `kind` with table `kt`.
bool applicable(const KernelTable &kt, BlockKind kind, MatmulEngine e) {
  switch (e) {
  case MatmulEngine::Gemv: // w4a8: gemvU8 where it exists, else gemvI8
    return kind == BlockKind::F32 || kind == BlockKind::W8A8 ||
           kind == BlockKind::W4A8;
  case MatmulEngine::Panel:
    return true;
  case MatmulEngine::Dnnl:
    return kind == BlockKind::F32;
  case MatmulEngine::Vnni:
    return (kind == BlockKind::W8A8 || kind == BlockKind::W4A8) &&
           kt.gemmU8 != nullptr;
  default:
    return false;
  }
}

const char *kindName(BlockKind kind) {
  switch (kind) {
  case BlockKind::F32:
    return "f32";
  case BlockKind::F32Converted:
    return "f32 (bf16/f16 weight)";
  case BlockKind::W8A8:
    return "w8a8";
  case BlockKind::W4A8:
    return "w4a8";
  }
  return "?";
}
} // namespace

PlanKey planKey(BlockKind kind, int64_t k, int64_t cols, int64_t ldw,
                int64_t rows, CpuIsa isa) {
  int log2 = 0;
  while ((int64_t(2) << log2) <= rows)
    ++log2;
  return {kind, k, cols, ldw, log2, isa};
}

MatmulEngine fixedEngine(const KernelTable &kt, BlockKind kind,
                         int64_t rows) {
  switch (kind) {
  case BlockKind::F32:
    return rows >= kDnnlMinRows   ? MatmulEngine::Dnnl
           : rows <= kGemvMaxRows ? MatmulEngine::Gemv
                                  : MatmulEngine::Panel;
  case BlockKind::F32Converted:
    return MatmulEngine::Panel;
  case BlockKind::W8A8:
    if (rows <= kGemvI8MaxRows)
      return MatmulEngine::Gemv;
    return kt.gemmU8 ? MatmulEngine::Vnni : MatmulEngine::Panel;
  case BlockKind::W4A8:
    if (rows <= (!kt.gemvU8                        ? kGemvI8MaxRows
                 : kt.isa == CpuIsa::Avx512Vnni ? kGemvI4MaxRows512
                                                 : kGemvI4MaxRows256))
      return MatmulEngine::Gemv;
    return kt.gemmU8 ? MatmulEngine::Vnni : MatmulEngine::Panel;
  }
  return MatmulEngine::Panel;
}

MatmulEngine chooseEngine(const KernelTable &kt, const PlanKey &key,
                          int64_t rows,
                          std::vector<MatmulEngine> &candidates) {
  candidates.clear();
  MatmulEngine p = matmulEngine();
  if (p != MatmulEngine::Auto) {
    if (p != MatmulEngine::Fixed && applicable(kt, key.kind, p))
      return p;
    return fixedEngine(kt, key.kind, rows);
  }
  {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.check();
    auto it = c.plans.find(key);
    if (it != c.plans.end())
      return it->second.winner;
  }
  for (MatmulEngine e : kTimedEngines) {
    if (!applicable(kt, key.kind, e))
      continue;
    if (e == MatmulEngine::Gemv && rows > kPlanGemvMaxRows)
      continue;
    if (e == MatmulEngine::Dnnl && rows < kPlanDnnlMinRows)
      continue;
    candidates.push_back(e);
  }
  if (candidates.size() < 2) {
    MatmulEngine only = candidates.empty() ? MatmulEngine::Panel
                                           : candidates.front();
    candidates.clear();
    return only;
  }
  return MatmulEngine::Auto;
}

void recordPlan(const PlanKey &key, MatmulEngine winner,
                const std::vector<std::pair<MatmulEngine, double>> &seconds) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.plans.emplace(key, Plan{winner, seconds}).second && !c.path.empty())
    appendPlanCache(c.path, c.cpu, key, winner);
}

void notePackedMatmul(BlockKind kind, int64_t k, int64_t n, CpuIsa isa,
                      MatmulEngine engine) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.packed.emplace(std::make_tuple(kind, k, n, isa), engine);
}

size_t planCount() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.plans.size();
}

} // namespace detail

const char *matmulEngineName(MatmulEngine engine) {
  switch (engine) {
  case MatmulEngine::Auto:
    return "auto";
  case MatmulEngine::Fixed:
    return "fixed";
  case MatmulEngine::Gemv:
    return "gemv";
  case MatmulEngine::Panel:
    return "panel";
  case MatmulEngine::Dnnl:
    return "dnnl";
  case MatmulEngine::Vnni:
    return "vnni";
  }
  return "unknown";
}

MatmulEngine matmulEngine() {
  detail::Policy &p = detail::policy();
  if (!p.error.empty())
    throw Error(p.error);
  return static_cast<MatmulEngine>(p.engine.load(std::memory_order_relaxed));
}

void setMatmulEngine(MatmulEngine engine) {
  detail::Policy &p = detail::policy();
  p.engine.store(static_cast<int>(engine), std::memory_order_relaxed);
  p.error.clear();
}

std::vector<MatmulPlanEntry> matmulPlan() {
  detail::Cache &c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  std::vector<MatmulPlanEntry> out;
  for (const auto &[key, plan] : c.plans) {
    char shape[160];
    std::snprintf(shape, sizeof shape, "%s K %lld N %lld/%lld rows %lld-%lld %s",
                  detail::kindName(key.kind), (long long)key.k,
                  (long long)key.cols, (long long)key.ldw,
                  (long long)(int64_t(1) << key.rowsLog2),
                  (long long)((int64_t(2) << key.rowsLog2) - 1),
                  cpuIsaName(key.isa));
    std::string timings = plan.seconds.empty() ? "from the plan cache" : "";
    for (const auto &[e, s] : plan.seconds) {
      char t[64];
      std::snprintf(t, sizeof t, "%s%s %.1f us", timings.empty() ? "" : ", ",
                    matmulEngineName(e), s * 1e6);
      timings += t;
    }
    out.push_back({shape, matmulEngineName(plan.winner), timings});
  }
  for (const auto &[key, engine] : c.packed) {
    auto [kind, k, n, isa] = key;
    char shape[160];
    std::snprintf(shape, sizeof shape, "%s K %lld N %lld packed %s",
                  detail::kindName(kind), (long long)k, (long long)n,
                  cpuIsaName(isa));
    out.push_back({shape, matmulEngineName(engine),
                   "weights packed at load: the one kernel of the layout"});
  }
  return out;
}

void clearMatmulPlan() {
  detail::Cache &c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.plans.clear();
  c.packed.clear();
}

void setMatmulPlanCache(const std::string &path) {
  detail::Cache &c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (path.empty()) {
    c.path.clear();
    c.error.clear();
    return;
  }
  c.open(path);
  c.check();
}

std::string matmulPlanCache() {
  detail::Cache &c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.path;
}

} // namespace moert
