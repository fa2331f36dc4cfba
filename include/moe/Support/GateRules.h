//===- GateRules.h - configuration rules of MoE routing ---------*- C++ -*-===//
//
// The rules a top-k gate configuration obeys, shared by moe.gate and
// npu.moe_gating_top_k so both verifiers say the same thing.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_GATERULES_H
#define MOE_SUPPORT_GATERULES_H

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::moe {

/// Checks a gate over `experts` experts choosing `topK`, optionally with
/// `groups` expert groups of which `keep` stay selectable, and a correction
/// bias; `balanced`: `topK / groups` experts from every group (every group
/// kept). Returns the first violated rule as a message, or an empty string.
std::string checkGateConfig(int64_t experts, int64_t topK,
                            std::optional<int64_t> groups,
                            std::optional<int64_t> keep, bool hasBias,
                            bool balanced = false);

} // namespace mlir::moe

#endif // MOE_SUPPORT_GATERULES_H
