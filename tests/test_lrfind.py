"The learning-rate range test (lesson 18): rates, smoothing, stopping, the suggestion, and `mnist-course lr-find`."
import json

import numpy as np
import pytest

from command import mnist_course as run
from mnist_course.config import make_config
from mnist_course.lrfind import exponential_rates, lr_find, plot_lr_find, save_lr_find, smoothed, suggest

TINY_TEST = dict(train_subset=1_000, samples_per_epoch=640)  # a slice of the split: seconds


def test_rates_grow_by_one_factor_from_start_to_end():
    r = exponential_rates(1e-4, 1.0, 5)
    assert r[0] == pytest.approx(1e-4) and r[-1] == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log(r)), np.log(10))
    for bad in ((1, 0.1, 10), (0, 1, 10), (1e-3, 1, 1)):
        with pytest.raises(ValueError): exponential_rates(*bad)


def test_smoothing_is_bias_corrected_and_lags_a_jump():
    assert smoothed([2.0] * 10) == pytest.approx([2.0] * 10)  # no pull towards the zero it starts from
    s = smoothed([1.0] * 20 + [5.0], beta=0.9)
    assert s[-1] == pytest.approx(1 + 4 * 0.1 / (1 - 0.9 ** 21))  # the jump, weighted (1 - beta) and renormalised


def test_suggest_reads_the_conventional_rules():
    lr = list(np.logspace(-4, 0, 41))
    loss = [2 - 1 / (1 + (0.01 / r) ** 2) + (r > 0.1) * 10 * (r - 0.1) for r in lr]  # steepest at 0.01, lowest 0.1
    curve = dict(lr=lr, loss=loss)
    assert suggest(curve) == pytest.approx(0.01) and suggest(curve, "steepest") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown rule"): suggest(curve, "valley")
    with pytest.raises(ValueError, match="too short"): suggest(dict(lr=lr[:2], loss=loss[:2]))
    with pytest.raises(ValueError, match="never fell"): suggest(dict(lr=lr, loss=[2.3] * len(lr)))


def test_the_range_test_is_seeded_and_stops_when_it_diverges(mnist):
    cfg = make_config("baseline", "fast", **TINY_TEST)
    a, b = lr_find(cfg, mnist, steps=15), lr_find(cfg, mnist, steps=15)
    assert a["raw_loss"] == b["raw_loss"] and a["loss"] == b["loss"]  # the same seed, the same curve
    assert len(a["lr"]) == len(a["loss"]) == len(a["raw_loss"]) <= 15 and a["lr"] == sorted(a["lr"])
    other = lr_find(make_config("baseline", "fast", seed=1, **TINY_TEST), mnist, steps=15)
    assert other["raw_loss"] != a["raw_loss"]
    big = lr_find(cfg, mnist, start=1.0, end=1e4, steps=40)
    assert len(big["lr"]) < 40 and ("diverged" in big["stopped"] or "finite" in big["stopped"]), big["stopped"]
    assert all(np.isfinite(big["loss"]))
    with pytest.raises(ValueError, match="diverge"): lr_find(cfg, mnist, steps=5, diverge=1)


def test_figure_and_curve_are_written(mnist, tmp_path):
    curve = lr_find(make_config("baseline", "paper", **TINY_TEST), mnist, steps=12)
    png, js = save_lr_find(curve, tmp_path / "sub" / "c.png", {"the report's rate": 1e-3})
    assert png.stat().st_size > 0 and json.loads(js.read_text())["lr"] == curve["lr"]
    assert plot_lr_find(curve, curve).get_xscale() == "log"
    with pytest.raises(ValueError, match=".png"): save_lr_find(curve, tmp_path / "c.jpg")


def test_cli_lr_find_draws_and_suggests(source, tmp_path):
    small = ("--train-subset", "1000", "--samples-per-epoch", "640", "--source", source, "--root", tmp_path / "root")
    r = run("lr-find", "--model", "baseline", "--preset", "fast", "--steps", "150", "--start", "1e-2", "--end", "1",
            "--beta", "0.9", "--out", tmp_path / "c.png", *small)
    assert r.returncode == 0, r.stderr
    assert "Nesterov momentum 0.9, batch 128, label smoothing 0.1, seed 0" in r.stdout
    assert "suggested peak learning rate" in r.stdout and "(min/10" in r.stdout
    assert (tmp_path / "c.png").exists() and json.loads((tmp_path / "c.json").read_text())["model"] == "baseline"
    flat = run("lr-find", "--model", "baseline", "--steps", "5", "--end", "1e-4", "--out", tmp_path / "f.png", *small)
    assert flat.returncode == 1 and "never fell" in flat.stderr and (tmp_path / "f.png").exists(), flat.stderr


def test_cli_lr_find_help_offers_only_what_the_test_uses():
    help = " ".join(run("lr-find", "--model", "baseline", "--preset", "fast", "--help").stdout.split())
    assert "--start START" in help and "--steps STEPS" in help and "--bs BS batch size (>= 1; default: 128)" in help
    for replaced in ("--lr ", "--epochs", "--schedule", "--warmup"): assert replaced not in help, replaced
