#!/usr/bin/python3
"""PyTorch peer for bench/train_bench: trains the same MLP and CNN on Fashion-MNIST, and the same ResNet
(a2q's cifar_resnet: width 16, one basic block per stage) on 10000 random CIFAR-sized images, for one epoch
(batch 128, Adam, lr 1e-3) and prints one JSON line per (model, threads) with seconds per epoch.

Usage: /usr/bin/python3 bench/torch_reference.py [--data DIR] [--threads 1,2] [--models mlp,cnn,resnet]
Needs Debian's python3-torch (scripts/setup.sh)."""
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


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        skip = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.bn2(self.conv2(h)) + skip)


def model_for(name):
    if name == "resnet":
        w = 16
        return nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                             BasicBlock(w, w, 1), BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 4 * w, 2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 10))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    images = read_idx(find(args.data, "train-images-idx3-ubyte"))
    labels = read_idx(find(args.data, "train-labels-idx1-ubyte"))
    mnist = (torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1),
             torch.from_numpy(labels.astype(np.int64)))
    generator = torch.Generator().manual_seed(7)
    cifar = (torch.rand(10000, 3, 32, 32, generator=generator),
             torch.randint(0, 10, (10000,), generator=generator))

    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            x_all, y_all = cifar if name == "resnet" else mnist
            n = x_all.shape[0]
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
                "peer": "pytorch " + torch.__version__, "model": name, "threads": threads, "samples": n,
                "epoch_seconds": best, "samples_per_second": n / best,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}), flush=True)


if __name__ == "__main__":
    main()
