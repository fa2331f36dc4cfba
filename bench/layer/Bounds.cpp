//===- Bounds.cpp - what an MoE layer step must at least take -------------===//

#include "Bounds.h"

#include <algorithm>
#include <cmath>

namespace moebench {

LayerWork layerWork(const LayerConfig &c, std::string &why) {
  LayerWork w;
  why.clear();
  if (c.world != 1 || c.sharedInter != 0) {
    why = "a bound needs one rank and no shared experts";
    return w;
  }
  double e = static_cast<double>(c.experts), k = static_cast<double>(c.topK);
  double t = static_cast<double>(c.tokens);
  double perExpert = 3.0 * static_cast<double>(c.hidden) *
                     static_cast<double>(c.inter);
  double bytes = c.quant == "w8a8" ? 1.0 : c.quant == "w4a8" ? 0.5 : 4.0;
  w.experts = e * (1.0 - std::pow(1.0 - k / e, t));
  w.weightBytes = w.experts * perExpert * bytes;
  w.ops = 2.0 * t * k * perExpert;
  w.int8 = c.quant != "none";
  return w;
}

double stepBound(const LayerWork &w, double readBps, double peakOps,
                 std::string &kind) {
  double read = w.weightBytes / readBps, compute = w.ops / peakOps;
  kind = read >= compute ? "read" : w.int8 ? "int8" : "fma";
  return std::max(read, compute);
}

BoundSummary summarize(const std::vector<Window> &windows,
                       const LayerWork &w, double peakOps) {
  struct Of {
    double ratio, bound;
    std::string kind;
  };
  std::vector<Of> of;
  for (const Window &win : windows) {
    if (win.seconds.empty())
      continue;
    std::vector<double> s = win.seconds;
    std::sort(s.begin(), s.end());
    std::string kind;
    double bound = stepBound(w, std::max(win.readBefore, win.readAfter),
                             peakOps, kind);
    of.push_back({bound / s[s.size() / 2], bound, kind});
  }
  BoundSummary out;
  if (of.empty())
    return out;
  std::sort(of.begin(), of.end(),
            [](const Of &a, const Of &b) { return a.ratio < b.ratio; });
  const Of &mid = of[of.size() / 2];
  out.median = mid.ratio;
  out.low = of.front().ratio;
  out.high = of.back().ratio;
  out.boundSeconds = mid.bound;
  out.kind = mid.kind;
  return out;
}

} // namespace moebench
