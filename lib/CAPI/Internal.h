//===- Internal.h - shared helpers of the moe-mlir C API --------*- C++ -*-===//
//
// The thread's last error and a diagnostic capture for builders. Private to
// lib/CAPI.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CAPI_INTERNAL_H
#define MOE_LIB_CAPI_INTERNAL_H

#include "moe-c/Support.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <string>

namespace moe::capi {

/// Clears the calling thread's last error (every fallible call does this
/// on entry).
void clearError();
/// Sets the calling thread's last error and returns `status`.
MoeStatus setError(MoeStatus status, const std::string &message);

/// Keeps the first error diagnostic a context reports while alive (e.g. an
/// attribute verifier's message) instead of printing it.
class FirstError {
public:
  explicit FirstError(mlir::MLIRContext *context)
      : handler(context, [this](mlir::Diagnostic &d) {
          if (d.getSeverity() == mlir::DiagnosticSeverity::Error &&
              message.empty())
            message = d.str();
          return mlir::success();
        }) {}
  /// Sets the last error to the captured message (or `fallback`).
  MoeStatus fail(const std::string &fallback) const {
    return setError(MOE_STATUS_INVALID_ARGUMENT,
                    message.empty() ? fallback : message);
  }

private:
  std::string message;
  mlir::ScopedDiagnosticHandler handler;
};

} // namespace moe::capi

#endif // MOE_LIB_CAPI_INTERNAL_H
