#!/usr/bin/env bash
# The main job: set up (install + build), then compile an example MoE layer.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh"

EXAMPLE=${1:-$ROOT/examples/deepseek_v3.mlir}
echo "== compiling $EXAMPLE with moe-opt (parse, verify, canonicalize, print)"
"$BUILD/bin/moe-opt" "$EXAMPLE" -canonicalize
