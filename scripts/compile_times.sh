#!/usr/bin/env bash
# Where a2q's build time goes. Measures, on this machine:
#   scripts/compile_times.sh                  all of the below
#   scripts/compile_times.sh --user           a user's program (examples/custom_model.cpp: a custom CNN that
#                                             trains, converts, proves and writes a C header) compiled as
#                                             one file with CMake Release flags, header-only and against
#                                             a2q::compiled: seconds and peak compiler memory
#   scripts/compile_times.sh --headers        what including each public header alone costs
#   scripts/compile_times.sh --build PRESET   a clean build of a preset (dev, asan-ubsan, release) in
#                                             build/compile-times/PRESET: configure and build wall time,
#                                             and every translation unit's compile time and peak memory
# Options: --jobs N (parallel compiles for --build; default: all cores). Results are printed and kept
# under build/compile-times/. Figures depend on the CPU and on the machine's other load.
set -euo pipefail

# Internal: the compiler launcher that times one compile into $A2Q_COMPILE_LOG.
if [ "${1:-}" = "--launch" ]; then
  shift
  out=?
  prev=
  for arg in "$@"; do
    [ "$prev" = "-o" ] && out=$arg
    prev=$arg
  done
  stats=$(mktemp)
  status=0
  /usr/bin/time -f "%e %M" -o "$stats" "$@" || status=$?
  echo "$(tail -n 1 "$stats") $out" >>"$A2Q_COMPILE_LOG"
  rm -f "$stats"
  exit $status
fi

cd "$(dirname "$0")/.."
root=$PWD
out_dir=$root/build/compile-times
mkdir -p "$out_dir"
jobs=$(nproc)
what=()
presets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --user | --headers) what+=("$1") ;;
    --build)
      [ $# -ge 2 ] || { echo "compile_times.sh: --build needs a preset (dev, asan-ubsan, release)" >&2; exit 2; }
      what+=(--build)
      presets+=("$2")
      shift
      ;;
    --jobs)
      [ $# -ge 2 ] || { echo "compile_times.sh: --jobs needs a number" >&2; exit 2; }
      jobs=$2
      shift
      ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "compile_times.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ ${#what[@]} -eq 0 ]; then
  what=(--user --headers --build --build)
  presets=(dev asan-ubsan)
fi
[ -x /usr/bin/time ] || { echo "compile_times.sh: needs GNU time (Debian: time)" >&2; exit 1; }

cxx=${CXX:-g++}
eigen=$(pkg-config --cflags eigen3 2>/dev/null || echo "-I/usr/include/eigen3")
eigen=${eigen//-I/-isystem }
common=(-std=c++20 -I"$root/include" $eigen -fopenmp)

# Prints "seconds peak-MiB" for one compile command.
time_one() {
  local stats
  stats=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$stats" "$@" >/dev/null
  awk '{ printf "%7.2f s %7.0f MiB\n", $1, $2 / 1024 }' "$stats"
  rm -f "$stats"
}

user_program() {
  local release=(-O3 -DNDEBUG) # CMake's Release flags
  echo "== a user's program: examples/custom_model.cpp as one translation unit, $cxx ${release[*]} =="
  printf '  %-44s' "header-only (a2q::a2q):"
  time_one "$cxx" "${common[@]}" "${release[@]}" -c examples/custom_model.cpp -o "$out_dir/user-header-only.o"
  printf '  %-44s' "against the compiled library (a2q::compiled):"
  time_one "$cxx" "${common[@]}" "${release[@]}" -DA2Q_SEPARATE_COMPILATION -c examples/custom_model.cpp \
    -o "$out_dir/user-compiled.o"
  echo "  (a2q::compiled itself is built once, with a2q: see --build release)"
}

headers() {
  echo "== including one public header, -fsyntax-only -O2 (seconds, peak MiB): header-only | separately compiled =="
  local unit=$out_dir/one_header.cpp
  local report=$out_dir/headers.txt
  : >"$report"
  for header in $(cd include && find a2q -name '*.hpp' | sort); do
    echo "#include <$header>" >"$unit"
    local inline separate
    inline=$(time_one "$cxx" "${common[@]}" -O2 -fsyntax-only "$unit")
    separate=$(time_one "$cxx" "${common[@]}" -O2 -DA2Q_SEPARATE_COMPILATION -fsyntax-only "$unit")
    printf '%s | %s  %s\n' "$inline" "$separate" "$header" >>"$report"
  done
  sort -rn "$report" | head -n 25
  echo "  (all $(wc -l <"$report") headers in $report)"
}

build_preset() {
  local preset=$1
  local dir=$out_dir/$preset
  local log=$out_dir/$preset-units.txt
  echo "== clean build of preset '$preset' with $jobs parallel compiles =="
  rm -rf "$dir" "$log"
  local start end
  start=$(date +%s.%N)
  cmake --preset "$preset" -B "$dir" -DCMAKE_CXX_COMPILER_LAUNCHER="$root/scripts/compile_times.sh;--launch" \
    >"$out_dir/$preset-configure.txt"
  end=$(date +%s.%N)
  printf '  configure %7.1f s\n' "$(echo "$end - $start" | bc)"
  start=$end
  A2Q_COMPILE_LOG=$log cmake --build "$dir" -j "$jobs" >"$out_dir/$preset-build.txt"
  end=$(date +%s.%N)
  printf '  build     %7.1f s wall, %.0f s of compiling in %d translation units\n' "$(echo "$end - $start" | bc)" \
    "$(awk '{ s += $1 } END { print s }' "$log")" "$(wc -l <"$log")"
  echo "  slowest translation units (seconds, peak MiB):"
  sort -rn "$log" | head -n 15 | awk '{ printf "  %7.2f %6.0f  %s\n", $1, $2 / 1024, $3 }'
  echo "  (every unit in $log)"
}

preset_index=0
for item in "${what[@]}"; do
  case "$item" in
    --user) user_program ;;
    --headers) headers ;;
    --build)
      build_preset "${presets[$preset_index]}"
      preset_index=$((preset_index + 1))
      ;;
  esac
done
