"""Chosen runs of a sweep in a chosen order (`sweep --only`), and the ResNet34's readings in fp32."""
import json
import re

import pytest

from mnist_course.cli import main
from mnist_course.experiments import SWEEPS, chosen_runs

D, A = "(d) SGD at 0.01", "(a) as written: SGD at 0.001"


# --- chosen runs, in a chosen order ---------------------------------------------------------------------------------

def test_chosen_runs_keep_their_order_and_share_a_part_within_one_view_and_seed():
    parts = chosen_runs(SWEEPS["detective-resnet34"], [f"{D}:0", f"{D}:1", f"{A}:1", "(c) Adam at 0.001:1"])
    assert [(seeds, list(p["views"]["readings"])) for p, seeds in parts] == [
        ([0], [D]), ([1], [D, A, "(c) Adam at 0.001"])]
    assert parts[0][0]["budget"] == SWEEPS["detective-resnet34"]["budget"]  # a part is the sweep, narrowed


def test_chosen_runs_refuse_a_run_the_sweep_does_not_have():
    for item in ["(z) nothing:0", f"{D}", f"{D}:x"]:
        with pytest.raises(ValueError, match=re.escape(D)):  # the message lists the sweep's variants
            chosen_runs(SWEEPS["detective-resnet34"], [item])


def test_the_fp32_readings_are_the_same_runs_in_fp32():
    fp32, bf16 = SWEEPS["detective-resnet34-fp32"], SWEEPS["detective-resnet34"]
    assert fp32["views"] == bf16["views"] and fp32["budget"] == bf16["budget"] == {}
    assert fp32["execution"] == dict(bf16=False, channels_last=False) and "execution" not in bf16


@pytest.mark.parametrize("parallel", [1, 2])
def test_sweep_only_trains_those_runs_in_their_order_and_a_second_call_trains_nothing(source, tmp_path, parallel):
    out = tmp_path / "sweep"
    args = ["sweep", "detective-baseline", "--tiny", "--only", "(d) pixels in [0, 1], as (a):1",
            "(a) the course's reading:0", "(c) double softmax, as (a):0", "--out", str(out), "--source", str(source),
            "--root", str(tmp_path / "root"), "--parallel", str(parallel)]
    assert main(args) == 0
    runs = sorted(out.glob("*-seed*.json"), key=lambda f: f.stat().st_mtime_ns)
    assert [f.name for f in runs][0] == "baseline-inputsunit-seed1.json"  # in --only's order: seed 1 first
    assert {f.name for f in runs} == {"baseline-inputsunit-seed1.json", "baseline-seed0.json",
                                      "baseline-softmax_lossTrue-seed0.json"}  # those runs, and no others
    written = [f.stat().st_mtime_ns for f in runs]
    assert main(args) == 0 and [f.stat().st_mtime_ns for f in runs] == written  # finished runs are skipped
    assert len(json.loads((out / "detective-baseline.json").read_text())["runs"]) == 3


@pytest.mark.parametrize("extra, message", [(["--only", "(z) nothing:0"], "is not VARIANT:SEED"),
                                            (["--only", f"{A}:0", "--no-train"], "cannot go with --no-train")])
def test_sweep_only_refuses_before_any_data_loads(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "detective-resnet34", *extra, "--out", str(tmp_path / "s"), "--source", str(tmp_path / "none")])
    assert e.value.code == 2 and message in capsys.readouterr().err and not (tmp_path / "s").exists()
