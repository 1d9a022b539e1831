"The registry of sweeps (lesson 15, in `config`; the sweeps of lessons 17, 18 and 19): each one trains what its title says."
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from command import mnist_course
from mnist_course.config import ABLATION_VIEWS, BATCH_BUDGET, FAST, PRESETS, SWEEPS, make_config
from mnist_course.sweep import SweepError, _recipe, run_name

ROOT = Path(__file__).parents[1]


def networks(sweep: dict) -> int:
    "How many distinct networks a sweep trains per seed (two names for one network train it once)."
    return len({run_name(v, 0) for vs in sweep["views"].values() for v in vs.values()})


def test_every_sweep_is_complete_and_trains_something():
    for name, s in SWEEPS.items():
        assert {"title", "budget", "target", "views"} <= set(s), name
        assert s["title"] and networks(s) > 0, name


def test_the_ablation_trains_seven_networks_a_seed():
    assert networks({"views": ABLATION_VIEWS}) == 7
    assert all(SWEEPS[n]["views"] is ABLATION_VIEWS for n in ("ablation", "ablation-full", "ablation-fast"))


def test_four_epochs_of_the_fast_epochs_sweep_is_the_fast_preset_itself():
    sweep = SWEEPS["fast-epochs-baseline"]
    v = sweep["views"]["epochs of 120,000 images"]["4 epochs"]
    assert make_config("baseline", "paper", **_recipe(v, sweep["budget"])) == make_config("baseline", "fast")


def test_the_batch_sweeps_budget_leaves_batch_and_rate_to_the_variants():
    assert [SWEEPS[f"fast-batch-{m}"]["budget"] for m in ("baseline", "resnet34")] == [BATCH_BUDGET] * 2
    assert not {"bs", "lr"} & set(BATCH_BUDGET)  # budgets win over variants: neither may be in it


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_weight_decay_sweeps_are_the_preset_without_and_with_weight_decay(model):
    views, fast = SWEEPS[f"fast-wd-{model}"]["views"]["weight decay"], make_config(model, "fast")
    config = lambda name: make_config(model, "paper", **_recipe(views[name], PRESETS["fast"][model]))
    assert config("no weight decay (the fast preset)") == fast
    assert config("weight decay 5e-4") == dataclasses.replace(fast, weight_decay=5e-4)


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_batch_sweeps_start_at_the_preset_and_scale_the_peak_rate_with_the_batch(model):
    fast = make_config(model, "fast")
    batch = {n: make_config(model, "paper", **_recipe(v, BATCH_BUDGET))
             for vs in SWEEPS[f"fast-batch-{model}"]["views"].values() for n, v in vs.items()}
    assert batch["batch 128, peak lr 0.05 (the fast preset)"] == fast
    assert batch["batch 512, peak lr 0.2"] == dataclasses.replace(fast, bs=512, lr=0.2)


def test_a_bigger_batch_buys_the_resnet34_more_epochs():
    v = SWEEPS["fast-batch-resnet34"]["views"]["a bigger batch, more epochs"]["batch 256, 5 epochs"]
    want = make_config("resnet34", "fast", bs=256, lr=0.1, epochs=5)
    assert make_config("resnet34", "paper", **_recipe(v, BATCH_BUDGET)) == want


@pytest.mark.parametrize("name", ["fast-wd-baseline", "fast-epochs-resnet34"])
def test_summarizing_a_copy_keeps_every_run_whatever_seeds_are_asked(name, tmp_path):
    "`--seeds` chooses what to train, never what to forget: a copy re-summarized without training keeps every run."
    from mnist_course.sweep import run_sweep, write_sweep
    committed = ROOT / "results/sweeps" / name
    copy = tmp_path / name
    shutil.copytree(committed, copy)
    rows = run_sweep(SWEEPS[name], copy, seeds=(0, 1, 2), train=False)
    runs = json.loads((committed / f"{name}.json").read_text())["runs"]
    assert sorted(map(_key, rows)) == sorted(map(_key, runs))
    assert write_sweep(copy, rows, SWEEPS[name]["budget"], SWEEPS[name], name)["runs"] == rows
    with pytest.raises(SweepError, match="would leave out"):
        write_sweep(copy, rows[:-1], SWEEPS[name]["budget"], SWEEPS[name], name)


def test_the_command_line_keeps_every_run_too(tmp_path):
    copy = tmp_path / "fast-wd-baseline"
    shutil.copytree(ROOT / "results/sweeps/fast-wd-baseline", copy)
    r = mnist_course("sweep", "fast-wd-baseline", "--no-train", "--out", copy, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    runs = json.loads((copy / "fast-wd-baseline.json").read_text())["runs"]
    assert len(runs) == 20 and {r["seed"] for r in runs} == set(range(10))  # two variants, seeds 0-9


def _key(r: dict) -> tuple: return r["view"], r["variant"], r["seed"], r["test_acc"]


def test_the_reports_numbers_live_in_config_alone():
    "The report's two accuracies are typed once, in config.py (no torch); every other module reads them there."
    from mnist_course.config import REPORT
    assert REPORT["baseline"]["test_acc"] == 0.694 and REPORT["resnet34"]["test_acc"] == 0.9945
    for path in sorted((ROOT / "mnist_course").glob("*.py")):
        if path.name in ("config.py", "_modidx.py"): continue
        assert not re.search(r"(?<![\d.])(0\.694|0\.9945|69\.4%|99\.45%)(?!\d)", path.read_text()), path
    assert SWEEPS["detective-baseline"]["target"] is REPORT["baseline"]["test_acc"]


def test_the_plateau_readings_are_fixed_and_run_in_fp32():
    "Lesson 17's ten-seed readings: fixed before their runs, in the report's arithmetic, with each class's AUC kept."
    s = SWEEPS["plateau-baseline"]
    assert s["execution"] == {"bf16": False, "channels_last": False} and s["auc"] is True and s["budget"] == {}
    readings = s["views"]["plateau readings"]
    assert [v["recipe"].get("lr") for v in readings.values()] == [None, 0.004, 0.005]
    assert readings["(d) pixels in [0, 1], as (b)"] == SWEEPS["detective-baseline"]["views"]["readings"][
        "(d) pixels in [0, 1], as (b)"]


def test_half_the_rate_for_twice_the_steps():
    "Each view of `integrated-rate-baseline` pairs two runs with the same rate × passes, one with twice the passes."
    for view in SWEEPS["integrated-rate-baseline"]["views"].values():
        (a, b) = [make_config("baseline", "paper", **v["recipe"]) for v in view.values()]
        assert a.lr * a.epochs == pytest.approx(b.lr * b.epochs) and b.epochs == 2 * a.epochs
        assert a.samples_per_epoch == b.samples_per_epoch == 0 and not a.augment and not b.augment


def test_a_run_file_keeps_its_curve_and_its_aucs(tmp_path):
    from mnist_course.config import TINY
    from mnist_course.data import load_mnist
    from mnist_course.config import variant
    from mnist_course.sweep import run_variant
    row = run_variant(variant(model="baseline"), 0, tmp_path, load_mnist(), dict(TINY, epochs=2), auc=True)
    assert len(row["val_accs"]) == 2 and row["val_accs"][-1] == row["val_acc"]
    assert sorted(row["test_auc"], key=int) == [str(c) for c in range(10)]
    assert all(0 <= a <= 1 for a in row["test_auc"].values()) and len(set(row["test_auc"].values())) > 1
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["test_auc"] == row["test_auc"]


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_reading_g_draws_ten_times_the_images_and_its_twin_ten_times_the_rate(model):
    views = SWEEPS[f"reading-g-{model}"]["views"]
    (g, *_), (twin, *_) = [list(vs.values()) for vs in views.values()]
    paper, cfg_g, cfg_twin = (make_config(model, "paper", **r) for r in ({}, g["recipe"], twin["recipe"]))
    assert cfg_g.samples_per_epoch == 10 * paper.samples_per_epoch and cfg_g.lr == paper.lr
    assert cfg_twin.lr == 10 * paper.lr and cfg_twin.samples_per_epoch == paper.samples_per_epoch
    assert cfg_g.lr * cfg_g.samples_per_epoch == pytest.approx(cfg_twin.lr * cfg_twin.samples_per_epoch)


RECIPE_VIEWS = ("from the report's recipe, one ingredient at a time", "from the fast preset, one ingredient removed")


def _recipe_configs(model: str) -> list[dict]:
    "Each view of `recipe-MODEL` as {variant: the config it trains}."
    sweep = SWEEPS[f"recipe-{model}"]
    return [{n: make_config(model, "paper", **_recipe(v, sweep["budget"])) for n, v in sweep["views"][view].items()}
            for view in RECIPE_VIEWS]


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_the_recipe_ladder_adds_one_ingredient_at_a_time_from_the_report_to_the_preset(model):
    "Lesson 18: the report's recipe at the preset's images; each step adds its ingredient; the last is the preset."
    ladder, _ = _recipe_configs(model)
    steps, fast = list(ladder.values()), make_config(model, "fast")
    assert steps[0] == make_config(model, "paper", epochs=4) and steps[-1] == fast
    changed = lambda a, b: {k for k, x in dataclasses.asdict(b).items() if x != getattr(a, k)}
    assert [changed(a, b) for a, b in zip(steps, steps[1:])] == [
        {"momentum"}, {"nesterov"}, {"schedule", "lr"}, {"label_smoothing"}, {"bs"}]
    assert {(c.epochs, c.samples_per_epoch, c.augment) for c in steps} == {(4, 120_000, True)}


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_the_recipe_removals_take_one_ingredient_of_the_preset_back_to_the_reports(model):
    ladder, removed = _recipe_configs(model)
    fast, paper = make_config(model, "fast"), make_config(model, "paper")
    back = lambda *keys: dataclasses.replace(fast, **{k: getattr(paper, k) for k in keys})
    assert list(removed.values()) == [fast, back("momentum", "nesterov"), back("nesterov"), back("schedule"),
                                      back("label_smoothing"), back("bs")]
    assert removed["without one-cycle (constant 0.05)"].lr == FAST["lr"]  # the peak, held: only the shape goes
    assert removed["batch 100, not 128"] == ladder["+ label smoothing 0.1"]


@pytest.mark.parametrize("model", ["baseline", "resnet34"])
def test_recipe_variants_that_coincide_share_their_runs(model):
    "A variant names only what differs from the report's recipe: one config, one run name; 10 networks a seed."
    sweep = SWEEPS[f"recipe-{model}"]
    names = {}
    for vs in sweep["views"].values():
        for v in vs.values():
            names.setdefault(run_name(v, 0), set()).add(str(make_config(model, "paper", **_recipe(v, sweep["budget"]))))
    assert len(names) == networks(sweep) == 10 and all(len(c) == 1 for c in names.values())
    assert sweep["budget"] == {"epochs": 4} and "execution" not in sweep  # as the fast sweeps: the machine's arithmetic


def test_the_resnet34_recipe_sweep_runs_on_a_cpu_with_the_tiny_budget(tmp_path, mnist):
    """`recipe-resnet34` is a GPU sweep; every variant trains on a CPU with TINY's sizes, cut to one step of 4 images
    and tested on 4: each recipe (momentum, Nesterov, one-cycle, label smoothing, batch size) builds, steps and tests.
    (The report's ResNet34 keeps its 28x28 feature maps to the first stage: every image is costly on a CPU.)"""
    from mnist_course.config import TINY
    from mnist_course.sweep import run_sweep, write_sweep
    sweep = SWEEPS["recipe-resnet34"]
    budget = {**sweep["budget"], **TINY, "samples_per_epoch": 4, "eval_subset": 4}
    rows = run_sweep(sweep, tmp_path, seeds=(0,), budget=budget, data=mnist, progress=False)
    assert len(rows) == 12 and {r["model"] for r in rows} == {"resnet34"}
    assert len(list(tmp_path.glob("*-seed0.json"))) == 10  # two variants coincide with others: 10 networks
    assert {r["images"] for r in rows} == {4}  # each one step (its batch, 100 or 128, holds all 4)
    assert len(write_sweep(tmp_path, rows, budget, sweep, "recipe-resnet34")["runs"]) == 12
    assert (tmp_path / "recipe-resnet34.png").exists()
