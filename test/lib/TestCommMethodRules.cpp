//===- TestCommMethodRules.cpp - evaluate the method-selection rules ------===//
//
// `test-comm-method-rules` evaluates the rules of CommMethodRules.h on cases
// written as attributes, without any MoE layer, and reports the results as
// remarks. Each function carrying a `test.case` dictionary is one case; its
// chip and layout are the nearest `moe.chip` / `moe.layout`, as for a layer.
//
//   func.func private @c() attributes {test.case = {tokens = 64,
//       experts = 256, top_k = 8, fused_mc2}}
//
// Keys (all optional): tokens (64), experts (256), redundant (0), top_k (8),
// hidden (7168), hidden_bytes (2), intermediate (2048), quant (a
// #moe.quant), max_num_reqs, decode_query_len, max_graph_size,
// max_num_batched_tokens (the pass defaults), balanced_groups (0: the
// routing is not group-balanced), and the unit flags prefill_mc2,
// fused_mc2, mega_moe, lora, eplb (log2phy / expert_map), cost_model,
// legality. The remark is
//
//   capacity <c>[, dispatch_v2 <d>]; <method>: <reason>
//
// with `cost_model`, one remark per method follows:
// `<method>: <fixed> + <per token> * T us` or `<method> excluded: <why>`;
// with `legality`, one remark per method of the CommMethod enum (checkMethod
// at `tokens`): `<method> legal` or `<method> illegal: <why>`.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Moe/Transforms/CommMethodRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
struct TestCommMethodRules
    : public PassWrapper<TestCommMethodRules, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestCommMethodRules)
  StringRef getArgument() const final { return "test-comm-method-rules"; }
  StringRef getDescription() const final {
    return "Evaluate the communication-method rules on test.case attributes";
  }
  // lookupLayout builds the default layout, a moe attribute.
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<MoeDialect>();
  }
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (auto cases = func->getAttrOfType<DictionaryAttr>("test.case"))
        if (failed(runCase(func, cases)))
          signalPassFailure();
    });
  }

  static LogicalResult runCase(func::FuncOp func, DictionaryAttr dict) {
    auto integer = [&](StringRef key, int64_t dflt) {
      auto attr = dict.getAs<IntegerAttr>(key);
      return attr ? attr.getInt() : dflt;
    };
    auto flag = [&](StringRef key) { return bool(dict.get(key)); };
    CommMethodInputs in;
    ServingConfig &config = in.config;
    config.maxNumReqs = integer("max_num_reqs", config.maxNumReqs);
    config.decodeQueryLen = integer("decode_query_len", config.decodeQueryLen);
    config.maxGraphSize = integer("max_graph_size", config.maxGraphSize);
    config.maxNumBatchedTokens =
        integer("max_num_batched_tokens", config.maxNumBatchedTokens);
    config.prefillMc2 = flag("prefill_mc2");
    config.fusedMc2 = flag("fused_mc2");
    config.megaMoe = flag("mega_moe");
    config.lora = flag("lora");
    if (std::string error = config.validate(); !error.empty())
      return func.emitError() << error;
    LayerFacts &layer = in.layer;
    layer.chip = lookupChip(func);
    layer.layout = lookupLayout(func);
    if (!layer.chip)
      return func.emitError() << "test case without moe.chip";
    layer.experts = integer("experts", 256);
    layer.redundantExperts = integer("redundant", 0);
    layer.topK = integer("top_k", 8);
    layer.hidden = integer("hidden", 7168);
    layer.hiddenBytes = integer("hidden_bytes", 2);
    layer.intermediate = integer("intermediate", 2048);
    layer.quant = dict.getAs<QuantAttr>("quant");
    layer.balancedGroups = integer("balanced_groups", 0);
    layer.eplbTables = flag("eplb");
    int64_t tokens = integer("tokens", 64);

    Mc2Capacity capacity = computeMc2Capacity(in);
    InFlightDiagnostic remark = func.emitRemark();
    remark << "capacity " << capacity.capacity;
    if (capacity.dispatchV2Capacity)
      remark << ", dispatch_v2 " << *capacity.dispatchV2Capacity;
    bool cost = flag("cost_model");
    CostModel model(in);
    Choice choice = cost ? model.select(tokens) : selectByTable(in, tokens);
    remark << "; " << stringifyCommMethod(choice.method) << ": "
           << choice.reason;
    remark.report();
    if (flag("legality"))
      for (uint32_t i = 1; i <= getMaxEnumValForCommMethod(); ++i) {
        std::optional<CommMethod> method = symbolizeCommMethod(i);
        if (!method)
          continue;
        std::string why = checkMethod(*method, in).whyNot(tokens);
        InFlightDiagnostic line = func.emitRemark();
        line << stringifyCommMethod(*method)
             << (why.empty() ? " legal" : " illegal: ") << why;
      }
    if (!cost)
      return success();
    for (const MethodCost &c : model.getCosts()) {
      InFlightDiagnostic line = func.emitRemark();
      line << stringifyCommMethod(c.method);
      if (!c.excluded.empty()) {
        line << " excluded: " << c.excluded;
        continue;
      }
      std::string text;
      llvm::raw_string_ostream os(text);
      os << ": " << llvm::format("%.3f", c.fixedUs) << " + "
         << llvm::format("%.6f", c.perTokenUs) << " * T us";
      if (c.maxTokens != std::numeric_limits<int64_t>::max())
        os << ", up to " << c.maxTokens << " tokens";
      line << text;
    }
    return success();
  }
};
} // namespace

namespace mlir::moe::test {
void registerTestCommMethodRules() { PassRegistration<TestCommMethodRules>(); }
} // namespace mlir::moe::test
