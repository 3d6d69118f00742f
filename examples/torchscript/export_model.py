#!/usr/bin/env python3
"""Defines a small CNN of our own (not one of prunelab's built-ins) and saves it as TorchScript.

    /usr/bin/python3 examples/torchscript/export_model.py [OUT.pt] [--trace]

torch.jit.script keeps control flow and reads `self.training`, so BatchNorm and Dropout follow
train()/eval(); torch.jit.trace records one forward pass (prunelab re-links the mode flags that
tracing freezes, but data-dependent control flow and literal reshape sizes stay as traced).
Do not torch.jit.freeze the module: a frozen module has no parameters left to train or prune.
"""
import sys

import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 7 * 7, 64), nn.ReLU(inplace=True), nn.Linear(64, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else "examples/torchscript/small_cnn.pt"
    torch.manual_seed(0)
    model = SmallCNN()
    if "--trace" in sys.argv:
        scripted = torch.jit.trace(model.eval(), torch.zeros(1, 1, 28, 28))
    else:
        scripted = torch.jit.script(model)
    scripted.save(out)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
