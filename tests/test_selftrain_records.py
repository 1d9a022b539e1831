"Self-training keeps its records as `train` does: a finished student resumed is only re-tested; added images count."
import dataclasses
import json

import pytest
import torch

from mnist_course.config import make_config
from mnist_course.ensemble import member_probabilities
from mnist_course.selftrain import (confidence_threshold, self_train, teacher_config, unlabelled_pool,
                                    validation_pool)
from mnist_course.train import fit, split_indices

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


def test_few_labels_pool_is_the_rest_of_the_split_and_the_threshold_is_chosen_on_validation(mnist, tmp_path):
    "labels=N: the pool is the split less the labelled images; --precision picks the threshold on validation images."
    cfg = make_config("baseline", **{**TINY, "train_subset": 2_000, "labels": 50})
    fit(cfg, mnist, out=tmp_path / "teacher")
    x, _ = unlabelled_pool(cfg, mnist)
    split, labelled = split_indices(dataclasses.replace(cfg, labels=0), mnist)[0], split_indices(cfg, mnist)[0]
    assert len(x) == 2_000 - 50 and torch.equal(x, mnist.train_x[split[~torch.isin(split, labelled)]])
    st = self_train(cfg, [tmp_path / "teacher"], mnist, tmp_path / "student", precision=0.15)["self_training"]
    val_x, val_y = validation_pool(cfg, mnist)
    (p,), _ = member_probabilities([tmp_path / "teacher"], val_x)
    assert st["threshold"] == confidence_threshold(p, val_y.numpy(), 0.15) and st["precision"] == 0.15
    assert st["pool"] == 1_950 and st["min_confidence"] >= st["threshold"] and st["keep"] == st["pseudo_images"] / 1_950
    with pytest.raises(ValueError, match="trained on another split"):  # a teacher of other labels saw pool labels
        self_train(dataclasses.replace(cfg, labels=100), [tmp_path / "teacher"], mnist, tmp_path / "other")
    with pytest.raises(ValueError, match="needs a pool apart from them"):  # no labels: the pool is the validation set
        fit(make_config("baseline", **TINY), mnist, out=tmp_path / "all")
        self_train(teacher_config(tmp_path / "all"), [tmp_path / "all"], mnist, tmp_path / "x", precision=0.5)
