//===- Support.cpp - version and errors of the moe-mlir C API -------------===//

#include "Internal.h"

namespace {
thread_local std::string lastError;
} // namespace

void moe::capi::clearError() { lastError.clear(); }

MoeStatus moe::capi::setError(MoeStatus status, const std::string &message) {
  lastError = message;
  return status;
}

extern "C" {

uint32_t moeGetApiVersion(void) { return MOE_C_API_VERSION; }

bool moeIsApiVersionCompatible(uint32_t headerVersion) {
  return (headerVersion >> 16) == MOE_C_API_VERSION_MAJOR &&
         (headerVersion & 0xFFFF) <= MOE_C_API_VERSION_MINOR;
}

const char *moeGetLastError(void) { return lastError.c_str(); }

} // extern "C"
