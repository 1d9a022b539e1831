"""`mnist-course` as a user types it: counts on good data, one clear line and exit 1 on bad data.
The commands run in this process (tests/command.py); the first test starts the installed program itself."""

import json

import pytest

from command import console_script, mnist_course as run


def test_the_installed_program_prints_counts(source, tmp_path):
    "The console script a user's shell starts (the one test here that pays for a new Python and torch)."
    r = console_script("data", "--source", source, "--root", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "official: train 60,000, test 10,000" in r.stdout
    assert "train 51,000, validation 9,000" in r.stdout
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[-3:]}
    assert rows["val"][-1] == "9,000" and rows["test"][:2] == ["980", "1,135"]


@pytest.mark.parametrize("make_source, expect", [
    (lambda d: d, "not found"),  # an empty folder
    (lambda d: d / "nope", "not found"),
])
def test_data_bad_source_exits_1(tmp_path, make_source, expect):
    r = run("data", "--source", make_source(tmp_path), "--root", tmp_path / "root")
    assert r.returncode == 1
    assert r.stderr.startswith("mnist-course data: error:") and expect in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_error_exits_2():
    r = run("data", "--seed", "x")
    assert r.returncode == 2 and "invalid int value" in r.stderr


def test_sweep_names_are_checked_and_listed_from_the_package():
    "The parser reads the sweep names only when a sweep is named or listed, and they are the package's."
    from mnist_course.config import SWEEPS
    wrong = run("sweep", "nosuch")
    assert wrong.returncode == 2 and f"invalid choice: 'nosuch' (choose from {', '.join(map(repr, SWEEPS))})" in wrong.stderr
    listed = " ".join(run("sweep", "--help").stdout.split()).replace("- ", "-")  # argparse wraps names at hyphens
    assert f"one of: {', '.join(SWEEPS)}" in listed


@pytest.fixture
def small_mnist(mnist, monkeypatch):
    "MNIST cut to 6,000 training and 500 test images, and what `mnist-course` loads in this process."
    from mnist_course import data
    small = data.Mnist(mnist.train_x[:6_000], mnist.train_y[:6_000], mnist.test_x[:500], mnist.test_y[:500])
    monkeypatch.setattr(data, "load_mnist", lambda *a, **kw: small)
    return small


def test_evaluate_an_ensemble_with_tta(source, tmp_path, small_mnist):
    """Two runs averaged, each over two augmented views: one line, the files of one evaluation; several runs need --out.
    On a slice of MNIST (runs trained, validated and tested on it): the command's work, not the data's size."""
    from mnist_course.config import make_config
    from mnist_course.train import fit
    runs = [tmp_path / f"seed{s}" for s in (0, 1)]
    for s, out in enumerate(runs):
        fit(make_config("baseline", "fast", seed=s, epochs=1, samples_per_epoch=500, eval_subset=100), small_mnist,
            out=out)
    r = run("evaluate", *runs, "--tta", "2", "--out", tmp_path / "ens", "--source", source, "--root", tmp_path / "root")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ensemble of 2, TTA 2 views: test accuracy") and "first k averaged" in r.stdout
    assert (tmp_path / "ens" / "metrics.json").exists() and (tmp_path / "ens" / "probabilities.npy").exists()
    assert json.loads((tmp_path / "ens" / "metrics.json").read_text())["test_images"] == 500  # the slice, all of it
    r = run("evaluate", *runs, "--source", source, "--root", tmp_path / "root")
    assert r.returncode == 2 and "needs --out" in r.stderr  # a usage error, found before the data loads
    r = run("evaluate", *runs, "--tta", "2", "--tta-strength", "auto", "--out", tmp_path / "auto", "--source", source, "--root", tmp_path / "root")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "auto" / "metrics.json").read_text())  # chosen on each run's validation images: no TTA, then 3 strengths
    assert list(m["tta_validation"]) == ["0", "0.25", "0.5", "1"] and all(len(a) == 2 for a in m["tta_validation"].values())
    from mnist_course.ensemble import best_strength, held_out_images  # lesson 19's checks (its CPU run is a slow cell)
    assert m["strength"] == best_strength({float(s): a for s, a in m["tta_validation"].items()})  # the test set saw only that
    assert len(held_out_images(runs[0], small_mnist)[0]) == 900  # each run's own validation split: 15% of 6,000
    assert r.stdout.startswith("validation, no TTA: runs alone") and f"{m['label']}: test accuracy" in r.stdout
    assert run("evaluate", *runs[:1], "--tta-strength", "0.5").stderr.endswith("give --tta N too\n")
    assert "expected a number in [0, 1] or 'auto'" in run("evaluate", *runs[:1], "--tta", "2", "--tta-strength", "-1").stderr


def test_self_train_and_predict_with_an_ensemble(source, tmp_path, mnist):
    "A student of a teacher's recipe: the pool labelled, one line of result; then the two runs predict a digit together."
    from PIL import Image
    from mnist_course.config import make_config
    from mnist_course.train import fit
    teacher = tmp_path / "teacher"
    fit(make_config("baseline", "fast", epochs=1, samples_per_epoch=500, eval_subset=100), mnist, out=teacher)
    data = ("--source", source, "--root", tmp_path / "root")
    r = run("self-train", teacher, "--keep", "0.5", "--out", tmp_path / "student", *data)
    assert r.returncode == 0, r.stderr
    assert "pseudo-labelled 4,500 of 9,000 validation images" in r.stdout and "test accuracy" in r.stdout
    m = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert m["extra_images"] == 4_500 and m["self_training"]["teachers"] == [str(teacher)]
    assert m["config"] == json.loads((teacher / "config.json").read_text())  # the teacher's recipe, budget and seed
    Image.fromarray(mnist.test_x[0].numpy()).save(tmp_path / "seven.png")
    r = run("predict", teacher, tmp_path / "seven.png", "--ensemble", tmp_path / "student")
    assert r.returncode == 0 and r.stdout.startswith(f"{tmp_path / 'seven.png'}: "), r.stderr
    r = run("self-train", tmp_path / "nothing", "--out", tmp_path / "s2", *data)
    assert r.returncode == 2 and "a teacher must be a trained run folder" in r.stderr  # a usage error
    r = run("evaluate", tmp_path / "student", "--tta", "2", "--tta-strength", "auto", *data)  # it trained on its validation images
    assert r.returncode == 2 and "trained on pseudo-labelled validation images" in r.stderr and not (tmp_path / "student/evaluation-tta2").exists()
