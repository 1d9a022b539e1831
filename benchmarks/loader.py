"""Images/s of one training epoch of batches: torchvision DataLoader vs the course's DeviceLoader.

Both read the same prepared, verified files and deliver the same thing, normalised float batches
(B, 1, 28, 28) with their labels on the device. Prints one table; the ratio is against the
reference DataLoader with no worker processes.

    python benchmarks/loader.py [--source DIR] [--root DIR] [--bs 100] [--repeats 5] [--device cuda]
"""
import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import transforms
from torchvision.datasets import MNIST

from mnist_course.data import MNIST_MEAN, MNIST_STD, DeviceLoader, load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine, pick_device


def epoch_rate(batches, device) -> float:
    "Images/s of one pass over `batches`, each moved to `device` (the timing includes the copy)."
    start, n = time.perf_counter(), 0
    for xb, yb in batches:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        n += len(yb)
    if device.type == "cuda": torch.cuda.synchronize(device)
    return n / (time.perf_counter() - start)


def pipelines(args, device):
    "name -> a function making a fresh epoch of batches, reference first."
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    tfm = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    tv = Subset(MNIST(raw_dir(args.root).parent.parent, train=True, transform=tfm), train_idx.tolist())
    x, y = ds.train_x[train_idx].to(device), ds.train_y[train_idx].to(device)
    make = {f"torchvision DataLoader, {w} workers": (lambda w=w: DataLoader(tv, args.bs, shuffle=True, num_workers=w))
            for w in (0, 2)}
    make["mnist_course DeviceLoader"] = lambda: DeviceLoader(x, y, args.bs, shuffle=True)
    return make


def add_common_args(p: argparse.ArgumentParser) -> None:
    "The options every benchmark here shares: data location, repeats, device."
    p.add_argument("--source", help="folder of the four official files (default: $MNIST_COURSE_DATA)")
    p.add_argument("--root", help="prepared-data folder (default: the cache)")
    p.add_argument("--repeats", type=int, default=5, help="passes timed per pipeline; the median is shown")
    p.add_argument("--device", help="cuda, mps or cpu (default: fastest present)")


def print_comparison(columns: tuple, makers: dict, device, repeats: int) -> None:
    "One markdown row per pipeline (its `columns` values), median images/s and the ratio to the first row."
    head = [*columns, "device", "images/s", "x reference"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    ref = None
    for key, make in makers.items():
        rate = statistics.median(epoch_rate(make(), device) for _ in range(repeats))
        ref = ref or rate
        cells = [f"{k:,}" if isinstance(k, int) else str(k) for k in key]
        print("| " + " | ".join([*cells, device.type, f"{rate:,.0f}", f"{rate / ref:.1f}x"]) + " |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--bs", type=int, default=100, help="batch size (default: 100, the report's)")
    args = p.parse_args()
    device = pick_device(args.device)
    m = describe_machine(device)
    print(f"# loader benchmark: {m['hardware']}, torch {m['torch']}, batch {args.bs}, "
          f"median of {args.repeats} epochs of 51,000 images\n")
    print_comparison(("pipeline",), {(name,): make for name, make in pipelines(args, device).items()},
                     device, args.repeats)


if __name__ == "__main__":
    main()
