//===- Overlap.h - stream overlap and collective waits of a trace -*- C++ -*-===//
//
// The span arithmetic of `moe-layer-bench --overlap`: from one step's
// runtime trace per rank (moert::TraceSpan, RunOptions::trace), each rank's
// wall time, each stream's busy time, how much the streams overlapped, its
// compute time and the time of each collective op; then, over the ranks of
// a step, the slowest rank's compute and each collective's longest time.
// No MLIR or LLVM: unittests/Bench/OverlapTest.cpp checks it against
// hand-computed values.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_BENCH_LAYER_OVERLAP_H
#define MOE_BENCH_LAYER_OVERLAP_H

#include "moe/Runtime/Streams.h"

#include <map>
#include <string>
#include <vector>

namespace moebench {

/// A time interval [start, end), microseconds.
struct Interval {
  double start = 0;
  double end = 0;
};

/// Length of the union of `spans`: time covered by any of them, overlaps
/// counted once. Empty and reversed intervals cover nothing.
double unionLength(std::vector<Interval> spans);

/// "npu.all_gather at layer.mlir:3:4" -> "npu.all_gather".
std::string spanOpName(const moert::TraceSpan &span);

/// An event record or wait (npu.record / npu.wait, TraceSpan::flow set):
/// a wait's span is its stream idling until another stream gets there, so
/// it is no stream's busy time.
bool isEventSpan(const moert::TraceSpan &span);

/// An op that exchanges data with the other ranks (npu.all_gather,
/// reduce_scatter, all_reduce, all_to_all_v, moe_distribute_dispatch /
/// combine, dispatch_ffn_combine, tensor_split): its span includes waiting
/// for the slowest member.
bool isCollective(const std::string &opName);

/// One collective op of a step: the op with its location, and "#n" when
/// the same op and location ran more than once.
struct CollectiveTime {
  std::string name;
  double us = 0;
};

/// One rank's step.
struct RankTimes {
  /// First span's start to the last span's end, every stream.
  double wallUs = 0;
  /// Per stream: the union of its spans, event records and waits excluded.
  std::map<int, double> busyUs;
  double sumBusyUs = 0;
  /// sumBusyUs - wallUs: positive when the streams overlapped by more
  /// than the rank sat idle.
  double overlapUs = 0;
  /// The union of every stream's busy spans: the wall time minus the time
  /// no stream was busy (waiting for the host to issue, or only for events).
  double anyBusyUs = 0;
  /// sumBusyUs - anyBusyUs: time two or more streams were busy at once,
  /// each instant counted once per extra busy stream (overlapUs is this
  /// minus the idle time, wallUs - anyBusyUs).
  double concurrentUs = 0;
  /// The union, over every stream, of the spans that are neither events nor
  /// collectives: time the rank spent computing.
  double computeUs = 0;
  /// Every collective span in start order.
  std::vector<CollectiveTime> collectives;
};

RankTimes rankTimes(const moert::Trace &trace);

/// One step over every rank.
struct StepTimes {
  std::vector<RankTimes> ranks;
  /// The largest computeUs of any rank.
  double slowestComputeUs = 0;
  /// Per collective (CollectiveTime::name): its longest time on any rank.
  std::map<std::string, double> longestCollectiveUs;
  /// The largest of longestCollectiveUs (0 without collectives).
  double longestAnyCollectiveUs = 0;
};

StepTimes stepTimes(const std::vector<moert::Trace> &ranks);

/// The median (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> values);

} // namespace moebench

#endif // MOE_BENCH_LAYER_OVERLAP_H
