//===- TestMoeQueries.cpp - print the C++ queries of moe attributes -------===//
//
// `test-moe-queries` reports, as remarks, what the C++ queries of the
// `moe.layout` and `moe.chip` attributes compute, so lit tests can check the
// flattening rule (SEMANTICS §1) and the chip table; and seed 003's
// FusedMoEQuantConfig queries of every #moe.quant attribute of an op, and
// what `QuantAttr::make` builds from a `test.make` dictionary
// {quant_dtype = "fp8_e4m3", weight_dtype = "mxfp4", per_act_token,
// per_out_ch, block = [r, c]}.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/Pass/Pass.h"

#include <cstdio>

using namespace mlir;
using namespace mlir::moe;

namespace {
template <typename T> std::string shape(const std::optional<T> &dims) {
  if (!dims)
    return "None";
  std::string out = "(";
  for (size_t i = 0; i < dims->size(); ++i)
    out += (i ? ", " : "") + std::to_string((*dims)[i]);
  return out + ")";
}

std::string str(std::optional<StringRef> s) {
  return s ? ("'" + *s + "'").str() : "None";
}

void reportQuant(Operation *op, StringRef name, QuantAttr q) {
  MLIRContext *ctx = op->getContext();
  std::optional<QuantDtype> dtype = q.getQuantDtype();
  op->emitRemark() << name << ": quant_dtype "
                   << (dtype ? stringifyQuantDtype(*dtype) : "None")
                   << ", is_quantized " << q.isQuantized()
                   << ", per_act_token " << q.isPerActToken()
                   << ", per_out_ch " << q.isPerOutChQuant()
                   << ", per_tensor " << q.isPerTensor() << ", block_shape "
                   << shape(q.getBlockShape());
  op->emitRemark() << name << ": fp8_w8a8 " << q.useFp8W8A8()
                   << ", int8_w8a8 " << q.useInt8W8A8() << ", int8_w8a16 "
                   << q.useInt8W8A16() << ", int4_w4a16 " << q.useInt4W4A16()
                   << ", int4_w4a8 " << q.useInt4W4A8() << ", mxfp4_w4a16 "
                   << q.useMxfp4W4A16() << ", mxfp4_w4a4 " << q.useMxfp4W4A4()
                   << ", nvfp4_w4a4 " << q.useNvfp4W4A4();
  op->emitRemark() << name << ": ocp_mx_scheme " << str(q.getOcpMxScheme())
                   << ", config_name(bf16) "
                   << str(q.getConfigName(BFloat16Type::get(ctx)))
                   << ", config_name(f32) "
                   << str(q.getConfigName(Float32Type::get(ctx)))
                   << ", scale_shape(8, 300) " << shape(q.getScaleShape(8, 300))
                   << ", batched_scale_shape(4, 8, 300) "
                   << shape(q.getBatchedScaleShape(4, 8, 300));
}

/// QuantAttr::make from a `test.make` dictionary; remarks the result.
void reportMake(Operation *op, DictionaryAttr args) {
  auto dtype = [&](StringRef key) -> std::optional<QuantDtype> {
    if (auto s = args.getAs<StringAttr>(key))
      return symbolizeQuantDtype(s.getValue());
    return std::nullopt;
  };
  std::optional<std::array<int64_t, 2>> block;
  if (auto b = args.getAs<DenseI64ArrayAttr>("block"); b && b.size() == 2)
    block = std::array<int64_t, 2>{b[0], b[1]};
  QuantAttr q = QuantAttr::make(
      [&] { return op->emitError("make: "); }, op->getContext(),
      dtype("quant_dtype"), args.contains("per_act_token"),
      args.contains("per_out_ch"), block, dtype("weight_dtype"));
  if (!q)
    return;
  op->emitRemark() << "make: " << Attribute(q);
  reportQuant(op, "made", q);
}

std::string fmt(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

struct TestMoeQueries
    : public PassWrapper<TestMoeQueries, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestMoeQueries)
  StringRef getArgument() const final { return "test-moe-queries"; }
  StringRef getDescription() const final {
    return "Report the C++ queries of moe.layout, moe.chip and #moe.quant "
           "attributes as remarks";
  }
  void runOnOperation() override {
    getOperation()->walk([](Operation *op) {
      if (auto layout =
              op->getAttrOfType<LayoutAttr>(MoeDialect::kLayoutAttrName)) {
        op->emitRemark() << "world " << layout.getWorldSize() << ", flat tp "
                         << layout.getFlatTpSize() << ", ep "
                         << layout.getEpSize() << ", moe tp "
                         << layout.getMoeTpSize() << ", use_ep "
                         << layout.useEp() << ", all2all kernels "
                         << layout.useAll2AllKernels();
        for (int64_t dp = 0; dp < layout.getDp(); ++dp)
          for (int64_t tp = 0; tp < layout.getTp(); ++tp) {
            LayoutAttr::RankView v = layout.flatten(dp, tp);
            op->emitRemark() << "device (dp " << dp << ", tp " << tp
                             << "): tp " << v.tpSize << "/" << v.tpRank
                             << " dp " << v.dpSize << "/" << v.dpRank << " ep "
                             << v.epSize << "/" << v.epRank;
          }
      }
      for (NamedAttribute attr : op->getAttrs()) {
        if (auto q = dyn_cast<QuantAttr>(attr.getValue()))
          reportQuant(op, attr.getName(), q);
        if (attr.getName() == "test.make")
          if (auto args = dyn_cast<DictionaryAttr>(attr.getValue()))
            reportMake(op, args);
      }
      if (auto chip = op->getAttrOfType<ChipAttr>(MoeDialect::kChipAttrName))
        op->emitRemark() << "chip " << stringifyChipKind(chip.getKind())
                         << ": mc2 capacity " << chip.getMc2Capacity()
                         << ", link " << fmt(chip.getLinkGBps()) << " GB/s, "
                         << fmt(chip.getLinkLatencyUs()) << " us, fused mc2 ep "
                         << chip.getFusedMc2EpLimit(false) << " (megamoe "
                         << chip.getFusedMc2EpLimit(true) << ")";
    });
  }
};
} // namespace

namespace mlir::moe::test {
void registerTestMoeQueries() { PassRegistration<TestMoeQueries>(); }
} // namespace mlir::moe::test
