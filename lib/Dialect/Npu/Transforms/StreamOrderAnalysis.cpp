//===- StreamOrderAnalysis.cpp - vector clocks over npu streams -----------===//
//
// See include/moe/Dialect/Npu/Transforms/StreamOrderAnalysis.h and docs/Streams.md.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/StreamOrderAnalysis.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

StreamOrderAnalysis::StreamOrderAnalysis(Operation *root) {
  // Dense stream indices: the main stream and every stream the function names.
  // (And how many values the maps will hold, so they never rehash.)
  streamIds.push_back(0);
  unsigned numResults = 0, numRecords = 0;
  root->walk([&](Operation *op) {
    numResults += op->getNumResults();
    if (auto device = dyn_cast<npu::StreamOpInterface>(op)) {
      streamIds.push_back(device.getStreamId());
    } else if (auto record = dyn_cast<npu::RecordOp>(op)) {
      streamIds.push_back(record.getStream());
      ++numRecords;
    } else if (auto wait = dyn_cast<npu::WaitOp>(op)) {
      streamIds.push_back(wait.getStream());
    }
  });
  needs.reserve(numResults);
  events.reserve(numRecords);
  llvm::sort(streamIds);
  streamIds.erase(std::unique(streamIds.begin(), streamIds.end()),
                  streamIds.end());

  State state(streamIds.size(), Clock(streamIds.size(), 0));
  for (Region &region : root->getRegions()) {
    if (region.empty())
      continue;
    if (!region.hasOneBlock()) {
      unsupportedOps.push_back(
          {root, UnsupportedStreamOp::Reason::MultiBlockRegion});
      return;
    }
    analyzeBlock(region.front(), state);
  }
}

void StreamOrderAnalysis::eraseRedundantWaits() {
  for (npu::WaitOp redundant : redundantWaits) {
    Value event = redundant.getEvent();
    redundant.erase();
    if (auto record = event.getDefiningOp<npu::RecordOp>();
        record && record->use_empty()) {
      events.erase(event);
      record.erase();
    }
  }
  redundantWaits.clear();
}

unsigned StreamOrderAnalysis::indexOf(int64_t stream) const {
  const int64_t *it = llvm::lower_bound(streamIds, stream);
  assert(it != streamIds.end() && *it == stream && "stream not collected");
  return it - streamIds.begin();
}

void StreamOrderAnalysis::mergeNeeds(Needs &into, ArrayRef<Need> from) {
  for (const Need &need : from) {
    Need *same = llvm::find_if(
        into, [&](const Need &other) { return other.stream == need.stream; });
    if (same == into.end())
      into.push_back(need);
    else if (same->count < need.count)
      *same = need;
  }
}

void StreamOrderAnalysis::analyzeBlock(Block &block, State &state) {
  for (Operation &op : block)
    analyzeOp(&op, state);
}

void StreamOrderAnalysis::analyzeOp(Operation *op, State &state) {
  if (auto record = dyn_cast<npu::RecordOp>(op)) {
    events[record.getEvent()] = state[indexOf(record.getStream())];
    return;
  }
  if (auto wait = dyn_cast<npu::WaitOp>(op))
    return analyzeWait(wait, state);
  if (auto device = dyn_cast<npu::StreamOpInterface>(op))
    return analyzeDeviceOp(device, state);
  if (isa<scf::IndexSwitchOp, scf::IfOp>(op))
    return analyzeBranches(op, state);
  if (op->getNumRegions() != 0) {
    WalkResult nested = op->walk([](Operation *inner) {
      return isa<npu::StreamOpInterface, npu::RecordOp, npu::WaitOp>(inner)
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (nested.wasInterrupted())
      unsupportedOps.push_back(
          {op, UnsupportedStreamOp::Reason::StreamOpsInRegion});
  }
  analyzeHostOp(op);
}

void StreamOrderAnalysis::analyzeDeviceOp(npu::StreamOpInterface op,
                                          State &state) {
  unsigned stream = indexOf(op.getStreamId());
  const Clock &clock = state[stream];
  SmallPtrSet<Value, 4> checked;
  for (Value operand : op->getOperands()) {
    auto it = needs.find(operand);
    if (it == needs.end() || !checked.insert(operand).second)
      continue;
    for (const Need &need : it->second)
      if (need.stream != stream && clock[need.stream] < need.count)
        races.push_back(
            {op, streamIds[stream], need.producer, streamIds[need.stream]});
  }
  uint64_t count = ++state[stream][stream];
  for (Value result : op->getResults())
    needs[result] = Needs{Need{stream, count, op}};
}

void StreamOrderAnalysis::analyzeWait(npu::WaitOp wait, State &state) {
  auto event = events.find(wait.getEvent());
  // An event of unknown origin (a block argument) orders nothing we know of.
  if (event == events.end())
    return;
  bool grows = false;
  for (auto [mine, theirs] :
       llvm::zip_equal(state[indexOf(wait.getStream())], event->second)) {
    if (theirs > mine) {
      mine = theirs;
      grows = true;
    }
  }
  if (!grows)
    redundantWaits.push_back(wait);
}

void StreamOrderAnalysis::analyzeBranches(Operation *op, State &state) {
  unsigned numStreams = streamIds.size();
  unsigned numResults = op->getNumResults();
  // What one region leaves behind: the state at its end and what it yields.
  struct Exit {
    State state;
    SmallVector<Needs> needs;
    /// Clocks of yielded events; none for an event of unknown origin.
    SmallVector<std::optional<Clock>> events;
  };
  SmallVector<Exit, 2> exits;
  for (Region &region : op->getRegions()) {
    Exit exit{state, SmallVector<Needs>(numResults),
              SmallVector<std::optional<Clock>>(numResults)};
    // An empty region (`scf.if` without `else`) runs nothing.
    if (!region.empty()) {
      if (!region.hasOneBlock()) {
        unsupportedOps.push_back(
            {op, UnsupportedStreamOp::Reason::MultiBlockRegion});
        continue;
      }
      analyzeBlock(region.front(), exit.state);
      Operation *terminator = region.front().getTerminator();
      for (auto [i, yielded] :
           llvm::enumerate(terminator->getOperands().take_front(numResults))) {
        exit.needs[i] = needs.lookup(yielded);
        if (auto event = events.find(yielded); event != events.end())
          exit.events[i] = event->second;
      }
    }
    exits.push_back(std::move(exit));
  }
  if (exits.empty())
    return;

  // Regions issue different numbers of ops to a stream. Align their stamps
  // to end at the same counter, the largest (as if the shorter regions had
  // issued their ops last), so that "everything region k issued to p" means
  // the same count on every path; stamps from before `op` keep their value.
  Clock entry(numStreams), end(numStreams, 0);
  for (unsigned p = 0; p != numStreams; ++p) {
    entry[p] = state[p][p];
    for (const Exit &exit : exits)
      end[p] = std::max(end[p], exit.state[p][p]);
  }
  auto align = [&](const Exit &exit, unsigned p, uint64_t count) {
    return count >= entry[p] ? count + (end[p] - exit.state[p][p]) : count;
  };

  // After `op`, a stream knows of another what it knows on every path, and a
  // value needs what it needs on any path.
  for (unsigned s = 0; s != numStreams; ++s) {
    for (unsigned p = 0; p != numStreams; ++p) {
      uint64_t known = end[p];
      for (const Exit &exit : exits)
        known = std::min(known, align(exit, p, exit.state[s][p]));
      state[s][p] = known;
    }
  }
  for (auto [i, result] : llvm::enumerate(op->getResults())) {
    Needs merged;
    std::optional<Clock> event;
    bool eventKnown = true;
    for (const Exit &exit : exits) {
      for (Need need : exit.needs[i]) {
        need.count = align(exit, need.stream, need.count);
        mergeNeeds(merged, need);
      }
      if (!exit.events[i]) {
        eventKnown = false;
        continue;
      }
      if (!event)
        event = Clock(numStreams, std::numeric_limits<uint64_t>::max());
      for (unsigned p = 0; p != numStreams; ++p)
        (*event)[p] =
            std::min((*event)[p], align(exit, p, (*exit.events[i])[p]));
    }
    if (!merged.empty())
      needs[result] = std::move(merged);
    if (event && eventKnown)
      events[result] = std::move(*event);
  }
}

void StreamOrderAnalysis::analyzeHostOp(Operation *op) {
  Needs merged;
  for (Value operand : op->getOperands())
    if (auto it = needs.find(operand); it != needs.end())
      mergeNeeds(merged, it->second);
  if (merged.empty())
    return;
  // The runtime synchronizes host uses of device values, so scalars computed
  // on the host are available everywhere; tensors may alias the operands'
  // device buffers (casts, views) and keep what the operands need.
  for (Value result : op->getResults())
    if (isa<TensorType>(result.getType()))
      needs[result] = merged;
}
