//===- TestMoeQueries.cpp - print the C++ queries of moe attributes -------===//
//
// `test-moe-queries` reports, as remarks, what the C++ queries of the
// `moe.layout` and `moe.chip` attributes compute, so lit tests can check the
// flattening rule (SEMANTICS §1) and the chip table.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/Pass/Pass.h"

#include <cstdio>

using namespace mlir;
using namespace mlir::moe;

namespace {
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
    return "Report the C++ queries of moe.layout and moe.chip as remarks";
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
