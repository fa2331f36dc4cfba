#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run; CI runs it after the
# normal tests (.ci/run). Builds moe-opt, moe-run, moe-import (the
# checkpoint tests import their layers), the runtime and C++ API unit tests,
# the C API test, the libFuzzer targets and (with MPI) the MPI world check
# with clang-19 and -fsanitize=address,undefined -fno-sanitize-recover=all
# in ASAN_BUILD_DIR (default build-asan/), then runs, any sanitizer report
# failing its test:
#   - test/Runtime and test/API (GoogleTest: kernels under every CPU
#     variant, world, collectives, MC2, streams, the C++ API),
#   - test/CAPI/moe-capi-test.c (the C API end to end and its misuse; the
#     ctypes test is left out: python3 itself is not instrumented),
#   - test/Conformance (every method on 1 to 8 ranks against the NumPy
#     reference, compiled and run by moe-run),
#   - test/Tools/moe-run (inputs, outputs, errors, the NaN/Inf policy),
#   - test/Fuzz (the fuzzer's CI budget, its crashers and the libFuzzer
#     smoke tests),
#   - test/MPI (ranks as Open MPI processes) with leak detection off: Open
#     MPI's uninstrumented components leave their allocations to the exit.
# Sanitizer options: scripts/asan-env.sh. Not instrumented, so not checked:
# the JIT-compiled host code (every kernel, tensor, collective and .npy
# byte it touches lives in instrumented code), Debian's libMLIR/libLLVM
# and Open MPI. docs/Reliability.md ("Sanitizers") has the time it takes.
#   ASAN_JOBS   parallel compile jobs (default: ninja's choice)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ASAN_BUILD_DIR:-$ROOT/build-asan}

"$ROOT/scripts/setup.sh"   # packages (libclang-rt-19-dev) and the normal build
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S "$ROOT" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
    -DLLVM_USE_LINKER=lld -DLLVM_USE_SANITIZER="Address;Undefined" \
    -DLLVM_UBSAN_FLAGS="-fsanitize=undefined -fno-sanitize=vptr,function -fno-sanitize-recover=all" \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DPython3_EXECUTABLE=/usr/bin/python3
fi
mpi=()
if grep -q '^MOE_HAVE_MPI:INTERNAL=ON' "$BUILD/CMakeCache.txt"; then
  mpi=(moe-mpi-world-check)
fi
cmake --build "$BUILD" ${ASAN_JOBS:+-j "$ASAN_JOBS"} --target moe-opt moe-run moe-import \
  moe-runtime-tests moe-api-tests moe-capi-test moe-fuzz-targets "${mpi[@]}"
# LLVM_UBSAN_FLAGS (set above: an installed LLVM does not define it, and
# "Address;Undefined" would then be ASan alone): -fsanitize=undefined minus
# vptr/function (MLIR is built without RTTI) with
# -fno-sanitize-recover=all, so every report aborts.
. "$ROOT/scripts/asan-env.sh"   # ASAN_OPTIONS, UBSAN_OPTIONS
LIT=(/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv)
"${LIT[@]}" "$BUILD/test/Runtime" "$BUILD/test/API" \
  "$BUILD/test/CAPI/moe-capi-test.c" "$BUILD/test/Conformance" \
  "$BUILD/test/Tools/moe-run" "$BUILD/test/Fuzz"
# test/MPI: unsupported (and skipped by lit) without MPI.
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" "${LIT[@]}" "$BUILD/test/MPI"
