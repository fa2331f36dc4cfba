#!/usr/bin/env bash
# ThreadSanitizer run of the runtime (on demand; not part of CI, which it
# would double). Builds moe-run and the runtime and C++ API unit tests with
# -fsanitize=thread in TSAN_BUILD_DIR (default build-tsan/), with moe-opt for
# the tests that need it, then runs, with any report failing its test:
#   - test/Runtime and test/API (the GoogleTest suites: world, collectives,
#     MC2, streams and events, parallelFor, kernels on 1 and 2 threads),
#   - test/Conformance (every method on 1 to 8 ranks, each rank and each of
#     its streams on its own thread, compiled and run by moe-run),
#   - test/Tools/moe-run (inputs, outputs and the failing runs: errors on
#     one rank that must end every rank).
# The JIT-compiled host code is not instrumented; every thread, queue, event
# and collective it drives lives in the instrumented runtime.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TSAN_BUILD_DIR:-$ROOT/build-tsan}

"$ROOT/scripts/setup.sh"   # packages and the normal build (for the tools lit uses)
if ! dpkg -s libclang-rt-19-dev >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
    libclang-rt-19-dev
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S "$ROOT" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
    -DLLVM_USE_LINKER=lld -DLLVM_USE_SANITIZER=Thread \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DPython3_EXECUTABLE=/usr/bin/python3
fi
cmake --build "$BUILD" --target moe-opt moe-run moe-runtime-tests moe-api-tests
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv \
  "$BUILD/test/Runtime" "$BUILD/test/API" "$BUILD/test/Conformance" \
  "$BUILD/test/Tools/moe-run"
