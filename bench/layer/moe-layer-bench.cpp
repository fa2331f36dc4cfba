//===- moe-layer-bench.cpp - time an MoE layer forward --------------------===//
//
// Compiles one MoE layer (level 1, generated from the command line) with the
// full pipeline, then runs its forward pass repeatedly on a thread world,
// drawing fresh router logits every iteration so the touched experts change
// as they do in serving. The layer (LayerModule.cpp) is f32, w8a8 or w4a8,
// optionally with shared experts. Prints the median and best time per
// iteration; with --stages, the per-stage time of rank 0; with --overlap,
// from the runtime's trace, how much each rank's streams overlapped and how
// long each collective took next to the slowest rank's compute
// (Overlap.cpp). With --bound, the step against its read or compute bound
// (Bounds.h), the read bandwidth probed over the layer's own weights around
// every ~20 ms window of steps; with --versus Q, the same layer with
// quantization Q built too, the two alternating step by step on the same
// routing (the per-step ratio is the side-by-side comparison this noisy
// host allows). Also measures the machine's read bandwidth, FMA and int8
// peaks (--machine, MachineProbe.cpp).
//
//===----------------------------------------------------------------------===//

#include "moe/Execution/ChromeTrace.h"
#include "moe/Execution/Executable.h"
#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Executor.h"
#include "moe/Runtime/MatmulEngine.h"
#include "moe/Runtime/Parallel.h"

#include "LayerModule.h"
#include "Bounds.h"
#include "MachineProbe.h"
#include "Overlap.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"

#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory benchCategory("moe-layer-bench options");

static cl::opt<int64_t> hidden("hidden", cl::cat(benchCategory), cl::init(2048), cl::desc("H"));
static cl::opt<int64_t> experts("experts", cl::cat(benchCategory), cl::init(128), cl::desc("E"));
static cl::opt<int64_t> topK("top-k", cl::cat(benchCategory), cl::init(8), cl::desc("K"));
static cl::opt<int64_t> inter("inter", cl::cat(benchCategory), cl::init(768), cl::desc("I"));
static cl::opt<int64_t> tokens("tokens", cl::cat(benchCategory), cl::init(1),
                               cl::desc("tokens per rank"));
static cl::opt<std::string> quant("quant", cl::cat(benchCategory), cl::init("none"),
                                  cl::desc("none, w8a8 or w4a8"));
static cl::opt<int64_t> groupSize("group-size", cl::cat(benchCategory), cl::init(256),
                                  cl::desc("w4a8 group size"));
static cl::opt<int64_t> sharedInter("shared-inter", cl::cat(benchCategory), cl::init(0),
                                    cl::desc("shared-expert intermediate size (0: none)"));
static cl::opt<int> world("world", cl::cat(benchCategory), cl::init(1), cl::desc("ranks (DP with EP)"));
static cl::opt<std::string> method("method", cl::cat(benchCategory), cl::init("allgather"),
                                   cl::desc("communication method"));
static cl::opt<int> iters("iters", cl::cat(benchCategory), cl::init(20), cl::desc("timed iterations"));
static cl::opt<int> warmup("warmup", cl::cat(benchCategory), cl::init(3), cl::desc("untimed ones"));
static cl::opt<bool> stages("stages", cl::cat(benchCategory), cl::desc("print rank 0's time per op"));
static cl::opt<bool> cold("cold", cl::cat(benchCategory),
                          cl::desc("skip the load step (input scan, load-time "
                                   "function, planner calibration)"));
static cl::opt<bool> overlap("overlap", cl::cat(benchCategory),
                             cl::desc("per rank: stream overlap and collective "
                                      "times from the runtime's trace"));
static cl::opt<std::string> tracePath("trace", cl::cat(benchCategory),
                                      cl::desc("write the last iteration's "
                                               "Chrome trace to this file"));
static cl::opt<bool> multistream("multistream", cl::cat(benchCategory), cl::init(true),
                                 cl::desc("run moe-schedule-multistream "
                                          "(--multistream=false: one stream)"));
static cl::opt<bool> packWeights("pack-weights", cl::cat(benchCategory), cl::init(true),
                                 cl::desc("run moe-pack-weights: expert weights packed "
                                          "in place at load (--pack-weights=false: "
                                          "row-major, packed per block at every step)"));
static cl::opt<bool> checkFinite("check-finite", cl::cat(benchCategory), cl::init(true),
                                 cl::desc("the runtime's NaN/Inf checks "
                                          "(RunOptions::checkFinite)"));
static cl::opt<bool> printLayer("print-layer", cl::cat(benchCategory),
                                cl::desc("print the generated layer module "
                                         "(level 1) and exit"));
static cl::opt<bool> machine("machine", cl::cat(benchCategory),
                             cl::desc("measure read bandwidth, FMA and int8 peaks"));
static cl::opt<std::string> versus(
    "versus", cl::cat(benchCategory),
    cl::desc("also build the layer with this --quant and alternate the two "
             "step by step (same routing): prints its median and the median "
             "ratio of the pairs"));
static cl::opt<bool> bound(
    "bound", cl::cat(benchCategory),
    cl::desc("one rank, no shared experts: the step's read or compute bound "
             "(Bounds.h), with a read probe over the layer's weights before "
             "and after every ~20 ms window of steps"));

/// Read bandwidth, FMA and int8 peaks with all threads (MachineProbe.cpp).
static void measureMachine() {
  MachineFigures m = probeMachine();
  llvm::outs() << llvm::format(
      "machine: read %.1f GB/s, fma %.0f GFLOP/s (%s), int8 %.0f GOP/s (%s), "
      "%d threads\n",
      m.readGBps, m.fmaGflops, m.fmaIsa.c_str(), m.int8Gops,
      m.int8Isa.c_str(), m.threads);
}

/// Medians over the iterations of each rank's stream times, each
/// collective's longest time and the slowest rank's compute (Overlap.h).
static void printOverlap(const std::vector<moebench::StepTimes> &steps) {
  using moebench::median;
  auto ms = [](double us) { return us / 1e3; };
  size_t ranks = steps.front().ranks.size();
  llvm::outs() << "  overlap per rank (medians of " << steps.size()
               << " iterations; wall: first task's start to last task's end; "
                  "busy: union of a stream's spans, event waits excluded):\n";
  for (size_t r = 0; r < ranks; ++r) {
    std::vector<double> wall, sum, over, conc, idle, compute;
    std::map<int, std::vector<double>> busy;
    for (const moebench::StepTimes &st : steps) {
      const moebench::RankTimes &t = st.ranks[r];
      wall.push_back(t.wallUs);
      sum.push_back(t.sumBusyUs);
      over.push_back(t.overlapUs);
      conc.push_back(t.concurrentUs);
      idle.push_back(t.wallUs - t.anyBusyUs);
      compute.push_back(t.computeUs);
      for (const auto &[stream, us] : t.busyUs)
        busy[stream].push_back(us);
    }
    std::string streams;
    for (const auto &[stream, us] : busy)
      streams += (streams.empty() ? "" : ", ") + std::to_string(stream) + ": " +
                 llvm::formatv("{0:F2}", ms(median(us))).str();
    double o = median(over), sb = median(sum);
    llvm::outs() << llvm::format(
        "  rank %zu: wall %.2f ms, busy per stream (%s) ms, sum %.2f ms, "
        "overlap (sum - wall) %.2f ms = %.1f%% of the sum; streams at once "
        "%.2f ms, all idle %.2f ms; compute %.2f ms\n",
        r, ms(median(wall)), streams.c_str(), ms(sb), ms(o),
        sb > 0 ? 100 * o / sb : 0.0, ms(median(conc)), ms(median(idle)),
        ms(median(compute)));
  }
  std::vector<double> slowest, longest;
  std::map<std::string, std::vector<double>> coll;
  int exceeded = 0;
  for (const moebench::StepTimes &st : steps) {
    slowest.push_back(st.slowestComputeUs);
    longest.push_back(st.longestAnyCollectiveUs);
    exceeded += st.longestAnyCollectiveUs > st.slowestComputeUs;
    for (const auto &[name, us] : st.longestCollectiveUs)
      coll[name].push_back(us);
  }
  if (coll.empty()) {
    llvm::outs() << "  no collectives\n";
    return;
  }
  double slow = median(slowest);
  llvm::outs() << llvm::format(
      "  collectives, longest on any rank (medians), against the slowest "
      "rank's compute %.2f ms:\n",
      ms(slow));
  for (const auto &[name, us] : coll)
    llvm::outs() << llvm::format("    %-52s %9.2f ms\n", name.c_str(),
                                 ms(median(us)));
  llvm::outs() << llvm::format(
      "  longest collective %.2f ms: %s the slowest rank's compute (longer in "
      "%d of %zu iterations)\n",
      ms(median(longest)), median(longest) > slow ? "LONGER than" : "below",
      exceeded, steps.size());
}

/// The process's resident set now (/proc/self/statm), 0 if unknown.
static double residentBytes() {
  long pages = 0, resident = 0;
  if (FILE *f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

/// One layer of the run: compiled, its inputs, its thread world, loaded.
struct Layer {
  LayerConfig config;
  std::unique_ptr<moe::Executable> exe;
  std::vector<std::vector<moert::Tensor>> inputs;
  std::unique_ptr<moert::World> threads;
  moert::RunOptions options;
};

static bool compileLayer(MLIRContext &context, Layer &layer) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      layerText(layer.config), &context, "layer.mlir");
  if (!module)
    return false;
  auto exe = moe::Executable::compile(
      *module,
      std::string("moe-compile{multistream=") + (multistream ? "true" : "false") +
          " pack-weights=" + (packWeights ? "true" : "false") + "}",
      "");
  if (failed(exe))
    return false;
  layer.exe = std::move(*exe);
  return true;
}

/// Makes the inputs and the world, then (unless --cold) loads: what a
/// server does once after loading the weights (the input scan, the
/// load-time function, the planner's calibration), so that the first step
/// costs what a steady one does.
static bool loadLayer(Layer &layer) {
  const LayerConfig &c = layer.config;
  for (int r = 0; r < c.world; ++r)
    layer.inputs.push_back(layerInputs(c, r));
  layer.threads = moert::createThreadWorld(layer.exe->layout(), 600);
  layer.options.load = layer.exe->loadStage();
  layer.options.streams = layer.exe->streamsPerRank();
  layer.options.checkFinite = checkFinite;
  if (cold)
    return true;
  auto t0 = std::chrono::steady_clock::now();
  int planned = layer.exe->calibrate(c.tokens);
  auto t1 = std::chrono::steady_clock::now();
  moert::RunOptions load = layer.options; // load stage, streams, checks
  load.loadOnly = true;
  load.warmUp = true;
  // The bench made the weights: npu.pack_weights may repack them in place.
  load.donateLoadInputs = true;
  for (const moert::RankOutcome &o : moert::runRanks(
           *layer.threads, layer.exe->entry(), layer.inputs, 1, load))
    if (!o.error.empty()) {
      llvm::errs() << "error: " << o.error << "\n";
      return false;
    }
  auto t2 = std::chrono::steady_clock::now();
  llvm::outs() << llvm::format(
      "load%s: planner calibration %.1f ms (%d block shapes), input scan "
      "and warm-up step %.1f ms\n",
      c.quant == quant ? "" : (" (" + c.quant + ")").c_str(),
      std::chrono::duration<double>(t1 - t0).count() * 1e3, planned,
      std::chrono::duration<double>(t2 - t1).count() * 1e3);
  return true;
}

/// Fresh router logits on every rank for iteration `it`.
static void drawLogits(Layer &layer, int it) {
  const LayerConfig &c = layer.config;
  for (int r = 0; r < c.world; ++r) {
    moert::Tensor logits =
        moert::Tensor::empty(moert::DType::F32, {c.tokens, c.experts});
    fillRandom(logits, 4.0f, 1000 + it * c.world + r);
    layer.inputs[r][kLogitsArg] = logits;
  }
}

/// One step of every rank; its wall time in `secs`.
static bool runStep(Layer &layer, double &secs,
                    std::vector<moert::RankOutcome> *outcomes = nullptr) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<moert::RankOutcome> out = moert::runRanks(
      *layer.threads, layer.exe->entry(), layer.inputs, 1, layer.options);
  secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
             .count();
  for (const moert::RankOutcome &o : out)
    if (!o.error.empty()) {
      llvm::errs() << "error: " << o.error << "\n";
      return false;
    }
  if (outcomes)
    *outcomes = std::move(out);
  return true;
}

/// --bound reads at most this much of the weights per probe: far more than
/// any cache, a few milliseconds.
constexpr size_t kProbeBytes = size_t(256) << 20;
static size_t probeBytes(const std::vector<std::pair<const void *, size_t>> &over) {
  size_t n = 0;
  for (const auto &[data, size] : over)
    n += size;
  return n;
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(benchCategory);
  cl::ParseCommandLineOptions(argc, argv, "time an MoE layer forward\n");
  try {
    moert::cpuIsa(); // MOE_CPU_ISA, checked once
  } catch (const moert::Error &e) {
    llvm::errs() << "moe-layer-bench: " << e.what() << "\n";
    return 1;
  }
  if (machine) {
    measureMachine();
    return 0;
  }
  LayerConfig config;
  config.hidden = hidden;
  config.experts = experts;
  config.topK = topK;
  config.inter = inter;
  config.sharedInter = sharedInter;
  config.tokens = tokens;
  config.quant = quant;
  config.groupSize = groupSize;
  config.world = world;
  config.method = method;
  std::string why = checkLayerConfig(config);
  if (why.empty() && (iters < 1 || warmup < 0))
    why = "--iters must be positive and --warmup not negative";
  if (!why.empty()) {
    llvm::errs() << "moe-layer-bench: " << why << "\n";
    return 1;
  }
  if (printLayer) {
    llvm::outs() << layerText(config);
    return 0;
  }
  DialectRegistry registry;
  moe::registerExecutionDialects(registry);
  MLIRContext context(registry);
  // The process before the layer's tensors exist (code, MLIR, compile).
  double baselineRss = 0;
  Layer layer, other;
  std::string versusWhy;
  if (!versus.empty()) {
    LayerConfig b = config;
    b.quant = versus;
    versusWhy = checkLayerConfig(b);
    if (versusWhy.rfind("--quant", 0) == 0) // the value is --versus's
      versusWhy = "--versus" + versusWhy.substr(7);
    if (versusWhy.empty() && b.quant == config.quant)
      versusWhy = "it is the layer's own --quant (" + versus + ")";
    if (!versusWhy.empty()) {
      llvm::errs() << "moe-layer-bench: --versus " << versus << ": "
                   << versusWhy << "\n";
      return 1;
    }
    other.config = b;
  }
  moebench::LayerWork work;
  std::string noBound;
  if (bound) {
    work = moebench::layerWork(config, noBound);
    if (!noBound.empty()) {
      llvm::errs() << "moe-layer-bench: --bound: " << noBound << "\n";
      return 1;
    }
  }
  layer.config = config;
  if (!compileLayer(context, layer))
    return 1;
  if (!versus.empty() && !compileLayer(context, other))
    return 1;
  // --bound: the FMA or int8 peak once (it does not move), before the load
  // so that the first step still comes right after it.
  double peakOps = 0;
  if (bound) {
    MachineFigures m = probePeaks();
    peakOps = (work.int8 ? m.int8Gops : m.fmaGflops) * 1e9;
  }
  baselineRss = residentBytes();
  if (!loadLayer(layer) || (!versus.empty() && !loadLayer(other)))
    return 1;
  layer.options.profile = stages;
  layer.options.trace = overlap || !tracePath.empty();

  // --bound: a read probe over the layer's own weights around every
  // window of steps.
  std::vector<moebench::Window> windows;
  std::vector<std::pair<const void *, size_t>> probeOver;
  if (bound) {
    // The weights and scales (arguments 2 on; the logits are replaced
    // every step), up to kProbeBytes.
    size_t left = kProbeBytes;
    const std::vector<moert::Tensor> &in = layer.inputs[0];
    for (size_t i = 2; i < in.size() && left > 0; ++i) {
      size_t take = std::min(left, in[i].nbytes()) / 64 * 64;
      if (take > 0)
        probeOver.push_back({in[i].bytes(), take});
      left -= take;
    }
  }
  auto probeRead = [&] {
    double bytes = 0, seconds = 0;
    for (auto [data, size] : probeOver) {
      double bps = readBandwidth(data, size, 2);
      bytes += static_cast<double>(size);
      seconds += static_cast<double>(size) / bps;
    }
    return seconds > 0 ? bytes / seconds : 0.0;
  };

  std::vector<double> times, otherTimes, ratios;
  double first = 0;
  // The steps right after the first (warm-up or timed): the steady state
  // at the moment of the first step, on a host whose memory bandwidth
  // changes by 2x within seconds.
  constexpr int kFirstNeighbours = 10;
  std::vector<double> afterFirst;
  std::map<std::string, double> stageTime;
  std::vector<double> outsideOps; // rank 0's step time not inside an op
  std::vector<moebench::StepTimes> steps;
  int window = 0; // steps per --bound window, from the first timed step
  for (int it = 0; it < warmup + iters; ++it) {
    bool timed = it >= warmup;
    if (bound && timed && (windows.empty() ||
                           static_cast<int>(windows.back().seconds.size()) ==
                               window)) {
      double read = probeRead();
      if (!windows.empty())
        windows.back().readAfter = read;
      windows.push_back({{}, read, 0});
    }
    // Fresh routing: new logits on every rank, the same for both layers.
    drawLogits(layer, it);
    if (!versus.empty())
      drawLogits(other, it);
    // With --versus the two layers alternate which runs first.
    double otherSecs = 0;
    if (!versus.empty() && it % 2 == 1 && !runStep(other, otherSecs))
      return 1;
    double secs = 0;
    std::vector<moert::RankOutcome> out;
    if (!runStep(layer, secs, &out))
      return 1;
    if (!versus.empty() && it % 2 == 0 && !runStep(other, otherSecs))
      return 1;
    if (it == 0)
      first = secs;
    else if (it <= kFirstNeighbours)
      afterFirst.push_back(secs);
    if (!timed)
      continue;
    times.push_back(secs);
    if (!versus.empty()) {
      otherTimes.push_back(otherSecs);
      ratios.push_back(otherSecs / secs);
    }
    if (bound) {
      windows.back().seconds.push_back(secs);
      if (window == 0) // about 20 ms of steps between probes
        window = std::clamp(static_cast<int>(0.02 / secs), 1, 50);
    }
    double inOps = 0;
    for (const auto &[op, p] : out.front().profile) {
      stageTime[op] += p.seconds;
      inOps += p.seconds;
    }
    outsideOps.push_back(secs - inOps);
    if (overlap) {
      std::vector<moert::Trace> traces;
      for (const moert::RankOutcome &o : out)
        traces.push_back(o.trace);
      steps.push_back(moebench::stepTimes(traces));
    }
    if (!tracePath.empty() && it + 1 == warmup + iters)
      if (llvm::Error e = moe::writeChromeTrace(tracePath, out)) {
        llvm::errs() << "moe-layer-bench: " << llvm::toString(std::move(e))
                     << "\n";
        return 1;
      }
  }
  if (bound)
    windows.back().readAfter = probeRead();
  std::sort(times.begin(), times.end());
  std::string shared =
      sharedInter > 0 ? " shared " + std::to_string(sharedInter) : "";
  llvm::outs() << llvm::format(
      "moe-mlir %s H %lld E %lld K %lld I %lld%s T %lld world %d %s%s: median "
      "%.3f ms, best %.3f ms (%d iterations)\n",
      quant.c_str(), (long long)hidden, (long long)experts, (long long)topK,
      (long long)inter, shared.c_str(), (long long)tokens, world.getValue(),
      method.c_str(), multistream ? "" : " one stream",
      times[times.size() / 2] * 1e3, times.front() * 1e3, iters.getValue());
  if (!versus.empty()) {
    std::sort(otherTimes.begin(), otherTimes.end());
    std::sort(ratios.begin(), ratios.end());
    size_t n = ratios.size();
    llvm::outs() << llvm::format(
        "versus %s, alternating step by step: median %.3f ms; per step, "
        "%s time / %s time: median %.2fx (middle half %.2f-%.2fx, %zu "
        "pairs)\n",
        versus.c_str(), otherTimes[n / 2] * 1e3, versus.c_str(),
        quant.c_str(), ratios[n / 2], ratios[n / 4], ratios[(3 * n) / 4], n);
  }
  if (bound) {
    moebench::BoundSummary b = moebench::summarize(windows, work, peakOps);
    std::vector<double> reads;
    for (const moebench::Window &w : windows)
      reads.push_back(std::max(w.readBefore, w.readAfter) / 1e9);
    std::sort(reads.begin(), reads.end());
    llvm::outs() << llvm::format(
        "bound: %.1f experts, %.1f MB of weights, %.1f GOP a step; read "
        "probe over %.1f MiB of the weights %.1f GB/s (%.1f-%.1f), %s %.0f "
        "G/s\n",
        work.experts, work.weightBytes / 1e6, work.ops / 1e9,
        static_cast<double>(probeBytes(probeOver)) / (1 << 20),
        reads[reads.size() / 2], reads.front(), reads.back(),
        work.int8 ? "int8" : "fma", peakOps / 1e9);
    llvm::outs() << llvm::format(
        "of bound: %.2f (%.2f-%.2f over %zu windows of %d steps, each "
        "against the faster read probe around it); bound %.3f ms (%s)\n",
        b.median, b.low, b.high, windows.size(), window, b.boundSeconds * 1e3,
        b.kind.c_str());
  }
  llvm::outs() << llvm::format("first step after load %.3f ms (%.2fx the "
                               "median",
                               first * 1e3, first / times[times.size() / 2]);
  if (!afterFirst.empty())
    llvm::outs() << llvm::format(
        "; %.2fx the median of the %zu steps after it",
        first / moebench::median(afterFirst), afterFirst.size());
  llvm::outs() << ")\n";
  // Peak RSS above the process's baseline against the most tensor memory
  // live at once (the inputs: weights and activations, plus the step's
  // intermediates): what the layer itself holds.
  double inputBytes = 0;
  for (const Layer *l : {&layer, &other})
    for (const std::vector<moert::Tensor> &rankInputs : l->inputs)
      for (const moert::Tensor &t : rankInputs)
        inputBytes += static_cast<double>(t.nbytes());
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double peak = static_cast<double>(usage.ru_maxrss) * 1024.0;
  moert::TensorMemory tensors = moert::tensorMemory();
  double live = static_cast<double>(tensors.peakLiveBytes);
  llvm::outs() << llvm::format(
      "memory: inputs %.1f MiB, most live tensors %.1f MiB (%.1f MiB of "
      "freed blocks kept for reuse at the end); peak RSS %.1f MiB, %.1f MiB "
      "above the %.1f MiB before the inputs (%.2fx the live tensors)%s\n",
      inputBytes / (1 << 20), live / (1 << 20),
      static_cast<double>(tensors.keptBytes) / (1 << 20), peak / (1 << 20),
      (peak - baselineRss) / (1 << 20), baselineRss / (1 << 20),
      (peak - baselineRss) / live,
      packWeights ? ", moe-pack-weights on" : "");
  if (overlap && !steps.empty())
    printOverlap(steps);
  if (stages) {
    for (const auto &[op, secs] : stageTime)
      llvm::outs() << llvm::format("  rank 0 %-28s %9.3f ms/iter\n",
                                   op.c_str(), secs / iters * 1e3);
    // On one stream (one rank without shared experts has nothing to
    // overlap) the ops run one after another: the rest of the step is the
    // executor's own work and the hand-offs between threads.
    if (!multistream || (world == 1 && sharedInter == 0))
      llvm::outs() << llvm::format(
          "  rank 0 %-28s %9.3f ms (median)\n",
          static_cast<const char *>("step outside its ops"),
          moebench::median(outsideOps) * 1e3);
    // The kernels and each matmul block shape's engine (MatmulEngine.h).
    llvm::outs() << "  kernels " << moert::cpuIsaName(moert::cpuIsa())
                 << ", matmul engines "
                 << moert::matmulEngineName(moert::matmulEngine()) << "\n";
    for (const moert::MatmulPlanEntry &e : moert::matmulPlan())
      llvm::outs() << "  matmul plan: " << e.shape << ": " << e.engine << " ("
                   << e.timings << ")\n";
  }
  return 0;
}
