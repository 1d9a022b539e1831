"Installing: supported ranges in settings.ini, the tested set pinned in constraints.txt, and a torch already there kept."
import configparser
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TORCH = {"torch": "2.11.0", "torchvision": "0.26.0"}  # the GPU machines' builds: the lowest supported


def requirements(key: str = "requirements") -> dict[str, Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "settings.ini")
    return {canonicalize_name(r.name): r for r in map(Requirement, cfg["DEFAULT"][key].split())}


def pins() -> dict[str, Version]:
    lines = [l.split("#")[0].strip() for l in (ROOT / "constraints.txt").read_text().splitlines()]
    return {canonicalize_name(n): Version(v) for n, v in (l.split("==") for l in lines if l)}


def test_torch_is_a_range_from_the_devices_build_to_the_tested_pin():
    reqs, locked = requirements(), pins()
    for name, lowest in DEVICE_TORCH.items():
        spec = reqs[name].specifier
        assert spec.contains(lowest) and spec.contains(f"{lowest}+cu130") and spec.contains(locked[name]), (name, spec)
        assert not spec.contains("99"), f"{name}: no upper bound, so an untested major release would be accepted"


def test_every_requirement_is_pinned_inside_its_range():
    locked = pins()
    for name, req in {**requirements(), **requirements("dev_requirements")}.items():
        assert name in locked, f"{name} has no pin in constraints.txt"
        assert req.specifier.contains(locked[name]), (name, req.specifier, locked[name])


def test_this_environment_is_the_pinned_set():
    "CI installs with -c constraints.txt: what runs the tests is what the lock says."
    for name in ("torch", "torchvision", "nbdev", "numpy"):
        assert Version(version(name)).base_version == str(pins()[canonicalize_name(name)]), name


def test_installing_keeps_the_torch_already_there(tmp_path):
    "pip, offline, with the course's requirements: only the course itself would be installed, nothing replaced."
    report = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation", "--quiet",
                        "--report", report, "-e", ROOT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [i["metadata"]["name"] for i in json.loads(report.read_text())["install"]] == ["mnist_course"]


def test_lessons_install_the_course_where_it_is_missing(monkeypatch):
    "The first code cell of every lesson (for Colab): pip-installs the course from settings.ini's repository when it is missing."
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "settings.ini")
    cells = {}
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        cells[nb.name] = "".join(first["source"])
    assert len(set(cells.values())) == 1, "every lesson starts with the same cell"
    cell = next(iter(cells.values()))
    assert cell.startswith("#| hide") and f"git+{cfg['DEFAULT']['git_url']}" in cell
    for present in (True, False):
        calls = []
        monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
        import importlib.util
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if present else None)
        exec(cell, {})
        assert (calls == []) if present else (calls[0][:4] == [sys.executable, "-m", "pip", "install"] and
                                               calls[0][-1].startswith("mnist_course @ git+https://"))
