//===- MoeDialect.td - the moe dialect ---------------------*- tablegen -*-===//
//
// Level 1 of moe-mlir: what one Mixture-of-Experts layer computes, stage by
// stage, independent of how tokens travel between ranks.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_TD
#define MOE_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Moe_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "The stages of a Mixture-of-Experts layer on an expert-parallel cluster";
  let description = [{
    The `moe` dialect describes one MoE layer as the six stages every
    communication method shares (see `docs/Rationale.md`):

    ```
    moe.prepare -> moe.gate -> moe.dispatch -> moe.experts -> moe.combine -> moe.finalize
                                               (+ moe.shared_experts)
    ```

    Stage bookkeeping is explicit: `moe.prepare` hands `moe.finalize` a
    `!moe.prepare_ctx` and `moe.dispatch` hands `moe.combine` a
    `!moe.dispatch_ctx`. Both types carry the communication method, so the
    four method-dependent stages of a layer agree on it by construction.

    The parallel layout and the target chip are properties of the deployment,
    not of one op. They are attached to an enclosing operation (usually the
    module) as the discardable attributes `moe.layout` (a `#moe.layout`) and
    `moe.chip` (a `#moe.chip`); ops look them up from their nearest ancestor.
    Without a `moe.layout`, a single device is assumed.

    ```mlir
    module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>,
                       moe.chip = #moe.chip<A3>} { ... }
    ```
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasConstantMaterializer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let extraClassDeclaration = [{
    /// Names of the discardable attributes this dialect understands.
    static constexpr ::llvm::StringLiteral kLayoutAttrName = "moe.layout";
    static constexpr ::llvm::StringLiteral kChipAttrName = "moe.chip";
    /// Argument attribute naming an entry argument for drivers (moe-run).
    static constexpr ::llvm::StringLiteral kNameAttrName = "moe.name";

    void registerAttributes();
    void registerTypes();
  }];
}

class Moe_Op<string mnemonic, list<Trait> traits = []>
    : Op<Moe_Dialect, mnemonic, traits>;

#endif // MOE_DIALECT_TD
