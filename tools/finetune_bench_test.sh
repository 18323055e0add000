#!/usr/bin/env bash
# CTest: bench/finetune_p16.sh on tiny data prints every model's row and proves the three constrained ones;
# with a verifier that refuses (negative control) it prints NOT PROVEN for each and exits 1.
#   tools/finetune_bench_test.sh A2Q DIR
set -euo pipefail
a2q=$1
dir=$2
bench="$(dirname "$0")/../bench/finetune_p16.sh"
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }
tiny=(mlp --epochs 1 --train-limit 1000 --test-limit 500)

bash "$bench" "${tiny[@]}" --a2q "$a2q" --out "$dir/ok" | tee "$dir/ok.txt"
for row in "float, from scratch" "float, fine-tuned" "baseline, fine-tuned, W8A8" "a2q, fine-tuned, W8A8" \
  "a2q+, fine-tuned, W8A8" "a2q-split, fine-tuned, W8A8"; do
  grep -q "^$row  *[0-9.]*%" "$dir/ok.txt" || fail "no accuracy in the row '$row'"
done
[ "$(grep -c ' proven$' "$dir/ok.txt")" -eq 3 ] || fail "expected 3 proven models"

# The same run with an a2q whose verify always fails: the script must say so and fail.
cat >"$dir/refusing-a2q" <<REFUSE
#!/usr/bin/env bash
[ "\$1" = verify ] && exit 1
exec "$a2q" "\$@"
REFUSE
chmod +x "$dir/refusing-a2q"
if bash "$bench" "${tiny[@]}" --a2q "$dir/refusing-a2q" --out "$dir/refused" >"$dir/refused.txt"; then
  fail "finetune_p16.sh exited with 0 although no model was proven"
fi
[ "$(grep -c 'NOT PROVEN$' "$dir/refused.txt")" -eq 3 ] || fail "expected 3 models NOT PROVEN"
echo "finetune_p16.sh: rows printed, models proven, refusal reported"
