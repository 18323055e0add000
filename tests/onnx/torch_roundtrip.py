#!/usr/bin/python3
"""Check a2q's ONNX importer against PyTorch on four small Fashion-MNIST models.

For each model: train briefly in PyTorch (one epoch over the first 8000
training images, Adam, batch 64, one thread), export to ONNX, `a2q import` it,
`a2q eval --logits` on the first 256 test images, and compare the logits with
PyTorch's on the same images preprocessed the same way: per image
max|a2q - torch| / max|torch| <= 1e-4, and the same argmax on every image.

BatchNorm layers are exported as BatchNormalization nodes (TrainingMode.PRESERVE
on the model in eval mode); --fold-bn exports with torch's default instead,
which folds them into the preceding Conv.

Usage:
    torch_roundtrip.py --a2q PATH_TO_a2q --data DIR --work DIR
                       [--model mlp|cnn|resnet|subpixel|all] [--fold-bn] [--export-only]

--export-only stops after writing MODEL.onnx and MODEL.expected.npz (logits,
labels, preprocessing) to --work, so the PyTorch side can be checked without
a2q.  Exit status: 0 when every model passes, 1 on any failure.
"""

import argparse
import collections
import gzip
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

N_TRAIN = 8000      # 65-80% accuracy, yet all four models train in about 10 s
N_COMPARE = 256     # test images compared with a2q
REL_TOL = 1e-4      # max |a2q - torch| / max |torch| per image
FMNIST_MEAN_STD = (0.2860, 0.3530)


# ----------------------------------------------------------------------------- data

def read_idx(path):
    """Reads an IDX file (gzip-compressed or not) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims} bytes of data, found {data.size}")
    return data.reshape(dims)


def find_idx(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def load_split(data_dir, split):
    """Returns (images uint8 [N, 28, 28], labels int64 [N]) in file order."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find_idx(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx(data_dir, f"{prefix}-labels-idx1-ubyte"))
    return images, labels.astype(np.int64)


def preprocess(images, normalize):
    """What a2q does to images: x = pixel / 255, then (x - mean) / std if asked.

    Done in float32, like a2q, so that both sides see the same input values.
    """
    x = images.astype(np.float32) / np.float32(255.0)
    if normalize is not None:
        mean, std = (np.float32(v) for v in normalize)
        x = (x - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x[:, None, :, :]))


# --------------------------------------------------------------------------- models

class MLP(nn.Module):
    """Flatten, Gemm, Dropout (dropped at export) and a MatMul + Add layer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.drop = nn.Dropout(0.2)
        # A bare matmul instead of nn.Linear, so that torch writes MatMul + Add.
        self.w = nn.Parameter(torch.randn(256, 128) * (2.0 / 256) ** 0.5)
        self.b = nn.Parameter(torch.zeros(128))
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        h = self.drop(F.relu(self.fc1(x)))
        h = F.relu(torch.matmul(h, self.w) + self.b)
        return self.fc3(h)


class CNN(nn.Module):
    """Conv + BN, MaxPool, depthwise conv without bias, 1x1 conv, strided conv."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Residual Adds, Pad + AveragePool, GlobalAveragePool and a dynamic Reshape."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block1 = BasicBlock(8, 8)
        self.block2 = BasicBlock(8, 16, stride=2)
        # count_include_pad=True (the default): torch writes an explicit Pad.
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = self.gap(self.pool(x))
        # view(size(0), -1) makes torch compute the shape in the graph.
        return self.fc(x.view(x.size(0), -1))


class SubPixel(nn.Module):
    """A sub-pixel convolution (nn.PixelShuffle, which torch writes as DepthToSpace in CRD mode) inside
    a classifier: strided conv to 14x14, conv to 4 x 2 x 2 sub-pixels, shuffled back to 28x28."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.PixelShuffle(2),
            nn.ReLU(),
            nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


# name -> (constructor, opset, --normalize values or None, Adam learning rate,
# op types the export must contain, so that a change in torch's exporter is
# noticed).  The narrow ResNet learns too slowly at 1e-3 to be a meaningful
# classifier after one short epoch (about 48% against 67% at 1e-2).
MODELS = collections.OrderedDict([
    ("mlp", (MLP, 11, None, 1e-3,
             {"Flatten", "Gemm", "MatMul", "Add", "Relu"})),
    ("cnn", (CNN, 13, FMNIST_MEAN_STD, 1e-3,
             {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"})),
    ("resnet", (ResNet, 17, None, 1e-2,
                {"Conv", "Relu", "Add", "Pad", "AveragePool",
                 "GlobalAveragePool", "Reshape", "Gemm"})),
    ("subpixel", (SubPixel, 13, None, 1e-3,
                  {"Conv", "DepthToSpace", "Relu", "MaxPool", "Gemm"})),
])


# ------------------------------------------------------------------------ training

def train_briefly(model, images, labels, lr):
    """One epoch over the first N_TRAIN images: Adam, batch 64."""
    x, y = images[:N_TRAIN], torch.from_numpy(labels[:N_TRAIN])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    order = torch.randperm(N_TRAIN)
    for i in range(0, N_TRAIN, 64):
        idx = order[i:i + 64]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    model.eval()


def export(model, path, opset, keep_bn):
    # TrainingMode.EVAL (torch's default) folds every BatchNorm that follows a
    # Conv into the Conv's weights; PRESERVE on a model in eval mode writes
    # inference-mode BatchNormalization nodes instead, so the importer sees them.
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    # PRESERVE makes torch warn about constant folding in training mode; the
    # model is in eval mode, so the folding is sound and the warning is noise.
    warnings.filterwarnings("ignore", message="It is recommended that constant folding")
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), path,
        opset_version=opset,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
        training=mode)


# ------------------------------------------------------------------ ONNX reporting

def default_opset(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return None


def op_counts(model):
    return collections.Counter(n.op_type for n in model.graph.node)


def attrs(node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def show(value):
    """Small integer tensors (pads, shapes, axes) in full, the others by shape."""
    if value.dtype.kind in "iu" and value.size <= 8:
        return str(value.tolist())
    return f"{value.dtype} {list(value.shape)}"


def describe_inputs(model, node):
    """Where each input of a node comes from: initializer, Constant or node."""
    inits = {i.name: i for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    graph_inputs = {i.name for i in model.graph.input}
    parts = []
    for name in node.input:
        if name == "":
            parts.append("<none>")
        elif name in inits:
            parts.append("init " + show(numpy_helper.to_array(inits[name])))
        elif name in producers:
            p = producers[name]
            if p.op_type == "Constant":
                parts.append("Constant " + show(numpy_helper.to_array(p.attribute[0].t)))
            else:
                parts.append(f"{p.op_type}({p.name})")
        elif name in graph_inputs:
            parts.append(f"graph input {name}")
        else:
            parts.append(name)
    return parts


def shape_chain(model, name, depth=0):
    """The ops that compute a tensor, e.g. Reshape's shape: Concat(Unsqueeze(...))."""
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    if name in inits:
        return "init"
    if name not in producers:
        return name
    p = producers[name]
    if p.op_type == "Constant":
        return "Constant " + show(numpy_helper.to_array(p.attribute[0].t))
    if p.op_type == "Shape" or depth > 6:
        # Where the shape is taken from does not matter, only that it is.
        src = producers.get(p.input[0])
        return f"{p.op_type}({src.op_type if src else p.input[0]})"
    args = ", ".join(shape_chain(model, i, depth + 1) for i in p.input if i)
    return f"{p.op_type}({args})"


DETAIL_OPS = {"Pad", "AveragePool", "MaxPool", "BatchNormalization", "Reshape",
              "Gemm", "Flatten", "Conv", "GlobalAveragePool", "MatMul", "Dropout"}


def describe(path):
    """Prints opset, op counts and the attributes the importer has to honour."""
    model = onnx.load(path)
    onnx.checker.check_model(model)
    counts = op_counts(model)

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    print("  graph: " + ", ".join(f"{v.name} {dims(v)}" for v in model.graph.input)
          + " -> " + ", ".join(f"{v.name} {dims(v)}" for v in model.graph.output))
    print(f"  opset {default_opset(model)}, ir_version {model.ir_version}, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers")
    print("  ops: " + ", ".join(f"{op} x{counts[op]}" for op in sorted(counts)))
    for node in model.graph.node:
        if node.op_type not in DETAIL_OPS:
            continue
        line = f"    {node.op_type:<18} {node.name:<28} {attrs(node)}"
        if node.op_type in ("Pad", "Reshape", "Gemm", "BatchNormalization",
                            "Conv", "MatMul"):
            line += "  inputs: " + "; ".join(describe_inputs(model, node)[1:])
        print(line)
        if node.op_type == "Reshape":
            print(f"      shape computed as {shape_chain(model, node.input[1])}")
    return model, counts


# ----------------------------------------------------------------------- a2q side

def run_a2q(a2q, args, what):
    cmd = [a2q] + args
    print("  $ " + " ".join(cmd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{what}: could not run {a2q}: {e}"
    if res.returncode != 0:
        return (f"{what} exited with {res.returncode}\n"
                f"--- stderr ---\n{res.stderr.strip()}\n--- stdout ---\n{res.stdout.strip()}")
    return None


def compare(ours, theirs):
    """Max over images of max|a2q - torch| / max|torch|, and argmax agreement."""
    err = np.abs(ours - theirs).max(axis=1)
    scale = np.maximum(np.abs(theirs).max(axis=1), np.finfo(np.float32).tiny)
    rel = err / scale
    agree = ours.argmax(axis=1) == theirs.argmax(axis=1)
    return float(rel.max()), int(rel.argmax()), int(agree.sum())


def check_with_a2q(args, name, onnx_path, normalize, expected):
    """Imports and evaluates with a2q; returns a list of failure messages."""
    a2q_path = os.path.join(args.work, f"{name}.a2q")
    csv_path = os.path.join(args.work, f"{name}.logits.csv")
    for p in (a2q_path, csv_path):
        if os.path.exists(p):
            os.remove(p)  # a stale file must not pass for a new result
    imp = ["import", onnx_path, "-o", a2q_path]
    if normalize is not None:
        imp += ["--normalize", ",".join(str(v) for v in normalize)]
    err = run_a2q(args.a2q, imp, "a2q import")
    if err:
        return [err]
    err = run_a2q(args.a2q, ["eval", a2q_path, "--data", args.data,
                             "--limit", str(N_COMPARE), "--logits", csv_path], "a2q eval")
    if err:
        return [err]
    try:
        ours = np.loadtxt(csv_path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        return [f"cannot read {csv_path}: {e}"]
    if ours.shape != expected.shape:
        return [f"{csv_path}: shape {ours.shape}, expected {expected.shape}"]
    rel, worst, agree = compare(ours, expected.astype(np.float64))
    print(f"  max relative error {rel:.3e} (image {worst}), "
          f"argmax agrees on {agree}/{len(expected)} images")
    failures = []
    if not rel <= REL_TOL:  # also catches NaN
        failures.append(f"max relative error {rel:.3e} > {REL_TOL:g} (image {worst})")
    if agree != len(expected):
        failures.append(f"argmax differs on {len(expected) - agree} images")
    return failures


# ---------------------------------------------------------------------------- main

def run_model(args, name, train, test):
    ctor, opset, normalize, lr, must_have = MODELS[name]
    t0 = time.process_time()
    torch.manual_seed(0)
    model = ctor()
    x_train = preprocess(train[0][:N_TRAIN], normalize)
    x_test = preprocess(test[0][:N_COMPARE], normalize)
    train_briefly(model, x_train, train[1], lr)
    with torch.no_grad():
        expected = model(x_test).numpy()
    acc = (expected.argmax(1) == test[1][:N_COMPARE]).mean()

    onnx_path = os.path.join(args.work, f"{name}.onnx")
    export(model, onnx_path, opset, keep_bn=not args.fold_bn)
    np.savez(os.path.join(args.work, f"{name}.expected.npz"),
             logits=expected, labels=test[1][:N_COMPARE],
             normalize=np.array(normalize if normalize else [], dtype=np.float32),
             opset=opset)
    print(f"[{name}] opset {opset}, normalize {normalize}, torch accuracy on the first "
          f"{N_COMPARE} test images {100 * acc:.2f}% ({time.process_time() - t0:.1f} s CPU)")
    _, counts = describe(onnx_path)

    if not args.fold_bn and any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        must_have = must_have | {"BatchNormalization"}
    failures = []
    missing = must_have - set(counts)
    if missing:
        failures.append(f"export lacks the ops this model is meant to test: {sorted(missing)}")
    if acc < 0.5:
        failures.append(f"torch model is not a meaningful classifier ({100 * acc:.1f}%)")
    if not args.export_only:
        failures += check_with_a2q(args, name, onnx_path, normalize, expected)
    verdict = "FAIL" if failures else ("EXPORTED" if args.export_only else "PASS")
    print(f"[{name}] {verdict}")
    for f in failures:
        print(f"  FAIL: {f}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a2q", help="path of the a2q program (not needed with --export-only)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of the Fashion-MNIST IDX files")
    ap.add_argument("--work", required=True, help="directory for the ONNX, a2q and CSV files")
    ap.add_argument("--model", choices=list(MODELS) + ["all"], default="all")
    ap.add_argument("--fold-bn", action="store_true",
                    help="export with torch's default TrainingMode.EVAL, which folds "
                         "BatchNorm into Conv (default: keep BatchNormalization nodes)")
    ap.add_argument("--export-only", action="store_true",
                    help="stop after writing the ONNX files and expected logits")
    args = ap.parse_args()
    if not args.export_only and not args.a2q:
        ap.error("--a2q is required unless --export-only is given")
    if args.a2q:
        args.a2q = os.path.abspath(args.a2q)
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)

    start = time.time()
    train = load_split(args.data, "train")
    test = load_split(args.data, "test")
    names = list(MODELS) if args.model == "all" else [args.model]
    failed = {}
    for name in names:
        failures = run_model(args, name, train, test)
        if failures:
            failed[name] = failures
    done = "exported" if args.export_only else "passed"
    print(f"{len(names) - len(failed)}/{len(names)} models {done} "
          f"({time.time() - start:.1f} s wall, {time.process_time():.1f} s CPU)")
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
