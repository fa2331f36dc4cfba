//===- Finite.h - the runtime's NaN/Inf checks ------------------*- C++ -*-===//
//
// The NaN/Inf policy of docs/Reliability.md ("NaN and Inf"): with finite
// checks on (the default of moe-run, the C and C++ APIs), a non-finite value
// in a float result of any device op, or a NaN in a float input of the
// layer, fails the rank with a message naming the rank, the tensor, the row
// and the value. The gate's own rules (NaN logits are always an error,
// infinities take their limits) are in Kernels/Gating.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_FINITE_H
#define MOE_RUNTIME_FINITE_H

#include "moe/Runtime/Tensor.h"

#include <string>

namespace moert {

/// Flat index of the first NaN or infinity (only the first NaN when
/// `infinities` is false) of a float tensor (F32, BF16, F16), or -1 when
/// there is none or the tensor is not float.
int64_t firstNonFinite(const Tensor &t, bool infinities = true);

/// "row 2 holds nan (element [2, 5])" for element `index` of `t`: the value
/// ("nan", "inf" or "-inf"), its row (index along dimension 0) and its
/// position.
std::string describeNonFinite(const Tensor &t, int64_t index);

/// Throws Error("<what> (tensor<...>) is not finite: row ... holds ...")
/// when `t` holds a NaN or an infinity.
void requireFinite(const Tensor &t, const std::string &what);

} // namespace moert

#endif // MOE_RUNTIME_FINITE_H
