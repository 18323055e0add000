#!/usr/bin/env bash
# The README's main command: installs what is missing, builds and installs the release preset, then
# with the installed `a2q` command trains the Fashion-MNIST MLP with A2Q+ hidden layers guaranteed to
# fit a 16-bit accumulator, verifies the model (static proof, adversarial inputs, the test set in
# integer arithmetic) and prints its per-layer report. Extra arguments go to `a2q train`
# (e.g. --epochs 10, --quant a2q, --acc-bits 14).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target a2q_tool
cmake --install build/release --prefix out/prefix >/dev/null
a2q=out/prefix/bin/a2q
model=out/mlp-a2q+-p16.a2q
"$a2q" train --model mlp --quant a2q+ --acc-bits 16 --epochs 5 -o "$model" \
  --metrics out/mlp-a2q+-p16.json --csv out/mlp-a2q+-p16.csv "$@"
"$a2q" verify "$model"
"$a2q" report "$model"
