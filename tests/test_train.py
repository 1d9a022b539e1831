"Training: both models through the API and the CLI, determinism, resume after a kill, safe checkpoints, DDP."
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from PIL import Image
from safetensors.torch import load_file

from command import mnist_course as cli
from conftest import TINY
from mnist_course.checkpoint import (CheckpointError, TrainingError, build_model, latest_checkpoint, load_model, load_state,
                                     load_weights)
from mnist_course.config import make_config
from mnist_course.data import split_train_val
from mnist_course.sweep import fit_many
from mnist_course.train import balanced_labels, fit, lr_at

NOT_TIMING = ("seconds", "images_per_s", "hardware")


def recipe(history):
    return [{k: v for k, v in r.items() if k not in NOT_TIMING} for r in history]


def weights(run):
    return load_file(latest_checkpoint(run) / "model.safetensors")


@pytest.fixture
def baseline_run(tiny_run):
    "The session's TINY baseline (conftest.py): (folder, metrics); read, never written."
    return tiny_run


def test_baseline_api_run_writes_everything(baseline_run):
    out, m = baseline_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.json", "history.json", "metrics.json"]
    assert [r["epoch"] for r in m["history"]] == [1, 2]
    n = TINY["eval_subset"]  # tested on that many images: the accuracy is a count of them
    assert m["test_acc"] * n == pytest.approx(round(m["test_acc"] * n), abs=1e-9) and m["test_acc"] > 0
    assert json.loads((out / "metrics.json").read_text())["test_acc"] == m["test_acc"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-001", "epoch-002"]


def test_same_seed_same_history_other_seed_differs(mnist, baseline_run):
    _, m = baseline_run
    again = fit(make_config("baseline", **TINY), mnist)
    assert recipe(again["history"]) == recipe(m["history"])
    other = fit(make_config("baseline", **{**TINY, "seed": 1}), mnist)
    assert recipe(other["history"]) != recipe(m["history"])


def test_resnet34_api_run(mnist, tmp_path):
    m = fit(make_config("resnet34", **{**TINY, "epochs": 1, "samples_per_epoch": 20, "eval_subset": 20}), mnist, out=tmp_path)
    assert m["epochs"] == 1 and load_state(latest_checkpoint(tmp_path))["config"]["model"] == "resnet34"


def test_safetensors_round_trip(baseline_run):
    out, _ = baseline_run
    model, state = load_model(out)
    saved = weights(out)
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert state["epoch"] == 2


def test_refuses_pickled_code(baseline_run, tmp_path):
    out, _ = baseline_run
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "model.safetensors").write_bytes((latest_checkpoint(out) / "model.safetensors").read_bytes())
    torch.save({"config": {"model": "baseline"}, "payload": os.system}, ck / "state.pt")
    with pytest.raises(CheckpointError, match="refusing to load"): load_model(ck)


def test_refuses_wrong_architecture(mnist, baseline_run):
    out, _ = baseline_run
    with pytest.raises(TrainingError, match=r"different recipe .*'model': \('baseline', 'resnet34'\)"):
        fit(make_config("resnet34", **TINY), mnist, out=out, resume=True)
    with pytest.raises(CheckpointError, match="holds a 'baseline' model, not 'resnet34'"):
        load_weights(build_model("resnet34"), latest_checkpoint(out), "resnet34")


def test_refuses_to_overwrite_and_to_change_recipe(mnist, baseline_run):
    out, _ = baseline_run
    with pytest.raises(TrainingError, match="already holds a run"): fit(make_config("baseline", **TINY), mnist, out=out)
    with pytest.raises(TrainingError, match="different recipe.*'lr'"):
        fit(make_config("baseline", **{**TINY, "lr": 0.5}), mnist, out=out, resume=True)


def test_divergence_stops_and_keeps_last_good_checkpoint(mnist, tmp_path, monkeypatch):
    import mnist_course.train as train
    real = train.across_processes
    calls = []
    def poisoned(*a, **kw):  # epoch 2's loss is NaN, as a diverging run's would be
        loss, acc, n = real(*a, **kw)
        calls.append(1)
        return (float("nan") if len(calls) == 2 else loss), acc, n
    monkeypatch.setattr(train, "across_processes", poisoned)
    with pytest.raises(TrainingError, match="epoch 2: loss is nan.*last good checkpoint is kept"):
        fit(make_config("baseline", **{**TINY, "epochs": 3}), mnist, out=tmp_path)
    assert latest_checkpoint(tmp_path).name == "epoch-001"
    assert len(json.loads((tmp_path / "history.json").read_text())) == 1


def test_runs_trained_at_once_end_as_if_alone(mnist, tmp_path):
    """`fit_many`, one step of each run in turn, ends each run with the weights and history it has alone, to the bit.
    The ResNet34's dropout draws from the global generator between steps, so this needs each run's own random state."""
    small = dict(layers=(1, 1, 1, 1), stem_stride=2, pool_stride=2)  # a ResNet10, still with the report's dropout
    cfgs = [make_config("resnet34", model_options=small, epochs=1, samples_per_epoch=150, train_subset=1_000,
                        eval_subset=100, bs=50, seed=s) for s in (0, 1)]
    many = fit_many([dict(cfg=c, data=mnist, out=tmp_path / f"many{c.seed}") for c in cfgs])
    alone = [fit(c, mnist, out=tmp_path / f"alone{c.seed}") for c in cfgs]
    for c, m, a in zip(cfgs, many, alone):
        assert recipe(m["history"]) == recipe(a["history"]) and m["test_acc"] == a["test_acc"]
        w, v = weights(tmp_path / f"many{c.seed}"), weights(tmp_path / f"alone{c.seed}")
        assert all(torch.equal(w[k], v[k]) for k in v), f"seed {c.seed}: other weights when trained at once"
    assert recipe(many[0]["history"]) != recipe(many[1]["history"])


KILLED = """\
"mnist-course ARGS... that kills itself (SIGKILL, as a power cut would) before batch BATCH of its second epoch."
import os, signal, sys
from mnist_course import augment, cli

real, epochs = augment.AugmentedStream.__iter__, []
def dying(self):
    epochs.append(1)
    for i, batch in enumerate(real(self)):
        if len(epochs) == 2 and i == int(sys.argv[1]): os.kill(os.getpid(), signal.SIGKILL)
        yield batch
augment.AugmentedStream.__iter__ = dying
sys.exit(cli.main(sys.argv[2:]))
"""


def test_cli_train_killed_mid_epoch_then_resumed_matches_uninterrupted(mnist, source, tmp_path):
    """SIGKILL in epoch 2, three of its eight steps done (after epoch 1's checkpoint), then --resume: same weights and
    history as never interrupted. The process kills itself at that step, so the kill never misses the epoch."""
    ref = fit(make_config("baseline", **TINY), mnist, out=tmp_path / "ref")
    out = tmp_path / "killed"
    args = ["train", "--model", "baseline", "--out", out, "--source", source, "--root", tmp_path / "root",
            *[x for k, v in TINY.items() for x in (f"--{k.replace('_', '-')}", v)]]
    (tmp_path / "killed.py").write_text(KILLED)
    proc = subprocess.run([sys.executable, *map(str, [tmp_path / "killed.py", 3, *args])], capture_output=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-3000:]
    assert latest_checkpoint(out).name == "epoch-001", "the kill did not land in epoch 2"
    r = cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    assert recipe(json.loads((out / "history.json").read_text())) == recipe(ref["history"])
    a, b = weights(out), weights(tmp_path / "ref")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_train_quick_resnet_says_what_it_cut(source, tmp_path):
    r = cli("train", "--model", "resnet34", "--preset", "quick", "--out", tmp_path / "r", "--source", source,
            "--root", tmp_path / "root", "--samples-per-epoch", 20, "--eval-subset", 20, "--epochs", 1)
    assert r.returncode == 0, r.stderr
    assert "the report's recipe except" in r.stdout and "samples_per_epoch 120000 -> 20" in r.stdout
    assert "test accuracy" in r.stdout


def test_cli_predict_good_and_bad_files(baseline_run, mnist, tmp_path):
    out, _ = baseline_run
    Image.fromarray(mnist.test_x[0].numpy()).save(tmp_path / "seven.png")
    Image.fromarray(255 - mnist.test_x[1].numpy()).resize((112, 112)).save(tmp_path / "two_big.jpg")
    (tmp_path / "notes.png").write_text("hello")
    Image.new("L", (60, 60), 255).save(tmp_path / "white.png")   # no ink: said, not predicted at chance
    r = cli("predict", out, tmp_path / "seven.png", tmp_path / "notes.png", tmp_path / "two_big.jpg", tmp_path / "white.png")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{tmp_path / 'seven.png'}: ") and "probability" in lines[1]
    assert "notes.png: not a readable image" in r.stderr and f"{tmp_path / 'white.png'}: no ink" in r.stderr


def test_cli_predict_missing_checkpoint(tmp_path):
    r = cli("predict", tmp_path, tmp_path / "x.png")
    assert r.returncode == 2 and "no checkpoint found" in r.stderr  # a usage error, found before anything runs


RECORDER = """\
"mnist-course ARGS... with the images each process trains recorded: per epoch, their hashes, into FOLDER/rank-R.json."
import hashlib, json, os, sys
from pathlib import Path
from mnist_course import cli, train

class Recording(train.AugmentedStream):
    epochs = []
    def epoch_indices(self):
        idx = super().epoch_indices()
        Recording.epochs.append([hashlib.sha256(self.x[i].cpu().numpy().tobytes()).hexdigest() for i in idx.tolist()])
        return idx

train.AugmentedStream = Recording
try: code = cli.main(sys.argv[2:])
finally: Path(sys.argv[1], f"rank-{os.environ['RANK']}.json").write_text(json.dumps(Recording.epochs))
sys.exit(code)
"""

needs_gloo = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available here")


def torchrun_train(tmp_path, source, **recipe) -> tuple[subprocess.CompletedProcess, list]:
    """torchrun with two CPU processes (gloo): `mnist-course train --model baseline` with `recipe`, recording what each
    process trains; returns (the finished torchrun, per process and epoch the hashes of the images it trained)."""
    torchrun = Path(sys.executable).parent / "torchrun"
    (tmp_path / "recorder.py").write_text(RECORDER)
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", tmp_path / "recorder.py", tmp_path,
                        "train", "--model", "baseline", "--out", tmp_path / "ddp", "--source", source,
                        "--root", tmp_path / "root",
                        *[str(x) for k, v in recipe.items() for x in (f"--{k.replace('_', '-')}", v)]],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r, [json.loads((tmp_path / f"rank-{rank}.json").read_text()) for rank in range(2)]


def split_images(mnist, train_subset: int) -> set[str]:
    "The hashes of the training split's images as a run of `train_subset` images sees it (all distinct)."
    cfg = make_config("baseline", train_subset=train_subset)
    idx = split_train_val(mnist.train_y, cfg.val_frac, cfg.seed)[0][:train_subset]
    hashes = {hashlib.sha256(mnist.train_x[i].numpy().tobytes()).hexdigest() for i in idx.tolist()}
    assert len(hashes) == train_subset  # no two images alike: a hash names one image
    return hashes


@needs_gloo
def test_ddp_two_processes_gloo(mnist, source, tmp_path):
    "torchrun with two CPU processes (gloo): one run folder, the whole sample budget shared between ranks."
    r, ranks = torchrun_train(tmp_path, source, **TINY)
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert m["runtime"]["processes"] == 2 and m["epochs"] == 2
    assert r.stdout.count("test accuracy") == 1  # only rank 0 reports
    split, half = split_images(mnist, TINY["train_subset"]), TINY["samples_per_epoch"] // 2
    assert [len(e) for e in ranks[0]] == [len(e) for e in ranks[1]] == [half] * TINY["epochs"]
    for a, b in zip(*ranks):  # each epoch: half the budget each, distinct images drawn from the whole split
        assert len(set(a)) == len(set(b)) == half and set(a) | set(b) <= split and a != b
    assert [h["images"] for h in m["history"]] == [TINY["samples_per_epoch"]] * TINY["epochs"]


@needs_gloo
def test_ddp_one_pass_is_shared_out_in_disjoint_shards(mnist, source, tmp_path):
    "samples_per_epoch=0 under torchrun: each process passes over its own shard, the shards disjoint and of one size."
    n = 101  # two processes: one image sits the pass out
    _, ranks = torchrun_train(tmp_path, source, epochs=2, samples_per_epoch=0, train_subset=n, eval_subset=50, bs=25)
    split = split_images(mnist, n)
    for a, b in zip(*ranks):  # each epoch
        assert len(a) == len(set(a)) == len(b) == len(set(b)) == n // 2  # a pass over a shard: no image twice
        assert not set(a) & set(b) and set(a) | set(b) <= split and len(split - set(a) - set(b)) <= 1
    for shard in ranks:  # every epoch the same shard, shuffled afresh
        assert set(shard[0]) == set(shard[1]) and shard[0] != shard[1]


def test_model_options_are_trained_saved_loaded_and_checked_on_resume(mnist, tmp_path):
    cfg = make_config("resnet34", **{**TINY, "epochs": 1, "samples_per_epoch": 20, "eval_subset": 20},
                      model_options={"stem_kernel": 3})
    fit(cfg, mnist, out=tmp_path)
    model, state = load_model(tmp_path)
    assert model.conv1.kernel_size == (3, 3) and state["config"]["model_options"] == {"stem_kernel": 3}
    with pytest.raises(TrainingError, match="different recipe"):
        fit(dataclasses.replace(cfg, epochs=2, model_options={}), mnist, out=tmp_path, resume=True)


def test_resumes_a_checkpoint_made_before_a_config_field_existed(mnist, tmp_path):
    cfg = make_config("baseline", **TINY)
    fit(dataclasses.replace(cfg, epochs=1), mnist, out=tmp_path)
    ck = latest_checkpoint(tmp_path)
    state = torch.load(ck / "state.pt", weights_only=True)
    del state["config"]["model_options"]  # as written before model_options was added
    torch.save(state, ck / "state.pt")
    assert [r["epoch"] for r in fit(cfg, mnist, out=tmp_path, resume=True)["history"]] == [1, 2]


def test_checkpoint_folder_without_weights_is_not_resumed(mnist, tmp_path):
    fit(make_config("baseline", **{**TINY, "epochs": 1}), mnist, out=tmp_path)
    (latest_checkpoint(tmp_path) / "model.safetensors").unlink()  # as a results tarball without weights
    assert latest_checkpoint(tmp_path) is None


def test_cli_model_options_bad_json_and_wrong_model(source, tmp_path):
    bad = cli("train", "--model", "resnet34", "--out", tmp_path, "--model-options", "[3]")
    assert bad.returncode == 2 and "expected a JSON object" in bad.stderr
    wrong = cli("train", "--model", "baseline", "--out", tmp_path, "--source", source, "--model-options", '{"dropout": 0.5}')
    assert wrong.returncode == 2 and "baseline does not take the options" in wrong.stderr  # found before the data loads


def test_one_cycle_rate_is_set_every_step_and_resumes_exactly(mnist, tmp_path):
    "The course's recipe on a CPU: the last step ran at the schedule's last rate; a run resumed mid-cycle ends as an unbroken one."
    cfg = make_config("baseline", "fast", epochs=2, samples_per_epoch=1_280, eval_subset=200)  # 10 steps of 128 an epoch
    whole = fit(cfg, mnist, out=tmp_path / "whole")
    lr = load_state(latest_checkpoint(tmp_path / "whole"))["optimizer"]["param_groups"][0]["lr"]
    assert float(lr) == pytest.approx(lr_at(cfg, 19, 20)) and lr_at(cfg, 19, 20) < cfg.lr / 10

    def crash_in_epoch_2(row):
        if row["epoch"] == 2: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): fit(cfg, mnist, out=tmp_path / "split", on_epoch=crash_in_epoch_2)
    with pytest.raises(TrainingError, match="different recipe"):  # more epochs would stretch the cycle under the finished ones
        fit(dataclasses.replace(cfg, epochs=3), mnist, out=tmp_path / "split", resume=True)
    resumed = fit(cfg, mnist, out=tmp_path / "split", resume=True)
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in whole["history"]]
    a, b = (load_file(latest_checkpoint(tmp_path / d) / "model.safetensors") for d in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_added_images_are_recorded_and_must_be_the_same_on_resume(mnist, tmp_path):
    "fit(extra=...) trains on the split plus the given images; a resume with other labels for the same images is refused."
    x, y = mnist.test_x[:300], mnist.test_y[:300]   # any uint8 digits and labels (self-training passes the pseudo-labelled pool)
    cfg = make_config("baseline", **{**TINY, "epochs": 2})
    m = fit(dataclasses.replace(cfg, epochs=1), mnist, out=tmp_path, extra=(x, y))
    assert m["extra_images"] == 300 and load_state(latest_checkpoint(tmp_path))["extra"]
    with pytest.raises(TrainingError, match="other images added to the split"):
        fit(cfg, mnist, out=tmp_path, resume=True, extra=(x, (y + 1) % 10))
    with pytest.raises(TrainingError, match="other images added to the split"):
        fit(cfg, mnist, out=tmp_path, resume=True)
    assert fit(cfg, mnist, out=tmp_path, resume=True, extra=(x, y))["epochs"] == 2


def test_data_on_device_false_is_recorded_and_on_a_cpu_changes_nothing(mnist, baseline_run):
    """data_on_device=False (the data stays on the CPU, copied per batch) is recorded as such; on a CPU, where the copy
    is no copy, it trains the same run. Only a GPU could show what the copy per batch does: no test does that yet."""
    _, m = baseline_run
    off = fit(make_config("baseline", **TINY, data_on_device=False), mnist)
    assert recipe(off["history"]) == recipe(m["history"]) and off["test_acc"] == m["test_acc"]
    assert off["runtime"]["data_on_device"] is False and m["runtime"]["data_on_device"] is True


def test_few_labels_are_balanced_seeded_and_recorded(mnist, tmp_path):
    "labels=N: N images of the split, N/10 of each digit, the same for the same seed; config.json and metrics.json say which."
    split, _ = split_train_val(mnist.train_y, 0.15, 0)
    idx = balanced_labels(mnist.train_y[split], 100, seed=0)
    assert torch.bincount(mnist.train_y[split][idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(idx, balanced_labels(mnist.train_y[split], 100, seed=0))
    assert not torch.equal(idx, balanced_labels(mnist.train_y[split], 100, seed=1))
    cfg = make_config("baseline", **{**TINY, "train_subset": 0, "labels": 100, "epochs": 1})
    m = fit(cfg, mnist, out=tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["labels"] == 100
    rec = json.loads((tmp_path / "metrics.json").read_text())["labelled"]
    assert rec == m["labelled"] and (rec["n"], rec["seed"]) == (100, 0) and rec["indices"] == split[idx].tolist()
    assert rec["sha256"] == hashlib.sha256(str(rec["indices"]).encode()).hexdigest()
    assert "labelled" not in fit(make_config("baseline", **{**TINY, "epochs": 1}), mnist)  # all labels: nothing to list


@pytest.mark.parametrize("n", [-10, 55, 50_000])
def test_few_labels_refuses_a_bad_count_before_any_folder(mnist, tmp_path, n):
    with pytest.raises(ValueError, match=f"labels={n}: give a positive multiple of 10"):
        fit(make_config("baseline", **{**TINY, "train_subset": 0, "labels": n}), mnist, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("n, says", [("-10", "expected a number >= 0"), ("55", "positive multiple of 10"),
                                     ("50000", "at most 4")])
def test_cli_train_labels_bad_count(source, tmp_path, n, says):
    "A count the split cannot balance is a usage error (exit 2, one line), found before any folder is made."
    r = cli("train", "--model", "baseline", "--labels", n, "--source", source, "--out", tmp_path / "run")
    assert r.returncode == 2 and says in r.stderr
    assert not (tmp_path / "run").exists()
