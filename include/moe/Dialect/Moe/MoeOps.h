//===- MoeOps.h - operations of the moe dialect -----------------*- C++ -*-===//

#ifndef MOE_DIALECT_MOE_MOEOPS_H
#define MOE_DIALECT_MOE_MOEOPS_H

#include "moe/Dialect/Moe/MoeDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "moe/Dialect/Moe/MoeOps.h.inc"

namespace mlir::moe {

//===----------------------------------------------------------------------===//
// Deployment rules (lib/Dialect/Moe/MoeDeployment.cpp)
//===----------------------------------------------------------------------===//
//
// Op verifiers look only at their own operands, attributes and types. The
// rules that relate an op to the deployment (`moe.layout` on an enclosing
// op) or to the op that made its context are checked by
// MoeDialect::verifyOperationAttribute on the op carrying `moe.layout`, for
// every layer under it, so editing that attribute re-verifies the layers.

/// Why `dispatch` cannot run with `method` under `layout` (the method rule
/// above, then how its physical experts split over the expert-parallel
/// ranks), or "".
std::string checkDispatchDeployment(DispatchOp dispatch, CommMethod method,
                                    LayoutAttr layout);

/// Checks the deployment rules of every moe op under `root` (not under a
/// nested op with its own `moe.layout`) against `layout`: every
/// `moe.dispatch` (checkDispatchDeployment), every `moe.finalize` against
/// its `moe.prepare` and every `moe.combine` against its `moe.dispatch`.
/// Errors are reported at the op, with a note at `layoutHolder` when it is
/// not null. Ops that fail their own invariants are left to their verifier.
LogicalResult verifyDeployment(Operation *root, LayoutAttr layout,
                               Operation *layoutHolder);

/// Block of one scale of weights `[K, N]` quantized as `desc` (int8 or fp8
/// weights of a spelled-out `#moe.quant`): {along K, along N}. No group
/// shape or per_tensor: {K, N}; per_token (per output channel): {K, 1};
/// per_column: {1, N}; block [r, c]: {c, r}. Their scales are
/// [L, K / first, N / second] f32 (docs/Quantization.md).
std::pair<int64_t, int64_t> weightScaleBlock(QuantDescAttr desc, int64_t k,
                                             int64_t n);
/// Whether `desc` quantizes weights to int8 or fp8 (one value per element,
/// a float scale per block): the weights weightScaleBlock describes.
bool isScaledWeightDesc(QuantDescAttr desc);
/// Whether weights of `desc` are packed fp4 (mxfp4 / nvfp4): two e2m1
/// values per byte along K, [L, K / 2, N] i8, with micro-block scales.
bool isPackedFp4WeightDesc(QuantDescAttr desc);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_MOEOPS_H
