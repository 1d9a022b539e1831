"""Training throughput (images/s): a plain reference pipeline vs the course's, side by side in one run.

reference: torchvision DataLoader over the dataset with per-sample transforms.v2 RandomAffine, fp32,
           eager, NCHW, data copied to the device per batch (how most tutorials train MNIST);
course:    the dataset as one tensor on the device, Keras-style augmentation there, and on CUDA
           bf16 autocast, channels_last, augmentation 10,000 images at a time and the whole step
           captured as one CUDA graph (lesson 05c); --compile MODE adds a torch.compile row instead
           of the graph (mode reduce-overhead replays the model's kernels as CUDA graphs).
--features adds the course's pieces one at a time, from the plain device pipeline to the default,
so each row shows what one piece buys; --in-graph does the same from the CUDA graph in fp32 on,
where the GPU, not the launches, sets the pace. Every row runs the same `TrainStep` (lesson 05c) at the
report's batch size and plain SGD. Prints one table: the median over repeats, and the ratio to the
reference pipeline of the same model.

    python benchmarks/train.py [--models baseline resnet34] [--steps 200] [--repeats 3] [--features | --in-graph] [--compile MODE]
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
from mnist_course.checkpoint import build_model
from mnist_course.config import make_config
from mnist_course.data import load_mnist, raw_dir, split_train_val
from mnist_course.machine import describe_machine
from mnist_course.step import TrainStep, cudnn_autotune
from mnist_course.train import CUDA_AUG_CHUNK, loss_fn, make_optimizer, resolve_runtime, train_epoch


def reference_batches(args, train_idx, steps):
    "A DataLoader with per-sample RandomAffine (the report's ranges, torchvision's semantics)."
    ds = Subset(MNIST(raw_dir(args.root).parent.parent, train=True, transform=reference_transform()), train_idx[:steps * args.bs].tolist())
    return DataLoader(ds, args.bs, shuffle=True, num_workers=args.workers, pin_memory=torch.cuda.is_available())


def rate(model_name, batches_fn, rt, compile_mode=None) -> float:
    "Images/s of one pass of SGD steps over `batches_fn(steps)`, after a short warm-up pass (cuDNN, graph capture, compile)."
    with cudnn_autotune(rt.cudnn_benchmark): return _rate(model_name, batches_fn, rt, compile_mode)


def _rate(model_name, batches_fn, rt, compile_mode=None) -> float:
    torch.manual_seed(0)
    net = build_model(model_name).to(rt.device)
    if rt.channels_last: net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net, mode=compile_mode) if compile_mode else net
    cfg = make_config(model_name)
    step = TrainStep(model, make_optimizer(cfg, net.parameters(), rt.device), loss_fn(cfg), rt.bf16, rt.graph)
    train_epoch(step, batches_fn(WARMUP_STEPS), rt)
    t = time.perf_counter()
    _, _, n = train_epoch(step, batches_fn(None), rt)
    return n / (time.perf_counter() - t)  # train_epoch ends by reading the totals: the device is done


WARMUP_STEPS = 10
EAGER = ("data on device, per-batch warp, fp32, eager", {})
FEATURES = [EAGER, ("+ bf16 autocast", dict(bf16=True)), ("+ channels_last", dict(channels_last=True)),
            (f"+ warp {CUDA_AUG_CHUNK:,} images at a time", dict(aug_chunk=CUDA_AUG_CHUNK)),
            ("+ CUDA graph of the whole step (the default)", dict(graph=True))]
IN_GRAPH = [(f"CUDA graph, warp {CUDA_AUG_CHUNK:,} at a time, fp32", dict(graph=True, aug_chunk=CUDA_AUG_CHUNK)), *FEATURES[1:3],
            ("+ cuDNN autotuning (off by default)", dict(cudnn_benchmark=True))]  # what each buys once the GPU sets the pace


def pipelines(rt, args) -> list[tuple[str, object, str | None]]:
    "(name, runtime, compile mode) of each course row: the default, or its pieces added one at a time (--features, --in-graph)."
    steps = FEATURES if args.features else IN_GRAPH if args.in_graph else []
    rows, prt = [] if steps else [("course (defaults on this device)", rt, None)], dataclasses.replace(
        rt, bf16=False, channels_last=False, graph=False, aug_chunk=0, cudnn_benchmark=False)
    for label, change in steps:
        if change.get("graph") and rt.device.type != "cuda": break   # graphs are CUDA's
        prt = dataclasses.replace(prt, **change)
        rows.append((label, prt, None))
    if args.compile:
        rows.append((f"torch.compile(mode={args.compile!r}) instead of the graph", dataclasses.replace(rt, graph=False), args.compile))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--models", nargs="+", default=["baseline", "resnet34"])
    p.add_argument("--steps", type=int, default=200, help="timed SGD steps per measurement")
    p.add_argument("--bs", type=int, default=100, help="batch size (default: the report's 100)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes for the reference")
    p.add_argument("--features", action="store_true", help="add the course's speed-ups one at a time, a row each")
    p.add_argument("--in-graph", action="store_true", help="the same, from the CUDA graph in fp32 on: what each piece buys inside it")
    p.add_argument("--compile", choices=["default", "reduce-overhead", "max-autotune"],
                   help="add a row: the model under torch.compile with this mode, in place of the CUDA graph")
    args = p.parse_args()
    ds = load_mnist(args.source, args.root)
    train_idx, _ = split_train_val(ds.train_y)
    rt = resolve_runtime(make_config(device=args.device))
    ref_rt = dataclasses.replace(rt, bf16=False, channels_last=False, graph=False, aug_chunk=0)
    x, y = ds.train_x[train_idx].to(rt.device), ds.train_y[train_idx].to(rt.device)
    m = describe_machine(rt.device)
    print(f"# training benchmark: {m['hardware']}, torch {m['torch']}, batch {args.bs}, {args.steps} steps "
          f"({args.steps * args.bs:,} images), median of {args.repeats}\n")
    print(f"| {'model':<9} | {'pipeline':<52} | {'img/s':>9} | {'vs reference':>12} |")
    print(f"|{'-' * 11}|{'-' * 54}|{'-' * 11}|{'-' * 14}|")
    for name in args.models:
        ref = statistics.median(rate(name, lambda k: reference_batches(args, train_idx, k or args.steps), ref_rt)
                                for _ in range(args.repeats))
        print(f"| {name:<9} | {'reference: DataLoader, per-sample RandomAffine, fp32':<52} | {ref:>9,.0f} | {1:>11.1f}x |", flush=True)
        for label, prt, mode in pipelines(rt, args):
            batches = lambda k: AugmentedStream(x, y, n_per_epoch=(k or args.steps) * args.bs, bs=args.bs, chunk=prt.aug_chunk)
            r = statistics.median(rate(name, batches, prt, mode) for _ in range(args.repeats))
            print(f"| {name:<9} | {label:<52} | {r:>9,.0f} | {r / ref:>11.1f}x |", flush=True)


if __name__ == "__main__":
    main()
