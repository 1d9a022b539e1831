"Lesson 22's export: the committed fast-preset baseline to ONNX, checked with onnxruntime, and `mnist-course export`."
from pathlib import Path

import pytest

from command import mnist_course as run
from mnist_course import cli

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "results" / "beyond-cpu" / "baseline-seed0"  # the network of the Draw a digit page


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnx")
    from mnist_course.export import export_onnx
    return export_onnx(RUN, tmp_path_factory.mktemp("onnx") / "baseline.onnx")


def test_onnxruntime_agrees_with_torch_on_1000_test_digits(exported, mnist):
    pytest.importorskip("onnxruntime")
    from mnist_course.export import onnx_gap
    gap = onnx_gap(exported, RUN, mnist.test_x[:1000])
    assert gap < 1e-5, f"onnxruntime and torch differ by {gap:.1e} on the probabilities"


def test_the_file_takes_any_batch_of_unit_pixels(exported):
    import onnx
    m = onnx.load(exported)
    onnx.checker.check_model(m)
    (inp,), (out,) = m.graph.input, m.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert (inp.name, dims(inp)) == ("pixels", ["batch", 1, 28, 28])
    assert (out.name, dims(out)) == ("probabilities", ["batch", 10])


def test_the_command_writes_the_file(tmp_path):
    pytest.importorskip("onnx")
    r = run("export", RUN, "--onnx", tmp_path / "m.onnx")
    assert r.returncode == 0 and (tmp_path / "m.onnx").stat().st_size > 100_000, r.stderr
    assert r.stdout.startswith(f"wrote {tmp_path / 'm.onnx'} (") and "'probabilities' (N, 10)" in r.stdout


@pytest.mark.parametrize("args, words", [(["{d}/nothing", "--onnx", "{d}/m.onnx"], "no checkpoint found"),
                                         ([str(RUN), "--onnx", "{d}"], "is a folder"),
                                         ([str(RUN)], "the following arguments are required: --onnx")])
def test_usage_errors_exit_2_and_write_nothing(tmp_path, capsys, args, words):
    d = tmp_path / "made"
    d.mkdir()
    with pytest.raises(SystemExit) as e: cli.main(["export", *(a.format(d=d) for a in args)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and "usage:" in err, err
    assert list(d.iterdir()) == []


def test_without_onnx_the_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util
    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else find(name, *a))
    assert cli.main(["export", str(RUN), "--onnx", str(tmp_path / "m.onnx")]) == 1
    assert "pip install onnx" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()
