//===- moe-layer-bench.cpp - time an MoE layer forward --------------------===//
//
// Compiles one MoE layer (level 1, generated from the command line) with the
// full pipeline, then runs its forward pass repeatedly on a thread world,
// drawing fresh router logits every iteration so the touched experts change
// as they do in serving. Prints the median and best time per iteration and,
// with --stages, the per-stage time of rank 0. Also measures the machine's
// read bandwidth, FMA and int8 peaks (--machine, MachineProbe.cpp) for the
// bounds in bench/run_layer_bench.py.
//
//===----------------------------------------------------------------------===//

#include "moe/Execution/Executable.h"
#include "moe/Runtime/CpuIsa.h"
#include "moe/Runtime/Executor.h"
#include "moe/Runtime/MatmulEngine.h"
#include "moe/Runtime/Parallel.h"

#include "MachineProbe.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <thread>

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
                                  cl::desc("none or w8a8"));
static cl::opt<int> world("world", cl::cat(benchCategory), cl::init(1), cl::desc("ranks (DP with EP)"));
static cl::opt<std::string> method("method", cl::cat(benchCategory), cl::init("allgather"),
                                   cl::desc("communication method"));
static cl::opt<int> iters("iters", cl::cat(benchCategory), cl::init(20), cl::desc("timed iterations"));
static cl::opt<int> warmup("warmup", cl::cat(benchCategory), cl::init(3), cl::desc("untimed ones"));
static cl::opt<bool> stages("stages", cl::cat(benchCategory), cl::desc("print rank 0's time per op"));
static cl::opt<bool> cold("cold", cl::cat(benchCategory),
                          cl::desc("skip the load step (input scan, load-time "
                                   "function, planner calibration)"));
static cl::opt<bool> machine("machine", cl::cat(benchCategory),
                             cl::desc("measure read bandwidth, FMA and int8 peaks"));

/// Fills `t` with uniform values in [-scale, scale] (floats) or [-127, 127].
static void fillRandom(moert::Tensor &t, float scale, uint64_t seed) {
  std::mt19937_64 gen(seed);
  if (t.dtype == moert::DType::F32) {
    std::uniform_real_distribution<float> d(-scale, scale);
    float *p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = d(gen);
  } else {
    std::uniform_int_distribution<int> d(-127, 127);
    int8_t *p = t.data<int8_t>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = static_cast<int8_t>(d(gen));
  }
}

static std::string layerText() {
  bool w8a8 = quant == "w8a8";
  int64_t local = experts / world;
  std::string wt = w8a8 ? "i8" : "f32";
  std::string h = std::to_string(hidden), e = std::to_string(experts),
              k = std::to_string(topK), l = std::to_string(local),
              n13 = std::to_string(2 * inter), i = std::to_string(inter);
  std::string w13 = "tensor<" + l + "x" + h + "x" + n13 + "x" + wt + ">";
  std::string w2 = "tensor<" + l + "x" + i + "x" + h + "x" + wt + ">";
  std::string s = "module attributes {moe.chip = #moe.chip<A3>, moe.layout = "
                  "#moe.layout<tp = 1, dp = " +
                  std::to_string(world) + ", expert_parallel = true>} {\n";
  s += "func.func @layer(%x: tensor<?x" + h + "xf32>, %logits: tensor<?x" + e +
       "xf32>, %w13: " + w13 + ", %w2: " + w2;
  if (w8a8)
    s += ", %s13: tensor<" + l + "x" + n13 + "xf32>, %s2: tensor<" + l + "x" +
         h + "xf32>";
  s += ") -> tensor<?x" + h + "xf32> {\n";
  std::string m = method;
  s += "  %h, %lg, %p = moe.prepare %x, %logits : tensor<?x" + h +
       "xf32>, tensor<?x" + e + "xf32> -> !moe.prepare_ctx<" + m + ">\n";
  s += "  %w, %ids = moe.gate %lg top_k(" + k +
       ") softmax renormalize : tensor<?x" + e + "xf32> -> tensor<?x" + k +
       "xf32>, tensor<?x" + k + "xi32>\n";
  s += "  %rows, %counts, %d = moe.dispatch %h, %w, %ids experts(" + e +
       ") : tensor<?x" + h + "xf32>, tensor<?x" + k + "xf32>, tensor<?x" + k +
       "xi32> -> tensor<" + l + "xi64>, !moe.dispatch_ctx<" + m + ">\n";
  s += "  %y = moe.experts %rows, %counts weights(%w13, %w2 : " + w13 + ", " +
       w2 + ")";
  if (w8a8)
    s += " scales(%s13, %s2 : tensor<" + l + "x" + n13 + "xf32>, tensor<" + l +
         "x" + h + "xf32>) quant <w8a8_dynamic>";
  s += " : tensor<?x" + h + "xf32>, tensor<" + l + "xi64>\n";
  s += "  %o = moe.combine %y, %d : tensor<?x" + h +
       "xf32>, !moe.dispatch_ctx<" + m + ">\n";
  s += "  %r = moe.finalize %o, %p : tensor<?x" + h +
       "xf32>, !moe.prepare_ctx<" + m + ">\n";
  s += "  return %r : tensor<?x" + h + "xf32>\n}\n}\n";
  return s;
}

/// Read bandwidth, FMA and int8 peaks with all threads (MachineProbe.cpp).
static void measureMachine() {
  MachineFigures m = probeMachine();
  llvm::outs() << llvm::format(
      "machine: read %.1f GB/s, fma %.0f GFLOP/s (%s), int8 %.0f GOP/s (%s), "
      "%d threads\n",
      m.readGBps, m.fmaGflops, m.fmaIsa.c_str(), m.int8Gops,
      m.int8Isa.c_str(), m.threads);
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(benchCategory);
  cl::ParseCommandLineOptions(argc, argv, "time an MoE layer forward\n");
  if (machine) {
    measureMachine();
    return 0;
  }
  DialectRegistry registry;
  moe::registerExecutionDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(layerText(), &context);
  if (!module)
    return 1;
  auto exe = moe::Executable::compile(*module, "moe-compile", "");
  if (failed(exe))
    return 1;

  bool w8a8 = quant == "w8a8";
  int64_t local = experts / world;
  moert::DType wt = w8a8 ? moert::DType::I8 : moert::DType::F32;
  std::vector<std::vector<moert::Tensor>> inputs(world);
  for (int r = 0; r < world; ++r) {
    moert::Tensor x = moert::Tensor::empty(moert::DType::F32, {tokens, hidden});
    fillRandom(x, 1.0f, 1 + r);
    moert::Tensor w13 = moert::Tensor::empty(wt, {local, hidden, 2 * inter});
    moert::Tensor w2 = moert::Tensor::empty(wt, {local, inter, hidden});
    fillRandom(w13, 1.0f / std::sqrt(float(hidden)), 100 + r);
    fillRandom(w2, 1.0f / std::sqrt(float(inter)), 200 + r);
    moert::Tensor logits =
        moert::Tensor::empty(moert::DType::F32, {tokens, experts});
    fillRandom(logits, 4.0f, 300 + r);
    inputs[r] = {x, logits, w13, w2};
    if (w8a8) {
      moert::Tensor s13 =
          moert::Tensor::empty(moert::DType::F32, {local, 2 * inter});
      moert::Tensor s2 = moert::Tensor::empty(moert::DType::F32, {local, hidden});
      for (moert::Tensor *s : {&s13, &s2})
        for (int64_t i = 0; i < s->numel(); ++i)
          s->data<float>()[i] = 1e-3f;
      inputs[r].push_back(s13);
      inputs[r].push_back(s2);
    }
  }
  std::unique_ptr<moert::World> threads =
      moert::createThreadWorld((*exe)->layout(), 600);
  moert::RunOptions options;
  // Load: what a server does once after loading the weights (the input
  // scan, the load-time function, the planner's calibration), so that the
  // first step costs what a steady one does.
  if (!cold) {
    auto t0 = std::chrono::steady_clock::now();
    moert::RunOptions load;
    load.loadOnly = true;
    for (const moert::RankOutcome &o :
         moert::runRanks(*threads, (*exe)->entry(), inputs, 1, load))
      if (!o.error.empty()) {
        llvm::errs() << "error: " << o.error << "\n";
        return 1;
      }
    auto t1 = std::chrono::steady_clock::now();
    int planned = (*exe)->calibrate(tokens);
    auto t2 = std::chrono::steady_clock::now();
    llvm::outs() << llvm::format(
        "load: input scan %.1f ms, planner calibration %.1f ms (%d block "
        "shapes)\n",
        std::chrono::duration<double>(t1 - t0).count() * 1e3,
        std::chrono::duration<double>(t2 - t1).count() * 1e3, planned);
  }
  options.profile = stages;
  std::vector<double> times;
  double first = 0;
  std::map<std::string, double> stageTime;
  for (int it = 0; it < warmup + iters; ++it) {
    // Fresh routing: new logits on every rank.
    for (int r = 0; r < world; ++r) {
      moert::Tensor logits =
          moert::Tensor::empty(moert::DType::F32, {tokens, experts});
      fillRandom(logits, 4.0f, 1000 + it * world + r);
      inputs[r][1] = logits;
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
  }
  std::sort(times.begin(), times.end());
  llvm::outs() << llvm::format(
      "moe-mlir %s H %lld E %lld K %lld I %lld T %lld world %d %s: median "
      "%.3f ms, best %.3f ms (%d iterations)\n",
      quant.c_str(), (long long)hidden, (long long)experts, (long long)topK,
      (long long)inter, (long long)tokens, world.getValue(), method.c_str(),
      times[times.size() / 2] * 1e3, times.front() * 1e3, iters.getValue());
  llvm::outs() << llvm::format("first step after load %.3f ms (%.2fx the "
                               "median)\n",
                               first * 1e3, first / times[times.size() / 2]);
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
