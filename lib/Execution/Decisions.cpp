//===- Decisions.cpp - read back what moe-compile decided -----------------===//
//
// The recorder of DecisionRecorder.h. It decides nothing: every field is an
// attribute or op a pass of moe-compile left in the IR, or the remark
// moe-select-comm-method reported for the layer.
//
//===----------------------------------------------------------------------===//

#include "DecisionRecorder.h"

#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Dialect/Npu/NpuDialect.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;

static constexpr llvm::StringLiteral kSelectPass = "moe-select-comm-method";

static std::string locationText(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (file.getFilename().str() + ":" + std::to_string(file.getLine()) +
            ":" + std::to_string(file.getColumn()));
  std::string text;
  llvm::raw_string_ostream os(text);
  loc.print(os);
  return text;
}

/// The text between the outermost angle brackets of `attr` as printed
/// ("#moe.quant<w8a8_dynamic>" -> "w8a8_dynamic").
static std::string bracketed(Attribute attr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  size_t open = text.find('<');
  if (open == std::string::npos || text.back() != '>')
    return text;
  return text.substr(open + 1, text.size() - open - 2);
}

/// The scheme of the experts the layer of `prepare` dispatches to.
static std::string expertsScheme(PrepareOp prepare) {
  SetVector<Operation *> slice;
  getForwardSlice(prepare.getOperation(), &slice);
  for (Operation *op : slice)
    if (auto experts = dyn_cast<ExpertsOp>(op)) {
      QuantAttr quant = experts.getQuantOrNone();
      return quant && !quant.isNone() ? bracketed(quant) : "";
    }
  return "";
}

namespace mlir::moe {
class DecisionInstrumentation : public PassInstrumentation {
public:
  explicit DecisionInstrumentation(DecisionRecorder &recorder)
      : recorder(recorder) {}
  void runAfterPass(Pass *pass, Operation *op) override {
    if (pass->getArgument() == kSelectPass)
      recorder.recordLayers(op);
  }

private:
  DecisionRecorder &recorder;
};
} // namespace mlir::moe

DecisionRecorder::DecisionRecorder(MLIRContext *context) {
  // Passes on functions run in parallel; their diagnostics reach the
  // handlers in order once the parallel section is over.
  handler = std::make_unique<ScopedDiagnosticHandler>(
      context, [this](Diagnostic &d) {
        if (d.getSeverity() == DiagnosticSeverity::Remark) {
          std::lock_guard<std::mutex> lock(mutex);
          remarks[d.getLocation().getAsOpaquePointer()].push_back(d.str());
        }
        return failure(); // also for the next handler
      });
}

DecisionRecorder::~DecisionRecorder() = default;

std::unique_ptr<PassInstrumentation> DecisionRecorder::instrumentation() {
  return std::make_unique<DecisionInstrumentation>(*this);
}

void DecisionRecorder::recordLayers(Operation *function) {
  auto fn = dyn_cast<func::FuncOp>(function);
  if (!fn)
    return;
  std::vector<std::pair<const void *, LayerDecision>> found;
  auto start = [&](Location loc) -> LayerDecision & {
    found.emplace_back(loc.getAsOpaquePointer(), LayerDecision());
    LayerDecision &d = found.back().second;
    d.function = fn.getSymName().str();
    d.location = locationText(loc);
    return d;
  };
  auto fromPrepare = [](LayerDecision &d, PrepareOp prepare) {
    if (std::optional<uint64_t> bound = prepare.getMaxTokens())
      d.maxTokens = static_cast<int64_t>(*bound);
    d.quantization.scheme = expertsScheme(prepare);
  };
  fn.walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (auto choose = dyn_cast<ChooseMethodOp>(op)) {
      // moe-select-comm-method's run-time switch: case i of the
      // scf.index_switch consuming the index runs methods[i].
      LayerDecision &d = start(choose.getLoc());
      d.method = "run-time";
      ArrayRef<int64_t> thresholds = choose.getThresholds();
      for (auto [i, method] : llvm::enumerate(choose.getMethods()))
        d.candidates.push_back(
            {stringifyCommMethod(cast<CommMethodAttr>(method).getValue()).str(),
             i < thresholds.size() ? thresholds[i] : -1});
      for (Operation *user : choose->getUsers())
        if (auto sw = dyn_cast<scf::IndexSwitchOp>(user)) {
          PrepareOp first;
          sw->walk([&](PrepareOp p) {
            if (!first)
              first = p;
          });
          if (first)
            fromPrepare(d, first);
        }
      return WalkResult::advance();
    }
    if (auto sw = dyn_cast<scf::IndexSwitchOp>(op))
      if (sw.getArg().getDefiningOp<ChooseMethodOp>())
        return WalkResult::skip(); // the switch's copies of the layer
    if (auto prepare = dyn_cast<PrepareOp>(op)) {
      LayerDecision &d = start(prepare.getLoc());
      d.method = stringifyCommMethod(prepare.getMethod()).str();
      d.candidates.push_back({d.method, -1});
      fromPrepare(d, prepare);
    }
    return WalkResult::advance();
  });
  std::lock_guard<std::mutex> lock(mutex);
  for (auto &entry : found)
    layers.push_back(std::move(entry));
}

//===----------------------------------------------------------------------===//
// Level 2: capacity, quantization placement, streams
//===----------------------------------------------------------------------===//

static bool communicates(Operation *op) {
  return isa<npu::AllGatherOp, npu::AllToAllVOp, npu::MoeDistributeDispatchOp,
             npu::DispatchFfnCombineOp>(op);
}

/// Where the routed activations of the ops in `region` are quantized; ""
/// when nothing quantizes them.
static std::string quantPlacement(Region &region,
                                  npu::NpuDialect *npuDialect) {
  std::string placement;
  region.walk([&](Operation *op) {
    if (!placement.empty())
      return;
    if (isa<npu::DispatchFfnCombineOp>(op)) {
      placement = "in the dispatch";
      return;
    }
    if (auto dispatch = dyn_cast<npu::MoeDistributeDispatchOp>(op)) {
      if (dispatch.getQuantMode() != npu::DispatchQuantMode::None)
        placement = "in the dispatch";
      return;
    }
    // The shared experts quantize their own input, outside the dispatch.
    if (!isa<npu::DynamicQuantOp, npu::QuantDequantOp>(op) ||
        npuDialect->getSharedExpertAttrHelper().getAttr(op))
      return;
    SetVector<Operation *> after, before;
    getForwardSlice(op, &after);
    BackwardSliceOptions options;
    options.omitBlockArguments = true;
    getBackwardSlice(op, &before, options);
    if (llvm::any_of(after, communicates))
      placement = "before the dispatch";
    else if (llvm::any_of(before, communicates))
      placement = "after the dispatch";
    else
      placement = "no dispatch";
  });
  return placement;
}

static void readLevel2(func::FuncOp fn, LayerDecision &d) {
  npu::NpuDialect *npuDialect =
      fn.getContext()->getLoadedDialect<npu::NpuDialect>();
  if (!npuDialect)
    return;
  llvm::MapVector<int64_t, std::vector<std::string>> streams;
  streams[0]; // the default stream first
  llvm::MapVector<std::pair<int64_t, int64_t>, int64_t> events;
  fn.walk([&](Operation *op) {
    if (isa<npu::MoeDistributeDispatchOp, npu::DispatchFfnCombineOp>(op))
      if (auto capacity = op->getAttrOfType<IntegerAttr>("capacity"))
        d.capacity = std::max(d.capacity, capacity.getInt());
    if (auto wait = dyn_cast<npu::WaitOp>(op)) {
      if (auto record = wait.getEvent().getDefiningOp<npu::RecordOp>())
        ++events[{static_cast<int64_t>(record.getStream()),
                  static_cast<int64_t>(wait.getStream())}];
      return;
    }
    auto streamOp = dyn_cast<npu::StreamOpInterface>(op);
    if (!streamOp)
      return;
    std::string label = op->getName().stripDialect().str();
    if (auto stage = npuDialect->getSharedExpertAttrHelper().getAttr(op))
      label += "[shared " +
               npu::stringifySharedExpertStage(stage.getValue()).str() + "]";
    std::vector<std::string> &ops = streams[streamOp.getStreamId()];
    if (llvm::find(ops, label) == ops.end())
      ops.push_back(label);
  });
  for (auto &[stream, ops] : streams)
    d.streams.push_back({stream, ops});
  for (auto &[edge, count] : events)
    d.events.push_back({edge.first, edge.second, count});

  if (d.quantization.scheme.empty())
    return;
  // A run-time switch: case i of the one scf.index_switch runs candidate i.
  SmallVector<scf::IndexSwitchOp> switches;
  fn.walk([&](scf::IndexSwitchOp sw) { switches.push_back(sw); });
  if (d.candidates.size() > 1 && switches.size() == 1 &&
      switches.front()->getNumRegions() == d.candidates.size()) {
    scf::IndexSwitchOp sw = switches.front();
    std::string text;
    for (size_t i = 0; i < d.candidates.size(); ++i) {
      Region &region = i + 1 < d.candidates.size() ? sw.getCaseRegions()[i]
                                                   : sw.getDefaultRegion();
      std::string where = quantPlacement(region, npuDialect);
      text += (i ? "; " : "") + (where.empty() ? "none" : where) + " (" +
              d.candidates[i].method + ")";
    }
    d.quantization.placement = text;
    return;
  }
  d.quantization.placement = quantPlacement(fn.getBody(), npuDialect);
}

std::vector<LayerDecision> DecisionRecorder::finish(ModuleOp module) {
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<LayerDecision> result;
  // Module order; within a function, the walk order of recordLayers.
  for (func::FuncOp fn : module.getOps<func::FuncOp>())
    for (auto &entry : layers) {
      LayerDecision &d = entry.second;
      if (d.function != fn.getSymName())
        continue;
      // The remark moe-select-comm-method put at the layer's prepare: the
      // method it chose (or the run-time choice) and why.
      std::vector<std::string> &texts = remarks[entry.first];
      auto own = llvm::find_if(texts, [&](const std::string &t) {
        return StringRef(t).starts_with(d.method == "run-time"
                                            ? "run-time choice"
                                            : d.method);
      });
      if (own != texts.end()) {
        d.reason = *own;
        texts.erase(own);
      } else {
        d.reason = "method set in the input";
      }
      readLevel2(fn, d);
      result.push_back(d);
    }
  return result;
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

std::string mlir::moe::decisionsToJson(
    const std::vector<LayerDecision> &decisions) {
  llvm::json::Array out;
  for (const LayerDecision &d : decisions) {
    llvm::json::Array candidates, streams, events;
    for (const MethodCandidate &c : d.candidates)
      candidates.push_back(llvm::json::Object{
          {"method", c.method}, {"up_to_tokens", c.upToTokens}});
    for (const StreamUse &s : d.streams) {
      llvm::json::Array ops;
      for (const std::string &op : s.ops)
        ops.push_back(op);
      streams.push_back(
          llvm::json::Object{{"stream", s.stream}, {"ops", std::move(ops)}});
    }
    for (const StreamEvent &e : d.events)
      events.push_back(llvm::json::Object{{"from_stream", e.fromStream},
                                          {"to_stream", e.toStream},
                                          {"count", e.count}});
    llvm::json::Object layer{
        {"function", d.function},
        {"location", d.location},
        {"method", d.method},
        {"candidates", std::move(candidates)},
        {"reason", d.reason},
        {"capacity", d.capacity},
        {"quantization",
         llvm::json::Object{{"scheme", d.quantization.scheme},
                            {"placement", d.quantization.placement}}},
        {"streams", std::move(streams)},
        {"events", std::move(events)}};
    layer["max_tokens"] =
        d.maxTokens ? llvm::json::Value(*d.maxTokens) : llvm::json::Value(nullptr);
    out.push_back(std::move(layer));
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(out));
  return text;
}
