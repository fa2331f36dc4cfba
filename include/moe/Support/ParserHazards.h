//===- ParserHazards.h - inputs MLIR 19's parser crashes on -----*- C++ -*-===//
//
// MLIR 19's parser (Debian's libMLIR) crashes with a segmentation fault on
// an operand that names a value defined later inside a region of the same
// op, e.g. `scf.for %i = %c0 to %n ... { %n = ... }`: the op's custom
// parser resolves the operand to a forward-reference placeholder before it
// parses the region, and the region's definition destroys that placeholder
// while the op under construction still holds it (upstream mlir-opt-19
// crashes the same way). Every tool that parses user text (moe-opt,
// moe-run, the C and C++ APIs) scans it first and reports such a use as an
// error instead (docs/Reliability.md, "Upstream parser crash").
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_PARSERHAZARDS_H
#define MOE_SUPPORT_PARSERHAZARDS_H

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <optional>
#include <string>

namespace mlir::moe {

struct ParserHazard {
  size_t offset;       // of the use, in the scanned text
  std::string name;    // "%n"
  std::string message; // the error to report at the use
};

/// The first use of an SSA value that is defined only later, inside a
/// region opened after the use (a brace group the use's op opens), in
/// `text`; none when there is none. The scan knows MLIR's tokens only as
/// far as it needs (comments, strings, braces, `%name` uses and
/// definitions); it never flags a use whose value is defined earlier in the
/// same top-level op or later outside such a region.
std::optional<ParserHazard> findForwardUseIntoRegion(llvm::StringRef text);

/// Scans the main buffer of `sourceMgr`; a hazard is reported as an error
/// at the use (through `context`'s diagnostics) and gives failure.
LogicalResult rejectParserHazards(const llvm::SourceMgr &sourceMgr,
                                  MLIRContext *context);

} // namespace mlir::moe

#endif // MOE_SUPPORT_PARSERHAZARDS_H
