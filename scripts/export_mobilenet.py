#!/usr/bin/env python3
"""Writes the MobileNetV2-style network of experiments/mobilenet.yaml as TorchScript (seed 0).

    /usr/bin/python3 scripts/export_mobilenet.py [OUT.pt]   # default: experiments/models/mobilenet.pt

Sandler et al. (2018)'s inverted residual block (1x1 expand, BatchNorm, ReLU6, 3x3 depthwise,
BatchNorm, ReLU6, 1x1 linear project, BatchNorm; the input added back where stride is 1 and the
widths match), sized for 1x28x28 inputs and two CPU cores: a stride-2 stem (14x14, then 7x7 and
4x4 after the blocks that stride), eight blocks, widths about half of the paper's, a 1x1 head conv
to 256 channels, global average pooling and one linear layer: 152k parameters. With a stride-1
stem a training step (batch 128, one thread) took 1.1 s of CPU instead of 0.22 s: too slow here. Initialised as torchvision initialises its
MobileNetV2 (He normal fan-out convs, BatchNorm 1/0, linear N(0, 0.01)), from torch.manual_seed(0),
so the file is byte-identical on every export; the experiment starts dense training from these values.
"""
import os
import sys

import torch
from torch import nn

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
BLOCKS = [(4, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 1)]
STEM = 16
HEAD = 256


def conv_bn(inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand: int):
        super().__init__()
        hidden = inp * expand
        self.use_residual = stride == 1 and inp == out
        self.conv = nn.Sequential(
            conv_bn(inp, hidden, 1),                                # expand
            conv_bn(hidden, hidden, 3, stride, groups=hidden),      # depthwise
            conv_bn(hidden, out, 1, relu=False),                    # linear bottleneck
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2Small(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        layers = [conv_bn(channels, STEM, 3, stride=2)]
        inp = STEM
        for t, c, n, s in BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        layers.append(conv_bn(inp, HEAD, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(HEAD, classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def main() -> None:
    # TorchScript writes a module's constants in set order, which string hashing randomises per
    # process: with a fixed hash seed the file is byte-identical on every export, so its content
    # hash (part of every run hash) and the cached dense model stay valid after a re-export.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "experiments", "models",
                                                             "mobilenet.pt")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.manual_seed(0)
    model = MobileNetV2Small()
    params = sum(p.numel() for p in model.parameters())
    scripted = torch.jit.script(model)
    assert scripted(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    scripted.save(out)
    print(f"saved {os.path.normpath(out)} ({params} parameters)")


if __name__ == "__main__":
    main()
