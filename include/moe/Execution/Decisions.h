//===- Decisions.h - what the compiler decided for each layer ---*- C++ -*-===//
//
// The decisions moe-compile takes for every MoE layer, read back from the IR
// the passes leave (docs/Embedding.md, "Decisions"): the communication
// method (or the run-time switch with its candidates and token
// thresholds) with the text of moe-select-comm-method's remark, the MC2
// capacity of the layer's dispatch, where the experts' activations are
// quantized, and the stream plan. Nothing here decides anything: the
// recorder (lib/Execution/Decisions.cpp) reads the attributes the passes
// set while mlir::moe::Executable::compile runs the pipeline.
//
// Plain C++ (no MLIR header): the C++ API (moe/Moe.h) hands these out.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_EXECUTION_DECISIONS_H
#define MOE_EXECUTION_DECISIONS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::moe {

/// One method a layer may run and the largest step token count (the
/// maximum over the ranks of the MoE group) it runs for; -1 for every count
/// above the previous candidate's (the last candidate, or the only one).
struct MethodCandidate {
  std::string method; // "mc2", "alltoall", ...
  int64_t upToTokens = -1;
};

/// Where the routed experts' activations are quantized.
struct QuantDecision {
  /// The experts' scheme as in `quant <...>` ("w8a8_dynamic"); "" when the
  /// experts are not quantized.
  std::string scheme;
  /// "in the dispatch" (moe-fuse-quant-into-dispatch moved it into the MC2
  /// dispatch), "before the dispatch" (quantized rows are communicated),
  /// "after the dispatch" (the received rows are quantized), "no dispatch"
  /// (no communication before the experts), or "" when unquantized.
  std::string placement;
};

/// The device ops a stream runs, in first-issue order, each once: the op
/// name without the `npu.` prefix, with the shared-expert stage it computes
/// in brackets ("matmul[shared gate_up]").
struct StreamUse {
  int64_t stream = 0;
  std::vector<std::string> ops;
};

/// Events between streams: `npu.record` on `fromStream` waited for by an
/// `npu.wait` on `toStream`, `count` times in the function.
struct StreamEvent {
  int64_t fromStream = 0, toStream = 0;
  int64_t count = 0;
};

/// The decisions for one MoE layer (one `moe.prepare` of the input).
struct LayerDecision {
  std::string function; // the func.func holding the layer
  std::string location; // the layer's `moe.prepare`, "file:line:col"
  /// The method, or "run-time" when moe.choose_method picks one per step.
  std::string method;
  /// One entry for a compile-time method; the switch's cases otherwise.
  std::vector<MethodCandidate> candidates;
  /// moe-select-comm-method's remark for the layer; "method set in the
  /// input" when the input already fixed it.
  std::string reason;
  /// The layer's `max_tokens` bound, when it has one.
  std::optional<int64_t> maxTokens;
  /// The per-rank token capacity its MC2 dispatch checks at run time
  /// (`capacity(C)` of the dispatch op); 0 without an MC2 dispatch.
  int64_t capacity = 0;
  QuantDecision quantization;
  /// The stream plan of the layer's function after moe-schedule-multistream
  /// (stream 0 is the default stream).
  std::vector<StreamUse> streams;
  std::vector<StreamEvent> events;
};

/// The decisions as JSON text (an array of objects with the fields above in
/// snake_case), as the C API hands them out.
std::string decisionsToJson(const std::vector<LayerDecision> &decisions);

} // namespace mlir::moe

#endif // MOE_EXECUTION_DECISIONS_H
