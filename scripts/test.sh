#!/usr/bin/env bash
# Sets up (if needed) and runs every test of moe-mlir (lit + FileCheck +
# GoogleTest), once per supported compiler: clang-19 in build/ and Debian
# 12's g++ 12 in build-gcc/ (scripts/setup.sh). MOE_COMPILER=clang or gcc
# runs one of them only; BUILD_DIR then names its build directory (with
# both, BUILD_DIR is clang's and BUILD_DIR-gcc g++'s).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${MOE_COMPILER:-}" ]; then
  COMPILERS=("$MOE_COMPILER")
else
  COMPILERS=(clang gcc)
fi
for compiler in "${COMPILERS[@]}"; do
  if [ -z "${BUILD_DIR:-}" ]; then
    build=$ROOT/build
    [ "$compiler" = clang ] || build=$ROOT/build-gcc
  elif [ ${#COMPILERS[@]} -gt 1 ] && [ "$compiler" = gcc ]; then
    build=$BUILD_DIR-gcc
  else
    build=$BUILD_DIR
  fi
  start=$SECONDS
  MOE_COMPILER=$compiler BUILD_DIR=$build "$ROOT/scripts/setup.sh"
  echo "== testing $build ($compiler)"
  cmake --build "$build" --target check-moe
  echo "== $compiler: built and tested in $((SECONDS - start)) s"
done
