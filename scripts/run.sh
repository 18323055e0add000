#!/usr/bin/env bash
# The README's main command: installs what is missing, builds the release preset, then trains the
# Fashion-MNIST MLP with A2Q+ hidden layers guaranteed to fit a 16-bit accumulator, proves per layer that
# no input can overflow, and prints the per-layer report. Extra arguments go to train_mnist
# (e.g. --epochs 10, --quant a2q, --acc-bits 14).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target train_mnist bounds_table
mkdir -p out
build/release/examples/train_mnist --model mlp --quant a2q+ --acc-bits 16 --epochs 5 --verify \
  --metrics out/mlp-a2q+-p16.json --export-int out/mlp-a2q+-p16-int.json "$@"
