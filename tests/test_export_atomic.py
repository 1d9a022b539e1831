"`export` writes the ONNX file in one step: an export that fails leaves the file as it was, and no temporary file."
from pathlib import Path

import pytest
import torch

RUN = Path(__file__).resolve().parent.parent / "results" / "beyond-cpu" / "baseline-seed0"  # a committed trained run


def test_a_failed_export_leaves_the_last_file_whole(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from mnist_course.export import export_onnx
    path = export_onnx(RUN, tmp_path / "model.onnx")
    before = path.read_bytes()
    def dies_half_way(model, args, f, **kw):  # as an exporter killed, or a disk filling, mid-file
        Path(f).write_bytes(before[:100])
        raise RuntimeError("export failed half way")
    monkeypatch.setattr(torch.onnx, "export", dies_half_way)
    with pytest.raises(RuntimeError, match="half way"): export_onnx(RUN, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
