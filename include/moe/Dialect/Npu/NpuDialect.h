//===- NpuDialect.h - the npu device-op dialect -----------------*- C++ -*-===//
//
// Level 2 of moe-mlir: device operators, collectives, streams and events.
// See dialects/Npu/*.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_NPU_NPUDIALECT_H
#define MOE_DIALECT_NPU_NPUDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

// The enums and attributes first: the dialect's discardable-attribute
// helpers (NpuDialect::SharedExpertAttrHelper) use them.
#include "moe/Dialect/Npu/NpuEnums.h.inc"
#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/Npu/NpuAttrs.h.inc"
#include "moe/Dialect/Npu/NpuDialect.h.inc"

namespace mlir::npu {
/// The device's streams as one side-effect resource (Npu_StreamResource in
/// dialects/Npu/NpuDialect.td): device ops read it, synchronization and
/// rendezvous ops write it. See docs/Streams.md, "Effects".
struct StreamResource : public SideEffects::Resource::Base<StreamResource> {
  StringRef getName() final { return "npu.streams"; }
};

namespace OpTrait {
/// The op can fail at run time (Npu_MayFailAtRunTime): it is not speculatable,
/// so no pass executes it on a path the program would not take.
template <typename ConcreteType>
class MayFailAtRunTime
    : public ::mlir::OpTrait::TraitBase<ConcreteType, MayFailAtRunTime> {
public:
  ::mlir::Speculation::Speculatability getSpeculatability() {
    return ::mlir::Speculation::NotSpeculatable;
  }
};

/// The op moves routed rows toward their experts (Npu_DispatchesRows).
template <typename ConcreteType>
class DispatchesRows
    : public ::mlir::OpTrait::TraitBase<ConcreteType, DispatchesRows> {};

/// A `#npu.packed` tensor is only npu.pack_weights's result and
/// npu.grouped_matmul's weight (Npu_PackedWhereRead; NpuOps.cpp).
LogicalResult verifyPackedTensors(Operation *op);
template <typename ConcreteType>
class PackedWhereRead
    : public ::mlir::OpTrait::TraitBase<ConcreteType, PackedWhereRead> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return verifyPackedTensors(op);
  }
};

/// The op processes weights once before the first step (Npu_RunsAtLoadTime).
template <typename ConcreteType>
class RunsAtLoadTime
    : public ::mlir::OpTrait::TraitBase<ConcreteType, RunsAtLoadTime> {};
} // namespace OpTrait
} // namespace mlir::npu

namespace mlir::npu {
/// torch_npu's number of a quant mode: what the textual form prints and the
/// runtime receives (-1 / 1 for init-routing, 0 / 2 for MC2 dispatch).
inline int64_t torchQuantMode(RoutingQuantMode mode) {
  return mode == RoutingQuantMode::Dynamic ? 1 : -1;
}
inline int64_t torchQuantMode(DispatchQuantMode mode) {
  return static_cast<int64_t>(mode);
}
/// The quant mode torch_npu numbers `number`, if any.
inline std::optional<RoutingQuantMode> routingQuantModeFromTorch(int64_t n) {
  if (n == -1)
    return RoutingQuantMode::None;
  if (n == 1)
    return RoutingQuantMode::Dynamic;
  return std::nullopt;
}
inline std::optional<DispatchQuantMode> dispatchQuantModeFromTorch(int64_t n) {
  return symbolizeDispatchQuantMode(static_cast<uint64_t>(n));
}
} // namespace mlir::npu

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/Npu/NpuTypes.h.inc"

namespace mlir::npu {
// Npu_QuantFusableDispatchOpInterface takes one (by reference: it is defined
// after the interfaces).
class DynamicQuantOp;
} // namespace mlir::npu

#include "moe/Dialect/Npu/NpuInterfaces.h.inc"

#define GET_OP_CLASSES
#include "moe/Dialect/Npu/NpuOps.h.inc"

#endif // MOE_DIALECT_NPU_NPUDIALECT_H
