#!/usr/bin/env bash
# Training speed: a2q vs PyTorch on the same models, data, batch size and optimizer, in one run, with the
# fp32 peak of this machine measured in the same run.
#   bench/run_train.sh [--threads 1,2] [--epochs N] [--profile]
# For each thread count: the FMA peak probe; a2q's MLP and CNN on Fashion-MNIST (float, and A2Q+ QAT at
# P = 16) and its ResNet on 10000 random CIFAR-sized images (float); PyTorch 1.13 on the same float
# models. Prints each JSON line, then a table of GFLOP/s, % of peak, a2q / PyTorch epoch-time ratios (below
# 1 means a2q is faster) and QAT / float ratios. --profile adds a2q's per-operation times (stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=1,2
epochs=1
profile=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --profile) profile=(--profile); shift ;;
    *) echo "run_train.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target train_bench >/dev/null
grep -m1 "model name" /proc/cpuinfo || true
results=$(mktemp)
trap 'rm -f "$results"' EXIT
bench=build/release/bench/train_bench
for t in ${threads//,/ }; do
  "$bench" --peak --threads "$t" | tee -a "$results"
  for m in mlp cnn; do
    for q in float a2q+; do
      "$bench" --model "$m" --quant "$q" --threads "$t" --epochs "$epochs" "${profile[@]}" | tee -a "$results"
    done
  done
  "$bench" --model resnet --threads "$t" --epochs "$epochs" "${profile[@]}" | tee -a "$results"
  /usr/bin/python3 bench/torch_reference.py --threads "$t" --epochs "$epochs" --models mlp,cnn,resnet |
    tee -a "$results"
done
/usr/bin/python3 bench/compare.py "$results" epoch_seconds
