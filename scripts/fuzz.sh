#!/usr/bin/env bash
# Fuzzes every reader of outside bytes with libFuzzer (clang, ASan + UBSan), SECONDS each (default 120).
# New crashes, hangs (> 10 s on one input) and allocations over 1 GiB are kept as files under
# tests/fuzz/regressions/<harness>/, which CTest replays in every preset; the script then fails.
#   scripts/fuzz.sh                      every harness, 120 s each, one after another
#   scripts/fuzz.sh 1800 idx onnx        only these harnesses, 30 minutes each
#   FUZZ_PARALLEL=2 scripts/fuzz.sh 600  two harnesses at a time
# The corpus each harness grows is kept in build/fuzz/corpus/<harness>/ between runs; every run is
# appended to build/fuzz/ledger.tsv (date, harness, seconds, executions, coverage, features, corpus, result).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
case "$seconds" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$seconds'" >&2; exit 2 ;; esac
scripts/setup.sh --fuzz

all=(model_file tensor_archive idx cifar10 architecture sweep_plan onnx)
harnesses=("${@:-${all[@]}}")
for h in "${harnesses[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz.sh: unknown harness '$h' (known: ${all[*]})" >&2; exit 2; }
done

build=build/fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DA2Q_FUZZ=ON \
  -DA2Q_BUILD_TESTS=OFF -DA2Q_BUILD_EXAMPLES=OFF -DA2Q_BUILD_BENCH=OFF -DA2Q_BUILD_TOOLS=OFF \
  -DA2Q_INSTALL=OFF -DA2Q_OPENMP=OFF -DA2Q_ONEDNN=OFF "-DCMAKE_CXX_FLAGS=$flags" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target a2q_fuzz_seeds "${harnesses[@]/#/a2q_fuzz_}"
"$build/tests/fuzz/a2q_fuzz_seeds" "$build/seeds"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/logs"
fuzz_one() { # fuzz_one HARNESS: one libFuzzer run; its log in build/fuzz/logs/HARNESS.log
  local h=$1 artifacts="$build/artifacts/$h/"
  mkdir -p "$build/corpus/$h" "$artifacts" "tests/fuzz/regressions/$h"
  local start=$SECONDS result=clean
  "$build/tests/fuzz/a2q_fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$build/corpus/$h" "$build/seeds/$h" "tests/fuzz/regressions/$h" >"$build/logs/$h.log" 2>&1 || result=FOUND
  local found=0
  for f in "$artifacts"*; do
    [ -e "$f" ] || continue
    cp "$f" "tests/fuzz/regressions/$h/" && rm "$f" && found=$((found + 1))
  done
  [ "$found" -gt 0 ] && result="FOUND $found"
  local stats execs cov ft corp
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$build/logs/$h.log" | tail -1 || true)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$build/logs/$h.log" | tail -1 | grep -oE '[0-9]+$' ||
    echo 0)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$stats" | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$stats" | grep -oE '[0-9]+' || echo 0)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$stats" | grep -oE '[0-9]+' || echo 0)
  printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" $((SECONDS - start)) "$execs" "$cov" \
    "$ft" "$corp" "$result" | tee -a "$build/ledger.tsv"
}
echo "date	harness	seconds	executions	coverage	features	corpus	result"
parallel=${FUZZ_PARALLEL:-1}
for h in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  fuzz_one "$h" &
done
wait
if grep -q "FOUND" <(tail -n "${#harnesses[@]}" "$build/ledger.tsv"); then
  # CI keeps only the tail of its output and none of its files: print what reproduces the crash here.
  echo "== crash reports ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs);" \
    "kernel ISA flags: $(grep -m1 -o -w -E 'avx512vnni|avx512f|avx2' /proc/cpuinfo | sort -u | xargs)) =="
  for h in "${harnesses[@]}"; do
    [ -n "$(find "tests/fuzz/regressions/$h" -newer "$build.configure.log" -type f 2>/dev/null)" ] || continue
    for f in $(find "tests/fuzz/regressions/$h" -newer "$build.configure.log" -type f); do
      encoded=$(gzip -9c "$f" | base64 -w 120)
      if [ "$(wc -l <<<"$encoded")" -le 60 ]; then
        echo "-- $f ($(stat -c %s "$f") bytes) as gzip | base64 (decode: base64 -d | gunzip > FILE) --"
        echo "$encoded"
      else
        echo "-- $f ($(stat -c %s "$f") bytes): too long to print --"
      fi
    done
    echo "-- $h: sanitizer report --"
    grep -E -A 30 -m1 '^==[0-9]+==(ERROR|WARNING)|runtime error:|deadly signal|out-of-memory|timeout after' \
      "$build/logs/$h.log" | head -n 40 || tail -n 30 "$build/logs/$h.log"
  done
  echo "fuzz.sh: new crashes kept under tests/fuzz/regressions/ (logs: $build/logs/)" >&2
  exit 1
fi
echo "fuzz.sh: no crash, hang or over-limit allocation in ${#harnesses[@]} harnesses"
