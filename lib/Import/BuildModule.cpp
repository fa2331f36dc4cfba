//===- BuildModule.cpp - one function per imported MoE layer --------------===//
//
// Builds, for every requested decoder layer, `func.func @layer_N` in the form
// of examples/deepseek_v3.mlir: prepare, gate, dispatch, experts, combine,
// shared experts and finalize, with the weights of the rank's local experts
// as arguments named as the checkpoint names them (moe.name). The method is
// left unset for moe-select-comm-method.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"
#include "moe/Dialect/Moe/MoeOps.h"
#include "moe/Import/HfConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

llvm::Error importError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "import: " + message);
}

/// Builds the argument list and the body of one layer function.
class LayerBuilder {
public:
  LayerBuilder(MLIRContext &ctx, const ModelSpec &spec, ImportQuant quant,
               int64_t groupSize, int64_t local, int64_t inter,
               int64_t redundant)
      : ctx(ctx), b(&ctx), spec(spec), quant(quant), groupSize(groupSize),
        local(local), inter(inter), redundant(redundant) {}

  void build(ModuleOp module, int64_t layer);

private:
  Type floatType() {
    if (spec.dtype == "f16")
      return b.getF16Type();
    if (spec.dtype == "f32")
      return b.getF32Type();
    return b.getBF16Type();
  }
  Type weightElement() {
    switch (quant) {
    case ImportQuant::None:
      return floatType();
    case ImportQuant::W8A8Dynamic:
      return b.getIntegerType(8);
    case ImportQuant::W4A8Dynamic:
      return b.getIntegerType(4);
    case ImportQuant::Fp8Block:
      return b.getType<Float8E4M3FNType>();
    }
    llvm_unreachable("quant");
  }
  RankedTensorType tensor(ArrayRef<int64_t> shape, Type element) const {
    return RankedTensorType::get(shape, element);
  }
  /// Adds a named argument and returns its index.
  unsigned arg(StringRef name, Type type) {
    names.push_back(name.str());
    types.push_back(type);
    return types.size() - 1;
  }

  /// The weight arguments of one MLP (`lead` is {L} for the routed
  /// experts, {} for the shared ones), in experts' operand order: w13, w2,
  /// scales, group scales.
  struct Mlp {
    unsigned w13, w2;
    std::optional<unsigned> s13, s2, g13, g2;
  };
  Mlp mlpArgs(StringRef prefix, ArrayRef<int64_t> lead, int64_t mid) {
    auto shape = [&](std::initializer_list<int64_t> tail) {
      SmallVector<int64_t> s(lead);
      s.append(tail);
      return s;
    };
    int64_t h = spec.hidden;
    Type el = weightElement(), f32 = b.getF32Type();
    Mlp m;
    std::string p = prefix.str();
    m.w13 = arg(p + "w13", tensor(shape({h, 2 * mid}), el));
    m.w2 = arg(p + "w2", tensor(shape({mid, h}), el));
    bool sharedW4 = quant == ImportQuant::W4A8Dynamic && lead.empty();
    if (quant == ImportQuant::W8A8Dynamic ||
        (quant == ImportQuant::W4A8Dynamic && !sharedW4)) {
      m.s13 = arg(p + "w13_scale", tensor(shape({2 * mid}), f32));
      m.s2 = arg(p + "w2_scale", tensor(shape({h}), f32));
    }
    if (quant == ImportQuant::W4A8Dynamic) {
      m.g13 = arg(p + "w13_group_scale",
                  tensor(shape({h / groupSize, 2 * mid}), f32));
      m.g2 = arg(p + "w2_group_scale", tensor(shape({mid / groupSize, h}), f32));
    }
    if (quant == ImportQuant::Fp8Block) {
      int64_t bk = spec.quantBlock[1], bn = spec.quantBlock[0];
      m.s13 = arg(p + "w13_scale", tensor(shape({h / bk, 2 * mid / bn}), f32));
      m.s2 = arg(p + "w2_scale", tensor(shape({mid / bk, h / bn}), f32));
    }
    return m;
  }

  QuantAttr quantAttr() {
    switch (quant) {
    case ImportQuant::None:
      return {};
    case ImportQuant::W8A8Dynamic:
      return QuantAttr::get(&ctx, QuantScheme::W8A8Dynamic);
    case ImportQuant::W4A8Dynamic:
      return QuantAttr::get(&ctx, QuantScheme::W4A8Dynamic, groupSize);
    case ImportQuant::Fp8Block: {
      auto act = QuantDescAttr::get(&ctx, QuantDtype::FP8E4M3, 1,
                                    spec.quantBlock[1]);
      auto w = QuantDescAttr::get(&ctx, QuantDtype::FP8E4M3,
                                  spec.quantBlock[0], spec.quantBlock[1]);
      return QuantAttr::get(&ctx, act, act, w, w);
    }
    }
    llvm_unreachable("quant");
  }

  MLIRContext &ctx;
  OpBuilder b;
  const ModelSpec &spec;
  ImportQuant quant;
  int64_t groupSize, local, inter, redundant;
  SmallVector<std::string> names;
  SmallVector<Type> types;
};

void LayerBuilder::build(ModuleOp module, int64_t layer) {
  names.clear();
  types.clear();
  int64_t h = spec.hidden, e = spec.experts, k = spec.topK;
  Type ft = floatType(), f32 = b.getF32Type(), i32 = b.getI32Type();
  unsigned x = arg("x", tensor({ShapedType::kDynamic, h}, ft));
  unsigned logits = arg("logits", tensor({ShapedType::kDynamic, e}, f32));
  std::optional<unsigned> bias, log2phy, expertMap;
  if (spec.correctionBias)
    bias = arg("e_score_correction_bias", tensor({e}, f32));
  if (redundant) {
    log2phy = arg("log2phy", tensor({e}, i32));
    expertMap = arg("expert_map", tensor({e + redundant}, i32));
  }
  Mlp routed = mlpArgs("", {local}, inter);
  std::optional<Mlp> shared;
  if (spec.sharedIntermediate)
    shared = mlpArgs("shared_", {}, spec.sharedIntermediate);
  std::optional<unsigned> sharedGate;
  if (spec.sharedIntermediate && spec.sharedExpertGate)
    sharedGate = arg("shared_expert_gate", tensor({h, 1}, ft));

  b.setInsertionPointToEnd(module.getBody());
  Location loc = NameLoc::get(b.getStringAttr("layer_" + std::to_string(layer)));
  auto fn = b.create<func::FuncOp>(
      loc, "layer_" + std::to_string(layer),
      b.getFunctionType(types, {tensor({ShapedType::kDynamic, h}, ft)}));
  for (auto [i, name] : llvm::enumerate(names))
    fn.setArgAttr(i, MoeDialect::kNameAttrName, b.getStringAttr(name));
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  auto a = [&](std::optional<unsigned> i) -> Value {
    return i ? body->getArgument(*i) : Value();
  };

  Type hiddenTy = types[x], logitsTy = types[logits];
  auto unset = CommMethod::Unset;
  auto prep = b.create<PrepareOp>(loc, hiddenTy, logitsTy,
                                  PrepareCtxType::get(&ctx, unset), a(x),
                                  a(logits), IntegerAttr());
  auto weightsTy = tensor({ShapedType::kDynamic, k}, f32);
  auto idsTy = tensor({ShapedType::kDynamic, k}, i32);
  auto gate = b.create<GateOp>(
      loc, weightsTy, idsTy, prep.getPreparedLogits(), a(bias), k,
      spec.sigmoid ? ScoringFunc::Sigmoid : ScoringFunc::Softmax,
      spec.renormalize,
      spec.numExpertGroups ? b.getI64IntegerAttr(spec.numExpertGroups)
                           : IntegerAttr(),
      spec.numExpertGroups ? b.getI64IntegerAttr(spec.topkGroup)
                           : IntegerAttr(),
      /*balanced=*/false, llvm::APFloat(float(spec.routedScalingFactor)));
  auto dispatch = b.create<DispatchOp>(
      loc, hiddenTy, tensor({local}, b.getI64Type()),
      DispatchCtxType::get(&ctx, unset), prep.getPreparedHidden(),
      gate.getWeights(), gate.getIds(), a(log2phy), a(expertMap), e, redundant,
      spec.routerWeightOnInput);
  auto experts = b.create<ExpertsOp>(
      loc, hiddenTy, dispatch.getRows(), dispatch.getCounts(), a(routed.w13),
      a(routed.w2), a(routed.s13), a(routed.s2), a(routed.g13), a(routed.g2),
      Value(), Value(), quantAttr());
  auto combine =
      b.create<CombineOp>(loc, hiddenTy, experts.getResult(), dispatch.getCtx());
  Value sharedOut;
  if (shared)
    sharedOut = b.create<SharedExpertsOp>(
        loc, hiddenTy, a(x), a(shared->w13), a(shared->w2), a(shared->s13),
        a(shared->s2), a(shared->g13), a(shared->g2), a(sharedGate),
        quantAttr());
  auto out = b.create<FinalizeOp>(loc, hiddenTy, combine.getResult(),
                                  prep.getCtx(), sharedOut);
  b.create<func::ReturnOp>(loc, out.getResult());
}

} // namespace

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::moe::buildModelModule(MLIRContext &ctx, const ModelSpec &spec,
                            const ImportOptions &options) {
  ctx.loadDialect<MoeDialect, func::FuncDialect>();
  std::optional<ChipKind> chip = symbolizeChipKind(options.chip);
  if (!chip)
    return importError("unknown chip '" + options.chip +
                       "'; expected A2, A3, A5 or A310P");
  if (options.tp < 1 || options.dp < 1 ||
      options.tp * options.dp > LayoutAttr::kMaxDevices)
    return importError("tp and dp must be at least 1 and span at most " +
                       llvm::Twine(LayoutAttr::kMaxDevices) + " devices");
  int64_t shared = options.sharedExpertRanks, world = options.tp * options.dp;
  if (shared < 0 ||
      (shared > 0 && (!options.expertParallel || world == 1 ||
                      shared >= world || world % shared != 0)))
    return importError("--shared-expert-ranks " + llvm::Twine(shared) +
                       " must divide the EP ranks (--ep with tp * dp = " +
                       llvm::Twine(world) +
                       ") and leave ranks for the routed experts");
  if (shared > 0 && !spec.sharedIntermediate)
    return importError("--shared-expert-ranks reserves ranks for the shared "
                       "experts, and the model has none");
  auto layout = LayoutAttr::get(&ctx, options.tp, options.dp, /*pp=*/1,
                                options.expertParallel,
                                /*sequence_parallel=*/false, /*pcp=*/1,
                                shared);
  int64_t physical = spec.experts + options.redundantExperts;
  // Routed experts live on the EP ranks that are not shared-expert ranks.
  int64_t ep = layout.getRoutedEpSize(), moeTp = layout.getMoeTpSize();
  if (options.redundantExperts && !layout.useEp())
    return importError("redundant experts (EPLB) need expert parallelism "
                       "(--ep with tp * dp > 1)");
  if (physical % ep)
    return importError(llvm::Twine(physical) + " physical experts do not "
                       "divide over the " + llvm::Twine(ep) +
                       (shared ? " routed-expert EP ranks" : " EP ranks"));
  if (spec.intermediate % moeTp)
    return importError("the experts' intermediate size " +
                       llvm::Twine(spec.intermediate) +
                       " does not divide over the " + llvm::Twine(moeTp) +
                       " ranks that shard each expert");
  if (!options.quant && !spec.quantUnsupported.empty())
    return importError(spec.quantUnsupported +
                       "; pass --quant=none to import the layers in the "
                       "model's float type, or --quant=w8a8_dynamic / "
                       "w4a8_dynamic for an Ascend deployment");
  ImportQuant quant = options.quant.value_or(spec.quant);
  if (quant == ImportQuant::W4A8Dynamic &&
      (options.groupSize < 1 || spec.hidden % options.groupSize ||
       (spec.intermediate / moeTp) % options.groupSize ||
       spec.sharedIntermediate % options.groupSize))
    return importError("the w4a8 group size " + llvm::Twine(options.groupSize) +
                       " must divide the hidden size and every intermediate "
                       "size");
  if (quant == ImportQuant::Fp8Block &&
      (spec.hidden % spec.quantBlock[0] || spec.hidden % spec.quantBlock[1] ||
       (2 * spec.intermediate / moeTp) % spec.quantBlock[0] ||
       (spec.intermediate / moeTp) % spec.quantBlock[1]))
    return importError("the fp8 weight blocks do not tile this deployment's "
                       "weight shards; pass --quant=none");

  std::vector<int64_t> layers = options.layers;
  if (layers.empty())
    layers = spec.moeLayers;
  for (int64_t l : layers)
    if (!llvm::is_contained(spec.moeLayers, l))
      return importError("decoder layer " + llvm::Twine(l) +
                         " is not an MoE layer of this " + spec.modelType +
                         " model (" + llvm::Twine(spec.moeLayers.size()) +
                         " MoE layers, the first is " +
                         llvm::Twine(spec.moeLayers.front()) + ")");

  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
  (*module)->setAttr(MoeDialect::kChipAttrName, ChipAttr::get(&ctx, *chip));
  (*module)->setAttr(MoeDialect::kLayoutAttrName, layout);
  LayerBuilder builder(ctx, spec, quant, options.groupSize, physical / ep,
                       spec.intermediate / moeTp, options.redundantExperts);
  for (int64_t l : layers)
    builder.build(*module, l);

  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
      diagnostics += diag.str() + "\n";
      return success();
    });
    if (failed(verify(*module)))
      return importError("the imported module does not verify:\n" +
                         diagnostics);
  }
  return std::move(module);
}
