#!/usr/bin/env bash
# Bad command lines must end in a clear error and a nonzero exit code, never a crash.
#   tools/cli_errors_test.sh path/to/a2q work-dir trained-model.a2q
set -u
a2q=$1
work=$2
model=$3
mkdir -p "$work"
failures=0

# expect_error "what" "pattern the message must contain" command...
expect_error() {
  local what=$1 pattern=$2
  shift 2
  local out rc
  out=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
    echo "FAIL: $what: exit code $rc (expected a clean nonzero exit)"
    failures=$((failures + 1))
  elif ! grep -qi -- "$pattern" <<<"$out"; then
    echo "FAIL: $what: message does not mention '$pattern': $out"
    failures=$((failures + 1))
  else
    echo "ok: $what: $(head -n 1 <<<"$out")"
  fi
}

# A tiny MNIST-format directory of 16x16 images: valid files, the wrong size for a 28x28 model.
small=$work/idx16
mkdir -p "$small"
for split in train t10k; do
  { printf '\x00\x00\x08\x03\x00\x00\x00\x04\x00\x00\x00\x10\x00\x00\x00\x10'; head -c 1024 /dev/zero; } \
    >"$small/$split-images-idx3-ubyte"
  { printf '\x00\x00\x08\x01\x00\x00\x00\x04'; printf '\x00\x01\x02\x03'; } >"$small/$split-labels-idx1-ubyte"
done
head -c 100 "$model" >"$work/truncated.a2q"

expect_error "no subcommand" "subcommand" "$a2q"
expect_error "unknown model" "model" "$a2q" train --model transformer -o "$work/x.a2q"
expect_error "width for the cnn" "width" "$a2q" train --model cnn --width 32 -o "$work/x.a2q"
expect_error "P < 2" "acc-bits" "$a2q" train --acc-bits 1 -o "$work/x.a2q"
expect_error "weight bits > 16" "weight-bits" "$a2q" train --weight-bits 17 -o "$work/x.a2q"
expect_error "missing data directory" "does not exist" "$a2q" train --data "$work/no-such-dir" -o "$work/x.a2q"
expect_error "model for another input size" "takes" "$a2q" eval "$model" --data "$small"
expect_error "missing model file" "no-such.a2q" "$a2q" verify "$work/no-such.a2q"
expect_error "truncated model file" "truncated" "$a2q" report "$work/truncated.a2q"
expect_error "P < 2 in verify" "acc-bits" "$a2q" verify "$model" --acc-bits 1
expect_error "unknown export format" "format" "$a2q" export "$model" --format onnx -o "$work/x.onnx"

if [ "$failures" -ne 0 ]; then
  echo "$failures bad command line(s) were not handled cleanly"
  exit 1
fi
echo "every bad command line was refused cleanly"
