"""Training throughput (images/s): a plain reference pipeline vs the course's, side by side in one run.

reference: torchvision DataLoader over the dataset with per-sample transforms.v2 RandomAffine, fp32,
           eager, NCHW, data copied to the device per batch (how most tutorials train MNIST);
course:    the dataset as one tensor on the device, Keras-style augmentation there, and on CUDA
           bf16 autocast, channels_last, augmentation 10,000 images at a time and the whole step
           captured as one CUDA graph (lesson 09); --compile MODE adds a torch.compile row instead
           of the graph (mode reduce-overhead replays the model's kernels as CUDA graphs).
--features adds the course's pieces one at a time, from the plain device pipeline to the default,
so each row shows what one piece buys; --in-graph does the same from the CUDA graph in fp32 on,
where the GPU, not the launches, sets the pace. Every row runs the same `TrainStep` (lesson 09) at the
report's batch size and plain SGD. Prints one table: the median over repeats, and the ratio to the
reference pipeline of the same model.

Every pipeline is measured the same way: its batches (dataset, DataLoader, worker processes) are built and warmed
up on a few steps before the timer starts, then whole passes of `--steps` steps are timed until at least
`--min-seconds` have passed, so each rate is a steady state, never start-up.

    python benchmarks/train.py [--models baseline resnet34] [--steps 200] [--repeats 3] [--min-seconds 3]
                               [--features | --in-graph] [--compile MODE]
"""
import argparse
import dataclasses
import itertools
import statistics
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import MNIST

from augment import reference_transform  # benchmarks/augment.py: the same per-sample recipe
from loader import add_common_args  # benchmarks/loader.py: the shared options
from mnist_course.augment import AugmentedStream
from mnist_course.checkpoint import build_model
from mnist_course.config import make_config
from mnist_course.data import load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine
from mnist_course.step import CUDA_AUG_CHUNK, TrainStep, cudnn_autotune, resolve_runtime, to_device
from mnist_course.train import loss_fn, make_optimizer


def reference_batches(args, train_idx):
    "A DataLoader with per-sample RandomAffine (the report's ranges, torchvision's semantics); its workers persist."
    root = raw_dir(args.root).parent.parent
    ds = Subset(MNIST(root, train=True, transform=reference_transform()), train_idx[:args.steps * args.bs].tolist())
    return DataLoader(ds, args.bs, shuffle=True, num_workers=args.workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=args.workers > 0)


def rate(model_name, batches, rt, compile_mode=None, min_seconds=3.) -> float:
    "Images/s of SGD steps over `batches`, warmed up first (workers, cuDNN, graph, compile), timed in steady state."
    with cudnn_autotune(rt.cudnn_benchmark): return _rate(model_name, batches, rt, compile_mode, min_seconds)


def _rate(model_name, batches, rt, compile_mode, min_seconds) -> float:
    torch.manual_seed(0)
    net = build_model(model_name).to(rt.device)
    if rt.channels_last: net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net, mode=compile_mode) if compile_mode else net
    cfg = make_config(model_name)
    step = TrainStep(model, make_optimizer(cfg, net.parameters(), rt.device), loss_fn(cfg), rt.bf16, rt.graph)
    one_pass(step, itertools.islice(batches, WARMUP_STEPS), rt)  # the same batches: their workers start here
    n, t = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t) < min_seconds or not n: n += one_pass(step, batches, rt)
    return n / elapsed


def one_pass(step, batches, rt) -> int:
    "SGD steps of `step` over `batches`; returns the images, once the device is done (reading the totals waits)."
    step.model.train()
    n = 0
    for xb, yb in batches:
        step(*to_device(xb, yb, rt))
        n += len(yb)
    step.take_totals()[0].item()
    return n


WARMUP_STEPS = 10
EAGER = ("data on device, per-batch warp, fp32, eager", {})
FEATURES = [EAGER, ("+ bf16 autocast", dict(bf16=True)), ("+ channels_last", dict(channels_last=True)),
            (f"+ warp {CUDA_AUG_CHUNK:,} images at a time", dict(aug_chunk=CUDA_AUG_CHUNK)),
            ("+ CUDA graph of the whole step (the default)", dict(graph=True))]
# what each buys once the GPU sets the pace
IN_GRAPH = [(f"CUDA graph, warp {CUDA_AUG_CHUNK:,} at a time, fp32", dict(graph=True, aug_chunk=CUDA_AUG_CHUNK)),
            *FEATURES[1:3], ("+ cuDNN autotuning (off by default)", dict(cudnn_benchmark=True))]


def pipelines(rt, args) -> list[tuple[str, object, str | None]]:
    "(name, runtime, compile mode) per course row: the default, or its pieces one at a time (--features, --in-graph)."
    steps = FEATURES if args.features else IN_GRAPH if args.in_graph else []
    rows, prt = [] if steps else [("course (defaults on this device)", rt, None)], dataclasses.replace(
        rt, bf16=False, channels_last=False, graph=False, aug_chunk=0, cudnn_benchmark=False)
    for label, change in steps:
        if change.get("graph") and rt.device.type != "cuda": break   # graphs are CUDA's
        prt = dataclasses.replace(prt, **change)
        rows.append((label, prt, None))
    if args.compile:
        rows.append((f"torch.compile(mode={args.compile!r}) instead of the graph", dataclasses.replace(rt, graph=False),
                     args.compile))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--models", nargs="+", default=["baseline", "resnet34"])
    p.add_argument("--steps", type=int, default=200, help="SGD steps per timed pass")
    p.add_argument("--min-seconds", type=float, default=3., help="time whole passes until at least this many seconds")
    p.add_argument("--bs", type=int, default=100, help="batch size (default: the report's 100)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes for the reference")
    p.add_argument("--features", action="store_true", help="add the course's speed-ups one at a time, a row each")
    p.add_argument("--in-graph", action="store_true",
                   help="the same, from the CUDA graph in fp32 on: what each piece buys inside it")
    p.add_argument("--compile", choices=["default", "reduce-overhead", "max-autotune"],
                   help="add a row: the model under torch.compile with this mode, in place of the CUDA graph")
    args = p.parse_args()
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    rt = resolve_runtime(make_config(device=args.device))
    ref_rt = dataclasses.replace(rt, bf16=False, channels_last=False, graph=False, aug_chunk=0)
    x, y = ds.train_x[train_idx].to(rt.device), ds.train_y[train_idx].to(rt.device)
    m = describe_machine(rt.device)
    print(f"# training benchmark: {m['hardware']}, torch {m['torch']}, batch {args.bs}, passes of {args.steps} steps "
          f"({args.steps * args.bs:,} images) for at least {args.min_seconds:g} s after warm-up, "
          f"median of {args.repeats}\n")
    print(f"| {'model':<9} | {'pipeline':<52} | {'img/s':>9} | {'vs reference':>12} |")
    print(f"|{'-' * 11}|{'-' * 54}|{'-' * 11}|{'-' * 14}|")
    for name in args.models:
        ref = statistics.median(rate(name, reference_batches(args, train_idx), ref_rt, min_seconds=args.min_seconds)
                                for _ in range(args.repeats))
        print(f"| {name:<9} | {'reference: DataLoader, per-sample RandomAffine, fp32':<52} "
              f"| {ref:>9,.0f} | {1:>11.1f}x |", flush=True)
        for label, prt, mode in pipelines(rt, args):
            batches = AugmentedStream(x, y, n_per_epoch=args.steps * args.bs, bs=args.bs, chunk=prt.aug_chunk)
            r = statistics.median(rate(name, batches, prt, mode, args.min_seconds) for _ in range(args.repeats))
            print(f"| {name:<9} | {label:<52} | {r:>9,.0f} | {r / ref:>11.1f}x |", flush=True)


if __name__ == "__main__":
    main()
