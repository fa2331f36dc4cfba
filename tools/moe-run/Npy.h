//===- Npy.h - NumPy .npy files for moe-run ---------------------*- C++ -*-===//

#ifndef MOE_TOOLS_MOE_RUN_NPY_H
#define MOE_TOOLS_MOE_RUN_NPY_H

#include "moe/Runtime/Tensor.h"

#include <string>

namespace moerun {

/// Reads a C-order .npy of f32, f16, i8, i32, i64 or bool, or of uint8 as
/// packed int4 (an i4 tensor whose last dimension is twice the file's: two
/// values per byte, element 2i in the low nibble); throws moert::Error
/// naming the file on anything else or on a malformed file.
moert::Tensor readNpy(const std::string &path);

/// Writes `t` as .npy (bf16 as f32 and i4 as i8, which NumPy lacks).
void writeNpy(const std::string &path, const moert::Tensor &t);

/// `t` converted for an argument of `dtype`: f32 -> bf16/f16 (round to
/// nearest even), i8 -> i4 (values must lie in [-8, 7]); same dtypes pass
/// through; anything else throws.
moert::Tensor convertInput(const moert::Tensor &t, moert::DType dtype);

} // namespace moerun

#endif // MOE_TOOLS_MOE_RUN_NPY_H
