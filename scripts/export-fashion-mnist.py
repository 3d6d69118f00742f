#!/usr/bin/python3
"""Writes (a slice of) Fashion-MNIST in the three other formats prunelab reads, from Debian's
dataset-fashion-mnist IDX files:

  OUT/idx/       train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-... (raw IDX: mnist_format)
  OUT/png/       train/<class>/<index>.png and test/<class>/<index>.png, grey 28x28 (image_folder)
  OUT/tensors/   train.pt and test.pt, torch.save({'images': uint8 [N, 1, 28, 28],
                 'labels': int64 [N]}) (tensors)

The PNG files are named by their index in the split (00000.png, ...) and the class folders
by label (0-t-shirt, 1-trouser, ...), so the folder keeps the IDX order and labels: loading
any of the three gives the same tensors as the IDX files (tests/test_data_formats.cpp).

  /usr/bin/python3 scripts/export-fashion-mnist.py OUT [--train N] [--test N] [--source DIR]

PNG files are written with the standard library (zlib); the tensors files need python3-torch.
"""
import argparse
import gzip
import os
import struct
import zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\x00\x00\x08":
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def find(source, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(source, name)):
            return os.path.join(source, name)
    raise SystemExit(f"{stem}(.gz) not found under {source} (install Debian's dataset-fashion-mnist)")


def png_grey(pixels, width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))  # filter 0 per row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def write_idx(path, shape, data):
    with open(path, "wb") as f:
        f.write(b"\x00\x00\x08" + bytes([len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=0, help="first N training images (0 = all 60000)")
    p.add_argument("--test", type=int, default=0, help="first N test images (0 = all 10000)")
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    import torch  # only here: the other formats need nothing but the standard library

    for split, prefix, limit in (("train", "train", args.train), ("test", "t10k", args.test)):
        (n, h, w), images = read_idx(find(args.source, f"{prefix}-images-idx3-ubyte"))
        (n_labels,), labels = read_idx(find(args.source, f"{prefix}-labels-idx1-ubyte"))
        assert n == n_labels
        n = min(n, limit) if limit > 0 else n
        images, labels = images[:n * h * w], labels[:n]

        os.makedirs(os.path.join(args.out, "idx"), exist_ok=True)
        write_idx(os.path.join(args.out, "idx", f"{prefix}-images-idx3-ubyte"), (n, h, w), images)
        write_idx(os.path.join(args.out, "idx", f"{prefix}-labels-idx1-ubyte"), (n,), labels)

        if len(set(labels)) < len(CLASSES):  # an empty class folder would be an error, a missing one shifts labels
            print(f"warning: the {split} slice lacks classes {sorted(set(range(len(CLASSES))) - set(labels))}")
        for i in range(n):
            folder = os.path.join(args.out, "png", split, f"{labels[i]}-{CLASSES[labels[i]]}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                f.write(png_grey(images[i * h * w:(i + 1) * h * w], w, h))

        os.makedirs(os.path.join(args.out, "tensors"), exist_ok=True)
        tensors = {"images": torch.frombuffer(bytearray(images), dtype=torch.uint8).reshape(n, 1, h, w),
                   "labels": torch.frombuffer(bytearray(labels), dtype=torch.uint8).to(torch.int64)}
        torch.save(tensors, os.path.join(args.out, "tensors", f"{split}.pt"))
        print(f"{split}: {n} images -> {args.out}/{{idx,png,tensors}}")


if __name__ == "__main__":
    main()
