"""The GPU batches of benchmarks/gpu_session.sh: chosen runs in a chosen order (`sweep --only`), the rules that decide
what a batch trains (the candidate of `targets`, the runs at once of `ablation-full`), and the CUDA test that gates
several runs at once on the GPU."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_course.cli import _train_config, main, make_parser
from mnist_course.config import SWEEPS, _find_run, chosen_runs, make_config
from mnist_course.sweep import _recipe, fit_many, run_name
from mnist_course.train import fit
from test_step import exact_cuda  # noqa: F401  (a fixture)
from test_train import recipe, weights

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_batches  # noqa: E402  benchmarks/gpu_batches.py
import parallel  # noqa: E402  benchmarks/parallel.py

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
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


def test_the_script_parses_and_names_its_batches_when_none_is_given():
    script = ROOT / "benchmarks/gpu_session.sh"
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    r = subprocess.run(["bash", script], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "BATCH"})
    assert r.returncode == 2 and "BATCH=resnet34-99.45|targets|ablation-full|families" in r.stderr


def plans() -> list[tuple[str, int, str]]:
    "Every (sweep, seconds, VARIANT:SEED) line of the plans (here-documents ending in PLAN) of gpu_session.sh."
    text = (ROOT / "benchmarks/gpu_session.sh").read_text()
    return [(name, int(est), item) for block in re.findall(r"<<'PLAN'[^\n]*\n(.*?)\nPLAN\n", text, re.S)
            for name, est, item in (line.split(" ", 2) for line in block.splitlines())]


def test_every_planned_run_is_a_run_of_its_sweep():
    lines = plans()
    assert {name for name, _, _ in lines} >= {"detective-resnet34", "detective-resnet34-fp32", "fast-epochs-resnet34",
                                              "ablation-full"}
    for name, est, item in lines: assert _find_run(SWEEPS[name], item) and 0 < est < 300, (name, item)


def test_pending_keeps_the_lines_of_the_plan_whose_run_is_not_written_yet(tmp_path):
    plan = [f"detective-resnet34 80 {D}:0", f"detective-resnet34 80 {D}:1", "", f"detective-resnet34-fp32 130 {D}:0"]
    (tmp_path / "sweeps/detective-resnet34").mkdir(parents=True)
    (tmp_path / "sweeps/detective-resnet34/lr0.01-seed0.json").write_text("{}")
    assert gpu_batches.pending(plan, tmp_path) == [plan[1], plan[3]]  # the fp32 sweep's run has a folder of its own


def test_ablation_full_plans_every_network_but_the_reports_seed_by_seed():
    views = SWEEPS["ablation-full"]["views"]
    planned = [_find_run(SWEEPS["ablation-full"], item) for name, _, item in plans() if name == "ablation-full"]
    mods = list(views["modifications"])[:-1]  # the last adds dropout: the report's own network (batch resnet34-99.45)
    assert [(n, s) for _, n, s in planned[:12]] == [(m, s) for s in (0, 1, 2) for m in mods]
    report = run_name(views["modifications"]["+ dropout 0.5"], 0)
    assert report not in {run_name(views[v][n], 0) for v, n, _ in planned}


# --- how many ablation runs at once ---------------------------------------------------------------------------------

TABLE = """# several runs at once: NVIDIA H100 80GB HBM3, torch 2.11.0+cu130, resnet34, batch 100, epochs of 30,000 images
| runs at once | img/s, all runs | vs one run |
|--------------|-----------------|------------|
|            1 |          18,300 |      1.00x |
|            2 |          30,500 |      1.67x |
|            4 |          36,000 |      1.97x |
"""


def test_the_fastest_k_at_or_above_the_gain_is_chosen_else_one():
    assert parallel.choose_k(TABLE) == 4
    assert parallel.choose_k(TABLE, gain=1.8) == 4 and parallel.choose_k(TABLE, gain=2.0) == 1
    assert parallel.choose_k(TABLE.replace("36,000 |      1.97x", "29,000 |      1.58x")) == 2
    assert parallel.choose_k("\n".join(TABLE.splitlines()[:5])) == 2  # a table cut short by the time limit
    assert parallel.choose_k("Traceback (most recent call last): ...") == 1


# --- the candidate of batch `targets`, chosen on validation ---------------------------------------------------------

def write_runs(root: Path, sweep: str, variant: str, vals: dict) -> None:
    "Run files of `variant` with validation accuracies `vals` {seed: acc}, and no test accuracy in them."
    v = next(vs[variant] for vs in SWEEPS[sweep]["views"].values() if variant in vs)
    (root / "sweeps" / sweep).mkdir(parents=True, exist_ok=True)
    for seed, val in vals.items():
        (root / "sweeps" / sweep / f"{run_name(v, seed)}.json").write_text(json.dumps(dict(val_acc=val,
                                                                                            train_seconds=30.0)))


def test_the_candidate_is_the_best_mean_validation_over_seeds_0_to_2_among_variants_with_all_three(tmp_path):
    write_runs(tmp_path, "fast-wd-resnet34", "no weight decay (the fast preset)", {0: .995, 1: .996, 2: .995, 3: .990})
    write_runs(tmp_path, "fast-wd-resnet34", "weight decay 5e-4", {0: .996, 1: .996, 2: .9955})
    write_runs(tmp_path, "fast-epochs-resnet34", "8 epochs", {0: .999, 1: .999, 3: .999})  # no seed 2: not eligible
    write_runs(tmp_path, "fast-epochs-resnet34", "6 epochs", {0: .996, 1: .9955, 2: .996})  # ties with weight decay
    rows = gpu_batches.validation_accuracies(tmp_path)
    assert {r["variant"] for r in rows} == {"no weight decay (the fast preset)", "weight decay 5e-4", "6 epochs"}
    c = gpu_batches.choose_candidate(tmp_path)  # the tie goes to the registry's first: fast-epochs comes first
    assert (c["sweep"], c["variant"], c["val"]) == ("fast-epochs-resnet34", "6 epochs", [.996, .9955, .996])
    text = gpu_batches.describe(rows, c)
    assert "train options: --epochs 6" in text and "run name: resnet34-epochs6" in text and "99.583%" in text


def test_the_candidate_rule_needs_three_seeds(tmp_path):
    write_runs(tmp_path, "fast-wd-resnet34", "weight decay 5e-4", {0: .996, 1: .996})
    with pytest.raises(SystemExit, match="no fast ResNet34 variant"): gpu_batches.choose_candidate(tmp_path)


@pytest.mark.parametrize("name", gpu_batches.FAST_SWEEPS)
def test_the_train_options_of_every_fast_variant_train_what_its_sweep_trained(name, tmp_path):
    for vs in SWEEPS[name]["views"].values():
        for variant, v in vs.items():
            c = dict(sweep=name, variant=variant, v=v, budget=SWEEPS[name]["budget"])
            argv = ["train", "--model", "resnet34", "--preset", "fast", "--out", str(tmp_path),
                    *gpu_batches.train_options(gpu_batches.train_changes(c))]
            swept = make_config("resnet34", "paper", **_recipe(v, SWEEPS[name]["budget"]))
            assert _train_config(make_parser(argv).parse_args(argv)) == swept, (name, variant)


def test_a_bool_option_is_a_flag_either_way():
    assert gpu_batches.train_options(dict(nesterov=False, epochs=6)) == ["--no-nesterov", "--epochs", "6"]


# --- several runs at once on the GPU (the gate of --parallel in batch ablation-full) --------------------------------

@cuda
def test_cuda_runs_trained_at_once_under_the_graph_end_as_if_alone(mnist, tmp_path, exact_cuda):  # noqa: F811
    """Two runs of a ResNet with the report's dropout, trained at once by `fit_many` (each queued on its own stream,
    each captured as a CUDA graph, each drawing dropout from its own random state) end with the weights and history
    each has alone, to the bit. Needs deterministic kernels (`exact_cuda`); gpu_session.sh also fixes cuBLAS's
    workspace (CUBLAS_WORKSPACE_CONFIG), so that a stream of its own cannot change a product's rounding."""
    small = dict(layers=(1, 1, 1, 1), stem_stride=2, pool_stride=2)  # a ResNet10, still with dropout 0.5
    cfgs = [make_config("resnet34", model_options=small, epochs=2, samples_per_epoch=1_000, train_subset=2_000,
                        eval_subset=500, bs=50, seed=s) for s in (0, 1)]
    many = fit_many([dict(cfg=c, data=mnist, out=tmp_path / f"many{c.seed}", progress=False) for c in cfgs])
    alone = [fit(c, mnist, out=tmp_path / f"alone{c.seed}", progress=False) for c in cfgs]
    for c, m, a in zip(cfgs, many, alone):
        assert m["runtime"]["graph"] and a["runtime"]["graph"], "not under the graph"
        assert recipe(m["history"]) == recipe(a["history"]) and m["test_acc"] == a["test_acc"], c.seed
        w, v = weights(tmp_path / f"many{c.seed}"), weights(tmp_path / f"alone{c.seed}")
        worst = max(((w[k].float() - v[k].float()).abs().max() / v[k].float().abs().max().clamp_min(1e-12)).item()
                    for k in v)
        assert all(torch.equal(w[k], v[k]) for k in v), f"seed {c.seed}: other weights at once (max relative {worst:.1e})"
    assert recipe(many[0]["history"]) != recipe(many[1]["history"])


def test_every_test_that_needs_cuda_is_named_cuda_and_run_by_the_gpu_session():
    """A test skipped without a GPU runs nowhere else: the GPU session's `-k cuda` over CUDA_TESTS must select it."""
    import ast
    listed = re.search(r'^CUDA_TESTS="([^"]+)"', (ROOT / "benchmarks" / "gpu_session.sh").read_text(), re.M)[1].split()
    needs_cuda = lambda d: "cuda.is_available" in ast.unparse(d) or ast.unparse(d) == "cuda"  # skipif or @cuda
    found = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[f"tests/{path.name}"] = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)
                                       and any(needs_cuda(d) for d in f.decorator_list)]
    assert len(found["tests/test_step.py"]) >= 6, "the search misses test_step's CUDA tests: the pattern is stale"
    for path, names in found.items():
        assert not names or path in listed, f"{path} has CUDA tests ({names}) that gpu_session.sh's CUDA_TESTS omits"
        assert all("cuda" in n for n in names), f"{path}: {[n for n in names if 'cuda' not in n]} escape `-k cuda`"
