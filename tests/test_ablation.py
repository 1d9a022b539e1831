"Ablation (lesson 15): the variants are the report's steps, the summary is right, the sweep reuses and refuses."
import json

import numpy as np
import pytest
import torchvision
from torch import nn

from mnist_course.config import MODIFICATIONS, STEM_KERNELS, TORCHVISION, cumulative_variants, kernel_variants, variant
from mnist_course.sweep import model_options, run_name, summarize, sweep_table
from command import mnist_course as cli
from mnist_course.checkpoint import build_model



def test_each_step_adds_one_modification_and_ends_at_the_report_model():
    steps = list(cumulative_variants().values())
    assert steps[0] == TORCHVISION and len(steps) == 1 + len(MODIFICATIONS)
    for before, after, change in zip(steps, steps[1:], MODIFICATIONS.values()):
        assert {k for k in after if after[k] != before[k]} == set(change)
    assert model_options(steps[-1]) == {}


def test_first_step_is_torchvision_resnet34():
    ours = build_model("resnet34", **model_options(TORCHVISION))
    tv = torchvision.models.resnet34(num_classes=10)
    tv.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in tv.state_dict().items()]
    layer = lambda m: (m.conv1.kernel_size, m.conv1.stride, m.conv1.padding, m.maxpool.stride, m.maxpool.padding)
    assert layer(ours) == layer(tv) and ours.dropout.p == 0


def test_kernel_variants_change_only_the_stem_kernel():
    for k, opts in zip(STEM_KERNELS, kernel_variants().values()):
        m = build_model("resnet34", **model_options(opts))
        assert (m.conv1.kernel_size, m.conv1.stride, m.conv1.padding) == ((k, k), (1, 1), (1, 1))
        assert m.maxpool.stride == 1 and m.dropout.p == 0.5 and m.layer1[0].downsample is not None


def test_one_run_name_per_distinct_network():
    names = {run_name(variant(o), 0) for o in {**cumulative_variants(), **kernel_variants()}.values()}
    assert len(names) == 7 and run_name(variant(kernel_variants()["stem 5x5"]), 0) == "report-seed0"
    assert all(n.replace("-", "").replace("_", "").replace(".", "").isalnum() for n in names)


def test_summary_matches_numpy():
    rng = np.random.default_rng(0)
    rows = [dict(view="v", variant=n, test_acc=float(a)) for n in "abc" for a in rng.uniform(0.9, 1, 4)]
    summary = summarize(rows)
    assert [s["variant"] for s in summary] == ["a", "b", "c"]
    for s in summary:
        accs = [r["test_acc"] for r in rows if r["variant"] == s["variant"]]
        assert s["mean"] == pytest.approx(np.mean(accs)) and s["std"] == pytest.approx(np.std(accs, ddof=1))
    change = (summary[1]["mean"] - summary[0]["mean"]) * 100
    assert f"{change:+.2f} points" in sweep_table(rows).splitlines()[3]


def test_cli_sweep_tiny_then_summarize_and_refuse_another_budget(source, tmp_path):
    "`sweep` on the baseline's eleven small networks (lesson 15 trains the ablation's ResNet34s): runs, summary, refusal."
    r = cli("sweep", "detective-baseline", "--tiny", "--seeds", "0", "--out", tmp_path, "--source", source)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "detective-baseline.json").read_text())
    assert len(res["runs"]) == 11 and len(list(tmp_path.glob("*-seed0.json"))) == 11
    assert sweep_table(res["runs"], 0.694) in (tmp_path / "detective-baseline.md").read_text()
    assert (tmp_path / "detective-baseline.png").stat().st_size > 10_000
    at_once = cli("sweep", "detective-baseline", "--tiny", "--seeds", "0", "--parallel", "4", "--out", tmp_path / "k4",
                  "--source", source)  # eleven runs, four at a time: each file as when trained alone, seconds aside
    assert at_once.returncode == 0, at_once.stderr
    for f in tmp_path.glob("*-seed0.json"):
        alone, together = json.loads(f.read_text()), json.loads((tmp_path / "k4" / f.name).read_text())
        assert {**alone, "train_seconds": 0} == {**together, "train_seconds": 0}, f.name
    again = cli("sweep", "detective-baseline", "--tiny", "--no-train", "--seeds", "0", "1", "--out", tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "detective-baseline.json").read_text())["runs"] == res["runs"]
    wrong = cli("sweep", "detective-baseline", "--no-train", "--out", tmp_path)
    assert wrong.returncode == 1 and "was trained with budget" in wrong.stderr


def test_cli_ablate_is_the_ablation_sweep(tmp_path):
    empty = cli("ablate", "--no-train", "--out", tmp_path / "empty")
    assert empty.returncode == 1 and "no finished ablation runs" in empty.stderr


def test_a_sweep_reuses_its_runs_and_keeps_them_beside_new_seeds(mnist, tmp_path):
    """Lesson 15's engine checks (its TINY ablation of seven ResNet34s is a slow cell there), on two small networks:
    a network two views share trains once, a second call trains nothing, another budget is refused, seeds not run
    are not made up, a new seed keeps the old ones, and a summary that would leave a run out is refused."""
    from mnist_course.config import TINY
    from mnist_course.config import variant
    from mnist_course.sweep import SweepError, run_sweep, write_sweep
    from mnist_course.checkpoint import TrainingError
    two = dict(title="two small networks", budget=TINY, target=None,
               views={"rate": {"the reading": variant(model="baseline"), "10x": variant(model="baseline", lr=0.01)},
                      "again": {"the same network": variant(model="baseline")}})
    rows = run_sweep(two, tmp_path, seeds=(0,), data=mnist, progress=False)
    assert len(rows) == 3 and len(list(tmp_path.glob("*-seed0.json"))) == 2
    assert run_sweep(two, tmp_path, seeds=(0,), data=mnist) == rows  # all reused (a rerun would time itself anew)
    with pytest.raises(TrainingError, match="was trained with budget"):
        run_sweep(two, tmp_path, seeds=(0,), budget={**TINY, "epochs": 2}, data=mnist)
    assert run_sweep(two, tmp_path, seeds=(0, 1), train=False) == rows  # seed 1 not run: only what is there
    more = run_sweep(two, tmp_path, seeds=(1,), data=mnist, progress=False)  # seed 1 trained, seed 0 kept
    assert len(more) == 2 * len(rows) and more[:len(rows)] == rows
    with pytest.raises(SweepError, match="would leave out"): write_sweep(tmp_path, rows, TINY, two, "two")
    assert len(write_sweep(tmp_path, more, TINY, two, "two")["runs"]) == 6
