//===- TestMoeSetLayout.cpp - replace a module's moe.layout ---------------===//
//
// `test-moe-set-layout` moves the `test.new_layout` attribute of every op
// into its `moe.layout`, as a tool editing the deployment would. The
// verifier that runs after the pass then checks the layers under the op
// against the new layout (test/Dialect/Moe/layout-change.mlir).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/Pass/Pass.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
struct TestMoeSetLayout
    : public PassWrapper<TestMoeSetLayout, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestMoeSetLayout)
  StringRef getArgument() const final { return "test-moe-set-layout"; }
  StringRef getDescription() const final {
    return "Replace moe.layout by the test.new_layout attribute";
  }
  void runOnOperation() override {
    getOperation()->walk([](Operation *op) {
      if (Attribute layout = op->getAttr("test.new_layout")) {
        op->removeAttr("test.new_layout");
        op->setAttr(MoeDialect::kLayoutAttrName, layout);
      }
    });
  }
};
} // namespace

namespace mlir::moe::test {
void registerTestMoeSetLayout() { PassRegistration<TestMoeSetLayout>(); }
} // namespace mlir::moe::test
