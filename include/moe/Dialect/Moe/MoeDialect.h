//===- MoeDialect.h - the moe dialect, its attributes and types -*- C++ -*-===//
//
// Level 1 of moe-mlir: the stages of one MoE layer. See dialects/Moe/*.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_MOEDIALECT_H
#define MOE_DIALECT_MOE_MOEDIALECT_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"

#include <array>
#include <optional>

#include "moe/Dialect/Moe/MoeDialect.h.inc"
#include "moe/Dialect/Moe/MoeEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/Moe/MoeAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Moe/MoeTypes.h.inc"

namespace mlir::moe {

/// `type` (a ranked tensor) with its first (token) dimension made dynamic.
Type withDynamicTokens(Type type);

/// The `moe.layout` of the nearest ancestor of `op` (including `op`) that
/// carries one; a single-device layout when there is none. Building that
/// default needs the moe dialect: passes calling this declare it as a
/// dependent dialect (it is loaded before they run); outside a pass it is
/// loaded here when the IR holds no moe op or attribute yet.
LayoutAttr lookupLayout(Operation *op);

/// The `moe.chip` of the nearest ancestor of `op` that carries one, or null.
ChipAttr lookupChip(Operation *op);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_MOEDIALECT_H
