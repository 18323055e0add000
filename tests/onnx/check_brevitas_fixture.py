#!/usr/bin/python3
"""Check a2q's QONNX importer and accumulator analysis against the Brevitas fixture.

The fixture (tests/data/onnx/brevitas, see its README.md) is a QONNX graph that
Brevitas v0.11.0 wrote for a small A2Q / A2Q+ CNN, with per-layer expectations
computed from the graph in brevitas_a2q_cnn.expected.json.  This script:

  * `a2q import`s brevitas_a2q_cnn.onnx;
  * runs `a2q report --json` and checks, for each expected layer (graph order,
    "layers" of the JSON) and the imported layer in the same position:
        K          == dot_product_length
        M          == weight_bit_width
        N          == input_bit_width
        required_P == needed_accumulator_bits_no_bias  (no bias in the accumulator)
        |sparsity - zero_weights / num_weights| <= 1e-6;
  * runs `a2q verify --no-data`, which must exit 0 and say that it verified;
  * runs `a2q eval --data DATA --limit N` and checks that the integer engine's
    accuracy is within 0.5 percentage points of fake_quant_test_acc.

fake_quant_test_acc was measured on the first 1000 Fashion-MNIST test images,
so --limit defaults to 1000; with another --limit the accuracies are not
measured on the same images and the comparison only roughly applies.

Usage:
    check_brevitas_fixture.py --a2q PATH_TO_a2q --work DIR
                              [--fixture DIR] [--data DIR] [--limit 1000]

Exit status: 0 when every check passes, 1 otherwise.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURE = os.path.normpath(os.path.join(HERE, "..", "data", "onnx", "brevitas"))
ONNX_NAME = "brevitas_a2q_cnn.onnx"
EXPECTED_NAME = "brevitas_a2q_cnn.expected.json"
SPARSITY_TOL = 1e-6
ACC_TOL_PP = 0.5        # percentage points between a2q's integer engine and Brevitas
FIXTURE_TEST_IMAGES = 1000


def run_a2q(a2q, args, timeout=600):
    """Runs a2q and returns the CompletedProcess (or an error string)."""
    cmd = [a2q] + args
    print("$ " + " ".join(cmd))
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"could not run {' '.join(cmd)}: {e}"


def failed_run(res, what, ok_codes=(0,)):
    """A failure message for a run that did not exit as expected, else None."""
    if isinstance(res, str):
        return f"{what}: {res}"
    if res.returncode not in ok_codes:
        return (f"{what} exited with {res.returncode}\n"
                f"--- stderr ---\n{res.stderr.strip()}\n--- stdout ---\n{res.stdout.strip()}")
    return None


def parse_percent(text, label):
    """The accuracy on a line such as '  integer engine   74.90%   (...)', or None."""
    m = re.search(r"^\s*" + re.escape(label) + r"\s+([0-9]+(?:\.[0-9]*)?)%", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def check_layers(expected, got):
    """Compares report layers with expected layers; returns (table rows, failures)."""
    rows, failures = [], []
    if len(got) != len(expected):
        failures.append(f"a2q imported {len(got)} layers "
                        f"({', '.join(l.get('name', '?') for l in got)}), the fixture has "
                        f"{len(expected)} ({', '.join(e['layer'] for e in expected)})")
    for i, e in enumerate(expected):
        name = f"{e['layer']} ({e['node_name']})"
        if i >= len(got):
            rows.append((e["layer"], "-", e["needed_accumulator_bits_no_bias"], "-",
                         e["dot_product_length"], "-", e["zero_weights"] / e["num_weights"], "-",
                         "MISSING"))
            continue
        g = got[i]
        want_sparsity = e["zero_weights"] / e["num_weights"]
        checks = [
            ("K", g.get("K"), e["dot_product_length"], "dot_product_length"),
            ("M", g.get("M"), e["weight_bit_width"], "weight_bit_width"),
            ("N", g.get("N"), e["input_bit_width"], "input_bit_width"),
            ("required_P", g.get("required_P"), e["needed_accumulator_bits_no_bias"],
             "needed_accumulator_bits_no_bias"),
        ]
        bad = []
        for key, have, want, what in checks:
            if have != want:
                bad.append(key)
                failures.append(f"layer {i} {name}: a2q's {key} = {have}, expected {what} = {want}")
        sparsity = g.get("sparsity")
        if not isinstance(sparsity, (int, float)) or not abs(sparsity - want_sparsity) <= SPARSITY_TOL:
            bad.append("sparsity")
            failures.append(f"layer {i} {name}: a2q's sparsity = {sparsity}, expected "
                            f"{e['zero_weights']}/{e['num_weights']} = {want_sparsity:.8f} "
                            f"(tolerance {SPARSITY_TOL:g})")
        rows.append((e["layer"], g.get("name", "?"), e["needed_accumulator_bits_no_bias"],
                     g.get("required_P"), e["dot_product_length"], g.get("K"), want_sparsity,
                     sparsity, "ok" if not bad else "MISMATCH: " + ", ".join(bad)))
    return rows, failures


def print_table(rows):
    def fmt_sparsity(v):
        return f"{v:.6f}" if isinstance(v, (int, float)) else str(v)
    header = ("layer", "a2q name", "expected P", "a2q P", "K exp", "K a2q",
              "sparsity exp", "sparsity a2q", "ok")
    print(f"{header[0]:<8} {header[1]:<9} {header[2]:>10} {header[3]:>6} {header[4]:>6} "
          f"{header[5]:>6} {header[6]:>13} {header[7]:>13}  {header[8]}")
    for layer, a2q_name, p_exp, p_got, k_exp, k_got, s_exp, s_got, ok in rows:
        print(f"{layer:<8} {str(a2q_name):<9} {str(p_exp):>10} {str(p_got):>6} {str(k_exp):>6} "
              f"{str(k_got):>6} {fmt_sparsity(s_exp):>13} {fmt_sparsity(s_got):>13}  {ok}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a2q", required=True, help="path of the a2q program")
    ap.add_argument("--fixture", default=DEFAULT_FIXTURE,
                    help=f"directory with {ONNX_NAME} and {EXPECTED_NAME} (default: {DEFAULT_FIXTURE})")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of the Fashion-MNIST IDX files")
    ap.add_argument("--work", required=True, help="directory for the imported model")
    ap.add_argument("--limit", type=int, default=FIXTURE_TEST_IMAGES,
                    help="evaluate on the first N test images (default 1000: the images "
                         "fake_quant_test_acc was measured on)")
    args = ap.parse_args()
    a2q = os.path.abspath(args.a2q)
    onnx_path = os.path.join(args.fixture, ONNX_NAME)
    expected_path = os.path.join(args.fixture, EXPECTED_NAME)
    os.makedirs(args.work, exist_ok=True)

    try:
        with open(expected_path) as f:
            expected = json.load(f)
        exp_layers = expected["layers"]
        want_acc = 100.0 * float(expected["fake_quant_test_acc"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"FAIL: cannot read the expectations {expected_path}: {e}", file=sys.stderr)
        return 1
    if not os.path.exists(onnx_path):
        print(f"FAIL: {onnx_path} does not exist", file=sys.stderr)
        return 1
    fixture_images = expected.get("test_images", FIXTURE_TEST_IMAGES)
    if args.limit != fixture_images:
        print(f"note: --limit {args.limit}, but fake_quant_test_acc was measured on the first "
              f"{fixture_images} test images; the accuracy comparison is not like for like")

    model = os.path.join(args.work, "brevitas_a2q_cnn.a2q")
    if os.path.exists(model):
        os.remove(model)  # a stale file must not pass for a new result
    failures = []

    # ---------------------------------------------------------------- import, report
    res = run_a2q(a2q, ["import", onnx_path, "-o", model])
    err = failed_run(res, "a2q import")
    if err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    print(res.stdout.strip())

    res = run_a2q(a2q, ["report", model, "--json"])
    err = failed_run(res, "a2q report --json")
    if err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    try:
        report = json.loads(res.stdout)
        got_layers = report["layers"]
    except (ValueError, KeyError, TypeError) as e:
        print(f"FAIL: a2q report --json printed no JSON with \"layers\": {e}\n{res.stdout}",
              file=sys.stderr)
        return 1
    rows, layer_failures = check_layers(exp_layers, got_layers)
    failures += layer_failures

    # ----------------------------------------------------------------------- verify
    res = run_a2q(a2q, ["verify", model, "--no-data"])
    err = failed_run(res, "a2q verify --no-data")
    verified = err is None
    if err:
        failures.append(err)
    elif "verified: no input can overflow any accumulator" not in res.stdout:
        verified = False
        failures.append("a2q verify --no-data exited 0 but did not print "
                        "'verified: no input can overflow any accumulator':\n" + res.stdout.strip())

    # ------------------------------------------------------------------------- eval
    res = run_a2q(a2q, ["eval", model, "--data", args.data, "--limit", str(args.limit)])
    err = failed_run(res, "a2q eval")
    int_acc = fq_acc = None
    if err:
        failures.append(err)
    else:
        eval_out = res.stdout
        int_acc = parse_percent(eval_out, "integer engine")
        fq_acc = parse_percent(eval_out, "fake-quantized model")
        m = re.search(r"(\d+) test images", eval_out)
        if m and args.limit and int(m.group(1)) != args.limit:
            failures.append(f"a2q eval used {m.group(1)} test images, asked for {args.limit}")
        if int_acc is None:
            failures.append("cannot find the 'integer engine' accuracy in a2q eval's output:\n"
                            + eval_out.strip())
        elif not abs(int_acc - want_acc) <= ACC_TOL_PP:
            failures.append(f"integer-engine accuracy {int_acc:.2f}% differs from Brevitas's "
                            f"fake-quant accuracy {want_acc:.2f}% by {abs(int_acc - want_acc):.2f} "
                            f"points (tolerance {ACC_TOL_PP} points)")

    # ---------------------------------------------------------------------- summary
    print()
    print(f"{onnx_path}: {len(exp_layers)} expected layers, {len(got_layers)} imported")
    print_table(rows)
    print(f"verify --no-data: {'verified' if verified else 'NOT verified'}")
    shown = lambda v: "n/a" if v is None else f"{v:.2f}%"  # noqa: E731
    print(f"accuracy on the first {args.limit} test images: a2q integer engine {shown(int_acc)}, "
          f"a2q fake-quantized {shown(fq_acc)}; Brevitas fake-quant (fixture, first "
          f"{fixture_images}) {want_acc:.2f}%")
    if failures:
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        print(f"Brevitas fixture: {len(failures)} problems", file=sys.stderr)
        return 1
    print("Brevitas fixture: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
