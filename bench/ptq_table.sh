#!/usr/bin/env bash
# Post-training quantization (a2q quantize) against A2Q+ QAT on Fashion-MNIST, one run:
#   bench/ptq_table.sh [--models mlp,cnn] [--p "12 13 14 15 16"] [--epochs 10] [--no-qat] [--out DIR]
# For each model: a float model trained for --epochs (seed 1), then for each P every PTQ method (axe-gpfq,
# axe-optq, ep, rtn; W8A8, hidden layers at P, single thread, calibration on the first 1024 training
# images), each result proven by a2q verify, and A2Q+ QAT trained at the same P for the same epochs. Then
# the multi-stage target: the MLP with its first layer constrained too (K = 784) in tiles of 64 products
# at P_i = 16. Prints markdown tables of test accuracy (% of float in parentheses) and PTQ seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
models=mlp,cnn
widths="12 13 14 15 16"
epochs=10
qat=1
out=out/ptq-table
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --p) widths=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --no-qat) qat=0; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "ptq_table.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target a2q_tool >/dev/null
a2q=build/release/tools/a2q
mkdir -p "$out"
grep -m1 "model name" /proc/cpuinfo || true
methods="axe-gpfq axe-optq ep rtn"
accuracy() { sed -n 's/.*quantized \([0-9.]*\)%.*/\1/p; s/^test accuracy \([0-9.]*\)% after.*/\1/p' | tail -1; }
seconds() { sed -n 's/.*of float); \([0-9.]*\) s$/\1/p'; }
percent() { awk -v a="$1" -v f="$2" 'BEGIN { printf "%.2f (%.1f%%)", a, 100 * a / f }'; }

for m in ${models//,/ }; do
  "$a2q" train --model "$m" --quant float --epochs "$epochs" --seed 1 --quiet -o "$out/$m-float.a2q" \
    >"$out/$m-float.log"
  float=$(accuracy <"$out/$m-float.log")
  echo
  echo "### $m: float $float% after $epochs epochs"
  echo
  header="| P |"
  rule="|---|"
  for method in $methods; do
    header+=" $method |"
    rule+="---|"
  done
  [ "$qat" = 1 ] && header+=" A2Q+ QAT ($epochs epochs) |" && rule+="---|"
  echo "$header"
  echo "$rule"
  times=""
  for p in $widths; do
    row="| $p |"
    for method in $methods; do
      log="$out/$m-$method-p$p.log"
      "$a2q" quantize "$out/$m-float.a2q" --method "$method" --acc-bits "$p" --threads 1 \
        -o "$out/$m-$method-p$p.a2q" >"$log"
      "$a2q" verify "$out/$m-$method-p$p.a2q" --no-data >/dev/null # exit 4 (set -e stops) if not proven
      row+=" $(percent "$(accuracy <"$log")" "$float") |"
      times+=" $(seconds <"$log")"
    done
    if [ "$qat" = 1 ]; then
      "$a2q" train --model "$m" --quant a2q+ --acc-bits "$p" --epochs "$epochs" --seed 1 --quiet \
        -o "$out/$m-qat-p$p.a2q" >"$out/$m-qat-p$p.log"
      row+=" $(percent "$(accuracy <"$out/$m-qat-p$p.log")" "$float") |"
    fi
    echo "$row"
  done
  echo
  echo "$m: seconds per a2q quantize run (single thread; loading, calibration, PTQ, the proof and two test-set" \
    "evaluations):$(echo "$times" | tr ' ' '\n' | sort -n | awk 'NF { v[n++] = $1 } END { printf " min %s, max %s", v[0], v[n-1] }')"
done

# Multi-stage accumulation: K = 784 in tiles of 64 at P_i = 16 (outer P_o = 16 + ceil(log2 13) = 20).
if [[ ",$models," == *",mlp,"* ]]; then
  "$a2q" quantize "$out/mlp-float.a2q" --method optq --constrain-first --acc-bits 32 --threads 1 \
    -o "$out/mlp-unconstrained.a2q" >/dev/null
  needed=$("$a2q" report "$out/mlp-unconstrained.a2q" --json |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["required_P"])')
  log="$out/mlp-tiled.log"
  "$a2q" quantize "$out/mlp-float.a2q" --method axe-gpfq --constrain-first --acc-bits 20 --tile 64 \
    --inner-bits 16 --threads 1 -o "$out/mlp-tiled.a2q" >"$log"
  "$a2q" verify "$out/mlp-tiled.a2q" --no-data | grep "tiles of"
  echo
  echo "tiled: the MLP's first layer (K = 784) needs $needed bits quantized without a constraint; axe-gpfq in" \
    "tiles of 64 at P_i = 16, P_o = 20: $(percent "$(accuracy <"$log")" "$(accuracy <"$out/mlp-float.log")")," \
    "proven"
fi
