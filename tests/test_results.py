"The committed GPU results agree with themselves, and the README quotes them as they are."
import json
import statistics
from pathlib import Path

from mnist_course.ablation import ABLATION_BUDGET, ablation_table, run_name

ROOT = Path(__file__).parents[1]
ABLATION, PAPER = ROOT / "results/ablation-h100", ROOT / "results/reproduce-paper-h100-unfinished"


def test_ablation_summary_is_made_of_its_run_files():
    res = json.loads((ABLATION / "ablation.json").read_text())
    assert res["budget"] == ABLATION_BUDGET and len(res["runs"]) == 8 * 3
    assert all(r["budget"] == ABLATION_BUDGET for r in res["runs"])
    for r in res["runs"]:
        assert json.loads((ABLATION / f"{run_name(r['options'], r['seed'])}.json").read_text())["test_acc"] == r["test_acc"]
    assert {r["trained_on"] for r in res["runs"]} == {"NVIDIA H100 80GB HBM3"}
    assert ablation_table(res["runs"]) in (ABLATION / "ablation.md").read_text()


def test_readme_speed_figures_are_the_h100_runs():
    readme = " ".join((ROOT / "README.md").read_text().split())
    base = json.loads((PAPER / "baseline/history.json").read_text())
    resnet = json.loads((PAPER / "resnet34/history.json").read_text())
    assert {r["hardware"] for r in base + resnet} == {"NVIDIA H100 80GB HBM3"}
    assert f"trains in {sum(r['seconds'] for r in base):.0f} s" in readme
    assert f"epoch takes {statistics.median(r['seconds'] for r in resnet):.0f} s" in readme
