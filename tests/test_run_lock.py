"A run folder has one writer: a second run into a folder in use is refused in one line; --out must be a folder."
import json

import pytest

from mnist_course import cli
from mnist_course.config import make_config
from mnist_course.train import fit

TINY = dict(epochs=2, samples_per_epoch=200, train_subset=1_000, eval_subset=100, bs=50)
FLAGS = [x for k, v in TINY.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def test_a_second_run_into_a_folder_in_use_is_refused_in_one_line(mnist, source, tmp_path, capsys):
    "While a run trains into --out, `train` into the same folder (another rate) exits 1 and changes nothing there."
    out, second = tmp_path / "run", []
    def start_another(row):  # in the first run's epoch 1, before its checkpoint: the folder is in use
        if row["epoch"] == 1:
            second.append(cli.main(["train", "--model", "baseline", "--out", str(out), "--lr", "0.01", *FLAGS,
                                    "--source", str(source), "--root", str(tmp_path / "root")]))
    first = fit(make_config("baseline", **TINY), mnist, out=out, on_epoch=start_another)
    err = capsys.readouterr().err.strip()
    assert second == [1] and len(err.splitlines()) == 1 and "in use by another run" in err and str(out) in err
    assert json.loads((out / "config.json").read_text())["lr"] == 0.001  # the first run's records, whole
    assert json.loads((out / "metrics.json").read_text())["test_acc"] == first["test_acc"]


def test_the_folder_is_free_again_once_its_run_stops(mnist, tmp_path):
    class Stop(Exception): pass
    def stop(row): raise Stop()
    with pytest.raises(Stop): fit(make_config("baseline", **TINY), mnist, out=tmp_path / "run", on_epoch=stop)
    assert fit(make_config("baseline", **TINY), mnist, out=tmp_path / "run", resume=True)["epochs"] == 2


def test_train_out_on_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as e: cli.main(["train", "--model", "baseline", "--out", str(tmp_path / "notes.txt")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "notes.txt is a file" in err and "Traceback" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine"
