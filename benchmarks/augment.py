"""Images/s of Keras-style random affine augmentation: torchvision per sample vs the course's batched warp.

Both deliver the same thing: augmented, normalised float batches (B, 1, 28, 28) with their labels on
the device, drawn from the 51,000-image training split. The reference is the usual recipe:
torchvision's MNIST dataset with `v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))`
in its transform (at its defaults: nearest-neighbour, black fill, so less work than bilinear), batched
by a DataLoader. Against it, `AugmentedStream`: one `random_affine` call per batch, on the device,
at the training batch size and at a large one, and batches of the training size cut from chunks
warped the large size at a time (`chunk`, how training uses it on CUDA). Prints one table; the ratio is against the
DataLoader with no worker processes.

    python benchmarks/augment.py [--source DIR] [--root DIR] [--images 20000] [--bs 100] [--big-bs 10000]
                                 [--repeats 5] [--device cuda] [--threads N]
"""
import argparse

import torch
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import MNIST
from torchvision.transforms import v2

from loader import add_common_args, print_comparison  # benchmarks/loader.py: shared options and table
from mnist_course.augment import AugmentedStream
from mnist_course.data import MNIST_MEAN, MNIST_STD, load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine, pick_device


def reference_transform() -> v2.Compose:
    "The usual per-sample recipe: torchvision's RandomAffine with the report's ranges, then normalisation."
    return v2.Compose([v2.ToImage(), v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize([MNIST_MEAN], [MNIST_STD])])


def pipelines(args, device):
    "(name, batch size) -> a function making a fresh pass over `args.images` augmented images, reference first."
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    tfm = reference_transform()
    mnist = MNIST(raw_dir(args.root).parent.parent, train=True, transform=tfm)
    per_sample = Subset(mnist, train_idx[:args.images].tolist())
    x, y = ds.train_x[train_idx].to(device), ds.train_y[train_idx].to(device)
    make = {(f"torchvision RandomAffine, DataLoader {w} workers", args.bs):
            (lambda w=w: DataLoader(per_sample, args.bs, shuffle=True, num_workers=w)) for w in (0, 2)}
    for bs in (args.bs, args.big_bs):
        make["mnist_course AugmentedStream", bs] = lambda bs=bs: AugmentedStream(x, y, args.images, bs)
    make[f"mnist_course AugmentedStream, warped {args.big_bs:,} at a time", args.bs] = \
        lambda: AugmentedStream(x, y, args.images, args.bs, chunk=args.big_bs)
    return make


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--images", type=int, default=20_000, help="images per timed pass (default: 20,000)")
    p.add_argument("--bs", type=int, default=100, help="training batch size (default: 100, the report's)")
    p.add_argument("--big-bs", type=int, default=10_000, help="the large batch size (default: 10,000)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    m = describe_machine(device)
    print(f"# augmentation benchmark: {m['hardware']}, torch {m['torch']}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} passes of {args.images:,} images\n")
    print_comparison(("pipeline", "batch"), pipelines(args, device), device, args.repeats)


if __name__ == "__main__":
    main()
