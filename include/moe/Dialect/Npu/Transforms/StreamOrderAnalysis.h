//===- StreamOrderAnalysis.h - vector clocks over npu streams ---*- C++ -*-===//
//
// Which device ops of a function are ordered before which, across streams
// (docs/Streams.md). `moe-verify-streams` reports what it finds;
// `moe-schedule-multistream` uses it to drop the waits that order nothing.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_STREAMORDERANALYSIS_H
#define MOE_TRANSFORMS_STREAMORDERANALYSIS_H

#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::moe {

/// A device value used on a stream that is not ordered after its producer.
struct StreamRace {
  /// The device op using the value, and the stream it runs on.
  Operation *user;
  int64_t userStream;
  /// The device op producing the value (for a value yielded by an
  /// `scf.index_switch`, the device op inside the case), and its stream.
  Operation *producer;
  int64_t producerStream;
};

/// A construct the analysis cannot reason about.
struct UnsupportedStreamOp {
  enum class Reason {
    /// A region with several blocks (program order is not a sequence).
    MultiBlockRegion,
    /// Device ops, records or waits inside another region op than
    /// `scf.index_switch` / `scf.if` (loops would need a fixed point).
    StreamOpsInRegion
  };
  Operation *op;
  Reason reason;
};

/// Walks a function in program order with one vector clock per stream:
/// `clock[s][p]` is how many device ops of stream `p` are known to be done
/// before the next op issued to stream `s` starts. Every device op advances
/// its own stream's counter and stamps its results; `npu.record` captures the
/// recording stream's clock, `npu.wait` merges an event into the waiting
/// stream's clock. A device op must be covered on every other stream its
/// operands come from. `scf.index_switch` and `scf.if` regions are analysed
/// from the entry state each and joined conservatively: every region's
/// stamps are aligned to end at the same counter (the maximum, from which
/// counters continue), then a stream knows of another the componentwise
/// minimum over the regions and a result needs the componentwise maximum of
/// what the regions yield.
///
/// Host ops (no stream) are synchronized by the runtime, so their scalar
/// results are available everywhere; tensor results of host ops (casts,
/// calls) may alias device buffers and keep what their operands need.
class StreamOrderAnalysis {
public:
  /// Runs the analysis on `root` (a function) at construction.
  explicit StreamOrderAnalysis(Operation *root);

  /// Uses of device values that no event chain orders, in program order.
  ArrayRef<StreamRace> getRaces() const { return races; }
  /// Waits that add nothing to the waiting stream's clock.
  ArrayRef<npu::WaitOp> getRedundantWaits() const { return redundantWaits; }
  /// Constructs skipped by the analysis; the other results are only
  /// meaningful when there are none.
  ArrayRef<UnsupportedStreamOp> getUnsupportedOps() const {
    return unsupportedOps;
  }

  /// Erases the redundant waits, and each one's record when no other wait
  /// uses it. A redundant wait adds nothing to any clock, so the analysis
  /// stays exact for the function that results: a pass that calls this last
  /// may mark the analysis preserved (moe-schedule-multistream does, and
  /// moe-verify-streams right after it reuses the result).
  void eraseRedundantWaits();

private:
  /// One component of what a value needs: the device op of `stream` (dense
  /// index) that produced it is that stream's `count`-th op.
  struct Need {
    unsigned stream;
    uint64_t count;
    Operation *producer;
  };
  using Needs = SmallVector<Need, 1>;
  using Clock = SmallVector<uint64_t, 4>;
  /// `clocks[s]` is the clock of stream `s` (dense indices).
  using State = SmallVector<Clock, 4>;

  void analyzeBlock(Block &block, State &state);
  void analyzeOp(Operation *op, State &state);
  void analyzeDeviceOp(npu::StreamOpInterface op, State &state);
  void analyzeWait(npu::WaitOp wait, State &state);
  void analyzeBranches(Operation *op, State &state);
  void analyzeHostOp(Operation *op);

  unsigned indexOf(int64_t stream) const;
  static void mergeNeeds(Needs &into, ArrayRef<Need> from);

  /// Stream ids in increasing order; a stream's dense index is its position.
  SmallVector<int64_t, 4> streamIds;
  DenseMap<Value, Needs> needs;
  /// Clocks of events whose origin is known.
  DenseMap<Value, Clock> events;

  SmallVector<StreamRace> races;
  SmallVector<npu::WaitOp> redundantWaits;
  SmallVector<UnsupportedStreamOp> unsupportedOps;
};

} // namespace mlir::moe

#endif // MOE_TRANSFORMS_STREAMORDERANALYSIS_H
