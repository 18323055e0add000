#!/usr/bin/env bash
# expect_exit.sh CODE REGEX COMMAND...: runs COMMAND, prints what it printed, and passes only if it exits
# with status CODE and its output (stdout and stderr) matches the extended regular expression REGEX, so
# that a crash or a usage error never passes as the expected refusal.
set -u
code=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
got=$?
printf '%s\n' "$out"
if [ "$got" -ne "$code" ]; then
  echo "expect_exit.sh: exit status $got, expected $code" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  echo "expect_exit.sh: the output does not match /$pattern/" >&2
  exit 1
fi
