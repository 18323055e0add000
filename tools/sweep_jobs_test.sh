#!/usr/bin/env bash
# CTest: a2q sweep as independent jobs. --plan writes jobs.txt; the jobs run under GNU parallel (xargs -P
# when parallel is missing); --collect refuses while jobs are missing, then merges them into sweep.csv,
# sweep.json and SVG plots, each of which must be valid XML (xmllint) and render to a PNG of its size
# (rsvg-convert).
#   tools/sweep_jobs_test.sh A2Q DIR
set -euo pipefail
a2q=$1
dir=$2
rm -rf "$dir"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$a2q" sweep --plan --model mlp --acc-bits 12,16 --methods float,baseline,a2q,a2q+ --bits 4,8 --epochs 1 \
  --train-limit 1000 --test-limit 300 --threads 1 -o "$dir"
jobs=$(wc -l <"$dir/jobs.txt")
[ "$jobs" -eq 10 ] || fail "expected 10 jobs (float, the baseline at P = 16, A2Q and A2Q+ at P = 12 and 16 with 4 and 8 bits), got $jobs"

# Collecting before the jobs ran names what is missing.
if out=$("$a2q" sweep --collect "$dir" 2>&1); then fail "collect succeeded with no job run"; fi
grep -q "10 of the sweep's jobs have not written their model" <<<"$out" || fail "collect said: $out"

if command -v parallel >/dev/null 2>&1; then
  parallel --will-cite -j 2 --halt now,fail=1 <"$dir/jobs.txt" >"$dir/jobs.log"
else
  tr '\n' '\0' <"$dir/jobs.txt" | xargs -0 -P 2 -I{} bash -c '{}' >"$dir/jobs.log"
fi
"$a2q" sweep --collect "$dir" | tee "$dir/collect.log"

csv=$dir/sweep.csv
rows=$(($(wc -l <"$csv") - 1))
[ "$rows" -eq 11 ] || fail "sweep.csv has $rows rows, expected 11 (10 points and the skipped baseline)"
head -1 "$csv" | grep -q "^method,acc_bits,weight_bits,act_bits,accuracy_pct,of_float,proven,overflow_events,sparsity_pct,compression" ||
  fail "sweep.csv header: $(head -1 "$csv")"
# Every A2Q and A2Q+ point proven, with no overflow on the test set; the baseline took M = N = 3 at P = 16.
awk -F, 'NR > 1 && ($1 == "a2q" || $1 == "a2q+") && ($7 != "1" || $8 != "0") { bad = 1 } END { exit bad }' "$csv" ||
  fail "an A2Q point is unproven or overflowed"
grep -q "^baseline,16,3,3," "$csv" || fail "the baseline at P = 16 is not W3A3"
grep -q "^baseline,12,,,.*no M = N >= 2" "$csv" || fail "the baseline at P = 12 is not skipped with its reason"
grep -q '"fronts"' "$dir/sweep.json" || fail "sweep.json has no fronts"

for plot in accuracy_vs_acc_bits sparsity_vs_acc_bits compression_vs_acc_bits accuracy_vs_luts; do
  svg=$dir/$plot.svg
  [ -s "$svg" ] || fail "$svg is missing"
  xmllint --noout "$svg"
  rsvg-convert "$svg" -o "$dir/$plot.png"
  size=$(/usr/bin/python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); assert d[:8]==b'\x89PNG\r\n\x1a\n'; print('%dx%d' % struct.unpack('>II', d[16:24]))" "$dir/$plot.png")
  [ "$size" = "800x480" ] || fail "$plot.png is $size, expected 800x480"
  [ "$(stat -c %s "$dir/$plot.png")" -gt 10000 ] || fail "$plot.png is nearly empty"
  grep -q "A2Q+" "$svg" || fail "$plot.svg has no A2Q+ legend entry"
done
echo "sweep jobs: planned, run in parallel, collected and plotted"
