"The committed results agree with themselves, and the README, CONTRIBUTING.md and the leaderboard quote them as they are."
import json
from pathlib import Path

import numpy as np
import pytest

from mnist_course.ensemble import best_strength
from mnist_course.reproduce import report_from_records
from mnist_course.results import RULE, all_rows, headline_rows, headline_table, leaderboard_page, report_card_page
from mnist_course.config import ABLATION_BUDGET, SWEEPS
from mnist_course.sweep import run_name, sweep_table

ROOT = Path(__file__).parents[1]
ABLATION = ROOT / "results/ablation-h100"
PAPER = {"NVIDIA H200": ROOT / "results/reproduce-paper-h200", "NVIDIA H100 80GB HBM3": ROOT / "results/reproduce-paper-h100"}


def test_ablation_summary_is_the_ablation_at_its_budget_on_the_h100():
    "Its run files are checked with every sweep's below; here, what is the ablation's own."
    res = json.loads((ABLATION / "ablation.json").read_text())
    assert res["budget"] == ABLATION_BUDGET and len(res["runs"]) == 8 * 3
    assert all(r["budget"] == ABLATION_BUDGET for r in res["runs"])
    assert {r["trained_on"] for r in res["runs"]} == {"NVIDIA H100 80GB HBM3"}


def _wall_seconds(folder: Path) -> int:
    "The wall seconds that the last line of a reproduce run's log reports (it must have exited 0)."
    last = (folder / "reproduce.log").read_text().strip().splitlines()[-1]
    assert last.startswith("reproduce: exit 0,"), last
    return int(last.split(", ")[1].split(" s wall")[0])


@pytest.mark.parametrize("gpu", list(PAPER))
def test_speed_figures_are_the_gpu_runs(gpu):
    readme, folder = " ".join((ROOT / "CONTRIBUTING.md").read_text().split()), PAPER[gpu]
    res = json.loads((folder / "results.json").read_text())
    assert res["preset"] == "paper" and res["machine"]["hardware"] == gpu
    base, resnet = (res["models"][m]["train_seconds"] for m in ("baseline", "resnet34"))
    assert f"ran in {_wall_seconds(folder)} s wall" in readme
    assert f"trained in {base:.0f} s and the ResNet34's (10 epochs) in {resnet:.0f} s" in readme
    for m in ("baseline", "resnet34"):
        assert json.loads((folder / m / "metrics.json").read_text())["runtime"]["graph"] is True


def test_h100_run_meets_issue_12_targets():
    "Issue 12's targets, set for one H100: reproduce in 150 s wall, 15 s and 70 s of training, the ResNet34 at 97.5% or more."
    folder = PAPER["NVIDIA H100 80GB HBM3"]
    models = json.loads((folder / "results.json").read_text())["models"]
    assert _wall_seconds(folder) <= 150
    assert models["baseline"]["train_seconds"] <= 15 and models["resnet34"]["train_seconds"] <= 70
    assert models["resnet34"]["test_acc"] >= 0.975


def test_readme_quotes_the_cpu_make_run_as_it_ran():
    "The quick preset from a fresh clone on two CPU cores: above the targets, inside 10 minutes, quoted as measured."
    quick = ROOT / "results/reproduce-quick-cpu"
    readme = " ".join((ROOT / "README.md").read_text().split())
    res = json.loads((quick / "results.json").read_text())
    assert res["preset"] == "quick" and res["limit"] is None and "(2 cores)" in res["machine"]["hardware"]
    accs = {m: res["models"][m]["test_acc"] for m in ("baseline", "resnet34")}
    assert accs["baseline"] >= 0.99 and accs["resnet34"] >= 0.96, accs
    assert all(json.loads((quick / m / "evaluation/metrics.json").read_text())["test_images"] == 10_000 for m in accs)
    real = next(l for l in (quick / "make-run.log").read_text().splitlines() if l.startswith("real"))
    minutes, seconds = real.split()[1].rstrip("s").split("m")
    assert int(minutes) * 60 + float(seconds) <= 600
    assert f"took {minutes} min {float(seconds):.0f} s: baseline {accs['baseline']:.2%}, ResNet34 {accs['resnet34']:.2%}" in readme


def test_readme_headline_table_is_read_from_the_committed_results():
    table = headline_table(ROOT / "results")
    assert table in (ROOT / "README.md").read_text() and len(table.splitlines()) - 2 <= 8
    assert "The report's recipe, reproduced on a GPU" in table and "networks averaged" in table


def test_readme_shows_every_gpu_reproduction():
    "Every complete reproduction of the report's recipe on a GPU is in the README's table, not the fastest alone."
    table = headline_table(ROOT / "results")
    for folder in PAPER.values():
        for m in ("baseline", "resnet34"):
            acc = json.loads((folder / m / "evaluation/metrics.json").read_text())["test_acc"]
            row = next(l for l in table.splitlines() if l.startswith(f"| The report's recipe, reproduced on a GPU | {m} |"))
            assert f"{acc:.2%}" in row and folder.name.split("-")[-1].upper() in row, (folder.name, m, row)


def test_leaderboard_page_is_read_from_the_committed_results():
    "results/LEADERBOARD.md is what `write_leaderboard` writes today: every row once, with its rule."
    page = (ROOT / "results/LEADERBOARD.md").read_text()
    assert page == leaderboard_page(ROOT / "results") and RULE in page
    rows = [l for l in page.splitlines() if l.startswith("| ") and l[2].isdigit()]
    assert len(rows) == len(all_rows(ROOT / "results"))
    assert all(" [" in l.split(" | ")[3] and l.split(" | ")[4] for l in rows)  # every row: an interval and its count


def test_no_two_rows_rest_on_the_same_runs():
    "A set of runs held in several folders (the same seeds, to the image) is one row naming them all, never two."
    rows = all_rows(ROOT / "results")
    for a in rows:
        for b in rows:
            assert a is b or not a["runs"] <= b["runs"], (a["entry"], a["sources"], b["entry"], b["sources"])
    fast = [r for r in rows if r["model"] == "baseline" and r["entry"] == "preset fast"]
    assert len(fast) == 1 and {"beyond-cpu", "sweeps/fast-wd-baseline", "sweeps/fast-batch-baseline"} <= set(fast[0]["sources"])
    paper = [r for r in rows if r["model"] == "baseline" and r["entry"] == "preset paper"]
    assert len(paper) == 1 and set(paper[0]["sources"]) == {"reproduce-paper-h100", "reproduce-paper-h200"}


def test_means_over_seeds_and_single_results_are_ranked_apart():
    page = (ROOT / "results/LEADERBOARD.md").read_text()
    seeds, single = page.split("## Single results")
    assert all(l.split(" | ")[4].endswith("seeds") for l in seeds.splitlines() if l.startswith("| ") and l[2].isdigit())
    assert not any(l.split(" | ")[4].endswith(" seeds") for l in single.splitlines() if l.startswith("| ") and l[2].isdigit())


def test_students_are_compared_with_their_own_teachers_paired():
    "The baseline's students (seeds 0-4) against their teachers of seeds 0-4, seed by seed: the sign of lesson 20's gain."
    rows = all_rows(ROOT / "results")
    student = next(r for r in rows if r["model"] == "baseline" and "student" in r["entry"])
    teachers = {s: json.loads((ROOT / f"results/beyond-cpu/baseline-seed{s}/metrics.json").read_text())["test_acc"] for s in range(5)}
    students = {s: json.loads((ROOT / f"results/beyond-cpu/baseline-selftrain-seed{s}/metrics.json").read_text())["test_acc"] for s in range(5)}
    gain = np.mean([students[s] - teachers[s] for s in range(5)])
    assert student["against"].startswith(f"{gain * 100:+.2f}") and "own teachers, 5 paired seeds" in student["against"]


def test_report_card_page_is_read_from_the_committed_results():
    "results/REPORT_CARD.md is what `write_report_card` writes today; each claim has a verdict of the three."
    page = (ROOT / "results/REPORT_CARD.md").read_text()
    assert page == report_card_page(ROOT / "results")
    rows = [l.split(" | ") for l in page.splitlines() if l.startswith("| ") and not l.startswith("| network")]
    assert len(rows) == 7 and all(r[4].startswith(("reproduced", "not reproduced", "no run to judge")) for r in rows)


def test_reproduce_reports_are_written_from_their_records(monkeypatch):
    "Each committed report.md is what `report_from_records` writes today from its folder (nothing rerun)."
    monkeypatch.chdir(ROOT)  # report.md names the sweeps' folder as `make run` sees it, from the clone's root
    for folder in sorted((ROOT / "results").glob("reproduce-*")):
        assert (folder / "report.md").read_text() == report_from_records(folder.relative_to(ROOT), "results/sweeps"), folder


def test_beyond_runs_agree_with_themselves():
    "Each student has its teacher's recipe and seed; each ensemble's members are runs of its folder."
    for folder, hardware in ((ROOT / "results/beyond-h200", "NVIDIA H200"), (ROOT / "results/beyond-cpu", "(2 cores)")):
        assert len(list(folder.glob("*-selftrain-seed*/metrics.json"))) >= 3 and len(list(folder.glob("*ensemble*/metrics.json"))) >= 2
        for f in folder.glob("*-selftrain-seed*/metrics.json"):
            student = json.loads(f.read_text())
            teacher = json.loads((folder / f"{student['model']}-seed{student['config']['seed']}/metrics.json").read_text())
            newer = {k: v for k, v in student["config"].items() if k not in teacher["config"]}  # fields added since
            assert {k: student["config"][k] for k in teacher["config"]} == teacher["config"] and newer in ({}, {"labels": 0})
            assert student["extra_images"] == student["self_training"]["pseudo_images"] > 0
            assert hardware in student["machine"]["hardware"] and hardware in teacher["machine"]["hardware"]
        for f in folder.glob("*ensemble*/metrics.json"):
            e = json.loads(f.read_text())
            accs = [json.loads((folder / Path(m).name / "metrics.json").read_text())["test_acc"] for m in e["members"]]
            assert e["members_curve"][-1] == e["test_acc"] and len(accs) >= 5 and hardware in e["trained_on"]
            if not e["views"]: assert [round(a, 4) for a in e["member_acc"]] == [round(a, 4) for a in accs]  # same forward pass
    auto = json.loads((ROOT / "results/beyond-cpu/baseline-ensemble-tta8-auto/metrics.json").read_text())  # --tta-strength auto
    assert auto["strength"] == best_strength({float(s): a for s, a in auto["tta_validation"].items()})  # what validation chose
    own = [json.loads((ROOT / "results/beyond-cpu" / Path(m).name / "history.json").read_text())[-1]["val_acc"] for m in auto["members"]]
    assert auto["tta_validation"]["0"] == own  # scored on each run's own held-out split: no TTA gives its last validation accuracy
    assert auto["strength"] == 0.5


def test_beyond_weight_decay_runs_repeat_their_sweep():
    "The baseline's runs trained with --weight-decay 5e-4 are the weight-decay sweep's, seed for seed (a CPU repeats itself); their ensembles are of them alone."
    sweep = {r["seed"]: r for r in json.loads((ROOT / "results/sweeps/fast-wd-baseline/fast-wd-baseline.json").read_text())["runs"]
             if r["overrides"].get("weight_decay") == 5e-4}
    runs = [json.loads((ROOT / f"results/beyond-cpu/baseline-wd-seed{s}/metrics.json").read_text()) for s in range(5)]
    assert [r["config"]["weight_decay"] for r in runs] == [5e-4] * 5 and [r["config"]["seed"] for r in runs] == list(range(5))
    assert [r["test_acc"] for r in runs] == [sweep[s]["test_acc"] for s in range(5)]
    assert [r["history"][-1]["val_acc"] for r in runs] == [sweep[s]["val_acc"] for s in range(5)]
    ens = {k: json.loads((ROOT / f"results/beyond-cpu/baseline-wd-ensemble{k}/metrics.json").read_text()) for k in ("", "-tta8", "-tta8-auto")}
    for e in ens.values():
        assert [Path(m).name for m in e["members"]] == [f"baseline-wd-seed{s}" for s in range(5)] and [c["weight_decay"] for c in e["configs"]] == [5e-4] * 5


def test_baseline_batch_sweep_is_as_lesson_16_says():
    "A bigger batch for the baseline: no more accurate at 256 and no faster; 512 faster, with one collapsed seed."
    runs = json.loads((ROOT / "results/sweeps/fast-batch-baseline/fast-batch-baseline.json").read_text())["runs"]
    acc = lambda bs: [r["test_acc"] for r in runs if r["overrides"]["bs"] == bs]
    secs = lambda bs: np.median([r["train_seconds"] for r in runs if r["overrides"]["bs"] == bs])
    assert np.mean(acc(256)) <= np.mean(acc(128))
    assert secs(256) > 0.95 * secs(128) and secs(512) < 0.8 * secs(128)  # "no faster"; batch 512 "faster"
    assert sum(a < 0.5 for a in acc(512)) == 1


SWEEP_FOLDERS = {**{d.name: d for d in (ROOT / "results/sweeps").iterdir() if d.is_dir()}, "ablation": ABLATION}


@pytest.mark.parametrize("name", sorted(SWEEP_FOLDERS))
def test_sweep_summaries_are_made_of_their_run_files(name):
    "Each committed sweep's summary is its run files as they are, each under the variant that trains it; its .md shows its table."
    folder, sweep = SWEEP_FOLDERS[name], SWEEPS[name]
    res = json.loads((folder / f"{name}.json").read_text())
    names = [run_name(sweep["views"][r["view"]][r["variant"]], r["seed"]) for r in res["runs"]]
    for file, r in zip(names, res["runs"]):
        run = json.loads((folder / f"{file}.json").read_text())
        assert run["budget"] == res["budget"] and all(run[k] == r[k] for k in ("test_acc", "val_acc", "train_seconds", "trained_on"))
    assert set(names) == {f.stem for f in folder.glob("*-seed*.json")}  # every run file is in the summary
    assert len({(r["view"], r["variant"], r["seed"]) for r in res["runs"]}) == len(res["runs"])  # and each row once
    assert sweep_table(res["runs"], sweep["target"]) in (folder / f"{name}.md").read_text()


def test_contributing_quotes_the_error_gallery_benchmark():
    "CONTRIBUTING.md's speed-up of the error gallery is the committed benchmark's row for 400 errors."
    bench = (ROOT / "results/benchmarks-cpu.md").read_text()
    row = next(l for l in bench.splitlines() if l.startswith("| 400 | mnist_course plot_errors"))
    ratio = row.split("|")[-2].strip()
    assert float(ratio.rstrip("x")) > 1 and f"{ratio} faster with 400 errors on two CPU cores" in (ROOT / "CONTRIBUTING.md").read_text().replace("\n", " ")


def test_a_sweeps_best_is_chosen_on_validation_not_test(tmp_path):
    "The variant with the best test accuracy is not chosen when another has the better validation accuracy."
    from mnist_course.config import FAST
    from mnist_course.results import chosen_on_validation, sweep_rows
    folder = tmp_path / "sweeps" / "fast-epochs-baseline"
    folder.mkdir(parents=True)
    run = lambda e, s, val, test: dict(model="baseline", options={}, overrides=dict(epochs=e), view="epochs",
                                       variant=f"{e} epochs", seed=s, val_acc=val, test_acc=test, train_seconds=10 * e)
    runs = [run(2, 0, .990, .996), run(2, 1, .991, .997), run(4, 0, .992, .993), run(4, 1, .992, .994),
            run(8, 0, .995, .990), run(8, 1, .996, .991)]
    (folder / "fast-epochs-baseline.json").write_text(json.dumps(dict(trained_on="CPU", budget=FAST, runs=runs)))
    c = chosen_on_validation(folder)
    assert c["best"]["variant"] == "8 epochs" and c["preset"]["variant"] == "4 epochs" and not c["is_preset"]
    preset, row = sweep_rows(tmp_path)
    assert row["acc"] == pytest.approx(.9905) and "chosen on validation" in row["entry"] and preset["acc"] == pytest.approx(.9935)
    assert row["against"].startswith("-0.30 [") and "vs the preset, 2 paired seeds" in row["against"]


def test_every_number_in_the_readmes_prose_is_read_or_pinned():
    "The README's prose quotes the report's two numbers (config.REPORT) and the CPU make run (pinned above); no other."
    import re
    from mnist_course.config import REPORT
    text = (ROOT / "README.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = "\n".join(l for l in prose.splitlines() if not l.startswith("|"))  # the generated table is pinned apart
    quick = json.loads((ROOT / "results/reproduce-quick-cpu/results.json").read_text())["models"]
    known = {f"{REPORT['resnet34']['test_acc']:.2%}", f"{REPORT['baseline']['test_acc']:.1%}",
             *(f"{quick[m]['test_acc']:.2%}" for m in quick)}
    assert set(re.findall(r"\d+\.\d+%", prose)) == known
