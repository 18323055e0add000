#!/usr/bin/env bash
# Accuracy of the Fashion-MNIST MLP (W8A8) against the accumulator width P of its hidden layers:
# float once, then A2Q and A2Q+ for each P, and the baseline's static verdict at the same P.
#   bench/qat_sweep.sh [--epochs N] [--p "12 13 14 15 16"] [--threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=10
widths="12 13 14 15 16"
threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --p) widths=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "qat_sweep.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target train_mnist >/dev/null
out=out/qat-sweep
mkdir -p "$out"
run() { build/release/examples/train_mnist --epochs "$epochs" --threads "$threads" --quiet "$@" >/dev/null; }
run --quant float --metrics "$out/float.json"
for p in $widths; do
  for q in a2q a2q+ baseline; do
    run --quant "$q" --acc-bits "$p" --eval-accumulator wrap --metrics "$out/$q-p$p.json" || true
  done
  run --quant a2q+ --acc-bits "$p" --constrain-last --metrics "$out/a2q+-all-p$p.json" || true
done
/usr/bin/python3 - "$out" "$widths" <<'PY'
import json, sys
out, widths = sys.argv[1], sys.argv[2].split()
def load(name):
    with open(f"{out}/{name}.json") as f:
        return json.load(f)
fl = load("float")
print(f"float: test accuracy {100 * fl['test_accuracy']:.2f}%, {fl['epoch_seconds']:.2f} s/epoch")
print(f"{'P':>3} {'A2Q %':>8} {'of float':>9} {'A2Q+ %':>8} {'of float':>9} {'A2Q+ all':>9} {'sparsity':>9}"
      f" {'baseline %':>11} {'baseline @P wrap':>17} {'needs P':>8} {'A2Q+ int %':>11} {'A2Q s/ep':>9}")
for p in widths:
    a, ap, b, al = load(f"a2q-p{p}"), load(f"a2q+-p{p}"), load(f"baseline-p{p}"), load(f"a2q+-all-p{p}")
    hidden = [l for l in ap["layers"] if l["accumulator_bits"] == int(p)]
    sparsity = sum(l["sparsity"] for l in hidden) / max(1, len(hidden))
    needs = max(l["required_accumulator_bits"] for l in b["layers"] if l["accumulator_bits"] == int(p))
    print(f"{p:>3} {100 * a['test_accuracy']:>8.2f} {100 * a['test_accuracy'] / fl['test_accuracy']:>8.1f}%"
          f" {100 * ap['test_accuracy']:>8.2f} {100 * ap['test_accuracy'] / fl['test_accuracy']:>8.1f}%"
          f" {100 * al['test_accuracy']:>8.2f}% {100 * sparsity:>8.1f}% {100 * b['test_accuracy']:>10.2f}"
          f" {100 * b['accumulator_eval']['test_accuracy']:>17.2f} {needs:>8}"
          f" {100 * ap['accumulator_eval']['test_accuracy']:>11.2f} {a['epoch_seconds']:>9.2f}")
print("baseline % assumes a wide accumulator; 'baseline @P wrap' runs its layers in integer P-bit accumulators that"
      " wrap like hardware; 'needs P' is what its hidden layer needs. 'A2Q+ int %' is A2Q+ run the same way.")
PY
