//===- MatmulPlanCache.cpp - the planner's choices on disk ----------------===//
//
// MOE_MATMUL_PLAN_CACHE (or setMatmulPlanCache) names a text file that
// keeps the planner's choices across processes, so a second process on the
// same CPU model starts planned without timing anything. One choice per
// line, appended when the planner makes it:
//
//   <cpu model>\t<kind> <K> <block width> <weight row length> <row bucket> <isa>\t<engine>
//
// (kind: 0 f32, 1 f32 from a bf16/f16 weight, 2 w8a8, 3 w4a8; the row
// bucket is log2 of the block's rows rounded down; isa and engine by name).
// Lines of other CPU models (or of kernel variants this process cannot
// run) are kept in the file and ignored; a malformed line, an unknown
// engine name, or a file that cannot be read or written is an error naming
// the file (and the line).
//
//===----------------------------------------------------------------------===//

#include "MatmulPlanner.h"

#include "KernelUtil.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace moert {
namespace detail {
namespace {

/// Tabs and newlines would break the line format.
std::string sanitized(std::string s) {
  for (char &c : s)
    if (c == '\t' || c == '\n' || c == '\r')
      c = ' ';
  size_t end = s.find_last_not_of(' ');
  return end == std::string::npos ? "unknown" : s.substr(0, end + 1);
}

std::string fail(const std::string &path, int64_t line,
                 const std::string &why) {
  return "MOE_MATMUL_PLAN_CACHE " + path +
         (line > 0 ? ":" + std::to_string(line) : "") + ": " + why;
}
} // namespace

std::string cpuModel() {
#if defined(__x86_64__)
  unsigned regs[12] = {};
  unsigned top = __get_cpuid_max(0x80000000u, nullptr);
  if (top >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1],
                  &regs[4 * i + 2], &regs[4 * i + 3]);
    std::string brand(reinterpret_cast<const char *>(regs), sizeof regs);
    brand = brand.c_str(); // up to the first NUL
    size_t begin = brand.find_first_not_of(' ');
    if (begin != std::string::npos)
      return sanitized(brand.substr(begin));
  }
#endif
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    for (const char *field : {"model name", "Model", "CPU part"})
      if (line.rfind(field, 0) == 0 && line.find(':') != std::string::npos)
        return sanitized(line.substr(line.find(':') + 2));
  return "unknown";
}

std::vector<std::pair<PlanKey, MatmulEngine>>
readPlanCache(const std::string &path, const std::string &cpu) {
  std::vector<std::pair<PlanKey, MatmulEngine>> plans;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT)
      return plans; // a new cache
    throw Error(fail(path, 0, std::string("cannot read: ") +
                                  std::strerror(errno)));
  }
  int64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty())
      continue;
    size_t tab1 = line.find('\t'), tab2 = line.rfind('\t');
    if (tab1 == std::string::npos || tab2 == tab1)
      throw Error(fail(path, number,
                       "expected <cpu>\\t<shape>\\t<engine>, got '" + line +
                           "'"));
    if (line.substr(0, tab1) != cpu)
      continue;
    std::istringstream shape(line.substr(tab1 + 1, tab2 - tab1 - 1));
    int kind = -1;
    PlanKey key{};
    std::string isa, rest;
    if (!(shape >> kind >> key.k >> key.cols >> key.ldw >> key.rowsLog2 >>
          isa) ||
        (shape >> rest) || kind < 0 || kind > 3 || key.k <= 0 ||
        key.cols <= 0 || key.ldw < key.cols || key.rowsLog2 < 0 ||
        key.rowsLog2 > 62)
      throw Error(fail(path, number,
                       "bad shape '" + line.substr(tab1 + 1, tab2 - tab1 - 1) +
                           "' (expected: kind 0-3, K, block width, weight "
                           "row length, row bucket, isa)"));
    key.kind = static_cast<BlockKind>(kind);
    // A variant this process cannot run (another build of the same CPU
    // model) is skipped like another CPU's line.
    std::vector<CpuIsa> isas = supportedCpuIsas();
    auto it = std::find_if(isas.begin(), isas.end(),
                           [&](CpuIsa i) { return isa == cpuIsaName(i); });
    if (it == isas.end())
      continue;
    key.isa = *it;
    std::string engine = line.substr(tab2 + 1);
    const MatmulEngine *e =
        std::find_if(std::begin(kTimedEngines), std::end(kTimedEngines),
                     [&](MatmulEngine m) { return engine == matmulEngineName(m); });
    if (e == std::end(kTimedEngines)) {
      std::string names;
      size_t count = std::size(kTimedEngines);
      for (size_t i = 0; i < count; ++i)
        names += std::string(i == 0 ? "" : i + 1 == count ? " or " : ", ") +
                 matmulEngineName(kTimedEngines[i]);
      throw Error(fail(path, number,
                       "unknown engine '" + engine + "' (expected " + names +
                           ")"));
    }
    plans.push_back({key, *e});
  }
  return plans;
}

void appendPlanCache(const std::string &path, const std::string &cpu,
                     const PlanKey &key, MatmulEngine engine) {
  std::ofstream out(path, std::ios::app);
  if (out)
    out << cpu << '\t' << static_cast<int>(key.kind) << ' ' << key.k << ' '
        << key.cols << ' ' << key.ldw << ' ' << key.rowsLog2 << ' '
        << cpuIsaName(key.isa) << '\t' << matmulEngineName(engine) << '\n';
  if (!out)
    throw Error(fail(path, 0, std::string("cannot write: ") +
                                  std::strerror(errno)));
}

} // namespace detail
} // namespace moert
