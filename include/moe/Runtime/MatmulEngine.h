//===- MatmulEngine.h - which engine runs the expert matmuls ----*- C++ -*-===//
//
// npu.grouped_matmul and npu.matmul split their work into blocks of
// (group, rows, columns) and run each block on one engine (docs/Runtime.md,
// "Expert matmuls: engine choice"). By default a planner picks it: for
// each distinct block shape (operand types, K, block width, weight row
// length, rows rounded down to a power of two, kernel variant) the first
// block of that shape is run on every applicable engine, timed, and the
// fastest is kept for the rest of the process. Every engine gives results
// within the tolerances of docs/Runtime.md (int8/int4: the exact i32 sum),
// so the choice changes timing, not the contract. MOE_MATMUL_ENGINE (or
// setMatmulEngine) replaces the planner, e.g. for deterministic tests.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MATMULENGINE_H
#define MOE_RUNTIME_MATMULENGINE_H

#include "moe/Runtime/Enums.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moert {

/// Engines and policies:
///  - Auto: the planner (MOE_MATMUL_ENGINE unset or "auto");
///  - Fixed: the measured row thresholds of docs/Runtime.md, no timing;
///  - Gemv: row-streaming kernels (f32 weight, w8a8 and w4a8; int4 by
///    vpdpbusd where the variant has it, else by vpmaddubsw on byte pairs);
///  - Panel: packed-panel kernels (f32 FMA, int8/int4 as s16 pairs);
///  - Dnnl: oneDNN's f32 matmul (f32 weight);
///  - Vnni: the u8 x s8 vpdpbusd kernel (w8a8/w4a8, avxvnni and
///    avx512vnni variants).
/// A forced engine that cannot run a block (say Dnnl on int8) leaves that
/// block to the Fixed rule.
enum class MatmulEngine { Auto, Fixed, Gemv, Panel, Dnnl, Vnni };

/// "auto", "fixed", "gemv", "panel", "dnnl", "vnni" (MOE_MATMUL_ENGINE's
/// values).
const char *matmulEngineName(MatmulEngine engine);

/// The policy in use: MOE_MATMUL_ENGINE at the first call, then the last
/// setMatmulEngine. Throws moert::Error when MOE_MATMUL_ENGINE names no
/// engine.
MatmulEngine matmulEngine();
void setMatmulEngine(MatmulEngine engine);

/// One planned block shape and the engine the planner chose for it.
struct MatmulPlanEntry {
  std::string shape;  // e.g. "w8a8 K 2048 N 1536/1536 rows 8-15 avx512vnni"
  std::string engine; // the winner
  std::string timings; // every candidate's time, e.g. "gemv 210.5 us, ..."
};

/// The planner's choices in this process, sorted by shape; then the
/// grouped matmuls of packed weights (shape "f32 K 2048 N 1536 packed
/// avx512vnni"), which run the one kernel of their layout, untimed.
std::vector<MatmulPlanEntry> matmulPlan();

/// Forgets every choice (the next block of each shape is timed again).
void clearMatmulPlan();

/// The planner's choices on disk, across processes (docs/Runtime.md,
/// "The plan cache"): the choices `path` holds for this CPU model join
/// the process's, and every new choice is appended to it. The file is
/// MOE_MATMUL_PLAN_CACHE's at the first use of the planner; "" stops
/// using a file. Throws moert::Error naming the file (and line) when it
/// cannot be read or is malformed; a file that cannot be written fails
/// the matmul that made the choice.
void setMatmulPlanCache(const std::string &path);
/// The plan cache file in use ("" for none).
std::string matmulPlanCache();

/// The operands of one npu.grouped_matmul (or npu.matmul) as far as the
/// planner cares, for calibrating before the first step.
struct MatmulShape {
  MatmulQuant quant = MatmulQuant::None;
  DType weight = DType::F32; // F32, BF16, F16, I8 or I4
  int64_t k = 0, n = 0;
  int64_t kBlocks = 1; // w4a8: K / group size
  bool bias = false;   // w4a8 in the kernel form (x - 8)
  /// The weight is npu.pack_weights's result (#npu.packed): nothing to
  /// calibrate where the runtime packs it (one engine reads it).
  bool packed = false;
  bool operator==(const MatmulShape &o) const {
    return quant == o.quant && weight == o.weight && k == o.k && n == o.n &&
           kBlocks == o.kBlocks && bias == o.bias && packed == o.packed;
  }
};

/// Calibrates the planner for `shape` at load time, so that the first step
/// runs on planned engines: every block shape a step can give it with up
/// to `maxRows` rows per group (each power-of-two row bucket, with the
/// columns whole and split over the current kernelThreads()) is timed on
/// synthetic operands the way the first block of that shape would be.
/// A no-op unless the policy is Auto. Returns how many block shapes it
/// planned (0 when all were planned already). Throws moert::Error for a
/// shape the matmuls reject.
int calibrateMatmul(const MatmulShape &shape, int64_t maxRows);

} // namespace moert

#endif // MOE_RUNTIME_MATMULENGINE_H
