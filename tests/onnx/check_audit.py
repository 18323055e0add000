#!/usr/bin/python3
"""Check `a2q audit` against the fixtures of make_audit_fixtures.py.

Usage:
    check_audit.py --a2q PATH/TO/a2q --fixtures DIR [--only NAME ...] [--timeout SECONDS]

For every DIR/<name>.expected.json it runs `a2q audit DIR/<name>.onnx --json --per-channel` and compares,
layer by layer in graph order and channel by channel, what a2q prints with what the fixture expects:
node, op, form, out_channels, K, weight_bits (M), input_bits (N), input_signed, input_range, has_bias,
datatype_bound_P, needed_P, needed_P_with_bias, worst_channel, margin_bits (null), that input_from names
the quantizer the fixture expects, and per channel min, max, bias, needed_P and needed_P_with_bias; also
"acc_bits" and "fits" null. For a fixture with "acc_bits_checks" (qdq_fits16, qdq_overflows16) it runs
`a2q audit FILE --acc-bits P`, expecting exit code 0 (fits) or 4 (does not), and the same with --json,
checking acc_bits, fits and every margin_bits. For each entry of DIR/malformed.json it runs
`a2q audit FILE` and expects a clean refusal: an exit code in [1, 127] and stderr naming the node (any
name the entry lists); a missing reason keyword is only a warning.

Prints one line per run and exits 1 when anything differs (every difference is listed), 0 otherwise.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

# expected key -> key in a2q's JSON
LAYER_KEYS = [("node", "node"), ("op_type", "op"), ("form", "form"), ("out_channels", "out_channels"),
              ("K", "K"), ("M", "weight_bits"), ("N", "input_bits"), ("input_signed", "input_signed"),
              ("input_range", "input_range"), ("has_bias", "has_bias"),
              ("datatype_bound_P", "datatype_bound_P"), ("needed_P", "needed_P"),
              ("needed_P_with_bias", "needed_P_with_bias"), ("worst_channel", "worst_channel")]
CHANNEL_KEYS = ["channel", "min", "max", "bias", "needed_P", "needed_P_with_bias"]


class Run:
    def __init__(self, argv, timeout):
        t0 = time.monotonic()
        self.argv = argv
        self.error = None
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            self.rc, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            self.rc, self.stdout, self.stderr = None, "", ""
            self.error = "timed out after %gs" % timeout
        except OSError as e:
            self.rc, self.stdout, self.stderr = None, "", ""
            self.error = "cannot run: %s" % e
        self.seconds = time.monotonic() - t0

    def cmd(self):
        return " ".join(self.argv)

    def first_stderr_line(self):
        lines = self.stderr.strip().splitlines()
        return lines[0] if lines else ""


def parse_json(run, problems):
    if run.error:
        problems.append("%s: %s" % (run.cmd(), run.error))
        return None
    try:
        return json.loads(run.stdout)
    except ValueError as e:
        problems.append("%s: exit %s, stdout is not JSON (%s); stderr: %s"
                        % (run.cmd(), run.rc, e, run.first_stderr_line()))
        return None


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def compare_report(name, doc, exp, acc_bits, problems):
    """Differences between a2q's JSON report `doc` and the fixture's expectations `exp`."""
    where = name if acc_bits is None else "%s --acc-bits %d" % (name, acc_bits)
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        problems.append("%s: the report has no 'layers' list" % where)
        return
    want_fits = None
    if acc_bits is not None:
        want_fits = all(l["needed_P_with_bias"] <= acc_bits for l in exp["layers"])
    if not same(doc.get("acc_bits"), acc_bits):
        problems.append("%s: acc_bits is %r, expected %r" % (where, doc.get("acc_bits"), acc_bits))
    if not same(doc.get("fits"), want_fits):
        problems.append("%s: fits is %r, expected %r" % (where, doc.get("fits"), want_fits))
    if not str(doc.get("model", "")).endswith(exp["model"]):
        problems.append("%s: model is %r, expected a path ending in %r"
                        % (where, doc.get("model"), exp["model"]))
    got_layers, want_layers = doc["layers"], exp["layers"]
    if len(got_layers) != len(want_layers):
        problems.append("%s: %d layers (%s), expected %d (%s)" % (
            where, len(got_layers), ", ".join(str(l.get("node")) for l in got_layers), len(want_layers),
            ", ".join(l["node"] for l in want_layers)))
    for i, (got, want) in enumerate(zip(got_layers, want_layers)):
        at = "%s layer %d '%s'" % (where, i, want["node"])
        for ek, gk in LAYER_KEYS:
            if gk not in got:
                problems.append("%s: no '%s' (expected %r)" % (at, gk, want[ek]))
            elif not same(got[gk], want[ek]):
                problems.append("%s: %s is %r, expected %r" % (at, gk, got[gk], want[ek]))
        want_margin = None if acc_bits is None else acc_bits - want["needed_P_with_bias"]
        if not same(got.get("margin_bits", "missing"), want_margin):
            problems.append("%s: margin_bits is %r, expected %r" % (at, got.get("margin_bits", "missing"),
                                                                   want_margin))
        src = want.get("input_from_node")
        if src and src not in str(got.get("input_from", "")):
            problems.append("%s: input_from is %r, expected it to name '%s'"
                            % (at, got.get("input_from"), src))
        channels = got.get("channels")
        if not isinstance(channels, list) or len(channels) != len(want["channels"]):
            problems.append("%s: %s channels, expected %d" % (
                at, len(channels) if isinstance(channels, list) else "no", len(want["channels"])))
            continue
        bad = []
        for gc, wc in zip(channels, want["channels"]):
            for k in CHANNEL_KEYS:
                if not same(gc.get(k, "missing"), wc[k]):
                    bad.append("channel %d: %s is %r, expected %r" % (wc["channel"], k, gc.get(k, "missing"),
                                                                      wc[k]))
        if bad:
            shown = bad[:8] + (["... %d more" % (len(bad) - 8)] if len(bad) > 8 else [])
            problems.append("%s: %d channel value(s) differ: %s" % (at, len(bad), "; ".join(shown)))


def short_name(node):
    """'/layer2/layer2.0/downsample/downsample.0/Conv' -> 'layer2.0/downsample.0', '/conv1/Conv_quant' ->
    'conv1': the path without the op and without parts the next part repeats."""
    parts = node.strip("/").split("/")
    if len(parts) > 1:
        parts = parts[:-1]
    return "/".join(p for i, p in enumerate(parts)
                    if i + 1 == len(parts) or not parts[i + 1].startswith(p + "."))


def main():
    ap = argparse.ArgumentParser(description="Check `a2q audit` against make_audit_fixtures.py's fixtures.")
    ap.add_argument("--a2q", required=True, help="the a2q executable (or a script standing in for it)")
    ap.add_argument("--fixtures", required=True, help="directory make_audit_fixtures.py wrote")
    ap.add_argument("--only", nargs="*", help="check only these fixture names")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per a2q run (default 120)")
    args = ap.parse_args()

    a2q = [args.a2q]
    expected = sorted(glob.glob(os.path.join(args.fixtures, "*.expected.json")))
    if not expected:
        print("no *.expected.json in %s (run make_audit_fixtures.py first)" % args.fixtures)
        return 1
    malformed_path = os.path.join(args.fixtures, "malformed.json")
    malformed = json.load(open(malformed_path)) if os.path.exists(malformed_path) else []

    all_problems, warnings, rows = [], [], []
    t_start = time.monotonic()

    for path in expected:
        exp = json.load(open(path))
        name = os.path.basename(path)[:-len(".expected.json")]
        if args.only and name not in args.only:
            continue
        model = os.path.join(args.fixtures, exp["model"])
        problems = []
        run = Run(a2q + ["audit", model, "--json", "--per-channel"], args.timeout)
        if run.rc not in (0, None):
            problems.append("%s: exit code %s (expected 0); stderr: %s" % (run.cmd(), run.rc,
                                                                          run.first_stderr_line()))
        doc = parse_json(run, problems)
        if doc is not None:
            compare_report(name, doc, exp, None, problems)
        seconds = run.seconds
        for check in exp.get("acc_bits_checks", []):
            p = check["acc_bits"]
            plain = Run(a2q + ["audit", model, "--acc-bits", str(p)], args.timeout)
            seconds += plain.seconds
            if plain.error or plain.rc != check["exit_code"]:
                problems.append("%s: exit code %s, expected %d (%s)" % (
                    plain.cmd(), plain.error or plain.rc, check["exit_code"],
                    "fits" if check["fits"] else "does not fit"))
            js = Run(a2q + ["audit", model, "--acc-bits", str(p), "--json", "--per-channel"], args.timeout)
            seconds += js.seconds
            if js.error or js.rc != check["exit_code"]:
                problems.append("%s: exit code %s, expected %d" % (js.cmd(), js.error or js.rc,
                                                                   check["exit_code"]))
            jdoc = parse_json(js, problems)
            if jdoc is not None:
                compare_report(name, jdoc, exp, p, problems)
        layers = " ".join("%s:%d/%d" % (short_name(l["node"]), l["needed_P"], l["needed_P_with_bias"])
                          for l in exp["layers"])
        rows.append((name, exp["form"], "ok" if not problems else "FAIL(%d)" % len(problems),
                     "%.2fs" % seconds, layers))
        all_problems += problems

    for case in malformed:
        name = case["file"][:-len(".onnx")]
        if args.only and name not in args.only:
            continue
        run = Run(a2q + ["audit", os.path.join(args.fixtures, case["file"])], args.timeout)
        problems = []
        if run.error:
            problems.append("%s: %s" % (run.cmd(), run.error))
        elif run.rc == 0:
            problems.append("%s: exit code 0, expected a refusal naming %s" % (run.cmd(), case["node"]))
        elif run.rc < 0 or run.rc >= 128:
            problems.append("%s: exit code %d: a crash or signal, not a clean refusal; stderr: %s"
                            % (run.cmd(), run.rc, run.first_stderr_line()))
        elif not any(n in run.stderr for n in case["nodes"]):
            problems.append("%s: stderr does not name %s: %r" % (
                run.cmd(), " or ".join("'%s'" % n for n in case["nodes"]), run.stderr.strip()[:300]))
        if not problems and case["reason"].lower() not in run.stderr.lower():
            warnings.append("%s: stderr does not mention '%s': %s" % (case["file"], case["reason"],
                                                                      run.first_stderr_line()))
        rows.append((name, "refuse", "ok" if not problems else "FAIL(%d)" % len(problems),
                     "%.2fs" % run.seconds,
                     "exit %s: %s" % (run.rc, run.first_stderr_line()[:90])))
        all_problems += problems

    width = max(len(r[0]) for r in rows) if rows else 10
    print("%-*s  %-8s %-8s %7s  %s"
          % (width, "fixture", "form", "result", "time", "layers needed_P/with bias"))
    for r in rows:
        print("%-*s  %-8s %-8s %7s  %s" % (width, r[0], r[1], r[2], r[3], r[4]))
    for w in warnings:
        print("warning: " + w)
    if all_problems:
        print("\n%d problem(s):" % len(all_problems))
        for p in all_problems:
            print("  " + p)
    print("%d run(s) checked in %.2fs: %s" % (len(rows), time.monotonic() - t_start,
                                           "FAILED" if all_problems else "all as expected"))
    return 1 if all_problems else 0


if __name__ == "__main__":
    sys.exit(main())
