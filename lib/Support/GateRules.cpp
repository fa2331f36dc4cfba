//===- GateRules.cpp - configuration rules of MoE routing -----------------===//

#include "moe/Support/GateRules.h"

std::string mlir::moe::checkGateConfig(int64_t experts, int64_t topK,
                                       std::optional<int64_t> groups,
                                       std::optional<int64_t> keep,
                                       bool hasBias, bool balanced) {
  auto str = [](int64_t v) { return std::to_string(v); };
  if (topK > experts)
    return "top_k " + str(topK) + " exceeds the " + str(experts) + " experts";
  if (groups.has_value() != keep.has_value())
    return "num_expert_group and topk_group go together";
  if (!groups)
    return balanced ? "balanced routing takes top_k / G experts from each of "
                      "G expert groups and needs groups(G, G)"
                    : "";
  int64_t g = *groups;
  if (experts % g != 0)
    return str(g) + " expert groups do not divide the " + str(experts) +
           " experts";
  if (balanced) {
    if (*keep != g)
      return "balanced routing keeps every group: topk_group must equal the " +
             str(g) + " groups, got " + str(*keep);
    if (topK % g != 0)
      return "balanced routing takes top_k / G experts from each group: " +
             str(g) + " groups do not divide top_k " + str(topK);
    return "";
  }
  if (*keep > g)
    return "keeps " + str(*keep) + " of only " + str(g) + " expert groups";
  int64_t selectable = *keep * (experts / g);
  if (topK > selectable)
    return "top_k " + str(topK) + " exceeds the " + str(selectable) +
           " experts of the " + str(*keep) + " kept groups";
  if (hasBias && experts / g < 2)
    return "with a correction bias groups are scored by their two best "
           "experts, so each group needs at least 2 experts";
  return "";
}
