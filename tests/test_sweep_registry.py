"The registry of sweeps (lesson 12's module; the sweeps of lessons 14 and 15): each one trains what its title says."
import dataclasses

import pytest

from mnist_course.config import PRESETS, make_config
from mnist_course.sweep import ABLATION_VIEWS, BATCH_BUDGET, SWEEPS, _recipe, run_name


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
