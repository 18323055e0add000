#!/usr/bin/env bash
# Integer kernels: a2q's dense and sparse int8 paths vs oneDNN's u8s8s32 matmul, single-threaded, on
# synthetic layer shapes and on the layers of trained Fashion-MNIST models; plus each model's
# verification time and whole-model integer throughput.
#   bench/run_int.sh [int_kernels_bench options, e.g. --repeats 500 --density 0.05]
# Builds the release preset (-march=native) with the benchmarks and the a2q command, trains the models
# into out/bench/ once (A2Q+ and A2Q MLPs at P = 16, an A2Q MLP with 512-wide hidden layers at P = 16,
# an A2Q+ MLP at P = 14, an A2Q+ CNN at P = 16), then
# prints one table of GOPS and ratios (dense/oneDNN, sparse/oneDNN dense). A2Q_KERNEL_ISA=avx2 (or
# portable) benchmarks a lower ISA.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/include/dnnl.hpp ]; then
  echo "run_int.sh: oneDNN is missing; install libdnnl-dev (scripts/setup.sh --bench)" >&2
  exit 1
fi
cmake --preset release -DA2Q_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j "$(nproc)" --target int_kernels_bench a2q_tool >/dev/null
mkdir -p out/bench
train() { # name, then a2q train options
  local name=$1
  shift
  [ -f "out/bench/$name.a2q" ] || build/release/tools/a2q train --quiet "$@" -o "out/bench/$name.a2q"
}
train mlp-a2q+-p16 --model mlp --quant a2q+ --acc-bits 16 --epochs 10
train mlp-a2q-p16 --model mlp --quant a2q --acc-bits 16 --epochs 10
# Wider hidden layers leave each weight less of the same L1 budget: > 90% zeros at P = 16.
train mlp512-a2q-p16 --model mlp --width 512 --quant a2q --acc-bits 16 --epochs 10
train mlp-a2q+-p14 --model mlp --quant a2q+ --acc-bits 14 --epochs 10
train cnn-a2q+-p16 --model cnn --quant a2q+ --acc-bits 16 --epochs 3
# One thread everywhere: oneDNN's CPU runtime here is OpenMP (the program also sets 1 thread itself).
export OMP_NUM_THREADS=1 OMP_PROC_BIND=true ONEDNN_VERBOSE=0
exec build/release/bench/int_kernels_bench --model out/bench/mlp-a2q+-p16.a2q --model out/bench/mlp-a2q-p16.a2q \
  --model out/bench/mlp512-a2q-p16.a2q --model out/bench/mlp-a2q+-p14.a2q --model out/bench/cnn-a2q+-p16.a2q "$@"
