"""The fewest seconds of CPU training in which the course's baseline reaches 99.0% and 99.5% test accuracy.

Each candidate is the report's baseline CNN with the course's recipe (lesson 08's `quick` preset: SGD with Nesterov
momentum, one-cycle rate, label smoothing, augmentation), trained through the package's own `fit` at a smaller budget
of images, with a larger batch, or at the budget where lesson 19's sweep saw its test mean above 99.5% (the `fast`
preset at 8 epochs). The reference, `quick` itself (4 x 60,000 images), runs in the same benchmark, so the seconds
compare on one machine. Every candidate trains the same seeds; per candidate the table shows the mean
validation accuracy (the last epoch's, on the 9,000 held-out training images), the mean test accuracy with its 95%
t-interval over seeds (`mnist_course.evidence.seed_mean`), the median training seconds of the run records
(`train_seconds`: the epochs' training, without validation or testing), their ratio to the reference, and each
seed's test accuracy.

The answer for each target is chosen on validation before test accuracy is read: the fastest candidate (median
seconds) whose mean validation accuracy reaches the target. Its test accuracy is then reported as it is.

    python benchmarks/fastest_cpu.py [--source DIR] [--root DIR] [--seeds 5] [--tiny]
    python benchmarks/fastest_cpu.py --confirm "3 x 60,000 images" --first-seed 5   # the choice, on fresh seeds
"""
import argparse
import datetime
import statistics
import sys

import torch

from mnist_course.config import TINY, make_config
from mnist_course.data import load_mnist
from mnist_course.evidence import seed_mean
from mnist_course.machine import describe_machine
from mnist_course.train import fit

TARGETS = (0.990, 0.995)
REFERENCE = "quick: 4 x 60,000 images, batch 128"
CANDIDATES = {  # name -> what the candidate changes in the baseline's quick preset, fixed before any run
    REFERENCE: {},
    "1 x 60,000 images": dict(epochs=1),
    "3 x 30,000 images": dict(epochs=3, samples_per_epoch=30_000),
    "2 x 60,000 images": dict(epochs=2),
    "2 x 60,000 images, batch 256, lr 0.1": dict(epochs=2, bs=256, lr=0.1),
    "3 x 60,000 images": dict(epochs=3),
    "8 x 120,000 images (fast, 8 epochs)": dict(epochs=8, samples_per_epoch=120_000),
}


def train_candidate(changes: dict, seeds: list[int], data, tiny: bool) -> list[dict]:
    "The metrics of one candidate's runs, one per seed, trained on the CPU through `fit` (no run folder)."
    runs = []
    for seed in seeds:
        cfg = make_config("baseline", "quick", device="cpu", seed=seed,
                          **{**changes, **(TINY if tiny else {})})
        runs.append(fit(cfg, data, progress=False))
        print(f"  {changes or 'quick'} seed {seed}: {runs[-1]['train_seconds']} s", file=sys.stderr)
    return runs


def summarise(name: str, runs: list[dict]) -> dict:
    "One table row: mean validation accuracy, test mean with its interval, median training seconds."
    return dict(name=name, val=statistics.mean(r["history"][-1]["val_acc"] for r in runs),
                test=seed_mean([r["test_acc"] for r in runs]), seeds=[r["test_acc"] for r in runs],
                seconds=statistics.median(r["train_seconds"] for r in runs))


def chosen(rows: list[dict], target: float) -> dict | None:
    "The fastest row whose mean validation accuracy reaches `target`; None if none does."
    reached = [r for r in rows if r["val"] >= target]
    return min(reached, key=lambda r: r["seconds"]) if reached else None


def table(rows: list[dict], reference: float) -> str:
    "The rows as a markdown table, seconds also as a ratio to the reference's."
    lines = ["| candidate | val acc (mean) | test acc (mean, 95% interval) | median s | x quick | test acc per seed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        t, per_seed = r["test"], " ".join(f"{a:.2%}" for a in r["seeds"])
        lines.append(f"| {r['name']} | {r['val']:.2%} | {t.estimate:.2%} [{t.low:.2%}, {t.high:.2%}] "
                     f"| {r['seconds']:.1f} | {r['seconds'] / reference:.2f}x | {per_seed} |")
    return "\n".join(lines)


def verdict(rows: list[dict], target: float) -> str:
    "What validation chose for `target`, and that candidate's test accuracy; or the nearest candidate if none."
    pick = chosen(rows, target)
    if pick is None:
        best = max(rows, key=lambda r: r["val"])
        t = best["test"]
        return (f"- {target:.1%}: not reached on validation by any candidate; the best, {best['name']}, "
                f"{best['val']:.2%} on validation, {t.estimate:.2%} [{t.low:.2%}, {t.high:.2%}] on test.")
    t = pick["test"]
    return (f"- {target:.1%}: chosen on validation: {pick['name']}, {pick['seconds']:.1f} s (median); "
            f"test {t.estimate:.2%} [{t.low:.2%}, {t.high:.2%}], {t.n} seeds.")


def confirmation(row: dict, target: float) -> str:
    "Whether `row`'s test interval over its seeds lies above `target`."
    t = row["test"]
    where = "above" if t.low >= target else "below" if t.high < target else "across"
    return (f"- {target:.1%}: {row['name']}, test {t.estimate:.2%} [{t.low:.2%}, {t.high:.2%}], {t.n} seeds: "
            f"the interval lies {where} it.")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source",
                   help="folder with the four official MNIST files (default: $MNIST_COURSE_DATA, else download)")
    p.add_argument("--root", help="where prepared data lives")
    p.add_argument("--seeds", type=int, default=5, help="seeds per candidate, 0 to N-1 (default: 5)")
    p.add_argument("--tiny", action="store_true", help="seconds: 1,000 images, 2 seeds (checks the code path only)")
    p.add_argument("--confirm", choices=list(CANDIDATES)[1:], metavar="NAME",
                   help="train only this candidate, beside the reference: a choice confirmed on fresh seeds")
    p.add_argument("--first-seed", type=int, default=0, help="the first seed (default: 0; fresh seeds for --confirm)")
    args = p.parse_args(argv)
    if args.seeds < 2: p.error(f"--seeds {args.seeds}: an interval over seeds needs at least 2")
    seeds = list(range(args.first_seed, args.first_seed + (2 if args.tiny else args.seeds)))
    names = [REFERENCE, args.confirm] if args.confirm else list(CANDIDATES)
    data = load_mnist(args.source, args.root)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# fastest 99% on a CPU: {describe_machine('cpu')['hardware']}, torch {torch.__version__}, {when}\n")
    print(f"$ python benchmarks/fastest_cpu.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"\nThe baseline CNN, the quick preset's recipe; {len(seeds)} seeds each ({seeds[0]}-{seeds[-1]}), "
          f"trained one after another on the CPU.{' TINY: the code path only, not a result.' if args.tiny else ''}\n")
    rows = [summarise(name, train_candidate(CANDIDATES[name], seeds, data, args.tiny)) for name in names]
    print(table(rows, rows[0]["seconds"]))
    if args.confirm:
        print("\nThe choice, made on an earlier run's validation, on these fresh seeds:\n")
        print("\n".join(confirmation(rows[1], t) for t in TARGETS))
    else:
        print("\nChosen on validation (the fastest candidate whose mean validation accuracy reaches the target):\n")
        print("\n".join(verdict(rows, t) for t in TARGETS))


if __name__ == "__main__":
    main()
