//===- Overlap.cpp - stream overlap and collective waits of a trace -------===//

#include "Overlap.h"

#include <algorithm>
#include <set>

namespace moebench {

double unionLength(std::vector<Interval> spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Interval &a, const Interval &b) { return a.start < b.start; });
  double total = 0;
  bool open = false;
  double start = 0, end = 0; // the merged interval being built
  for (const Interval &s : spans) {
    if (!(s.end > s.start))
      continue;
    if (open && s.start <= end) {
      end = std::max(end, s.end);
      continue;
    }
    if (open)
      total += end - start;
    open = true;
    start = s.start;
    end = s.end;
  }
  if (open)
    total += end - start;
  return total;
}

std::string spanOpName(const moert::TraceSpan &span) {
  return span.op.substr(0, span.op.find(" at "));
}

bool isEventSpan(const moert::TraceSpan &span) { return span.flow != 0; }

bool isCollective(const std::string &opName) {
  static const std::set<std::string> collectives = {
      "npu.all_gather",          "npu.reduce_scatter",
      "npu.all_reduce",          "npu.all_to_all_v",
      "npu.moe_distribute_dispatch", "npu.moe_distribute_combine",
      "npu.dispatch_ffn_combine", "npu.tensor_split"};
  return collectives.count(opName) != 0;
}

RankTimes rankTimes(const moert::Trace &trace) {
  RankTimes r;
  if (trace.empty())
    return r;
  // In start order; spans starting together keep the trace's order.
  std::vector<const moert::TraceSpan *> ordered;
  for (const moert::TraceSpan &s : trace)
    ordered.push_back(&s);
  std::sort(ordered.begin(), ordered.end(),
            [](const moert::TraceSpan *a, const moert::TraceSpan *b) {
              return a->startUs != b->startUs ? a->startUs < b->startUs : a < b;
            });
  double first = ordered.front()->startUs, last = first;
  std::map<int, std::vector<Interval>> perStream;
  std::vector<Interval> compute, any;
  std::map<std::string, int> seen; // collective op and location -> count
  std::vector<int> nth;             // each collective's number among its kind
  for (const moert::TraceSpan *s : ordered) {
    Interval in{s->startUs, s->startUs + s->durationUs};
    last = std::max(last, in.end);
    if (isEventSpan(*s)) {
      perStream[s->stream]; // the stream exists, even if it only waited
      continue;
    }
    perStream[s->stream].push_back(in);
    any.push_back(in);
    if (!isCollective(spanOpName(*s))) {
      compute.push_back(in);
      continue;
    }
    nth.push_back(++seen[s->op]);
    r.collectives.push_back({s->op, s->durationUs});
  }
  // Number the ops that ran more than once at the same location.
  for (size_t i = 0; i < r.collectives.size(); ++i)
    if (seen[r.collectives[i].name] > 1)
      r.collectives[i].name += " #" + std::to_string(nth[i]);
  r.wallUs = last - first;
  for (auto &[stream, spans] : perStream) {
    r.busyUs[stream] = unionLength(spans);
    r.sumBusyUs += r.busyUs[stream];
  }
  r.overlapUs = r.sumBusyUs - r.wallUs;
  r.anyBusyUs = unionLength(any);
  r.concurrentUs = r.sumBusyUs - r.anyBusyUs;
  r.computeUs = unionLength(compute);
  return r;
}

StepTimes stepTimes(const std::vector<moert::Trace> &ranks) {
  StepTimes step;
  for (const moert::Trace &t : ranks) {
    step.ranks.push_back(rankTimes(t));
    const RankTimes &r = step.ranks.back();
    step.slowestComputeUs = std::max(step.slowestComputeUs, r.computeUs);
    for (const CollectiveTime &c : r.collectives) {
      double &longest = step.longestCollectiveUs[c.name];
      longest = std::max(longest, c.us);
      step.longestAnyCollectiveUs = std::max(step.longestAnyCollectiveUs, c.us);
    }
  }
  return step;
}

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

} // namespace moebench
