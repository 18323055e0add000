#!/usr/bin/env bash
# The paper's protocol at its headline point for one family: a float model trained from scratch, then
# float, the unconstrained W8A8 baseline (P = 32), A2Q, A2Q+ and A2Q-split each fine-tuned from it with
# the same schedule (hidden layers at P = 16, W8A8), so that the fine-tuned float model is a reference with
# as many epochs as the quantized ones, and the baseline shows what W8A8 costs without any accumulator
# constraint. Prints each model's test accuracy (PSNR for the ESPCN) against both float references, and
# checks that every constrained model is proven at P = 16 (a2q verify --no-data; exit 1 if one is not).
#   bench/finetune_p16.sh FAMILY [--epochs E] [--lr LR] [--ft-epochs E] [--ft-lr LR] [--width W]
#                         [--train-limit N] [--test-limit N] [--seed S] [--a2q PATH] [--out DIR]
# FAMILY: mlp, cnn, mobilenet or espcn. Defaults: bench/pareto.sh's schedule for the family (epochs, lr,
# training images), the fine-tuning for --ft-epochs (default: --epochs) at --ft-lr (default: --lr); --width
# is a2q train's (the fine-tuned models take the architecture from the float model file).
# A float model far from converged keeps learning while it is fine-tuned, and QAT learns more slowly than
# float, so compare methods from a float model trained long enough (e.g. espcn --epochs 30 --ft-epochs 8
# --ft-lr 1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
family=$1
shift
case "$family" in
  mlp) epochs=10 lr=1e-3 limit=0 ;;
  cnn) epochs=5 lr=1e-3 limit=20000 ;;
  mobilenet) epochs=6 lr=3e-3 limit=10000 ;;
  espcn) epochs=8 lr=3e-3 limit=20000 ;;
  *) echo "finetune_p16.sh: unknown family '$family' (mlp, cnn, mobilenet, espcn)" >&2; exit 2 ;;
esac
ft_epochs="" ft_lr="" width=() test_limit=0 seed=1 a2q="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --ft-epochs) ft_epochs=$2; shift 2 ;;
    --ft-lr) ft_lr=$2; shift 2 ;;
    --width) width=(--width "$2"); shift 2 ;;
    --train-limit) limit=$2; shift 2 ;;
    --test-limit) test_limit=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --a2q) a2q=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "finetune_p16.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
ft_lr=${ft_lr:-$lr}
ft_epochs=${ft_epochs:-$epochs}
out=${out:-out/finetune/$family}
if [ -z "$a2q" ]; then
  scripts/setup.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target a2q_tool >/dev/null
  a2q=build/release/tools/a2q
fi
mkdir -p "$out"
common=(--threads 1 --seed "$seed" --quiet)
[ "$limit" -gt 0 ] && common+=(--train-limit "$limit")
[ "$test_limit" -gt 0 ] && common+=(--test-limit "$test_limit")

# The test metric a2q train printed last: "accuracy 81.10%" -> 81.10, "PSNR 21.93 dB" -> 21.93.
metric() { grep -E '^test (accuracy|PSNR)' "$1" | tail -1 | sed -E 's/^test (accuracy|PSNR) ([0-9.]+).*/\2/'; }

"$a2q" train --model "$family" ${width[@]+"${width[@]}"} --quant float --epochs "$epochs" --lr "$lr" \
  "${common[@]}" -o "$out/float.a2q" >"$out/float.log"
for method in float baseline a2q a2q+ a2q-split; do
  quant=(--quant "$method")
  case "$method" in
    float) ;;
    baseline) quant+=(--acc-bits 32 --weight-bits 8 --act-bits 8) ;;
    *) quant+=(--acc-bits 16 --weight-bits 8 --act-bits 8) ;;
  esac
  "$a2q" train --init-from "$out/float.a2q" "${quant[@]}" --epochs "$ft_epochs" --lr "$ft_lr" "${common[@]}" \
    -o "$out/ft-$method.a2q" >"$out/ft-$method.log"
done

unit=%
[ "$family" = espcn ] && unit=" dB"
scratch=$(metric "$out/float.log")
tuned=$(metric "$out/ft-float.log")
echo "$family: $epochs epochs at lr $lr from scratch, then $ft_epochs more at lr $ft_lr from that float model (seed $seed)"
printf '%-34s %9s %14s %14s  %s\n' "model" "test" "vs float" "vs float" "P = 16"
printf '%-34s %9s %14s %14s\n' "" "" "(scratch)" "(fine-tuned)"
compare() { # value: percent of the reference for accuracy, difference in dB for PSNR
  if [ "$unit" = " dB" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f dB", a - b }'
  else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; fi
}
printf '%-34s %8s%s\n' "float, from scratch" "$scratch" "$unit"
printf '%-34s %8s%s %14s\n' "float, fine-tuned" "$tuned" "$unit" "$(compare "$tuned" "$scratch")"
base=$(metric "$out/ft-baseline.log")
printf '%-34s %8s%s %14s %14s  %s\n' "baseline, fine-tuned, W8A8" "$base" "$unit" "$(compare "$base" "$scratch")" \
  "$(compare "$base" "$tuned")" "P = 32, unconstrained"
status=0
for method in a2q a2q+ a2q-split; do
  value=$(metric "$out/ft-$method.log")
  proof=proven
  "$a2q" verify "$out/ft-$method.a2q" --no-data >/dev/null 2>&1 || { proof="NOT PROVEN"; status=1; }
  printf '%-34s %8s%s %14s %14s  %s\n' "$method, fine-tuned, W8A8" "$value" "$unit" \
    "$(compare "$value" "$scratch")" "$(compare "$value" "$tuned")" "$proof"
done
exit $status
