"Temperature scaling (lessons 12 and 19): a known temperature found, the CLI's record of it, clear refusals."
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import softmax

from command import mnist_course as run
from mnist_course.ensemble import held_out_images
from mnist_course.evaluate import checkpoint_probabilities, fit_temperature, nll, reliability, tempered

ROOT = Path(__file__).resolve().parent.parent
SEED0 = ROOT / "results/beyond-cpu/baseline-seed0"  # committed weights of the fast preset's baseline


@pytest.fixture(scope="module")
def calibrated_by_construction():
    "Logits, and labels drawn from their own softmax: softmax(logits) is calibrated, and T = 1 is the answer."
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (20_000, 10))
    y = (softmax(z, axis=1).cumsum(1) < rng.random((len(z), 1))).sum(1)
    return z, y


@pytest.mark.parametrize("scale", [3., 2., 0.5, 0.25])  # logits scaled: overconfident by 3 and 2, underconfident
def test_the_known_temperature_is_found_and_lowers_the_nll(calibrated_by_construction, scale):
    z, y = calibrated_by_construction
    probs = softmax(z * scale, axis=1)
    t = fit_temperature(y, probs)
    assert t == pytest.approx(scale, rel=0.05)
    assert nll(y, tempered(probs, t)) < nll(y, probs)
    assert nll(y, tempered(probs, t)) == pytest.approx(nll(y, softmax(z, axis=1)), abs=2e-3)  # as good as the truth
    assert reliability(y, tempered(probs, t))["ece"] < reliability(y, probs)["ece"]


def test_tempered_probabilities_are_the_logits_divided():
    "softmax(log p / T) is softmax(logits / T): a stored probabilities.npy can be tempered without its logits."
    z = torch.randn(50, 10, dtype=torch.float64) * 4
    for t in (0.3, 1., 2.5):
        np.testing.assert_allclose(tempered(z.softmax(1).numpy(), t), (z / t).softmax(1).numpy(), atol=1e-12)
    np.testing.assert_array_equal(tempered(np.array([[0., 0.2, 0.8]]), 0.5)[0, 0], 0.)  # no class appears from nothing


@pytest.mark.parametrize("y, probs, expect", [
    (np.array([0, 1]), np.array([[2., -1.], [0.5, 0.5]]), "not a distribution"),            # logits
    (np.array([0, 1]), np.array([[0.5, np.nan], [0.5, 0.5]]), "not a distribution"),
    (np.array([0, 1, 1]), np.array([[0.5, 0.5], [0.5, 0.5]]), "of the same N"),
    (np.array([], dtype=int), np.zeros((0, 10)), "of the same N"),
    (np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]), "labels must be integers in 0..1"),
    (np.array([0., 1.]), np.array([[0.5, 0.5], [0.5, 0.5]]), "labels must be integers"),
    (np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), "every one right"),              # no best temperature
])
def test_what_no_temperature_can_be_chosen_on_is_refused(y, probs, expect):
    with pytest.raises(ValueError, match=expect): fit_temperature(y, probs)


def test_a_temperature_is_positive():
    with pytest.raises(ValueError, match="positive number"): tempered(np.full((1, 2), 0.5), 0)


def test_the_cli_chooses_the_temperature_on_validation_and_stores_it(source, tmp_path, mnist):
    "`evaluate RUN --calibrate`: the temperature of the run's own validation images, in metrics.json and the .npy."
    data = ("--source", source, "--root", tmp_path / "root")
    r = run("evaluate", SEED0, "--calibrate", "--out", tmp_path / "cal", *data)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "cal" / "metrics.json").read_text())
    c = m["calibration"]
    x, y = held_out_images(SEED0, mnist)
    val = checkpoint_probabilities(SEED0, x)[0]
    assert m["temperature"] == c["temperature"] == pytest.approx(fit_temperature(y, val), abs=1e-6)
    assert c["validation_images"] == 9_000 and c["validation_nll"] < c["validation_nll_at_1"]
    written, y = np.load(tmp_path / "cal" / "probabilities.npy"), mnist.test_y.numpy()
    assert m["ece"] == pytest.approx(reliability(y, written)["ece"], abs=1e-6) and m["ece"] < c["test_ece_at_1"]
    untempered = tempered(written.astype(np.float64), 1 / m["temperature"])  # the probabilities it wrote, tempered
    assert reliability(y, untempered)["ece"] == pytest.approx(c["test_ece_at_1"], abs=1e-5)
    assert f"temperature {m['temperature']:.4f}, chosen on 9,000 validation images" in r.stdout


def test_the_cli_refuses_to_calibrate_a_run_without_held_out_images(source, tmp_path):
    "A self-trained student learned from its validation images (lesson 20): a usage error, and nothing written."
    ckpt = tmp_path / "student" / "checkpoints" / "epoch-004"
    shutil.copytree(SEED0 / "checkpoints" / "epoch-004", ckpt)
    state = torch.load(ckpt / "state.pt", weights_only=True)
    torch.save({**state, "extra": 4_500}, ckpt / "state.pt")
    r = run("evaluate", tmp_path / "student", "--calibrate", "--source", source, "--root", tmp_path / "root")
    assert r.returncode == 2 and "no held-out images for --tta-strength auto or --calibrate" in r.stderr
    assert not (tmp_path / "student" / "evaluation-calibrated").exists()


def test_a_few_labels_student_keeps_its_validation_images_held_out(tmp_path, mnist):
    "With labels=N the pseudo-labels came from the rest of the training split (lesson 20): validation stays unseen."
    ckpt = tmp_path / "student" / "checkpoints" / "epoch-004"
    shutil.copytree(SEED0 / "checkpoints" / "epoch-004", ckpt)
    state = torch.load(ckpt / "state.pt", weights_only=True)
    torch.save({**state, "extra": "pool", "config": {**state["config"], "labels": 100}}, ckpt / "state.pt")
    x, y = held_out_images(tmp_path / "student", mnist)
    own_x, own_y = held_out_images(SEED0, mnist)
    assert torch.equal(x, own_x) and (y == own_y).all() and len(y) == 9_000
    torch.save({**state, "extra": "pool"}, ckpt / "state.pt")  # all labels: the pool was its validation images
    with pytest.raises(ValueError, match="no held-out images"): held_out_images(tmp_path / "student", mnist)
