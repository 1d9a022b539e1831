"A run's records (config.json, history.json, metrics.json) are written by the training that made them, and only by it."
import dataclasses
import json
import shutil

import pytest

from mnist_course.config import make_config
from mnist_course.checkpoint import TrainingError
from mnist_course.train import fit
from conftest import TINY

RECORDS = ("config.json", "history.json", "metrics.json")


def records(out) -> dict:
    return {n: ((out / n).read_bytes(), (out / n).stat().st_mtime_ns) for n in RECORDS}


@pytest.fixture
def finished(tiny_run, tmp_path):
    "A finished TINY run of the test's own: a copy of the session's (conftest.py), as the training left it."
    out = tmp_path / "run"
    shutil.copytree(tiny_run[0], out)
    return make_config("baseline", **TINY), out


def test_retesting_a_finished_run_leaves_its_records_as_written(mnist, finished):
    cfg, out = finished
    before = records(out)
    again = fit(cfg, mnist, out=out, resume=True)  # `reproduce` does this to every finished run
    assert records(out) == before  # not even rewritten with the same bytes
    retest = json.loads((out / "evaluation" / "retest.json").read_text())
    assert retest["test_acc"] == again["test_acc"] == json.loads(before["metrics.json"][0])["test_acc"]
    assert again["history"] == json.loads(before["history.json"][0])


def test_a_finished_run_is_never_cut_back_to_fewer_epochs(mnist, finished):
    cfg, out = finished
    before = records(out)
    with pytest.raises(TrainingError, match="holds 2 epochs, more than the 1 asked for"):
        fit(dataclasses.replace(cfg, epochs=1), mnist, out=out, resume=True)
    assert records(out) == before


def test_the_stream_and_dropout_draw_from_seeds_of_their_own(mnist, monkeypatch):
    "Each epoch seeds the augmented stream and the model's randomness (dropout) with different, derived numbers."
    import torch
    from mnist_course.augment import AugmentedStream
    streams, models = [], []
    real_stream, real_torch = AugmentedStream.seed_epoch, torch.manual_seed
    monkeypatch.setattr(AugmentedStream, "seed_epoch", lambda self, s: (streams.append(s), real_stream(self, s))[1])
    monkeypatch.setattr(torch, "manual_seed", lambda s: (models.append(s), real_torch(s))[1])
    fit(make_config("baseline", **TINY), mnist)
    epochs = models[-len(streams):]  # the last calls: one per epoch (the model's initialisation comes first)
    assert len(streams) == TINY["epochs"] and not set(streams) & set(epochs)
