#!/usr/bin/python3
"""a2q audit on trained QDQ models: the exit code at P = 16, and what narrower accumulators do.

Usage:  check_sweep.py --a2q A2Q --data DIR --work WORK [--limit 200] [--train-limit 3000]

Trains two small CNNs with a2q (the zoo CNN, one epoch on --train-limit images): one with A2Q+ on every layer at
P = 16, which provably fits 16 bits, and one with the plain 8-bit baseline, which does not. Each is exported
as QONNX and rewritten in ONNX Runtime's QDQ form (qonnx_to_qdq.py). Then:
  - `a2q audit` of the QONNX and of the QDQ file reports, per layer, the width `a2q report` gives for the
    model file (three routes to the same integers);
  - `a2q audit --acc-bits 16` exits 0 for the first model and 4 for the second;
  - the sweep (`--data --acc-bits LO:HI --json`) of the second: from the width the bound gives on, no
    partial sum overflows and the accuracy is the exact one; below it, with wrap-around accumulators, there
    are overflows, and at the narrowest width the accuracy has fallen.
Exits 1 with a message on any failure.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, expect=(0,)):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in expect:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a2q", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--train-limit", type=int, default=3000)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    a2q, w = args.a2q, args.work
    common = ["--model", "cnn", "--epochs", "1", "--train-limit", str(args.train_limit), "--test-limit", "200", "--threads",
              "1", "--quiet", "--data", args.data]
    models = {
        "fits16": ["--quant", "a2q+", "--acc-bits", "16", "--constrain-first", "--constrain-last"],
        "baseline": ["--quant", "baseline"],
    }
    needed = {}
    failures = []
    for name, flags in models.items():
        path = os.path.join(w, name + ".a2q")
        run([a2q, "train", *common, *flags, "-o", path])
        report = json.loads(run([a2q, "report", path, "--json"]).stdout)
        qonnx, qdq = os.path.join(w, name + "-qonnx.onnx"), os.path.join(w, name + "-qdq.onnx")
        run([a2q, "export", path, "--format", "qonnx", "--allow-unproven", "-o", qonnx])
        run(["/usr/bin/python3", os.path.join(HERE, "qonnx_to_qdq.py"), qonnx, qdq])
        for form, f in (("qonnx", qonnx), ("qdq", qdq)):
            audit = json.loads(run([a2q, "audit", f, "--json"]).stdout)
            got = [l["needed_P"] for l in audit["layers"]]
            want = [l["required_P"] for l in report["layers"]]
            print(f"{name:9s} {form:6s} needed P {got} (a2q report: {want})")
            if got != want:
                failures.append(f"{name} {form}: audit gives {got}, report {want}")
        needed[name] = max(l["needed_P_with_bias"] for l in json.loads(run([a2q, "audit", qdq, "--json"]).stdout)["layers"])
        code = run([a2q, "audit", qdq, "--acc-bits", "16"], expect=(0, 4)).returncode
        want_code = 0 if name == "fits16" else 4
        print(f"{name:9s} audit --acc-bits 16: exit {code} (needs {needed[name]} bits)")
        if code != want_code:
            failures.append(f"{name}: audit --acc-bits 16 exited {code}, expected {want_code}")

    # the sweep of the model that does not fit 16 bits
    qdq = os.path.join(w, "baseline-qdq.onnx")
    top = needed["baseline"]
    lo = max(2, top - 8)
    sweep = json.loads(run([a2q, "audit", qdq, "--json", "--data", args.data, "--limit", str(args.limit),
                            "--acc-bits", f"{lo}:{top + 1}"]).stdout)["sweep"]
    exact = sweep["exact_accuracy"]
    print(f"sweep of baseline-qdq.onnx on {sweep['samples']} images, exact accuracy {100 * exact:.2f}%, bound {top} bits")
    for p in sweep["points"]:
        print(f"  P {p['acc_bits']:2d} {p['policy']:8s} {100 * p['accuracy']:6.2f}%  overflows {p['overflow_events']:9d}"
              f"  proven {p['proven']}")
        if p["acc_bits"] >= top and (p["accuracy"] != exact or p["overflow_events"] != 0 or not p["proven"]):
            failures.append(f"P = {p['acc_bits']} ({p['policy']}) is proven, yet differs from the exact run")
        if p["acc_bits"] < top and p["proven"]:
            failures.append(f"P = {p['acc_bits']} is below the bound, yet called proven")
    narrowest = [p for p in sweep["points"] if p["acc_bits"] == lo and p["policy"] == "wrap"][0]
    if narrowest["overflow_events"] == 0 or narrowest["accuracy"] >= exact:
        failures.append(f"at P = {lo} (wrap) the accuracy did not fall: {narrowest}")
    if failures:
        print("\n".join("FAIL: " + f for f in failures))
        sys.exit(1)
    print("PASS: exit codes 0 and 4 at P = 16; the accuracy holds from the bound on and falls below it")


if __name__ == "__main__":
    main()
