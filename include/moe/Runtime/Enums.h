//===- Enums.h - the runtime's enums, from the npu ODS ----------*- C++ -*-===//
//
// Every enum the compiled code passes to the runtime is defined once, as an
// I32EnumAttr of the npu dialect (dialects/Npu/NpuDialect.td). moe-tblgen
// writes each as a C enum plus an X-macro of its cases into the generated
// moe/Runtime/RuntimeAbi.h; the runtime's scoped enums below are expanded
// from those X-macros, so their names and numbers are the dialect's.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_ENUMS_H
#define MOE_RUNTIME_ENUMS_H

#include "moe/Runtime/RuntimeAbi.h"

#include <cstdint>

namespace moert {

#define MOERT_ENUMERATOR(symbol, value, keyword) symbol = value,

/// Element types. I4 packs two values per byte (element 2i in the low
/// nibble, 2i+1 in the high nibble, signed two's complement); I1 uses one
/// byte per element (0 or 1).
enum class DType : int32_t { MOERT_NPU_DTYPE_CASES(MOERT_ENUMERATOR) };
/// Communication group of a collective.
enum class Group : int32_t { MOERT_NPU_GROUP_CASES(MOERT_ENUMERATOR) };
/// Reduction of a collective.
enum class ReduceKind : int32_t {
  MOERT_NPU_REDUCE_KIND_CASES(MOERT_ENUMERATOR)
};
/// Router scoring function.
enum class Scoring : int32_t { MOERT_NPU_SCORING_CASES(MOERT_ENUMERATOR) };
/// How a group list gives the row groups of a grouped operator.
enum class GroupListType : int32_t {
  MOERT_NPU_GROUP_LIST_TYPE_CASES(MOERT_ENUMERATOR)
};
/// Element format of quantized values (npu.quant_dequant,
/// npu.dequantize_weights).
enum class QuantFormat : int32_t {
  MOERT_NPU_QUANT_FORMAT_CASES(MOERT_ENUMERATOR)
};
/// Operand types of a (grouped) matmul.
enum class MatmulQuant : int32_t {
  MOERT_NPU_MATMUL_QUANT_CASES(MOERT_ENUMERATOR)
};

#undef MOERT_ENUMERATOR

} // namespace moert

#endif // MOE_RUNTIME_ENUMS_H
