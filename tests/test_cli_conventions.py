"""`mnist-course`'s conventions: usage errors exit 2 before anything runs, options are checked and explained,
and only the package's own errors become one line (anything else keeps its traceback)."""

import pytest

from command import mnist_course as run
from mnist_course import cli

SMALL = ["--preset", "quick", "--epochs", "1", "--samples-per-epoch", "100", "--train-subset", "200",
         "--eval-subset", "100"]


def test_a_bad_schedule_exits_2_and_makes_no_folder(source, tmp_path):
    r = run("train", "--model", "baseline", *SMALL, "--schedule", "bogus", "--out", tmp_path / "D", "--source", source)
    assert r.returncode == 2 and "invalid choice: 'bogus'" in r.stderr, r.stderr
    assert not (tmp_path / "D").exists()


def test_tta_strength_without_tta_exits_2(tmp_path):
    r = run("evaluate", tmp_path / "x", "--tta-strength", "0.5")
    assert r.returncode == 2 and r.stderr.endswith("give --tta N too\n"), r.stderr


@pytest.fixture
def a_run(tiny_run):
    "A trained baseline run folder: the session's (conftest.py)."
    return tiny_run[0]


TRAIN = ["train", "--model", "baseline", "--out", "{d}/new", *SMALL]
USAGE_ERRORS = {  # name: (arguments, words of the message); {d}: a folder no command may write in, {run}: a trained run
    "optimizer": ([*TRAIN, "--optimizer", "sgdd"], "invalid choice: 'sgdd'"),
    "inputs": ([*TRAIN, "--inputs", "std"], "invalid choice: 'std'"),
    "epochs": ([*TRAIN, "--epochs", "0"], "expected a number >= 1"),
    "bs": ([*TRAIN, "--bs", "0"], "expected a number >= 1"),
    "lr": ([*TRAIN, "--lr", "0"], "expected a number > 0"),
    "val-frac": ([*TRAIN, "--val-frac", "1"], "expected a number in (0, 1)"),
    "seed": ([*TRAIN, "--seed", "-1"], "expected a number >= 0"),
    "label-smoothing": ([*TRAIN, "--label-smoothing", "1.5"], "expected a number in [0, 1]"),
    "nesterov-without-momentum": ([*TRAIN, "--preset", "fast", "--momentum", "0"], "Nesterov momentum requires"),
    "graph-on-cpu": ([*TRAIN, "--graph", "--device", "cpu"], "graph capture needs a CUDA device"),
    "model-options": ([*TRAIN, "--model-options", '{{"no_such_option": 1}}'], "does not take the options"),
    "data-val-frac": (["data", "--val-frac", "0", "--root", "{d}/root"], "expected a number in (0, 1)"),
    "tta": (["evaluate", "{run}", "--tta", "-1", "--out", "{d}/ev"], "expected a number >= 0"),
    "evaluate-seed": (["evaluate", "{run}", "--seed", "-1", "--out", "{d}/ev"], "expected a number >= 0"),
    "ensemble-without-out": (["evaluate", "{run}", "{run}", "--tta", "1"], "needs --out"),
    "evaluate-no-run": (["evaluate", "{d}/nothing", "--out", "{d}/ev"], "no checkpoint found"),
    "evaluate-device": (["evaluate", "{run}", "--device", "bogus", "--out", "{d}/ev"], "bogus"),
    "predict-no-run": (["predict", "{d}/nothing", "{d}/x.png"], "no checkpoint found"),
    "keep": (["self-train", "{run}", "--keep", "0", "--out", "{d}/st"], "expected a number in (0, 1]"),
    "self-train-tta": (["self-train", "{run}", "--tta", "-2", "--out", "{d}/st"], "expected a number >= 0"),
    "teacher-no-run": (["self-train", "{d}/nothing", "--out", "{d}/st"], "a teacher must be a trained run folder"),
    "sweep-seeds": (["sweep", "fast-wd-baseline", "--seeds", "-1", "--out", "{d}/sw"], "expected a number >= 0"),
    "lr-find-range": (["lr-find", "--model", "baseline", "--start", "1", "--end", "0.1", "--out", "{d}/lr/c.png"],
                      "must be above --start"),
    "lr-find-steps": (["lr-find", "--model", "baseline", "--steps", "2", "--out", "{d}/lr/c.png"],
                      "expected a number >= 3"),
    "lr-find-out": (["lr-find", "--model", "baseline", "--out", "{d}/lr/c.jpg"], "must end in .png"),
    "lr-find-nesterov": (["lr-find", "--model", "baseline", "--preset", "fast", "--momentum", "0",
                          "--out", "{d}/lr/c.png"], "Nesterov momentum requires"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_errors_exit_2_before_anything_runs(case, tmp_path, a_run, source, monkeypatch, capsys):
    "Each usage error: exit 2 from the parser with its words, no data loaded and no folder made."
    monkeypatch.setenv("MNIST_COURSE_DATA", str(source))
    args, words = USAGE_ERRORS[case]
    d = tmp_path / "made"
    d.mkdir()
    with pytest.raises(SystemExit) as e: cli.main([a.format(d=d, run=a_run) for a in args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and "usage:" in err, err
    assert list(d.iterdir()) == []


OOM = "CUDA out of memory"


def test_only_the_package_errors_become_one_line(monkeypatch, capsys):
    "The package's error classes: one line, exit 1; any other error (a CUDA OOM, a torch bug) keeps its traceback."
    from mnist_course.checkpoint import CheckpointError, TrainingError
    from mnist_course.data import MnistDataError
    from mnist_course.sweep import SweepError
    for error in (MnistDataError, CheckpointError, TrainingError, SweepError):
        monkeypatch.setattr(cli, "cmd_data", lambda args, error=error: (_ for _ in ()).throw(error("what to fix")))
        assert cli.main(["data"]) == 1
        assert capsys.readouterr().err == "mnist-course data: error: what to fix\n"
    for error in (RuntimeError, ValueError, FileNotFoundError):
        monkeypatch.setattr(cli, "cmd_data", lambda args, error=error: (_ for _ in ()).throw(error(OOM)))
        with pytest.raises(error, match=OOM): cli.main(["data"])


def test_train_help_groups_explains_and_shows_the_asked_defaults():
    "Defaults of the model and preset asked for; options in three groups; each with a meaning, not only its default."
    helps = {m: " ".join(run("train", "--model", m, "--preset", "paper", "--help").stdout.split())
             for m in ("baseline", "resnet34")}
    assert "(>= 1; default: 20)" in helps["baseline"] and "(>= 1; default: 10)" in helps["resnet34"]
    quick = " ".join(run("train", "--model", "resnet34", "--preset", "quick", "--help").stdout.split())
    assert "--bs BS batch size (>= 1; default: 64)" in quick and "(default: 'onecycle')" in quick
    for group in ("the recipe:", "the data:", "how it executes:"):
        assert group in helps["baseline"]
    assert "--optimizer {sgd,adam}" in helps["baseline"] and "--schedule {constant,onecycle}" in helps["baseline"]
    p = cli.make_parser(["train", "--model", "baseline"])
    train = p._subparsers._group_actions[0].choices["train"]
    for a in train._actions:
        assert a.help and not a.help.startswith("(default"), a.option_strings


def test_the_choices_are_what_the_training_code_accepts():
    "config's names are the ones lesson 11's optimizer and schedule and lesson 01's scalings know; others are refused."
    import dataclasses
    import torch
    from mnist_course.config import CHOICES, make_config
    from mnist_course.data import INPUT_SCALINGS, input_transform
    from mnist_course.train import lr_at, make_optimizer
    assert list(CHOICES["inputs"]) == list(INPUT_SCALINGS)
    param = [torch.zeros(1, requires_grad=True)]
    for name in CHOICES["optimizer"]: make_optimizer(make_config("baseline", optimizer=name), param)
    for name in CHOICES["schedule"]: lr_at(make_config("baseline", schedule=name), 0, 10)
    cfg = make_config("baseline")
    with pytest.raises(ValueError): make_optimizer(dataclasses.replace(cfg, optimizer="rmsprop"), param)
    with pytest.raises(ValueError): lr_at(dataclasses.replace(cfg, schedule="cosine"), 0, 10)
    with pytest.raises(ValueError): input_transform("minmax")


def test_evaluate_refuses_torchrun_before_writing(tmp_path, monkeypatch, capsys):
    "Under torchrun every process would write the same evaluation files: evaluate refuses, a usage error, nothing made."
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as e: cli.main(["evaluate", str(tmp_path / "run"), "--out", str(tmp_path / "ev")])
    assert e.value.code == 2 and "drop torchrun" in capsys.readouterr().err and not (tmp_path / "ev").exists()
