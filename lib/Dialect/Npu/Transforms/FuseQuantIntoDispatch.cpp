//===- FuseQuantIntoDispatch.cpp - quantize before the communication ------===//
//
// moe-fuse-quant-into-dispatch (SEMANTICS §7): the `npu.dynamic_quant` that
// convert-moe-to-npu puts after a dispatch (docs/Expansion.md) moves into or
// before it, so int8 rows plus one f32 scale per row travel. The pass asks
// the producer of each dynamic_quant's input for
// Npu_QuantFusableDispatchOpInterface and lets it rewrite; the rewrites, and
// why each is legal, are in lib/Dialect/Npu/NpuQuantFusion.cpp.
//
// No greedy driver: the pass analyses every dynamic_quant and rewrites with an
// IRRewriter, so nothing but the matched ops may change, and every refusal is
// reported once, as a remark on the dynamic_quant.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Npu/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_FUSEQUANTINTODISPATCH
#include "moe/Dialect/Npu/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::npu;

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

namespace {
struct FuseQuantIntoDispatchPass
    : public mlir::moe::impl::FuseQuantIntoDispatchBase<
          FuseQuantIntoDispatchPass> {
  using FuseQuantIntoDispatchBase::FuseQuantIntoDispatchBase;

  void runOnOperation() override {
    // Collect first: a rewrite erases the dynamic_quant and ops before it.
    SmallVector<DynamicQuantOp> quants;
    getOperation().walk([&](DynamicQuantOp dq) { quants.push_back(dq); });
    IRRewriter rewriter(&getContext());
    for (DynamicQuantOp dq : quants)
      if (auto dispatch = dyn_cast_or_null<QuantFusableDispatchOpInterface>(
              dq.getX().getDefiningOp()))
        (void)dispatch.fuseDynamicQuant(dq, rewriter);
    // fp8 / fp4 rows of the descriptor schemes (docs/Quantization.md): the real
    // dispatch operators quantize only to int8 per token, so these stay.
    getOperation().walk([](QuantDequantOp qd) {
      Operation *producer = qd.getX().getDefiningOp();
      if (!isa_and_nonnull<QuantFusableDispatchOpInterface>(producer))
        return;
      int64_t group = static_cast<int64_t>(qd.getGroupSize());
      InFlightDiagnostic remark = qd.emitRemark()
          << "not fused into '" << producer->getName()
          << "': the dispatch operators quantize only to int8 per token, "
             "these rows are "
          << stringifyQuantFormat(qd.getFormat());
      if (qd.getFormat() == QuantFormat::Mxfp4)
        remark << " (e2m1 in blocks of " << group
               << " columns, each with an e8m0 scale)";
      else if (qd.getFormat() == QuantFormat::Nvfp4)
        remark << " (e2m1 in blocks of " << group
               << " columns, each with an e4m3 scale, and a global f32 "
                  "scale)";
      else if (group)
        remark << " per group of " << group << " columns";
      else
        remark << " per token";
    });
  }
};
} // namespace
