#!/usr/bin/env bash
# Every public header compiles on its own, header-only and separately compiled, and every .ipp compiles
# on its own as it does in a2q::compiled, with our warnings as errors; every .ipp is compiled by exactly
# one file in src/. Prints the failures; exits 1 if there are any.
#   scripts/check_headers.sh [HEADER...]     (default: every header under include/a2q; in parallel)
set -uo pipefail
cd "$(dirname "$0")/.."
cxx=${CXX:-g++}
eigen=$(pkg-config --cflags eigen3 2>/dev/null || echo "-I/usr/include/eigen3")
flags=(-std=c++20 -Iinclude ${eigen//-I/-isystem } -fopenmp -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow
  -Wconversion -Werror)
unit=$(mktemp --suffix=.cpp)
trap 'rm -f "$unit"' EXIT
if [ "${1:-}" != "--one" ]; then
  headers=("$@")
  [ ${#headers[@]} -gt 0 ] || mapfile -t headers < <(cd include && find a2q -name '*.hpp' | sort)
  failed=0
  printf '%s\n' "${headers[@]}" | xargs -P "$(nproc)" -n 1 "$0" --one || failed=1
  # Each definition file is compiled into a2q::compiled exactly once.
  for ipp in $(cd include && find a2q -name '*.ipp' | sort); do
    count=$(cat src/*.cpp | grep -c "^#include \"$ipp\"$")
    if [ "$count" -ne 1 ]; then
      echo "FAILED: $ipp is included by $count of the files in src/ (expected exactly 1)"
      failed=1
    fi
  done
  [ $failed -eq 0 ] && echo "check_headers.sh: ${#headers[@]} headers compile on their own"
  exit $failed
fi
headers=("$2")
failed=0
check() { # check DESCRIPTION FLAGS...
  local what=$1
  shift
  if ! output=$("$cxx" "${flags[@]}" "$@" "$unit" 2>&1); then
    echo "FAILED: $what"
    echo "$output" | head -n 20
    failed=1
  fi
}
for header in "${headers[@]}"; do
  header=${header#include/}
  echo "#include <$header>" >"$unit"
  check "$header (header-only)"
  check "$header (separately compiled)" -DA2Q_SEPARATE_COMPILATION
  if [ -f "include/${header%.hpp}.ipp" ]; then
    echo "#include <${header%.hpp}.ipp>" >"$unit"
    check "${header%.hpp}.ipp (as in a2q::compiled)" -DA2Q_SEPARATE_COMPILATION
  fi
done
exit $failed
