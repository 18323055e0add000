#!/usr/bin/python3
"""Round-trip an a2q model through QONNX and check that nothing changes.

Steps, each failure reported with a clear message:
  1. `a2q report --json` of the model;
  2. `a2q export --format qonnx`, then check_qonnx.py's checks on the file
     (onnx.checker full check and the QONNX rules FINN relies on);
  3. the metadata: for every layer (ONNX node name = a2q layer name),
     a2q.layer.<name>.accumulator_bits and .required_bits equal the report's
     target_P and required_P; a2q.accumulator_bits is the largest target_P and
     a2q.verified is "true" exactly when every layer is proven;
  4. `a2q import` of the QONNX file; its `report --json` gives the same layer
     names, target_P and required_P (so equal to the metadata too), and
     `a2q verify --no-data` of it exits 0;
  5. `a2q export --format json` of the original and the re-imported model:
     the same layers (names, order), bit-identical integer weights and biases
     (shapes and values), the same integer settings, and weight and input scales
     within 1 ulp of float32 (see compare_layers);
  6. negative control: a copy of the QONNX file with one weight of the first
     layer moved by one quantization step (+1.0 * scale) is imported and
     exported, and the comparison of step 5 must catch exactly that change.

Usage:
    qonnx_roundtrip.py --a2q PATH_TO_a2q --model M.a2q --work DIR [--expect-layers N]

Exit status: 0 when every check passes, 1 otherwise.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import check_qonnx  # noqa: E402  (the same directory)

LAYER_OPS = check_qonnx.LAYER_OPS
ACC_KEY = check_qonnx.ACC_KEY
LAYER_PREFIX = check_qonnx.LAYER_PREFIX
VERIFIED_KEY = "a2q.verified"
# Fields of a layer in `a2q export --format json` (besides name, weights, bias
# and the float scales) that must survive the round trip exactly.  "method" is
# not among them: it says how the weights were trained, and QONNX carries it only
# as metadata (a difference is printed as a note).
EXACT_FIELDS = ("kind", "out_channels", "fan_in", "weight_bits", "input_bits", "input_signed",
                "accumulator_bits", "bias_in_accumulator")
FLOAT_FIELDS = ("weight_scale", "input_scale")
INFO_FIELDS = ("method",)


class Failures(list):
    def add(self, msg):
        self.append(msg)


# ------------------------------------------------------------------------------ a2q

def run_a2q(a2q, args, timeout=600):
    cmd = [a2q] + args
    print("$ " + " ".join(cmd))
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"could not run {' '.join(cmd)}: {e}"


def run_ok(a2q, args, what):
    """Runs a2q; returns (CompletedProcess, None) on exit 0, else (result, message)."""
    res = run_a2q(a2q, args)
    if isinstance(res, str):
        return None, f"{what}: {res}"
    if res.returncode != 0:
        return res, (f"{what} exited with {res.returncode}\n--- stderr ---\n"
                     f"{res.stderr.strip()}\n--- stdout ---\n{res.stdout.strip()}")
    return res, None


def fresh(path):
    """Removes a stale output so that it cannot pass for a new result."""
    if os.path.exists(path):
        os.remove(path)
    return path


def report_layers(a2q, model):
    res, err = run_ok(a2q, ["report", model, "--json"], f"a2q report --json {model}")
    if err:
        return None, err
    try:
        return json.loads(res.stdout)["layers"], None
    except (ValueError, KeyError, TypeError) as e:
        return None, f"a2q report --json {model} printed no JSON with \"layers\": {e}"


def export_json(a2q, model, out):
    _, err = run_ok(a2q, ["export", model, "--format", "json", "-o", fresh(out)],
                    f"a2q export --format json {model}")
    if err:
        return None, err
    try:
        with open(out) as f:
            return json.load(f), None
    except (OSError, ValueError) as e:
        return None, f"cannot read {out}: {e}"


# ------------------------------------------------------------------ QONNX checks

def run_check_qonnx(path, expect_layers):
    """check_qonnx.py's main() on the file; returns its exit status and output."""
    argv = ["check_qonnx.py", path]
    if expect_layers is not None:
        argv += ["--expect-layers", str(expect_layers)]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    try:
        sys.argv = argv
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = check_qonnx.main()
            except SystemExit as e:  # argparse errors
                status = e.code
    finally:
        sys.argv = saved
    return status, out.getvalue() + err.getvalue()


def check_metadata(model, layers, source, failures):
    """Per-layer and model-level metadata against report layers of `source`."""
    meta = {p.key: p.value for p in model.metadata_props}
    nodes = [n.name for n in model.graph.node if n.op_type in LAYER_OPS]
    names = [l["name"] for l in layers]
    if nodes != names:
        failures.add(f"Conv/Gemm/MatMul node names {nodes} are not the layer names {names} "
                     f"of the {source} report")
    for l in layers:
        for key, field in (("accumulator_bits", "target_P"), ("required_bits", "required_P")):
            full = f"{LAYER_PREFIX}{l['name']}.{key}"
            if full not in meta:
                failures.add(f"metadata lacks {full}")
            elif meta[full] != str(l[field]):
                failures.add(f"{full} = {meta[full]}, but the {source} report's {field} of "
                             f"{l['name']} is {l[field]}")
    ids = {k[len(LAYER_PREFIX):].rsplit(".", 1)[0] for k in meta if k.startswith(LAYER_PREFIX)}
    extra = sorted(ids - set(names))
    if extra:
        failures.add(f"metadata describes layers the {source} model does not have: {extra}")
    if layers:
        want = str(max(l["target_P"] for l in layers))
        if meta.get(ACC_KEY) != want:
            failures.add(f"{ACC_KEY} = {meta.get(ACC_KEY)}, the largest target_P of the "
                         f"{source} report is {want}")
        want = "true" if all(l["proven"] for l in layers) else "false"
        if meta.get(VERIFIED_KEY) != want:
            failures.add(f"{VERIFIED_KEY} = {meta.get(VERIFIED_KEY)}, but the {source} report "
                         f"says proven = {[l['proven'] for l in layers]}")
    return meta


def compare_reports(orig, back, failures):
    if [l["name"] for l in orig] != [l["name"] for l in back]:
        failures.add(f"re-imported layers {[l['name'] for l in back]}, "
                     f"original {[l['name'] for l in orig]}")
        return
    for a, b in zip(orig, back):
        for field in ("target_P", "required_P", "K", "N", "M"):
            if a[field] != b[field]:
                failures.add(f"layer {a['name']}: {field} {a[field]} in the original report, "
                             f"{b[field]} after the round trip")


# -------------------------------------------------------------- integer weights

def ulp_distance(x, y):
    """Elementwise distance in float32 ulps (both finite; sign changes count as huge)."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)

    def ordered(v):  # monotonic map of float32 bit patterns onto integers
        i = v.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    return np.abs(ordered(x) - ordered(y))


def int_array(values, what):
    a = np.asarray(values)
    if a.dtype.kind not in "iu" and a.size:
        raise ValueError(f"{what} are not integers (dtype {a.dtype})")
    return a.astype(np.int64)


def compare_layers(orig, back, notes=None):
    """Differences between two `a2q export --format json` documents, as messages.

    Integer weights and biases must be bit-identical.  The weight and input
    scales may move by one float32 ulp: a2q stores a scale as its log2, so
    exporting (2^log2) and re-importing (log2 of the float32 scale) can round
    the scale to a neighbouring float while the integers stay exact.
    """
    msgs = []
    la, lb = orig.get("layers", []), back.get("layers", [])
    na, nb = [l.get("name") for l in la], [l.get("name") for l in lb]
    if na != nb:
        return [f"layer names differ: original {na}, round trip {nb}"]
    for a, b in zip(la, lb):
        name = a["name"]
        for key in ("weights", "bias"):
            if (key in a) != (key in b):
                msgs.append(f"layer {name}: '{key}' present in only one of the exports")
                continue
            if key not in a:
                continue
            if a[key] is None or b[key] is None:  # a layer without bias
                if (a[key] is None) != (b[key] is None):
                    msgs.append(f"layer {name}: '{key}' is absent in only one of the exports")
                continue
            try:
                x, y = int_array(a[key], f"{name} {key}"), int_array(b[key], f"{name} {key}")
            except ValueError as e:
                msgs.append(f"layer {name}: {e}")
                continue
            if x.shape != y.shape:
                msgs.append(f"layer {name}: {key} shape {list(x.shape)} became {list(y.shape)}")
            elif not np.array_equal(x, y):
                diff = np.argwhere(x != y)
                first = tuple(int(i) for i in diff[0])
                msgs.append(f"layer {name}: {key}: {len(diff)} of {x.size} integers differ, "
                            f"first at {list(first)}: {int(x[first])} became {int(y[first])}")
        for key in FLOAT_FIELDS:
            if key not in a and key not in b:
                continue
            x, y = np.asarray(a.get(key), dtype=np.float64), np.asarray(b.get(key), dtype=np.float64)
            if x.shape != y.shape:
                msgs.append(f"layer {name}: {key} shape {list(x.shape)} became {list(y.shape)}")
                continue
            d = ulp_distance(x, y)
            if d.size and d.max() > 1:
                i = np.unravel_index(int(d.argmax()), d.shape)
                msgs.append(f"layer {name}: {key} moved by {int(d.max())} float32 ulps "
                            f"(at {list(map(int, i))}: {x[i]!r} became {y[i]!r})")
        for key in EXACT_FIELDS:
            if a.get(key) != b.get(key):
                msgs.append(f"layer {name}: {key} = {a.get(key)!r} became {b.get(key)!r}")
        if notes is not None:
            for key in INFO_FIELDS:
                if a.get(key) != b.get(key):
                    notes.append(f"layer {name}: {key} = {a.get(key)!r} became {b.get(key)!r}")
            for key in sorted(set(a) ^ set(b)):
                notes.append(f"layer {name}: field '{key}' is in only one of the exports")
    return msgs


# ------------------------------------------------------------- negative control

def tamper_first_weight(src, dst):
    """Copies the QONNX file with one weight of the first layer moved by +1 step.

    Returns (layer name, description) of the change.
    """
    model = onnx.load(src)
    inits = {i.name: i for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    layer = next(n for n in model.graph.node if n.op_type in LAYER_OPS)
    quant = producers[layer.input[1]]
    if quant.op_type != "Quant":
        raise ValueError(f"the weight of {layer.name} does not come from a Quant node")
    w = numpy_helper.to_array(inits[quant.input[0]]).astype(np.float32)
    scale = np.broadcast_to(numpy_helper.to_array(inits[quant.input[1]]).astype(np.float32),
                            w.shape)
    bits = int(float(numpy_helper.to_array(inits[quant.input[3]])))
    q = np.round(w.astype(np.float64) / scale)
    qmax = 2 ** (bits - 1) - 1
    # The first element that stays inside the range after +1, so that the
    # importer must accept the copy.
    flat = int(np.flatnonzero(q.ravel() + 1 <= qmax)[0])
    idx = np.unravel_index(flat, w.shape)
    w2 = w.copy()
    w2[idx] = np.float32(w[idx] + np.float32(1.0) * scale[idx])
    q2 = int(round(float(w2[idx]) / float(scale[idx])))
    inits[quant.input[0]].CopyFrom(numpy_helper.from_array(w2, quant.input[0]))
    onnx.save(model, dst)
    return layer.name, (f"{quant.input[0]}{list(map(int, idx))}: {float(w[idx]):.8g} -> "
                        f"{float(w2[idx]):.8g} (integer {int(q[idx])} -> {q2})")


def negative_control(args, qonnx_path, orig_json, failures):
    bad_onnx = fresh(os.path.join(args.work, "tampered.qonnx.onnx"))
    bad_model = fresh(os.path.join(args.work, "tampered.a2q"))
    try:
        layer, what = tamper_first_weight(qonnx_path, bad_onnx)
    except Exception as e:
        failures.add(f"negative control: cannot make the tampered copy: {e}")
        return
    print(f"negative control: changed {what}")
    _, err = run_ok(args.a2q, ["import", bad_onnx, "-o", bad_model], "a2q import (tampered)")
    if err:
        failures.add(f"negative control: {err}")
        return
    bad_json, err = export_json(args.a2q, bad_model, os.path.join(args.work, "tampered.json"))
    if err:
        failures.add(f"negative control: {err}")
        return
    msgs = compare_layers(orig_json, bad_json)
    for m in msgs:
        print(f"  caught: {m}")
    weight_msgs = [m for m in msgs if m.startswith(f"layer {layer}: weights: ")]
    if not weight_msgs:
        failures.add(f"negative control: the changed weight of layer {layer} is NOT detected "
                     "(the re-imported integers equal the original ones)")
        return
    # A correct importer changes exactly that one integer, by one.
    a = next(l for l in orig_json["layers"] if l["name"] == layer)
    b = next(l for l in bad_json["layers"] if l["name"] == layer)
    x, y = int_array(a["weights"], "weights"), int_array(b["weights"], "weights")
    d = (y - x)[x != y] if x.shape == y.shape else None
    if d is None or d.size != 1 or abs(int(d[0])) != 1 or len(msgs) != 1:
        failures.add(f"negative control: expected exactly one integer of {layer} to change by 1, "
                     f"found: {msgs}")
        return
    print("negative control: a changed weight is detected")


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a2q", required=True, help="path of the a2q program")
    ap.add_argument("--model", required=True, help="a2q model file to round-trip")
    ap.add_argument("--work", required=True, help="directory for the exported files")
    ap.add_argument("--expect-layers", type=int, metavar="N",
                    help="require exactly N Conv/Gemm/MatMul layers")
    args = ap.parse_args()
    args.a2q = os.path.abspath(args.a2q)
    os.makedirs(args.work, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.model))[0]
    qonnx_path = fresh(os.path.join(args.work, f"{stem}.qonnx.onnx"))
    back_model = fresh(os.path.join(args.work, f"{stem}.roundtrip.a2q"))
    failures = Failures()
    notes = []

    def stop():
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        print(f"QONNX round trip of {args.model}: {len(failures)} problems", file=sys.stderr)
        return 1

    # 1. report of the original
    orig_layers, err = report_layers(args.a2q, args.model)
    if err:
        failures.add(err)
        return stop()
    if args.expect_layers is not None and len(orig_layers) != args.expect_layers:
        failures.add(f"the model has {len(orig_layers)} layers, expected {args.expect_layers}")

    # 2. QONNX export and check_qonnx
    _, err = run_ok(args.a2q, ["export", args.model, "--format", "qonnx", "-o", qonnx_path],
                    "a2q export --format qonnx")
    if err:
        failures.add(err)
        return stop()
    status, out = run_check_qonnx(qonnx_path, args.expect_layers)
    print("check_qonnx: " + out.strip().replace("\n", "\n  "))
    if status != 0:
        failures.add(f"check_qonnx.py rejects {qonnx_path} (status {status}; see above)")
    try:
        qmodel = onnx.load(qonnx_path)
    except Exception as e:
        failures.add(f"cannot load {qonnx_path}: {e}")
        return stop()

    # 3. metadata against the original report
    check_metadata(qmodel, orig_layers, "original", failures)

    # 4. import back, report, verify
    _, err = run_ok(args.a2q, ["import", qonnx_path, "-o", back_model], "a2q import")
    if err:
        failures.add(err)
        return stop()
    back_layers, err = report_layers(args.a2q, back_model)
    if err:
        failures.add(err)
    else:
        compare_reports(orig_layers, back_layers, failures)
        check_metadata(qmodel, back_layers, "re-imported", failures)
    res, err = run_ok(args.a2q, ["verify", back_model, "--no-data"],
                      "a2q verify --no-data of the re-imported model")
    if err:
        failures.add(err)

    # 5. integer weights
    orig_json, err = export_json(args.a2q, args.model, os.path.join(args.work, f"{stem}.json"))
    if err:
        failures.add(err)
        return stop()
    back_json, err = export_json(args.a2q, back_model,
                                 os.path.join(args.work, f"{stem}.roundtrip.json"))
    if err:
        failures.add(err)
        return stop()
    for m in compare_layers(orig_json, back_json, notes):
        failures.add(f"round trip: {m}")

    # 6. negative control
    negative_control(args, qonnx_path, orig_json, failures)

    # summary
    print()
    meta = {p.key: p.value for p in qmodel.metadata_props}
    back_by_name = {l["name"]: l for l in back_layers or []}
    print(f"{'layer':<12} {'K':>6} {'meta P':>7} {'meta req':>8} {'target_P':>9} "
          f"{'required_P':>10} {'after: target/required':>23}  weights")
    for l, jl in zip(orig_layers, orig_json.get("layers", [])):
        b = back_by_name.get(l["name"], {})
        shape = list(np.asarray(jl.get("weights")).shape)
        key = LAYER_PREFIX + l["name"]
        print(f"{l['name']:<12} {l['K']:>6} "
              f"{meta.get(key + '.accumulator_bits', '-'):>7} "
              f"{meta.get(key + '.required_bits', '-'):>8} "
              f"{l['target_P']:>9} {l['required_P']:>10} "
              f"{str(b.get('target_P', '-')) + '/' + str(b.get('required_P', '-')):>23}  {shape}")
    print(f"{ACC_KEY} = {meta.get(ACC_KEY)}, {VERIFIED_KEY} = {meta.get(VERIFIED_KEY)}")
    for n in notes:
        print(f"note: {n}")
    if failures:
        return stop()
    print(f"QONNX round trip of {args.model}: PASS ({len(orig_layers)} layers, integer weights "
          "bit-identical, metadata consistent, re-imported model verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
