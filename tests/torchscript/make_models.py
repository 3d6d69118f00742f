#!/usr/bin/env python3
"""Writes the TorchScript files the tests load (random weights; nothing downloads).

    /usr/bin/python3 tests/torchscript/make_models.py OUT_DIR

resnet20.pt is ResNet-20 written in Python with the built-in's architecture, module names and
registration order, so init: seed draws the built-in's values and training matches it bit for bit.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, inp: int, out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.has_shortcut = stride != 1 or inp != out
        if self.has_shortcut:
            self.shortcut = nn.Conv2d(inp, out, 1, stride, 0, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(out)
        else:
            self.shortcut = nn.Identity()
            self.shortcut_bn = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut_bn(self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, depth: int = 20, channels: int = 1, classes: int = 10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        inp = 16
        for stage in range(3):
            out = 16 << stage
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                self.add_module(f"stage{stage + 1}_block{b}", BasicBlock(inp, out, stride))
                inp = out
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.conv(x)))
        for block in self.children():  # traced: the blocks in registration order
            if isinstance(block, BasicBlock):
                h = block(h)
        return self.fc(h.mean((2, 3)))


class ResNet20(CifarResNet):
    """The same network with its nine blocks spelled out, as torch.jit.script needs."""

    def __init__(self):
        super().__init__(20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.conv(x)))
        h = self.stage1_block2(self.stage1_block1(self.stage1_block0(h)))
        h = self.stage2_block2(self.stage2_block1(self.stage2_block0(h)))
        h = self.stage3_block2(self.stage3_block1(self.stage3_block0(h)))
        return self.fc(h.mean((2, 3)))


class SmallCNN(nn.Module):
    """A network of the user's own: BatchNorm, Dropout, pooling, flatten into a classifier."""

    def __init__(self, channels: int = 1, classes: int = 10, size: int = 28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.1), nn.Linear(16 * (size // 4) ** 2, 32), nn.ReLU(), nn.Linear(32, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Tokens(nn.Module):
    """Patches as tokens with an MLP on the last dimension (a transformer block's), and a linear
    layer applied to a conv output's width, which must not be taken for its channels."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, 8, 4, stride=4)  # [N, 8, 7, 7]
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 8)
        self.side = nn.Linear(7, 7)  # maps the width of [N, 8, 7, 7]
        self.head = nn.Linear(8 + 8 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch(x)
        t = p.flatten(2).transpose(1, 2)  # [N, 49, 8]
        t = t + self.fc2(F.gelu(self.fc1(t)))
        s = torch.flatten(self.side(p), 1)
        return self.head(torch.cat([t.mean(1), s], 1))


class NoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.scale).flatten(1)[:, :10]


class WrongOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 30)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)).view(-1, 3, 10)


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.jit.script(ResNet20()).save(os.path.join(out, "resnet20.pt"))
    torch.jit.trace(CifarResNet(20).eval(), torch.zeros(1, 1, 28, 28)).save(os.path.join(out, "resnet20_traced.pt"))
    torch.jit.script(SmallCNN()).save(os.path.join(out, "small_cnn.pt"))
    torch.jit.trace(SmallCNN().eval(), torch.zeros(1, 1, 28, 28)).save(os.path.join(out, "small_cnn_traced.pt"))
    torch.jit.script(SmallCNN(size=12, classes=4)).save(os.path.join(out, "small_cnn_12.pt"))
    torch.jit.script(Tokens()).save(os.path.join(out, "tokens.pt"))
    torch.jit.script(NoLayers()).save(os.path.join(out, "no_layers.pt"))
    torch.jit.script(WrongOutput()).save(os.path.join(out, "wrong_output.pt"))
    torch.jit.freeze(torch.jit.script(SmallCNN().eval())).save(os.path.join(out, "frozen.pt"))
    torch.save({"weights": torch.zeros(3)}, os.path.join(out, "not_torchscript.pt"))
    with open(os.path.join(out, "garbage.pt"), "wb") as f:
        f.write(b"this is not a model\n")
    print(f"wrote test models to {out}")


if __name__ == "__main__":
    main()
