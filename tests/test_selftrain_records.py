"Self-training keeps its records as `train` does: a finished student resumed is only re-tested; added images count."
import json

from mnist_course.config import make_config
from mnist_course.selftrain import self_train, teacher_config
from mnist_course.train import fit

TINY = dict(epochs=1, samples_per_epoch=200, train_subset=1_000, eval_subset=200, bs=50)
RECORDS = ("config.json", "history.json", "metrics.json")


def records(out) -> dict:
    return {n: ((out / n).read_bytes(), (out / n).stat().st_mtime_ns) for n in RECORDS}


def test_resuming_a_finished_student_leaves_its_records_as_written(mnist, tmp_path):
    fit(make_config("baseline", **TINY), mnist, out=tmp_path / "teacher")
    cfg = teacher_config(tmp_path / "teacher")
    first = self_train(cfg, [tmp_path / "teacher"], mnist, tmp_path / "student", keep=0.5)
    before = records(tmp_path / "student")
    again = self_train(cfg, [tmp_path / "teacher"], mnist, tmp_path / "student", keep=0.5, resume=True)
    assert records(tmp_path / "student") == before  # not even rewritten with the same bytes
    retest = json.loads((tmp_path / "student" / "evaluation" / "retest.json").read_text())
    assert retest["test_acc"] == again["test_acc"] == first["test_acc"]
    assert again["self_training"] == first["self_training"] == json.loads(before["metrics.json"][0])["self_training"]


def test_images_added_to_a_one_pass_epoch_lengthen_it(mnist):
    "samples_per_epoch=0: an epoch is one pass over the split and the added images, not over the split alone."
    cfg = make_config("baseline", **{**TINY, "samples_per_epoch": 0, "train_subset": 100})
    m = fit(cfg, mnist, extra=(mnist.test_x[:50], mnist.test_y[:50]))
    assert [r["images"] for r in m["history"]] == [150]
