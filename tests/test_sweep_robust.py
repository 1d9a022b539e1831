"A sweep goes on: under torchrun every process reads the run files the lead wrote; a diverging variant is a result."
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from mnist_course.config import TINY

SLOW_LEAD = """\
"mnist-course ARGS... with the sweep 'two-tiny' (two small baselines) added, the lead process slow to write run files."
import os, sys, time
from mnist_course import cli, config

config.SWEEPS["two-tiny"] = dict(title="two tiny baselines", budget={}, target=None, views={"v": {
    "a": config.variant(model="baseline"), "b": config.variant(model="baseline", lr=0.01)}})
real = os.replace
def slow(src, dst, *a, **kw):  # the lead writes each run file late: the other process is done long before
    if str(dst).endswith("-seed0.json"): time.sleep(3)
    return real(src, dst, *a, **kw)
if os.environ["RANK"] == "0": os.replace = slow
sys.exit(cli.main(sys.argv[1:]))
"""

needs_gloo = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available here")


@needs_gloo
def test_torchrun_sweep_waits_for_the_lead_to_write_every_run(source, tmp_path):
    "The other process never finds a run file missing and trains it alone: it waits for the lead's files."
    (tmp_path / "slow_lead.py").write_text(SLOW_LEAD)
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", tmp_path / "slow_lead.py", "sweep",
                        "two-tiny", "--tiny", "--seeds", "0", "--out", tmp_path / "sw", "--source", source,
                        "--root", tmp_path / "root"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote two-tiny.json") == 1
    runs = sorted((tmp_path / "sw").glob("*-seed0.json"))
    assert len(runs) == 2 and all(json.loads(p.read_text())["numerics"].endswith("2 processes on cpu") for p in runs)


def test_a_diverging_variant_is_a_result_and_the_sweep_goes_on(mnist, tmp_path):
    "A variant whose loss overflows is recorded as diverged, named in the summary; the run beside it trains on."
    from mnist_course.config import variant
    from mnist_course.sweep import run_sweep, write_sweep
    sweep = dict(title="one sane, one absurd rate", budget=TINY, target=None, views={"rate": {
        "SGD at 0.001": variant(model="baseline"), "SGD at 1e6": variant(model="baseline", lr=1e6)}})
    rows = run_sweep(sweep, tmp_path, seeds=[0], data=mnist, parallel=2)  # both in one turn-taking batch
    sane, absurd = rows
    assert sane["test_acc"] > 0 and "diverged" not in sane
    assert absurd["diverged"] == "diverged at epoch 1" and absurd["test_acc"] is None
    files = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*-seed0.json")}
    assert len(files) == 2
    assert run_sweep(sweep, tmp_path, seeds=[0], data=mnist) == rows  # a rerun reads both, trains neither
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*-seed0.json")} == files
    write_sweep(tmp_path, rows, TINY, sweep, "rates")
    md = (tmp_path / "rates.md").read_text()
    assert "SGD at 1e6" in md and "diverged at epoch 1" in md and "SGD at 0.001" in md
