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
// (Overlap.cpp). Also measures the machine's read bandwidth, FMA and int8
// peaks (--machine, MachineProbe.cpp) for the bounds in
// bench/run_layer_bench.py.
//
//===----------------------------------------------------------------------===//

#include "moe/Execution/ChromeTrace.h"
#include "moe/Execution/Executable.h"
#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Executor.h"
#include "moe/Runtime/MatmulEngine.h"
#include "moe/Runtime/Parallel.h"

#include "LayerModule.h"
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
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(layerText(config), &context, "layer.mlir");
  if (!module)
    return 1;
  auto exe = moe::Executable::compile(
      *module,
      std::string("moe-compile{multistream=") + (multistream ? "true" : "false") +
          " pack-weights=" + (packWeights ? "true" : "false") + "}",
      "");
  if (failed(exe))
    return 1;

  // The process before the layer's tensors exist (code, MLIR, compile).
  double baselineRss = residentBytes();
  std::vector<std::vector<moert::Tensor>> inputs(world);
  for (int r = 0; r < world; ++r)
    inputs[r] = layerInputs(config, r);
  std::unique_ptr<moert::World> threads =
      moert::createThreadWorld((*exe)->layout(), 600);
  moert::RunOptions options;
  // Load: what a server does once after loading the weights (the input
  // scan, the load-time function, the planner's calibration), so that the
  // first step costs what a steady one does.
  if (!cold) {
    auto t0 = std::chrono::steady_clock::now();
    int planned = (*exe)->calibrate(tokens);
    auto t1 = std::chrono::steady_clock::now();
    moert::RunOptions load;
    load.loadOnly = true;
    load.warmUp = true;
    load.load = (*exe)->loadStage();
    load.checkFinite = checkFinite;
    // The bench made the weights: npu.pack_weights may repack them in place.
    load.donateLoadInputs = true;
    for (const moert::RankOutcome &o :
         moert::runRanks(*threads, (*exe)->entry(), inputs, 1, load))
      if (!o.error.empty()) {
        llvm::errs() << "error: " << o.error << "\n";
        return 1;
      }
    auto t2 = std::chrono::steady_clock::now();
    llvm::outs() << llvm::format(
        "load: planner calibration %.1f ms (%d block shapes), input scan "
        "and warm-up step %.1f ms\n",
        std::chrono::duration<double>(t1 - t0).count() * 1e3, planned,
        std::chrono::duration<double>(t2 - t1).count() * 1e3);
  }
  options.profile = stages;
  options.trace = overlap || !tracePath.empty();
  options.load = (*exe)->loadStage();
  options.checkFinite = checkFinite;
  std::vector<double> times;
  double first = 0;
  std::map<std::string, double> stageTime;
  std::vector<moebench::StepTimes> steps;
  for (int it = 0; it < warmup + iters; ++it) {
    // Fresh routing: new logits on every rank.
    for (int r = 0; r < world; ++r) {
      moert::Tensor logits =
          moert::Tensor::empty(moert::DType::F32, {tokens, experts});
      fillRandom(logits, 4.0f, 1000 + it * world + r);
      inputs[r][kLogitsArg] = logits;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::vector<moert::RankOutcome> out =
        moert::runRanks(*threads, (*exe)->entry(), inputs, 1, options);
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
    for (const moert::RankOutcome &o : out)
      if (!o.error.empty()) {
        llvm::errs() << "error: " << o.error << "\n";
        return 1;
      }
    if (it == 0)
      first = secs;
    if (it < warmup)
      continue;
    times.push_back(secs);
    for (const auto &[op, p] : out.front().profile)
      stageTime[op] += p.seconds;
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
  llvm::outs() << llvm::format("first step after load %.3f ms (%.2fx the "
                               "median)\n",
                               first * 1e3, first / times[times.size() / 2]);
  // Peak RSS above the process's baseline against the most tensor memory
  // live at once (the inputs: weights and activations, plus the step's
  // intermediates): what the layer itself holds.
  double inputBytes = 0;
  for (const std::vector<moert::Tensor> &rankInputs : inputs)
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
