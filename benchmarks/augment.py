"""Images/s of Keras-style random affine augmentation: torchvision per sample vs the course's batched warp.

Both deliver the same thing: augmented, normalised float batches (B, 1, 28, 28) with their labels on
the device, drawn from the 51,000-image training split. The reference is the usual recipe:
torchvision's MNIST dataset with `v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))`
in its transform (at its defaults: nearest-neighbour, black fill, so less work than bilinear), batched
by a DataLoader. Against it, `AugmentedStream`: one `random_affine` call per batch, on the device,
at the training batch size and at a large one. Prints one table; the ratio is against the
DataLoader with no worker processes.

    python benchmarks/augment.py [--source DIR] [--root DIR] [--images 20000] [--bs 100] [--big-bs 10000]
                                 [--repeats 5] [--device cuda] [--threads N]
"""
import argparse
import statistics

import torch
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import MNIST
from torchvision.transforms import v2

from loader import epoch_rate  # benchmarks/loader.py: images/s of one pass, the copy to the device included
from mnist_course.augment import AugmentedStream
from mnist_course.data import MNIST_MEAN, MNIST_STD, load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine, pick_device


def pipelines(args, device):
    "(name, batch size) -> a function making a fresh pass over `args.images` augmented images, reference first."
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    tfm = v2.Compose([v2.ToImage(), v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                      v2.ToDtype(torch.float32, scale=True), v2.Normalize([MNIST_MEAN], [MNIST_STD])])
    mnist = MNIST(raw_dir(args.root).parent.parent, train=True, transform=tfm)
    per_sample = Subset(mnist, train_idx[:args.images].tolist())
    x, y = ds.train_x[train_idx].to(device), ds.train_y[train_idx].to(device)
    make = {(f"torchvision RandomAffine, DataLoader {w} workers", args.bs):
            (lambda w=w: DataLoader(per_sample, args.bs, shuffle=True, num_workers=w)) for w in (0, 2)}
    for bs in (args.bs, args.big_bs):
        make["mnist_course AugmentedStream", bs] = lambda bs=bs: AugmentedStream(x, y, args.images, bs)
    return make


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", help="folder of the four official files (default: $MNIST_COURSE_DATA)")
    p.add_argument("--root", help="prepared-data folder (default: the cache)")
    p.add_argument("--images", type=int, default=20_000, help="images per timed pass (default: 20,000)")
    p.add_argument("--bs", type=int, default=100, help="training batch size (default: 100, the report's)")
    p.add_argument("--big-bs", type=int, default=10_000, help="the large batch size (default: 10,000)")
    p.add_argument("--repeats", type=int, default=5, help="passes timed per pipeline; the median is shown")
    p.add_argument("--device", help="cuda, mps or cpu (default: fastest present)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    m = describe_machine(device)
    print(f"# augmentation benchmark: {m['hardware']}, torch {m['torch']}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} passes of {args.images:,} images\n")
    print(f"| {'pipeline':<46} | {'batch':>6} | {'device':<6} | {'images/s':>12} | {'x reference':>11} |")
    print(f"|{'-' * 48}|{'-' * 8}|{'-' * 8}|{'-' * 14}|{'-' * 13}|")
    ref = None
    for (name, bs), make in pipelines(args, device).items():
        rate = statistics.median(epoch_rate(make(), device) for _ in range(args.repeats))
        ref = ref or rate
        print(f"| {name:<46} | {bs:>6,} | {device.type:<6} | {rate:>12,.0f} | {rate / ref:>10.1f}x |", flush=True)


if __name__ == "__main__":
    main()
