#!/usr/bin/env bash
# Bad command lines must end in a clear error and a nonzero exit code, never a crash.
#   tools/cli_errors_test.sh path/to/a2q work-dir trained-model.a2q [path/to/model_check custom-cnn.a2q]
set -u
a2q=$1
work=$2
model=$3
model_check=${4:-}
custom=${5:-}
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

# Networks described in JSON: every error names the layer, before any training starts.
arch() { # arch NAME LAYERS-JSON: a description of a network for 28x28 images
  printf '{"input": [1, 28, 28], "network": {"type": "Sequential", "layers": [%s]}}' "$2" >"$work/$1.json"
}
arch shapes '{"name": "flat", "type": "Flatten"}, {"name": "fc1", "type": "Linear", "in": 784, "out": 32},
  {"name": "fc2", "type": "Linear", "in": 64, "out": 10}'
arch sign '{"name": "q", "type": "ActQuant", "bits": 8, "signed": false, "fixed_scale": 0.004},
  {"name": "flat", "type": "Flatten"},
  {"name": "fc", "type": "QuantLinear", "in": 784, "out": 10, "input": "q", "input_signed": true}'
arch narrow '{"name": "q", "type": "ActQuant", "bits": 8, "signed": false, "fixed_scale": 0.004},
  {"name": "flat", "type": "Flatten"},
  {"name": "fc", "type": "QuantLinear", "in": 784, "out": 10, "input": "q", "quant": {"method": "a2q", "acc_bits": 9}}'
arch typo '{"name": "flat", "type": "Flatten"}, {"name": "fc", "type": "Linear", "in": 784, "out": 10, "bais": false}'
arch classes '{"name": "flat", "type": "Flatten"}, {"name": "fc", "type": "Linear", "in": 784, "out": 3}'
printf '{"input": [1, 28, 28], "network": {"type": "Sequential", "layers": [' >"$work/broken.json"
expect_error "--arch: layers that do not fit" "layer 'fc2' (Linear) cannot take its input of shape \[2, 32\]" \
  "$a2q" train --arch "$work/shapes.json" --quant a2q+ -o "$work/x.a2q"
expect_error "--arch: a quantizer of the other signedness" "layer 'fc' (QuantLinear): declares a signed 8-bit input" \
  "$a2q" train --arch "$work/sign.json" --quant a2q+ -o "$work/x.a2q"
expect_error "--arch: P too narrow for the input" "layer 'fc' (QuantLinear): a 9-bit accumulator" \
  "$a2q" train --arch "$work/narrow.json" -o "$work/x.a2q"
expect_error "--arch: an unknown key" "layer 'fc' (Linear): unknown key 'bais'" \
  "$a2q" train --arch "$work/typo.json" -o "$work/x.a2q"
expect_error "--arch: fewer outputs than classes" "output has shape \[3\]" \
  "$a2q" train --arch "$work/classes.json" -o "$work/x.a2q"
expect_error "--arch: not JSON" "not valid JSON" "$a2q" train --arch "$work/broken.json" -o "$work/x.a2q"
expect_error "--arch with --model" "do not apply" "$a2q" train --arch "$work/typo.json" --model cnn -o "$work/x.a2q"
expect_error "--arch: missing file" "arch" "$a2q" train --arch "$work/none.json" -o "$work/x.a2q"
expect_error "--init-from a quantized model file" "already quantized" \
  "$a2q" train --init-from "$model" --quant a2q+ -o "$work/x.a2q"
if "$a2q" import --help >/dev/null 2>&1; then # built with a2q::onnx
  expect_error "import of a file that is not ONNX" "truncated.a2q: not an ONNX model" \
    "$a2q" import "$work/truncated.a2q" -o "$work/x.a2q"
  expect_error "import --normalize with an odd count" "--normalize takes the C means" \
    "$a2q" import "$work/truncated.a2q" --normalize 0.5,0.2,0.1 -o "$work/x.a2q"
  expect_error "import --normalize with a word" "'mean' is not a number" \
    "$a2q" import "$work/truncated.a2q" --normalize mean,0.2 -o "$work/x.a2q"
fi
# a2q sweep: each mistake is named before anything trains.
expect_error "sweep without a directory" "needs -o DIR" "$a2q" sweep --model mlp
expect_error "sweep: a backwards range" "runs backwards" "$a2q" sweep --acc-bits 16:10 -o "$work/sweep"
expect_error "sweep: an unknown method" "--methods: unknown quantization method 'a3q'; expected one of: float, baseline, a2q, a2q+, a2q-split" "$a2q" sweep --methods float,a3q -o "$work/sweep"
expect_error "sweep: bits above 8" "9 is outside" "$a2q" sweep --bits 4:9 -o "$work/sweep"
expect_error "sweep: a bad train flag" "a2q train refuses the sweep.s flags: --optimizer" "$a2q" sweep --optimizer rmsprop --plan -o "$work/sweep"
expect_error "sweep: collect without a plan" "plan.json: cannot be read" "$a2q" sweep --collect "$work"
mkdir -p "$work/badplan" && echo '{"a2q_sweep_plan": 1, "points": 3}' >"$work/badplan/plan.json"
expect_error "sweep: collect a broken plan" "not a sweep plan" "$a2q" sweep --collect "$work/badplan"

if [ -n "$model_check" ]; then
  "$model_check" break-arch "$custom" "$work/broken-arch.a2q" || failures=$((failures + 1))
  for command in eval verify report inspect "export --format header -o $work/x.h"; do
    # shellcheck disable=SC2086 # the export command's flags are meant to split
    expect_error "$command on a file whose architecture is impossible" \
      "broken-arch.a2q: architecture: layer '[a-z0-9_]*' (QuantConv2d): 'kernel' is 0" \
      "$a2q" $command "$work/broken-arch.a2q"
  done
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures bad command line(s) were not handled cleanly"
  exit 1
fi
echo "every bad command line was refused cleanly"
