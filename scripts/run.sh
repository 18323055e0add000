#!/usr/bin/env bash
# The README's main command: installs what is missing, builds the release preset and runs the main job.
# Until the trainer lands, the main job prints the accumulator-bound table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target bounds_table
build/release/examples/bounds_table "$@"
