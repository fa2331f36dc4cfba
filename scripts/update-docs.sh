#!/usr/bin/env bash
# Regenerates the ODS-generated documentation (dialects, passes) into docs/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
cmake --build "$BUILD" --target mlir-doc
for f in $(cd "$BUILD/docs" && find . -name '*.md'); do
  mkdir -p "$ROOT/docs/$(dirname "$f")"
  cp "$BUILD/docs/$f" "$ROOT/docs/$f"
done
echo "docs/ updated from $BUILD/docs"
