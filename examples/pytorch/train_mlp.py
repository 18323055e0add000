#!/usr/bin/python3
"""Train a float MLP 784-256-256-10 on Fashion-MNIST in PyTorch and export it to ONNX.

The network is a2q's zoo MLP (ReLU between the layers).  The exported file is
the starting point of `a2q import` and of accumulator-aware fine-tuning with
`a2q train --init-from`; see README.md next to this script.

Usage:
    train_mlp.py [--data DIR] [--epochs 10] [--out mlp.onnx] [--threads 1] [--seed 0]

Writes OUT (ONNX, opset 13, dynamic batch) and OUT with suffix .json holding
{"test_accuracy": ..., "epochs": ..., "seed": ...}.
"""

import argparse
import gzip
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 128
LR = 1e-3


def read_idx(path):
    """Reads an IDX file (gzip-compressed or not) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, prefix):
    """Images as float32 [N, 1, 28, 28] with x = pixel / 255 (what a2q feeds the
    model when imported without --normalize), labels as int64 [N]."""
    def path(stem):
        p = os.path.join(data_dir, stem)
        return p + ".gz" if os.path.exists(p + ".gz") else p
    images = read_idx(path(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(path(f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def make_mlp():
    # Flatten is part of the model so the ONNX input is the image, [N, 1, 28, 28].
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 10))


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                  for i in range(0, len(x), 1000))
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="mlp.onnx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")

    model = make_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps_per_epoch = (len(x_train) + BATCH - 1) // BATCH
    # Cosine decay to zero over the whole run, stepped per batch: the late small
    # steps are worth about one point of accuracy over a constant rate.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)
    epoch_times = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total_loss = 0.0
        for i in range(0, len(x_train), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        epoch_times.append(time.perf_counter() - t0)
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}/{args.epochs}: loss {total_loss / len(x_train):.4f}, "
              f"test acc {100 * acc:.2f}%, {epoch_times[-1]:.1f} s")

    acc = accuracy(model, x_test, y_test)
    print(f"pytorch float test accuracy: {100 * acc:.2f}%")
    print(f"({sum(epoch_times) / len(epoch_times):.2f} s/epoch, {args.threads} threads)")

    model.eval()
    out = pathlib.Path(args.out)
    if out.parent != pathlib.Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), str(out),
        opset_version=13,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True)
    meta = out.with_suffix(".json")
    meta.write_text(json.dumps({"test_accuracy": acc, "epochs": args.epochs,
                                "seed": args.seed}, indent=2) + "\n")
    print(f"wrote {out} and {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
