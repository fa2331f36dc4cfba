//===- NpuOps.cpp - verifiers of npu device ops ---------------------------===//
//
// Element types and ranks are the ODS contract (dialects/Npu/NpuOps.td);
// the verifiers here check what ODS cannot state: the dimensions operands
// must share and the rules that tie types to attributes (quantization).
// Run-time quantities (row counts after a dispatch, group sizes) are checked
// by the runtime.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/NpuDialect.h"
#include "moe/Support/GateRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::npu;

// npu.step_sync has one `max_<group>` result per Group case, in enum order
// (StepSyncOp::getMaxOver): a new group needs a new result.
static_assert(getMaxEnumValForGroup() == 4 &&
                  static_cast<unsigned>(Group::PCP) == 4,
              "npu.step_sync's results must list every Group in order");

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {
bool isFloat(Type t) { return t.isF32() || t.isBF16() || t.isF16(); }
bool isI8(Type t) { return t.isSignlessInteger(8); }
bool isI32(Type t) { return t.isSignlessInteger(32); }
} // namespace

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Whether `v` is a weight in the runtime's packed layout (npu.pack_weights).
static bool isPacked(Value v) {
  return isa_and_nonnull<PackedAttr>(tensorOf(v).getEncoding());
}

LogicalResult mlir::npu::OpTrait::verifyPackedTensors(Operation *op) {
  auto packed = [](Value v) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t && isa_and_nonnull<PackedAttr>(t.getEncoding());
  };
  auto gmm = dyn_cast<GroupedMatmulOp>(op);
  for (OpOperand &use : op->getOpOperands())
    if (packed(use.get()) && !(gmm && use.get() == gmm.getWeight()))
      return op->emitOpError()
             << "takes a packed tensor (#npu.packed) as operand "
             << use.getOperandNumber()
             << ": only npu.grouped_matmul's weight may be packed";
  if (!isa<PackWeightsOp>(op))
    for (Value r : op->getResults())
      if (packed(r))
        return op->emitOpError() << "makes a packed tensor (#npu.packed): "
                                    "only npu.pack_weights does";
  return success();
}

static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Dimension `i` of `a` and dimension `j` of `b` must be able to agree.
static LogicalResult expectSameDim(Operation *op, StringRef aName, Value a,
                                   unsigned i, StringRef bName, Value b,
                                   unsigned j) {
  int64_t x = tensorOf(a).getDimSize(i), y = tensorOf(b).getDimSize(j);
  if (!compatible(x, y))
    return op->emitOpError() << "dimension " << i << " of " << aName << " ("
                             << x << ") does not match dimension " << j
                             << " of " << bName << " (" << y << ")";
  return success();
}

/// A result that keeps the input's element type and trailing dimensions
/// while its row count may change.
static LogicalResult expectRowsLike(Operation *op, Value input, Value result) {
  RankedTensorType in = tensorOf(input), out = tensorOf(result);
  if (in.getElementType() != out.getElementType() ||
      in.getRank() != out.getRank() ||
      in.getShape().drop_front() != out.getShape().drop_front())
    return op->emitOpError() << "result " << out
                             << " must keep the element type and trailing "
                                "dimensions of "
                             << in;
  return success();
}

static LogicalResult expectDimEquals(Operation *op, StringRef name, Value v,
                                     unsigned i, int64_t want) {
  int64_t got = tensorOf(v).getDimSize(i);
  if (!compatible(got, want))
    return op->emitOpError() << "dimension " << i << " of " << name
                             << " must be " << want << ", got " << got;
  return success();
}

static std::optional<int64_t> asOptional(std::optional<uint64_t> v) {
  if (v)
    return static_cast<int64_t>(*v);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// quant_mode: enums printed with torch_npu's numbers
//===----------------------------------------------------------------------===//

/// Parses the torch_npu number of an enum case into `attr`.
template <typename AttrT, typename SymbolizeFn>
static ParseResult parseTorchNumber(OpAsmParser &parser, AttrT &attr,
                                    SymbolizeFn symbolize, StringRef allowed) {
  SMLoc loc = parser.getCurrentLocation();
  int64_t number = 0;
  if (parser.parseInteger(number))
    return failure();
  auto value = symbolize(number);
  if (!value)
    return parser.emitError(loc) << "quant_mode must be " << allowed
                                 << ", got " << number;
  attr = AttrT::get(parser.getContext(), *value);
  return success();
}

static ParseResult parseTorchQuantMode(OpAsmParser &parser,
                                       RoutingQuantModeAttr &attr) {
  return parseTorchNumber(
      parser, attr, routingQuantModeFromTorch,
                          "-1 (none) or 1 (dynamic)");
}

static ParseResult parseTorchQuantMode(OpAsmParser &parser,
                                       DispatchQuantModeAttr &attr) {
  return parseTorchNumber(
      parser, attr, dispatchQuantModeFromTorch,
                          "0 (none) or 2 (dynamic)");
}

template <typename AttrT>
static void printTorchQuantMode(OpAsmPrinter &printer, Operation *,
                                AttrT attr) {
  printer << torchQuantMode(attr.getValue());
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

LogicalResult MoeGatingTopKOp::verify() {
  Operation *op = *this;
  int64_t experts = tensorOf(getLogits()).getDimSize(1);
  if (ShapedType::isDynamic(experts))
    return emitOpError() << "needs a static number of experts";
  int64_t k = getK();
  for (Value result : {getWeights(), getIds()})
    if (failed(expectSameDim(op, "logits", getLogits(), 0, "results", result,
                             0)) ||
        failed(expectDimEquals(op, "results", result, 1, k)))
      return failure();
  if (Value bias = getBias())
    if (failed(expectDimEquals(op, "bias", bias, 0, experts)))
      return failure();
  std::string error =
      mlir::moe::checkGateConfig(experts, k, asOptional(getGroupCount()),
                                 asOptional(getKGroup()), bool(getBias()),
                                 getBalanced());
  if (!error.empty())
    return emitOpError() << error;
  return success();
}

LogicalResult MaskWeightsOp::verify() {
  for (unsigned i = 0; i < 2; ++i)
    if (failed(expectSameDim(*this, "weights", getWeights(), i, "ids",
                             getIds(), i)))
      return failure();
  return success();
}

LogicalResult RecordExpertLoadOp::verify() {
  if (Value valid = getValid())
    return expectSameDim(*this, "valid", valid, 0, "ids", getIds(), 0);
  return success();
}

LogicalResult ScaleRowsOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "weights", getWeights(), 0, "x", getX(), 0)) ||
      failed(expectDimEquals(op, "weights", getWeights(), 1, 1)))
    return failure();
  return success();
}

LogicalResult SigmoidGateOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "weight", getWeight(), 0, "x", getX(), 1)) ||
      failed(expectDimEquals(op, "weight", getWeight(), 1, 1)) ||
      failed(expectSameDim(op, "result", getResult(), 0, "x", getX(), 0)) ||
      failed(expectDimEquals(op, "result", getResult(), 1, 1)))
    return failure();
  return success();
}

LogicalResult MoeInitRoutingOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "x", getX(), 0, "expert_idx", getExpertIdx(),
                           0)) ||
      failed(expectDimEquals(op, "expert_tokens", getExpertTokens(), 0,
                             getLocalExperts())) ||
      failed(expectSameDim(op, "expanded_x", getExpandedX(), 1, "x", getX(),
                           1)))
    return failure();
  if (getLocalExperts() > getExpertNum())
    return emitOpError() << "range of " << getLocalExperts()
                         << " experts exceeds the " << getExpertNum()
                         << " experts";
  Type inElem = tensorOf(getX()).getElementType();
  Type outElem = tensorOf(getExpandedX()).getElementType();
  bool quantize = getQuantMode() == RoutingQuantMode::Dynamic;
  if (Value scale = getScale())
    if (failed(expectSameDim(op, "scale", scale, 0, "x", getX(), 0)))
      return failure();
  bool preQuantized = isI8(inElem);
  if (preQuantized && (!getScale() || quantize))
    return emitOpError() << "int8 rows need their per-token scale and "
                            "quant_mode(-1)";
  if (!preQuantized && getScale())
    return emitOpError() << "only int8 rows carry a scale";
  bool wantScale = preQuantized || quantize;
  Type wantElem = quantize ? Builder(op).getI8Type() : inElem;
  if (outElem != wantElem)
    return emitOpError() << "expanded_x must have element type " << wantElem
                         << ", got " << outElem;
  if (bool(getExpandedScale()) != wantScale)
    return emitOpError() << (wantScale ? "needs" : "takes no")
                         << " expanded_scale result";
  return success();
}

LogicalResult MoeTokenPermuteOp::verify() {
  if (failed(expectSameDim(*this, "tokens", getTokens(), 0, "indices",
                           getIndices(), 0)) ||
      failed(expectRowsLike(*this, getTokens(), getPermuted())))
    return failure();
  return success();
}

LogicalResult MoeTokenUnpermuteOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "permuted", getPermuted(), 0, "sorted_indices",
                           getSortedIndices(), 0)) ||
      failed(expectRowsLike(op, getPermuted(), getResult())))
    return failure();
  // Without probs the result has one row per permuted row (top-1).
  if (Value probs = getProbs())
    return expectSameDim(op, "result", getResult(), 0, "probs", probs, 0);
  return success();
}

bool MoeTokenUnpermuteOp::combinesExpertOutputs(bool) {
  // With probs it is the weighted reduction over k; without, a reordering.
  return static_cast<bool>(getProbs());
}

LogicalResult MogeDispatchOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "ids", getIds(), 0, "x", getX(), 0)) ||
      failed(expectSameDim(op, "weights", getWeights(), 0, "ids", getIds(),
                           0)) ||
      failed(expectSameDim(op, "weights", getWeights(), 1, "ids", getIds(),
                           1)) ||
      failed(expectRowsLike(op, getX(), getRows())) ||
      failed(expectSameDim(op, "sorted_ids", getSortedIds(), 0, "rows",
                           getRows(), 0)) ||
      failed(expectSameDim(op, "topk_scales", getTopkScales(), 0, "rows",
                           getRows(), 0)) ||
      failed(expectDimEquals(op, "topk_scales", getTopkScales(), 1, 1)) ||
      failed(expectDimEquals(op, "group_list", getGroupList(), 0,
                             getLocalExperts())))
    return failure();
  int64_t k = tensorOf(getIds()).getDimSize(1);
  int64_t perRank = getKPerRank();
  if (!ShapedType::isDynamic(k) && k % perRank != 0)
    return emitOpError() << "k_per_rank " << perRank
                         << " must divide the " << k
                         << " experts of every token (top_k / ep)";
  int64_t tokens = tensorOf(getX()).getDimSize(0);
  if (!ShapedType::isDynamic(tokens))
    return expectDimEquals(op, "rows", getRows(), 0, tokens * perRank);
  return success();
}

LogicalResult MogeCombineOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "sorted_ids", getSortedIds(), 0, "rows",
                           getRows(), 0)) ||
      failed(expectRowsLike(op, getRows(), getResult())))
    return failure();
  int64_t rows = tensorOf(getRows()).getDimSize(0);
  int64_t perRank = getKPerRank();
  if (ShapedType::isDynamic(rows))
    return success();
  if (rows % perRank != 0)
    return emitOpError() << rows << " rows are not a whole number of tokens "
                         << "with k_per_rank " << perRank;
  return expectDimEquals(op, "result", getResult(), 0, rows / perRank);
}

/// Local experts per rank of an MC2 op, or failure.
static FailureOr<int64_t> localExperts(Operation *op, int64_t experts,
                                       int64_t ranks) {
  if (experts % ranks != 0)
    return op->emitOpError() << experts << " experts cannot be split evenly "
                             << "over " << ranks << " ranks";
  return experts / ranks;
}

namespace {
/// The group arguments both MC2 ops take (seed 002 get_dispatch_mc2_kwargs
/// and get_combine_mc_kwargs), and the tensors whose presence depends on
/// the chip: `group_tp` marks an A3 call (`need_extra_args`).
struct Mc2Contract {
  Group groupEp;
  int64_t epWorldSize, moeExpertNum, globalBs;
  std::optional<Group> groupTp;
  std::optional<int64_t> tpWorldSize, tpRankId;
  int64_t expertShardType, sharedExpertRankNum;
  bool v2;
  Value mask;        // x_active_mask
  Value expertScale; // dispatch expert_scales / combine expand_scales
  StringRef expertScaleName;
};
} // namespace

/// The contract of an MC2 op; `expertScale` is the A2 hierarchical tensor.
template <typename Op>
static Mc2Contract contractOf(Op op, Value expertScale, StringRef name) {
  auto i64 = [](uint64_t v) { return static_cast<int64_t>(v); };
  return Mc2Contract{op.getGroupEp(),
                     i64(op.getEpWorldSize()),
                     i64(op.getMoeExpertNum()),
                     i64(op.getGlobalBs()),
                     op.getGroupTp(),
                     asOptional(op.getTpWorldSize()),
                     asOptional(op.getTpRankId()),
                     i64(op.getExpertShardType()),
                     i64(op.getSharedExpertRankNum()),
                     op.getV2(),
                     op.getXActiveMask(),
                     expertScale,
                     name};
}

/// The rules of the seed's conditions shared by dispatch and combine;
/// returns the local experts per rank.
static FailureOr<int64_t> verifyMc2Contract(Operation *op,
                                            const Mc2Contract &c) {
  // torch_npu: "expert_shard_type: only 0 is supported (shared-expert ranks
  // first)"; the seed passes 0.
  if (c.expertShardType != 0)
    return op->emitOpError()
           << "expert_shard_type must be 0 (shared-expert ranks first, the "
              "only placement torch_npu supports), got "
           << c.expertShardType;
  bool anyTp = c.groupTp || c.tpWorldSize || c.tpRankId;
  bool allTp = c.groupTp && c.tpWorldSize && c.tpRankId;
  if (anyTp && !allTp)
    return op->emitOpError()
           << "group_tp, tp_world_size and tp_rank_id come together (the A3 "
              "arguments, need_extra_args)";
  if (allTp) {
    if (*c.groupTp != c.groupEp)
      return op->emitOpError()
             << "group_tp must be group_ep (" << stringifyGroup(c.groupEp)
             << "): the seed passes the MC2 group for both, got "
             << stringifyGroup(*c.groupTp);
    if (*c.tpWorldSize != 1)
      return op->emitOpError()
             << "tp_world_size " << *c.tpWorldSize
             << " is not supported: the seed passes 1 (no tensor-parallel "
                "split inside the MC2 kernel)";
    if (*c.tpRankId >= *c.tpWorldSize)
      return op->emitOpError() << "tp_rank_id " << *c.tpRankId
                               << " is outside tp_world_size "
                               << *c.tpWorldSize;
  }
  // Seed 002: `if self.a3_need_extra_args and self.enable_dispatch_v2:
  // x_active_mask`.
  if (c.mask && (!c.v2 || !allTp))
    return op->emitOpError()
           << "x_active_mask is an A3 dispatch-v2 argument: it needs v2 and "
              "group_tp";
  // Seed 002: `if self.need_expert_scale: expert_scales` (hierarchical
  // communication, an A2 setting).
  if (c.expertScale && allTp)
    return op->emitOpError()
           << c.expertScaleName
           << " is the A2 hierarchical-communication argument; an A3 call "
              "(group_tp) does not take it";
  if (c.globalBs % c.epWorldSize != 0)
    return op->emitOpError() << "global_bs " << c.globalBs
                             << " must be 0 or a multiple of ep_world_size "
                             << c.epWorldSize;
  // Shared-expert ranks (torch_npu: "shared-expert ranks first"; A2's
  // kernel has none): the first S ranks of group_ep each receive a copy of
  // the tokens of ep_world_size / S ranks, the routed experts are spread
  // over the other ranks.
  int64_t shared = c.sharedExpertRankNum;
  if (shared > 0) {
    if (shared >= c.epWorldSize || c.epWorldSize % shared != 0)
      return op->emitOpError()
             << "shared_expert_rank_num " << shared
             << " must divide ep_world_size " << c.epWorldSize
             << " and leave ranks for the routed experts";
    if (!allTp)
      return op->emitOpError()
             << "shared_expert_rank_num " << shared
             << " needs the A3 arguments (group_tp): A2's kernel has no "
                "shared-expert ranks";
  }
  return localExperts(op, c.moeExpertNum, c.epWorldSize - shared);
}

/// Exactly one of expand_idx (v1) and assist_info_for_combine (v2).
static LogicalResult verifyCombineInfo(Operation *op, bool v2, Value expandIdx,
                                       Value assistInfo, StringRef what) {
  if (v2 && (expandIdx || !assistInfo))
    return op->emitOpError() << "a v2 call " << what
                             << " assist_info_for_combine, not expand_idx";
  if (!v2 && (assistInfo || !expandIdx))
    return op->emitOpError() << "a v1 call " << what
                             << " expand_idx, not assist_info_for_combine";
  return success();
}

LogicalResult MoeDistributeDispatchOp::verify() {
  Operation *op = *this;
  FailureOr<int64_t> local = verifyMc2Contract(op, contractOf(*this, getExpertScales(), "expert_scales"));
  if (failed(local) ||
      failed(verifyCombineInfo(op, getV2(), getExpandIdx(),
                               getAssistInfoForCombine(), "returns")) ||
      failed(expectSameDim(op, "x", getX(), 0, "expert_ids", getExpertIds(),
                           0)) ||
      failed(expectSameDim(op, "expand_x", getExpandX(), 1, "x", getX(), 1)) ||
      failed(expectDimEquals(op, "expert_token_nums", getExpertTokenNums(), 0,
                             *local)) ||
      failed(expectDimEquals(op, "ep_recv_counts", getEpRecvCounts(), 0,
                             *local * getEpWorldSize())))
    return failure();
  Value info = getCombineInfo();
  if (failed(expectSameDim(op, "expand_x", getExpandX(), 0,
                           getV2() ? "assist_info_for_combine" : "expand_idx",
                           info, 0)))
    return failure();
  if (Value mask = getXActiveMask())
    if (failed(expectSameDim(op, "x_active_mask", mask, 0, "x", getX(), 0)))
      return failure();
  bool quantize = getQuantMode() == DispatchQuantMode::Dynamic;
  Type outElem = tensorOf(getExpandX()).getElementType();
  Type wantElem =
      quantize ? Builder(op).getI8Type() : tensorOf(getX()).getElementType();
  if (outElem != wantElem)
    return emitOpError() << "expand_x must have element type " << wantElem
                         << ", got " << outElem;
  if (bool(getDynamicScales()) != quantize)
    return emitOpError() << (quantize ? "needs" : "takes no")
                         << " dynamic_scales result";
  if (Value scales = getScales()) {
    if (!quantize)
      return emitOpError() << "scales (smooth quantization) need "
                              "quant_mode(dynamic)";
    if (failed(expectSameDim(op, "scales", scales, 0, "x", getX(), 1)))
      return failure();
  }
  if (bool(getTpRecvCounts()) != bool(getGroupTp()))
    return emitOpError() << (getGroupTp() ? "needs a tp_recv_counts result "
                                            "with group_tp"
                                          : "returns tp_recv_counts only "
                                            "with group_tp");
  if (Value tp = getTpRecvCounts())
    if (failed(expectDimEquals(op, "tp_recv_counts", tp, 0,
                               *getTpWorldSize())))
      return failure();
  if (bool(getExpandScales()) != bool(getExpertScales()))
    return emitOpError() << "returns expand_scales exactly when it takes "
                            "expert_scales";
  if (Value scales = getExpertScales())
    if (failed(expectSameDim(op, "expert_scales", scales, 0, "expert_ids",
                             getExpertIds(), 0)) ||
        failed(expectSameDim(op, "expert_scales", scales, 1, "expert_ids",
                             getExpertIds(), 1)) ||
        failed(expectSameDim(op, "expand_scales", getExpandScales(), 0,
                             "expand_x", getExpandX(), 0)))
      return failure();
  return success();
}

LogicalResult MoeDistributeCombineOp::verify() {
  Operation *op = *this;
  FailureOr<int64_t> local = verifyMc2Contract(op, contractOf(*this, getExpandScales(), "expand_scales"));
  if (failed(local) ||
      failed(verifyCombineInfo(op, getV2(), getExpandIdx(),
                               getAssistInfoForCombine(), "takes")) ||
      failed(expectDimEquals(op, "ep_send_counts", getEpSendCounts(), 0,
                             *local * getEpWorldSize())) ||
      failed(expectSameDim(op, "expert_scales", getExpertScales(), 0,
                           "expert_ids", getExpertIds(), 0)) ||
      failed(expectSameDim(op, "expert_scales", getExpertScales(), 1,
                           "expert_ids", getExpertIds(), 1)) ||
      failed(expectRowsLike(op, getExpandX(), getResult())) ||
      failed(expectSameDim(op, "result", getResult(), 0, "expert_ids",
                           getExpertIds(), 0)))
    return failure();
  if (failed(expectSameDim(op, getV2() ? "assist_info_for_combine"
                                       : "expand_idx",
                           getCombineInfo(), 0, "expand_x", getExpandX(), 0)))
    return failure();
  if (bool(getTpSendCounts()) != bool(getGroupTp()))
    return emitOpError() << (getGroupTp() ? "needs tp_send_counts with "
                                            "group_tp"
                                          : "takes tp_send_counts only with "
                                            "group_tp");
  if (Value tp = getTpSendCounts())
    if (failed(expectDimEquals(op, "tp_send_counts", tp, 0,
                               *getTpWorldSize())))
      return failure();
  if (Value scales = getExpandScales())
    if (failed(expectSameDim(op, "expand_scales", scales, 0, "expand_x",
                             getExpandX(), 0)))
      return failure();
  if (Value mask = getXActiveMask())
    if (failed(expectSameDim(op, "x_active_mask", mask, 0, "expert_ids",
                             getExpertIds(), 0)))
      return failure();
  if (getSharedExpertX() && getSharedExpertRankNum() > 0)
    return emitOpError() << "takes shared_expert_x or shared-expert ranks "
                            "(shared_expert_rank_num "
                         << getSharedExpertRankNum()
                         << "), not both: those ranks return the shared "
                            "experts' rows themselves";
  if (Value shared = getSharedExpertX())
    if (failed(expectRowsLike(op, shared, getResult())) ||
        failed(expectSameDim(op, "shared_expert_x", shared, 0, "expert_ids",
                             getExpertIds(), 0)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Matmuls
//===----------------------------------------------------------------------===//

namespace {
/// Operands of a (grouped) matmul; `groups` is absent for npu.matmul.
struct MatmulOperands {
  Operation *op;
  Value x, weight, scale, perTokenScale, groupScale, bias, result;
  MatmulQuant quant;
  bool grouped;
};
} // namespace

static LogicalResult verifyMatmul(const MatmulOperands &m) {
  Operation *op = m.op;
  unsigned lead = m.grouped ? 1 : 0;
  const char *shape = m.grouped ? "[G, K, N]" : "[K, N]";
  RankedTensorType w = tensorOf(m.weight);
  if (isPacked(m.weight) &&
      (!m.grouped ||
       (m.quant == MatmulQuant::None && !w.getElementType().isF32())))
    return op->emitOpError() << "a packed weight (#npu.packed) is taken only "
                                "by npu.grouped_matmul: f32 with quant none, "
                                "w8a8 or w4a8";
  if (w.getRank() != 2 + lead)
    return op->emitOpError() << "weight must be " << shape << ", got " << w;
  if (failed(expectSameDim(op, "x", m.x, 1, "weight", m.weight, lead)) ||
      failed(expectSameDim(op, "result", m.result, 0, "x", m.x, 0)) ||
      failed(expectSameDim(op, "result", m.result, 1, "weight", m.weight,
                           lead + 1)))
    return failure();
  Type xElem = tensorOf(m.x).getElementType();
  Type wElem = w.getElementType();
  Type outElem = tensorOf(m.result).getElementType();
  int64_t n = w.getDimSize(lead + 1), k = w.getDimSize(lead);
  // Scale shapes: optional [G] then the listed dimensions.
  auto expectScale = [&](Value v, const char *name,
                         ArrayRef<int64_t> dims) -> LogicalResult {
    SmallVector<int64_t> want;
    if (m.grouped)
      want.push_back(w.getDimSize(0));
    want.append(dims.begin(), dims.end());
    RankedTensorType type = tensorOf(v);
    if (!type.getElementType().isF32() || type.getShape() != ArrayRef(want))
      return op->emitOpError()
             << name << " must be "
             << RankedTensorType::get(want, Builder(op).getF32Type())
             << ", got " << type;
    return success();
  };
  switch (m.quant) {
  case MatmulQuant::None:
    if (!isFloat(xElem) || !isFloat(wElem) || !isFloat(outElem))
      return op->emitOpError() << "unquantized matmul needs float x, weight "
                                  "and result, got "
                               << xElem << ", " << wElem << ", " << outElem;
    if (m.scale || m.perTokenScale || m.groupScale || m.bias)
      return op->emitOpError() << "unquantized matmul takes no scales";
    return success();
  case MatmulQuant::W8A8:
    if (m.bias)
      return op->emitOpError() << "only w4a8 takes a bias";
    if (!isI8(xElem) || !isI8(wElem))
      return op->emitOpError() << "w8a8 needs i8 x and weight, got " << xElem
                               << " and " << wElem;
    if (m.groupScale)
      return op->emitOpError() << "w8a8 takes no group scale";
    if (isI32(outElem)) {
      if (m.scale || m.perTokenScale)
        return op->emitOpError() << "an i32 result is the raw accumulator "
                                    "and takes no scales";
      return success();
    }
    if (!isFloat(outElem))
      return op->emitOpError() << "w8a8 result must be i32 or float, got "
                               << outElem;
    if (!m.scale || !m.perTokenScale)
      return op->emitOpError() << "a float w8a8 result needs scale and "
                                  "per_token_scale";
    break;
  case MatmulQuant::W4A8:
    if (!isI8(xElem) || !wElem.isSignlessInteger(4))
      return op->emitOpError() << "w4a8 needs i8 x and i4 weight, got "
                               << xElem << " and " << wElem;
    if (!isFloat(outElem))
      return op->emitOpError() << "w4a8 result must be float, got "
                               << outElem;
    if (m.bias) {
      // The kernel form: merged group scales and the bias, no scale.
      if (m.scale)
        return op->emitOpError() << "w4a8 with a bias takes merged group "
                                    "scales and no per-channel scale";
      if (!m.perTokenScale || !m.groupScale)
        return op->emitOpError() << "w4a8 with a bias needs per_token_scale "
                                    "and group_scale";
      if (failed(expectScale(m.bias, "bias", {n})))
        return failure();
    } else if (!m.scale || !m.perTokenScale || !m.groupScale) {
      return op->emitOpError() << "w4a8 needs scale, per_token_scale and "
                                  "group_scale";
    }
    {
      RankedTensorType g = tensorOf(m.groupScale);
      if (g.getRank() != 2 + lead || g.getDimSize(lead) < 1 ||
          k % g.getDimSize(lead) != 0)
        return op->emitOpError() << "group_scale " << g
                                 << " must split the reduced dimension " << k
                                 << " into equal groups";
      if (failed(expectScale(m.groupScale, "group_scale",
                             {g.getDimSize(lead), n})))
        return failure();
      if (isPacked(m.weight) && (k / g.getDimSize(lead)) % 4 != 0)
        return op->emitOpError()
               << "a packed weight (#npu.packed) is read in quads of rows: "
                  "the group size must be a multiple of 4, got "
               << k / g.getDimSize(lead);
    }
    break;
  }
  if ((m.scale && failed(expectScale(m.scale, "scale", {n}))) ||
      failed(expectSameDim(op, "per_token_scale", m.perTokenScale, 0, "x",
                           m.x, 0)))
    return failure();
  return success();
}

LogicalResult GroupedMatmulOp::verify() {
  if (tensorOf(getWeight()).getRank() == 3 &&
      failed(expectSameDim(*this, "group_list", getGroupList(), 0, "weight",
                           getWeight(), 0)))
    return failure();
  return verifyMatmul({*this, getX(), getWeight(), getScale(),
                       getPerTokenScale(), getGroupScale(), getBias(),
                       getResult(), getQuant(), /*grouped=*/true});
}

LogicalResult MatmulOp::verify() {
  return verifyMatmul({*this, getX(), getWeight(), getScale(),
                       getPerTokenScale(), getGroupScale(), getBias(),
                       getResult(), getQuant(), /*grouped=*/false});
}

LogicalResult WeightQuantMatmulOp::verify() {
  RankedTensorType w = tensorOf(getWeight());
  RankedTensorType s = tensorOf(getAntiquantScale());
  if (!w.hasStaticShape() || !s.hasStaticShape())
    return emitOpError() << "weight and antiquant_scale need static shapes";
  int64_t k = w.getDimSize(0), n = w.getDimSize(1);
  int64_t gs = static_cast<int64_t>(getGroupSize());
  if (failed(expectSameDim(*this, "x", getX(), 1, "weight", getWeight(), 0)) ||
      failed(expectSameDim(*this, "result", getResult(), 0, "x", getX(), 0)) ||
      failed(expectDimEquals(*this, "result", getResult(), 1, n)))
    return failure();
  if (k % gs != 0)
    return emitOpError() << "group_size " << gs
                         << " must divide the reduced dimension K = " << k;
  if (s.getShape() != ArrayRef<int64_t>{k / gs, n})
    return emitOpError() << "antiquant_scale must be [" << k / gs << "x" << n
                         << "] (one scale per group of " << gs
                         << " reduced rows and output channel), got " << s;
  return success();
}

LogicalResult PackWeightsOp::verify() {
  RankedTensorType w = tensorOf(getWeight()), p = tensorOf(getPacked());
  if (w.getElementType() != p.getElementType())
    return emitOpError() << "keeps the element type, got " << w << " -> "
                         << p;
  if (isPacked(getWeight()) || !isPacked(getPacked()))
    return emitOpError() << "packs a plain weight into a #npu.packed one, got "
                         << w << " -> " << p;
  if (!w.hasStaticShape() || w.getShape() != p.getShape())
    return emitOpError() << "the packed weight keeps the weight's static "
                            "shape, got "
                         << w << " -> " << p;
  return success();
}

LogicalResult W4A8ProcessWeightsOp::verify() {
  RankedTensorType w = tensorOf(getWeight());
  RankedTensorType s = tensorOf(getScale());
  RankedTensorType ss = tensorOf(getScaleSecond());
  if (s.getElementType() != ss.getElementType())
    return emitOpError() << "scale and scale_second must have one element "
                            "type, got "
                         << s.getElementType() << " and "
                         << ss.getElementType();
  if (!w.hasStaticShape() || !ss.hasStaticShape())
    return emitOpError() << "weight and scale_second need static shapes";
  // Quant version 1.0.0 (with scale_bias) packs two channels per byte.
  int64_t packing = getScaleBias() ? 2 : 1;
  int64_t l = w.getDimSize(0), n = w.getDimSize(1) * packing,
          k = w.getDimSize(2);
  if (Value sb = getScaleBias()) {
    RankedTensorType b = tensorOf(sb);
    if (b.getDimSize(0) != l || b.getDimSize(1) != n || b.getDimSize(2) < 1)
      return emitOpError() << "scale_bias must be [" << l << "x" << n
                           << "xP] (P >= 1 partial sums per channel of the "
                              "packed weight), got "
                           << b;
  }
  if (s.getShape() != ArrayRef<int64_t>{l, n, 1})
    return emitOpError() << "scale must be [" << l << "x" << n
                         << "x1] (one per output channel), got " << s;
  int64_t blocks = ss.getDimSize(2);
  if (ss.getDimSize(0) != l || ss.getDimSize(1) != n || blocks < 1 ||
      k % blocks != 0)
    return emitOpError() << "scale_second must be [" << l << "x" << n
                         << "xB] with B groups dividing K = " << k
                         << ", got " << ss;
  if (n % 2 != 0)
    return emitOpError() << "the i4 result packs rows of N = " << n
                         << " output channels two per byte: N must be even";
  auto expect = [&](Value v, const char *name,
                    ArrayRef<int64_t> shape) -> LogicalResult {
    if (tensorOf(v).getShape() != shape)
      return emitOpError() << name << " must be "
                           << RankedTensorType::get(
                                  shape, tensorOf(v).getElementType())
                           << ", got " << v.getType();
    return success();
  };
  if (failed(expect(getProcessedWeight(), "processed_weight", {l, k, n})) ||
      failed(expect(getMergedScale(), "merged_scale", {l, blocks, n})) ||
      failed(expect(getBias(), "bias", {l, n})))
    return failure();
  return success();
}

LogicalResult DispatchFfnCombineOp::verify() {
  Operation *op = *this;
  FailureOr<int64_t> local =
      localExperts(op, getMoeExpertNum(), getEpWorldSize());
  if (failed(local) ||
      failed(expectSameDim(op, "x", getX(), 0, "expert_ids", getExpertIds(),
                           0)) ||
      failed(expectSameDim(op, "probs", getProbs(), 0, "expert_ids",
                           getExpertIds(), 0)) ||
      failed(expectSameDim(op, "probs", getProbs(), 1, "expert_ids",
                           getExpertIds(), 1)) ||
      failed(expectRowsLike(op, getX(), getResult())) ||
      failed(expectSameDim(op, "result", getResult(), 0, "x", getX(), 0)) ||
      failed(expectDimEquals(op, "w13", getW13(), 0, *local)) ||
      failed(expectDimEquals(op, "w2", getW2(), 0, *local)) ||
      failed(expectSameDim(op, "w13", getW13(), 1, "x", getX(), 1)) ||
      failed(expectSameDim(op, "w2", getW2(), 2, "x", getX(), 1)))
    return failure();
  if (Value mask = getXActiveMask())
    if (failed(expectSameDim(op, "x_active_mask", mask, 0, "x", getX(), 0)))
      return failure();
  // The custom syntax pairs the scales; the generic form can give just one.
  if (bool(getScale1()) != bool(getScale2()))
    return emitOpError() << "takes scale1 and scale2 together";
  int64_t n13 = tensorOf(getW13()).getDimSize(2);
  if (n13 % 2 != 0 || tensorOf(getW2()).getDimSize(1) != n13 / 2)
    return emitOpError() << "w13 " << getW13().getType() << " and w2 "
                         << getW2().getType()
                         << " do not share an intermediate size";
  Type wElem = tensorOf(getW13()).getElementType();
  Type w2Elem = tensorOf(getW2()).getElementType();
  switch (getQuant()) {
  case MatmulQuant::None:
    if (!isFloat(wElem) || !isFloat(w2Elem) || getScale1())
      return emitOpError() << "unquantized weights must be float and take no "
                              "scales";
    return success();
  case MatmulQuant::W8A8: {
    int64_t h = tensorOf(getX()).getDimSize(1);
    if (!isI8(wElem) || !isI8(w2Elem) || !getScale1())
      return emitOpError() << "w8a8 needs i8 weights and per-channel scales";
    Type f32 = Builder(op).getF32Type();
    auto s1 = RankedTensorType::get({*local, n13}, f32);
    auto s2 = RankedTensorType::get({*local, h}, f32);
    if (getScale1().getType() != s1 || getScale2().getType() != s2)
      return emitOpError() << "scales must be " << s1 << " and " << s2;
    return success();
  }
  case MatmulQuant::W4A8:
    break;
  }
  return emitOpError() << "dispatch_ffn_combine runs unquantized or w8a8 "
                          "experts";
}

LogicalResult DynamicQuantOp::verify() {
  Operation *op = *this;
  if (failed(expectSameDim(op, "q", getQ(), 0, "x", getX(), 0)) ||
      failed(expectSameDim(op, "q", getQ(), 1, "x", getX(), 1)) ||
      failed(expectSameDim(op, "scale", getScale(), 0, "x", getX(), 0)))
    return failure();
  return success();
}

/// `out [N, I]` is the activation of `in [N, 2I]`.
static LogicalResult expectHalf(Operation *op, Value in, Value out) {
  int64_t n = tensorOf(in).getDimSize(1), half = tensorOf(out).getDimSize(1);
  if (failed(expectSameDim(op, "result", out, 0, "x", in, 0)))
    return failure();
  if (ShapedType::isDynamic(n) || n % 2 != 0 || half != n / 2)
    return op->emitOpError() << "maps [N, 2I] to [N, I], got "
                             << in.getType() << " to " << out.getType();
  return success();
}

LogicalResult SwigluOp::verify() {
  Operation *op = *this;
  return expectHalf(op, getX(), getResult());
}

LogicalResult DequantSwigluQuantOp::verify() {
  Operation *op = *this;
  if (failed(expectHalf(op, getX(), getQ())) ||
      failed(expectSameDim(op, "weight_scale", getWeightScale(), 1, "x",
                           getX(), 1)) ||
      failed(expectSameDim(op, "weight_scale", getWeightScale(), 0,
                           "group_list", getGroupList(), 0)) ||
      failed(expectSameDim(op, "activation_scale", getActivationScale(), 0,
                           "x", getX(), 0)))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// All-to-all-v bookkeeping, collectives, rows
//===----------------------------------------------------------------------===//

LogicalResult HistogramOp::verify() {
  return expectDimEquals(*this, "result", getResult(), 0, getBins());
}

LogicalResult AllToAllSplitsOp::verify() {
  if (failed(expectDimEquals(*this, "tokens_per_expert", getTokensPerExpert(),
                             0, getLocalExperts())))
    return failure();
  int64_t experts = tensorOf(getLocalCounts()).getDimSize(0);
  if (!ShapedType::isDynamic(experts) &&
      experts % static_cast<int64_t>(getLocalExperts()) != 0)
    return emitOpError() << getLocalExperts()
                         << " local experts do not divide the " << experts
                         << " experts";
  return success();
}

LogicalResult AllGatherOp::verify() {
  return expectRowsLike(*this, getInput(), getResult());
}

LogicalResult ReduceScatterOp::verify() {
  if (!isFloat(tensorOf(getInput()).getElementType()))
    return emitOpError() << "reduces float tensors, got " << getInput().getType();
  return expectRowsLike(*this, getInput(), getResult());
}

LogicalResult AllToAllVOp::verify() {
  return expectRowsLike(*this, getInput(), getResult());
}

bool AllToAllVOp::combinesExpertOutputs(bool expertsRan) {
  return expertsRan;
}

LogicalResult PadRowsOp::verify() {
  return expectRowsLike(*this, getInput(), getResult());
}

LogicalResult SliceRowsOp::verify() {
  return expectRowsLike(*this, getInput(), getResult());
}

LogicalResult TensorSplitOp::verify() {
  return expectRowsLike(*this, getInput(), getResult());
}

#define GET_OP_CLASSES
#include "moe/Dialect/Npu/NpuOps.cpp.inc"
