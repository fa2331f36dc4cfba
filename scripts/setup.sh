#!/usr/bin/env bash
# Installs what moe-mlir needs on Debian 12 and configures and builds it.
#   MOE_COMPILER  clang (default: clang-19 with lld) or gcc (Debian 12's
#                 g++ 12); both are supported and CI builds and tests both
#   BUILD_DIR     build directory (default: <repo>/build for clang,
#                 <repo>/build-gcc for gcc)
#   MOE_NO_APT    set to 1 to skip the package check
# Extra CMake options (e.g. -DMOE_NATIVE=ON, docs/Runtime.md) apply when
# the build directory is first configured: MOE_CMAKE_ARGS="-DMOE_NATIVE=ON".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPILER=${MOE_COMPILER:-clang}
case "$COMPILER" in
  clang) BUILD=${BUILD_DIR:-$ROOT/build}
         COMPILER_ARGS=(-DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
                        -DLLVM_USE_LINKER=lld) ;;
  gcc)   BUILD=${BUILD_DIR:-$ROOT/build-gcc}
         COMPILER_ARGS=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++) ;;
  *) echo "MOE_COMPILER must be clang or gcc, not '$COMPILER'" >&2; exit 2 ;;
esac

PACKAGES=(
  cmake ninja-build gcc g++ clang-19 lld-19 ccache
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools libfmt-dev
  python3 python3-numpy python3-dev pybind11-dev python3-pytest python3-torch
  libdnnl-dev libopenblas-dev libgtest-dev
  libopenmpi-dev openmpi-bin
  libclang-rt-19-dev
)

if [ "${MOE_NO_APT:-0}" != 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  echo "== configuring $BUILD ($COMPILER)"
  # shellcheck disable=SC2086
  cmake -G Ninja -S "$ROOT" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
    "${COMPILER_ARGS[@]}" \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DPython3_EXECUTABLE=/usr/bin/python3 ${MOE_CMAKE_ARGS:-}
fi
echo "== building $BUILD ($COMPILER)"
cmake --build "$BUILD"
