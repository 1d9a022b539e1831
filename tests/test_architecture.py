"The shape of the package (ARCHITECTURE.md): which module may import which."
import ast
from pathlib import Path

import mnist_course

PKG = Path(mnist_course.__file__).parent

def imports(module: str) -> set[str]:
    "The modules of the package and the libraries that `module` imports, at any depth of its code."
    found = set()
    for node in ast.walk(ast.parse((PKG / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(node.module.split(".")[0] if node.level == 0 else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Import): found |= {a.name.split(".")[0] for a in node.names}
    return found - {""}

def test_the_sweep_engine_knows_no_experiment():
    "The registry of sweeps is plain data in `config` (no torch to name a sweep); the engine never reads it."
    assert not imports("config") & {"torch", "sweep", "train"}
    assert "SWEEPS" not in (PKG / "sweep.py").read_text()

def test_combining_predictions_needs_no_training_or_report():
    assert not imports("ensemble") & {"train", "sweep", "reproduce", "results", "cli"}

def test_the_loop_draws_nothing():
    assert not imports("train") & {"matplotlib", "seaborn", "cli"}


def test_the_range_test_reuses_the_loop_and_the_loop_knows_nothing_of_it():
    "Lesson 18's range test trains with lesson 11's pieces (no second loop); the loop never imports it."
    assert "train" in imports("lrfind") and "lrfind" not in imports("train")
    assert not imports("lrfind") & {"cli", "sweep", "evaluate"}
