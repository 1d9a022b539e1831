"Evaluation: ROC/AUC against scikit-learn, edge-case classifiers, written figures, clear errors."
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mnist_course.checkpoint import CheckpointError, load_weights
from command import mnist_course
from mnist_course.config import make_config
from mnist_course.evaluate import coverage, evaluate_run, reliability, roc_per_class
from mnist_course.resnet import resnet34_mnist
from mnist_course.train import fit



@pytest.fixture(scope="module")
def run(mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "base"
    fit(make_config("baseline", epochs=1, samples_per_epoch=2_000, train_subset=2_000, eval_subset=200), mnist, out=out)
    return out


def test_perfect_and_constant_classifiers():
    y = np.repeat(np.arange(10), 5)
    assert roc_per_class(y, np.eye(10)[y])["macro"] == 1.0
    const = roc_per_class(y, np.full((50, 10), 0.1))
    assert const["macro"] == 0.5 and all(const[c][2] == 0.5 for c in range(10))
    assert reliability(y, np.eye(10)[y])["ece"] == 0.0


def test_evaluate_run_writes_metrics_and_figures(run, mnist, tmp_path):
    m = evaluate_run(run, mnist, out=tmp_path)
    probs = np.load(tmp_path / "probabilities.npy")
    y = mnist.test_y.numpy()
    onehot = np.eye(10)[y]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for c in range(10):  # per-class AUC recomputed by scikit-learn from the saved probabilities
        assert saved["auc"][str(c)] == pytest.approx(roc_auc_score(onehot[:, c], probs[:, c]), abs=1e-6)
    assert saved["auc_micro"] == pytest.approx(roc_auc_score(onehot, probs, average="micro"), abs=1e-6)
    assert saved["test_acc"] == pytest.approx((probs.argmax(1) == y).mean())
    assert np.array(saved["confusion"]).sum() == 10_000 and saved["config"]["model"] == "baseline"
    assert saved["trained_on"] and saved["evaluated_on"]["device"] == "cpu"
    for f in m["figures"]:
        assert (tmp_path / f).stat().st_size > 10_000 and (tmp_path / f).read_bytes()[:4] == b"\x89PNG"


def test_cli_evaluate(run, source, tmp_path):
    r = mnist_course("evaluate", run, "--out", tmp_path, "--source", source, "--root", tmp_path / "root")
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and (tmp_path / "metrics.json").is_file()


@pytest.mark.parametrize("make, expect, status", [
    (lambda d, run: d / "missing", "no checkpoint found", 2),  # a usage error, found before the data loads
    (lambda d, run: _corrupt(d, run), "unreadable", 1),
    (lambda d, run: _pickled(d, run), "refusing to load", 1),
])
def test_bad_checkpoints_get_clear_errors(run, source, tmp_path, make, expect, status):
    bad = make(tmp_path, run)
    r = mnist_course("evaluate", bad, "--source", source, "--root", tmp_path / "root")
    assert r.returncode == status and expect in r.stderr and "Traceback" not in r.stderr


def _copy(d, run):
    ck = sorted((run / "checkpoints").iterdir())[-1]
    return Path(shutil.copytree(ck, d / "ck"))


def _corrupt(d, run):
    ck = _copy(d, run)
    (ck / "model.safetensors").write_bytes(b"garbage" * 10)
    return ck


def _pickled(d, run):
    ck = _copy(d, run)
    torch.save({"config": {"model": "baseline"}, "x": os.system}, ck / "state.pt")
    return ck


def test_wrong_kind_of_checkpoint(run):
    with pytest.raises(CheckpointError, match="holds a 'baseline' model, not 'resnet34'"):
        load_weights(resnet34_mnist(), sorted((run / "checkpoints").iterdir())[-1], "resnet34")


def test_auc_is_the_share_of_positive_negative_pairs_ranked_right():
    "A hand-made case, counted by hand (the Mann-Whitney U statistic): no scikit-learn call to agree with itself."
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[.9, .05, .05], [.4, .3, .3], [.5, .4, .1], [.3, .6, .1], [.2, .1, .7], [.1, .1, .8]])
    # class 0: positives score .9 and .4, negatives .5 .3 .2 .1; .9 beats all 4, .4 beats 3 of 4: 7 of 8 pairs
    roc = roc_per_class(y, probs)
    assert roc[0][2] == pytest.approx(7 / 8) and roc[1][2] == roc[2][2] == pytest.approx(1.0)
    assert roc["macro"] == pytest.approx((7 / 8 + 1 + 1) / 3)


def test_coverage_sets_aside_the_least_confident():
    y = np.array([0, 1, 0, 1])
    probs = np.array([[.9, .1], [.6, .4], [.8, .2], [.55, .45]])  # images 1 and 3 wrong, and the least confident
    rows = {r["abstain"]: r for r in coverage(y, probs, abstain=(0, .25, .5))}
    assert (rows[0]["accuracy"], rows[0]["errors_left"], rows[0]["errors_avoided"], rows[0]["below"]) == (.5, 2, 0., 0.)
    assert rows[.25]["accuracy"] == pytest.approx(2 / 3) and rows[.25]["errors_left"] == 1
    assert rows[.25]["errors_avoided"] == .5 and rows[.25]["below"] == .55
    assert (rows[.5]["accuracy"], rows[.5]["errors_left"], rows[.5]["errors_avoided"], rows[.5]["below"]) == (1., 0, 1., .6)


def test_an_ensembles_default_folder_is_its_own(mnist, run, tmp_path):
    "Without `out`, an ensemble of runs a and b writes beside a, never over a's own evaluation."
    from mnist_course.ensemble import evaluate_ensemble
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(run, a); shutil.copytree(run, b)
    shutil.rmtree(a / "evaluation", ignore_errors=True)
    m = evaluate_ensemble([a, b], mnist, test_subset=200)
    assert not (a / "evaluation").exists() and not (b / "evaluation").exists()
    assert json.loads((tmp_path / "a-ensemble-of-2" / "evaluation" / "metrics.json").read_text())["test_acc"] == m["test_acc"]
