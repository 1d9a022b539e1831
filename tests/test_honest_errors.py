"Honest errors: a damaged state.pt is called damaged, not dangerous; a full disk is one line and loses no checkpoint."
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from torch import nn

import mnist_course.checkpoint as checkpoint
from mnist_course.checkpoint import CheckpointError, latest_checkpoint, load_state, save_checkpoint
from mnist_course.cli import main
from mnist_course.checkpoint import TrainingError, write_record

FULL = os.strerror(errno.ENOSPC)  # "No space left on device"
TINY = ["--epochs", "2", "--samples-per-epoch", "100", "--train-subset", "200", "--eval-subset", "100", "--bs", "50"]


class Custom:
    "A class of this test module: pickling an instance names it, so unpickling would import and run code."


def _checkpoint(run: Path, epoch: int = 1) -> Path:
    return save_checkpoint(run, epoch, nn.Linear(3, 2), {"config": {"model": "tiny"}, "history": [{"epoch": epoch}]})


@pytest.mark.parametrize("damage", [
    lambda raw: raw[: len(raw) // 2],  # cut in the middle (a copy interrupted)
    lambda raw: raw[:-1],              # one byte short
    lambda raw: raw[:1],
    lambda raw: b"",
    lambda raw: b"garbage" * 100,      # bytes that are no checkpoint at all
    lambda raw: os.urandom(2_000),
], ids=["half", "one-byte-short", "one-byte", "empty", "garbage", "random"])
def test_damaged_state_is_called_truncated_or_corrupt(tmp_path, damage):
    ck = _checkpoint(tmp_path)
    assert load_state(ck)["epoch"] == 1  # a good file still loads
    (ck / "state.pt").write_bytes(damage((ck / "state.pt").read_bytes()))
    with pytest.raises(CheckpointError) as e: load_state(ck)
    msg = str(e.value)
    assert msg.startswith(f"{ck / 'state.pt'} is truncated or corrupt (") and "\n" not in msg
    assert "refusing" not in msg and "run code" not in msg


@pytest.mark.parametrize("payload, name", [(print, "print"), (os.system, "system"), (Custom(), "Custom")])
def test_pickle_that_needs_code_is_refused_and_named(tmp_path, payload, name):
    ck = _checkpoint(tmp_path)
    torch.save({"config": {"model": "tiny"}, "payload": payload}, ck / "state.pt")
    with pytest.raises(CheckpointError) as e: load_state(ck)
    msg = str(e.value)
    assert msg.startswith(f"{ck / 'state.pt'}: refusing to load (UnpicklingError: ")
    why = msg.split("):")[0]  # torch's reason, naming the class or function
    assert "GLOBAL" in why and name in why and "could run code" in msg and "\n" not in msg and "corrupt" not in msg


def _full_safetensors(*args, **kwargs):
    "safetensors' own error on a full disk (its words, as on a 300 KB tmpfs)."
    raise SafetensorError(f"Error while serializing: I/O error: {FULL} (os error 28)")


def _full_for(name: str, method):
    "`method` of Path, failing as a full disk does when the file is `name`."
    def write(self, *args, **kwargs):
        if self.name == name: raise OSError(errno.ENOSPC, FULL, str(self))
        return method(self, *args, **kwargs)
    return write


@pytest.mark.parametrize("file", ["model.safetensors", "state.pt"])
def test_full_disk_while_writing_a_checkpoint(tmp_path, monkeypatch, file):
    first = _checkpoint(tmp_path, 1)
    if file == "model.safetensors": monkeypatch.setattr(checkpoint, "save_file", _full_safetensors)
    else: monkeypatch.setattr(Path, "write_bytes", _full_for("state.pt", Path.write_bytes))
    with pytest.raises(CheckpointError) as e: _checkpoint(tmp_path, 2)
    assert str(e.value) == (f"{tmp_path / 'checkpoints' / 'epoch-002' / file}: disk full while writing it ({FULL}); "
                            f"the last complete checkpoint is {first}: free some space and resume from it (--resume)")
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-001"]  # no .epoch-002.tmp
    assert latest_checkpoint(tmp_path) == first and load_state(first)["history"] == [{"epoch": 1}]


def test_full_disk_while_writing_a_record(tmp_path, monkeypatch):
    first = _checkpoint(tmp_path, 1)
    write_record(tmp_path / "history.json", [{"epoch": 1}])
    monkeypatch.setattr(Path, "write_text", _full_for(f".history.{os.getpid()}.tmp.json", Path.write_text))
    with pytest.raises(TrainingError) as e: write_record(tmp_path / "history.json", [{"epoch": 1}, {"epoch": 2}])
    assert str(e.value) == (f"{tmp_path / 'history.json'}: disk full while writing it ({FULL}); "
                            f"the last complete checkpoint is {first}: free some space and resume from it (--resume)")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "history.json"]  # no temporary file left
    assert json.loads((tmp_path / "history.json").read_text()) == [{"epoch": 1}]


def test_cli_train_on_a_full_disk_says_one_line_then_resumes(source, tmp_path, monkeypatch, capsys):
    "The disk fills up at epoch 2's checkpoint: one line, status 1, epoch 1 kept; space freed, --resume finishes."
    out, root = tmp_path / "run", tmp_path / "root"
    args = ["train", "--model", "baseline", "--out", str(out), "--source", str(source), "--root", str(root), *TINY]
    real, calls = checkpoint.save_file, []
    def fills_up(*a, **kw):
        calls.append(1)
        if len(calls) == 2: _full_safetensors()
        return real(*a, **kw)
    monkeypatch.setattr(checkpoint, "save_file", fills_up)
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"mnist-course train: error: {out / 'checkpoints' / 'epoch-002' / 'model.safetensors'}: disk full "
                   f"while writing it ({FULL}); the last complete checkpoint is {out / 'checkpoints' / 'epoch-001'}: "
                   "free some space and resume from it (--resume)")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-001"]
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2]
    assert latest_checkpoint(out).name == "epoch-002"


def test_every_file_the_package_writes_goes_through_write_atomic():
    "No record, summary or figure is written in place: each write goes through write_atomic (or a checkpoint's folder)."
    import re
    from pathlib import Path
    root = Path(__file__).parents[1] / "mnist_course"
    for path in sorted(root.glob("*.py")):
        text = path.read_text()
        inplace = re.findall(r"\((?:out|path|run_dir)\b[^()]*\)\.write_(?:text|bytes)\(|\.savefig\((?!f,)|np\.save\((?!f,)",
                             text)
        assert not inplace, (path.name, inplace)


def test_write_atomic_leaves_the_old_file_whole_when_writing_fails(tmp_path):
    from mnist_course.checkpoint import CheckpointError, write_atomic
    target = tmp_path / "metrics.json"
    write_atomic(target, lambda f: f.write_text("old"))
    def fill(f):
        f.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(CheckpointError, match="metrics.json: disk full while writing it"): write_atomic(target, fill)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
