"""What the GPU batches of benchmarks/gpu_session.sh decide from run files.

`pending`: of a batch's plan (lines 'SWEEP SECONDS VARIANT:SEED' on stdin), the lines whose run file is not written
yet, so that a second call starts no process for a finished run.

`candidate`, issue 40's rule, fixed before the runs of batch `targets`: among the fast-recipe ResNet34 variants with
run files for seeds 0, 1 and 2 (the registry's `fast-*-resnet34` sweeps), the highest mean validation accuracy over
those seeds. No test accuracy is read. Prints every eligible variant's validation accuracies, the choice, the
`mnist-course train` options that train it, and the median seconds of training of its runs (the batch's estimate):

    python benchmarks/gpu_batches.py pending|candidate [--results DIR]   # DIR holds sweeps/NAME/ (default: results)
"""
import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

from mnist_course.config import SWEEPS, _find_run, make_config
from mnist_course.sweep import _recipe, model_options, run_name

FAST_SWEEPS = [n for n in SWEEPS if n.startswith("fast-") and n.endswith("-resnet34")]


def pending(plan: list[str], root: Path) -> list[str]:
    "The lines 'SWEEP SECONDS VARIANT:SEED' of `plan` whose run file is not under `root`/sweeps/SWEEP, in order."
    def done(line):
        name, _, item = line.split(" ", 2)
        view, variant, seed = _find_run(SWEEPS[name], item)
        return (Path(root) / "sweeps" / name / f"{run_name(SWEEPS[name]['views'][view][variant], seed)}.json").is_file()
    return [line for line in plan if line.strip() and not done(line)]


def validation_accuracies(root: Path, seeds=(0, 1, 2)) -> list[dict]:
    "Each fast ResNet34 variant with a run file for every one of `seeds` under `root`: validation accuracies, seconds."
    rows = []
    for name in FAST_SWEEPS:
        for vs in SWEEPS[name]["views"].values():
            for variant, v in vs.items():
                files = [Path(root) / "sweeps" / name / f"{run_name(v, s)}.json" for s in seeds]
                if all(f.is_file() for f in files):
                    runs = [json.loads(f.read_text()) for f in files]  # val_acc and train_seconds read, nothing else
                    val = [r["val_acc"] for r in runs]
                    rows.append(dict(sweep=name, variant=variant, v=v, budget=SWEEPS[name]["budget"], seeds=list(seeds),
                                     val=val, mean=statistics.mean(val),
                                     seconds=statistics.median(r["train_seconds"] for r in runs)))
    return rows


def choose_candidate(root: Path, seeds=(0, 1, 2)) -> dict:
    "The rule: the highest mean validation accuracy over `seeds` (a tie: the first in the registry's order)."
    rows = validation_accuracies(root, seeds)
    if not rows: raise SystemExit(f"{root}/sweeps: no fast ResNet34 variant has run files for seeds {list(seeds)}")
    return max(rows, key=lambda r: r["mean"])


def train_changes(c: dict) -> dict:
    "What candidate `c` changes from `mnist-course train --model resnet34 --preset fast` (its seed aside)."
    v = c["v"]  # the sweep engine's config of it: the variant's changes, then the sweep's budget (lesson 15's _recipe)
    cfg = make_config(v["model"], "paper", model_options=model_options(v["options"], v["model"]),
                      **_recipe(v, c["budget"]))
    fast = make_config(cfg.model, "fast")
    changes = {k: x for k, x in dataclasses.asdict(cfg).items() if k != "seed" and x != getattr(fast, k)}
    assert make_config(cfg.model, "fast", **changes) == cfg, (changes, cfg)
    return changes


def train_options(changes: dict) -> list[str]:
    "The command-line options of `changes`, e.g. ['--epochs', '6'] or ['--no-nesterov']."
    def option(k, x):
        flag = "--" + k.replace("_", "-")
        if isinstance(x, bool): return [flag if x else f"--no-{flag[2:]}"]
        return [flag, json.dumps(x) if isinstance(x, dict) else str(x)]
    return [o for k, x in changes.items() for o in option(k, x)]


def run_prefix(c: dict) -> str:
    "The candidate's run folders' name before '-seedS': 'resnet34' for the preset, e.g. 'resnet34-epochs6'."
    return "-".join([c["v"]["model"], *(f"{k}{x}" for k, x in sorted(train_changes(c).items()))])


def describe(rows: list[dict], chosen: dict) -> str:
    "A markdown table of every eligible variant's validation accuracies, best first, and the choice."
    head = f"| sweep | variant | validation accuracy, seeds {', '.join(map(str, chosen['seeds']))} | mean |"
    lines = [head, "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["mean"]):
        accs = ", ".join(f"{a:.3%}" for a in r["val"])
        lines.append(f"| {r['sweep']} | {r['variant']} | {accs} | {r['mean']:.3%} |")
    return "\n".join([*lines, "", f"chosen: {chosen['variant']} ({chosen['sweep']}), mean validation accuracy "
                      f"{chosen['mean']:.3%}", f"train options: {' '.join(train_options(train_changes(chosen)))}",
                      f"run name: {run_prefix(chosen)}", f"seconds of training a run: {chosen['seconds']:.0f}"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rule", choices=["pending", "candidate"])
    p.add_argument("--results", type=Path, default=Path("results"), help="the folder holding sweeps/NAME/")
    args = p.parse_args()
    if args.rule == "pending": print("\n".join(pending(sys.stdin.read().splitlines(), args.results)))
    else: print(describe(validation_accuracies(args.results), choose_candidate(args.results)))


if __name__ == "__main__":
    main()
