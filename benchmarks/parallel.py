"""Several runs at once on one device (lesson 15's `fit_many`): aggregate training images/s of K runs against one.

Each row trains K independent runs of the same model and recipe (seeds 0..K-1) in one process, one step of each in
turn; on CUDA each run queues its captured step on its own stream, so the GPU overlaps them. The rate of a row is
the images all K runs trained in their last epoch divided by that epoch's wall time (the first epoch pays data
placement, graph capture and warm-up, so it is left out). The reference is K = 1, the same code path as `fit`.
Prints one table: the median over repeats, and each K's ratio to one run. `--choose TABLE` reads such a table back
and prints how many runs a sweep should train at once (`choose_k`: the rule of GPU batch ablation-full).

    python benchmarks/parallel.py [--model resnet34] [--ks 1 2 4 8] [--images 30000] [--repeats 3] [--tiny]
    python benchmarks/parallel.py --choose TABLE [--gain 1.6]
"""
import argparse
import re
import statistics
from pathlib import Path

from mnist_course.config import make_config
from mnist_course.data import load_mnist
from mnist_course.machine import describe_machine
from mnist_course.step import resolve_runtime
from mnist_course.sweep import fit_many


def aggregate_rate(model: str, k: int, images: int, data, bs: int) -> float:
    "Images/s of `k` runs trained at once: their last epoch's images over its wall time."
    cfgs = [make_config(model, "paper", epochs=2, samples_per_epoch=images, bs=bs, eval_subset=1_000, seed=s)
            for s in range(k)]
    last = [m["history"][-1] for m in fit_many([dict(cfg=c, data=data, progress=False) for c in cfgs])]
    return sum(r["images"] for r in last) / max(r["seconds"] for r in last)


def choose_k(table: str, gain: float = 1.6) -> int:
    "Runs at once: of the rows of this script's `table` at least `gain` x one run's rate, the fastest K; else 1."
    rows = [(int(k), float(rate.replace(",", "")), float(ratio))
            for k, rate, ratio in re.findall(r"^\|\s*(\d+)\s*\|\s*([\d,.]+)\s*\|\s*([\d.]+)x\s*\|$", table, re.M)]
    fast = [(rate, k) for k, rate, ratio in rows if k > 1 and ratio >= gain]
    return max(fast)[1] if fast else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet34", choices=["baseline", "resnet34", "densenet121"])
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8], help="runs at once, one row each")
    p.add_argument("--images", type=int, default=30_000, help="images per epoch of each run (default: 30,000)")
    p.add_argument("--bs", type=int, default=100, help="batch size (default: the report's 100)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tiny", action="store_true", help="seconds on a CPU: the baseline, 500 images, K = 1 and 2")
    p.add_argument("--choose", type=Path, metavar="TABLE", help="print the K that TABLE (this script's output) gives")
    p.add_argument("--gain", type=float, default=1.6, help="--choose: the least gain over one run (default: 1.6)")
    args = p.parse_args()
    if args.choose: return print(choose_k(args.choose.read_text(), args.gain))
    if args.tiny: args.model, args.ks, args.images, args.repeats = "baseline", [1, 2], 500, 1
    data = load_mnist()
    m = describe_machine(resolve_runtime(make_config(args.model)).device)
    print(f"# several runs at once: {m['hardware']}, torch {m['torch']}, {args.model}, batch {args.bs}, "
          f"epochs of {args.images:,} images, median of {args.repeats}")
    print(f"| {'runs at once':>12} | {'img/s, all runs':>15} | {'vs one run':>10} |")
    print(f"|{'-' * 14}|{'-' * 17}|{'-' * 12}|")
    one = None
    for k in [1, *[k for k in args.ks if k != 1]]:  # one run first: the reference of every ratio
        rate = statistics.median(aggregate_rate(args.model, k, args.images, data, args.bs) for _ in range(args.repeats))
        one = one or rate
        print(f"| {k:>12} | {rate:>15,.0f} | {rate / one:>9.2f}x |", flush=True)


if __name__ == "__main__":
    main()
