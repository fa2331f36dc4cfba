#!/usr/bin/env bash
# Build the standalone GEMM probe (no CMake involvement).
#   bash bench/gemm/build.sh            -> bench/gemm/gemm_probe
#   bench/gemm/gemm_probe [sections] [--ms=40] [--quick]   (see header of gemm_probe.cpp)
# g++ + libgomp on purpose: Debian's libdnnl is built against libgomp; clang's -fopenmp
# would pull in a second OpenMP runtime (libomp) next to it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CXX="${CXX:-g++}"
"$CXX" -std=c++17 -O3 -mavx2 -mfma -fopenmp -Wall -Wextra -Wno-unused-parameter \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  "$here/gemm_probe.cpp" -o "$here/gemm_probe" \
  -ldnnl -lopenblas -lpthread
echo "built $here/gemm_probe"
