"Trust: torchrun runs with one writer, one test accuracy per run, records of how a run trained, honest divergence."
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from command import SCRIPT, mnist_course as cli
from conftest import TINY
from mnist_course.checkpoint import build_model, latest_checkpoint, save_checkpoint
from mnist_course.config import describe_cuts, make_config
from mnist_course.evaluate import evaluate_run
from mnist_course.machine import cpu_bf16_fast
from mnist_course.checkpoint import TrainingError
from mnist_course.step import resolve_runtime
from mnist_course.train import fit



def torchrun(*args, tmp_path, source) -> subprocess.CompletedProcess:
    "`torchrun --nproc-per-node 2 mnist-course ARGS... --source SOURCE` on the CPU (gloo)."
    run = Path(sys.executable).parent / "torchrun"
    return subprocess.run([run, "--standalone", "--nproc-per-node", "2", SCRIPT, *map(str, args), "--source", source,
                           "--root", tmp_path / "root"], capture_output=True, text=True, timeout=900)


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_torchrun_reproduce_has_one_writer_and_the_files_of_one_process(source, tmp_path):
    "Both models in one process group, evaluated and reported once, no temporary files left, as one process would."
    r = torchrun("reproduce", "--tiny", "--preset", "quick", "--out", tmp_path / "two", tmp_path=tmp_path, source=source)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("report: ") == 1 and r.stdout.count("baseline: test accuracy") == 1
    one = cli("reproduce", "--tiny", "--preset", "quick", "--out", tmp_path / "one", "--source", source, "--root", tmp_path / "root")
    assert one.returncode == 0, one.stderr[-3000:]
    assert files(tmp_path / "two") == files(tmp_path / "one") and not any(".tmp" in f for f in files(tmp_path / "two"))
    res = json.loads((tmp_path / "two" / "results.json").read_text())
    for m in ("baseline", "resnet34"):
        train = json.loads((tmp_path / "two" / m / "metrics.json").read_text())
        tested = json.loads((tmp_path / "two" / m / "evaluation" / "metrics.json").read_text())
        assert train["runtime"]["processes"] == 2 and train["test_acc"] is None  # tested once, by the evaluation
        assert tested["test_acc"] == res["models"][m]["test_acc"]


def test_torchrun_sweep_writes_each_run_once(source, tmp_path):
    "The sweep engine under torchrun (the baseline's detective sweep: eleven small networks): one writer, one summary."
    r = torchrun("sweep", "detective-baseline", "--tiny", "--seeds", "0", "--out", tmp_path / "sw", tmp_path=tmp_path, source=source)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote detective-baseline.json") == 1
    runs = sorted(p.name for p in (tmp_path / "sw").glob("*-seed0.json"))
    assert len(runs) == 11 and not list((tmp_path / "sw").glob(".*tmp"))
    assert all(json.loads((tmp_path / "sw" / n).read_text())["numerics"].endswith("2 processes on cpu") for n in runs)


def test_one_test_accuracy_per_run(mnist, tiny_run, tmp_path):
    "The loop's test accuracy and `evaluate`'s are one number: the same forward pass (lesson 09's eval_logits)."
    run, m = tiny_run
    ev = evaluate_run(run, mnist, out=tmp_path, test_subset=TINY["eval_subset"])
    assert m["test_acc"] == ev["test_acc"]


def test_metrics_record_how_the_run_executed(mnist):
    m = fit(make_config("baseline", **TINY, device="cpu", bf16=False, channels_last=False), mnist)
    assert m["runtime"] == dict(device="cpu", bf16=False, channels_last=False, graph=False, aug_chunk=0, compile=False,
                                data_on_device=True, cudnn_benchmark=False, processes=1)
    assert m["numerics"] == "fp32, eager; 1 process on cpu"
    on_cpu = resolve_runtime(make_config("baseline", device="cpu"))  # the CPU's defaults: NHWC, and bf16 where it has the units
    assert on_cpu.channels_last and on_cpu.bf16 == cpu_bf16_fast()
    assert describe_cuts(make_config("baseline", device="cpu", bf16=True)) == "the report's recipe"  # how, not what


def test_divergence_in_the_first_epoch_says_no_checkpoint_is_kept(mnist, tmp_path):
    with pytest.raises(TrainingError, match="epoch 1: loss is nan.*no checkpoint was kept") as e:
        fit(make_config("baseline", **{**TINY, "lr": 1e6}), mnist, out=tmp_path)
    assert "last good checkpoint" not in str(e.value) and latest_checkpoint(tmp_path) is None


def test_resume_refuses_another_number_of_processes(mnist, tmp_path):
    cfg = make_config("baseline", **TINY)
    state = {"config": json.loads(json.dumps(cfg.__dict__)), "optimizer": torch.optim.SGD(build_model("baseline").parameters(), lr=0.1).state_dict(),
             "history": [], "runtime": {"processes": 2}}
    save_checkpoint(tmp_path, 1, build_model("baseline"), state)
    with pytest.raises(TrainingError, match="trained by 2 process.*resume with 2"):
        fit(cfg, mnist, out=tmp_path, resume=True)
    save_checkpoint(tmp_path, 2, build_model("baseline"), {**state, "runtime": {"processes": 2}})  # finished: only re-tested
    assert fit(cfg, mnist, out=tmp_path, resume=True)["epochs"] == 0
