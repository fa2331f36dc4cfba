#!/usr/bin/env bash
# Sets up (if needed) and runs every test of moe-mlir: lit + FileCheck.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh"
cmake --build "$BUILD" --target check-moe
