#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs every test twice,
# in the `dev` preset (warnings are errors) and in the `asan-ubsan` preset.
#   scripts/test.sh                          both presets, every test (what CI runs)
#   scripts/test.sh --quick                  the dev preset only: the contributor's loop
#   scripts/test.sh --quick -- -L engine     arguments after -- go to ctest (here: one subsystem)
set -euo pipefail
cd "$(dirname "$0")/.."
presets=(dev asan-ubsan)
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) presets=(dev) ;;
    --)
      shift
      ctest_args=("$@")
      break
      ;;
    *) echo "test.sh: unknown option '$1' (expected --quick, or -- followed by ctest arguments)" >&2; exit 2 ;;
  esac
  shift
done
scripts/setup.sh
jobs=$(nproc)
timings=()
phase() { # phase NAME COMMAND...: runs the command and records its wall time
  local name=$1 start=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-11s %-10s %5d s' "$preset" "$name" $((SECONDS - start)))")
}
for preset in "${presets[@]}"; do
  echo "== preset $preset =="
  phase configure cmake --preset "$preset"
  phase build cmake --build --preset "$preset" -j "$jobs"
  phase test ctest --preset "$preset" -j "$jobs" ${ctest_args[@]+"${ctest_args[@]}"}
done
echo "== wall time per phase =="
printf '%s\n' "${timings[@]}"
