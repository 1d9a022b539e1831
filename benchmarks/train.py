"""Training throughput (images/s): a plain reference pipeline vs the course's, side by side in one run.

reference: torchvision DataLoader over the dataset with per-sample transforms.v2 RandomAffine, fp32,
           eager, data copied to the device per batch (how most tutorials train MNIST);
course:    the dataset as one tensor on the device, Keras-style augmentation batched there, and on
           CUDA bf16 autocast + channels_last (+ torch.compile with --compile [MODE]; mode
           reduce-overhead replays the model's kernels as CUDA graphs, which attacks launch cost).
Both run the same SGD step (`mnist_course.train.train_epoch`) at the report's batch size. Prints a
table with the median over repeats and the ratio course/reference for each model.

    python benchmarks/train.py [--models baseline resnet34] [--steps 20] [--repeats 3] [--compile [MODE]]
"""
import argparse
import dataclasses
import statistics
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import MNIST

from augment import reference_transform  # benchmarks/augment.py: the same per-sample recipe
from loader import add_common_args  # benchmarks/loader.py: the shared options
from mnist_course.augment import AugmentedStream
from mnist_course.data import load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine
from mnist_course.train import build_model, loss_fn, make_config, make_optimizer, resolve_runtime, train_epoch


def reference_batches(args, train_idx, steps):
    "A DataLoader with per-sample RandomAffine (the report's ranges, torchvision's semantics)."
    ds = Subset(MNIST(raw_dir(args.root).parent.parent, train=True, transform=reference_transform()), train_idx[:steps * args.bs].tolist())
    return DataLoader(ds, args.bs, shuffle=True, num_workers=args.workers, pin_memory=torch.cuda.is_available())


def rate(model_name, batches_fn, rt, compile_mode) -> float:
    "Images/s of one pass of SGD steps over `batches_fn()`, after one warm-up pass."
    torch.manual_seed(0)
    net = build_model(model_name).to(rt.device)
    if rt.channels_last: net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net, mode=compile_mode) if compile_mode else net
    cfg = make_config(model_name)
    opt = make_optimizer(cfg, net.parameters())
    train_epoch(model, batches_fn(), opt, loss_fn(cfg), rt)  # warm-up: allocator, cudnn autotune, compile
    if rt.device.type == "cuda": torch.cuda.synchronize()
    t = time.perf_counter()
    _, _, n = train_epoch(model, batches_fn(), opt, loss_fn(cfg), rt)
    return n / (time.perf_counter() - t)  # train_epoch ends with .item(): the device is done


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--models", nargs="+", default=["baseline", "resnet34"])
    p.add_argument("--steps", type=int, default=20, help="timed SGD steps per measurement")
    p.add_argument("--bs", type=int, default=100, help="batch size (default: the report's 100)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes for the reference")
    p.add_argument("--compile", nargs="?", const="default", choices=["default", "reduce-overhead", "max-autotune"],
                   help="torch.compile the course pipeline's model, with this mode (default: no compile)")
    args = p.parse_args()
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    rt = resolve_runtime(make_config(device=args.device))
    ref_rt = dataclasses.replace(rt, bf16=False, channels_last=False)
    x, y = ds.train_x[train_idx].to(rt.device), ds.train_y[train_idx].to(rt.device)
    m = describe_machine(rt.device)
    print(f"# training benchmark: {m['hardware']}, torch {m['torch']}, batch {args.bs}, {args.steps} steps, "
          f"median of {args.repeats}; course: bf16={rt.bf16} channels_last={rt.channels_last} compile={args.compile}\n")
    print(f"| {'model':<9} | {'reference img/s':>15} | {'course img/s':>12} | {'course / reference':>18} |")
    print(f"|{'-' * 11}|{'-' * 17}|{'-' * 14}|{'-' * 20}|")
    for name in args.models:
        ref = statistics.median(rate(name, lambda: reference_batches(args, train_idx, args.steps), ref_rt, None)
                                for _ in range(args.repeats))
        course = statistics.median(rate(name, lambda: AugmentedStream(x, y, n_per_epoch=args.steps * args.bs, bs=args.bs), rt,
                                        args.compile) for _ in range(args.repeats))
        print(f"| {name:<9} | {ref:>15,.0f} | {course:>12,.0f} | {course / ref:>17.1f}x |", flush=True)


if __name__ == "__main__":
    main()
