#!/usr/bin/python3
"""The PyTorch eager baseline of bench/: the same models, data, batch size and threads as
prunelab_bench, written the way a PyTorch user would (Debian's python3-torch, the same LibTorch
underneath). Prints one JSON object; scripts/bench.sh passes it to prunelab_bench --eager."""
import argparse
import gzip
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    x = torch.from_numpy(read_idx(f"{ROOT}/{split}-images-idx3-ubyte.gz").copy()).float().div_(255)
    y = torch.from_numpy(read_idx(f"{ROOT}/{split}-labels-idx1-ubyte.gz").copy()).long()
    return ((x - 0.2860) / 0.3530).unsqueeze(1), y


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:  # projection shortcut, as prunelab's ResNet
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage in range(3):
            cout = 16 << stage
            for b in range(3):
                blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(h.mean((2, 3)))


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


WINDOWS = 3  # throughputs are the median of this many timed windows, as in prunelab_bench


def median_seconds(fn):
    times = []
    for _ in range(WINDOWS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def train_throughput(model, x, y, batch, warmup, steps, channels_last=False):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    g = torch.Generator().manual_seed(1)

    def step():
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        xb = x.index_select(0, idx).contiguous(memory_format=fmt)
        loss = F.cross_entropy(model(xb), y.index_select(0, idx))
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    return steps * batch / median_seconds(lambda: [step() for _ in range(steps)])


def eval_throughput(model, x, batch, channels_last=False):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    model.eval()
    with torch.inference_mode():
        model(x[:batch].contiguous(memory_format=fmt))

        def one_pass():
            correct = 0
            for i in range(0, x.shape[0], batch):
                correct += int(model(x[i:i + batch].contiguous(memory_format=fmt)).argmax(1).numel())

        return x.shape[0] / median_seconds(one_pass)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    warmup, steps = (2, 5) if a.quick else (5, 40)
    xtr, ytr = load("train")
    xte, _ = load("t10k")
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    n = 512 if a.quick else 2048
    m1, m2 = torch.randn(n, n), torch.randn(n, n)
    torch.mm(m1, m2)
    reps = 3 if a.quick else 20
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(m1, m2)
    out["matmul_gflops"] = 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9
    for name, make in (("resnet20", ResNet20), ("lenet300", LeNet300)):
        out[f"train_{name}_img_s"] = train_throughput(make(), xtr, ytr, 128, warmup, steps)
        out[f"eval_{name}_img_s"] = eval_throughput(make(), xte, 1000)
    # The layout prunelab uses, in PyTorch itself: what channels-last alone is worth here.
    out["train_resnet20_channels_last_img_s"] = train_throughput(ResNet20(), xtr, ytr, 128, warmup, steps, True)
    out["eval_resnet20_channels_last_img_s"] = eval_throughput(ResNet20(), xte, 1000, True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
