"Evaluation: ROC/AUC against an independent count (scipy), edge-case classifiers, written figures, clear errors."
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_course.checkpoint import CheckpointError, build_model, load_model, load_weights, save_checkpoint
from command import mnist_course
from mnist_course.evaluate import coverage, evaluate_run, reliability, roc_per_class
from mnist_course.resnet import resnet34_mnist



@pytest.fixture
def run(tiny_run) -> Path:
    "The session's TINY baseline (conftest.py); read, never written."
    return tiny_run[0]


def test_perfect_and_constant_classifiers():
    y = np.repeat(np.arange(10), 5)
    assert roc_per_class(y, np.eye(10)[y])["macro"] == 1.0
    const = roc_per_class(y, np.full((50, 10), 0.1))
    assert const["macro"] == 0.5 and all(const[c][2] == 0.5 for c in range(10))
    assert reliability(y, np.eye(10)[y])["ece"] == 0.0


def test_evaluate_run_writes_metrics_and_figures(run, mnist, tmp_path):
    """The saved probabilities are the run's network's on the 10,000 test images, and each saved number is recomputed
    here without the code under test: each AUC as a Mann-Whitney U statistic (scipy), the confusion matrix by counting."""
    from scipy.stats import mannwhitneyu
    from mnist_course.checkpoint import load_model
    from mnist_course.data import MNIST_MEAN, MNIST_STD
    m = evaluate_run(run, mnist, out=tmp_path)
    probs, y = np.load(tmp_path / "probabilities.npy"), mnist.test_y.numpy()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    model, _ = load_model(run)
    with torch.no_grad():  # the run's network on the standardised test images, in plain fp32 NCHW
        x = ((mnist.test_x.float() / 255 - MNIST_MEAN) / MNIST_STD)[:, None]
        ours = torch.cat([model.eval()(xb).double().softmax(1) for xb in x.split(1_000)]).numpy()
    assert probs.shape == (10_000, 10) and np.allclose(probs, ours, atol=1e-4)
    auc = lambda pos, neg: mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))  # P(a positive ranks above)
    for c in range(10):
        assert saved["auc"][str(c)] == pytest.approx(auc(probs[y == c, c], probs[y != c, c]), abs=1e-6)
    onehot = np.eye(10, dtype=bool)[y]  # micro: every (image, class) pair pooled
    assert saved["auc_micro"] == pytest.approx(auc(probs[onehot], probs[~onehot]), abs=1e-6)
    pred = probs.argmax(1)
    assert saved["test_acc"] == pytest.approx((pred == y).mean()) and saved["errors"] == (pred != y).sum()
    assert saved["confusion"] == np.bincount(10 * y + pred, minlength=100).reshape(10, 10).tolist()
    assert saved["config"]["model"] == "baseline" and saved["trained_on"] and saved["evaluated_on"]["device"] == "cpu"
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


def test_weights_that_do_not_fit_say_why(tmp_path):
    "A mismatch names the keys or shapes at fault, not only PyTorch's header line ('Error(s) in loading state_dict')."
    ck = save_checkpoint(tmp_path, 1, torch.nn.Sequential(torch.nn.Linear(3, 2)), {"config": {"model": "tiny"}})
    with pytest.raises(CheckpointError, match=r"size mismatch for 0\.weight: .*torch\.Size\(\[2, 3\]\)"):
        load_weights(torch.nn.Sequential(torch.nn.Linear(4, 2)), ck, "tiny")
    with pytest.raises(CheckpointError, match=r'Missing key\(s\) in state_dict: "1\.weight", "1\.bias"'):
        load_weights(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)), ck, "tiny")
    # a baseline labelled resnet34: hundreds of keys missing, a few named and counted, the message still short
    save_checkpoint(tmp_path / "label", 1, build_model("baseline"), {"config": {"model": "resnet34", "model_options": {}}})
    with pytest.raises(CheckpointError) as err: load_model(tmp_path / "label")
    msg = str(err.value)
    assert 'Missing key(s) in state_dict: "conv1.weight", ' in msg and "in all); Unexpected key(s)" in msg, msg
    assert len(msg) < len(str(tmp_path)) + 500, msg


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
