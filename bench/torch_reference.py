#!/usr/bin/python3
"""PyTorch peer for bench/train_bench: trains the same MLP and CNN on Fashion-MNIST for one epoch
(batch 128, Adam, lr 1e-3) and prints one JSON line per (model, threads) with seconds per epoch.

Usage: /usr/bin/python3 bench/torch_reference.py [--data DIR] [--threads 1,2] [--models mlp,cnn]
Needs Debian's python3-torch (scripts/setup.sh --bench)."""
import argparse
import gzip
import json
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(os.path.join(directory, stem))


def model_for(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 10))


def forward_backward_flops(name):
    # Multiply-adds count 2 FLOPs; forward + backward ~ 3x forward (the first layer needs no input gradient,
    # which this count ignores, as the a2q benchmark does).
    if name == "mlp":
        forward = 2 * (784 * 256 + 256 * 256 + 256 * 10)
    else:
        forward = 2 * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 10)
    return 3 * forward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    images = read_idx(find(args.data, "train-images-idx3-ubyte"))
    labels = read_idx(find(args.data, "train-labels-idx1-ubyte"))
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y_all = torch.from_numpy(labels.astype(np.int64))
    n = x_all.shape[0]

    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            torch.manual_seed(1)
            model = model_for(name)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            seconds = []
            for epoch in range(args.epochs):
                order = torch.randperm(n)
                start = time.perf_counter()
                for i in range(0, n, 128):
                    idx = order[i:i + 128]
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(model(x_all[idx]), y_all[idx])
                    loss.backward()
                    optimizer.step()
                seconds.append(time.perf_counter() - start)
            best = min(seconds)
            print(json.dumps({
                "peer": "pytorch " + torch.__version__, "model": name, "threads": threads,
                "epoch_seconds": best, "samples_per_second": n / best,
                "gflops": n * forward_backward_flops(name) / best / 1e9,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}), flush=True)


if __name__ == "__main__":
    main()
