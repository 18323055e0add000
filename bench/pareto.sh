#!/usr/bin/env bash
# The A2Q paper's experiment on four model families (MLP, CNN, MobileNet-style, ESPCN-style, all on
# Fashion-MNIST): for each accumulator width P of the hidden layers, the best accuracy (PSNR for
# super-resolution) of A2Q, A2Q+ and the baseline that shrinks its bit widths until the data-type bound
# fits P, next to the float model. Each family is one `a2q sweep`: planned, its jobs run under GNU parallel,
# then collected (every point proven, its test-set overflows counted in the integer engine). The ESPCN's
# quantized points start from its float model (--init-from-float, the paper's protocol); the classifiers'
# train from scratch. Writes
# out/pareto/<family>/{sweep.csv,sweep.json,*.svg} and out/pareto/summary.md, and checks the targets.
# A2Q-split (no zero-centring, each channel bounded by its own sign-split worst case) runs beside them.
#   bench/pareto.sh [--quick] [--jobs J] [--families "mlp cnn mobilenet espcn"] [--methods LIST] [--a2q PATH]
#                   [--out DIR]
# --quick: tiny data and two widths (a few minutes; CTest runs it); the full run takes about an hour on
# two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
jobs=$(nproc)
families="mlp cnn mobilenet espcn"
methods=float,baseline,a2q,a2q+,a2q-split
a2q=""
out=out/pareto
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --families) families=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --a2q) a2q=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "pareto.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$a2q" ]; then
  scripts/setup.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target a2q_tool >/dev/null
  a2q=build/release/tools/a2q
fi
command -v parallel >/dev/null || { echo "pareto.sh: GNU parallel is missing (scripts/setup.sh)" >&2; exit 1; }

# Per family: the sweep's flags. Every point of a family trains with the same seed, epochs and schedule.
flags() {
  if [ "$quick" -eq 1 ]; then
    echo "--acc-bits 12,16 --bits 4,8 --epochs 1 --train-limit 600 --test-limit 200 --threads 1"
    return
  fi
  case "$1" in
    mlp) echo "--acc-bits 10:16 --bits 4,6,8 --epochs 10 --threads 1" ;;
    cnn) echo "--acc-bits 10:16 --bits 4,6,8 --epochs 5 --train-limit 20000 --threads 1" ;;
    mobilenet) echo "--acc-bits 10:16 --bits 4,8 --epochs 6 --lr 3e-3 --train-limit 10000 --threads 1" ;;
    espcn) echo "--acc-bits 10:16 --bits 4,6,8 --epochs 8 --lr 3e-3 --train-limit 20000 --threads 1 --init-from-float" ;;
  esac
}

mkdir -p "$out"
for family in $families; do
  dir=$out/$family
  rm -rf "$dir"
  # shellcheck disable=SC2046
  "$a2q" sweep --plan --model "$family" --methods "$methods" $(flags "$family") -o "$dir" \
    >"$out/$family.plan.log"
  start=$(date +%s)
  # The float job first (with --init-from-float the others start from its checkpoint), then the rest.
  head -n 1 "$dir/jobs.txt" | parallel --will-cite -j 1 --halt now,fail=1 --joblog "$dir/jobs.log" >"$dir/jobs.out"
  tail -n +2 "$dir/jobs.txt" | parallel --will-cite -j "$jobs" --halt now,fail=1 --joblog +"$dir/jobs.log" \
    >>"$dir/jobs.out"
  "$a2q" sweep --collect "$dir" | tee "$dir/collect.log"
  echo "$family: $(wc -l <"$dir/jobs.txt") jobs in $(($(date +%s) - start)) s on $jobs parallel jobs"
done

/usr/bin/python3 - "$out" "$quick" $families <<'PY'
import csv, sys
out, quick, families = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
lines, failures = [], []
lines.append("| family | float | A2Q+ at P = 16, W8A8 | of float | sparsity | compression | A2Q-split at P = 16, W8A8 | of float | every point proven | overflow events (A2Q, A2Q+, A2Q-split) |")
lines.append("|---|---|---|---|---|---|---|---|---|---|")
aware = ("a2q", "a2q+", "a2q-split")
orders = []
for family in families:
    rows = list(csv.DictReader(open(f"{out}/{family}/sweep.csv")))
    psnr = "psnr_db" in rows[0]
    key = "psnr_db" if psnr else "accuracy_pct"
    unit = " dB" if psnr else "%"
    value = lambda r: float(r[key])
    flt = value(next(r for r in rows if r["method"] == "float"))
    trained = [r for r in rows if r["method"] != "float" and r[key] != ""]
    proven = all(r["proven"] == "1" for r in trained if r["method"] in aware)
    events = sum(int(r["overflow_events"]) for r in trained if r["method"] in aware)
    if not proven:
        failures.append(f"{family}: an A2Q/A2Q+/A2Q-split point is not proven")
    if events:
        failures.append(f"{family}: {events} overflow events on the test set")
    def headline(method):
        h = [r for r in trained if r["method"] == method and r["acc_bits"] == "16" and r["weight_bits"] == "8"]
        if not h:
            return None, "-", "-"
        of = value(h[0]) - flt if psnr else 100 * value(h[0]) / flt
        return h[0], f"{value(h[0]):.2f}{unit}", f"{of:+.2f} dB" if psnr else f"{of:.1f}%"
    h, h_text, of_text = headline("a2q+")
    _, split_text, split_of = headline("a2q-split")
    if h is not None:
        lines.append(f"| {family} | {flt:.2f}{unit} | {h_text} | {of_text} | {float(h['sparsity_pct']):.1f}% "
                     f"| {float(h['compression']):.1f}x | {split_text} | {split_of} | {'yes' if proven else 'NO'} | {events} |")
        of = value(h) - flt if psnr else 100 * value(h) / flt
        if not quick and ((psnr and of < -0.1) or (not psnr and of < 99.0)):
            failures.append(f"{family}: A2Q+ at P = 16 W8A8 is {of_text} of float (target: 99% / within 0.1 dB)")
    # The fronts: best proven point at most P bits wide.
    widths = sorted({int(r["acc_bits"]) for r in rows if r["acc_bits"]})
    def front(method, P):
        c = [value(r) for r in trained if r["method"] == method and r["proven"] == "1" and int(r["acc_bits"]) <= P]
        return max(c) if c else None
    for P in widths:
        b, a, ap, sp = front("baseline", P), front("a2q", P), front("a2q+", P), front("a2q-split", P)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"
        ok = (ap is not None and a is not None and ap >= a) and (b is None or a >= b)
        orders.append(f"| {family} | {P} | {fmt(b)} | {fmt(a)} | {fmt(ap)} | {'yes' if ok else 'no'} | {fmt(sp)} |")
lines.append("")
lines.append("Fronts (best proven point at most P bits wide, over the bit widths tried):")
lines.append("")
lines.append("| family | P | baseline | A2Q | A2Q+ | A2Q+ >= A2Q >= baseline | A2Q-split |")
lines.append("|---|---|---|---|---|---|---|")
lines += orders
text = "\n".join(lines) + "\n"
open(f"{out}/summary.md", "w").write(text)
print(text)
for f in failures:
    print("TARGET MISSED:", f)
sys.exit(1 if any("overflow" in f or "not proven" in f for f in failures) else 0)
PY
