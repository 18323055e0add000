#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs every test twice,
# in the `dev` preset (warnings are errors) and in the `asan-ubsan` preset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)
for preset in dev asan-ubsan; do
  echo "== preset $preset =="
  cmake --preset "$preset"
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done
