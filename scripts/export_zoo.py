#!/usr/bin/env python3
"""Exports torchvision's classification models as TorchScript (random weights, nothing downloads).

    /usr/bin/python3 scripts/export_zoo.py OUT_DIR [--size 64] [--classes 10] [--trace] [NAME ...]

Each model is scripted (torch.jit.script) unless --trace is given or scripting fails, then traced
in eval mode on one input of the given size. Writes OUT_DIR/NAME.pt and prints one line each.
"""
import os
import sys

import torch
import torchvision

MODELS = [
    "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "vgg11_bn", "alexnet", "squeezenet1_1",
    "densenet121", "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small", "mnasnet1_0",
    "shufflenet_v2_x1_0", "efficientnet_b0", "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny",
    "vit_b_16", "swin_t",
]


def build(name: str, classes: int, size: int) -> torch.nn.Module:
    kwargs = {"weights": None, "num_classes": classes}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=False)
    if name == "vit_b_16":
        kwargs["image_size"] = size
    model = getattr(torchvision.models, name)(**kwargs)
    # ViT starts its head at zero, so its outputs would be all zero whatever the rest computes:
    # a layer whose weight is all zero is drawn like a linear layer's default instead.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and not m.weight.any():
                torch.nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)
    return model


def main() -> None:
    args = sys.argv[1:]
    out = args.pop(0)
    size, classes, trace, names = 64, 10, False, []
    while args:
        a = args.pop(0)
        if a == "--size":
            size = int(args.pop(0))
        elif a == "--classes":
            classes = int(args.pop(0))
        elif a == "--trace":
            trace = True
        else:
            names.append(a)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name in names or MODELS:
        model = build(name, classes, 299 if name == "inception_v3" and size < 75 else size).eval()
        how = "traced"
        try:
            if trace:
                raise RuntimeError("tracing asked for")
            scripted = torch.jit.script(model)
            how = "scripted"
        except Exception:  # noqa: BLE001 - some models are not scriptable: trace them
            scripted = torch.jit.trace(model, torch.zeros(1, 3, size, size))
        path = os.path.join(out, f"{name}.pt")
        scripted.save(path)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {how}, {params} parameters -> {path}", flush=True)


if __name__ == "__main__":
    main()
