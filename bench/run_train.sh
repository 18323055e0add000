#!/usr/bin/env bash
# Training speed: a2q vs PyTorch on the same models, data, batch size and optimizer, in one run.
#   bench/run_train.sh [--threads 1,2] [--epochs N]
# Prints each JSON line and a table of a2q / PyTorch epoch-time ratios (below 1 means a2q is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=1,2
epochs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    *) echo "run_train.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target train_bench >/dev/null
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for t in ${threads//,/ }; do
  for m in mlp cnn; do
    build/release/bench/train_bench --model "$m" --threads "$t" --epochs "$epochs" | tee -a "$results"
  done
  /usr/bin/python3 bench/torch_reference.py --threads "$t" --epochs "$epochs" | tee -a "$results"
done
/usr/bin/python3 bench/compare.py "$results" epoch_seconds
